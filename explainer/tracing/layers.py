"""What a module is, for a Trace: its kind, its settings and the arrays that define it.

A module whose type is listed here is *atomic*: it becomes one record of a Trace, and what
it calls inside is not recorded. Any other module is transparent: the capture records the
atomic modules and the torch functions it calls (``F.relu``, ``x.view``, ``+``...).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from torch import nn

from explainer.nets.architectures import Normalize
from explainer.tracing.norms import norm_params

_ACTIVATIONS = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.ReLU6, nn.Hardtanh,
    nn.Softplus, nn.Mish, nn.Hardswish, nn.SELU, nn.CELU, nn.PReLU,
)  # fmt: skip

_RMS_NORM: tuple[type, ...] = (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()
_NORMS = (
    nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
    *_RMS_NORM,
)  # fmt: skip
# the batched input rank each batch and instance norm type takes
_NORM_RANK = {
    nn.BatchNorm1d: 2, nn.BatchNorm2d: 4, nn.BatchNorm3d: 5,
    nn.InstanceNorm1d: 3, nn.InstanceNorm2d: 4, nn.InstanceNorm3d: 5,
}  # fmt: skip

_KINDS: list[tuple[tuple[type, ...], str]] = [
    ((Normalize,), "normalize"),
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), "conv"),
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d), "bn"),
    (_NORMS, "norm"),
    (_ACTIVATIONS, "relu"),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), "pool"),
    ((nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout), "dropout"),
    ((nn.Flatten, nn.Unflatten), "flatten"),
    ((nn.Linear,), "linear"),
    ((nn.Softmax, nn.LogSoftmax), "softmax"),
]
ATOMIC_TYPES: tuple[type, ...] = tuple(t for types, _ in _KINDS for t in types)
_FORWARDS = frozenset(t.forward for t in ATOMIC_TYPES)


def is_atomic(module: nn.Module) -> bool:
    """Whether a module is one record: a listed type with no children, running its type's own
    ``forward``. A subclass with a ``forward`` of its own (ConvNeXt's ``LayerNorm2d``, which
    permutes to channels-last first) is transparent: what it calls is recorded instead."""
    return (
        isinstance(module, ATOMIC_TYPES)
        and not module._modules
        and type(module).forward in _FORWARDS
    )


def layer_kind(module: nn.Module) -> str:
    """One of :data:`explainer.tracing.trace.KINDS` for a module (``"other"`` when unknown)."""
    for types, kind in _KINDS:
        if isinstance(module, types):
            return kind
    return "other"


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


def _pair_or_none(v: Any) -> list[Any]:
    return [v, v] if v is None or isinstance(v, int) else list(v)


def _conv_params(m: nn.Conv2d) -> dict[str, Any]:
    padding = m.padding if isinstance(m.padding, str) else _pair(m.padding)
    return {
        "in_channels": m.in_channels,
        "out_channels": m.out_channels,
        "kernel_size": _pair(m.kernel_size),
        "stride": _pair(m.stride),
        "padding": padding,
        "dilation": _pair(m.dilation),
        "groups": int(m.groups),
        "padding_mode": m.padding_mode,
    }


def _pool_params(m: nn.Module) -> dict[str, Any]:
    mode = "max" if isinstance(m, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "average"
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = [None if s is None else int(s) for s in _pair_or_none(m.output_size)]
        indices = {"return_indices": True} if getattr(m, "return_indices", False) else {}
        return {"mode": mode, "adaptive": True, "output_size": size, **indices}
    p: dict[str, Any] = {
        "mode": mode,
        "kernel_size": _pair(m.kernel_size),
        "stride": _pair(m.stride or m.kernel_size),
        "padding": _pair(m.padding),
        "ceil_mode": bool(m.ceil_mode),
    }
    if isinstance(m, nn.MaxPool2d):
        p["dilation"] = _pair(m.dilation)
        p |= {"return_indices": True} if m.return_indices else {}
    else:
        p["count_include_pad"] = bool(m.count_include_pad)
        p["divisor_override"] = m.divisor_override
    return p


def _activation_params(m: nn.Module) -> dict[str, Any]:
    p: dict[str, Any] = {"function": type(m).__name__}
    for attr in ("negative_slope", "alpha", "approximate", "beta", "threshold", "lambd"):
        if hasattr(m, attr):
            p[attr] = getattr(m, attr)
    if isinstance(m, nn.Hardtanh):
        p |= {"min_val": float(m.min_val), "max_val": float(m.max_val)}
    if getattr(m, "inplace", False):
        p["inplace"] = True
    return p


def _norm_params(m: nn.Module) -> dict[str, Any]:
    """Settings of a norm module, with its ``norm``, ``axes`` and ``over`` (see
    :mod:`explainer.tracing.norms`) for the input rank the type takes (the recorder
    redoes them for the rank it sees)."""
    p: dict[str, Any] = {"eps": None if m.eps is None else float(m.eps)}
    if isinstance(m, nn.GroupNorm):
        norm, ndim, trailing = "group", 4, 0
        p |= {"num_groups": int(m.num_groups), "num_channels": int(m.num_channels)}
    elif isinstance(m, (nn.LayerNorm, *_RMS_NORM)):
        norm = "layer" if isinstance(m, nn.LayerNorm) else "rms"
        trailing = len(m.normalized_shape)
        ndim = trailing + 1
        p["normalized_shape"] = list(m.normalized_shape)
    else:
        norm = "instance" if isinstance(m, _NORMS) else "batch"
        ndim = next(n for t, n in _NORM_RANK.items() if isinstance(m, t))
        trailing = 0
        p["num_features"] = int(m.num_features)
        if norm == "instance":
            p["use_input_stats"] = not (m.track_running_stats and m.running_mean is not None)
    return p | norm_params(norm, ndim, trailing, None)


def layer_params(module: nn.Module) -> dict[str, Any]:
    """Plain-typed (JSON-ready) settings that label the layer and recompute it."""
    kind = layer_kind(module)
    p: dict[str, Any] = {"type": type(module).__name__}
    if kind == "conv":
        p |= _conv_params(module)
    elif kind == "linear":
        p |= {"in_features": module.in_features, "out_features": module.out_features}
    elif kind == "pool":
        p |= _pool_params(module)
    elif kind == "dropout":
        p["p"] = float(getattr(module, "p", 0.0))
    elif kind == "relu":
        p |= _activation_params(module)
    elif kind == "normalize":
        p |= {"mean": float(module.mean), "std": float(module.std)}
    elif kind in ("bn", "norm"):
        p |= _norm_params(module)
    elif kind == "flatten" and isinstance(module, nn.Flatten):
        p |= {"start_dim": int(module.start_dim), "end_dim": int(module.end_dim)}
    elif kind == "flatten":
        p |= {"dim": int(module.dim), "unflattened_size": list(module.unflattened_size)}
    elif kind == "softmax":
        p |= {"function": type(module).__name__, "dim": module.dim}
    return p


def defining_tensors(module: nn.Module) -> dict[str, str]:
    """``{record key: module attribute}`` of the tensors that define an atomic module's
    output besides its input: ``weight`` and ``bias`` of conv, dense and norm layers, batch
    norm's running mean and variance, PReLU's slopes (only those the module has)."""
    keys = {}
    if layer_kind(module) in ("conv", "linear", "bn", "norm"):
        keys |= {"weight": "weight", "bias": "bias"}
    keys |= {"running_mean": "running_mean", "running_var": "running_var"}
    if isinstance(module, nn.PReLU):
        keys = {"slope": "weight"}
    return {k: attr for k, attr in keys.items() if getattr(module, attr, None) is not None}


def tensors_of(module: nn.Module, keys: dict[str, str]) -> dict[str, Any]:
    """The module's current tensors for :func:`defining_tensors` keys (read each time: a
    parameter may have been replaced since the plan was made)."""
    params, buffers = module._parameters, module._buffers
    out = {}
    for key, attr in keys.items():
        t = params.get(attr)
        out[key] = buffers.get(attr) if t is None else t
    return out


@dataclass
class Plan:
    """Facts about a model's module tree, computed once while the tree is unchanged.

    The plan is cached per model in a weak-key dictionary, so it holds the model itself only
    weakly (``root``): a strong reference from the value would keep every model ever captured
    alive (every uploaded checkpoint of every app session)."""

    key: list[tuple[dict, tuple]]  # each container's children, as they were
    root: weakref.ref  # the model
    submodules: dict[str, nn.Module]  # every named module below the model, containers included
    path_of: dict[int, str]  # id(module) -> module path
    atomic: dict[int, tuple[str, str, dict]]  # id(atomic module) -> (path, kind, params)
    sequential: bool  # only atomic modules and nn.Sequential containers: no functions between
    table: dict[str, tuple[nn.Module, str, dict]]  # atomic path -> (module, kind, params)
    tensors: dict[int, dict[str, str]]  # id(atomic module) -> its defining_tensors keys
    chain: list[tuple[nn.Module, str, str, dict, str]] | None  # sequential: steps in order
    copies: frozenset[str] = frozenset()  # records a later in-place operation changes

    @property
    def named(self) -> dict[str, nn.Module]:
        """Every named module, the model included (under ``""``)."""
        root = self.root()
        return {"": root, **self.submodules} if root is not None else dict(self.submodules)

    @property
    def modules(self) -> list[nn.Module]:
        """All of them, the model included."""
        return list(self.named.values())

    @property
    def containers(self) -> list[nn.Module]:
        """The modules that are not atomic (the model itself included)."""
        return [m for m in self.modules if id(m) not in self.atomic]

    @property
    def names(self) -> list[str]:
        """The atomic modules' paths, in registration order."""
        return list(self.table)


