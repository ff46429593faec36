"""Matplotlib animators: GIF / MP4 / PNG pictures of a real digit in a real network.

>>> from explainer.animate import render_animation
>>> render_animation("forward", trace, "forward.gif", fps=15, seconds=12)   # doctest: +SKIP

Kinds (:data:`KINDS`): ``forward``, ``dataflow`` and ``convolution`` read one
:class:`~explainer.tracing.trace.Trace`; ``training`` also reads ``evolution=`` (a
:class:`~explainer.analysis.snapshots.TrainingEvolution` from
:func:`explainer.analysis.snapshots.training_evolution`
of the snapshots :func:`explainer.analysis.snapshots.snapshot_paths` finds); ``mistakes`` reads
``report=`` (a :class:`~explainer.analysis.evaluate.MistakeReport` from
:func:`explainer.analysis.evaluate.mistake_report`; the trace is not used). No animator loads a
checkpoint or runs a model: that work is done in the library, for any model.

Every kind builds a :class:`~explainer.animate.reel.Reel` (frames composed in numpy from a few
pictures drawn once) and :mod:`explainer.animate.writer` writes it, atomically.

``pace`` (:data:`PACES`) is a preset: ``"class"`` (the default) is for a projector in front
of a class: 1280×720 (:data:`PRESET_SIZES`; text 1.6× its 800×450 size, titles at least 24 px,
numbers at least 16 px) and each step held long enough to say it out loud (each forward layer
at least 2 s, each picture of a worked convolution position 3 s, each mistakes card 3 s, each
training snapshot 4 s, each data-flow block about 1.5 s); ``"readme"`` is a short 800×450 loop
for a web page. An explicit ``size`` or ``seconds`` wins: the same steps share that length.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from explainer.animate.length import MAX_SECONDS
from explainer.animate.reel import Paste, Reel
from explainer.animate.writer import CountingWriter, check_extension, save
from explainer.errors import ExplainerError
from explainer.tracing.trace import Trace

KINDS = ("forward", "dataflow", "convolution", "training", "mistakes")
PACES = ("class", "readme")
DEFAULTS: dict[str, tuple[float, float | None]] = {  # fps, seconds (None: depends on the pace)
    "forward": (15, None),
    "dataflow": (15, None),
    "convolution": (12, None),
    "training": (10, None),
    "mistakes": (10, None),
}
DEFAULT_SIZE = (800, 450)
PRESET_SIZES = {"class": (1280, 720), "readme": DEFAULT_SIZE}  # the size each pace renders at
# MAX_SECONDS (from explainer.animate.length): for a length asked for; a pace's own length
# may reach LONGEST
LONGEST = 300

__all__ = [
    "DEFAULTS",
    "KINDS",
    "PACES",
    "PRESET_SIZES",
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


def check_pace(pace: str) -> str:
    if pace not in PACES:
        raise ExplainerError(f"unknown pace {pace!r}; choose one of: {', '.join(PACES)}")
    return pace


def paced_seconds(
    kind: str, trace: Trace | None, fps: float, pace: str, options: dict[str, Any]
) -> float:
    """The length ``pace`` gives the ``kind`` animation of this trace / report, capped at
    :data:`LONGEST` seconds."""
    d_seconds = DEFAULTS[kind][1]
    if d_seconds is not None:
        return float(d_seconds)
    module = importlib.import_module(f"explainer.animate.{kind}")
    if kind == "mistakes":
        what: Any = options.get("report")
    elif kind == "training":
        what = options.get("evolution")
    else:
        what = trace
    if what is None or (kind == "training" and not hasattr(what, "views")):
        return 12.0  # the builder says what is missing
    if kind == "mistakes" and not hasattr(what, "mistakes"):
        return 12.0
    if kind == "convolution":  # its length depends on the layer shown
        layer, channel = options.get("layer"), options.get("channel")
        return float(min(LONGEST, module.default_seconds(what, fps, pace, layer, channel)))
    views = {k: options[k] for k in ("block", "by_blocks") if k in options}  # forward, dataflow
    return float(min(LONGEST, module.default_seconds(what, fps, pace, **views)))


def build_animation(
    kind: str,
    trace: Trace | None,
    *,
    fps: float | None = None,
    seconds: float | None = None,
    size: tuple[int, int] | None = None,
    theme: str = "light",
    pace: str = "class",
    **options: Any,
) -> Reel:
    """The :class:`Reel` of one kind (``options`` go to that kind's ``build_<kind>``);
    without ``seconds`` or ``size``, the length and the size ``pace`` gives it."""
    check_kind(kind)
    check_pace(pace)
    fps = float(fps or DEFAULTS[kind][0])
    w, h = (int(v) for v in (size or PRESET_SIZES[pace]))
    if not (320 <= w <= 3840 and 180 <= h <= 2160):
        raise ExplainerError(f"size {w}x{h} is out of range; use between 320x180 and 3840x2160")
    if not 1 <= fps <= 60:
        raise ExplainerError(f"fps={fps:g} is out of range; use 1 to 60")
    if seconds and not 1 <= seconds <= MAX_SECONDS:
        raise ExplainerError(f"seconds={seconds:g} is out of range; use 1 to {MAX_SECONDS}")
    if kind != "mistakes" and trace is None:
        raise ExplainerError(f"the {kind} animation needs a trace (a digit through a model)")
    seconds = float(seconds or paced_seconds(kind, trace, fps, pace, options))
    builder = getattr(importlib.import_module(f"explainer.animate.{kind}"), f"build_{kind}")
    args = (trace,) if kind != "mistakes" else ()
    options["pace"] = pace
    return builder(*args, fps=fps, seconds=seconds, size=(w, h), theme=theme, **options)


def render_animation(
    kind: str,
    trace: Trace | None,
    out_path: str | os.PathLike,
    *,
    fps: float | None = None,
    seconds: float | None = None,
    size: tuple[int, int] | None = None,
    theme: str = "light",
    pace: str = "class",
    writer: Any = None,
    **options: Any,
) -> Path:
    """Build the ``kind`` animation and write it to ``out_path`` (``.gif``, ``.mp4`` or
    ``.png`` = the last frame), atomically; returns the path.

    ``training`` needs ``evolution=training_evolution(snapshots, trace.image)``
    (:mod:`explainer.analysis.snapshots`); ``mistakes`` needs
    ``report=mistake_report(evaluate(ckpt))``
    (:mod:`explainer.analysis.evaluate`); ``convolution`` takes ``layer=`` and ``channel=``;
    ``pace="class"`` or ``"readme"`` sets the default length and size (see the module's doc).

    Example (``.png`` writes the last frame only):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from explainer import capture, load_checkpoint, load_sample, render_animation
    >>> trace = capture(load_checkpoint("mnist_fast_cnn").model, load_sample().floats()[0, 0])
    >>> out = Path(tempfile.mkdtemp()) / "forward.png"
    >>> render_animation("forward", trace, out, size=(480, 270)).name
    'forward.png'
    """
    if writer is None:
        check_extension(out_path)
    reel = build_animation(
        kind, trace, fps=fps, seconds=seconds, size=size, theme=theme, pace=pace, **options
    )
    return save(reel, out_path, writer)
