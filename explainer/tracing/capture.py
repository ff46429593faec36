"""Capture one forward pass into a :class:`~explainer.tracing.trace.Trace`: a complete
dataflow graph.

Works for every registered architecture and for any ``nn.Module``. Its atomic modules (convs,
norms, activations, pooling, dense layers... see :mod:`explainer.tracing.layers`) become records
named by their module path (``block1.conv1``); the torch functions its own ``forward`` calls
between them (``F.relu``, ``F.max_pool2d``, ``x.view``, ``torch.flatten``, the ``+`` of a
residual block, ``torch.cat``) become records too (``relu``, ``layer1.add``...). Every
record names the records it consumed (``inputs``; ``"input"`` is the model's input), so any
record can be recomputed from its inputs (:func:`explainer.tracing.recompute.recompute`).

The pass runs once, in eval mode under ``torch.no_grad``; hooks are registered inside ``try``
and removed in ``finally``, and every module's training flag is restored afterwards.

>>> trace = capture(model, image)                  # image: (28, 28) floats in [0, 1]
>>> trace.layer("block1.conv1").output.shape       # (C, H, W)

Many images at once, keeping statistics instead of every map: :mod:`explainer.tracing.batch`.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from explainer.errors import ExplainerError
from explainer.nets.calibration import temperature_of
from explainer.tracing.layers import Plan, layer_kind, layer_params, plan_of, tensors_of
from explainer.tracing.recompute import warn_unreplayable
from explainer.tracing.recorder import INPUT, Event, Recorder, chain_applies, watching
from explainer.tracing.trace import LayerRecord, Trace

__all__ = [
    "BadImageError",
    "LayerNameError",
    "as_batch",
    "capture",
    "capture_checkpoint",
    "check_layers",
    "device_of",
    "eval_mode",
    "hooked",
    "layer_kind",
    "layer_names",
    "layer_params",
    "modules_in_eval_mode",
    "record_pass",
]  # fmt: skip


class LayerNameError(ExplainerError, ValueError):
    """A layer name the model does not have (the message lists the valid ones)."""


class BadImageError(ExplainerError, ValueError):
    """An image of the wrong shape or range."""


_BadImage = BadImageError  # old private name, kept for callers of the first version


def layer_names(model: nn.Module) -> list[str]:
    """The record names :func:`capture` produces for a 28×28 digit, in the order they run
    (for a tree of ``nn.Sequential`` containers: its atomic modules in registration order;
    otherwise found once by a pass over a blank digit and cached)."""
    plan = plan_of(model)
    if plan.sequential:
        return plan.names
    probed = _PROBED.get(model)
    if probed is None or probed[0] is not plan:
        x = torch.zeros(1, 1, 28, 28, device=device_of(model))
        _, events = record_pass(model, plan, x, None, None)
        probed = (plan, [e.name for e in events])
        _PROBED[model] = probed
    return list(probed[1])


_PROBED: weakref.WeakKeyDictionary[nn.Module, tuple[Plan, list[str]]] = weakref.WeakKeyDictionary()


def check_layers(model: nn.Module, layers: Sequence[str] | str | None) -> set[str] | None:
    """``None`` (every record) or the set of wanted record names, checked."""
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = [layers]
    valid = layer_names(model)
    bad = [name for name in layers if name not in valid]
    if bad:
        raise LayerNameError(
            f"unknown layer(s) {', '.join(map(repr, bad))}; valid names: {', '.join(valid)}"
        )
    return set(layers)


def as_batch(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An image to the float ``(N, 1, H, W)`` tensor every model takes.

    Accepts ``(H, W)``, ``(1, H, W)``, ``(N, H, W)`` or ``(N, C, H, W)``, as floats in [0, 1] or
    ``uint8`` in 0-255 (divided by 255 here). Floats that look like 0-255 values are refused
    with a message saying to divide by 255."""
    if isinstance(image, np.ndarray) and image.ndim == 2 and image.dtype == np.float32:
        return _one_float_image(image)  # the common case, without a dozen torch calls
    x = image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
    shape = tuple(x.shape)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.dtype == torch.bool or not (x.is_floating_point() or x.dtype in _INT_TYPES):
        raise BadImageError(f"expected a numeric image, got dtype {x.dtype}")
    x = x.float()
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[0] == 0:
        raise BadImageError(f"expected an image of shape (H, W) or (N, 1, H, W), got {shape}")
    if x.numel() and float(x.max()) > 2.0:
        raise BadImageError(
            f"image values go up to {float(x.max()):g}, but models take floats in [0, 1]: "
            "divide 0-255 pixel values by 255 (or pass a uint8 array)"
        )
    return x


