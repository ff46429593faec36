"""The module paths of release 0.1, kept working for one more release with a warning.

``import explainer.capture`` (now :mod:`explainer.tracing.capture`) still works: a finder on
``sys.meta_path`` answers each old name with a stand-in module whose every attribute is read
from the new module, with a :class:`DeprecationWarning` that names the new path. Where the old
module shares its name with a function of the public API (``explainer.capture``,
``explainer.evaluate``, ``explainer.preprocess``, ``explainer.recompute``) the stand-in can
also be called like that function, so ``explainer.capture(model, image)`` keeps working after
an old import has replaced the attribute.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

MOVED = {
    "capture": ("tracing.capture", "tracing.batch"),
    "recorder": ("tracing.recorder",),
    "calls": ("tracing.calls",),
    "layers": ("tracing.layers",),
    "trace": ("tracing.trace",),
    "trace_checks": ("tracing.checks",),
    "recompute": ("tracing.recompute",),
    "architectures": ("nets.architectures",),
    "checkpoints": ("nets.checkpoints",),
    "checkpoint_fields": ("nets.checkpoint_fields",),
    "user_code": ("nets.user_code",),
    "train": ("nets.train", "nets.train_config", "nets.train_run", "nets.model_card"),
    "augment": ("nets.augment",),
    "inference": ("nets.inference",),
    "calibration": ("nets.calibration",),
    "ood": ("nets.ood",),
    "sweep": ("nets.sweep",),
    "arith": ("analysis.arith",),
    "flowgraph": ("analysis.flowgraph",),
    "insights": (
        "analysis.insights", "analysis.strength", "analysis.top_digits",
        "analysis.embedding_map", "analysis.snapshots",
    ),
    "attribution": ("analysis.attribution",),
    "evaluate": ("analysis.evaluate", "analysis.report", "analysis.report_figures"),
    "compare": ("analysis.compare",),
    "cache": ("analysis.cache", "analysis.results"),
    "preprocess": ("reading.preprocess", "reading.images", "reading.cleaning", "reading.geometry"),
    "predict": ("reading.predict",),
    "testsets": ("reading.testsets",),
    "warmup": ("app.warmup",),
    "manim_render": ("scenes.render",),
}  # fmt: skip
"""Old module (under ``explainer.``) -> the modules (under ``explainer.``) that now hold its
names, searched in order; the first is the old module's new home."""

RENAMED = {
    ("arith", "conv_layers"): "conv_records",
    ("attribution", "conv_layers"): "conv_module_names",
    ("warmup", "conv_layers"): "filter_page_layers",
}
"""Names that changed with the move: (old module, old name) -> new name."""


class MovedModule(types.ModuleType):
    """Stands in for an old module path: reads every attribute from the new module, warning."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        old = self.__name__.rpartition(".")[2]
        new_name = RENAMED.get((old, name), name)
        for target in MOVED[old]:
            module = importlib.import_module(f"explainer.{target}")
            if hasattr(module, new_name):
                warnings.warn(
                    f"{self.__name__}.{name} has moved: use explainer.{target}.{new_name} "
                    "(the old path goes away in the next release)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return getattr(module, new_name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        short = self.__name__.rsplit(".", 1)[1]
        return self.__getattr__(short)(*args, **kwargs)


class MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``explainer.<old>`` for every old name in :data:`MOVED`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, leaf = fullname.rpartition(".")
        if package != "explainer" or leaf not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = MovedModule(spec.name)
        homes = ", ".join(f"explainer.{m}" for m in MOVED[spec.name.rpartition(".")[2]])
        module.__doc__ = f"Moved to {homes}."
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: attributes are read from the new module when asked for."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
