"""Is a loaded Trace consistent? One line naming the first field that is not.

A trace file can be readable and still wrong: fewer class names than logits, a label of 42,
an image of shape ``(3,)``, no logits, text where an output should be, NaN logits. Pictures
would crash much later with an ``IndexError`` far from the cause, so :func:`validate_trace`
checks every field right after loading. It reads the trace by attribute only, so it accepts
any version of :class:`~explainer.tracing.trace.Trace` (records with or without ``inputs`` and
``arrays``).
"""

from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from explainer.errors import ExplainerError

# dtypes a record's output may have had (``params["dtype"]``; float32 when absent)
RECORD_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
NORMS = ("batch", "layer", "group", "instance", "rms")
MAX_CLASSES = 1000
MAX_SIDE = 256  # pixels per side of the image and of any feature map (MNIST: 28)
MAX_PADDING = 64  # zeros around a conv or pool input, per side (real ones: 0 to 3)
OUTPUT_NDIMS = (0, 1, 2, 3, 4, 5, 6)  # batch axis removed: (C, H, W), (F,), a scalar...


class TraceCheckError(ExplainerError):
    """A trace whose fields do not fit together."""


def _fail(field: str, why: str) -> NoReturn:
    raise TraceCheckError(
        f"trace field {field} {why}; the file is damaged or was not made by `explainer capture`"
    )


def _numbers(value: Any, field: str, *, ndims: tuple[int, ...], finite: bool = True) -> None:
    """``value`` must be a real-number ndarray with one of ``ndims`` dimensions."""
    if not isinstance(value, np.ndarray):
        _fail(field, f"is a {type(value).__name__}, not an array of numbers")
    if value.dtype.kind not in "biuf":
        _fail(field, f"holds {value.dtype} values, not numbers")
    if value.ndim not in ndims:
        shapes = " or ".join(f"{n}-D" for n in ndims)
        _fail(field, f"has shape {value.shape}; expected {shapes}")
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        _fail(field, "holds NaN or infinite values")


def _text(value: Any, field: str) -> None:
    if not isinstance(value, str):
        _fail(field, f"is a {type(value).__name__}, not text")


def _check_head(trace: Any) -> int:
    """Image, logits, class names and label; returns the number of classes."""
    _numbers(trace.image, "image", ndims=(2, 3))
    shape = trace.image.shape
    if trace.image.ndim == 3 and shape[0] != 1:
        _fail("image", f"has shape {shape}; expected (28, 28) or (1, 28, 28)")
    if not all(1 <= s <= MAX_SIDE for s in shape[-2:]):
        _fail("image", f"has shape {shape}; expected a picture such as (28, 28)")
    _numbers(trace.logits, "logits", ndims=(1,))
    k = len(trace.logits)
    if not 2 <= k <= MAX_CLASSES:
        _fail("logits", f"has {k} values; expected one per class (2 to {MAX_CLASSES})")
    names = trace.class_names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        _fail("class_names", "is not a list of text")
    if len(names) != k:
        _fail("class_names", f"has {len(names)} names for {k} logits; expected one per logit")
    label = trace.label
    if label is not None and (
        isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < k
    ):
        _fail("label", f"is {label!r}; expected a class index from 0 to {k - 1}, or none")
    for name in ("architecture", "checkpoint", "checkpoint_hash", "dataset", "source"):
        _text(getattr(trace, name), name)
    t = trace.temperature
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.01 < t < 100:
        _fail("temperature", f"is {t!r}; expected a calibration temperature in (0.01, 100)")
    if not isinstance(trace.meta, dict):
        _fail("meta", f"is a {type(trace.meta).__name__}, not a mapping")
    return k