_INT_TYPES = (torch.int8, torch.int16, torch.int32, torch.int64)


def _one_float_image(image: np.ndarray) -> torch.Tensor:
    """A ``(H, W)`` float32 array as a ``(1, 1, H, W)`` tensor of its own (a copy: a model
    that changes its input in place must not change the caller's array)."""
    if image.size and float(image.max()) > 2.0:
        raise BadImageError(
            f"image values go up to {float(image.max()):g}, but models take floats in [0, 1]: "
            "divide 0-255 pixel values by 255 (or pass a uint8 array)"
        )
    return torch.from_numpy(image.reshape(1, 1, *image.shape).copy())


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode for the block, then restore each one's own flag
    (also when the block raises). Costs nothing for a model already in eval mode."""
    with modules_in_eval_mode(plan_of(model).modules):
        yield model


@contextlib.contextmanager
def modules_in_eval_mode(modules: list[nn.Module]) -> Iterator[None]:
    """Put exactly these modules in eval mode for the block, then restore each one's flag."""
    changed = [m for m in modules if m.training]
    try:
        for m in changed:
            m.training = False
        yield
    finally:
        for m in changed:
            m.training = True


@contextlib.contextmanager
def hooked(
    model: nn.Module, hooks: dict[str, Callable[..., Any]], *, pre: bool = False
) -> Iterator[nn.Module]:
    """Register ``{module path: hook}`` forward hooks (``pre=True``: forward pre-hooks) on the
    named modules for the block; they are removed on exit, also when the block raises."""
    named = plan_of(model).named
    handles = []
    try:
        for name, fn in hooks.items():
            m = named[name]
            handles.append(m.register_forward_pre_hook(fn) if pre else m.register_forward_hook(fn))
        yield model
    finally:
        for h in handles:
            h.remove()


def record_pass(
    model: nn.Module,
    plan: Plan,
    x: torch.Tensor,
    wanted: set[str] | None,
    take: Callable[[str, torch.Tensor], Any] | None,
) -> tuple[Any, list[Event]]:
    """One eval-mode, no-grad pass, recorded (see :mod:`explainer.tracing.recorder`).

    Outputs are kept as views, except those a later in-place operation (``ReLU(inplace=True)``,
    ``x += y``) changed in an earlier pass of this plan, which are copied the moment they are
    made. When a kept view was changed all the same (its version counter moved), the pass is
    repeated with a copy of every record (and the plan remembers which ones changed), so
    records are always right. Only passes run by the calling thread are recorded: the app
    shares one model between sessions."""
    chained = chain_applies(plan)
    for clone in (plan.copies, True):
        rec = Recorder(plan, x, take=take, wanted=wanted, clone=clone)
        with torch.no_grad(), modules_in_eval_mode(plan.modules):
            if chained:
                out = rec.run_chain(x)
            else:
                with watching(rec):
                    out = model(x)
        changed = rec.changed()
        if clone is True or not changed:
            return out, rec.events
        plan.copies = plan.copies | changed
    raise AssertionError("unreachable")


def _records(
    events: list[Event], plan: Plan, with_weights: bool, input_shape: tuple[int, ...]
) -> list[LayerRecord]:
    """The :class:`LayerRecord` of each event of a batch-of-one pass, with its input's shape
    (``input_shape``: the model input's, without the batch axis). One loop with its lookups
    held in locals: it runs for every record of every capture."""
    records, shapes, keys_of = [], {INPUT: input_shape}, plan.tensors
    add, frozen = records.append, _frozen_numpy
    for event in events:
        m = event.module
        if m is None:
            tensors = event.tensors
        else:
            keys = keys_of[id(m)]
            tensors = tensors_of(m, keys) if keys else None
        weight = bias = None
        arrays = {}
        if tensors:
            for k, t in tensors.items():
                if k == "weight":
                    weight = frozen(t) if with_weights else None
                elif k == "bias":
                    bias = frozen(t) if with_weights else None
                else:
                    arrays[k] = frozen(t)
        output = _output_array(event.output)
        inputs = event.inputs
        add(
            LayerRecord(
                name=event.name,
                kind=event.kind,
                output=output,
                params=dict(event.params),
                input_shape=shapes.get(inputs[0], ()) if inputs else (),
                inputs=inputs,
                weight=weight,
                bias=bias,
                arrays=arrays,
            )
        )
        shapes[event.name] = output.shape
    return records


