"""The optional parts of the package, and the one check that names the extra to install.

``pip install mnist-explainer`` gives capture, training, evaluation, prediction and the GIF/MP4
animators. Four parts need more, installed as extras: the Streamlit app (``[app]``), the
Manim scenes (``[manim]``), the Optuna sweep (``[sweep]``) and the web page export
(``[web]``); ``[all]`` is all four.
An entry point that needs one calls :func:`require` before importing it, so a missing extra
is one line (:class:`MissingExtra`, printed by the CLI with exit status 2), never a traceback.
"""

from __future__ import annotations

import importlib.util

from explainer.errors import ExplainerError

DISTRIBUTION = "mnist-explainer"
EXTRAS = {  # extra -> the modules it brings (pyproject.toml's [project.optional-dependencies])
    "app": ("streamlit", "streamlit_drawable_canvas"),
    "manim": ("manim",),
    "sweep": ("optuna",),
    "web": ("onnx", "onnxruntime"),
}


class MissingExtra(ExplainerError):
    """``what`` needs an extra that is not installed; the message says how to install it."""

    def __init__(self, what: str, extra: str) -> None:
        self.what, self.extra = what, extra
        super().__init__(f"{what} needs the {extra} extra: {install_command(extra)}")


def install_command(extra: str) -> str:
    """``pip install 'mnist-explainer[EXTRA]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (Streamlit components,
    e.g., refuse to be imported outside a running app)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` unless every module of ``extra`` (see :data:`EXTRAS`) is
    installed. ``what`` names the feature in the message, e.g. ``"explainer app"``."""
    if not all(installed(m) for m in EXTRAS[extra]):
        raise MissingExtra(what, extra)
