"""What every hand computation shares: the record and the real input it read, and the check.

:func:`record_of` finds a single-input record of the kinds a computation handles,
:func:`input_of` reads the tensor that record consumed (``LayerRecord.inputs``) in float64,
:func:`window_span` / :func:`gather_window` give a conv or pooling window of it on the layer's
own grid (padding filled in), and :func:`check_value` / :func:`check_block` compare a result
with the output the network recorded: a mismatch raises :class:`ArithMismatch` naming the
layer and the cell, so no view can draw arithmetic the network did not do.
"""

from __future__ import annotations

import math

import numpy as np

from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace


class ArithMismatch(ExplainerError):
    """A hand computation that does not give what the network computed."""


def check_value(value: float, captured: float, where: str) -> None:
    """``value`` (a hand computation) must equal ``captured`` (the network's number) to
    1e-4 relative and absolute; else :class:`ArithMismatch` names ``where``."""
    tol = 1e-4 + 1e-4 * abs(captured)
    if not math.isfinite(value) or abs(value - captured) > tol:
        raise ArithMismatch(
            f"{where}: the hand computation gives {value:.6g} but the network computed "
            f"{captured:.6g}; the view is not drawn"
        )


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


def record_of(trace: Trace, layer: LayerRecord | str, kinds: tuple[str, ...]) -> LayerRecord:
    """The record ``layer`` (a name or the record), which must be one of ``kinds`` and read
    a single tensor; one-line errors otherwise."""
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    if rec.kind not in kinds:
        raise ExplainerError(f"{rec.name} is a {rec.kind} layer, not {' or '.join(kinds)}")
    if len(rec.inputs) != 1:
        raise ExplainerError(f"{rec.name} reads {len(rec.inputs)} tensors; pick a single-input one")
    return rec


def input_of(trace: Trace, rec: LayerRecord) -> np.ndarray:
    """The tensor ``rec`` actually consumed (its first input), as float64 (its shape)."""
    return np.asarray(trace.value(rec.inputs[0]), dtype=np.float64)


def window_span(pos: int, stride: int, pad: int, dilation: int, size: int) -> list[int]:
    """The input coordinates a window of ``size`` taps reads for output position ``pos``
    (negative or past the edge: padding), on the layer's own grid."""
    return [pos * stride - pad + i * dilation for i in range(size)]


def gather_window(a: np.ndarray, rows: list[int], cols: list[int], fill: float) -> np.ndarray:
    """``a[..., rows, cols]`` (every row with every column), ``fill`` where a coordinate
    falls outside the map: the padding a conv or pooling window sees."""
    out = np.full((*a.shape[:-2], len(rows), len(cols)), fill, dtype=np.float64)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if 0 <= r < a.shape[-2] and 0 <= c < a.shape[-1]:
                out[..., i, j] = a[..., r, c]
    return out
