"""The classifier's end worked out by hand: one row of a dense layer and the softmax, checked.

:func:`dense_row`: ``inputs · weights + bias`` for one unit from its real input vector;
:func:`softmax` of a trace's logits and :func:`softmax_of` a softmax (or log-softmax) record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.analysis.arith.verify import check_value, input_of, record_of
from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace


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
    """Value ``unit`` of a dense layer's output (row-major over its shape) from its real input
    vector, checked. A dense layer works on the last axis: for an output ``(..., F)`` (channels
    last, tokens) value ``unit`` is feature ``unit % F`` of the input vector at the same
    leading position."""
    rec = record_of(trace, layer, ("linear",))
    if rec.weight is None:
        raise ExplainerError(f"{rec.name} was captured without weights; capture it again")
    at = np.unravel_index(unit, rec.output.shape)
    feature = int(at[-1])
    inp = input_of(trace, rec)
    inputs = (inp[tuple(at[:-1])] if inp.ndim == rec.output.ndim else inp).ravel()
    row = DenseRow(rec.name, unit, inputs, rec.weight[feature].astype(np.float64),
                   0.0 if rec.bias is None else float(rec.bias[feature]),
                   float(rec.output[at]))  # fmt: skip
    check_value(row.value, row.captured, f"{rec.name} unit {unit}")
    return row


@dataclass
class Softmax:
    """``p_k = exp(s_k − max s) / Σ exp(s_j − max s)`` with ``s = z / T``: the logits ``z``
    divided by the model's calibration temperature ``T`` (1 for a plain softmax record)."""

    logits: np.ndarray
    shifted_exp: np.ndarray
    temperature: float = 1.0

    @property
    def scaled(self) -> np.ndarray:
        """``z / T``: the scores the softmax really exponentiates."""
        return self.logits / self.temperature

    @property
    def total(self) -> float:
        return float(self.shifted_exp.sum())

    @property
    def probs(self) -> np.ndarray:
        return self.shifted_exp / self.total


def softmax(trace: Trace) -> Softmax:
    """The calibrated softmax of the trace's logits (``T`` = :attr:`Trace.temperature`), checked
    against :attr:`Trace.probs`."""
    z = trace.logits.astype(np.float64)
    s = z / float(trace.temperature)
    sm = Softmax(z, np.exp(s - s.max()), float(trace.temperature))
    for k, (mine, theirs) in enumerate(zip(sm.probs, trace.probs, strict=True)):
        check_value(float(mine), float(theirs), f"softmax class {k}")
    return sm


def softmax_of(trace: Trace, layer: LayerRecord | str) -> Softmax:
    """A softmax (or log-softmax) record of a vector, from its real input, checked against
    its output (probabilities, or their logarithms)."""
    rec = record_of(trace, layer, ("softmax",))
    if rec.output.ndim != 1:
        raise ExplainerError(f"{rec.name} is a softmax over feature maps, not a vector")
    z = input_of(trace, rec).ravel()
    sm = Softmax(z, np.exp(z - z.max()))
    log = "log" in str(rec.params.get("function", rec.params.get("type", ""))).lower()
    shown = np.log(sm.probs) if log else sm.probs
    for k, (mine, theirs) in enumerate(zip(shown, rec.output, strict=True)):
        check_value(float(mine), float(theirs), f"{rec.name} class {k}")
    return sm
