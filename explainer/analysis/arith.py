"""Every number a view works out by hand, computed once, from a Trace, and checked.

The GIF animators, the Manim scenes and the app show a learner how one output value comes
about: a convolution window (patch × kernel, summed over every input channel, plus the bias),
a batch-norm step, an activation, a pooling window on the network's own grid, one row of a
dense layer, the softmax. Each function here takes those numbers from the records the
layer actually consumed (``LayerRecord.inputs``), computes the value in float64, and compares
it with the output the network recorded: a mismatch raises :class:`ArithMismatch` naming the
layer and the cell, so no view can ever draw arithmetic the network did not do.

Rounding is honest too: :func:`fmt` writes a true minus sign and never "-0.00", and
:func:`decimals_that_add_up` finds how many decimals make the shown terms add up to the shown
total (views say "rounded" when none do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace

MINUS = "\u2212"


class ArithMismatch(ExplainerError):
    """A hand computation that does not give what the network computed."""


def _check(value: float, captured: float, where: str) -> None:
    tol = 1e-4 + 1e-4 * abs(captured)
    if not math.isfinite(value) or abs(value - captured) > tol:
        raise ArithMismatch(
            f"{where}: the hand computation gives {value:.6g} but the network computed "
            f"{captured:.6g}; the view is not drawn"
        )


def _record(trace: Trace, layer: LayerRecord | str, kinds: tuple[str, ...]) -> LayerRecord:
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    if rec.kind not in kinds:
        raise ExplainerError(f"{rec.name} is a {rec.kind} layer, not {' or '.join(kinds)}")
    if len(rec.inputs) != 1:
        raise ExplainerError(f"{rec.name} reads {len(rec.inputs)} tensors; pick a single-input one")
    return rec


def _span(pos: int, stride: int, pad: int, dilation: int, size: int) -> list[int]:
    """The input coordinates a window of ``size`` taps reads for output position ``pos``
    (negative or past the edge: padding), on the layer's own grid."""
    return [pos * stride - pad + i * dilation for i in range(size)]


def _gather(a: np.ndarray, rows: list[int], cols: list[int], fill: float) -> np.ndarray:
    """``a[..., rows, cols]`` (every row with every column), ``fill`` where a coordinate
    falls outside the map: the padding a conv or pooling window sees."""
    out = np.full((*a.shape[:-2], len(rows), len(cols)), fill, dtype=np.float64)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if 0 <= r < a.shape[-2] and 0 <= c < a.shape[-1]:
                out[..., i, j] = a[..., r, c]
    return out


def _input(trace: Trace, rec: LayerRecord) -> np.ndarray:
    return np.asarray(trace.value(rec.inputs[0]), dtype=np.float64)


# --- numbers as text ---------------------------------------------------------------------


def fmt(value: float, decimals: int = 2, *, sign: bool = False) -> str:
    """``value`` with ``decimals`` decimals, a true minus sign, and no "-0.00"
    (``sign=True``: a "+" before values that are not negative, for terms of a sum)."""
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    if text.startswith("-"):
        return MINUS + text[1:]
    return "+" + text if sign else text


def decimals_that_add_up(
    terms: np.ndarray, total: float, start: int = 2, most: int = 4
) -> int | None:
    """The fewest decimals (from ``start`` up to ``most``) at which the rounded ``terms`` add
    up exactly to the rounded ``total``; ``None`` when none do (then say "rounded")."""
    terms = np.asarray(terms, dtype=np.float64).ravel()
    for d in range(start, most + 1):
        shown = sum(round(float(t), d) for t in terms)
        if round(shown, d) == round(float(total), d):
            return d
    return None


# --- convolution -------------------------------------------------------------------------


@dataclass
class ConvCell:
    """One output value of a conv layer, worked out by hand.

    ``patch`` and ``kernel`` are ``(C, kH, kW)`` over the input channels this output channel
    reads (all of them, or its group); padding positions hold 0. ``rows``/``cols`` are the
    input coordinates each kernel row/column lands on (negative or past the edge: padding).
    """

    layer: str
    channel: int
    y: int
    x: int
    in_channels: list[int]
    patch: np.ndarray
    kernel: np.ndarray
    rows: list[int]
    cols: list[int]
    bias: float
    captured: float

    @property
    def products(self) -> np.ndarray:
        """``(C, kH, kW)``: patch × kernel, element by element."""
        return self.patch * self.kernel

    @property
    def channel_sums(self) -> np.ndarray:
        """``(C,)``: each input channel's contribution."""
        return self.products.reshape(len(self.in_channels), -1).sum(1)

    @property
    def total(self) -> float:
        """The sum of every product, before the bias."""
        return float(self.products.sum())

    @property
    def value(self) -> float:
        """Sum + bias: what the network computed at this cell."""
        return self.total + self.bias


