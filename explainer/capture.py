"""Capture every layer's activations with forward hooks, into a :class:`~explainer.trace.Trace`.

Works for every registered architecture and for any ``nn.Module``: the capturable layers are
its leaf modules (those without children), named by their module path (``block1.conv1``).
Hooks are registered inside ``try`` and always removed in ``finally``; the pass runs in eval
mode under ``torch.no_grad`` and the model's training flag is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from explainer.architectures import Normalize
from explainer.errors import ExplainerError
from explainer.trace import LayerRecord, Trace

_KINDS: list[tuple[tuple[type, ...], str]] = [
    ((Normalize,), "normalize"),
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), "conv"),
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm), "bn"),
    ((nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.ReLU6), "relu"),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), "pool"),
    ((nn.Dropout, nn.Dropout2d, nn.Dropout1d), "dropout"),
    ((nn.Flatten,), "flatten"),
    ((nn.Linear,), "linear"),
]


def layer_kind(module: nn.Module) -> str:
    """One of :data:`explainer.trace.KINDS` for a module."""
    for types, kind in _KINDS:
        if isinstance(module, types):
            return kind
    return "other"


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


def layer_params(module: nn.Module) -> dict[str, Any]:
    """Plain-typed settings a picture needs to label the layer."""
    kind = layer_kind(module)
    p: dict[str, Any] = {"type": type(module).__name__}
    if isinstance(module, nn.Conv2d):
        p |= {
            "in_channels": module.in_channels,
            "out_channels": module.out_channels,
            "kernel_size": _pair(module.kernel_size),
            "stride": _pair(module.stride),
            "padding": _pair(module.padding),
        }
    elif isinstance(module, nn.Linear):
        p |= {"in_features": module.in_features, "out_features": module.out_features}
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        p |= {
            "mode": "max" if isinstance(module, nn.MaxPool2d) else "average",
            "kernel_size": _pair(module.kernel_size),
            "stride": _pair(module.stride or module.kernel_size),
            "padding": _pair(module.padding),
        }
    elif kind == "dropout":
        p["p"] = float(module.p)
    elif kind == "relu":
        p["function"] = type(module).__name__
    elif isinstance(module, Normalize):
        p |= {"mean": float(module.mean), "std": float(module.std)}
    elif kind == "bn" and hasattr(module, "num_features"):
        p["num_features"] = int(module.num_features)
    return p


def layer_names(model: nn.Module) -> list[str]:
    """The module paths :func:`capture` accepts: every leaf module, in registration order."""
    return [name for name, m in model.named_modules() if name and not list(m.children())]


def _check_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    valid = layer_names(model)
    if layers is None:
        return valid
    bad = [name for name in layers if name not in valid]
    if bad:
        raise ValueError(f"unknown layer(s) {', '.join(map(repr, bad))}; valid names: {', '.join(valid)}")
    return list(layers)


class _BadImage(ExplainerError, ValueError):
    pass


def as_batch(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(28, 28)``, ``(1, 28, 28)`` or ``(N, 1, 28, 28)`` in [0, 1] (or uint8 0-255) to a
    float ``(N, 1, H, W)`` tensor."""
    x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.float()
    while x.dim() < 4:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise _BadImage(f"expected an image of shape (H, W) or (N, 1, H, W), got {tuple(x.shape)}")
    return x


@torch.no_grad()
def _run_hooked(
    model: nn.Module, x: torch.Tensor, names: Sequence[str], on_output: Callable[[str, nn.Module, Any, Any], None]
) -> torch.Tensor:
    modules = dict(model.named_modules())
    handles = []
    was_training = model.training
    try:
        for name in names:
            module = modules[name]
            handles.append(module.register_forward_hook(lambda m, i, o, n=name: on_output(n, m, i, o)))
        model.eval()
        return model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


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
) -> Trace:
    """Run one forward pass of ``image`` (``(28, 28)`` in [0, 1]) and record ``layers``
    (default: all of :func:`layer_names`). Only the layers asked for are copied."""
    names = _check_layers(model, layers)
    x = as_batch(image)[:1]
    records: dict[str, LayerRecord] = {}
    order: list[str] = []

    def on_output(name: str, module: nn.Module, inputs: Any, output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            return
        key = name if name not in records else f"{name}#{sum(k.split('#')[0] == name for k in records) + 1}"
        weight = bias = None
        if with_weights and layer_kind(module) in ("conv", "linear"):
            weight = module.weight.detach().cpu().numpy().copy()
            bias = None if module.bias is None else module.bias.detach().cpu().numpy().copy()
        inp = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        records[key] = LayerRecord(
            name=key,
            kind=layer_kind(module),
            output=output.detach()[0].float().cpu().numpy().copy(),
            params=layer_params(module),
            input_shape=tuple(inp.shape[1:]) if inp is not None else (),
            weight=weight,
            bias=bias,
        )
        order.append(key)

    logits = _run_hooked(model, x, names, on_output)
    logits_np = logits.detach()[0].float().cpu().numpy().copy()
    return Trace(
        image=x[0, 0].cpu().numpy().astype(np.float32),
        layers=[records[k] for k in order],
        logits=logits_np,
        class_names=list(class_names) if class_names else [str(i) for i in range(len(logits_np))],
        label=None if label is None else int(label),
        architecture=architecture or getattr(model, "arch_name", type(model).__name__),
        checkpoint=checkpoint,
        checkpoint_hash=checkpoint_hash,
        dataset=dataset,
        source=source,
    )


def capture_checkpoint(ckpt, image: np.ndarray | torch.Tensor, **kwargs: Any) -> Trace:
    """:func:`capture` with the metadata of a loaded :class:`~explainer.checkpoints.Checkpoint`."""
    return capture(
        ckpt.model,
        image,
        class_names=ckpt.class_names,
        architecture=ckpt.architecture,
        checkpoint=ckpt.name,
        checkpoint_hash=ckpt.sha256 if ckpt.path else "",
        dataset=ckpt.dataset,
        **kwargs,
    )
