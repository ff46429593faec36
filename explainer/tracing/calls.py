"""Torch function calls between modules: what each is, how it is stored, how it is replayed.

A call such as ``F.relu(x)``, ``x.view(1, -1)`` or ``a + b`` made by a model's own ``forward``
becomes a Trace record. Its arguments are stored as JSON: a tensor the pass produced is
``{"ref": record name}``, any other tensor is ``{"const": key}`` (its values are kept in the
record's arrays), and plain values stay as they are. :func:`replay` calls the same function
again on those arguments; only the functions named here are ever called, so a Trace file can
never make the program run anything else. A tuple result comes back whole; each of its
records picks its own tensor with :func:`element`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from explainer.errors import ExplainerError
from explainer.tracing.checks import RECORD_DTYPES


class NotRecomputable(ExplainerError):
    """A record whose operation this project cannot redo (an unknown module or call)."""


_KIND_OF: dict[str, str] = {}
for _kind, _names in {
    "relu": "relu relu_ leaky_relu leaky_relu_ elu elu_ gelu silu sigmoid sigmoid_ tanh tanh_ "
    "relu6 hardtanh hardtanh_ softplus mish hardswish hardsigmoid selu celu prelu logsigmoid",
    "pool": "max_pool2d avg_pool2d adaptive_avg_pool2d adaptive_max_pool2d max_pool1d avg_pool1d",
    "flatten": "flatten view reshape squeeze unsqueeze permute transpose swapaxes t view_as "
    "reshape_as unflatten movedim contiguous clone detach to float cpu type_as expand expand_as "
    "repeat flip roll narrow select T mT H mH data",
    "add": "add add_ __add__ __iadd__ __radd__ sub sub_ __sub__ __isub__ __rsub__",
    "mul": "mul mul_ __mul__ __imul__ __rmul__ div div_ __truediv__ __itruediv__ __rtruediv__",
    "concat": "cat concat concatenate stack",
    "split": "chunk split unbind tensor_split split_with_sizes hsplit vsplit dsplit",
    "softmax": "softmax log_softmax",
    "dropout": "dropout dropout1d dropout2d alpha_dropout feature_alpha_dropout",
    "conv": "conv1d conv2d",
    "linear": "linear",
    "bn": "batch_norm",
    "norm": "layer_norm group_norm instance_norm rms_norm",
    "attention": "multi_head_attention_forward scaled_dot_product_attention",
    "other": "mean sum amax amin neg __neg__ abs exp log pow __pow__ clamp clamp_min clamp_max "
    "clip sqrt rsqrt square reciprocal __getitem__ pad interpolate matmul __matmul__ mm bmm "
    "einsum normalize max min topk sort argmax argmin median kthvalue cummax cummin aminmax "
    "var std var_mean std_mean logsumexp gather index_select masked_fill where erf",
}.items():
    _KIND_OF.update(dict.fromkeys(_names.split(), _kind))

# Calls that never change a float32 tensor's values (each is a record of kind "flatten").
ALIASES = frozenset(
    ["contiguous", "clone", "detach", "detach_", "to", "float", "cpu", "requires_grad_", "type_as"]
)

# Calls that may hand back their input itself (``x.contiguous()`` of a contiguous ``x``): then
# they made no tensor, and the input keeps its name.
MAY_RETURN_INPUT = frozenset(
    ["contiguous", "detach_", "to", "float", "cpu", "cuda", "type_as", "requires_grad_", "type"]
)

# Tensor attributes that are tensors (``x.mT``): replayed by reading the attribute again.
PROPERTIES = frozenset(["T", "mT", "H", "mH", "data"])

# A constant argument bigger than this is not kept in the trace (its call cannot be replayed).
MAX_CONST_VALUES = 1 << 20

_OWNERS: dict[str, Any] = {"Tensor": torch.Tensor, "F": F, "torch": torch}


def call_key(func: Callable[..., Any]) -> str:
    """``"Tensor.view"``, ``"F.relu"``, ``"torch.tanh"`` or ``"Tensor.mT"`` (an attribute read);
    ``"?.name"`` for anything else."""
    name = getattr(func, "__name__", "") or "call"
    if name == "__get__":
        attr = getattr(func, "__self__", None)
        if getattr(attr, "__objclass__", None) is torch._C.TensorBase:
            return f"Tensor.{attr.__name__}"
    for owner, where in _OWNERS.items():
        if getattr(where, name, None) is func:
            return f"{owner}.{name}"
    if getattr(torch._C.TensorBase, name, None) is func:
        return f"Tensor.{name}"
    return f"?.{name}"


def short_name(key: str) -> str:
    """A readable record name for a call: ``"F.relu"`` → ``"relu"``, ``"Tensor.__iadd__"`` →
    ``"add"``, ``"Tensor.__getitem__"`` → ``"getitem"``."""
    name = key.split(".", 1)[1].strip("_")
    if name.startswith(("i", "r")) and name[1:] in ("add", "sub", "mul", "truediv", "matmul"):
        name = name[1:]
    return {"truediv": "div", "concatenate": "cat", "concat": "cat"}.get(name, name)


def kind_of(key: str) -> str:
    """The Trace kind of a call (``"other"`` for one not listed)."""
    return _KIND_OF.get(key.split(".", 1)[1], "other")


def replayable(key: str) -> bool:
    """Whether a call key names a function :func:`replay` may call."""
    owner, name = key.split(".", 1)
    if name in PROPERTIES:
        return owner == "Tensor"
    return owner in _OWNERS and name in _KIND_OF and callable(getattr(_OWNERS[owner], name, None))


class CallInfo(NamedTuple):
    """What the recorder needs to know about a function, worked out once per function."""

    key: str  # "F.relu", "Tensor.view", "?.name" (see call_key)
    name: str  # the function's own name: "relu", "view", "__iadd__"
    short: str  # the record's name: "relu", "add" (see short_name)
    kind: str  # its Trace kind, "other" when replay may not call it
    replayable: bool  # whether replay may call it
    may_return_input: bool  # it may hand back its input itself (see MAY_RETURN_INPUT)


_INFO: dict[Any, CallInfo] = {}
_MAX_INFO = 4096  # distinct functions remembered (a model calls a few dozen)


def call_info(func: Callable[..., Any]) -> CallInfo:
    """The :class:`CallInfo` of ``func``, cached: the recorder asks it for every call."""
    try:
        return _INFO[func]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable: work it out each time
        return _call_info(func)
    info = _call_info(func)
    if len(_INFO) < _MAX_INFO:
        _INFO[func] = info
    return info


def _call_info(func: Callable[..., Any]) -> CallInfo:
    key = call_key(func)
    name = key.split(".", 1)[1]
    ok = replayable(key)
    return CallInfo(key, name, short_name(key), kind_of(key) if ok else "other", ok,
                    name in MAY_RETURN_INPUT)  # fmt: skip


def tensor_elements(out: Any) -> list[tuple[list[int], torch.Tensor]]:
    """The tensors of a call's tuple result with where each sits (``[1]``, or ``[1, 0]`` in a
    nested tuple such as an LSTM's ``(output, (h, c))``); ``None`` and numbers are skipped."""
    found = []
    for i, item in enumerate(out):
        if isinstance(item, torch.Tensor):
            found.append(([i], item))
        elif isinstance(item, (tuple, list)):
            found.extend(([i, *path], t) for path, t in tensor_elements(item))
    return found


