"""``convolution``: a real kernel sliding over the layer's real input, then what follows it.

Every number comes from :mod:`explainer.analysis.arith`, checked against the network when the reel
is
built (a mismatch raises :class:`~explainer.analysis.arith.ArithMismatch` and nothing is drawn). The
input is the record the layer consumed (``LayerRecord.inputs``), zero-padded the way the layer
pads it. A few positions are worked out in full: one input channel's patch × kernel =
products, their sum, what the other input channels add (each channel's own sum), + bias =
the output cell, at decimals where the written figures add up (or marked "rounded"). Then
the kernel sweeps the whole map, and the records that really follow the layer (batch norm,
the activation used, the pooling used, on its own grid) act on a 4×4 block of that map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainer import style
from explainer.analysis import arith
from explainer.analysis.arith import ConvSum, NextBlock, conv_records
from explainer.analysis.flowgraph import item_word
from explainer.animate.canvas import Sketch
from explainer.animate.reel import Box, Paste, Reel
from explainer.errors import ExplainerError
from explainer.tracing.trace import INPUT, LayerRecord, Trace

__all__ = ["ConvView", "build_convolution", "conv_records", "conv_view"]


@dataclass
class ConvView:
    """What the animation shows, all from :mod:`explainer.analysis.arith`: the layer, its output
    channel, the input channel drawn (``in_channel``), the input it read (``inputs``,
    ``(C_in, H, W)``), the output map (recomputed by hand and checked), the worked cells and
    the block followed through the next records."""

    layer: LayerRecord
    channel: int
    in_channel: int
    inputs: np.ndarray
    input_name: str
    output: np.ndarray
    cells: list[ConvSum]
    next: NextBlock
    stride: list[int]
    padding: list[int]
    dilation: list[int]

    @property
    def kernel_shape(self) -> tuple[int, int]:
        return tuple(self.layer.weight.shape[2:])

    @property
    def padded(self) -> np.ndarray:
        """The drawn input channel, zero-padded as the layer pads it."""
        py, px = self.padding
        return np.pad(self.inputs[self.in_channel], ((py, py), (px, px)))

    @property
    def span(self) -> tuple[int, int]:
        """Input pixels one window covers (rows, columns), dilation included."""
        (kh, kw), (dy, dx) = self.kernel_shape, self.dilation
        return (kh - 1) * dy + 1, (kw - 1) * dx + 1


def _input_name(trace: Trace, rec: LayerRecord, in_channel: int) -> str:
    src = rec.inputs[0]
    word = item_word(trace.dataset, trace.class_names)
    if src == INPUT:
        return f"the {word} as the model receives it"
    what = trace.layer(src)
    if what.kind == "normalize":
        return f"{src}: the normalised {word}"
    n = trace.value(src).shape[0]
    return f"{src} ({what.description}), channel {in_channel} of {n}"


def conv_view(
    trace: Trace, layer: str | None = None, channel: int | None = None, n_cells: int = 4
) -> ConvView:
    """The numbers of the ``convolution`` animation (default: the first conv layer and its
    most active output channel), every one computed and checked by
    :mod:`explainer.analysis.arith`."""
    rec = arith.pick_conv(trace, layer)
    n_out = rec.output.shape[0]
    if channel is None:
        channel = int(np.argmax(rec.output.reshape(n_out, -1).max(1)))
    if not 0 <= channel < n_out:
        raise ExplainerError(
            f"--channel {channel} is out of range: {rec.name} has channels 0 to {n_out - 1}"
        )
    output = arith.conv_channel_map(trace, rec, channel)
    ow = output.shape[1]
    y_c, x_c = (int(v) for v in np.unravel_index(int(np.argmax(output)), output.shape))
    n_cells = min(n_cells, ow)
    x0 = int(np.clip(x_c - n_cells // 2, 0, ow - n_cells))
    most = 3 if max(rec.weight.shape[2:]) <= 3 else 2  # what fits in the grid's cells
    first = arith.conv_sum(arith.conv_cell(trace, rec, channel, y_c, x0), most=most)
    cells = [first] + [
        arith.conv_sum(arith.conv_cell(trace, rec, channel, y_c, x0 + d), first.shown, most=most)
        for d in range(1, n_cells)
    ]
    stride, padding, dilation = arith.conv_geometry(rec)
    inputs = np.asarray(trace.inputs_of(rec)[0], dtype=np.float64)
    return ConvView(
        rec, channel, first.in_channel, inputs, _input_name(trace, rec, first.in_channel),
        output, cells, arith.next_block(trace, rec, channel), stride, padding, dilation,
    )  # fmt: skip


# --- drawing helpers -------------------------------------------------------------------------


def _fit(sk: Sketch, text: str, width: float, pt: float, bold: bool = False) -> float:
    """The largest size up to ``pt`` (at least 5) at which ``text`` fits in ``width``."""
    while pt > 5 and sk.text_width(text, pt, bold) > width:
        pt -= 0.5
    return pt


def _number_grid(
    sk: Sketch, values: np.ndarray, scale: style.Scale, x: int, y: int, cell: int,
    pt: float = 7.5, decimals: int = 2,
) -> Box:  # fmt: skip
    """Coloured cells with their values written in them (true minus signs); the grid's box."""
    rgb = style.colorize(values, scale)
    h, w = values.shape
    texts = [[arith.fmt(float(v), decimals) for v in row] for row in values]
    widest = max((t for row in texts for t in row), key=len, default="0")
    pt = _fit(sk, widest, cell - 3, pt)
    for i in range(h):
        for j in range(w):
            x0, y0 = x + j * cell, y + i * cell
            colour = tuple(int(c) for c in rgb[i, j])
            sk.draw.rectangle(
                (x0, y0, x0 + cell - 1, y0 + cell - 1), fill=colour, outline=sk.theme.background
            )
            sk.text(x0 + cell / 2, y0 + cell / 2, texts[i][j], pt, color=style.text_on(colour),
                    anchor="mm")  # fmt: skip
    return (y, y + h * cell, x, x + w * cell)