def _check_inputs(inputs: Any, where: str, i: int, position: dict[str, int]) -> None:
    """Each input names ``"input"``, an earlier record, or a record this trace left out
    (``--layers``); never the record itself or one that comes after it."""
    if not isinstance(inputs, list) or not all(isinstance(n, str) for n in inputs):
        _fail(f"{where}.inputs", "is not a list of record names")
    for n in inputs:
        if position.get(n, -1) >= i:
            _fail(f"{where}.inputs", f"names {n[:40]!r}, which is not an earlier record")


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def _check_params(p: dict[str, Any], where: str) -> None:
    """The params that recomputing a record reads besides its settings: which element of a
    tuple result it is, whether its output kept the batch axis, its dtype, a norm's axes."""
    if "element" in p and not (_ints(p["element"]) and p["element"] and min(p["element"]) >= 0):
        _fail(f"{where}.params.element", f"is {p['element']!r:.40}; expected indices such as [1]")
    if "batched" in p and not isinstance(p["batched"], bool):
        _fail(f"{where}.params.batched", f"is {p['batched']!r:.40}; expected true or false")
    if "dtype" in p and p["dtype"] not in RECORD_DTYPES:
        _fail(f"{where}.params.dtype", f"is {p['dtype']!r:.40}; expected one of "
              + ", ".join(RECORD_DTYPES))  # fmt: skip
    if "norm" in p and p["norm"] not in NORMS:
        _fail(f"{where}.params.norm", f"is {p['norm']!r:.40}; expected one of {', '.join(NORMS)}")
    if "axes" in p and not _ints(p["axes"]):
        _fail(f"{where}.params.axes", f"is {p['axes']!r:.40}; expected axis numbers")
    if "eps" in p and p["eps"] is not None and not _positive_number(p["eps"]):
        _fail(f"{where}.params.eps", f"is {p['eps']!r:.40}; expected a small positive number")


def _positive_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")


# a sliding window's settings: (smallest value, largest value)
WINDOW = {"kernel_size": (1, MAX_SIDE), "stride": (1, MAX_SIDE), "dilation": (1, MAX_SIDE),
          "padding": (0, MAX_PADDING)}  # fmt: skip


def _check_window(r: Any, where: str) -> None:
    """A conv's or (non-adaptive) pool's kernel size, stride, dilation and padding: one whole
    number per spatial axis, in range, and the output size they give from ``input_shape``;
    a conv's channels, groups and weight shape agree with each other and with its input."""
    p = r.params
    if r.kind not in ("conv", "pool") or p.get("adaptive") or "kernel_size" not in p:
        return
    for key, (lo, hi) in WINDOW.items():
        v = p.get(key)
        if key == "padding" and v in ("same", "valid"):
            continue
        if v is not None and not (_ints(v) and 1 <= len(v) <= 3 and all(lo <= x <= hi for x in v)):
            _fail(f"{where}.params.{key}", f"is {v!r:.40}; expected one whole number per axis "
                  f"from {lo} to {hi}, such as [{max(lo, 1)}, {max(lo, 1)}]")  # fmt: skip
    if r.kind == "conv":
        _check_conv_channels(r, where)
    _check_window_output(r, where)


