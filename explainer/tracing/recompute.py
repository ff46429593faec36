"""Recompute any Trace record from its inputs' outputs and its own parameters.

This is the Trace's promise made checkable: a record's ``output`` must equal its operation
applied to the outputs of the records it names in ``inputs``. Module records are recomputed
with ``torch.nn.functional`` from their kind and settings; function-call records by calling
the same (whitelisted, see :mod:`explainer.tracing.calls`) function again on the same arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from explainer.errors import ExplainerError
from explainer.tracing import calls
from explainer.tracing.trace import LayerRecord, Trace


class NotRecomputable(ExplainerError):
    """A record whose operation this project cannot redo (an unknown module or call)."""


def _t(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.array(a, dtype=np.float32))


def _conv(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    p = r.params
    if p.get("padding_mode", "zeros") != "zeros":
        pad = [v for v in reversed(p["padding"]) for _ in (0, 1)]
        x = F.pad(x, pad, mode=p["padding_mode"])
        p = {**p, "padding": 0}
    return F.conv2d(x, _t(r.weight), _t(r.bias), p["stride"], p["padding"], p["dilation"],
                    p["groups"])  # fmt: skip


def _norm(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    p, w, b = r.params, _t(r.weight), _t(r.bias)
    if p.get("type") == "LayerNorm":
        return F.layer_norm(x, p["normalized_shape"], w, b, p["eps"])
    if p.get("type") == "GroupNorm":
        return F.group_norm(x, p["num_groups"], w, b, p["eps"])
    mean, var = _t(r.arrays.get("running_mean")), _t(r.arrays.get("running_var"))
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
    if p.get("adaptive"):
        fn = F.adaptive_max_pool2d if p["mode"] == "max" else F.adaptive_avg_pool2d
        return fn(x, p["output_size"])
    if p["mode"] == "max":
        return F.max_pool2d(x, p["kernel_size"], p["stride"], p["padding"], p["dilation"],
                            p["ceil_mode"])  # fmt: skip
    return F.avg_pool2d(x, p["kernel_size"], p["stride"], p["padding"], p["ceil_mode"],
                        p["count_include_pad"], p["divisor_override"])  # fmt: skip


def _module(r: LayerRecord, x: torch.Tensor) -> torch.Tensor:
    p = r.params
    if r.kind == "normalize":
        return (x - p["mean"]) / p["std"]
    if r.kind == "conv":
        return _conv(r, x)
    if r.kind == "bn":
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
    removed, like ``record.output``). Raises :class:`NotRecomputable` for unknown operations.

    Example:

    >>> import numpy as np
    >>> from explainer import capture, load_checkpoint, load_sample, recompute
    >>> trace = capture(load_checkpoint("mnist_fast_cnn").model, load_sample().floats()[0, 0])
    >>> again = recompute(trace, "block1.bn1")
    >>> bool(np.allclose(again, trace.layer("block1.bn1").output, atol=1e-5))
    True
    """
    r = trace.layer(record) if isinstance(record, str) else record
    refs = {name: torch.from_numpy(np.array(trace.value(name), dtype=np.float32))[None]
            for name in r.inputs}  # fmt: skip
    with torch.no_grad():
        if "call" in r.params:
            consts: dict[str, Any] = dict(r.arrays)
            out = calls.replay(r.params["call"], refs, consts)
        elif len(refs) == 1:
            out = _module(r, next(iter(refs.values())))
        else:
            raise NotRecomputable(f"{r.name}: a module with {len(refs)} inputs")
    return out[0].numpy()


def check_trace(trace: Trace, *, rtol: float = 1e-4, atol: float = 1e-5) -> list[str]:
    """The names of the records whose output differs from its recomputation (empty: the
    Trace is consistent). Unknown operations count as differences.

    Example:

    >>> from explainer import capture, check_trace, load_checkpoint, load_sample
    >>> trace = capture(load_checkpoint("mnist_fast_cnn").model, load_sample().floats()[0, 0])
    >>> check_trace(trace)
    []
    """
    bad = []
    for r in trace.layers:
        try:
            again = recompute(trace, r)
            ok = again.shape == r.output.shape and np.allclose(again, r.output, rtol, atol)
        except (NotRecomputable, RuntimeError):
            ok = False
        if not ok:
            bad.append(r.name)
    return bad