def element_name(out: Any, path: list[int]) -> str | None:
    """The field name of a result such as ``torch.max``'s (``"values"``, ``"indices"``)."""
    fields = getattr(type(out), "__match_args__", ())
    return fields[path[0]] if len(path) == 1 and path[0] < len(fields) else None


def element(out: Any, path: list[int]) -> Any:
    """``out[path[0]][path[1]]...``: one tensor of a replayed call's tuple result."""
    for i in path:
        if not isinstance(out, (tuple, list)) or not 0 <= i < len(out):
            raise NotRecomputable(f"the call's result has no element {path}")
        out = out[i]
    return out


class CallEncoder:
    """Turns one call's arguments into JSON, collecting constant tensors on the way;
    ``unknown`` tells whether an argument could not be stored (the call cannot be replayed)."""

    def __init__(self, name_of: Callable[[torch.Tensor], str | None]) -> None:
        self.name_of = name_of
        self.consts: dict[str, torch.Tensor] = {}
        self.refs: list[str] = []
        self.unknown = False

    def encode_call(self, args: tuple, kwargs: dict[str, Any]) -> tuple[list, dict[str, Any]]:
        """A call's positional and keyword arguments, encoded."""
        encode = self.encode
        return [encode(a) for a in args], {k: encode(v) for k, v in kwargs.items()}

    def encode(self, value: Any) -> Any:
        if type(value) in _PLAIN or value is None:  # the common case first
            return value
        if isinstance(value, torch.Tensor):
            name = self.name_of(value)
            if name is not None:
                self.refs.append(name)
                return {"ref": name}
            if value.numel() > MAX_CONST_VALUES:
                self.unknown = True
                return {"unknown": f"tensor of {value.numel()} values"}
            key = f"const{len(self.consts)}"
            self.consts[key] = value
            return {"const": key}
        if isinstance(value, (list, tuple)):
            items = [self.encode(v) for v in value]
            return items if isinstance(value, list) else {"tuple": items}
        if isinstance(value, slice):
            return {"slice": [self.encode(value.start), value.stop, value.step]}
        if value is Ellipsis:
            return {"ellipsis": True}
        if isinstance(value, torch.dtype):
            return {"dtype": str(value).removeprefix("torch.")}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, torch.device):
            return {"device": str(value)}
        if isinstance(value, torch.memory_format):
            return {"memory_format": str(value).removeprefix("torch.")}
        self.unknown = True
        return {"unknown": type(value).__name__}