def _check_conv_channels(r: Any, where: str) -> None:
    p = r.params
    groups, c_in, c_out = p.get("groups", 1), p.get("in_channels"), p.get("out_channels")
    if not (isinstance(groups, int) and not isinstance(groups, bool) and groups >= 1):
        _fail(f"{where}.params.groups", f"is {groups!r:.40}; expected a whole number from 1")
    for key, c in (("in_channels", c_in), ("out_channels", c_out)):
        if c is not None and not (_ints([c]) and c >= 1 and c % groups == 0):
            _fail(f"{where}.params.{key}", f"is {c!r:.40}; expected a multiple of groups {groups}")
    w, k = r.weight, p["kernel_size"]
    if w is not None and c_in is not None and c_out is not None:
        want = (c_out, c_in // groups, *k)
        if tuple(w.shape) != want:
            _fail(f"{where}.weight", f"has shape {w.shape}; its settings say {want} "
                  "(out channels, in channels / groups, kernel)")  # fmt: skip
    shape = tuple(r.input_shape)
    if c_in is not None and len(shape) == len(k) + 1 and shape[0] != c_in:
        _fail(f"{where}.input_shape", f"is {shape}; its settings say {c_in} input channels")


def _check_window_output(r: Any, where: str) -> None:
    """The output's spatial size is what the window gives from the input's."""
    p, shape = r.params, tuple(r.input_shape)
    k, pad = p["kernel_size"], p.get("padding", [0] * len(p["kernel_size"]))
    if isinstance(pad, str) or r.params.get("batched") is False or len(shape) != len(k) + 1:
        return
    stride, dil = p.get("stride") or k, p.get("dilation") or [1] * len(k)
    if not len(pad) == len(stride) == len(dil) == len(k) or r.output.ndim != len(shape):
        _fail(f"{where}.params", "has settings for different numbers of axes")
    size = []
    for n, kk, s, pp, d in zip(shape[1:], k, stride, pad, dil, strict=True):
        span = n + 2 * pp - d * (kk - 1) - 1
        size.append((-(-span // s) if p.get("ceil_mode") else span // s) + 1)
    if tuple(size) != tuple(r.output.shape[1:]):
        _fail(f"{where}.output", f"has shape {r.output.shape}; its settings give "
              f"{tuple(size)} from an input of {shape}")  # fmt: skip


def _check_linear(r: Any, where: str) -> None:
    p, w = r.params, r.weight
    if r.kind != "linear" or w is None or "in_features" not in p:
        return
    want = (p.get("out_features"), p.get("in_features"))
    if tuple(w.shape) != want:
        _fail(f"{where}.weight", f"has shape {w.shape}; its settings say {want}")


def _check_record(r: Any, i: int, earlier: set[str], position: dict[str, int]) -> None:
    """Record ``i``; ``earlier``: names of the records before it, plus ``"input"``;
    ``position``: where each name first occurs."""
    where = f"layers[{i}]"
    _text(r.name, f"{where}.name")
    if not r.name or r.name in earlier:
        _fail(f"{where}.name", f"is {r.name!r:.40}; expected a new, non-empty name")
    where = f"layers[{i}] ({r.name[:40]})"
    _text(r.kind, f"{where}.kind")
    _numbers(r.output, f"{where}.output", ndims=OUTPUT_NDIMS, finite=False)
    if r.output.size == 0:
        _fail(f"{where}.output", f"is empty (shape {r.output.shape})")
    if not isinstance(r.params, dict):
        _fail(f"{where}.params", f"is a {type(r.params).__name__}, not a mapping")
    _check_params(r.params, where)
    if r.output.ndim == 3 and max(r.output.shape[1:]) > MAX_SIDE:
        _fail(f"{where}.output", f"has maps of {r.output.shape[1]}×{r.output.shape[2]}; "
              f"pictures show maps up to {MAX_SIDE}×{MAX_SIDE}")  # fmt: skip
    shape = getattr(r, "input_shape", ())
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, (int, np.integer)) and s >= 0 for s in shape
    ):
        _fail(f"{where}.input_shape", f"is {shape!r:.60}; expected sizes")
    for part in ("weight", "bias"):
        value = getattr(r, part, None)
        if value is not None:
            _numbers(value, f"{where}.{part}", ndims=(1, 2, 3, 4, 5))
    arrays = getattr(r, "arrays", None) or {}
    if not isinstance(arrays, dict):
        _fail(f"{where}.arrays", f"is a {type(arrays).__name__}, not a mapping")
    for key, value in arrays.items():
        _numbers(value, f"{where}.arrays[{key!r:.30}]", ndims=OUTPUT_NDIMS, finite=False)
    _check_window(r, where)
    _check_linear(r, where)
    inputs = getattr(r, "inputs", None)
    if inputs is not None:
        _check_inputs(inputs, where, i, position)


def validate_trace(trace: Any, *, error: type[ExplainerError] = TraceCheckError) -> None:
    """Raise ``error`` (default :class:`TraceCheckError`; one line naming the field) unless
    every field of ``trace`` has the type, shape and range the pictures rely on."""
    try:
        _check_trace(trace)
    except TraceCheckError as exc:
        if error is TraceCheckError:
            raise
        raise error(str(exc)) from None


def _check_trace(trace: Any) -> None:
    _check_head(trace)
    if not isinstance(trace.layers, list):
        _fail("layers", f"is a {type(trace.layers).__name__}, not a list")
    position: dict[str, int] = {}
    for i, r in enumerate(trace.layers):
        name = getattr(r, "name", None)
        if isinstance(name, str):
            position.setdefault(name, i)
    earlier = {"input"}
    for i, r in enumerate(trace.layers):
        _check_record(r, i, earlier, position)
        earlier.add(r.name)