def _first(t: torch.Tensor) -> np.ndarray:
    """``t[0]`` as a float32 numpy array (a view when ``t`` is a CPU float32 tensor); ``[0, ...]``
    keeps one value per image a 0-d array, where ``[0]`` would give a numpy scalar."""
    try:
        arr = t.numpy()[0, ...]  # a CPU tensor outside autograd: a view, the fast path
    except (RuntimeError, TypeError):
        arr = t.detach().cpu().numpy()[0, ...]
    return arr if arr.dtype == _FLOAT32 else arr.astype(np.float32)


_FLOAT32 = np.dtype(np.float32)


def _output_array(t: torch.Tensor) -> np.ndarray:
    """The first image's output as a read-only float32 array. No copy is needed: after the
    pass only the record holds the tensor, and in-place changes were ruled out (or the pass
    redone with copies); records of the same tensor (eval-mode dropout) share one array."""
    try:
        arr = t.numpy()[0, ...]  # the fast path of _first, inlined: it runs for every record
    except (RuntimeError, TypeError):
        arr = _first(t)
    if arr.dtype != _FLOAT32:
        arr = arr.astype(np.float32)
    arr.flags.writeable = False
    return arr


def capture(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    label: int | None = None,
    with_weights: bool = True,
    class_names: Sequence[str] | None = None,
    architecture: str | None = None,
    checkpoint: str = "",
    checkpoint_hash: str = "",
    dataset: str = "mnist",
    source: str = "",
    meta: dict[str, Any] | None = None,
    temperature: float = 1.0,
) -> Trace:
    """Run one forward pass of ``image`` and record it into a :class:`Trace` (``layers``: only
    these record names, see :func:`layer_names`; default: every record).

    ``image`` is ``(28, 28)`` in [0, 1] (see :func:`as_batch` for other forms; only the first
    image of a batch is used). Each record's ``output`` is ``(C, H, W)`` or ``(F,)``; conv,
    linear and norm records carry ``weight``/``bias`` when ``with_weights`` (read-only arrays
    shared between traces while the weights do not change), batch norm its running
    statistics in ``arrays``. A module that runs twice is recorded twice (``name``,
    ``name#2``). Unknown layer names raise :class:`LayerNameError` (a ``ValueError``) listing
    the valid names. ``temperature`` is the model's calibration temperature: the Trace's
    ``probs`` are ``softmax(logits / temperature)`` (:func:`capture_checkpoint` passes the one
    stored in the checkpoint).

    Example:

    >>> from explainer import capture, load_checkpoint, load_sample
    >>> model = load_checkpoint("mnist_fast_cnn").model
    >>> digits = load_sample()
    >>> trace = capture(model, digits.floats()[0, 0], label=int(digits.labels[0]))
    >>> trace.layer("block1.conv1").output.shape
    (16, 14, 14)
    >>> trace.layer("block1.bn1").inputs
    ['block1.conv1']
    """
    plan = plan_of(model)
    wanted = check_layers(model, layers)
    x, device = as_batch(image), _device(plan)
    x = x[:1] if len(x) > 1 else x
    x = x if x.device == device else x.to(device)
    logits, events = record_pass(model, plan, x, wanted, None)
    if not isinstance(logits, torch.Tensor):
        raise ExplainerError(f"the model returned {type(logits).__name__}, not a logits tensor")
    logits_np = _first(logits).copy()
    records = _records(events, plan, with_weights, tuple(x.shape[1:]))
    if not plan.sequential:  # a tree of nn.Sequential records atomic modules only
        warn_unreplayable(records)
    if class_names and len(class_names) != len(logits_np):
        raise ExplainerError(
            f"{len(class_names)} class names for a model with {len(logits_np)} outputs; give "
            "one name per output (save the checkpoint with class_names=[...])"
        )
    if label is not None and not 0 <= int(label) < len(logits_np):
        raise ExplainerError(
            f"label {int(label)} is not a class of this model: it has {len(logits_np)} outputs "
            f"(classes 0 to {len(logits_np) - 1}); give a label in that range, or none"
        )
    return Trace(
        image=_first(x)[0].copy(),
        layers=records,
        logits=logits_np,
        class_names=list(class_names) if class_names else [str(i) for i in range(len(logits_np))],
        label=None if label is None else int(label),
        architecture=architecture or getattr(model, "arch_name", type(model).__name__),
        checkpoint=checkpoint,
        checkpoint_hash=checkpoint_hash,
        dataset=dataset,
        source=source,
        meta=dict(meta or {}),
        temperature=float(temperature),
    )