_PLAIN = frozenset([int, float, bool, str])


def decode(value: Any, refs: dict[str, torch.Tensor], consts: dict[str, np.ndarray]) -> Any:
    """The inverse of :meth:`CallEncoder.encode`: references become the given tensors."""
    if isinstance(value, list):
        return [decode(v, refs, consts) for v in value]
    if not isinstance(value, dict):
        return value
    if "ref" in value:
        return refs[value["ref"]]
    if "const" in value:
        return torch.from_numpy(np.asarray(consts[value["const"]]).copy())
    if "tuple" in value:
        return tuple(decode(v, refs, consts) for v in value["tuple"])
    if "slice" in value:
        start, stop, step = value["slice"]
        return slice(decode(start, refs, consts), stop, step)
    if "ellipsis" in value:
        return Ellipsis
    if "dtype" in value and value["dtype"] in DTYPES:
        return DTYPES[value["dtype"]]
    if "device" in value:
        return "cpu"  # replayed where the trace is read
    if value.get("memory_format") in ("contiguous_format", "channels_last", "preserve_format"):
        return getattr(torch, value["memory_format"])
    raise NotRecomputable(
        f"a call argument of type {value.get('unknown', value)!s:.60} cannot be replayed"
    )


DTYPES = {name: getattr(torch, name) for name in RECORD_DTYPES}


def call_replayable(call: dict[str, Any]) -> bool:
    """Whether :func:`replay` can redo a recorded call: a listed function, every argument
    stored (none ``{"unknown": ...}``)."""
    key = call.get("key")
    return isinstance(key, str) and "." in key and replayable(key) and not _unknown(call)


def _unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return "unknown" in value or any(_unknown(v) for v in value.values())
    return isinstance(value, list) and any(_unknown(v) for v in value)


def replay(call: dict[str, Any], refs: dict[str, torch.Tensor], consts: dict[str, Any]) -> Any:
    """Call the recorded function again on ``refs`` (record name → batched tensor); a tuple
    result comes back whole (see :func:`element`)."""
    key = call["key"]
    if not isinstance(key, str) or "." not in key or not replayable(key):
        raise NotRecomputable(f"{key} is not a call that can be recomputed")
    owner, name = key.split(".", 1)
    args = decode(call["args"], refs, consts)
    kwargs = {k: decode(v, refs, consts) for k, v in call["kwargs"].items()}
    if name in PROPERTIES:
        return getattr(args[0], name)
    return getattr(_OWNERS[owner], name)(*args, **kwargs)