_PLANS: weakref.WeakKeyDictionary[nn.Module, Plan] = weakref.WeakKeyDictionary()


def plan_of(model: nn.Module) -> Plan:
    """The (cached) :class:`Plan` of ``model``; rebuilt when its module tree changes."""
    plan = _PLANS.get(model)
    if plan is not None and _unchanged(plan.key):
        return plan
    pairs = list(model.named_modules())
    key = [(m._modules, tuple(m._modules.values())) for _, m in pairs if m._modules]
    atomic = {}
    sequential = True
    for name, m in pairs:
        if is_atomic(m):
            atomic[id(m)] = (name or type(m).__name__, layer_kind(m), layer_params(m))
        elif not _calls_only_children(m):
            sequential = False
    plan = Plan(
        key=key,
        root=weakref.ref(model),
        submodules={n: m for n, m in pairs if m is not model},
        path_of={id(m): n for n, m in pairs},
        atomic=atomic,
        sequential=sequential,
        table={
            path: (m, kind, params)
            for (_, m) in pairs
            if id(m) in atomic
            for path, kind, params in [atomic[id(m)]]
        },
        tensors={id(m): defining_tensors(m) for _, m in pairs if id(m) in atomic},
        chain=_named(_chain(model, atomic)) if sequential and id(model) not in atomic else None,
    )
    _PLANS[model] = plan
    return plan


