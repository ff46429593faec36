"""The numbers of the Layer-by-layer page's panels, without Streamlit.

Each ``*_view`` function works out what its panel writes from the Trace alone (the records
a layer actually consumed, its own parameters), through :mod:`explainer.analysis.arith`, and checks
it
against the layer's captured output when it is built: a mismatch raises
:class:`~explainer.analysis.arith.ArithMismatch` (the page then shows that one line and no numbers);
a record this project does not work out by hand raises a plain
:class:`~explainer.errors.ExplainerError`. :func:`explain` is the plain-words paragraph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainer.analysis import arith
from explainer.errors import ExplainerError
from explainer.tracing.recompute import NotRecomputable, recompute
from explainer.tracing.trace import INPUT, LayerRecord, Trace

fmt = arith.fmt


def whole_record(trace: Trace, r: LayerRecord) -> None:
    """The whole output of ``r`` recomputed (torch, :mod:`explainer.tracing.recompute`) from the
    records it names as inputs: a panel shows a few cells, and a wrong input can agree with
    the output on those (a max pooling said to read the values before its ReLU)."""
    try:
        again = recompute(trace, r)
    except (NotRecomputable, RuntimeError):
        return  # nothing to compare with: the cells the panel works out are still checked
    except KeyError:  # its recorded call reads a record it does not name as an input
        again = np.full(0, np.nan)
    if again.shape != r.output.shape or not np.allclose(again, r.output, 1e-4, 1e-4):
        raise arith.ArithMismatch(
            f"{r.name}: its output is not what {reads(r)} give(s); the view is not drawn"
        )


def reads(r: LayerRecord) -> str:
    """``"block.bn2 and stem.2"``: what a record consumed, by name."""
    names = ["the model's input" if n == INPUT else n for n in r.inputs]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


REORDERING = {"permute", "transpose", "movedim", "moveaxis", "swapaxes", "swapdims", "t"}

_ACT_WORDS = {
    "relu": "ReLU keeps positive values and replaces every negative value by zero: max(0, x). "
    "This bend is what lets a stack of layers learn more than one big linear formula.",
    "relu6": "ReLU6 keeps values between 0 and 6: negatives become 0, values above 6 become 6.",
    "leaky_relu": "Leaky ReLU keeps positive values and shrinks negative ones ({f}), so a "
    "negative input still passes a little signal.",
    "tanh": "tanh squashes every value into the range −1 … 1: large positives come out near 1, "
    "large negatives near −1, small values almost unchanged.",
    "sigmoid": "The sigmoid squashes every value into 0 … 1: 1 / (1 + e^−x).",
    "gelu": "GELU is a smooth ReLU: x · Φ(x) (Φ: the normal distribution's CDF). Large positives "
    "pass, large negatives become 0, small negatives come out slightly negative.",
    "silu": "SiLU (swish) is a smooth ReLU: x · sigmoid(x). Small negatives come out slightly "
    "negative, large negatives near 0.",
    "elu": "ELU keeps positive values and bends negative ones towards −1: e^x − 1.",
}


def _explain_activation(r: LayerRecord) -> str:
    name = arith.activation_name(r)
    words = _ACT_WORDS.get(name, f"{r.description} is applied to every value on its own.")
    return words.format(f=arith.activation_formula(r)) + " It acts on every value on its own."


def _explain_pool(r: LayerRecord) -> str:
    p = r.params
    how = "its largest value (the strongest response)" if p.get("mode") == "max" else None
    how = how or "the average of its values"
    if p.get("adaptive"):
        size = "×".join(str(v) for v in r.shape[1:])
        return (
            f"Adaptive {p.get('mode', 'average')} pooling cuts every map into a {size} grid of "
            f"regions and keeps {how} for each, whatever the map's size."
        )
    k, s = p.get("kernel_size", [2, 2]), p.get("stride", [2, 2])
    return (
        f"{p.get('mode', 'max').capitalize()} pooling keeps one number per {k[0]}×{k[1]} window "
        f"(moved {s[0]} pixels at a time): {how}. The maps shrink, so later layers see a "
        "wider part of the digit and a small shift of the pen barely matters."
    )


def _explain_conv(r: LayerRecord) -> str:
    p = r.params
    k, cout = p.get("kernel_size", [3, 3]), p.get("out_channels")
    groups, cin = int(p.get("groups", 1)), p.get("in_channels")
    reads_ = "its one input channel" if cin == 1 else f"all {cin} input channels"
    if groups > 1:
        per = cin // groups
        reads_ = f"only its own group of {per} input channel{'s' * (per > 1)} ({groups} groups)"
    text = (
        f"Slides {cout} small {k[0]}×{k[1]} filters over its input. Each filter multiplies a "
        f"{k[0]}×{k[1]} window of {reads_} by its weights and adds them up (plus a bias), "
        "producing one feature map per filter: bright where the window looks like the filter."
    )
    if max(p.get("stride", [1])) > 1:
        text += f" The window jumps {p['stride'][0]} pixels at a time, so the maps shrink."
    return text


def _explain_joins(r: LayerRecord) -> str:
    src = reads(r)
    if r.kind == "add":
        op = "subtracts" if r.params.get("function") == "sub" else "adds"
        return (
            f"Reads {src} and {op} them number by number (a skip connection when one of them "
            "is an earlier layer's output): nothing is learned here."
        )
    if r.kind == "mul":
        return f"Multiplies (or divides) {src} number by number; nothing is learned here."
    if r.kind == "concat":
        return f"Puts {src} side by side (stacks their channels); no number changes."
    if r.kind == "softmax":
        log = "the logarithm of " if "log" in r.description else ""
        return (
            f"Turns the scores of {src} into {log}probabilities: e^z for every class, divided "
            "by their sum, so they are positive and add up to 1."
        )
    return f"Applies {r.description} to {src}; its output is shown below."


def explain(r: LayerRecord) -> str:
    """Two or three plain sentences about what layer ``r`` does, with its real settings."""
    p = r.params
    if r.kind == "normalize":
        return (
            f"Shifts and scales every pixel: (x − {p.get('mean', 0):.4f}) / {p.get('std', 1):.4f}, "
            "the mean and spread of the training images. Background pixels become slightly "
            "negative, ink clearly positive, so the network starts from centred numbers."
        )
    if r.kind == "conv":
        return _explain_conv(r)
    if r.kind == "bn" and "running_mean" in r.arrays:
        return (
            "Batch normalisation: every channel is shifted and rescaled with statistics "
            "learned during training, γ·(x − μ)/√(σ² + ε) + β. It keeps the numbers in a "
            "healthy range so the next layers train faster; it does not mix channels."
        )
    if r.kind == "bn":
        return f"{r.description.capitalize()}: rescales the values with their own mean and spread."
    if r.kind == "relu":
        return _explain_activation(r)
    if r.kind == "pool":
        return _explain_pool(r)
    if r.kind == "dropout":
        return (
            f"Dropout switches off a random {p.get('p', 0):.0%} of the values while training, "
            "so the network cannot rely on any single one. At prediction time it does "
            "nothing: output = input."
        )
    if r.kind == "flatten" and p.get("function") in REORDERING:
        return (
            f"{r.description.capitalize()} puts the axes of {reads(r)} in another order "
            "(for example channels last), so each number moves to a new place. Nothing is "
            "computed; the values are the same."
        )
    if r.kind == "flatten":
        return (
            f"{r.description.capitalize()} lays the numbers of {reads(r)} out in a new shape, "
            "in order (channel by channel, row by row). Nothing is computed; from here on, "
            "position is just an index."
        )
    if r.kind == "linear":
        return (
            f"A dense layer: each of its {p.get('out_features')} outputs is a weighted sum of "
            f"all {p.get('in_features')} inputs plus a bias, z = W·x + b. The weights are "
            "what training learned; a large positive weight means ‘this input is evidence "
            "for me’."
        )
    return _explain_joins(r)


# --- normalisation and batch norm ------------------------------------------------------------


@dataclass
class NormalizeView:
    """The first step on two real pixels: the darkest and the brightest."""

    mean: float
    std: float
    pixels: list[tuple[float, float]]  # (input value, output value), checked


def normalize_view(trace: Trace, r: LayerRecord) -> NormalizeView:
    whole_record(trace, r)
    mean, std = float(r.params.get("mean", 0.0)), float(r.params.get("std", 1.0))
    x = np.asarray(trace.inputs_of(r)[0], dtype=np.float64)[0]
    spots = [np.unravel_index(int(f(x)), x.shape) for f in (np.argmin, np.argmax)]
    ys, xs = np.array([s[0] for s in spots]), np.array([s[1] for s in spots])
    computed = (x[ys, xs] - mean) / std
    arith.check_block(r, computed, (0, ys, xs))
    pairs = zip(x[ys, xs].tolist(), computed.tolist(), strict=True)
    return NormalizeView(mean, std, list(pairs))


def plus(value: float, decimals: int) -> str:
    """``"+ 0.12"`` or ``"− 0.12"``: a term added in a written sum."""
    text = fmt(value, decimals)
    return f"{arith.MINUS} {text[1:]}" if text.startswith(arith.MINUS) else f"+ {text}"


def paren(value: float, decimals: int) -> str:
    """A number written after an operator: ``"(−0.12)"`` when negative."""
    text = fmt(value, decimals)
    return f"({text})" if text.startswith(arith.MINUS) else text


def hot_index(values: np.ndarray) -> tuple[int, ...]:
    """The position of the largest absolute value."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(values))), values.shape))


