"""mnist-explainer: see how a convolutional network reads a handwritten digit.

The handful of names most work needs, importable from here::

    from explainer import capture, load_checkpoint, load_sample, render_animation

    ckpt = load_checkpoint("mnist_bn_cnn")          # a shipped model, or a path to yours
    sample = load_sample()                           # 500 test digits that ship with the package
    trace = capture(ckpt.model, sample.images[0], label=int(sample.labels[0]))
    render_animation("forward", trace, "forward.gif")

Everything else lives in a sub-package named for its idea: :mod:`explainer.tracing` (capture
and the Trace), :mod:`explainer.nets` (networks, checkpoints, training, calibration),
:mod:`explainer.analysis` (hand arithmetic, evaluation, insights), :mod:`explainer.reading`
(photos and drawings), and the views :mod:`explainer.animate`, :mod:`explainer.scenes`,
:mod:`explainer.app`. The names are loaded on first use, so ``import explainer`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

from explainer import _moved
from explainer.huge_pages import use_huge_pages_for_large_tensors
from explainer.interrupts import quiet_while_starting

quiet_while_starting()
use_huge_pages_for_large_tensors()

__version__ = "0.1.0"

_PUBLIC = {
    "capture": "explainer.tracing.capture",
    "capture_checkpoint": "explainer.tracing.capture",
    "Trace": "explainer.tracing.trace",
    "LayerRecord": "explainer.tracing.trace",
    "recompute": "explainer.tracing.recompute",
    "check_trace": "explainer.tracing.recompute",
    "load_checkpoint": "explainer.nets.checkpoints",
    "Checkpoint": "explainer.nets.checkpoints",
    "TrainConfig": "explainer.nets.train_config",
    "fit": "explainer.nets.train",
    "evaluate": "explainer.analysis.evaluate",
    "preprocess": "explainer.reading.preprocess",
    "Predictor": "explainer.reading.predict",
    "load_sample": "explainer.data",
    "render_animation": "explainer.animate",
    "render_manim": "explainer.scenes.render",
    "export_page": "explainer.webpage.exporter",
    "ExplainerError": "explainer.errors",
}

__all__ = ["__version__", *_PUBLIC]

_moved.install()


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'explainer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
