"""The Trace: one digit's trip through one network, the contract every picture reads.

A :class:`Trace` holds the image as a person sees it, every captured layer's output (and the
weights of conv and linear layers), the logits, probabilities and prediction, and where it all
came from (architecture, checkpoint name and hash, dataset), and, when the picture does not
look like a digit to its checkpoint's detector, why (``not_a_digit``: every view then says so
first, :attr:`Trace.said_first`). Animators, Manim scenes and the
app read Traces; none of them touches a model or a hook.

Saved as ``.npz`` (numpy arrays only) with a JSON header and a format version, read back with
``allow_pickle=False``: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explainer.errors import ExplainerError
from explainer.io import atomic_write, require_file
from explainer.nesting import nesting
from explainer.safe_npz import open_bounded_npz
from explainer.tracing.checks import validate_trace
from explainer.tracing.norms import describe as describe_norm
from explainer.tracing.notebook import TraceDisplay  # how a Trace shows itself in a notebook
from explainer.tracing.verdict import verdict_text

FORMAT = "mnist-explainer/trace"
VERSION = 2
KINDS = (
    "normalize", "conv", "bn", "norm", "relu", "pool", "dropout", "flatten", "linear", "add",
    "mul", "concat", "split", "softmax", "attention", "other",
)  # fmt: skip
INPUT = "input"  # the name under which records refer to the model's input


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays in ``params``/``meta``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be stored in a trace header")


class TraceError(ExplainerError):
    """A file that is not a readable Trace, or a layer name the Trace does not have."""


@dataclass
class LayerRecord:
    """One layer's output for one image.

    ``output`` is ``(C, H, W)`` for image-shaped layers and ``(N,)`` for vectors, batch axis
    removed. ``inputs`` names the records it consumed, in argument order (``"input"``: the
    model's input). ``params`` holds its settings (kernel size, stride, padding, dilation,
    groups, channels, features, pooling mode, eps...; for a function call also ``function``
    and the encoded ``call``). ``weight`` is ``(C_out, C_in/groups, kH, kW)`` for conv,
    ``(out, in)`` for linear and ``(C,)`` for norm layers when captured with weights; ``bias``
    likewise. ``arrays`` holds the other tensors that define it (batch norm's
    ``running_mean``/``running_var``, a call's constant arguments) and, for an attention
    record, ``attention``: every head's weights, ``(heads, L, S)``, rows summing to 1.

    A call that returns a tuple (``chunk``, ``topk``, ``nn.MultiheadAttention``'s attention)
    gives one record per tensor, ``name[i]``, with ``params["element"] == [i]``. An output
    whose first axis was not the batch (a scalar, a sequence-first ``(L, N, E)``) is kept
    whole, with ``params["batched"] == False``; one that is not float32 (indices) says its
    ``params["dtype"]``. Norm records say ``params["norm"]`` (batch, layer, group, instance,
    rms), ``params["axes"]`` (the input axes sharing one mean and variance, 0 the batch axis,
    negative ones counted from the end) and ``params["over"]`` in words.

    Example:

    >>> from explainer import capture, load_checkpoint, load_sample
    >>> model = load_checkpoint("mnist_fast_cnn").model
    >>> record = capture(model, load_sample().floats()[0, 0]).layer("block1.conv1")
    >>> record.kind, record.output.shape, record.weight.shape
    ('conv', (16, 14, 14), (16, 1, 5, 5))
    >>> record.description
    'conv 5×5, 1→16, pad 2, stride 2'
    """

    name: str
    kind: str
    output: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    inputs: list[str] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.output.shape)

    @property
    def module(self) -> str:
        """The module path this record ran in: a module's own path (``"layer2.0.conv1"``), or
        for a torch call the innermost module whose ``forward`` made it (``"layer2.0"`` for
        ResNet's ``out += identity``; ``""`` for the model's own ``forward``). The recorder
        names every record after it, so old and new files alike carry it."""
        base = _SUFFIX.sub("", self.name)
        return base.rpartition(".")[0] if "call" in self.params else base

    @property
    def is_spatial(self) -> bool:
        """True for ``(C, H, W)`` outputs that can be drawn as feature maps."""
        return self.output.ndim == 3

    @property
    def shape_text(self) -> str:
        """``"32×28×28"``, ``"128"``, or ``"1 value"`` for one value per image (a 0-d output)."""
        return "×".join(str(s) for s in self.shape) or "1 value"

    @property
    def description(self) -> str:
        """A short label such as ``"conv 3×3, 1→32"`` or ``"max pool 2×2"``."""
        p = self.params
        if self.kind == "conv":
            k = p.get("kernel_size", [0, 0])
            pad = p.get("padding", [0, 0])
            stride = p.get("stride", [1, 1])
            pad_text = f", pad {pad[0]}" if any(pad) else ""
            pad_text += f", stride {stride[0]}" if max(stride) > 1 else ""
            pad_text += f", dilation {p['dilation'][0]}" if max(p.get("dilation", [1])) > 1 else ""
            groups = p.get("groups", 1)
            if groups > 1:
                pad_text += (
                    ", depthwise" if groups == p.get("in_channels") else f", {groups} groups"
                )
            return f"conv {k[0]}×{k[1]}, {p.get('in_channels')}→{p.get('out_channels')}{pad_text}"
        if self.kind == "linear":
            return f"dense {p.get('in_features')}→{p.get('out_features')}"
        if self.kind == "pool" and p.get("adaptive"):
            size = "×".join(str(v) for v in p.get("output_size", []))
            return f"adaptive {p.get('mode', 'average')} pool to {size}"
        if self.kind == "pool":
            k = p.get("kernel_size", [2, 2])
            return f"{p.get('mode', 'max')} pool {k[0]}×{k[1]}"
        if self.kind == "dropout":
            return f"dropout p={p.get('p', 0):g} (off at test time)"
        if self.kind in ("bn", "norm"):
            return describe_norm(p)
        if self.kind == "relu":
            return _ACTIVATION_NAMES.get(p.get("function", ""), p.get("function", "ReLU"))
        if self.kind == "add" and p.get("function") == "sub":
            return "subtract"
        if self.kind == "add":
            return f"add ({len(self.inputs)} inputs)" if len(self.inputs) > 1 else "add a constant"
        if self.kind == "concat":
            args = p.get("call", {}).get("args") or [[]]
            count = len(args[0]) if isinstance(args[0], list) else len(self.inputs)
            return f"concatenate {max(count, len(self.inputs))} tensors"
        if self.kind in ("split", "attention", "other"):
            return self._call_description()
        if self.kind == "softmax":
            return "log-softmax" if "log" in str(p.get("function", "")).lower() else "softmax"
        if self.kind == "flatten":
            fn = p.get("function") or ("unflatten" if "unflattened_size" in p else "flatten")
            return _LAYOUT_NAMES.get(fn, fn)
        if self.kind == "mul":
            return "divide" if p.get("function") == "div" else "multiply"
        return self.kind

    def _call_description(self) -> str:
        """``"chunk, part 2"``, ``"topk (indices)"``, ``"attention, 4 heads"``, ``"einsum"``."""
        p = self.params
        fn = str(p.get("function", self.kind))
        path = p.get("element")
        if self.kind == "attention" and path and path[0] == 1:
            return "attention weights"
        if self.kind == "attention":
            return f"attention, {p['heads']} heads" if p.get("heads") else "attention"
        if self.kind == "split" and path:
            return f"{fn}, part {path[0] + 1}"
        if p.get("element_name"):
            return f"{fn} ({p['element_name']})"
        return f"{fn} [{']['.join(map(str, path))}]" if path else fn


_SUFFIX = re.compile(r"(#\d+)?(\[\d+\])*$")  # a reuse count, a tuple element: not the path

MAX_HEADER_DEPTH = 16  # lists and dicts inside the JSON header (a real one nests 5 deep)


def _parse_header(text: str, path: Path) -> dict[str, Any]:
    """The JSON header as a dict: refused when it is not one, or nests too deep for the
    parser (Python's json gives up around 1,000 levels) or for the pictures."""
    try:
        header = json.loads(text)
        too_deep = nesting(header, MAX_HEADER_DEPTH) > MAX_HEADER_DEPTH
    except RecursionError:
        too_deep = True
    if too_deep:
        raise TraceError(
            f"{path}: its header nests lists or dicts more than {MAX_HEADER_DEPTH} deep; "
            "the file is damaged or was not made by `explainer capture`"
        )
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise TraceError(f"{path} is not a mnist-explainer trace (format {header!r:.60})")
    return header


def _reason(value: Any, path: Path) -> str | None:
    """The header's ``not_a_digit``: a reason, or None (also for a file older than it)."""
    if value is None or isinstance(value, str):
        return value or None
    raise TraceError(
        f"{path}: trace field not_a_digit is {value!r:.40}; expected a reason in words or null"
    )


_LAYOUT_NAMES = {
    "view": "reshape (view)", "reshape": "reshape", "permute": "permute axes",
    "transpose": "swap axes", "swapaxes": "swap axes", "t": "transpose", "T": "transpose",
    "mT": "transpose", "contiguous": "contiguous copy", "clone": "copy", "detach": "copy",
    "data": "copy", "to": "copy", "float": "copy", "cpu": "copy", "type_as": "copy",
}  # fmt: skip

_ACTIVATION_NAMES = {
    "relu": "ReLU", "relu_": "ReLU", "tanh": "tanh", "sigmoid": "sigmoid", "gelu": "GELU",
    "silu": "SiLU", "leaky_relu": "leaky ReLU", "LeakyReLU": "leaky ReLU", "elu": "ELU",
    "relu6": "ReLU6", "Tanh": "tanh", "Sigmoid": "sigmoid",
}  # fmt: skip


@dataclass(repr=False)  # TraceDisplay's short repr, not every array
class Trace(TraceDisplay):
    """One forward pass, captured. See the module docstring.

    Example:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from explainer import Trace, capture, load_checkpoint, load_sample
    >>> model = load_checkpoint("mnist_fast_cnn").model
    >>> trace = capture(model, load_sample().floats()[0, 0], label=0)
    >>> [record.name for record in trace.layers][:3]
    ['normalize', 'block1.conv1', 'block1.bn1']
    >>> trace.prediction
    0
    >>> path = Path(tempfile.mkdtemp()) / "trace.npz"
    >>> bool((Trace.load(trace.save(path)).logits == trace.logits).all())
    True
    """

    image: np.ndarray
    layers: list[LayerRecord]
    logits: np.ndarray
    class_names: list[str]
    label: int | None = None
    architecture: str = "custom"
    checkpoint: str = ""
    checkpoint_hash: str = ""
    dataset: str = "mnist"
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    not_a_digit: str | None = None

    @property
    def said_first(self) -> str:
        """What every view says before the answer when the picture does not look like a digit
        (:attr:`not_a_digit`, the reason, is set): :func:`~explainer.tracing.verdict.verdict_text`
        with the forced answer; ``""`` otherwise."""
        return verdict_text(self.predicted_name) if self.not_a_digit else ""

    @property
    def probs(self) -> np.ndarray:
        """``(K,)``, summing to 1: ``softmax(logits / temperature)``, the checkpoint's calibrated
        probability (:func:`explainer.nets.calibration.softmax_t`), the one every view shows."""
        from explainer.nets.calibration import softmax_t

        return softmax_t(self.logits, self.temperature)

    @property
    def probabilities(self) -> np.ndarray:
        """Same as :attr:`probs`."""
        return self.probs

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.logits))

    @property
    def confidence(self) -> float:
        return float(self.probs[self.prediction])

    @property
    def confidence_text(self) -> str:
        """The winning probability as a learner reads it ("> 99.9%", never a rounded "100.0%")."""
        from explainer.nets.calibration import confidence_text

        return confidence_text(self.confidence)

    @property
    def predicted_name(self) -> str:
        return self.class_names[self.prediction] if self.class_names else str(self.prediction)

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.label == self.prediction

    def names(self) -> list[str]:
        return [r.name for r in self.layers]

    def layer(self, name: str) -> LayerRecord:
        for r in self.layers:
            if r.name == name:
                return r
        raise TraceError(f"no layer {name!r} in this trace; it has: {', '.join(self.names())}")

    def of_kind(self, *kinds: str) -> list[LayerRecord]:
        return [r for r in self.layers if r.kind in kinds]

    @property
    def model_input(self) -> np.ndarray:
        """``(1, H, W)``: the tensor the model received (records name it ``"input"``)."""
        return self.image[None].astype(np.float32)

    def value(self, name: str) -> np.ndarray:
        """The output of record ``name``, or the model's input for ``"input"``."""
        return self.model_input if name == INPUT else self.layer(name).output

    def inputs_of(self, record: LayerRecord | str) -> list[np.ndarray]:
        """The arrays a record consumed, in its argument order."""
        rec = self.layer(record) if isinstance(record, str) else record
        return [self.value(n) for n in rec.inputs]

    def consumers(self, name: str) -> list[LayerRecord]:
        """The records that read ``name``'s output, in the order they ran."""
        return [r for r in self.layers if name in r.inputs]

    @property
    def title(self) -> str:
        """``"mnist_bn_cnn: label 7, predicted 7 (99.8%)"``, for figure titles."""
        who = self.checkpoint or self.architecture
        label = "" if self.label is None else f"label {self.class_names[self.label]}, "
        return f"{who}: {label}predicted {self.predicted_name} ({self.confidence_text})"

    def summary(self) -> str:
        """A plain-text table: one line per layer (name, kind, description, what it reads,
        output shape, value range), then the prediction."""
        rows = [("layer", "kind", "what it does", "reads", "output", "min", "max")]
        previous = INPUT
        for r in self.layers:
            lo, hi = (float(r.output.min()), float(r.output.max())) if r.output.size else (0, 0)
            reads = "↑" if r.inputs == [previous] else ", ".join(r.inputs)
            rows.append(
                (r.name, r.kind, r.description, reads, r.shape_text, f"{lo:.3g}", f"{hi:.3g}")
            )
            previous = r.name
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        from explainer.nets.calibration import confidence_text

        top = np.argsort(self.probs)[::-1][:3]
        best = ", ".join(f"{self.class_names[i]} {confidence_text(self.probs[i])}" for i in top)
        lines.append(f"{self.title}; top classes: {best}")
        if self.not_a_digit:
            lines.insert(0, f"{self.said_first} ({self.not_a_digit})")
        return "\n".join(lines)

    # --- files ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz`` arrays plus a JSON header, atomically."""
        header = {
            "format": FORMAT,
            "version": VERSION,
            "class_names": list(self.class_names),
            "label": None if self.label is None else int(self.label),
            "architecture": self.architecture,
            "checkpoint": self.checkpoint,
            "checkpoint_hash": self.checkpoint_hash,
            "dataset": self.dataset,
            "source": self.source,
            "meta": self.meta,
            "temperature": float(self.temperature),
            "not_a_digit": self.not_a_digit,
            "layers": [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "params": r.params,
                    "input_shape": list(r.input_shape),
                    "inputs": list(r.inputs),
                    "arrays": sorted(r.arrays),
                    "has_weight": r.weight is not None,
                    "has_bias": r.bias is not None,
                }
                for r in self.layers
            ],
        }
        arrays = {
            "header": np.array(json.dumps(header, default=_plain)),
            "image": self.image,
            "logits": self.logits,
        }
        for i, r in enumerate(self.layers):
            arrays[f"out{i}"] = r.output
            if r.weight is not None:
                arrays[f"w{i}"] = r.weight
            if r.bias is not None:
                arrays[f"b{i}"] = r.bias
            for key, value in r.arrays.items():
                arrays[f"a{i}.{key}"] = value
        path = Path(path)
        with atomic_write(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read a file written by :meth:`save`; one-line :class:`TraceError` for anything else."""
        path = require_file(
            path, TraceError, what="trace", hint="make one with `explainer capture`"
        )
        try:  # sizes checked before reading (safe_npz), every field checked after (trace_checks)
            trace = cls._from_npz(open_bounded_npz(path, error=TraceError), path)
            validate_trace(trace, error=TraceError)
            return trace
        except TraceError:
            raise
        except (
            OSError, ValueError, KeyError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile, json.JSONDecodeError, OverflowError, RecursionError,
        ) as exc:  # fmt: skip
            first = (str(exc).splitlines() or [""])[0][:160]
            raise TraceError(
                f"{path} is not a readable mnist-explainer trace ({type(exc).__name__}: {first}); "
                "make one with `explainer capture`"
            ) from None

    @classmethod
    def _from_npz(cls, z: Any, path: Path) -> Trace:
        if "header" not in z.files:
            raise TraceError(f"{path} is not a mnist-explainer trace (no header)")
        header = _parse_header(str(z["header"]), path)
        version = header.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise TraceError(f"{path}: trace field version is {version!r:.40}; expected {VERSION}")
        if version > VERSION:
            raise TraceError(f"{path} was written by a newer mnist-explainer; upgrade to read it")
        if version < VERSION:
            raise TraceError(
                f"{path} is an old trace (format {version}) that does not record which layer "
                "feeds which; capture it again with `explainer capture <model> --out "
                f"{path.name}`"
            )
        layers = []
        for i, meta in enumerate(header["layers"]):
            layers.append(
                LayerRecord(
                    name=meta["name"],
                    kind=meta["kind"],
                    output=z[f"out{i}"],
                    params=meta.get("params", {}),
                    input_shape=tuple(meta.get("input_shape", ())),
                    weight=z[f"w{i}"] if meta.get("has_weight") else None,
                    bias=z[f"b{i}"] if meta.get("has_bias") else None,
                    inputs=[str(n) for n in meta["inputs"]],
                    arrays={str(k): z[f"a{i}.{k}"] for k in meta.get("arrays", [])},
                )
            )
        return cls(
            image=z["image"],
            layers=layers,
            logits=z["logits"],
            class_names=list(header["class_names"]),
            label=header.get("label"),  # checked by validate_trace, never coerced
            architecture=header.get("architecture", "custom"),
            checkpoint=header.get("checkpoint", ""),
            checkpoint_hash=header.get("checkpoint_hash", ""),
            dataset=header.get("dataset", "mnist"),
            source=header.get("source", ""),
            meta=dict(header.get("meta") or {}),
            temperature=header.get("temperature", 1.0),
            not_a_digit=_reason(header.get("not_a_digit"), path),
        )