@dataclass
class NormView:
    """One batch-norm value worked out: ``cell`` (checked), the index, the text lines."""

    cell: arith.NormCell
    index: tuple[int, ...]
    decimals: int
    exact: bool

    def lines(self) -> list[str]:
        c, d = self.cell, self.decimals
        return [
            f"x = {fmt(c.x, d)}, μ = {fmt(c.mean, d)}, σ² = {fmt(c.var, d)}, ε = {c.eps:g}, "
            f"γ = {fmt(c.gamma, d)}, β = {fmt(c.beta, d)}",
            f"(x − μ) / √(σ² + ε) = ({fmt(c.x, d)} − {paren(c.mean, d)}) / "
            f"√({fmt(c.var, d)} + {c.eps:g}) = {fmt(c.normalised, d)}",
            f"γ · {paren(c.normalised, d)} + β = {fmt(c.gamma, d)} · {paren(c.normalised, d)} "
            f"{plus(c.beta, d)} = {fmt(c.value, d)}",
        ]


def _norm_exact(c: arith.NormCell, d: int) -> bool:
    r = [round(v, d) for v in (c.x, c.mean, c.var, c.gamma, c.beta)]
    n = round((r[0] - r[1]) / math.sqrt(r[2] + c.eps), d)
    return fmt(n, d) == fmt(c.normalised, d) and fmt(r[3] * n + r[4], d) == fmt(c.value, d)


