"""``convolution``: a real kernel sliding over the layer's real input, then what follows it.

Every number comes from :mod:`explainer.analysis.arith`, checked against the network when the
reel is built (a mismatch raises :class:`~explainer.analysis.arith.ArithMismatch` and nothing is
drawn). The input is the record the layer consumed (``LayerRecord.inputs``), zero-padded the way
the layer pads it. A few positions are worked out in full: one input channel's patch × kernel =
products, their sum, what the other input channels add (each channel's own sum), + bias =
the output cell, at decimals where the written figures add up (or marked "rounded"). Then
the kernel sweeps the whole map, and the records that really follow the layer (batch norm,
the activation used, the pooling used, on its own grid) act on a 4×4 block of that map.

``pace`` (:data:`PACES`) sets how long each part stays: at ``"class"`` each of a worked
position's three pictures (patch × kernel, the products, the sum) stays 3 s and each record
after the layer 5 s, long enough to say them out loud; ``"readme"`` is a short loop. While the
kernel sweeps the map, the worked-cell tables follow the framed window. This module times the
reel; the numbers are :mod:`~explainer.animate.convolution_view` and the pictures
:mod:`~explainer.animate.convolution_frames`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from explainer import style
from explainer.animate.canvas import Sketch
from explainer.animate.convolution_frames import (
    Layout,
    base_sheet,
    calc_sheet,
    draw_caption,
    frame_layout,
    step_scale,
    step_sheet,
)
from explainer.animate.convolution_view import ConvView, conv_view, worked_cell
from explainer.animate.reel import Paste, Reel
from explainer.errors import ExplainerError
from explainer.tracing.trace import Trace

__all__ = ["PACES", "Pace", "build_convolution", "default_seconds"]


@dataclass(frozen=True)
class Pace:
    """Seconds each part of the reel stays on screen at one pace."""

    intro: float  # the input alone
    stage: float  # each of a worked position's three pictures
    cells: int  # worked positions
    sweep: float  # the kernel over the whole map
    moves: float  # window moves a second during the sweep
    step: float  # each record after the layer


PACES = {
    "class": Pace(intro=2.5, stage=3.1, cells=3, sweep=6.0, moves=3.0, step=5.0),
    "readme": Pace(intro=0.8, stage=0.6, cells=3, sweep=2.0, moves=6.0, step=2.0),
}


@dataclass(frozen=True)
class Schedule:
    """Frames of each part: the intro, each worked picture, the sweep, each next step."""

    intro: int
    cells: int
    stage: int
    sweep: int
    moves: int
    steps: tuple[int, ...]


def _pace(pace: str) -> Pace:
    if pace not in PACES:
        raise ExplainerError(f"unknown pace {pace!r}; choose one of: {', '.join(PACES)}")
    return PACES[pace]


def _wished(p: Pace, fps: float) -> tuple[int, int, int, int]:
    """Frames the pace asks for: intro, each worked picture, sweep, each next step."""
    return (math.ceil(p.intro * fps), math.ceil(p.stage * fps), math.ceil(p.sweep * fps),
            math.ceil(p.step * fps))  # fmt: skip


def _need(p: Pace, fps: float, n_next: int, cells: int) -> int:
    intro, stage, sweep, step = _wished(p, fps)
    return intro + 3 * cells * stage + sweep + n_next * step


def default_seconds(trace: Trace, fps: float = 12, pace: str = "class", layer: str | None = None,
                    channel: int | None = None) -> float:  # fmt: skip
    """The length ``pace`` gives the convolution reel of ``layer`` (whole seconds)."""
    p = _pace(pace)
    cv = conv_view(trace, layer, channel, n_cells=1)
    return float(math.ceil(_need(p, fps, max(1, len(cv.next.steps)), p.cells) / fps))


def schedule(p: Pace, fps: float, n_frames: int, n_next: int, width: int) -> Schedule:
    """The pace's parts stretched or squeezed to ``n_frames`` (at least one frame per
    worked picture, two per next step; down to two worked positions before giving up)."""
    fewest = min(2, width)  # two positions show the kernel moving
    for cells in range(min(p.cells, width), fewest - 1, -1):
        f = n_frames / _need(p, fps, n_next, cells)
        wished = zip(_wished(p, fps), (1, 1, 2, 2), strict=True)
        intro, stage, sweep, _step = (max(lo, math.floor(v * f)) for v, lo in wished)
        rest = n_frames - intro - 3 * cells * stage - sweep
        if rest >= 2 * n_next:
            each = rest // n_next
            steps = (each,) * (n_next - 1) + (rest - each * (n_next - 1),)
            moves = max(1, min(sweep, round(p.moves * sweep / fps)))
            return Schedule(intro, cells, stage, sweep, moves, steps)
    need = 1 + 3 * fewest + 2 + 2 * n_next
    raise ExplainerError(f"{n_frames} frames are too few for the convolution animation; use "
                         f"seconds={math.ceil(need / fps)} or more")  # fmt: skip


class _Outline:
    """Pastes that frame a window on the input panel (and erase it again)."""

    def __init__(self, cv: ConvView, lay: Layout, s_hl: int) -> None:
        self.cv, self.lay, self.s_hl = cv, lay, s_hl

    def _corner(self, y: int, x: int) -> tuple[int, int, int, int]:
        (sy, sx), f, ib = self.cv.stride, self.lay.f_in, self.lay.in_box
        hs, ws = self.cv.span
        return ib[0] + y * sy * f, ib[2] + x * sx * f, hs * f, ws * f

    def width(self) -> int:
        return max(2, round(2 * self.lay.u))

    def draw(self, y: int, x: int) -> list[Paste]:
        y0, x0, h, w = self._corner(y, x)
        lw, s = self.width(), self.s_hl
        return [
            Paste(s, (0, lw, 0, w + 2 * lw), (y0 - lw, x0 - lw)),
            Paste(s, (0, lw, 0, w + 2 * lw), (y0 + h, x0 - lw)),
            Paste(s, (0, h, 0, lw), (y0, x0 - lw)),
            Paste(s, (0, h, 0, lw), (y0, x0 + w)),
        ]

    def erase(self, y: int, x: int) -> list[Paste]:
        y0, x0, h, w = self._corner(y, x)
        lw = self.width()
        return [Paste(0, (max(0, y0 - lw), y0 + h + lw, max(0, x0 - lw), x0 + w + lw))]


class _Worked:
    """Pastes that put a worked cell's picture (``stage`` 0-2) in the worked-cell panel."""

    def __init__(self, reel: Reel, cv: ConvView, lay: Layout, theme: str, scales: dict) -> None:
        self.reel, self.cv, self.lay, self.theme, self.scales = reel, cv, lay, theme, scales

    def paste(self, cs, stage: int) -> Paste:
        cb = self.lay.calc_box
        sheet = calc_sheet(cs, self.cv, self.lay, self.theme, stage, self.scales)
        sid = self.reel.add_sheet(sheet.array())
        return Paste(sid, (0, cb[1] - cb[0], 0, cb[3] - cb[2]), (cb[0], cb[2]))


