"""``convolution``: a real kernel sliding over a real input, then ReLU and 2×2 max pooling.

The numbers are the network's own: the conv layer's input as captured in the Trace (for the
first layer that is the normalised digit, zero-padded the way the layer pads it), one output
channel's kernel and bias, and the products and sums that give the captured output. A few
positions on the stroke are worked out in full (patch × kernel = products, their sum + bias =
one output cell); then the kernel sweeps the whole map; then ReLU and max pooling act on a
4×4 corner of the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainer import style
from explainer.animate.canvas import Sketch
from explainer.animate.reel import Box, Paste, Reel
from explainer.errors import ExplainerError
from explainer.trace import LayerRecord, Trace


@dataclass
class ConvNumbers:
    """One output channel of one conv layer, recomputed from the Trace.

    ``padded``: the input channel shown ``(H + 2p, W + 2p)``; ``inputs``: all input channels
    padded ``(C_in, H + 2p, W + 2p)``; ``kernel``: ``(kH, kW)`` for the shown input channel;
    ``output``: ``(H_out, W_out)`` = the captured output of that channel.
    """

    layer: LayerRecord
    channel: int
    in_channel: int
    inputs: np.ndarray
    weight: np.ndarray  # (C_in, kH, kW)
    bias: float
    output: np.ndarray
    stride: int
    padding: int

    @property
    def padded(self) -> np.ndarray:
        return self.inputs[self.in_channel]

    @property
    def kernel(self) -> np.ndarray:
        return self.weight[self.in_channel]

    @property
    def k(self) -> int:
        return self.weight.shape[-1]

    def patch(self, y: int, x: int, channel: int | None = None) -> np.ndarray:
        c = self.in_channel if channel is None else channel
        s = self.stride
        return self.inputs[c, y * s : y * s + self.k, x * s : x * s + self.k]

    def cell(self, y: int, x: int) -> tuple[np.ndarray, float, float]:
        """``(products, other_channels, value)`` at output ``(y, x)``: the shown channel's
        element-wise products, the sum of every other input channel's contribution, and the
        output value (sum of all + bias)."""
        products = self.patch(y, x) * self.kernel
        total = sum(
            float((self.patch(y, x, c) * self.weight[c]).sum()) for c in range(len(self.weight))
        )
        return products, total - float(products.sum()), total + self.bias


def conv_layers(trace: Trace) -> list[LayerRecord]:
    return [r for r in trace.layers if r.kind == "conv" and r.weight is not None and r.is_spatial]


def conv_numbers(trace: Trace, layer: str | None = None, channel: int | None = None) -> ConvNumbers:
    """The numbers of the ``convolution`` animation (default: the first conv layer and its most
    active output channel), checked against the captured output."""
    convs = conv_layers(trace)
    if not convs:
        raise ExplainerError(
            f"{trace.architecture} has no convolution layer to show; pick a CNN checkpoint "
            "(e.g. --checkpoint mnist_bn_cnn)"
        )
    rec = convs[0] if layer is None else trace.layer(layer)
    if rec not in convs:
        names = ", ".join(r.name for r in convs)
        raise ExplainerError(f"layer {layer!r} is not a convolution; conv layers: {names}")
    idx = trace.layers.index(rec)
    inp = trace.image[None] if idx == 0 else trace.layers[idx - 1].output
    if tuple(inp.shape) != tuple(rec.input_shape):
        raise ExplainerError(f"the trace lacks the input of {rec.name}; capture all its layers")
    p = rec.params.get("padding", [0, 0])[0]
    s = rec.params.get("stride", [1, 1])[0]
    n_out = rec.output.shape[0]
    if channel is None:
        channel = int(np.argmax(rec.output.reshape(n_out, -1).max(1)))
    if not 0 <= channel < n_out:
        raise ExplainerError(
            f"--channel {channel} is out of range: {rec.name} has channels 0 to {n_out - 1}"
        )
    padded = np.pad(inp.astype(np.float64), ((0, 0), (p, p), (p, p)))
    weight = rec.weight[channel].astype(np.float64)
    bias = float(rec.bias[channel]) if rec.bias is not None else 0.0
    out = rec.output[channel]
    y, x = np.unravel_index(int(np.argmax(out)), out.shape)
    contrib = [
        float(
            (
                padded[c, y * s : y * s + weight.shape[1], x * s : x * s + weight.shape[2]]
                * weight[c]
            ).sum()
        )
        for c in range(len(weight))
    ]
    in_ch = int(np.argmax(np.abs(contrib)))
    return ConvNumbers(rec, channel, in_ch, padded, weight, bias, out.astype(np.float64), s, p)


def _fmt(v: float) -> str:
    return f"{v:.2f}".replace("-", "−")


def _number_grid(
    sk: Sketch, values: np.ndarray, scale: style.Scale, x: int, y: int, cell: int, pt: float = 7.5
) -> Box:
    """Coloured cells with their values written in them; the grid's box."""
    rgb = style.colorize(values, scale)
    h, w = values.shape
    for i in range(h):
        for j in range(w):
            box = (y + i * cell, y + (i + 1) * cell, x + j * cell, x + (j + 1) * cell)
            colour = tuple(int(c) for c in rgb[i, j])
            sk.draw.rectangle(
                (box[2], box[0], box[3] - 1, box[1] - 1), fill=colour, outline=sk.theme.background
            )
            sk.text(
                box[2] + cell / 2,
                box[0] + cell / 2,
                _fmt(values[i, j]),
                pt,
                color=style.text_on(colour),
                anchor="mm",
            )
    return (y, y + h * cell, x, x + w * cell)


