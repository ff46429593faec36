"""Matplotlib animators: GIF / MP4 / PNG pictures of a real digit in a real network.

>>> from explainer.animate import render_animation
>>> render_animation("forward", trace, "forward.gif", fps=15, seconds=12)   # doctest: +SKIP

Kinds (:data:`KINDS`): ``forward``, ``dataflow`` and ``convolution`` read one
:class:`~explainer.trace.Trace`; ``training`` also reads ``evolution=`` (a
:class:`~explainer.insights.TrainingEvolution` from :func:`explainer.insights.training_evolution`
of the snapshots :func:`explainer.insights.snapshot_paths` finds); ``mistakes`` reads
``report=`` (a :class:`~explainer.evaluate.MistakeReport` from
:func:`explainer.evaluate.mistake_report`; the trace is not used). No animator loads a
checkpoint or runs a model: that work is done in the library, for any model.

Every kind builds a :class:`~explainer.animate.reel.Reel` (frames composed in numpy from a few
pictures drawn once) and :mod:`explainer.animate.writer` writes it, atomically.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from explainer.animate.reel import Paste, Reel
from explainer.animate.writer import CountingWriter, check_extension, save
from explainer.errors import ExplainerError
from explainer.trace import Trace

KINDS = ("forward", "dataflow", "convolution", "training", "mistakes")
DEFAULTS: dict[str, tuple[float, float | None]] = {  # fps, seconds (None: depends on the model)
    "forward": (15, None),
    "dataflow": (15, 10),
    "convolution": (12, 16),
    "training": (10, 10),
    "mistakes": (10, 12),
}
DEFAULT_SIZE = (800, 450)

__all__ = [
    "DEFAULTS",
    "KINDS",
    "CountingWriter",
    "Paste",
    "Reel",
    "build_animation",
    "render_animation",
]


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ExplainerError(f"unknown animation {kind!r}; choose one of: {', '.join(KINDS)}")
    return kind


def build_animation(
    kind: str,
    trace: Trace | None,
    *,
    fps: float | None = None,
    seconds: float | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    theme: str = "light",
    **options: Any,
) -> Reel:
    """The :class:`Reel` of one kind (``options`` go to that kind's ``build_<kind>``)."""
    check_kind(kind)
    d_fps, d_seconds = DEFAULTS[kind]
    fps = float(fps or d_fps)
    if not seconds and d_seconds is None:
        from explainer.animate.forward import default_seconds

        seconds = default_seconds(trace, fps) if trace is not None else 12.0
    seconds = float(seconds or d_seconds)
    w, h = int(size[0]), int(size[1])
    if not (320 <= w <= 3840 and 180 <= h <= 2160):
        raise ExplainerError(f"size {w}x{h} is out of range; use between 320x180 and 3840x2160")
    if not 1 <= fps <= 60:
        raise ExplainerError(f"--fps {fps:g} is out of range; use 1 to 60")
    if not 1 <= seconds <= 120:
        raise ExplainerError(f"--seconds {seconds:g} is out of range; use 1 to 120")
    builder = getattr(importlib.import_module(f"explainer.animate.{kind}"), f"build_{kind}")
    if kind != "mistakes" and trace is None:
        raise ExplainerError(f"the {kind} animation needs a trace (a digit through a model)")
    args = (trace,) if kind != "mistakes" else ()
    return builder(*args, fps=fps, seconds=seconds, size=(w, h), theme=theme, **options)


def render_animation(
    kind: str,
    trace: Trace | None,
    out_path: str | os.PathLike,
    *,
    fps: float | None = None,
    seconds: float | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    theme: str = "light",
    writer: Any = None,
    **options: Any,
) -> Path:
    """Build the ``kind`` animation and write it to ``out_path`` (``.gif``, ``.mp4`` or
    ``.png`` = the last frame), atomically; returns the path.

    ``training`` needs ``evolution=training_evolution(snapshots, trace.image)``
    (:mod:`explainer.insights`); ``mistakes`` needs ``report=mistake_report(evaluate(ckpt))``
    (:mod:`explainer.evaluate`); ``convolution`` takes ``layer=`` and ``channel=``.
    """
    if writer is None:
        check_extension(out_path)
    reel = build_animation(kind, trace, fps=fps, seconds=seconds, size=size, theme=theme, **options)
    return save(reel, out_path, writer)
