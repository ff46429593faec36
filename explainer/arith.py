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
from dataclasses import dataclass

import numpy as np

from explainer.errors import ExplainerError
from explainer.trace import LayerRecord, Trace

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


def conv_cell(trace: Trace, layer: LayerRecord | str, channel: int, y: int, x: int) -> ConvCell:
    """Output ``(channel, y, x)`` of a conv layer from its real input, checked."""
    rec = _record(trace, layer, ("conv",))
    if rec.weight is None or not rec.is_spatial:
        raise ExplainerError(f"{rec.name} was captured without weights; capture it again")
    if rec.params.get("padding_mode", "zeros") != "zeros":
        raise ExplainerError(f"{rec.name} pads with {rec.params['padding_mode']}, not zeros")
    inp = _input(trace, rec)
    c_out, h_out, w_out = rec.output.shape
    if not (0 <= channel < c_out and 0 <= y < h_out and 0 <= x < w_out):
        raise ExplainerError(
            f"cell ({channel}, {y}, {x}) is outside {rec.name}'s output {c_out}×{h_out}×{w_out}"
        )
    groups = int(rec.params.get("groups", 1))
    per_group = inp.shape[0] // groups
    first = (channel // (c_out // groups)) * per_group
    in_channels = list(range(first, first + per_group))
    kernel = rec.weight[channel].astype(np.float64)
    (sy, sx), (dy, dx) = rec.params.get("stride", [1, 1]), rec.params.get("dilation", [1, 1])
    py, px = _conv_padding(rec)
    rows = [y * sy - py + i * dy for i in range(kernel.shape[1])]
    cols = [x * sx - px + j * dx for j in range(kernel.shape[2])]
    patch = np.zeros_like(kernel)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if 0 <= r < inp.shape[1] and 0 <= c < inp.shape[2]:
                patch[:, i, j] = inp[first : first + per_group, r, c]
    bias = 0.0 if rec.bias is None else float(rec.bias[channel])
    cell = ConvCell(rec.name, channel, y, x, in_channels, patch, kernel, rows, cols, bias,
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
    rows = [y * sy - py + i for i in range(kh)]
    cols = [x * sx - px + j for j in range(kw)]
    window = np.full((kh, kw), np.nan)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if 0 <= r < inp.shape[0] and 0 <= c < inp.shape[1]:
                window[i, j] = inp[r, c]
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


def conv_layers(trace: Trace) -> list[LayerRecord]:
    """The conv records with weights and ``(C, H, W)`` outputs, in the order they ran."""
    return [r for r in trace.layers if r.kind == "conv" and r.weight is not None and r.is_spatial]


def first_conv(trace: Trace) -> LayerRecord | None:
    convs = conv_layers(trace)
    return convs[0] if convs else None


def last_conv(trace: Trace) -> LayerRecord | None:
    convs = conv_layers(trace)
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