def _calls_only_children(m: nn.Module) -> bool:
    """A container whose own code runs no torch function: ``nn.Sequential`` (its forward
    only calls its children) or a list/dict of modules (never called itself)."""
    if not m._modules:
        return False
    return type(m).forward is nn.Sequential.forward or isinstance(m, nn.ModuleList | nn.ModuleDict)


def _unchanged(key: list[tuple[dict, tuple]]) -> bool:
    """Whether every container still holds the same children (a module added, removed or
    replaced anywhere in the tree changes its parent's ``_modules``). Checked on every pass,
    so it compares identities only."""
    return all(tuple(children.values()) == kept for children, kept in key)


def _named(steps: list[tuple]) -> list[tuple]:
    """Chain steps as ``(module, record name, kind, params, name of the step before)``, a
    module called twice named ``path#2`` the second time, as the recorder names it."""
    named, counts, prev = [], {}, "input"
    for module, path, kind, params in steps:
        counts[path] = counts.get(path, 0) + 1
        name = path if counts[path] == 1 else f"{path}#{counts[path]}"
        named.append((module, name, kind, params, prev))
        prev = name
    return named


def _chain(model: nn.Module, atomic: dict[int, tuple]) -> list[tuple]:
    """The atomic modules of a tree of ``nn.Sequential`` containers in the order the tree
    calls them (a module listed twice is called twice), as ``(module, path, kind, params)``."""
    steps = []
    for child in model._modules.values():
        if child is None:
            continue
        if id(child) in atomic:
            steps.append((child, *atomic[id(child)]))
        else:
            steps.extend(_chain(child, atomic))
    return steps
