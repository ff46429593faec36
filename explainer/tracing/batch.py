"""Many images through a model at once: per-layer statistics (or every output) without keeping
every map of every image.

>>> stats = capture_batch(model, images, reduce="stats")   # per-channel mean / max / zeros
>>> stats["block1.relu1"].zero_fraction            # (C,)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from explainer.tracing.capture import (
    BadImageError,
    LayerNameError,
    as_batch,
    check_layers,
    device_of,
    record_pass,
)
from explainer.tracing.layers import plan_of

__all__ = ["BatchCapture", "ChannelStats", "capture_batch"]


def _join(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


@dataclass
class ChannelStats:
    """One layer's activations over ``count`` images, per channel.

    A "channel" is a feature map of a ``(C, H, W)`` output (statistics over images and
    positions) or one unit of an ``(F,)`` output (statistics over images). ``mean``, ``max``,
    ``min`` and ``zero_fraction`` (share of values exactly 0, the "dead" share after a ReLU) are
    ``(C,)``; ``shape`` is one image's output shape."""

    name: str
    kind: str
    shape: tuple[int, ...]
    mean: np.ndarray
    max: np.ndarray
    min: np.ndarray
    zero_fraction: np.ndarray
    count: int

    @property
    def channels(self) -> int:
        return len(self.mean)

    @property
    def dead(self) -> np.ndarray:
        """``(C,)`` bool: channels that were 0 for every image and position."""
        return self.zero_fraction >= 1.0


@dataclass
class BatchCapture:
    """What :func:`capture_batch` returns: ``values[name]`` per layer (a :class:`ChannelStats`,
    an ``(N, ...)`` array, or what a custom reduce made), the ``(N, K)`` logits and ``count``."""

    values: dict[str, Any]
    logits: np.ndarray
    count: int

    def __getitem__(self, name: str) -> Any:
        if name not in self.values:
            raise LayerNameError(f"no layer {name!r} captured; have: {', '.join(self.values)}")
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def predictions(self) -> np.ndarray:
        """``(N,)`` arg-max class of each image."""
        return self.logits.argmax(1)


class _StatsAccumulator:
    """Running per-channel sums, maxima, minima and zero counts (float64 sums)."""

    def __init__(self) -> None:
        self.total = self.zeros = self.max = self.min = None
        self.values_per_channel = 0
        self.shape: tuple[int, ...] = ()

    def add(self, out: torch.Tensor) -> None:
        """Fold in one batch ``(N, C, H, W)`` or ``(N, F)``.

        Reductions run over the contiguous position axis first, then over images: several
        times faster than reducing both axes at once, and far faster than ``count_nonzero``."""
        self.shape = tuple(out.shape[1:])
        t = out.reshape(out.shape[0], out.shape[1], -1) if out.dim() > 2 else out[:, :, None]
        total = t.sum(2).sum(0, dtype=torch.float64)
        mx, mn = t.amax(2).amax(0), t.amin(2).amin(0)
        signs = torch.sign(t)
        if bool((mn < 0).any()):
            signs.abs_()
        nonzero = signs.sum(2).sum(0, dtype=torch.float64)
        per_channel = t.shape[0] * t.shape[2]
        zeros = per_channel - nonzero
        if self.total is None:
            self.total, self.zeros, self.max, self.min = total, zeros, mx, mn
        else:
            self.total += total
            self.zeros += zeros
            self.max = torch.maximum(self.max, mx)
            self.min = torch.minimum(self.min, mn)
        self.values_per_channel += per_channel

    def result(self, name: str, kind: str, count: int) -> ChannelStats:
        n = max(self.values_per_channel, 1)
        return ChannelStats(
            name=name,
            kind=kind,
            shape=self.shape,
            mean=(self.total / n).float().cpu().numpy(),
            max=self.max.float().cpu().numpy(),
            min=self.min.float().cpu().numpy(),
            zero_fraction=(self.zeros.double() / n).float().cpu().numpy(),
            count=count,
        )


Reduce = Callable[[torch.Tensor], torch.Tensor]


def capture_batch(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    layers: Sequence[str] | str | None = None,
    reduce: str | Reduce = "stats",
    *,
    batch_size: int = 256,
) -> BatchCapture:
    """Run ``images`` (``(N, 1, 28, 28)`` floats in [0, 1], or ``(N, 28, 28)`` uint8) through
    ``model`` in batches, hooking ``layers`` (default: all), and keep per layer:

    - ``reduce="stats"``: a :class:`ChannelStats` (per-channel mean, max, min, share of zeros);
    - ``reduce="none"``: every output, as one ``(N, ...)`` float32 array (not copied when
      all images fit in one batch, so a pass-through layer such as eval-mode dropout shares
      its array with the layer before it: copy before writing into one);
    - ``reduce=f``: ``f(output)`` for each batch (a tensor whose first axis is the batch,
      e.g. ``lambda t: t.amax(dim=(2, 3))``), concatenated into an ``(N, ...)`` array.

    Memory stays at one batch of maps plus what ``reduce`` keeps. Eval mode, no grad, hooks
    removed and modes restored as in :func:`capture`."""
    plan = plan_of(model)
    wanted = check_layers(model, layers)
    x_all = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if len(x_all) == 0:
        raise BadImageError("capture_batch needs at least one image")
    if reduce not in ("stats", "none") and not callable(reduce):
        raise ValueError(f"reduce must be 'stats', 'none' or a function, got {reduce!r}")
    acc: dict[str, _StatsAccumulator] = {}
    parts: dict[str, list[torch.Tensor]] = {}
    kinds: dict[str, str] = {}

    def take(name: str, output: torch.Tensor) -> Any:
        if reduce == "stats":
            return acc.setdefault(name, _StatsAccumulator()).add(output)
        return output if reduce == "none" else reduce(output)

    device = device_of(model)
    logits = []
    for i in range(0, len(x_all), batch_size):
        x = as_batch(x_all[i : i + batch_size]).to(device)
        out, events = record_pass(model, plan, x, wanted, take)
        logits.append(out.detach().float().cpu())
        for e in events:
            kinds[e.name] = e.kind
            if reduce != "stats":
                parts.setdefault(e.name, []).append(e.output.detach().float().cpu())
    count = len(x_all)
    if reduce == "stats":
        values: dict[str, Any] = {n: acc[n].result(n, kinds[n], count) for n in kinds}
    else:
        # one batch: its outputs as they are (no copy); several: one copy into one array
        values = {n: _join(p).numpy() for n, p in parts.items()}
    return BatchCapture(values=values, logits=torch.cat(logits).numpy(), count=count)