def norm_view(trace: Trace, r: LayerRecord) -> NormView:
    """Batch norm at the layer's strongest output, from running statistics, checked."""
    whole_record(trace, r)
    index = hot_index(r.output)
    cell = arith.norm_cell(trace, r, index)
    x = np.asarray(trace.inputs_of(r)[0][index[0]], dtype=np.float64)  # the whole channel
    whole = (x - cell.mean) / math.sqrt(cell.var + cell.eps) * cell.gamma + cell.beta
    arith.check_block(r, whole, (index[0],))
    for d in (3, 4):
        if _norm_exact(cell, d):
            return NormView(cell, index, d, True)
    return NormView(cell, index, 4, False)


# --- activations -----------------------------------------------------------------------------


@dataclass
class ActivationView:
    """A block of the activation's real input and what it gives (checked). ``index`` is where
    the block sits in the input and the output; ``grid`` the pooling whose grid it is on."""

    record: LayerRecord
    index: tuple
    before: np.ndarray
    after: np.ndarray
    negative: float
    grid: LayerRecord | None

    @property
    def formula(self) -> str:
        return arith.activation_formula(self.record)


def _pool_after(trace: Trace, r: LayerRecord) -> LayerRecord | None:
    nxt = trace.consumers(r.name)
    ok = len(nxt) == 1 and nxt[0].kind == "pool" and not nxt[0].params.get("adaptive")
    return nxt[0] if ok and "stride" in nxt[0].params else None


def _activation_block(trace: Trace, r: LayerRecord, x: np.ndarray) -> tuple[tuple, LayerRecord]:
    neg, pos = (x < 0).sum(axis=(1, 2)), (x > 0).any(axis=(1, 2))
    ch = int(np.argmax(neg * pos)) if (neg * pos).any() else int(np.argmax(x.std(axis=(1, 2))))
    pool = _pool_after(trace, r)
    s = int(pool.params["stride"][0]) if pool else 1
    size = min(max(s, 6 - 6 % s), *x.shape[1:])
    src = LayerRecord(r.inputs[0], "other", x)  # the map the block is chosen on: the input
    y0, x0 = arith.pool_aligned_block(trace, src, ch, size, pool)
    return (ch, slice(y0, y0 + size), slice(x0, x0 + size)), pool