# Signatures of the calls whose settings a picture labels (positional order after input).
_SETTINGS = {
    "max_pool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avg_pool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                   "divisor_override"),
    "adaptive_avg_pool2d": ("output_size",),
    "adaptive_max_pool2d": ("output_size",),
    "conv2d": ("weight", "bias", "stride", "padding", "dilation", "groups"),
    "linear": ("weight", "bias"),
    "batch_norm": ("running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    "layer_norm": ("normalized_shape", "weight", "bias", "eps"),
    "group_norm": ("num_groups", "weight", "bias", "eps"),
    "instance_norm": ("running_mean", "running_var", "weight", "bias", "use_input_stats",
                      "momentum", "eps"),
    "rms_norm": ("normalized_shape", "weight", "eps"),
    "leaky_relu": ("negative_slope",),
    "elu": ("alpha",),
    "softmax": ("dim",),
    "log_softmax": ("dim",),
    "dropout": ("p", "training"),
    "flatten": ("start_dim", "end_dim"),
}  # fmt: skip


def settings(key: str, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The named settings of a call (``kernel_size``, ``weight``...) from its arguments."""
    name = key.split(".", 1)[1]
    names = _SETTINGS.get(name)
    if names is None:
        return {}
    found = dict(zip(names, args[1:], strict=False))
    found.update({k: v for k, v in kwargs.items() if k in names})
    if name in ("max_pool2d", "avg_pool2d", "conv2d"):
        found = _with_defaults(name, found)
    return found


def split_settings(
    key: str, args: tuple, kwargs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A call's :func:`settings` as ``(plain, tensors)``: plain values as a Trace file keeps
    them (a sequence of whole numbers as a list; other sequences left out), and the tensor
    ones (a functional conv's ``weight``). Remembered for calls made again with the same
    plain arguments (a model's ``F.max_pool2d(x, 2)`` on every pass); the caller must not
    change what it gets."""
    if key.split(".", 1)[1] not in _SETTINGS:
        return {}, {}
    rest, memo_key = args[1:], None
    if not _holds_tensor(rest, kwargs):  # tensors (compared by value) never make a key
        try:
            memo_key = (key, rest, tuple(map(type, rest)), tuple(kwargs.items()))
            found = _SPLIT.get(memo_key)
        except TypeError:  # an unhashable argument (a list): worked out each time
            memo_key, found = None, None
        if found is not None:
            return found
    plain, tensors = {}, {}
    for k, v in settings(key, args, kwargs).items():
        if isinstance(v, torch.Tensor):
            tensors[k] = v
        elif not isinstance(v, (list, tuple)):
            plain[k] = v
        elif all(isinstance(i, int) for i in v):
            plain[k] = list(v)
    if memo_key is not None and len(_SPLIT) < _MAX_INFO:
        _SPLIT[memo_key] = (plain, tensors)
    return plain, tensors


_SPLIT: dict[tuple, tuple[dict[str, Any], dict[str, torch.Tensor]]] = {}


def _holds_tensor(rest: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether an argument is a tensor or a list or tuple holding one."""
    for v in (*rest, *kwargs.values()):
        if isinstance(v, torch.Tensor) or (
            isinstance(v, (list, tuple)) and any(isinstance(i, torch.Tensor) for i in v)
        ):
            return True
    return False


def _pair(v: Any) -> Any:
    return [int(v), int(v)] if isinstance(v, int) else list(v) if isinstance(v, tuple) else v


def _with_defaults(name: str, found: dict[str, Any]) -> dict[str, Any]:
    """Pool and conv settings as a module records them: pairs, defaults filled in."""
    if name == "conv2d":
        defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    else:
        defaults = {"stride": None, "padding": 0, "ceil_mode": False}
        defaults |= {"dilation": 1} if name == "max_pool2d" else {"count_include_pad": True}
        found["mode"] = "max" if name == "max_pool2d" else "average"
    found = {**defaults, **found}
    if name != "conv2d" and not found["stride"]:
        found["stride"] = found["kernel_size"]
    for k in ("kernel_size", "stride", "padding", "dilation"):
        if k in found:
            found[k] = _pair(found[k])
    return found