def _out_cells(lay: Layout, s_out: int, first: int, end: int, ow: int) -> list[Paste]:
    """Pastes revealing output cells ``first``..``end - 1`` (reading order) of the map."""
    ob, f = lay.out_box, lay.f_out
    pastes = []
    for r in range(first // ow, (end - 1) // ow + 1):
        x0 = first % ow if r == first // ow else 0
        x1 = (end - 1) % ow + 1 if r == (end - 1) // ow else ow
        pastes.append(Paste(s_out, (ob[0] + r * f, ob[0] + (r + 1) * f, ob[2] + x0 * f,
                                    ob[2] + x1 * f)))  # fmt: skip
    return pastes


def _detail(reel: Reel, cv: ConvView, worked: _Worked, stage_frames: int, outline: _Outline,
            s_out: int) -> tuple[int, int]:  # fmt: skip
    """The worked cells, three pictures each; returns the last position framed."""
    prev = None
    ow = cv.output.shape[1]
    for cs in cv.cells:
        pos = (cs.cell.y, cs.cell.x)
        for stage in range(3):
            pastes = [worked.paste(cs, stage)]
            if stage == 0:
                pastes = (outline.erase(*prev) if prev else []) + outline.draw(*pos) + pastes
            if stage == 2:
                i = pos[0] * ow + pos[1]
                pastes += _out_cells(worked.lay, s_out, i, i + 1, ow)
            reel.frame(pastes)
            reel.hold(stage_frames - 1)
        prev = pos
    return prev


def _sweep(reel: Reel, trace: Trace, worked: _Worked, sch: Schedule, outline: _Outline,
           s_out: int, prev: tuple[int, int]) -> tuple[int, int]:  # fmt: skip
    """The output map fills in reading order while the window and the worked-cell tables
    follow the last cell filled; returns the last position framed."""
    cv, lay = worked.cv, worked.lay
    cap = Sketch.on(reel.sheets[0], worked.theme)
    draw_caption(cap, lay, "2. The same kernel at every position gives the whole output map "
                 "(a feature map).")  # fmt: skip
    s_cap = reel.add_sheet(cap.array())
    oh, ow = cv.output.shape
    moves = min(sch.moves, oh * ow)
    ends = np.arange(moves + 1) * (oh * ow) // moves
    starts = np.arange(moves + 1) * sch.sweep // moves
    for m in range(moves):
        last = int(ends[m + 1]) - 1
        pos = (last // ow, last % ow)
        pastes = outline.erase(*prev) + _out_cells(lay, s_out, int(ends[m]), last + 1, ow)
        pastes += [*outline.draw(*pos), worked.paste(worked_cell(trace, cv, *pos), 2)]
        if m == 0:
            pastes.append(Paste(s_cap, lay.cap_box))
        reel.frame(pastes)
        reel.hold(int(starts[m + 1] - starts[m]) - 1)
        prev = pos
    return prev


def build_convolution(
    trace: Trace,
    *,
    fps: float = 12,
    seconds: float | None = None,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
    pace: str = "class",
    layer: str | None = None,
    channel: int | None = None,
) -> Reel:
    """The convolution animation as a :class:`Reel`; ``reel.meta["view"]`` holds the
    :class:`ConvView` it shows (every number checked), ``reel.meta["layout"]`` where each
    panel is and ``reel.meta["schedule"]`` how many frames each part holds."""
    p = _pace(pace)
    if seconds is None:
        seconds = default_seconds(trace, fps, pace, layer, channel)
    n_frames = round(fps * seconds)
    cv = conv_view(trace, layer, channel, n_cells=p.cells)
    n_next = max(1, len(cv.next.steps))
    sch = schedule(p, fps, n_frames, n_next, cv.output.shape[1])
    cv = dataclasses.replace(cv, cells=cv.cells[: sch.cells])
    lay = frame_layout(cv, size)
    scales = {
        "in": style.layer_scale(cv.inputs, cv.input_kind),
        "out": style.layer_scale(cv.output, "conv"),
        "kernel": style.scale_for(cv.layer.weight, "kernel"),
        cv.layer.name: style.layer_scale(cv.output, "conv"),
    }
    scales.update({s.record.name: step_scale(s.record, cv.channel) for s in cv.next.steps})
    reel = Reel(
        base_sheet(cv, lay, theme, scales).array(), fps, title=f"convolution: {cv.layer.name}"
    )
    done = Sketch.on(reel.sheets[0], theme)
    done.paste(lay.out_box, style.colorize(cv.output, scales["out"]))
    s_out = reel.add_sheet(done.array())
    side = max(lay.H, lay.W)
    s_hl = reel.add_sheet(
        np.full((side, side, 3), style.hex_to_rgb(style.HIGHLIGHT_COLOR), np.uint8)
    )
    outline = _Outline(cv, lay, s_hl)
    worked = _Worked(reel, cv, lay, theme, scales)
    reel.frame()
    reel.hold(sch.intro - 1)
    prev = _detail(reel, cv, worked, sch.stage, outline, s_out)
    prev = _sweep(reel, trace, worked, sch, outline, s_out, prev)
    for i, held in enumerate(sch.steps):
        sheet = reel.add_sheet(step_sheet(cv, lay, reel.sheets[0], theme, i, scales).array())
        lay_boxes = [lay.calc_box, lay.cap_box, lay.right_box]
        reel.frame([*(outline.erase(*prev) if i == 0 else []),
                    *(Paste(sheet, b) for b in lay_boxes)])  # fmt: skip
        reel.hold(held - 1)
    reel.meta = {"view": cv, "numbers": cv, "output_box": lay.out_box, "input_box": lay.in_box,
                 "scale": scales["out"], "scales": scales, "layout": lay, "schedule": sch,
                 "pace": p}  # fmt: skip
    return reel