def activation_view(trace: Trace, r: LayerRecord) -> ActivationView:
    """A 6×6 block (on the next pooling's grid, with negative inputs where there are any) of
    the channel with the most negative inputs, or 8 values of a vector (the most negative
    and the most positive), before and after the activation, checked."""
    whole_record(trace, r)
    x = np.asarray(trace.inputs_of(r)[0], dtype=np.float64)
    if x.ndim == 3 and r.output.shape == x.shape:
        index, pool = _activation_block(trace, r, x)
        whole = arith.activation_map(trace, r, x[index[0]])
        arith.check_block(r, whole, index[:1])  # the whole channel, not only the block
        before, after = x[index], whole[index[1:]]
    elif x.ndim == 1 and r.output.shape == x.shape:
        order = np.argsort(x, kind="stable")
        idx = np.array(sorted({*order[:4].tolist(), *order[-4:].tolist()}))
        index, pool = (idx,), None
        whole = arith.activation_map(trace, r, x)
        arith.check_block(r, whole, (slice(None),))
        before, after = x[idx][None], whole[idx][None]
    else:
        raise ExplainerError(f"{r.name}: an activation of a {x.ndim}-D tensor")
    return ActivationView(r, index, before, after, float((x < 0).mean()), pool)


# --- pooling ---------------------------------------------------------------------------------


@dataclass
class PoolView:
    """A pooled cell (``cell``, the strongest output) with its neighbours on the network's own
    grid: ``block`` the pooled values, ``region`` the input they read (``region_at``: its
    top-left in the input map), ``mark`` the shown window's maximum (or whole window)."""

    record: LayerRecord
    cell: arith.PoolCell
    cells: list[arith.PoolCell]
    block: np.ndarray
    region: np.ndarray
    region_at: tuple[int, int]
    mark: np.ndarray
    decimals: int
    exact: bool

    def formula(self) -> str:
        c, d = self.cell, self.decimals
        vals = c.window[~np.isnan(c.window)]
        terms = [fmt(float(v), d) for v in vals.ravel()]
        if len(terms) > 9:
            head = f"the {len(terms)} values of its region"
            if c.mode == "max":
                return f"max of {head} = {fmt(c.value, d)}"
            total = fmt(float(vals.sum()), d)
            return f"(sum of {head} = {total}) / {len(terms)} = {fmt(c.value, d)}"
        if c.mode == "max":
            return f"max({', '.join(terms)}) = {fmt(c.value, d)}"
        return f"({' + '.join(terms)}) / {len(terms)} = {fmt(c.value, d)}"


def _pool_cells(trace: Trace, r: LayerRecord, ch: int, y: int, x: int) -> list[arith.PoolCell]:
    _c, oh, ow = r.output.shape
    y0, x0 = min(y, max(oh - 2, 0)), min(x, max(ow - 2, 0))
    work = arith.adaptive_pool_cell if r.params.get("adaptive") else arith.pool_cell
    return [work(trace, r, ch, i, j) for i in range(y0, min(y0 + 2, oh))
            for j in range(x0, min(x0 + 2, ow))]  # fmt: skip


def _avg_exact(cell: arith.PoolCell, d: int) -> bool:
    vals = cell.window[~np.isnan(cell.window)]
    return fmt(sum(round(float(v), d) for v in vals.ravel()) / vals.size, d) == fmt(cell.value, d)


def pool_view(trace: Trace, r: LayerRecord) -> PoolView:
    """The strongest pooled value and its neighbours, each from its window, checked."""
    whole_record(trace, r)
    if not r.is_spatial:
        raise ExplainerError(f"{r.name}: a pooling of a vector")
    values = r.output if r.params.get("mode") == "max" else np.abs(r.output)
    ch, y, x = (int(v) for v in np.unravel_index(int(np.argmax(values)), values.shape))
    cells = _pool_cells(trace, r, ch, y, x)
    cell = next(c for c in cells if (c.y, c.x) == (y, x))
    inp = trace.inputs_of(r)[0][ch]
    rows = [i for c in cells for i in c.rows if 0 <= i < inp.shape[0]]
    cols = [j for c in cells for j in c.cols if 0 <= j < inp.shape[1]]
    (ry, rx), (ey, ex) = (min(rows), min(cols)), (max(rows) + 1, max(cols) + 1)
    region = np.asarray(inp[ry:ey, rx:ex], dtype=np.float64)
    mark = np.zeros(region.shape, bool)
    for i, row in enumerate(cell.rows):
        for j, col in enumerate(cell.cols):
            if ry <= row < ey and rx <= col < ex:
                hit = cell.mode != "max" or cell.window[i, j] == cell.value
                mark[row - ry, col - rx] = hit
    ys, xs = sorted({c.y for c in cells}), sorted({c.x for c in cells})
    block = np.array([c.value for c in cells]).reshape(len(ys), len(xs))
    d = next((d for d in (2, 3, 4) if cell.mode == "max" or _avg_exact(cell, d)), None)
    return PoolView(r, cell, cells, block, region, (ry, rx), mark, d or 3, d is not None)


