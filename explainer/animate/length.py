"""The one message for a length that cannot hold an animation, in the caller's words.

Animators speak to Python callers (``seconds=``, ``fps=``); the command line turns those
words into its flags (:func:`as_flags`). The value suggested is one that is then accepted:
a length within :data:`MAX_SECONDS`, else a frame rate within :data:`MAX_FPS`.
"""

from __future__ import annotations

import math
import re

from explainer.errors import ExplainerError

MAX_SECONDS = 120  # the longest length a caller may ask for
MAX_FPS = 60


def too_short(what: str, frames: int, fps: float, seconds: float) -> ExplainerError:
    """The error for ``seconds`` at ``fps`` giving fewer than ``frames`` frames to ``what``:
    it names a ``seconds=`` that is accepted, or an ``fps=`` (with the same ``seconds``) where
    no length within :data:`MAX_SECONDS` is enough."""
    need = math.ceil(frames / fps)
    head = f"{seconds:g} s at {fps:g} frames/s is too short for {what}"
    if need <= MAX_SECONDS:
        return ExplainerError(f"{head}; use seconds={max(1, need)} or more")
    rate = math.ceil(frames / seconds)
    if rate <= MAX_FPS:
        return ExplainerError(f"{head}; use fps={rate} or more")
    return ExplainerError(f"{head}: it needs {frames} frames, more than {MAX_SECONDS} s at "
                          f"{MAX_FPS} frames/s give; show fewer layers")  # fmt: skip


def as_flags(message: str) -> str:
    """A message in Python words (``seconds=24``, ``fps=5``, ``size=(640, 360)``) in command-line
    words (``--seconds 24``, ``--fps 5``)."""
    return re.sub(r"\b(seconds|fps)=", r"--\1 ", message)
