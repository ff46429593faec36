"""Batch norm and activations worked out by hand, each checked against the network.

:func:`norm_cell`: ``(x − mean) / √(var + eps) × gamma + beta`` from the running statistics;
:func:`activation_map`: the activation the record really applies (ReLU, tanh, GELU, leaky
ReLU...), named by :func:`activation_name` and written for a learner by
:func:`activation_formula`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainer.analysis.arith.verify import check_value, input_of, record_of
from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace


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
    rec = record_of(trace, layer, ("bn",))
    if "running_mean" not in rec.arrays:
        raise ExplainerError(f"{rec.name} is not a batch norm with running statistics")
    c = index[0]
    cell = NormCell(
        rec.name, c, float(input_of(trace, rec)[index]),
        float(rec.arrays["running_mean"][c]), float(rec.arrays["running_var"][c]),
        float(rec.params.get("eps", 1e-5)),
        1.0 if rec.weight is None else float(rec.weight[c]),
        0.0 if rec.bias is None else float(rec.bias[c]),
        float(rec.output[index]),
    )  # fmt: skip
    check_value(cell.value, cell.captured, f"{rec.name} at {index}")
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
    rec = record_of(trace, layer, ("relu",))
    return np.vectorize(lambda v: activation_value(rec, v), otypes=[np.float64])(inputs)


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