_WEIGHTS: dict[int, tuple[weakref.ref, int, np.ndarray]] = {}


def _frozen_numpy(param: torch.Tensor) -> np.ndarray:
    """A read-only copy of a tensor, cached until it changes (its version counter moves on
    every in-place update: optimiser steps, ``load_state_dict``)."""
    key = id(param)
    cached = _WEIGHTS.get(key)
    if cached is not None and cached[0]() is param and cached[1] == param._version:
        return cached[2]
    arr = param.detach().float().cpu().numpy().copy()
    arr.flags.writeable = False
    try:
        ref = weakref.ref(param, lambda _, key=key: _WEIGHTS.pop(key, None))
    except TypeError:
        return arr
    _WEIGHTS[key] = (ref, param._version, arr)
    return arr


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (else first buffer; else the CPU)."""
    return _device(plan_of(model))


def _device(plan: Plan) -> torch.device:
    """:func:`device_of` from the plan's modules, in the order ``model.parameters()`` gives
    them, without building its generators (it runs on every capture)."""
    modules = plan.modules
    for kind in ("_parameters", "_buffers"):
        for m in modules:
            for p in getattr(m, kind).values():
                if p is not None:
                    return p.device
    return torch.device("cpu")


def checkpoint_hash(ckpt: Any) -> str:
    """The checkpoint file's short sha256 (cached per file version by the checkpoint)."""
    return ckpt.sha256 if getattr(ckpt, "path", None) else ""


def capture_checkpoint(ckpt: Any, image: np.ndarray | torch.Tensor, **kwargs: Any) -> Trace:
    """:func:`capture` with the metadata of a loaded :class:`~explainer.nets.checkpoints.Checkpoint`
    (class names, architecture, checkpoint name and file hash, dataset); a shipped model's
    name or a checkpoint path is loaded first. ``kwargs`` go to
    :func:`capture` (``label``, ``source``, ``layers``, ``with_weights``, ``meta``...).

    Example:

    >>> from explainer import capture_checkpoint, load_checkpoint, load_sample
    >>> ckpt = load_checkpoint("mnist_fast_cnn")
    >>> trace = capture_checkpoint(ckpt, load_sample().floats()[0, 0], label=0)
    >>> trace.checkpoint, trace.architecture, trace.dataset
    ('mnist_fast_cnn', 'fast_cnn', 'mnist')
    """
    ckpt = _loaded(ckpt)
    meta = {"epoch": int(getattr(ckpt, "epoch", 0))}
    meta.update(kwargs.pop("meta", None) or {})
    return capture(
        ckpt.model,
        image,
        class_names=ckpt.class_names,
        architecture=ckpt.architecture,
        checkpoint=ckpt.name,
        checkpoint_hash=checkpoint_hash(ckpt),
        dataset=ckpt.dataset,
        meta=meta,
        temperature=temperature_of(getattr(ckpt, "raw", None) or {}),
        **kwargs,
    )


def _loaded(ckpt: Any) -> Any:
    """``ckpt`` itself when it is a loaded checkpoint; a name or path loaded; else one line."""
    if isinstance(ckpt, (str, os.PathLike)):
        from explainer.nets.checkpoints import load_checkpoint

        return load_checkpoint(ckpt)
    if not hasattr(ckpt, "model") or not hasattr(ckpt, "class_names"):
        raise ExplainerError(
            f"capture_checkpoint(ckpt=...) takes a checkpoint from load_checkpoint(), a shipped "
            f"model's name or a checkpoint path, not {type(ckpt).__name__}"
        )
    return ckpt