def _schedule(fps: float, oh: int, n_frames: int) -> tuple[int, int, int, int, int]:
    """Frames of the intro, detail cells, frames per detail step, sweep and tail."""
    intro = max(1, round(fps * 0.8))
    detail_cells = 4 if n_frames >= 120 else 2
    per_step = max(1, round(fps * 0.55))
    sweep = max(oh // 2, round(fps * 2))
    tail = max(6, round(fps * 4.5))
    return intro, detail_cells, per_step, sweep, tail


def _frames(fps: float, oh: int, n_frames: int) -> tuple[int, int, int, int]:
    """The frames each part of the schedule needs (their sum must fit in ``n_frames``)."""
    intro, cells, per_step, sweep, tail = _schedule(fps, oh, n_frames)
    return intro, cells * 3 * per_step, sweep, tail


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
    """The convolution animation as a :class:`Reel`; ``reel.meta["numbers"]`` holds the
    :class:`ConvNumbers` it shows and ``reel.meta["output_box"]`` where the output map is."""
    cn = conv_numbers(trace, layer, channel)
    n_frames = round(fps * seconds)
    W, H = size
    u = min(W / 800, H / 450)
    k = cn.k
    ph, pw = cn.padded.shape
    oh, ow = cn.output.shape
    in_scale = style.layer_scale(cn.inputs, "conv")
    out_scale = style.layer_scale(cn.output, "conv")
    kern_scale = style.scale_for(cn.weight, "kernel")
    t = style.theme(theme)
    hl = style.HIGHLIGHT_COLOR

    # --- layout -----------------------------------------------------------------------------
    top = int(70 * u)
    f_in = max(1, int(174 * u) // ph)
    in_box = (top, top + ph * f_in, int(22 * u), int(22 * u) + pw * f_in)
    f_out = max(1, int(174 * u) // max(oh, ow))
    out_x1 = W - int(60 * u)
    out_box = (top, top + oh * f_out, out_x1 - ow * f_out, out_x1)
    calc_x0, calc_x1 = in_box[3] + int(22 * u), out_box[2] - int(22 * u)
    calc_box = (top - int(18 * u), H - int(60 * u), calc_x0, calc_x1)
    cell = int(
        min(
            (calc_x1 - calc_x0 - 50 * u) / (2 * k),
            (calc_box[1] - calc_box[0] - 90 * u) / (2 * k),
            40 * u,
        )
    )

    base = Sketch(size, theme)
    rec = cn.layer
    in_name = (
        "the normalised digit"
        if trace.layers.index(rec) <= 1
        else f"{trace.layers[trace.layers.index(rec) - 1].name}, channel {cn.in_channel}"
    )
    base.text(
        in_box[2],
        18 * u,
        f"Convolution: {rec.name} ({rec.description}), output channel {cn.channel}",
        11.5,
        bold=True,
    )
    base.text(
        in_box[2],
        40 * u,
        f"input: {in_name}" + (f", zero-padded by {cn.padding}" if cn.padding else ""),
        8.5,
        color=t.muted,
    )
    base.text(in_box[2], top - 10 * u, "input", 9.5, bold=True)
    base.paste(in_box, style.colorize(cn.padded, in_scale))
    base.box(in_box)
    if cn.padding:
        p = cn.padding * f_in
        base.draw.rectangle(
            (in_box[2] + p, in_box[0] + p, in_box[3] - p - 1, in_box[1] - p - 1), outline=t.muted
        )
    base.text(out_box[2], top - 10 * u, f"output channel {cn.channel}", 9.5, bold=True)
    base.draw.rectangle((out_box[2], out_box[0], out_box[3] - 1, out_box[1] - 1), fill=t.panel)
    base.box(out_box)
    _hbar(
        base,
        (in_box[1] + 16 * u, in_box[1] + 24 * u, in_box[2], in_box[3]),
        in_scale,
        "input value",
    )
    cb_out = (out_box[1] + 16 * u, out_box[1] + 24 * u, out_box[2], out_box[3])
    _hbar(base, cb_out, out_scale, "output (before ReLU)")
    caption_y = H - int(30 * u)

    def caption(sk: Sketch, text: str) -> None:
        sk.draw.rectangle((0, caption_y - 16 * u, W, caption_y + 16 * u), fill=t.panel)
        sk.text(W / 2, caption_y, text, 9.5, anchor="mm")

    caption(
        base,
        f"1. The {k}×{k} kernel slides over the input; at each position it multiplies and adds.",
    )
    reel = Reel(base.array(), fps, title=f"convolution: {rec.name}")
    # full output map and the calc sheets
    out_done = Sketch.on(reel.sheets[0], theme)
    out_done.paste(out_box, style.colorize(cn.output, out_scale))
    s_out = reel.add_sheet(out_done.array())
    s_hl = reel.add_sheet(np.full((max(H, W), max(H, W), 3), style.hex_to_rgb(hl), np.uint8))
    cap_box = (int(caption_y - 16 * u), int(caption_y + 16 * u), 0, W)
    cw, ch = calc_box[3] - calc_box[2], calc_box[1] - calc_box[0]

    def outline(y: int, x: int) -> list[Paste]:
        """Pastes drawing the patch outline at output position (y, x) on the input panel."""
        y0 = in_box[0] + y * cn.stride * f_in
        x0 = in_box[2] + x * cn.stride * f_in
        s = k * f_in
        lw = 2
        return [
            Paste(s_hl, (0, lw, 0, s + 2 * lw), (y0 - lw, x0 - lw)),
            Paste(s_hl, (0, lw, 0, s + 2 * lw), (y0 + s, x0 - lw)),
            Paste(s_hl, (0, s, 0, lw), (y0, x0 - lw)),
            Paste(s_hl, (0, s, 0, lw), (y0, x0 + s)),
        ]

    def erase(y: int, x: int) -> list[Paste]:
        y0 = in_box[0] + y * cn.stride * f_in
        x0 = in_box[2] + x * cn.stride * f_in
        s = k * f_in
        return [Paste(0, (max(0, y0 - 2), y0 + s + 2, max(0, x0 - 2), x0 + s + 2))]

    def out_cell(y: int, x: int, sheet: int) -> Paste:
        return Paste(
            sheet,
            (
                out_box[0] + y * f_out,
                out_box[0] + (y + 1) * f_out,
                out_box[2] + x * f_out,
                out_box[2] + (x + 1) * f_out,
            ),
        )

    def calc_sheet(y: int, x: int, stage: int) -> int:
        sk = Sketch((cw, ch), theme)
        products, others, value = cn.cell(y, x)
        gy = int(26 * u)
        gx = int(4 * u)
        sym_w = int(34 * u)
        pt = 8 if cell >= 36 * u else 7
        x_kernel = gx + k * cell + sym_w
        sk.text(gx, gy - 12 * u, "input patch", 8.5, bold=True)
        _number_grid(sk, cn.patch(y, x), in_scale, gx, gy, cell, pt)
        sk.text(gx + k * cell + sym_w / 2, gy + k * cell / 2, "×", 16, anchor="mm")
        sk.text(x_kernel, gy - 12 * u, "kernel (learned weights)", 8.5, bold=True)
        _number_grid(sk, cn.kernel, kern_scale, x_kernel, gy, cell, pt)
        y2 = gy + k * cell + int(34 * u)
        if stage >= 1:
            sk.text(gx, y2 - 12 * u, "= products, element by element", 8.5, bold=True)
            _number_grid(sk, products, style.scale_for(products, "conv"), gx, y2, cell, pt)
        tx = gx + k * cell + int(14 * u)
        if stage >= 2:
            lines = [f"sum of the {k * k} products = {_fmt(products.sum())}"]
            if len(cn.weight) > 1:
                lines.append(f"+ {len(cn.weight) - 1} other channels = {_fmt(others)}")
            lines.append(f"+ bias = {_fmt(cn.bias)}")
            for i, line in enumerate(lines):
                sk.text(tx, y2 + 8 * u + i * 18 * u, line, 9)
            sk.text(
                tx,
                y2 + 12 * u + len(lines) * 18 * u,
                f"= {_fmt(value)}",
                11,
                bold=True,
                color=t.accent,
            )
            sk.text(tx, y2 + 30 * u + len(lines) * 18 * u, f"→ output[{y}, {x}]", 9, color=t.accent)
        else:
            sk.text(tx, y2 + 8 * u, f"output position [{y}, {x}]", 9, color=t.muted)
        return reel.add_sheet(sk.array())

    def calc(sheet: int) -> Paste:
        return Paste(sheet, (0, ch, 0, cw), (calc_box[0], calc_box[2]))

    # --- schedule ---------------------------------------------------------------------------
    intro, detail_cells, per_step, sweep, tail = _schedule(fps, oh, n_frames)
    needed = intro + detail_cells * 3 * per_step + sweep + tail
    if needed > n_frames:
        s = math.ceil(needed / fps)  # the smallest whole --seconds whose schedule fits
        while sum(_frames(fps, oh, round(fps * s))) > round(fps * s):
            s += 1
        raise ExplainerError(
            f"{n_frames} frames are too few for the convolution animation; "
            f"use --seconds {s} or more"
        )

    y_c, x_c = np.unravel_index(int(np.argmax(cn.output)), cn.output.shape)
    x_start = int(np.clip(x_c - detail_cells // 2, 0, ow - detail_cells))
    reel.frame()
    reel.hold(intro - 1)
    prev: tuple[int, int] | None = None
    for d in range(detail_cells):
        pos = (int(y_c), x_start + d)
        for stage in range(3):
            pastes = [calc(calc_sheet(*pos, stage))]
            if stage == 0:
                pastes = (erase(*prev) if prev else []) + outline(*pos) + pastes
            if stage == 2:
                pastes.append(out_cell(*pos, s_out))
            reel.frame(pastes)
            reel.hold(per_step - 1)
        prev = pos
    # sweep: every row, the outline jumping along
    s_cap2 = Sketch.on(reel.sheets[0], theme)
    caption(
        s_cap2, "2. The same kernel at every position gives the whole output map (a feature map)."
    )
    s_cap2 = reel.add_sheet(s_cap2.array())
    rows = np.array_split(np.arange(oh), sweep)
    for i, rs in enumerate(rows):
        pastes = [
            Paste(
                s_out,
                (out_box[0] + r * f_out, out_box[0] + (r + 1) * f_out, out_box[2], out_box[3]),
            )
            for r in rs
        ]
        if len(rs):
            pastes = (erase(*prev) if prev else []) + pastes
            prev = (int(rs[-1]), (i * 7) % ow)
            pastes += outline(*prev)
        if i == 0:
            pastes.append(Paste(s_cap2, cap_box))
        reel.frame(pastes)
    # ReLU and pooling on a 4×4 block of the same numbers
    relu_sheet, pool_sheet = _relu_pool_sheets(
        reel,
        cn,
        size,
        theme,
        out_box,
        f_out,
        calc_box,
        cell,
        (int(y_c), int(x_c)),
        caption,
        cap_box,
    )
    reel.frame(
        [
            *erase(*prev),
            Paste(relu_sheet, calc_box),
            Paste(relu_sheet, cap_box),
            Paste(
                relu_sheet, (out_box[0] - int(24 * u), cb_out[1] + int(30 * u), out_box[2] - 4, W)
            ),
        ]
    )
    reel.hold(tail // 2 - 1)
    reel.frame(
        [
            Paste(pool_sheet, calc_box),
            Paste(pool_sheet, cap_box),
            Paste(
                pool_sheet, (out_box[0] - int(24 * u), cb_out[1] + int(30 * u), out_box[2] - 4, W)
            ),
        ]
    )
    reel.hold(n_frames - reel.n_frames)
    reel.meta = {"numbers": cn, "output_box": out_box, "input_box": in_box, "scale": out_scale}
    return reel


def _hbar(
    sk: Sketch, box: tuple[float, float, float, float], scale: style.Scale, label: str
) -> None:
    """A horizontal colour bar with end labels and a caption."""
    y0, y1, x0, x1 = (int(v) for v in box)
    values = np.linspace(scale.vmin, scale.vmax, x1 - x0)[None, :].repeat(y1 - y0, 0)
    sk.paste((y0, y1, x0, x1), style.colorize(values, scale))
    sk.box((y0, y1, x0, x1))
    sk.text(x0, y1 + 9, _fmt(scale.vmin), 7.5, anchor="lm")
    sk.text(x1, y1 + 9, _fmt(scale.vmax), 7.5, anchor="rm")
    sk.text((x0 + x1) / 2, y1 + 24, label, 7.5, color=sk.theme.muted, anchor="mm")


def _relu_pool_sheets(
    reel, cn, size, theme, out_box, f_out, calc_box, cell, centre, caption, cap_box
):
    """Two full-size sheets: ReLU applied (map and a 4×4 block of numbers), then 2×2 max pooling."""
    W, H = size
    u = min(W / 800, H / 450)
    t = style.theme(theme)
    oh, ow = cn.output.shape
    y0 = int(np.clip(centre[0] - 1 - centre[0] % 2, 0, max(0, oh - 4)))
    x0 = int(np.clip(centre[1] - 1 - centre[1] % 2, 0, max(0, ow - 4)))
    block = cn.output[y0 : y0 + 4, x0 : x0 + 4]
    relu = np.maximum(block, 0)
    ph, pw = relu.shape[0] // 2, relu.shape[1] // 2
    pooled = relu[: 2 * ph, : 2 * pw].reshape(ph, 2, pw, 2).max(axis=(1, 3))
    relu_map = np.maximum(cn.output, 0)
    pool_map = (
        relu_map[: oh // 2 * 2, : ow // 2 * 2].reshape(oh // 2, 2, ow // 2, 2).max(axis=(1, 3))
    )
    signed = style.layer_scale(cn.output, "conv")
    pos = style.scale_for(relu_map, "relu")
    sheets = []
    for step in (1, 2):
        sk = Sketch.on(reel.sheets[0], theme)
        sk.draw.rectangle((calc_box[2], calc_box[0], calc_box[3], calc_box[1]), fill=t.background)
        cx, cy = calc_box[2] + int(4 * u), calc_box[0] + int(26 * u)
        c = min(cell, int(34 * u))
        sk.text(cx, cy - 12 * u, "4×4 of the output", 8.5, bold=True)
        _number_grid(sk, block, signed, cx, cy, c, 7.5)
        x_r = cx + 4 * c + int(34 * u)
        sk.text(cx + 4 * c + 17 * u, cy + 2 * c, "→", 16, anchor="mm")
        sk.text(x_r, cy - 12 * u, "ReLU: max(0, x)", 8.5, bold=True)
        _number_grid(sk, relu, pos, x_r, cy, c, 7.5)
        y2 = cy + 4 * c + int(34 * u)
        if step == 2:
            for i in range(2):
                for j in range(2):
                    box = (
                        x_r + 2 * j * c,
                        cy + 2 * i * c,
                        x_r + 2 * (j + 1) * c - 1,
                        cy + 2 * (i + 1) * c - 1,
                    )
                    sk.draw.rectangle(box, outline=style.HIGHLIGHT_COLOR, width=2)
            sk.text(x_r, y2 - 12 * u, "2×2 max pool", 8.5, bold=True)
            _number_grid(sk, pooled, pos, x_r, y2, 2 * c, 9)
            sk.text(cx, y2 + 10 * u, "Each 2×2 square", 9)
            sk.text(cx, y2 + 28 * u, "keeps its largest", 9)
            sk.text(cx, y2 + 46 * u, f"value: {oh}×{ow} → {oh // 2}×{ow // 2}.", 9)
        else:
            sk.text(
                cx, y2 + 10 * u, f"(rows {y0}-{y0 + 3}, columns {x0}-{x0 + 3})", 8.5, color=t.muted
            )
            sk.text(cx, y2 + 32 * u, "Negative values (blue) become 0:", 9)
            sk.text(cx, y2 + 50 * u, "the pattern is absent there.", 9)
        # the map on the right
        sk.draw.rectangle(
            (out_box[2] - 4, out_box[0] - int(24 * u), W - 1, out_box[1] + int(60 * u)),
            fill=t.background,
        )
        m = relu_map if step == 1 else pool_map
        f = f_out if step == 1 else max(1, (out_box[3] - out_box[2]) // m.shape[1])
        box = (out_box[0], out_box[0] + m.shape[0] * f, out_box[2], out_box[2] + m.shape[1] * f)
        sk.text(
            out_box[2],
            out_box[0] - 10 * u,
            "after ReLU" if step == 1 else f"after max pooling ({m.shape[0]}×{m.shape[1]})",
            9.5,
            bold=True,
        )
        sk.paste(box, style.colorize(m, pos))
        sk.box(box)
        _hbar(sk, (box[1] + 16 * u, box[1] + 24 * u, box[2], box[3]), pos, "activation (≥ 0)")
        caption(
            sk,
            "3. ReLU keeps positive evidence only."
            if step == 1
            else "4. Max pooling keeps the strongest response in each 2×2 square.",
        )
        sheets.append(reel.add_sheet(sk.array()))
    return sheets
