"""The pictures the ``convolution`` reel is composed from, each drawn once.

:func:`frame_layout` places the panels on a frame; :func:`base_sheet` is the frame every other
picture starts from (titles, the input, the empty output); :func:`calc_sheet` works one output
cell out (patch × kernel, the products, their sum); :func:`step_sheet` shows one record after
the layer (batch norm, the activation, the pooling) acting on a block of the map. All numbers
come from a :class:`~explainer.animate.convolution_view.ConvView`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer import style
from explainer.analysis import arith
from explainer.analysis.arith import ConvSum, NextBlock
from explainer.animate.canvas import Sketch
from explainer.animate.convolution_view import ConvView
from explainer.animate.reel import Box
from explainer.tracing.trace import LayerRecord


def fit_text(sk: Sketch, text: str, width: float, pt: float, bold: bool = False) -> float:
    """The largest size up to ``pt`` (at least 5) at which ``text`` fits in ``width``."""
    while pt > 5 and sk.text_width(text, pt, bold) > width:
        pt -= 0.5
    return pt


def number_grid(
    sk: Sketch, values: np.ndarray, scale: style.Scale, x: int, y: int, cell: int,
    pt: float = 7.5, decimals: int = 2,
) -> Box:  # fmt: skip
    """Coloured cells with their values written in them (true minus signs); the grid's box."""
    rgb = style.colorize(values, scale)
    h, w = values.shape
    texts = [[arith.fmt(float(v), decimals) for v in row] for row in values]
    widest = max((t for row in texts for t in row), key=len, default="0")
    pt = fit_text(sk, widest, cell - max(4, cell // 10), pt)
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


def hbar(
    sk: Sketch, box: tuple[float, float, float, float], scale: style.Scale, label: str,
    k: float = 1.0,
) -> None:  # fmt: skip
    """A horizontal colour bar with end labels and a caption (text ``k`` × its 800×450 size)."""
    y0, y1, x0, x1 = (int(v) for v in box)
    values = np.linspace(scale.vmin, scale.vmax, x1 - x0)[None, :].repeat(y1 - y0, 0)
    sk.paste((y0, y1, x0, x1), style.colorize(values, scale))
    sk.box((y0, y1, x0, x1))
    sk.text(x0, y1 + 10 * k, arith.fmt(scale.vmin), 8 * k, anchor="lm")
    sk.text(x1, y1 + 10 * k, arith.fmt(scale.vmax), 8 * k, anchor="rm")
    sk.text((x0 + x1) / 2, y1 + 27 * k, label, fit_text(sk, label, x1 - x0 + 40 * k, 8 * k),
            color=sk.theme.muted, anchor="mm")  # fmt: skip


@dataclass
class Layout:
    """Where everything goes on a ``size`` frame (boxes are ``(y0, y1, x0, x1)``)."""

    W: int
    H: int
    u: float
    k: float  # font scale: text is k × its size on an 800×450 frame
    in_box: Box
    f_in: int
    out_box: Box
    f_out: int
    calc_box: Box
    cell: int
    caption_y: int
    kernel_shape: tuple[int, int] = (3, 3)

    @property
    def cap_box(self) -> Box:
        return (int(self.caption_y - 18 * self.u), int(self.caption_y + 18 * self.u), 0, self.W)

    @property
    def grid_places(self) -> dict[str, tuple[int, int]]:
        """Top-left ``(y, x)`` of the patch, kernel and products grids inside the worked-cell
        panel."""
        (kh, kw), u, cell = self.kernel_shape, self.u, self.cell
        gy, gx = int(30 * u), int(4 * u)
        return {"patch": (gy, gx), "kernel": (gy, gx + kw * cell + int(34 * u)),
                "products": (gy + kh * cell + int(38 * u), gx)}  # fmt: skip

    @property
    def grids(self) -> dict[str, Box]:
        """Where the patch, kernel and products grids are on the frame (``(y0, y1, x0, x1)``)."""
        (kh, kw), cell = self.kernel_shape, self.cell
        y0, x0 = self.calc_box[0], self.calc_box[2]
        return {name: (y0 + y, y0 + y + kh * cell, x0 + x, x0 + x + kw * cell)
                for name, (y, x) in self.grid_places.items()}  # fmt: skip

    @property
    def right_box(self) -> Box:
        """The output panel with its title and colour bar (replaced by the next steps)."""
        ob, u = self.out_box, self.u
        return (ob[0] - int(26 * u), ob[1] + int(66 * u), ob[2] - 4, self.W)


def frame_layout(cv: ConvView, size: tuple[int, int]) -> Layout:
    """Where the input, the output, the worked cell and the caption go on a ``size`` frame."""
    W, H = size
    u = min(W / 800, H / 450)
    k = max(0.7, u)
    ph, pw = cv.padded.shape
    oh, ow = cv.output.shape
    kh, kw = cv.kernel_shape
    top = int(80 * u)
    side = int((174 if max(kh, kw) <= 3 else 140) * u)  # room for the numbers of large kernels
    f_in = max(1, side // max(ph, pw))
    in_box = (top, top + ph * f_in, int(22 * u), int(22 * u) + pw * f_in)
    f_out = max(1, side // max(oh, ow))
    out_x1 = W - int(34 * u)
    out_box = (top, top + oh * f_out, out_x1 - ow * f_out, out_x1)
    calc_box = (
        top - int(18 * u),
        H - int(52 * u),
        in_box[3] + int(22 * u),
        out_box[2] - int(22 * u),
    )
    cw, ch = calc_box[3] - calc_box[2], calc_box[1] - calc_box[0]
    cell = int(min((cw - 50 * u) / (2 * kw), (ch - 72 * u) / (2 * kh), 46 * u))
    return Layout(W, H, u, k, in_box, f_in, out_box, f_out, calc_box, max(cell, 8),
                  H - int(30 * u), (kh, kw))  # fmt: skip


def draw_caption(sk: Sketch, lay: Layout, text: str) -> None:
    """The caption bar along the bottom of the frame, ``text`` shrunk to fit."""
    y0, y1, _, _ = lay.cap_box
    sk.draw.rectangle((0, y0, lay.W, y1), fill=sk.theme.panel)
    sk.text(lay.W / 2, lay.caption_y, text, fit_text(sk, text, lay.W - 20, 10 * lay.k),
            anchor="mm")  # fmt: skip


def base_sheet(cv: ConvView, lay: Layout, theme: str, scales: dict) -> Sketch:
    """The frame every other picture starts from: titles, the input, the empty output."""
    u, k, in_box, out_box = lay.u, lay.k, lay.in_box, lay.out_box
    rec = cv.layer
    sk = Sketch((lay.W, lay.H), theme)
    title = f"Convolution: {rec.name} ({rec.description}), output channel {cv.channel}"
    sk.text(in_box[2], 22 * u, title, fit_text(sk, title, lay.W - 2 * in_box[2], 12 * k, True),
            bold=True)  # fmt: skip
    pad = cv.padding
    sub = f"input: {cv.input_name}" + (f", zero-padded by {max(pad)}" if any(pad) else "")
    sk.text(in_box[2], 47 * u, sub, fit_text(sk, sub, lay.W - 2 * in_box[2], 9 * k),
            color=sk.theme.muted)  # fmt: skip
    head = f"input channel {cv.in_channel}"
    sk.text(in_box[2], in_box[0] - 12 * u, head, fit_text(sk, head, in_box[3] - in_box[2], 9.5 * k,
            True), bold=True)  # fmt: skip
    sk.paste(in_box, style.colorize(cv.padded, scales["in"]))
    sk.box(in_box)
    if any(pad):
        py, px = pad[0] * lay.f_in, pad[1] * lay.f_in
        sk.draw.rectangle((in_box[2] + px, in_box[0] + py, in_box[3] - px - 1, in_box[1] - py - 1),
                          outline=sk.theme.muted)  # fmt: skip
    head = f"output channel {cv.channel}"
    sk.text(out_box[2], out_box[0] - 12 * u, head, fit_text(sk, head, lay.W - out_box[2] - 4,
            9.5 * k, True), bold=True)  # fmt: skip
    sk.draw.rectangle((out_box[2], out_box[0], out_box[3] - 1, out_box[1] - 1), fill=sk.theme.panel)
    sk.box(out_box)
    hbar(sk, (in_box[1] + 14 * u, in_box[1] + 22 * u, in_box[2], in_box[3]), scales["in"],
          "input value", k)  # fmt: skip
    hbar(sk, (out_box[1] + 14 * u, out_box[1] + 22 * u, out_box[2], out_box[3]), scales["out"],
          f"{rec.name} output", k)  # fmt: skip
    kh, kw = cv.kernel_shape
    draw_caption(sk, lay, f"1. The {kh}×{kw} kernel slides over the input; at each position it "
             "multiplies and adds.")  # fmt: skip
    return sk


def calc_sheet(cs: ConvSum, cv: ConvView, lay: Layout, theme: str, stage: int, scales) -> Sketch:
    """The worked cell: patch × kernel, then the products, then the sum (``stage`` 0-2)."""
    u, k, cell, d = lay.u, lay.k, lay.cell, cs.decimals
    cw, ch = lay.calc_box[3] - lay.calc_box[2], lay.calc_box[1] - lay.calc_box[0]
    sk = Sketch((cw, ch), theme)
    kh, kw = cs.kernel.shape
    places = lay.grid_places
    (gy, gx), x_kernel, y2 = places["patch"], places["kernel"][1], places["products"][0]
    sym_w = x_kernel - gx - kw * cell
    head_y = gy - 13 * u
    patch_title = "input patch"
    sk.text(gx, head_y, patch_title, fit_text(sk, patch_title, x_kernel - gx, 9 * k, True),
            bold=True)  # fmt: skip
    number_grid(sk, cs.patch, scales["in"], gx, gy, cell, 8.5 * k, d)
    sk.text(gx + kw * cell + sym_w / 2, gy + kh * cell / 2, "×", 16 * k, anchor="mm")
    kernel_title = "kernel (learned weights)"
    sk.text(x_kernel, head_y, kernel_title, fit_text(sk, kernel_title, cw - x_kernel, 9 * k, True),
            bold=True)  # fmt: skip
    number_grid(sk, cs.kernel, scales["kernel"], x_kernel, gy, cell, 8.5 * k, d)
    tx = gx + kw * cell + int(14 * u)
    if stage == 0:
        where = f"output position [{cs.cell.y}, {cs.cell.x}]"
        sk.text(tx, y2 + 10 * u, where, fit_text(sk, where, cw - tx, 9.5 * k),
                color=sk.theme.muted)  # fmt: skip
        return sk
    head = "= products, element by element"
    sk.text(gx, y2 - 13 * u, head, fit_text(sk, head, cw - gx, 9 * k, True), bold=True)
    number_grid(sk, cs.products, style.scale_for(cs.products, "conv"), gx, y2, cell, 8.5 * k, d)
    if stage == 1:
        return sk
    _sum_lines(sk, cs, tx, y2, cw, lay)
    return sk


def wrap_words(sk: Sketch, text: str, width: float, pt: float, bold: bool = False) -> list[str]:
    """``text`` in as few lines as fit ``width`` at ``pt`` (a word longer than a line keeps its
    own line)."""
    rows: list[str] = []
    for word in text.split():
        if rows and sk.text_width(f"{rows[-1]} {word}", pt, bold) <= width:
            rows[-1] = f"{rows[-1]} {word}"
        else:
            rows.append(word)
    return rows or [""]


def _sum_lines(sk: Sketch, cs: ConvSum, tx: int, y2: int, cw: int, lay: Layout) -> None:
    """The written sum beside the products: numbers at full size on the right, the words
    wrapped onto a second line where they do not fit beside them."""
    u, k = lay.u, lay.k
    lines = arith.conv_sum_lines(cs)
    pt = 9.5 * k
    number_w = max(sk.text_width(n, pt + 1.5 * k, True) for _, n in lines)
    room = cw - 4 - number_w - 8 * u - tx
    row = pt * 100 / 72 * 1.3
    y = y2 + 10 * u
    for i, (words, number) in enumerate(lines):
        last = i == len(lines) - 1
        y += 6 * u if last else 0
        colour = sk.theme.accent if last else None
        rows = wrap_words(sk, words, room, pt, last)
        for j, text in enumerate(rows):
            sk.text(tx, y + j * row, text, fit_text(sk, text, room, pt, last), bold=last,
                    color=colour)  # fmt: skip
        y += (len(rows) - 1) * row
        sk.text(cw - 4, y, number, pt + (1.5 * k if last else 0), bold=last, color=colour,
                anchor="rm")  # fmt: skip
        y += row + 2 * u
    note = "figures add up as written" if cs.exact else f"figures rounded to {cs.decimals} decimals"
    sk.text(tx, y + 2 * u, note, fit_text(sk, note, cw - tx, 8 * k), color=sk.theme.muted)


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


def step_scale(rec: LayerRecord, channel: int) -> style.Scale:
    """The colour scale of ``rec``'s output ``channel`` (``(H, W)``), by the record's kind."""
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


def _block_grids(sk: Sketch, cv: ConvView, lay: Layout, i: int, scales: dict) -> int:
    """The block before step ``i`` and after it, side by side; returns the y below them."""
    nb, u, k = cv.next, lay.u, lay.k
    step = nb.steps[i]
    prev_rec = cv.layer if i == 0 else nb.steps[i - 1].record
    prev = nb.before if i == 0 else nb.steps[i - 1].values
    n = prev.shape[0]
    c = int(min(38 * u, (lay.calc_box[3] - lay.calc_box[2] - 44 * u) / (2 * n)))
    cx, cy = lay.calc_box[2] + int(4 * u), lay.calc_box[0] + int(30 * u)
    title = prev_rec.name
    sk.text(cx, cy - 13 * u, title, fit_text(sk, title, n * c + 30 * u, 9 * k, True), bold=True)
    where = f"rows {nb.y}–{nb.y + n - 1}, columns {nb.x}–{nb.x + n - 1} of channel {nb.channel}"
    sk.text(cx, cy + n * c + 12 * u, where, fit_text(sk, where, lay.calc_box[3] - cx, 8 * k),
            color=sk.theme.muted)  # fmt: skip
    number_grid(sk, prev, scales.get(prev_rec.name, scales["out"]), cx, cy, c, 9.5 * k)
    x_r = cx + n * c + int(34 * u)
    sk.text(cx + n * c + 17 * u, cy + n * c / 2, "→", 16 * k, anchor="mm")
    if step.record.kind == "pool":
        for pc in step.cells:
            y0, x0 = cy + (pc.rows[0] - nb.y) * c, cx + (pc.cols[0] - nb.x) * c
            h, w = pc.window.shape
            sk.draw.rectangle((x0, y0, x0 + w * c - 1, y0 + h * c - 1),
                              outline=style.HIGHLIGHT_COLOR, width=2)  # fmt: skip
        c_out = c * max(1, n // max(1, step.values.shape[0]))
    else:
        c_out = c
    name = step.record.name
    sk.text(x_r, cy - 13 * u, name, fit_text(sk, name, lay.calc_box[3] - x_r, 9 * k, True),
            bold=True)  # fmt: skip
    number_grid(sk, step.values, scales[step.record.name], x_r, cy, c_out, 9.5 * k)
    return cy + n * c + int(40 * u)


def step_sheet(cv: ConvView, lay: Layout, base: np.ndarray, theme: str, i: int, scales) -> Sketch:
    """Step ``i`` of the path after the layer: the block's numbers and the step's map."""
    nb, u, k = cv.next, lay.u, lay.k
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
    for j, line in enumerate(lines):
        muted = j == len(lines) - 1 and i == max(0, len(nb.steps) - 1)
        sk.text(cx, y + j * 20 * u, line, fit_text(sk, line, cb[3] - cx, 9.5 * k),
                color=sk.theme.muted if muted else None)  # fmt: skip
    draw_caption(sk, lay, f"{i + 3}. {caption}")
    _step_map(sk, cv, lay, rec, nb.steps[i] if nb.steps else None, scales)
    return sk


def _step_map(sk: Sketch, cv: ConvView, lay: Layout, rec: LayerRecord, step, scales) -> None:
    """``rec``'s map of the channel on the right, the block (or its pooled cells) framed."""
    ob, u, k = lay.out_box, lay.u, lay.k
    m = rec.output[cv.channel]
    f = max(1, (ob[3] - ob[2]) // max(m.shape))
    box = (ob[0], ob[0] + m.shape[0] * f, ob[2], ob[2] + m.shape[1] * f)
    title = f"after {rec.name} ({m.shape[0]}×{m.shape[1]})"
    sk.text(ob[2], ob[0] - 12 * u, title, fit_text(sk, title, lay.W - ob[2] - 4, 9.5 * k, True),
            bold=True)  # fmt: skip
    sk.paste(box, style.colorize(m, scales[rec.name]))
    sk.box(box)
    if step is not None:
        (y, x), (h, w) = step.top_left, step.values.shape
        x0, y0 = box[2] + x * f, box[0] + y * f
        sk.draw.rectangle(
            (x0 - 1, y0 - 1, x0 + w * f, y0 + h * f), outline=style.HIGHLIGHT_COLOR, width=2
        )
    hbar(sk, (box[1] + 14 * u, box[1] + 22 * u, box[2], box[3]), scales[rec.name],
          f"{rec.name} output", k)  # fmt: skip