# --- dense layers and softmax ----------------------------------------------------------------


@dataclass
class DenseView:
    """One unit of a dense layer: its largest terms, the rest, the bias, at decimals where the
    written figures add up (``exact``) or marked rounded."""

    row: arith.DenseRow
    name: str
    top: np.ndarray
    decimals: int
    exact: bool

    @property
    def rest(self) -> float:
        return float(np.delete(self.row.products, self.top).sum())

    @property
    def terms(self) -> list[float]:
        return [*(float(v) for v in self.row.products[self.top]), self.rest, self.row.bias]


def output_unit(trace: Trace, r: LayerRecord) -> tuple[int, str]:
    """The unit a dense panel works out: the predicted class for the layer that gives the
    logits (or whose argmax is the prediction's), else the layer's strongest output."""
    last = r.output.shape == trace.logits.shape and r is trace.of_kind("linear")[-1]
    if last:
        return trace.prediction, trace.predicted_name
    unit = int(np.argmax(r.output))
    if r.output.ndim == 1:
        return unit, f"unit {unit}"
    at = np.unravel_index(unit, r.output.shape)
    where = ", ".join(str(int(i)) for i in at[:-1])
    return unit, f"unit {int(at[-1])} at position ({where})"


def dense_view(trace: Trace, r: LayerRecord, top: int = 6) -> DenseView:
    whole_record(trace, r)
    unit, name = output_unit(trace, r)
    row = arith.dense_row(trace, r, unit)
    idx = row.top(top)
    view = DenseView(row, name, idx, 3, False)
    d = arith.decimals_that_add_up(np.array(view.terms), row.value, start=2, most=4)
    return DenseView(row, name, idx, d or 3, d is not None)


@dataclass
class SoftmaxView:
    """The softmax a panel shows: of the logits (last dense layer) or of a softmax record's
    input; ``decimals`` at which the written e^(z − max) add up to the written Σ."""

    softmax: arith.Softmax
    decimals: int
    exact: bool


def softmax_view(trace: Trace, r: LayerRecord | None = None) -> SoftmaxView:
    if r is not None:
        whole_record(trace, r)
    sm = arith.softmax(trace) if r is None else arith.softmax_of(trace, r)
    d = arith.decimals_that_add_up(sm.shifted_exp, sm.total, start=3, most=5)
    return SoftmaxView(sm, d or 4, d is not None)


# --- records between layers: +, ×, concatenation, reshape --------------------------------------


@dataclass
class ElementwiseView:
    """A few cells of ``a ⊕ b = out``, checked, at ``decimals`` (``exact``: they add up)."""

    ew: arith.Elementwise
    decimals: int
    exact: bool


def elementwise_view(trace: Trace, r: LayerRecord) -> ElementwiseView:
    whole_record(trace, r)
    ew = arith.elementwise(trace, r)
    if ew.op in ("+", "−"):
        sign = 1.0 if ew.op == "+" else -1.0
        for d in (3, 4, 5):
            if all(arith.decimals_that_add_up(np.array([a, sign * b]), o, d, d) == d
                   for _i, a, b, o in ew.cells):  # fmt: skip
                return ElementwiseView(ew, d, True)
    return ElementwiseView(ew, 4, False)


def concat_view(trace: Trace, r: LayerRecord) -> list[str]:
    """One line per input: which channels (or values) of the output it became, checked."""
    whole_record(trace, r)
    axis, parts = arith.concat_parts(trace, r)
    what = "channels" if r.is_spatial and axis == 0 else f"positions along axis {axis}"
    return [f"{what} {a}–{b - 1} = {name} (unchanged)" for name, a, b in parts]


def flatten_view(trace: Trace, r: LayerRecord) -> tuple[int, tuple[int, ...], float]:
    """Value ``k`` of the output (the largest), where it was in the input, and the value."""
    whole_record(trace, r)
    k = int(np.argmax(np.abs(r.output).ravel()))
    src = arith.flat_position(trace, r, k)
    return k, src, float(r.output.ravel()[k])