def _hbar(
    sk: Sketch, box: tuple[float, float, float, float], scale: style.Scale, label: str
) -> None:
    """A horizontal colour bar with end labels and a caption."""
    y0, y1, x0, x1 = (int(v) for v in box)
    values = np.linspace(scale.vmin, scale.vmax, x1 - x0)[None, :].repeat(y1 - y0, 0)
    sk.paste((y0, y1, x0, x1), style.colorize(values, scale))
    sk.box((y0, y1, x0, x1))
    sk.text(x0, y1 + 9, arith.fmt(scale.vmin), 7.5, anchor="lm")
    sk.text(x1, y1 + 9, arith.fmt(scale.vmax), 7.5, anchor="rm")
    sk.text((x0 + x1) / 2, y1 + 24, label, 7.5, color=sk.theme.muted, anchor="mm")


@dataclass
class _Layout:
    """Where everything goes on a ``size`` frame (boxes are ``(y0, y1, x0, x1)``)."""

    W: int
    H: int
    u: float
    in_box: Box
    f_in: int
    out_box: Box
    f_out: int
    calc_box: Box
    cell: int
    caption_y: int

    @property
    def cap_box(self) -> Box:
        return (int(self.caption_y - 16 * self.u), int(self.caption_y + 16 * self.u), 0, self.W)

    @property
    def right_box(self) -> Box:
        """The output panel with its title and colour bar (replaced by the next steps)."""
        ob, u = self.out_box, self.u
        return (ob[0] - int(24 * u), ob[1] + int(62 * u), ob[2] - 4, self.W)


