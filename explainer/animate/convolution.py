"""``convolution``: a real kernel sliding over the layer's real input, then what follows it.

Every number comes from :mod:`explainer.analysis.arith`, checked against the network when the
reel is built (a mismatch raises :class:`~explainer.analysis.arith.ArithMismatch` and nothing is
drawn). The input is the record the layer consumed (``LayerRecord.inputs``), zero-padded the way
the layer pads it. A few positions are worked out in full: one input channel's patch × kernel =
products, their sum, what the other input channels add (each channel's own sum), + bias =
the output cell, at decimals where the written figures add up (or marked "rounded"). Then
the kernel sweeps the whole map, and the records that really follow the layer (batch norm,
the activation used, the pooling used, on its own grid) act on a 4×4 block of that map.

This module times the reel; the numbers are :mod:`~explainer.animate.convolution_view` and the
pictures :mod:`~explainer.animate.convolution_frames`.
"""

from __future__ import annotations

import math

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
from explainer.animate.convolution_view import ConvView, conv_view
from explainer.animate.reel import Paste, Reel
from explainer.errors import ExplainerError
from explainer.tracing.trace import Trace

__all__ = ["build_convolution"]


def _schedule(fps: float, oh: int, n_frames: int, n_next: int = 2) -> tuple[int, ...]:
    """Frames of the intro, detail cells, frames per detail step, sweep and the next steps."""
    intro = max(1, round(fps * 0.8))
    detail_cells = 4 if n_frames >= 120 else 2
    per_step = max(1, round(fps * 0.55))
    sweep = max(oh // 2, round(fps * 2))
    tail = max(6, round(fps * 1.8 * max(1, n_next)))
    return intro, detail_cells, per_step, sweep, tail


def _frames(fps: float, oh: int, n_frames: int, n_next: int = 2) -> tuple[int, int, int, int]:
    """The frames each part of the schedule needs (their sum must fit in ``n_frames``)."""
    intro, cells, per_step, sweep, _tail = _schedule(fps, oh, n_frames, n_next)
    # the next steps share what is left: the tail is a wish, two frames each are the need
    return intro, cells * 3 * per_step, sweep, max(4, 2 * n_next)


def _check_length(fps: float, oh: int, n_frames: int, n_next: int) -> None:
    if sum(_frames(fps, oh, n_frames, n_next)) <= n_frames:
        return
    s = math.ceil(sum(_frames(fps, oh, n_frames, n_next)) / fps)
    while sum(_frames(fps, oh, round(fps * s), n_next)) > round(fps * s):
        s += 1
    raise ExplainerError(
        f"{n_frames} frames are too few for the convolution animation; use seconds={s} or more"
    )


class _Outline:
    """Pastes that frame a window on the input panel (and erase it again)."""

    def __init__(self, cv: ConvView, lay: Layout, s_hl: int) -> None:
        self.cv, self.lay, self.s_hl = cv, lay, s_hl

    def _corner(self, y: int, x: int) -> tuple[int, int, int, int]:
        (sy, sx), f, ib = self.cv.stride, self.lay.f_in, self.lay.in_box
        hs, ws = self.cv.span
        return ib[0] + y * sy * f, ib[2] + x * sx * f, hs * f, ws * f

    def draw(self, y: int, x: int) -> list[Paste]:
        y0, x0, h, w = self._corner(y, x)
        lw, s = 2, self.s_hl
        return [
            Paste(s, (0, lw, 0, w + 2 * lw), (y0 - lw, x0 - lw)),
            Paste(s, (0, lw, 0, w + 2 * lw), (y0 + h, x0 - lw)),
            Paste(s, (0, h, 0, lw), (y0, x0 - lw)),
            Paste(s, (0, h, 0, lw), (y0, x0 + w)),
        ]

    def erase(self, y: int, x: int) -> list[Paste]:
        y0, x0, h, w = self._corner(y, x)
        return [Paste(0, (max(0, y0 - 2), y0 + h + 2, max(0, x0 - 2), x0 + w + 2))]


def _detail(reel: Reel, cv: ConvView, lay: Layout, theme: str, scales, per_step: int,
            outline: _Outline, s_out: int) -> tuple[int, int]:  # fmt: skip
    """The worked cells, three frames each; returns the last position framed."""
    cb, f = lay.calc_box, lay.f_out
    cw, ch = cb[3] - cb[2], cb[1] - cb[0]
    prev = None
    for cs in cv.cells:
        pos = (cs.cell.y, cs.cell.x)
        for stage in range(3):
            sheet = reel.add_sheet(calc_sheet(cs, cv, lay, theme, stage, scales).array())
            pastes = [Paste(sheet, (0, ch, 0, cw), (cb[0], cb[2]))]
            if stage == 0:
                pastes = (outline.erase(*prev) if prev else []) + outline.draw(*pos) + pastes
            if stage == 2:
                ob = lay.out_box
                y, x = pos
                box = (ob[0] + y * f, ob[0] + (y + 1) * f, ob[2] + x * f, ob[2] + (x + 1) * f)
                pastes.append(Paste(s_out, box))
            reel.frame(pastes)
            reel.hold(per_step - 1)
        prev = pos
    return prev


def _sweep(reel: Reel, cv: ConvView, lay: Layout, theme: str, frames: int, outline: _Outline,
           s_out: int, prev: tuple[int, int]) -> tuple[int, int]:  # fmt: skip
    """Every row of the output map appears, the window jumping along."""
    cap = Sketch.on(reel.sheets[0], theme)
    draw_caption(cap, lay, "2. The same kernel at every position gives the whole output map "
             "(a feature map).")  # fmt: skip
    s_cap = reel.add_sheet(cap.array())
    ob, f = lay.out_box, lay.f_out
    oh, ow = cv.output.shape
    for i, rows in enumerate(np.array_split(np.arange(oh), frames)):
        pastes = [Paste(s_out, (ob[0] + r * f, ob[0] + (r + 1) * f, ob[2], ob[3])) for r in rows]
        if len(rows):
            pastes = outline.erase(*prev) + pastes
            prev = (int(rows[-1]), (i * 7) % ow)
            pastes += outline.draw(*prev)
        if i == 0:
            pastes.append(Paste(s_cap, lay.cap_box))
        reel.frame(pastes)
    return prev


def build_convolution(
    trace: Trace,
    *,
    fps: float = 12,
    seconds: float = 16,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
    layer: str | None = None,
    channel: int | None = None,
) -> Reel:
    """The convolution animation as a :class:`Reel`; ``reel.meta["view"]`` holds the
    :class:`ConvView` it shows (every number checked) and ``reel.meta["output_box"]`` where the
    output map is."""
    n_frames = round(fps * seconds)
    cv = conv_view(trace, layer, channel, n_cells=4 if n_frames >= 120 else 2)
    n_next = max(1, len(cv.next.steps))
    _check_length(fps, cv.output.shape[0], n_frames, n_next)
    lay = frame_layout(cv, size)
    scales = {
        "in": style.layer_scale(cv.inputs, "conv"),
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
    intro, _cells, per_step, sweep, _tail = _schedule(fps, cv.output.shape[0], n_frames, n_next)
    reel.frame()
    reel.hold(intro - 1)
    prev = _detail(reel, cv, lay, theme, scales, per_step, outline, s_out)
    prev = _sweep(reel, cv, lay, theme, sweep, outline, s_out, prev)
    start = reel.n_frames
    each = (n_frames - start) // n_next
    for i in range(n_next):
        sheet = reel.add_sheet(step_sheet(cv, lay, reel.sheets[0], theme, i, scales).array())
        lay_boxes = [lay.calc_box, lay.cap_box, lay.right_box]
        reel.frame([*(outline.erase(*prev) if i == 0 else []),
                    *(Paste(sheet, b) for b in lay_boxes)])  # fmt: skip
        reel.hold((start + each * (i + 1) if i < n_next - 1 else n_frames) - reel.n_frames)
    reel.meta = {"view": cv, "numbers": cv, "output_box": lay.out_box, "input_box": lay.in_box,
                 "scale": scales["out"], "scales": scales}  # fmt: skip
    return reel
