"""How strongly each layer and each channel of a trained network responds over many digits.

:func:`activation_strength` gives per-channel mean / max / share of zeros of the activation
layers over the digits (which channels never fire: "dead"); :func:`plot_activation_strength`
draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from explainer.analysis.insights import figure_theme, image_batch, style_axes
from explainer.errors import ExplainerError
from explainer.tracing.batch import ChannelStats, capture_batch
from explainer.tracing.layers import plan_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class ActivationStrength:
    """Per-channel statistics of some layers over ``count`` images (see :class:`ChannelStats`:
    ``mean``, ``max``, ``min``, ``zero_fraction``, all ``(C,)``)."""

    layers: list[ChannelStats]
    count: int

    def layer(self, name: str) -> ChannelStats:
        for s in self.layers:
            if s.name == name:
                return s
        raise ExplainerError(f"no layer {name!r}; have {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.layers]

    @property
    def layer_means(self) -> np.ndarray:
        """``(L,)`` mean activation of each layer (over channels, positions and images)."""
        return np.array([float(s.mean.mean()) for s in self.layers], np.float32)

    @property
    def dead_fractions(self) -> np.ndarray:
        """``(L,)`` share of each layer's channels that were 0 for every image."""
        return np.array([float(s.dead.mean()) for s in self.layers], np.float32)


def default_activation_layers(model: nn.Module) -> list[str]:
    """The activation (ReLU-like) layers; for a network without any, its linear layers."""
    table = plan_of(model).table
    relus = [n for n, (_, kind, _) in table.items() if kind == "relu"]
    return relus or [n for n, (_, kind, _) in table.items() if kind == "linear"]


def activation_strength(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    batch_size: int = 256,
) -> ActivationStrength:
    """Per-channel mean / max / share of zeros of ``layers`` (default:
    :func:`default_activation_layers`) over ``images``, one batch of maps in memory at a time."""
    x = image_batch(images)
    names = list(layers) if layers else default_activation_layers(model)
    got = capture_batch(model, x, names, reduce="stats", batch_size=batch_size)
    return ActivationStrength([got[n] for n in names if n in got.values], got.count)


def plot_activation_strength(
    result: ActivationStrength, *, title: str = "", theme: str = "light", max_channels: int = 64
) -> Figure:
    """Top: each layer's mean activation (bars) and share of dead channels (red labels).
    Below: one row per layer, every channel's mean activation as a bar, strongest first,
    its maximum as a dot, dead channels marked."""
    import matplotlib.pyplot as plt

    from explainer.style import WRONG_COLOR

    th = figure_theme(theme)
    n = len(result.layers)
    fig = plt.figure(figsize=(10, 2.4 + 1.45 * n), facecolor=th.background)
    grid = fig.add_gridspec(n + 1, 1, height_ratios=[2.2] + [1.3] * n, hspace=0.75)
    ax = fig.add_subplot(grid[0])
    xs = np.arange(n)
    ax.bar(xs, result.layer_means, color=th.accent)
    for x, s, m in zip(xs, result.layers, result.layer_means, strict=True):
        dead = int(s.dead.sum())
        text = f"{dead}/{s.channels} dead" if dead else f"{s.channels} ch, none dead"
        ax.text(x, m, text, ha="center", va="bottom", fontsize=8,
                color=WRONG_COLOR if dead else th.muted)  # fmt: skip
    ax.set_xticks(xs, [s.name for s in result.layers], fontsize=8, rotation=0)
    ax.set_ylabel("mean activation", color=th.foreground)
    ax.set_title(
        title or f"Activation strength per layer over {result.count} digits",
        color=th.foreground,
        fontsize=12,
    )
    ax.set_ylim(0, float(result.layer_means.max()) * 1.3 + 1e-6)
    style_axes(ax, th)
    for i, s in enumerate(result.layers):
        ax = fig.add_subplot(grid[i + 1])
        order = np.argsort(-s.mean)[:max_channels]
        xs = np.arange(len(order))
        colors = [WRONG_COLOR if s.dead[c] else th.accent for c in order]
        ax.bar(xs, s.mean[order], color=colors, width=0.8)
        ax.set_xlim(-0.6, max(len(order), 8) - 0.4)
        ax.set_ylim(0, float(s.mean[order].max()) * 1.15 + 1e-9)
        ax.set_ylabel("mean", fontsize=8, color=th.accent)
        twin = ax.twinx()
        twin.plot(xs, s.max[order], "o", ms=3.5, color=th.foreground)
        twin.set_ylim(0, float(s.max[order].max()) * 1.15 + 1e-9)
        twin.set_ylabel("max", fontsize=8, color=th.muted)
        shown = "" if len(order) == s.channels else f", strongest {len(order)} of {s.channels}"
        zeros = float(np.nanmean(s.zero_fraction))
        dead = int(s.dead.sum())
        ax.set_title(
            f"{s.name} ({s.kind}, output {'×'.join(map(str, s.shape))}{shown}): "
            f"{zeros:.0%} of its values are 0" + (f", {dead} dead channels (red)" if dead else ""),
            color=th.foreground,
            fontsize=9,
            loc="left",
        )
        ax.set_xticks([])
        style_axes(ax, th)
        style_axes(twin, th)
        twin.spines["right"].set_visible(True)
        twin.spines["right"].set_color(th.muted)
    ax.set_xlabel(
        "channels, strongest first (bars: mean activation, left scale; dots: the largest value "
        "any digit reached, right scale)",
        fontsize=8,
        color=th.muted,
    )
    fig.subplots_adjust(top=0.93, bottom=0.05, left=0.08, right=0.93)
    return fig