def _layout(cv: ConvView, size: tuple[int, int]) -> _Layout:
    W, H = size
    u = min(W / 800, H / 450)
    ph, pw = cv.padded.shape
    oh, ow = cv.output.shape
    kh, kw = cv.kernel_shape
    top = int(70 * u)
    side = int((174 if max(kh, kw) <= 3 else 140) * u)  # room for the numbers of large kernels
    f_in = max(1, side // max(ph, pw))
    in_box = (top, top + ph * f_in, int(22 * u), int(22 * u) + pw * f_in)
    f_out = max(1, side // max(oh, ow))
    out_x1 = W - int(60 * u)
    out_box = (top, top + oh * f_out, out_x1 - ow * f_out, out_x1)
    calc_box = (
        top - int(18 * u),
        H - int(60 * u),
        in_box[3] + int(22 * u),
        out_box[2] - int(22 * u),
    )
    cw, ch = calc_box[3] - calc_box[2], calc_box[1] - calc_box[0]
    cell = int(min((cw - 50 * u) / (2 * kw), (ch - 70 * u) / (2 * kh), 40 * u))
    return _Layout(W, H, u, in_box, f_in, out_box, f_out, calc_box, max(cell, 8), H - int(30 * u))


def _caption(sk: Sketch, lay: _Layout, text: str) -> None:
    y, u = lay.caption_y, lay.u
    sk.draw.rectangle((0, y - 16 * u, lay.W, y + 16 * u), fill=sk.theme.panel)
    sk.text(lay.W / 2, y, text, _fit(sk, text, lay.W - 20, 9.5), anchor="mm")


def _base(cv: ConvView, lay: _Layout, theme: str, scales: dict) -> Sketch:
    """The frame every other picture starts from: titles, the input, the empty output."""
    u, in_box, out_box = lay.u, lay.in_box, lay.out_box
    rec = cv.layer
    sk = Sketch((lay.W, lay.H), theme)
    title = f"Convolution: {rec.name} ({rec.description}), output channel {cv.channel}"
    sk.text(in_box[2], 18 * u, title, _fit(sk, title, lay.W - 2 * in_box[2], 11.5, True),
            bold=True)  # fmt: skip
    pad = cv.padding
    sub = f"input: {cv.input_name}" + (f", zero-padded by {max(pad)}" if any(pad) else "")
    sk.text(in_box[2], 40 * u, sub, _fit(sk, sub, lay.W - 2 * in_box[2], 8.5), color=sk.theme.muted)
    sk.text(in_box[2], in_box[0] - 10 * u, f"input channel {cv.in_channel}", 9.5, bold=True)
    sk.paste(in_box, style.colorize(cv.padded, scales["in"]))
    sk.box(in_box)
    if any(pad):
        py, px = pad[0] * lay.f_in, pad[1] * lay.f_in
        sk.draw.rectangle((in_box[2] + px, in_box[0] + py, in_box[3] - px - 1, in_box[1] - py - 1),
                          outline=sk.theme.muted)  # fmt: skip
    sk.text(out_box[2], out_box[0] - 10 * u, f"output channel {cv.channel}", 9.5, bold=True)
    sk.draw.rectangle((out_box[2], out_box[0], out_box[3] - 1, out_box[1] - 1), fill=sk.theme.panel)
    sk.box(out_box)
    _hbar(sk, (in_box[1] + 16 * u, in_box[1] + 24 * u, in_box[2], in_box[3]), scales["in"],
          "input value")  # fmt: skip
    _hbar(sk, (out_box[1] + 16 * u, out_box[1] + 24 * u, out_box[2], out_box[3]), scales["out"],
          f"{rec.name} output")  # fmt: skip
    kh, kw = cv.kernel_shape
    _caption(sk, lay, f"1. The {kh}×{kw} kernel slides over the input; at each position it "
             "multiplies and adds.")  # fmt: skip
    return sk


def _calc_sheet(cs: ConvSum, cv: ConvView, lay: _Layout, theme: str, stage: int, scales) -> Sketch:
    """The worked cell: patch × kernel, then the products, then the sum (``stage`` 0-2)."""
    u, cell, d = lay.u, lay.cell, cs.decimals
    cw, ch = lay.calc_box[3] - lay.calc_box[2], lay.calc_box[1] - lay.calc_box[0]
    sk = Sketch((cw, ch), theme)
    kh, kw = cs.kernel.shape
    gy, gx, sym_w = int(26 * u), int(4 * u), int(34 * u)
    x_kernel = gx + kw * cell + sym_w
    patch_title = "input patch"
    sk.text(
        gx, gy - 12 * u, patch_title, _fit(sk, patch_title, x_kernel - gx, 8.5, True), bold=True
    )
    _number_grid(sk, cs.patch, scales["in"], gx, gy, cell, 8, d)
    sk.text(gx + kw * cell + sym_w / 2, gy + kh * cell / 2, "×", 16, anchor="mm")
    sk.text(x_kernel, gy - 12 * u, "kernel (learned weights)",
            _fit(sk, "kernel (learned weights)", cw - x_kernel, 8.5, True), bold=True)  # fmt: skip
    _number_grid(sk, cs.kernel, scales["kernel"], x_kernel, gy, cell, 8, d)
    y2 = gy + kh * cell + int(34 * u)
    tx = gx + kw * cell + int(14 * u)
    if stage == 0:
        sk.text(
            tx, y2 + 8 * u, f"output position [{cs.cell.y}, {cs.cell.x}]", 9, color=sk.theme.muted
        )
        return sk
    sk.text(gx, y2 - 12 * u, "= products, element by element", 8.5, bold=True)
    _number_grid(sk, cs.products, style.scale_for(cs.products, "conv"), gx, y2, cell, 8, d)
    if stage == 1:
        return sk
    lines = arith.conv_sum_lines(cs)
    widest = max(f"{w} {n}" for w, n in lines)
    pt = _fit(sk, widest + "  ", cw - tx - 4, 9)
    for i, (words, number) in enumerate(lines):
        last = i == len(lines) - 1
        y = y2 + 8 * u + i * 18 * u + (6 * u if last else 0)
        colour = sk.theme.accent if last else None
        sk.text(tx, y, words, pt, bold=last, color=colour)
        sk.text(cw - 4, y, number, pt + (1.5 if last else 0), bold=last, color=colour, anchor="rm")
    note = "figures add up as written" if cs.exact else f"figures rounded to {d} decimals"
    sk.text(tx, y2 + 14 * u + len(lines) * 18 * u, note, 7.5, color=sk.theme.muted)
    return sk


# --- what happens next: the records after the layer, on a block --------------------------------

_ACT_WORDS = {
    "relu": "negative values become 0",
    "relu6": "negative values become 0, values above 6 become 6",
    "leaky_relu": "negative values shrink, positive ones stay",
    "tanh": "every value is squashed into (−1, 1)",
    "sigmoid": "every value is squashed into (0, 1)",
    "gelu": "large negatives go to 0, positives stay",
    "silu": "large negatives go to 0, positives stay",
    "elu": "negative values flatten out towards −1",
}


def _scale(rec: LayerRecord, channel: int) -> style.Scale:
    kind = {"bn": "bn", "relu": "relu", "pool": "pool"}.get(rec.kind, "conv")
    return style.layer_scale(rec.output[channel], kind)


def _pool_rounded(step: arith.Step, decimals: int = 2) -> bool:
    """True when an average pool's written window figures do not average to the written value."""
    if step.record.params.get("mode") == "max":
        return False
    return any(
        arith.fmt(float(np.nanmean(np.round(c.window, decimals))), decimals)
        != arith.fmt(c.value, decimals)
        for c in step.cells
    )


def _step_text(step: arith.Step, prev: np.ndarray, nb: NextBlock) -> tuple[list[str], str]:
    """(lines under the grids, caption) for one step."""
    r, desc = step.record, step.record.description
    if r.kind == "bn":
        c = step.cells[0]
        return [
            f"{r.name}: {desc}, channel {nb.channel}",
            "(x − μ) / √(σ² + ε) · γ + β, with",
            f"μ = {arith.fmt(c.mean, 3)}, σ² = {arith.fmt(c.var, 3)}, ε = {c.eps:g}",
            f"γ = {arith.fmt(c.gamma, 3)}, β = {arith.fmt(c.beta, 3)}",
        ], "Batch norm shifts and rescales the channel with numbers learned in training."
    if r.kind == "relu":
        words = _ACT_WORDS.get(arith.activation_name(r), "applied to every value")
        return [f"{r.name}: {desc}", arith.activation_formula(r), words], (
            f"{desc} acts on every value on its own: {arith.activation_formula(r)}."
        )
    if r.kind == "pool":
        (kh, kw), s = r.params["kernel_size"], r.params["stride"][0]
        how = "largest value" if r.params["mode"] == "max" else "average"
        size = f"{r.input_shape[-2]}×{r.input_shape[-1]} → {r.shape[1]}×{r.shape[2]}"
        lines = [f"{r.name}: {desc}, stride {s}", f"each framed {kh}×{kw} window", f"→ its {how}"]
        lines += ["(figures rounded)"] if _pool_rounded(step) else []
        return lines, f"{desc.capitalize()}: each {kh}×{kw} window keeps its {how}; {size}."
    return [f"{r.name}: {desc}", "values pass unchanged"], "Dropout does nothing at test time."


def _after_text(nb: NextBlock) -> str:
    if nb.rest:
        names = ", ".join(f"{r.name} ({r.description})" for r in nb.rest)
        return f"then {names}: not worked out by hand here"
    if nb.then:
        names = ", ".join(f"{r.name} ({r.description})" for r in nb.then)
        return f"then {names} read{'s' if len(nb.then) == 1 else ''} these values"
    return "these values are the network's output"


def _block_grids(sk: Sketch, cv: ConvView, lay: _Layout, i: int, scales: dict) -> int:
    """The block before step ``i`` and after it, side by side; returns the y below them."""
    nb, u = cv.next, lay.u
    step = nb.steps[i]
    prev_rec = cv.layer if i == 0 else nb.steps[i - 1].record
    prev = nb.before if i == 0 else nb.steps[i - 1].values
    n = prev.shape[0]
    c = int(min(34 * u, (lay.calc_box[3] - lay.calc_box[2] - 44 * u) / (2 * n)))
    cx, cy = lay.calc_box[2] + int(4 * u), lay.calc_box[0] + int(26 * u)
    title = prev_rec.name
    sk.text(cx, cy - 12 * u, title, _fit(sk, title, n * c + 30 * u, 8.5, True), bold=True)
    where = f"rows {nb.y}–{nb.y + n - 1}, columns {nb.x}–{nb.x + n - 1} of channel {nb.channel}"
    sk.text(cx, cy + n * c + 10 * u, where, _fit(sk, where, lay.calc_box[3] - cx, 7.5),
            color=sk.theme.muted)  # fmt: skip
    _number_grid(sk, prev, scales.get(prev_rec.name, scales["out"]), cx, cy, c, 7.5)
    x_r = cx + n * c + int(34 * u)
    sk.text(cx + n * c + 17 * u, cy + n * c / 2, "→", 16, anchor="mm")
    if step.record.kind == "pool":
        for pc in step.cells:
            y0, x0 = cy + (pc.rows[0] - nb.y) * c, cx + (pc.cols[0] - nb.x) * c
            h, w = pc.window.shape
            sk.draw.rectangle((x0, y0, x0 + w * c - 1, y0 + h * c - 1),
                              outline=style.HIGHLIGHT_COLOR, width=2)  # fmt: skip
        c_out = c * max(1, n // max(1, step.values.shape[0]))
    else:
        c_out = c
    sk.text(x_r, cy - 12 * u, step.record.name, _fit(sk, step.record.name, lay.calc_box[3] - x_r,
            8.5, True), bold=True)  # fmt: skip
    _number_grid(sk, step.values, scales[step.record.name], x_r, cy, c_out, 9)
    return cy + n * c + int(34 * u)


def _step_sheet(cv: ConvView, lay: _Layout, base: np.ndarray, theme: str, i: int, scales) -> Sketch:
    """Step ``i`` of the path after the layer: the block's numbers and the step's map."""
    nb, u = cv.next, lay.u
    sk = Sketch.on(base, theme)
    cb, rb = lay.calc_box, lay.right_box
    sk.draw.rectangle((cb[2], cb[0], cb[3], cb[1]), fill=sk.theme.background)
    sk.draw.rectangle((rb[2], rb[0], rb[3] - 1, rb[1]), fill=sk.theme.background)
    cx = cb[2] + int(4 * u)
    if nb.steps:
        step = nb.steps[i]
        prev = nb.before if i == 0 else nb.steps[i - 1].values
        y = _block_grids(sk, cv, lay, i, scales)
        lines, caption = _step_text(step, prev, nb)
        rec = step.record
    else:
        y, rec = cb[0] + int(26 * u), cv.layer
        after = _after_text(nb)
        lines, caption = [], after[0].upper() + after[1:] + "."
    if nb.steps and i == len(nb.steps) - 1:
        lines = [*lines, _after_text(nb)]
    for k, line in enumerate(lines):
        muted = k == len(lines) - 1 and i == max(0, len(nb.steps) - 1)
        sk.text(cx, y + k * 17 * u, line, _fit(sk, line, cb[3] - cx, 8.5),
                color=sk.theme.muted if muted else None)  # fmt: skip
    _caption(sk, lay, f"{i + 3}. {caption}")
    _step_map(sk, cv, lay, rec, nb.steps[i] if nb.steps else None, scales)
    return sk


def _step_map(sk: Sketch, cv: ConvView, lay: _Layout, rec: LayerRecord, step, scales) -> None:
    """``rec``'s map of the channel on the right, the block (or its pooled cells) framed."""
    ob, u = lay.out_box, lay.u
    m = rec.output[cv.channel]
    f = max(1, (ob[3] - ob[2]) // max(m.shape))
    box = (ob[0], ob[0] + m.shape[0] * f, ob[2], ob[2] + m.shape[1] * f)
    title = f"after {rec.name} ({m.shape[0]}×{m.shape[1]})"
    sk.text(ob[2], ob[0] - 10 * u, title, _fit(sk, title, lay.W - ob[2] - 4, 9.5, True), bold=True)
    sk.paste(box, style.colorize(m, scales[rec.name]))
    sk.box(box)
    if step is not None:
        (y, x), (h, w) = step.top_left, step.values.shape
        x0, y0 = box[2] + x * f, box[0] + y * f
        sk.draw.rectangle(
            (x0 - 1, y0 - 1, x0 + w * f, y0 + h * f), outline=style.HIGHLIGHT_COLOR, width=2
        )
    _hbar(sk, (box[1] + 16 * u, box[1] + 24 * u, box[2], box[3]), scales[rec.name],
          f"{rec.name} output")  # fmt: skip


# --- the reel ------------------------------------------------------------------------------------


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
    intro, cells, per_step, sweep, tail = _schedule(fps, oh, n_frames, n_next)
    return intro, cells * 3 * per_step, sweep, tail


def _check_length(fps: float, oh: int, n_frames: int, n_next: int) -> None:
    if sum(_frames(fps, oh, n_frames, n_next)) <= n_frames:
        return
    s = math.ceil(sum(_frames(fps, oh, n_frames, n_next)) / fps)
    while sum(_frames(fps, oh, round(fps * s), n_next)) > round(fps * s):
        s += 1
    raise ExplainerError(
        f"{n_frames} frames are too few for the convolution animation; use --seconds {s} or more"
    )


class _Outline:
    """Pastes that frame a window on the input panel (and erase it again)."""

    def __init__(self, cv: ConvView, lay: _Layout, s_hl: int) -> None:
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


def _detail(reel: Reel, cv: ConvView, lay: _Layout, theme: str, scales, per_step: int,
            outline: _Outline, s_out: int) -> tuple[int, int]:  # fmt: skip
    """The worked cells, three frames each; returns the last position framed."""
    cb, f = lay.calc_box, lay.f_out
    cw, ch = cb[3] - cb[2], cb[1] - cb[0]
    prev = None
    for cs in cv.cells:
        pos = (cs.cell.y, cs.cell.x)
        for stage in range(3):
            sheet = reel.add_sheet(_calc_sheet(cs, cv, lay, theme, stage, scales).array())
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


def _sweep(reel: Reel, cv: ConvView, lay: _Layout, theme: str, frames: int, outline: _Outline,
           s_out: int, prev: tuple[int, int]) -> tuple[int, int]:  # fmt: skip
    """Every row of the output map appears, the window jumping along."""
    cap = Sketch.on(reel.sheets[0], theme)
    _caption(cap, lay, "2. The same kernel at every position gives the whole output map "
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
    lay = _layout(cv, size)
    scales = {
        "in": style.layer_scale(cv.inputs, "conv"),
        "out": style.layer_scale(cv.output, "conv"),
        "kernel": style.scale_for(cv.layer.weight, "kernel"),
        cv.layer.name: style.layer_scale(cv.output, "conv"),
    }
    scales.update({s.record.name: _scale(s.record, cv.channel) for s in cv.next.steps})
    reel = Reel(_base(cv, lay, theme, scales).array(), fps, title=f"convolution: {cv.layer.name}")
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
        sheet = reel.add_sheet(_step_sheet(cv, lay, reel.sheets[0], theme, i, scales).array())
        lay_boxes = [lay.calc_box, lay.cap_box, lay.right_box]
        reel.frame([*(outline.erase(*prev) if i == 0 else []),
                    *(Paste(sheet, b) for b in lay_boxes)])  # fmt: skip
        reel.hold((start + each * (i + 1) if i < n_next - 1 else n_frames) - reel.n_frames)
    reel.meta = {"view": cv, "numbers": cv, "output_box": lay.out_box, "input_box": lay.in_box,
                 "scale": scales["out"], "scales": scales}  # fmt: skip
    return reel