def _conv_padding(rec: LayerRecord) -> list[int]:
    p = rec.params.get("padding", [0, 0])
    if p == "valid":
        return [0, 0]
    if p == "same":
        k, d = rec.params["kernel_size"], rec.params.get("dilation", [1, 1])
        return [d[i] * (k[i] - 1) // 2 for i in (0, 1)]
    return list(p)


@dataclass
class _ConvInput:
    """What every conv hand computation starts from: the record, the input channels one
    output channel reads (its group: all of them for a plain conv), and its kernel."""

    rec: LayerRecord
    in_channels: list[int]
    inputs: np.ndarray  # (C_group, H, W) float64
    kernel: np.ndarray  # (C_group, kH, kW) float64


def _conv_input(trace: Trace, layer: LayerRecord | str, channel: int) -> _ConvInput:
    rec = _record(trace, layer, ("conv",))
    if rec.weight is None or not rec.is_spatial:
        raise ExplainerError(f"{rec.name} was captured without weights; capture it again")
    if rec.params.get("padding_mode", "zeros") != "zeros":
        raise ExplainerError(f"{rec.name} pads with {rec.params['padding_mode']}, not zeros")
    c_out = rec.output.shape[0]
    if not 0 <= channel < c_out:
        raise ExplainerError(f"channel {channel} is outside {rec.name}'s channels 0 to {c_out - 1}")
    inp = _input(trace, rec)
    groups = int(rec.params.get("groups", 1))
    per_group = inp.shape[0] // groups
    first = (channel // (c_out // groups)) * per_group
    kernel = rec.weight[channel].astype(np.float64)
    return _ConvInput(rec, list(range(first, first + per_group)),
                      inp[first : first + per_group], kernel)  # fmt: skip


def conv_cell(trace: Trace, layer: LayerRecord | str, channel: int, y: int, x: int) -> ConvCell:
    """Output ``(channel, y, x)`` of a conv layer from its real input, checked."""
    ci = _conv_input(trace, layer, channel)
    rec, kernel = ci.rec, ci.kernel
    c_out, h_out, w_out = rec.output.shape
    if not (0 <= y < h_out and 0 <= x < w_out):
        raise ExplainerError(
            f"cell ({channel}, {y}, {x}) is outside {rec.name}'s output {c_out}×{h_out}×{w_out}"
        )
    (sy, sx), (py, px), (dy, dx) = conv_geometry(rec)
    rows = _span(y, sy, py, dy, kernel.shape[1])
    cols = _span(x, sx, px, dx, kernel.shape[2])
    patch = _gather(ci.inputs, rows, cols, 0.0)
    bias = 0.0 if rec.bias is None else float(rec.bias[channel])
    cell = ConvCell(rec.name, channel, y, x, ci.in_channels, patch, kernel, rows, cols, bias,
                    float(rec.output[channel, y, x]))  # fmt: skip
    _check(cell.value, cell.captured, f"{rec.name} channel {channel} at ({y}, {x})")
    return cell


# --- batch norm, activations ---------------------------------------------------------------


@dataclass
class NormCell:
    """``(x − mean) / √(var + eps) × gamma + beta`` at one position."""

    layer: str
    channel: int
    x: float
    mean: float
    var: float
    eps: float
    gamma: float
    beta: float
    captured: float

    @property
    def normalised(self) -> float:
        return (self.x - self.mean) / math.sqrt(self.var + self.eps)

    @property
    def value(self) -> float:
        return self.normalised * self.gamma + self.beta


def norm_cell(trace: Trace, layer: LayerRecord | str, index: tuple[int, ...]) -> NormCell:
    """Batch norm at ``index`` (``(c, y, x)`` or ``(unit,)``) from running statistics."""
    rec = _record(trace, layer, ("bn",))
    if "running_mean" not in rec.arrays:
        raise ExplainerError(f"{rec.name} is not a batch norm with running statistics")
    c = index[0]
    cell = NormCell(
        rec.name, c, float(_input(trace, rec)[index]),
        float(rec.arrays["running_mean"][c]), float(rec.arrays["running_var"][c]),
        float(rec.params.get("eps", 1e-5)),
        1.0 if rec.weight is None else float(rec.weight[c]),
        0.0 if rec.bias is None else float(rec.bias[c]),
        float(rec.output[index]),
    )  # fmt: skip
    _check(cell.value, cell.captured, f"{rec.name} at {index}")
    return cell


_ACTIVATIONS = {
    "relu": lambda v, p: max(v, 0.0),
    "tanh": lambda v, p: math.tanh(v),
    "sigmoid": lambda v, p: 1 / (1 + math.exp(-v)),
    "leaky_relu": lambda v, p: v if v >= 0 else v * p.get("negative_slope", 0.01),
    "elu": lambda v, p: v if v > 0 else p.get("alpha", 1.0) * math.expm1(v),
    "gelu": lambda v, p: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
    "silu": lambda v, p: v / (1 + math.exp(-v)),
    "relu6": lambda v, p: min(max(v, 0.0), 6.0),
}
_ALIASES = {"ReLU": "relu", "relu_": "relu", "Tanh": "tanh", "tanh_": "tanh", "Sigmoid": "sigmoid",
            "LeakyReLU": "leaky_relu", "ELU": "elu", "GELU": "gelu", "SiLU": "silu",
            "ReLU6": "relu6"}  # fmt: skip


def activation_name(rec: LayerRecord) -> str:
    """``"relu"``, ``"tanh"``, ``"gelu"``...: the function an activation record applies."""
    name = rec.params.get("type") if rec.params.get("type") in _ALIASES else None
    name = name or str(rec.params.get("function", ""))
    return _ALIASES.get(name, name)


def activation_value(rec: LayerRecord, value: float) -> float:
    """The activation ``rec`` applies, at one value (tanh-approximate GELU is refused)."""
    name = activation_name(rec)
    if name not in _ACTIVATIONS or rec.params.get("approximate", "none") != "none":
        raise ExplainerError(f"{rec.name}: {name} is not one this project works out by hand")
    return float(_ACTIVATIONS[name](float(value), rec.params))


def activation_map(trace: Trace, layer: LayerRecord | str, inputs: np.ndarray) -> np.ndarray:
    """The activation applied to an array of its input's values (e.g. a block), checked
    where those values came from: call it with the record's real input slice."""
    rec = _record(trace, layer, ("relu",))
    return np.vectorize(lambda v: activation_value(rec, v), otypes=[np.float64])(inputs)


def check_block(rec: LayerRecord, computed: np.ndarray, index: tuple) -> None:
    """``computed`` must equal ``rec.output[index]`` (a view's own block of numbers)."""
    captured = np.asarray(rec.output[index], dtype=np.float64)
    bad = np.argwhere(np.abs(computed - captured) > 1e-4 + 1e-4 * np.abs(captured))
    if len(bad):
        at = tuple(int(i) for i in bad[0])
        raise ArithMismatch(
            f"{rec.name} at {index} offset {at}: the hand computation gives "
            f"{float(computed[at]):.6g} but the network computed {float(captured[at]):.6g}"
        )


# --- pooling ------------------------------------------------------------------------------


@dataclass
class PoolCell:
    """One pooling window on the network's own grid: ``window`` is ``(kH, kW)`` of the
    input, ``rows``/``cols`` its input coordinates (padding: ``nan``)."""

    layer: str
    channel: int
    y: int
    x: int
    mode: str
    window: np.ndarray
    rows: list[int]
    cols: list[int]
    captured: float

    @property
    def value(self) -> float:
        vals = self.window[~np.isnan(self.window)]
        return float(vals.max() if self.mode == "max" else vals.mean())


def pool_cell(trace: Trace, layer: LayerRecord | str, channel: int, y: int, x: int) -> PoolCell:
    """Output ``(channel, y, x)`` of a max or average pooling layer, from its window."""
    rec = _record(trace, layer, ("pool",))
    p = rec.params
    if p.get("adaptive") or p.get("ceil_mode") or max(p.get("dilation", [1, 1])) > 1:
        raise ExplainerError(f"{rec.name}: only plain max/average pooling is worked by hand")
    inp = _input(trace, rec)[channel]
    (kh, kw), (sy, sx), (py, px) = p["kernel_size"], p["stride"], p["padding"]
    rows = _span(y, sy, py, 1, kh)
    cols = _span(x, sx, px, 1, kw)
    window = _gather(inp, rows, cols, np.nan)
    if p["mode"] != "max" and p.get("count_include_pad", True):
        window = np.nan_to_num(window, nan=0.0)
    cell = PoolCell(rec.name, channel, y, x, p["mode"], window, rows, cols,
                    float(rec.output[channel, y, x]))  # fmt: skip
    _check(cell.value, cell.captured, f"{rec.name} channel {channel} at ({y}, {x})")
    return cell


# --- dense layers and softmax ----------------------------------------------------------------


@dataclass
class DenseRow:
    """One unit of a dense layer: ``inputs · weights + bias``."""

    layer: str
    unit: int
    inputs: np.ndarray
    weights: np.ndarray
    bias: float
    captured: float

    @property
    def products(self) -> np.ndarray:
        return self.inputs * self.weights

    @property
    def value(self) -> float:
        return float(self.products.sum()) + self.bias

    def top(self, n: int = 5) -> np.ndarray:
        """Indices of the ``n`` inputs that add the most (by absolute product)."""
        return np.argsort(-np.abs(self.products))[:n]


def dense_row(trace: Trace, layer: LayerRecord | str, unit: int) -> DenseRow:
    """Unit ``unit`` of a dense layer from its real input vector, checked."""
    rec = _record(trace, layer, ("linear",))
    if rec.weight is None:
        raise ExplainerError(f"{rec.name} was captured without weights; capture it again")
    row = DenseRow(rec.name, unit, _input(trace, rec).ravel(), rec.weight[unit].astype(np.float64),
                   0.0 if rec.bias is None else float(rec.bias[unit]),
                   float(rec.output[unit]))  # fmt: skip
    _check(row.value, row.captured, f"{rec.name} unit {unit}")
    return row


@dataclass
class Softmax:
    """``p_k = exp(z_k − max z) / Σ exp(z_j − max z)`` over the logits."""

    logits: np.ndarray
    shifted_exp: np.ndarray

    @property
    def total(self) -> float:
        return float(self.shifted_exp.sum())

    @property
    def probs(self) -> np.ndarray:
        return self.shifted_exp / self.total


def softmax(trace: Trace) -> Softmax:
    """The softmax of the trace's logits, checked against :attr:`Trace.probs`."""
    z = trace.logits.astype(np.float64)
    sm = Softmax(z, np.exp(z - z.max()))
    for k, (mine, theirs) in enumerate(zip(sm.probs, trace.probs, strict=True)):
        _check(float(mine), float(theirs), f"softmax class {k}")
    return sm


def confidence_text(p: float) -> str:
    """A probability as a learner should read it: "> 99.9%" rather than a rounded "100.0%",
    "< 0.1%" rather than "0.0%"."""
    if p > 0.999:
        return "> 99.9%"
    if 0 < p < 0.001:
        return "< 0.1%"
    return f"{100 * p:.1f}%"


# --- what follows a layer --------------------------------------------------------------------


def conv_records(trace: Trace) -> list[LayerRecord]:
    """The conv records with weights and ``(C, H, W)`` outputs, in the order they ran."""
    return [r for r in trace.layers if r.kind == "conv" and r.weight is not None and r.is_spatial]


def first_conv(trace: Trace) -> LayerRecord | None:
    convs = conv_records(trace)
    return convs[0] if convs else None


def last_conv(trace: Trace) -> LayerRecord | None:
    convs = conv_records(trace)
    return convs[-1] if convs else None


def path_after(trace: Trace, layer: LayerRecord | str) -> list[LayerRecord]:
    """The records that actually follow ``layer`` on its single path: batch norm, the
    activation, dropout, up to and including the first pooling (stops at the next conv,
    dense layer, addition or anything a layer does not do alone)."""
    name = layer if isinstance(layer, str) else layer.name
    path: list[LayerRecord] = []
    while True:
        nxt = trace.consumers(name)
        if len(nxt) != 1 or nxt[0].kind not in ("bn", "relu", "pool", "dropout"):
            return path
        if len(nxt[0].inputs) != 1 or nxt[0].shape[:1] != trace.value(name).shape[:1]:
            return path
        path.append(nxt[0])
        if nxt[0].kind == "pool":
            return path
        name = nxt[0].name


def pool_aligned_block(trace: Trace, layer: LayerRecord | str, channel: int, size: int = 4,
                       pool: LayerRecord | None = None) -> tuple[int, int]:  # fmt: skip
    """Top-left ``(y, x)`` of a ``size``×``size`` block of ``layer``'s output map that sits
    on ``pool``'s grid (its windows do not straddle the block's edges) and holds both
    negative and positive values where it can, so an activation visibly does something.
    Among such blocks, the one with the largest spread of values."""
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    fmap = rec.output[channel]
    step = 1
    if pool is not None and not pool.params.get("adaptive"):
        step = int(pool.params["stride"][0])
        offset = -int(pool.params["padding"][0]) % step
    else:
        offset = 0
    best, best_score = (offset, offset), -1.0
    for y in range(offset, fmap.shape[0] - size + 1, step):
        for x in range(offset, fmap.shape[1] - size + 1, step):
            block = fmap[y : y + size, x : x + size]
            mixed = block.min() < 0 < block.max()
            score = float(block.max() - block.min()) + (1e6 if mixed else 0.0)
            if score > best_score:
                best, best_score = (y, x), score
    return best


# --- what the convolution views show (GIF, Manim scene, app) -------------------------------


def conv_geometry(rec: LayerRecord) -> tuple[list[int], list[int], list[int]]:
    """``(stride, padding, dilation)`` of a conv record, each ``[rows, columns]``."""
    stride = [int(v) for v in rec.params.get("stride", [1, 1])]
    dilation = [int(v) for v in rec.params.get("dilation", [1, 1])]
    return stride, _conv_padding(rec), dilation


def pick_conv(trace: Trace, layer: LayerRecord | str | None = None) -> LayerRecord:
    """The conv record a view shows: ``layer``, or the first convolution; one-line errors
    for a network without one and for a layer that is not a convolution."""
    convs = conv_records(trace)
    if not convs:
        raise ExplainerError(
            f"{trace.checkpoint or trace.architecture} has no convolution layer to show; pick a "
            "CNN checkpoint (e.g. --checkpoint mnist_bn_cnn)"
        )
    if layer is None:
        return convs[0]
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    if rec not in convs:
        names = ", ".join(r.name for r in convs[:12]) + (", ..." if len(convs) > 12 else "")
        raise ExplainerError(f"layer {rec.name!r} is not a convolution; conv layers: {names}")
    return rec


def conv_channel_map(trace: Trace, layer: LayerRecord | str, channel: int) -> np.ndarray:
    """``(H_out, W_out)``: one output channel of a conv layer worked out from its real input
    (every input channel of its group, zero padding, stride, dilation) plus the bias, in
    float64; checked against the captured map (:class:`ArithMismatch` names the cell)."""
    ci = _conv_input(trace, layer, channel)
    rec, kernel = ci.rec, ci.kernel
    _, h_out, w_out = rec.output.shape
    (sy, sx), (py, px), (dy, dx) = conv_geometry(rec)
    padded = np.pad(ci.inputs, ((0, 0), (py, py), (px, px)))
    out = np.zeros((h_out, w_out))
    for i in range(kernel.shape[1]):
        for j in range(kernel.shape[2]):
            window = padded[:, i * dy : i * dy + sy * (h_out - 1) + 1 : sy,
                            j * dx : j * dx + sx * (w_out - 1) + 1 : sx]  # fmt: skip
            out += np.tensordot(kernel[:, i, j], window, axes=1)
    out += 0.0 if rec.bias is None else float(rec.bias[channel])
    check_block(rec, out, (channel,))
    return out


@dataclass
class ConvSum:
    """One conv output as a view writes it: the products of one input channel (``shown``, a
    position in ``cell.in_channels``), the sum each other input channel adds (from
    :attr:`ConvCell.channel_sums`), the bias and the output, with ``decimals`` at which the
    written figures add up (``exact``; otherwise the view says they are rounded)."""

    cell: ConvCell
    shown: int
    decimals: int
    exact: bool

    @property
    def in_channel(self) -> int:
        return self.cell.in_channels[self.shown]

    @property
    def patch(self) -> np.ndarray:
        return self.cell.patch[self.shown]

    @property
    def kernel(self) -> np.ndarray:
        return self.cell.kernel[self.shown]

    @property
    def products(self) -> np.ndarray:
        return self.cell.products[self.shown]

    @property
    def shown_sum(self) -> float:
        return float(self.cell.channel_sums[self.shown])

    @property
    def n_others(self) -> int:
        return len(self.cell.in_channels) - 1

    @property
    def others(self) -> float:
        """What the other input channels add: the sum of their own channel sums."""
        return float(np.delete(self.cell.channel_sums, self.shown).sum())

    @property
    def terms(self) -> list[float]:
        """The terms of the last addition: this channel's sum, the others', the bias."""
        return [self.shown_sum, *([self.others] if self.n_others else []), self.cell.bias]

    @property
    def value(self) -> float:
        return self.cell.value


def _adds_up(terms: np.ndarray | list[float], total: float, d: int) -> bool:
    return decimals_that_add_up(np.asarray(terms), total, start=d, most=d) == d


def conv_sum(cell: ConvCell, shown: int | None = None, start: int = 2, most: int = 3) -> ConvSum:
    """How to write ``cell``: the input channel ``shown`` (default: the one that adds the
    most), at the fewest decimals (``start``..``most``) where the written products add up to
    the written channel sum and the written terms to the written output."""
    if shown is None:
        shown = int(np.argmax(np.abs(cell.channel_sums)))
    if not 0 <= shown < len(cell.in_channels):
        n = len(cell.in_channels)
        raise ExplainerError(
            f"{cell.layer} output channel {cell.channel} reads {n} input channel(s), not {shown}"
        )
    cs = ConvSum(cell, shown, most, False)
    for d in range(start, most + 1):
        if _adds_up(cs.products, cs.shown_sum, d) and _adds_up(cs.terms, cs.value, d):
            return ConvSum(cell, shown, d, True)
    return cs


def conv_sum_lines(cs: ConvSum) -> list[tuple[str, str]]:
    """The written sum, as ``(words, number)`` lines: this channel's products, what the other
    input channels add, the bias, ``=`` the output (the last line)."""
    d, k = cs.decimals, cs.products.size
    where = f" (input channel {cs.in_channel})" if len(cs.cell.in_channels) > 1 else ""
    lines = [(f"sum of the {k} products{where}", fmt(cs.shown_sum, d))]
    if cs.n_others:
        n = cs.n_others
        lines.append((f"+ the other {n} input channel{'s' if n > 1 else ''}", fmt(cs.others, d)))
    lines.append(("+ bias", fmt(cs.cell.bias, d)))
    lines.append((f"= output [{cs.cell.y}, {cs.cell.x}]", fmt(cs.value, d)))
    return lines


def activation_formula(rec: LayerRecord) -> str:
    """The activation ``rec`` applies, as a learner reads it: ``"max(0, x)"``, ``"tanh(x)"``..."""
    name = activation_name(rec)
    slope = rec.params.get("negative_slope", 0.01)
    return {
        "relu": "max(0, x)",
        "tanh": "tanh(x)",
        "sigmoid": "1 / (1 + e^−x)",
        "leaky_relu": f"x if x ≥ 0, else {slope:g}·x",
        "elu": "x if x > 0, else e^x − 1",
        "gelu": "x · Φ(x)",
        "silu": "x · sigmoid(x)",
        "relu6": "min(max(0, x), 6)",
    }.get(name, name)


@dataclass
class Step:
    """One record of the path after a conv layer, on the block: ``values`` are its output
    there (for pooling: the pooled cells whose windows lie inside the block), ``top_left``
    where they sit in its output map; ``cells`` the worked cells (norm or pool)."""

    record: LayerRecord
    values: np.ndarray
    top_left: tuple[int, int]
    cells: list = field(default_factory=list)


@dataclass
class NextBlock:
    """A ``size``×``size`` block of one conv output channel and what the records after the
    layer (:func:`path_after`) do to it, each step checked against the network. ``rest``:
    records on the path this project does not work out by hand; ``then``: what reads the
    result."""

    layer: str
    channel: int
    y: int
    x: int
    before: np.ndarray
    steps: list[Step]
    rest: list[LayerRecord]
    then: list[LayerRecord]


def _pool_step(trace: Trace, rec: LayerRecord, channel: int, y: int, x: int, size: int) -> Step:
    (kh, kw), (sy, sx), (py, px) = (rec.params[k] for k in ("kernel_size", "stride", "padding"))
    iys = [
        i for i in range(rec.output.shape[1]) if y <= i * sy - py and i * sy - py + kh <= y + size
    ]
    ixs = [
        j for j in range(rec.output.shape[2]) if x <= j * sx - px and j * sx - px + kw <= x + size
    ]
    cells = [[pool_cell(trace, rec, channel, i, j) for j in ixs] for i in iys]
    values = np.array([[c.value for c in row] for row in cells]).reshape(len(iys), len(ixs))
    top_left = (iys[0], ixs[0]) if iys and ixs else (0, 0)
    return Step(rec, values, top_left, [c for row in cells for c in row])


def _step(trace: Trace, rec: LayerRecord, current: np.ndarray, ch: int, y: int, x: int) -> Step:
    h, w = current.shape
    index = (ch, slice(y, y + h), slice(x, x + w))
    if rec.kind == "bn":
        cells = [norm_cell(trace, rec, (ch, y + i, x + j)) for i in range(h) for j in range(w)]
        values = np.array([c.value for c in cells]).reshape(h, w)
    elif rec.kind == "relu":
        values, cells = activation_map(trace, rec, current), []
    else:  # dropout: the identity at test time
        values, cells = current.copy(), []
    check_block(rec, values, index)
    return Step(rec, values, (y, x), cells)


def next_block(trace: Trace, layer: LayerRecord | str, channel: int, size: int = 4) -> NextBlock:
    """The block of ``layer``'s output channel ``channel`` that the "what happens next" panels
    follow through the real path: on the pooling's grid, with negative values entering the
    activation where there are any; every value checked (conv cells, batch norm from running
    statistics, the activation used, the pooling used)."""
    rec = _record(trace, layer, ("conv",))
    path = path_after(trace, rec)
    pool = next((r for r in path if r.kind == "pool"), None)
    acts = [i for i, r in enumerate(path) if r.kind == "relu"]
    pick = path[acts[0] - 1] if acts and acts[0] > 0 else rec
    size = min(size, *rec.output.shape[1:])
    y, x = pool_aligned_block(trace, pick, channel, size, pool)
    before = np.array([[conv_cell(trace, rec, channel, y + i, x + j).value for j in range(size)]
                       for i in range(size)])  # fmt: skip
    steps: list[Step] = []
    current = before
    for i, r in enumerate(path):
        try:
            if r.kind == "pool":
                step = _pool_step(trace, r, channel, y, x, size)
                if step.values.size == 0:
                    raise ExplainerError(f"{r.name}: no pooling window inside the block")
            else:
                step = _step(trace, r, current, channel, y, x)
        except ArithMismatch:
            raise
        except ExplainerError:
            return NextBlock(rec.name, channel, y, x, before, steps, path[i:], [])
        steps.append(step)
        current = step.values
    last = path[-1].name if path else rec.name
    return NextBlock(rec.name, channel, y, x, before, steps, [], trace.consumers(last))


# --- the records between layers: adaptive pooling, +, ×, concatenation, reshape, softmax ------


def adaptive_pool_cell(
    trace: Trace, layer: LayerRecord | str, channel: int, y: int, x: int
) -> PoolCell:
    """Output ``(channel, y, x)`` of an adaptive max/average pooling: its region of the input
    (rows ``⌊y·H/h⌋`` to ``⌈(y+1)·H/h⌉``, likewise columns), checked."""
    rec = _record(trace, layer, ("pool",))
    if not rec.params.get("adaptive") or not rec.is_spatial:
        raise ExplainerError(f"{rec.name} is not an adaptive pooling of feature maps")
    inp = _input(trace, rec)[channel]
    (h, w), (oh, ow) = inp.shape, rec.output.shape[1:]
    rows = list(range(y * h // oh, -(-(y + 1) * h // oh)))
    cols = list(range(x * w // ow, -(-(x + 1) * w // ow)))
    cell = PoolCell(rec.name, channel, y, x, rec.params.get("mode", "average"),
                    inp[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy(), rows, cols,
                    float(rec.output[channel, y, x]))  # fmt: skip
    _check(cell.value, cell.captured, f"{rec.name} channel {channel} at ({y}, {x})")
    return cell


_ADD = {"add": "+", "sub": "−", "mul": "×", "div": "/"}
_OPS = ("add", "sub", "mul", "div", "truediv")


@dataclass
class Elementwise:
    """``out = a ⊕ b`` (``+ − × /``) cell by cell: ``operands`` names what each side is (a
    record, or a number the call passed), ``cells`` holds ``(index, a, b, out)`` checked."""

    layer: str
    op: str
    operands: list[str]
    cells: list[tuple[tuple[int, ...], float, float, float]]


def _operand(trace: Trace, rec: LayerRecord, arg: object) -> tuple[str, np.ndarray]:
    shape = rec.output.shape
    if isinstance(arg, dict) and "ref" in arg:
        return str(arg["ref"]), np.broadcast_to(_as64(trace.value(str(arg["ref"]))), shape)
    if isinstance(arg, dict) and "const" in arg and str(arg["const"]) in rec.arrays:
        value = _as64(rec.arrays[str(arg["const"])])
        value = value[0] if value.ndim == len(shape) + 1 else value
        return "a constant", np.broadcast_to(value, shape)
    if isinstance(arg, (int, float)) and not isinstance(arg, bool):
        return fmt(float(arg), 4).rstrip("0").rstrip("."), np.full(shape, float(arg))
    raise ExplainerError(f"{rec.name}: an operand this project does not work out by hand")


def _as64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def elementwise(trace: Trace, layer: LayerRecord | str, n: int = 4) -> Elementwise:
    """An addition, subtraction, multiplication or division between records (a residual
    ``+``, ``x * 0.5``): ``n`` cells (the largest outputs) worked out and checked."""
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    call = rec.params.get("call") or {}
    name = str(call.get("key", "")).split(".")[-1].strip("_")
    swap = name.startswith("r") and name[1:] in _OPS  # __rsub__(a, b) is b − a
    name = name[1:] if name[:1] in ("i", "r") and name[1:] in _OPS else name
    base = {"truediv": "div"}.get(name, name)
    args = list(call.get("args", []))
    if rec.kind not in ("add", "mul") or base not in _ADD or len(args) != 2:
        raise ExplainerError(f"{rec.name} is not an addition or product of two tensors")
    if call.get("kwargs", {}).get("alpha", 1) != 1:
        raise ExplainerError(f"{rec.name} scales its second operand (alpha)")
    (na, a), (nb, b) = (_operand(trace, rec, v) for v in (args[::-1] if swap else args))
    apply = {"+": np.add, "−": np.subtract, "×": np.multiply, "/": np.divide}[_ADD[base]]
    cells = []
    for flat in np.argsort(-np.abs(rec.output), axis=None, kind="stable")[:n]:
        idx = tuple(int(i) for i in np.unravel_index(int(flat), rec.output.shape))
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(apply(a[idx], b[idx]))
        _check(value, float(rec.output[idx]), f"{rec.name} at {idx}")
        cells.append((idx, float(a[idx]), float(b[idx]), float(rec.output[idx])))
    return Elementwise(rec.name, _ADD[base], [na, nb], cells)


def concat_parts(trace: Trace, layer: LayerRecord | str) -> tuple[int, list[tuple[str, int, int]]]:
    """A concatenation as ``(axis, [(record, start, stop), ...])`` (axis without the batch
    axis): each input's values sit unchanged at ``start:stop`` of the output, checked."""
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    call = rec.params.get("call") or {}
    if rec.kind != "concat" or str(call.get("key", "")).split(".")[-1] == "stack":
        raise ExplainerError(f"{rec.name} is not a concatenation")
    args = call.get("args", [])
    dim = call.get("kwargs", {}).get("dim", args[1] if len(args) > 1 else 0)
    axis = int(dim) - 1 if int(dim) > 0 else int(dim) + rec.output.ndim
    if not 0 <= axis < rec.output.ndim:
        raise ExplainerError(f"{rec.name} joins along the batch axis")
    parts, start = [], 0
    for name, value in zip(rec.inputs, trace.inputs_of(rec), strict=True):
        stop = start + value.shape[axis]
        index = (slice(None),) * axis + (slice(start, stop),)
        check_block(rec, _as64(value), index)
        parts.append((name, start, stop))
        start = stop
    if start != rec.output.shape[axis]:
        raise ArithMismatch(f"{rec.name}: its inputs do not fill its output along axis {axis}")
    return axis, parts


def flat_position(trace: Trace, layer: LayerRecord | str, k: int) -> tuple[int, ...]:
    """Where value ``k`` of a flatten/view/reshape's output came from in its input (row-major
    order, as torch lays it out), checked: the two numbers are the same."""
    rec = _record(trace, layer, ("flatten",))
    inp = _input(trace, rec)
    if inp.size != rec.output.size:
        raise ArithMismatch(f"{rec.name}: {inp.size} values in, {rec.output.size} out")
    src = tuple(int(i) for i in np.unravel_index(k, inp.shape))
    out = tuple(int(i) for i in np.unravel_index(k, rec.output.shape))
    _check(float(inp[src]), float(rec.output[out]), f"{rec.name} value {k}")
    return src


def softmax_of(trace: Trace, layer: LayerRecord | str) -> Softmax:
    """A softmax (or log-softmax) record of a vector, from its real input, checked against
    its output (probabilities, or their logarithms)."""
    rec = _record(trace, layer, ("softmax",))
    if rec.output.ndim != 1:
        raise ExplainerError(f"{rec.name} is a softmax over feature maps, not a vector")
    z = _input(trace, rec).ravel()
    sm = Softmax(z, np.exp(z - z.max()))
    log = "log" in str(rec.params.get("function", rec.params.get("type", ""))).lower()
    shown = np.log(sm.probs) if log else sm.probs
    for k, (mine, theirs) in enumerate(zip(shown, rec.output, strict=True)):
        _check(float(mine), float(theirs), f"{rec.name} class {k}")
    return sm
