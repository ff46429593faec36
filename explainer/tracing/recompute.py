"""Recompute any Trace record from its inputs' outputs and its own parameters.

This is the Trace's promise made checkable: a record's ``output`` must equal its operation
applied to the outputs of the records it names in ``inputs``. Module records are recomputed
with ``torch.nn.functional`` from their kind and settings; function-call records by calling
the same (whitelisted, see :mod:`explainer.tracing.calls`) function again on the same arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from explainer.errors import ExplainerError
from explainer.tracing import calls
from explainer.tracing.calls import NotRecomputable
from explainer.tracing.trace import INPUT, LayerRecord, Trace, TraceError

__all__ = ["NotRecomputable", "UnreplayableWarning", "check_trace", "recompute",
           "unreplayable", "warn_unreplayable"]  # fmt: skip


class UnreplayableWarning(UserWarning):
    """A captured Trace holds records that cannot be recomputed from their inputs."""


def _t(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.array(a, dtype=np.float32))


def _conv(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    p = r.params
    if p.get("padding_mode", "zeros") != "zeros":
        pad = [v for v in reversed(p["padding"]) for _ in (0, 1)]
        x = F.pad(x, pad, mode=p["padding_mode"])
        p = {**p, "padding": 0}
    if r.weight is None:
        raise NotRecomputable(f"{r.name}: captured without its weights")
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[r.weight.ndim]
    return conv(x, _t(r.weight), _t(r.bias), p["stride"], p["padding"], p["dilation"],
                p["groups"])  # fmt: skip


def _norm(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    """A norm module again: layer and RMS norm over the recorded ``axes`` (traces made
    before they were recorded: ``normalized_shape``), group norm per group, batch and
    instance norm per channel."""
    p, w, b = r.params, _t(r.weight), _t(r.bias)
    norm = p.get("norm") or {"LayerNorm": "layer", "GroupNorm": "group"}.get(p.get("type"), "batch")
    if norm in ("layer", "rms"):
        axes = p.get("axes") or range(-len(p["normalized_shape"]), 0)
        shape = [x.shape[a] for a in axes]
        if norm == "rms":
            return F.rms_norm(x, shape, w, p["eps"])
        return F.layer_norm(x, shape, w, b, p["eps"])
    if norm == "group":
        return F.group_norm(x, p["num_groups"], w, b, p["eps"])
    mean, var = _t(r.arrays.get("running_mean")), _t(r.arrays.get("running_var"))
    if norm == "instance":
        return F.instance_norm(x, mean, var, w, b, p.get("use_input_stats", True), 0.0, p["eps"])
    return F.batch_norm(x, mean, var, w, b, mean is None, 0.0, p["eps"])


_ACTIVATIONS: dict[str, Callable[[torch.Tensor, dict], torch.Tensor]] = {
    "ReLU": lambda x, p: F.relu(x),
    "LeakyReLU": lambda x, p: F.leaky_relu(x, p["negative_slope"]),
    "ELU": lambda x, p: F.elu(x, p["alpha"]),
    "CELU": lambda x, p: F.celu(x, p["alpha"]),
    "GELU": lambda x, p: F.gelu(x, approximate=p.get("approximate", "none")),
    "SiLU": lambda x, p: F.silu(x),
    "Sigmoid": lambda x, p: torch.sigmoid(x),
    "Tanh": lambda x, p: torch.tanh(x),
    "ReLU6": lambda x, p: F.relu6(x),
    "Hardtanh": lambda x, p: F.hardtanh(x, p["min_val"], p["max_val"]),
    "Softplus": lambda x, p: F.softplus(x, p["beta"], p["threshold"]),
    "Mish": lambda x, p: F.mish(x),
    "Hardswish": lambda x, p: F.hardswish(x),
    "SELU": lambda x, p: F.selu(x),
}


def _activation(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    if r.params.get("type") == "PReLU":
        return F.prelu(x, _t(r.arrays["slope"]))
    fn = _ACTIVATIONS.get(r.params.get("type", ""))
    if fn is None:
        raise NotRecomputable(f"{r.name}: unknown activation {r.params.get('type')}")
    return fn(x, r.params)


def _pool(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    p = r.params
    indices = bool(p.get("return_indices", False))
    if p.get("adaptive") and p["mode"] == "max":
        return F.adaptive_max_pool2d(x, p["output_size"], indices)
    if p.get("adaptive"):
        return F.adaptive_avg_pool2d(x, p["output_size"])
    if p["mode"] == "max":
        return F.max_pool2d(x, p["kernel_size"], p["stride"], p["padding"], p["dilation"],
                            p["ceil_mode"], indices)  # fmt: skip
    return F.avg_pool2d(x, p["kernel_size"], p["stride"], p["padding"], p["ceil_mode"],
                        p["count_include_pad"], p["divisor_override"])  # fmt: skip


def _module(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    p = r.params
    if r.kind == "normalize":
        return (x - p["mean"]) / p["std"]
    if r.kind == "conv":
        return _conv(r, x)
    if r.kind in ("bn", "norm"):
        return _norm(r, x)
    if r.kind == "relu":
        return _activation(r, x)
    if r.kind == "pool":
        return _pool(r, x)
    if r.kind == "dropout":
        return x
    if r.kind == "flatten" and "start_dim" in p:
        return torch.flatten(x, p["start_dim"], p["end_dim"])
    if r.kind == "flatten":
        return x.unflatten(p["dim"], p["unflattened_size"])
    if r.kind == "linear":
        return F.linear(x, _t(r.weight), _t(r.bias))
    if r.kind == "softmax":
        fn = F.log_softmax if p["function"] == "LogSoftmax" else F.softmax
        return fn(x, p["dim"])
    raise NotRecomputable(f"{r.name}: a {p.get('type', r.kind)} module cannot be recomputed")


def recompute(trace: Trace, record: LayerRecord | str) -> np.ndarray:
    """``record``'s output computed again from its inputs' outputs in ``trace`` (batch axis
    removed, like ``record.output``). Raises :class:`NotRecomputable` for an unknown operation
    or an input the trace does not have.

    Example:

    >>> import numpy as np
    >>> from explainer import capture, load_checkpoint, load_sample, recompute
    >>> trace = capture(load_checkpoint("mnist_fast_cnn").model, load_sample().floats()[0, 0])
    >>> again = recompute(trace, "block1.bn1")
    >>> bool(np.allclose(again, trace.layer("block1.bn1").output, atol=1e-5))
    True
    """
    r = trace.layer(record) if isinstance(record, str) else record
    refs = {}
    for name in r.inputs:
        try:
            refs[name] = _batched(trace, name)
        except TraceError:
            raise NotRecomputable(f"{r.name}: reads {name!r}, which no record made") from None
    return _recompute(r, refs)


def _batched(trace: Trace, name: str) -> torch.Tensor:
    """The tensor the pass had for ``name``: its output given back its batch axis (unless it
    was kept whole) and its dtype (indices of ``topk``, masks)."""
    value = np.array(trace.value(name), dtype=np.float32, order="C")
    p = {} if name == INPUT else trace.layer(name).params
    t = torch.from_numpy(value).to(calls.DTYPES.get(p.get("dtype", "float32"), torch.float32))
    return t if p.get("batched", True) is False else t[None]


def _recompute(r: LayerRecord, refs: dict[str, torch.Tensor]) -> np.ndarray:
    p = r.params
    with torch.no_grad():
        if "call" in p:
            out = calls.replay(p["call"], refs, dict(r.arrays))
        elif len(refs) == 1:
            out = _module(r, next(iter(refs.values())))
        else:
            raise NotRecomputable(f"{r.name}: a module with {len(refs)} inputs")
        if "element" in p:
            out = calls.element(out, p["element"])
        if not isinstance(out, torch.Tensor):
            raise NotRecomputable(f"{r.name}: its operation gives a {type(out).__name__}")
        out = out if p.get("batched", True) is False else out[0]
    return out.float().numpy()


def unreplayable(records: list[LayerRecord]) -> list[str]:
    """The names of the records that cannot be recomputed, seen without running anything: an
    unknown operation (kind ``other`` with no call that :func:`~explainer.tracing.calls.replay`
    may redo) or an input the capture could not name (``"?"``)."""
    return [r.name for r in records if "?" in r.inputs or (r.kind == "other" and not (
        "call" in r.params and calls.call_replayable(r.params["call"])))]  # fmt: skip


def warn_unreplayable(records: list[LayerRecord]) -> None:
    """One :class:`UnreplayableWarning` naming the records :func:`unreplayable` finds."""
    bad = unreplayable(records)
    if bad:
        shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        warnings.warn(
            f"{len(bad)} record(s) of this trace cannot be recomputed from their inputs "
            f"({shown}); their values are kept but no view can check them",
            UnreplayableWarning,
            stacklevel=3,
        )


def check_trace(trace: Trace, *, rtol: float = 1e-4, atol: float = 1e-5) -> list[str]:
    """Every problem of the Trace's graph, one line each, starting with the record's name
    (empty: every record equals its operation applied to its inputs). Never raises: an
    input no record made, an operation that cannot be redone, a result of another shape or
    other values are all listed.

    Example:

    >>> from explainer import capture, check_trace, load_checkpoint, load_sample
    >>> trace = capture(load_checkpoint("mnist_fast_cnn").model, load_sample().floats()[0, 0])
    >>> check_trace(trace)
    []
    """
    known = {INPUT} | {r.name for r in trace.layers}
    problems = []
    for r in trace.layers:
        missing = [n for n in r.inputs if n not in known]
        if missing:
            problems.append(f"{r.name}: reads {', '.join(map(repr, missing))}, which no record "
                            "of this trace made")  # fmt: skip
            continue
        problems.extend(_compare(trace, r, rtol, atol))
    return problems


def _compare(trace: Trace, r: LayerRecord, rtol: float, atol: float) -> list[str]:
    try:
        again = recompute(trace, r)
    except NotRecomputable as exc:
        return [f"{r.name}: cannot be recomputed ({str(exc).removeprefix(r.name + ': ')})"]
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, ExplainerError) as exc:
        first = (str(exc).splitlines() or [""])[0][:120]
        return [f"{r.name}: recomputing it fails ({type(exc).__name__}: {first})"]
    if again.shape != r.output.shape:
        return [f"{r.name}: recomputed shape {again.shape} differs from its output's {r.shape}"]
    if not np.allclose(again, r.output, rtol, atol, equal_nan=True):
        diff = float(np.nanmax(np.abs(again.astype(np.float64) - r.output)))
        return [f"{r.name}: output differs from its recomputation (largest difference {diff:.3g})"]
    return []
