"""The function calls between layers worked out by hand: ``+ − × /``, concatenation, reshape.

:func:`elementwise`: a few cells of an addition, subtraction, product or division (a residual
``+``, ``x * 0.5``); :func:`concat_parts`: where each input sits in a concatenation;
:func:`flat_position`: where a flattened value came from. Each is checked against the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explainer.analysis.arith.rounding import fmt
from explainer.analysis.arith.verify import (
    ArithMismatch,
    check_block,
    check_value,
    input_of,
    record_of,
)
from explainer.errors import ExplainerError
from explainer.tracing.calls import element, replay
from explainer.tracing.trace import LayerRecord, Trace

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
        check_value(value, float(rec.output[idx]), f"{rec.name} at {idx}")
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


def source_positions(rec: LayerRecord, in_shape: tuple[int, ...]) -> np.ndarray:
    """For each value of a layout record's output (its shape), the row-major position in its
    input it was taken from: the record's own call replayed on the positions themselves, so a
    permute or transpose is followed as truly as a flatten or view."""
    positions = torch.arange(int(np.prod(in_shape)), dtype=torch.float64).reshape(in_shape)
    p = rec.params
    if "call" not in p or len(rec.inputs) != 1:  # nn.Flatten: row-major
        return positions.reshape(rec.output.shape).numpy().astype(np.int64)
    batched = p.get("batched", True) is not False
    with torch.no_grad():
        out = replay(p["call"], {rec.inputs[0]: positions[None] if batched else positions}, {})
        out = element(out, p["element"]) if "element" in p else out
    out = out[0] if batched else out
    return out.reshape(rec.output.shape).numpy().astype(np.int64)


def flat_position(trace: Trace, layer: LayerRecord | str, k: int) -> tuple[int, ...]:
    """Where value ``k`` of a flatten/view/reshape's output came from in its input (row-major
    order, as torch lays it out), checked: the two numbers are the same."""
    rec = record_of(trace, layer, ("flatten",))
    inp = input_of(trace, rec)
    if inp.size != rec.output.size:
        raise ArithMismatch(f"{rec.name}: {inp.size} values in, {rec.output.size} out")
    out = tuple(int(i) for i in np.unravel_index(k, rec.output.shape))
    src = tuple(int(i) for i in np.unravel_index(source_positions(rec, inp.shape)[out], inp.shape))
    check_value(float(inp[src]), float(rec.output[out]), f"{rec.name} value {k}")
    return src
