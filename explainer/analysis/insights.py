"""What is inside a trained network, measured over many digits. Data first, pictures second.

Each question has a function returning plain data (numpy arrays in small dataclasses) and a
``plot_*`` function returning a matplotlib ``Figure``:

- :func:`activation_strength` / :func:`plot_activation_strength`: how strongly each layer and
  each channel responds over the test digits, and how many channels never fire ("dead");
- :func:`top_activating` / :func:`plot_top_activating`: for each conv channel, the digits that
  excite it most, with the patch (the channel's receptive field) that did;
- :func:`embedding` / :func:`plot_embedding`: the penultimate layer of N digits projected to
  2-D with PCA or t-SNE, coloured by class, mistakes marked;
- :func:`evolution` / :func:`plot_evolution`: one digit captured through every epoch snapshot;
- :func:`snapshot_paths`: where a checkpoint's epoch snapshots are; :func:`training_evolution`:
  what the training animation draws of them (a Trace, the first layer's weights, the digit's
  values after it and a confusion matrix per snapshot).

Everything takes images as ``(N, 1, 28, 28)`` floats in [0, 1] or ``(N, 28, 28)`` uint8, e.g.
``load_sample().images`` (500 bundled digits, fast enough for the app on 2 CPU cores).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from explainer.errors import ExplainerError
from explainer.tracing.capture import (
    ChannelStats,
    as_batch,
    capture_batch,
    capture_checkpoint,
    modules_in_eval_mode,
)
from explainer.tracing.layers import plan_of
from explainer.tracing.trace import Trace

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if len(x) == 0:
        raise ExplainerError("no images given")
    return as_batch(x)


def _theme(name: str):
    from explainer.style import theme

    return theme(name)


# --- 1. activation strength -----------------------------------------------------------------


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
    x = _images(images)
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

    th = _theme(theme)
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
    _style_axes(ax, th)
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
        _style_axes(ax, th)
        _style_axes(twin, th)
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


def _style_axes(ax, th) -> None:
    ax.set_facecolor(th.background)
    ax.tick_params(colors=th.foreground, labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(th.muted)


# --- 2. the digits that excite a channel most -----------------------------------------------


@dataclass
class ReceptiveField:
    """Where output ``(i, j)`` of a layer looks in the input: rows ``start + i * jump`` to
    ``start + i * jump + size`` (exclusive), same for columns; ``start`` may be negative
    (padding) and boxes are clipped to the image."""

    size: int
    jump: int
    start: int

    def box(self, i: int, j: int, height: int = 28, width: int = 28) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)``, bottom/right exclusive, clipped to the image."""
        top, left = self.start + i * self.jump, self.start + j * self.jump
        return (
            max(top, 0),
            max(left, 0),
            min(top + self.size, height),
            min(left + self.size, width),
        )


def receptive_field(model: nn.Module, layer: str) -> ReceptiveField | None:
    """The receptive field of ``layer`` for networks that are chains of layers (every
    registered architecture); ``None`` for other models (then boxes come from gradients).

    Only square kernels, strides and paddings are supported; layers other than conv and
    pooling keep positions as they are."""
    model_ok = isinstance(model, nn.Sequential) and all(
        isinstance(m, nn.Sequential) or not m._modules for m in model.modules()
    )
    plan = plan_of(model)
    if not model_ok or layer not in plan.table:
        return None
    size, jump, start = 1, 1, 0
    for name in plan.names:
        module = plan.table[name][0]
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p, d = (
                _square(module.kernel_size),
                _square(module.stride or module.kernel_size),
                _square(module.padding),
                _square(getattr(module, "dilation", 1)),
            )
            if None in (k, s, p, d) or isinstance(module.padding, str):
                return None
            k = d * (k - 1) + 1
            start -= p * jump
            size += (k - 1) * jump
            jump *= s
        elif (
            isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten))
            and name != layer
        ):
            return None
        if name == layer:
            return ReceptiveField(size, jump, start)
    return None


def _square(v: Any) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return None
    v = tuple(v)
    return int(v[0]) if len(set(v)) == 1 else None


@dataclass
class TopActivations:
    """For each of ``channels`` of ``layer``: the ``k`` images that excite it most.

    ``indices``: ``(C, k)`` positions in the images given; ``values``: ``(C, k)`` the peak
    activation; ``positions``: ``(C, k, 2)`` the peak's (row, col) in the layer's map (0, 0
    for vector layers); ``boxes``: ``(C, k, 4)`` the input patch (top, left, bottom, right;
    bottom/right exclusive) that produced the peak; ``images``: ``(C, k, 28, 28)`` floats."""

    layer: str
    channels: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    images: np.ndarray
    labels: np.ndarray | None = None
    patch_size: int = 28

    def patches(self, channel_row: int = 0) -> list[np.ndarray]:
        """The cropped patches of one row (one channel), each ``(h, w)``."""
        return [
            img[t:b, le:r]
            for img, (t, le, b, r) in zip(
                self.images[channel_row], self.boxes[channel_row], strict=True
            )
        ]


def top_activating(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    layer: str,
    *,
    channels: Sequence[int] | None = None,
    k: int = 9,
    labels: np.ndarray | torch.Tensor | None = None,
    batch_size: int = 256,
) -> TopActivations:
    """The ``k`` images of ``images`` whose strongest response in each channel of ``layer`` is
    highest (default channels: all, at most 64), with the patch of the input that produced
    it: the receptive field of the peak position (analytic for chains of layers, from the
    gradient of that one activation otherwise)."""
    x = _images(images)
    plan = plan_of(model)
    if layer not in plan.table:
        raise ExplainerError(f"no layer {layer!r}; valid names: {', '.join(plan.names)}")

    def peak(t: torch.Tensor) -> torch.Tensor:
        flat = t.reshape(t.shape[0], t.shape[1], -1)
        v, i = flat.max(dim=2)
        return torch.stack([v, i.to(v.dtype)], dim=-1)  # (N, C, 2)

    got = capture_batch(model, x, [layer], reduce=peak, batch_size=batch_size)
    if layer not in got.values:
        raise ExplainerError(f"layer {layer!r} did not run in the forward pass")
    peaks = got[layer]  # (N, C, 2)
    n_channels = peaks.shape[1]
    chans = np.arange(min(n_channels, 64)) if channels is None else np.asarray(channels, int)
    if chans.size == 0 or chans.min() < 0 or chans.max() >= n_channels:
        raise ExplainerError(f"channels must be between 0 and {n_channels - 1}")
    k = max(1, min(k, len(x)))
    vals = peaks[:, chans, 0]  # (N, C)
    order = np.argsort(-vals, axis=0, kind="stable")[:k].T  # (C, k)
    values = np.take_along_axis(vals.T, order, axis=1)
    flat_pos = np.take_along_axis(peaks[:, chans, 1].T, order, axis=1).astype(int)

    shape = capture_batch(model, x[:1], [layer], reduce="none")[layer].shape[1:]
    width = shape[-1] if len(shape) == 3 else 1
    positions = np.stack([flat_pos // width, flat_pos % width], axis=-1)
    h, w = x.shape[-2:]
    rf = receptive_field(model, layer) if len(shape) == 3 else None
    boxes = np.zeros((len(chans), k, 4), int)
    for ci, c in enumerate(chans):
        for j in range(k):
            if len(shape) != 3:
                boxes[ci, j] = (0, 0, h, w)
            elif rf is not None:
                boxes[ci, j] = rf.box(*positions[ci, j], height=h, width=w)
            else:
                boxes[ci, j] = _gradient_box(model, x[order[ci, j]], layer, c, positions[ci, j])
    lab = None if labels is None else np.asarray(labels)[order]
    return TopActivations(
        layer=layer,
        channels=chans,
        indices=order,
        values=values.astype(np.float32),
        positions=positions,
        boxes=boxes,
        images=x[torch.from_numpy(order.ravel())][:, 0].numpy().reshape(len(chans), k, h, w),
        labels=lab,
        patch_size=rf.size if rf is not None else int(h),
    )


def _gradient_box(
    model: nn.Module, image: torch.Tensor, layer: str, channel: int, pos: np.ndarray
) -> tuple[int, int, int, int]:
    """Bounding box of the input pixels whose gradient on one activation is non-zero."""
    plan = plan_of(model)
    kept: list[torch.Tensor] = []
    owner = threading.get_ident()
    handle = plan.table[layer][0].register_forward_hook(
        lambda m, i, o: kept.append(o) if threading.get_ident() == owner else None
    )
    try:
        with modules_in_eval_mode(plan.modules), torch.enable_grad():
            xg = image[None].clone().requires_grad_(True)
            model(xg)
            (g,) = torch.autograd.grad(kept[0][0, channel, pos[0], pos[1]], xg)
    finally:
        handle.remove()
    rows, cols = np.nonzero(g[0, 0].abs().numpy() > 0)
    if not len(rows):
        return (0, 0, image.shape[-2], image.shape[-1])
    return (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)


def plot_top_activating(
    top: TopActivations,
    *,
    max_channels: int = 8,
    class_names: Sequence[str] | None = None,
    theme: str = "light",
) -> Figure:
    """One row per channel: its ``k`` most exciting digits, the patch that fired framed, the
    peak activation above each, and the top digit's patch enlarged at the end of the row."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from explainer.style import HIGHLIGHT_COLOR

    th = _theme(theme)
    rows = min(max_channels, len(top.channels))
    k = top.indices.shape[1]
    fig, axes = plt.subplots(
        rows,
        k + 1,
        figsize=(1.05 * (k + 1) + 0.8, 1.2 * rows + 0.9),
        facecolor=th.background,
        squeeze=False,
    )
    for r in range(rows):
        for j in range(k):
            ax = axes[r, j]
            ax.imshow(top.images[r, j], cmap="gray", vmin=0, vmax=1)
            t, le, b, ri = top.boxes[r, j]
            if (b - t, ri - le) != top.images.shape[-2:]:
                ax.add_patch(
                    Rectangle(
                        (le - 0.5, t - 0.5),
                        ri - le,
                        b - t,
                        fill=False,
                        edgecolor=HIGHLIGHT_COLOR,
                        linewidth=1.6,
                    )
                )
            lab = ""
            if top.labels is not None:
                lab = (class_names or [str(i) for i in range(10)])[int(top.labels[r, j])] + ": "
            ax.set_title(f"{lab}{top.values[r, j]:.2g}", fontsize=8, color=th.foreground, pad=2)
        axes[r, 0].set_ylabel(f"ch {top.channels[r]}", fontsize=9, color=th.foreground)
        t, le, b, ri = top.boxes[r, 0]
        axes[r, k].imshow(top.images[r, 0][t:b, le:ri], cmap="gray", vmin=0, vmax=1)
        axes[r, k].set_title("patch", fontsize=7, color=HIGHLIGHT_COLOR, pad=2)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_color(th.muted)
    fig.suptitle(
        f"{top.layer}: the digits that excite each channel most (number: peak activation; "
        f"frame: the {top.patch_size}×{top.patch_size} px patch the peak sees)",
        color=th.foreground,
        fontsize=10,
    )
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.02, top=1 - 0.75 / (1.2 * rows + 0.9))
    return fig


# --- 3. the embedding map -------------------------------------------------------------------


@dataclass
class Embedding:
    """``points``: ``(N, 2)``; ``labels``, ``predictions``, ``indices`` (into the images
    given): ``(N,)``; ``features``: the ``(N, D)`` vectors that were projected; ``layer``: where
    they came from; ``method``: "pca" or "tsne"; ``explained``: PCA's explained variance ratio
    of the two axes (empty for t-SNE)."""

    points: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    indices: np.ndarray
    features: np.ndarray
    layer: str
    method: str
    explained: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def wrong(self) -> np.ndarray:
        """``(N,)`` bool: misclassified digits."""
        return self.labels != self.predictions


def penultimate_layer(model: nn.Module) -> str:
    """The last linear layer's name: :func:`embedding` reads the vector that goes *into* it."""
    table = plan_of(model).table
    linear = [n for n, (m, _, _) in table.items() if isinstance(m, nn.Linear)]
    if not linear:
        raise ExplainerError("the model has no linear layer; pass layer= to embedding()")
    return linear[-1]


def features(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    layer: str | None = None,
    *,
    batch_size: int = 500,
) -> tuple[np.ndarray, np.ndarray, str]:
    """``(N, D)`` feature vectors and ``(N, K)`` logits. Default: the input of the last linear
    layer (the penultimate representation); else ``layer``'s output, flattened."""
    x = _images(images)
    plan = plan_of(model)
    if layer is not None:
        got = capture_batch(model, x, [layer], reduce=lambda t: t.flatten(1), batch_size=batch_size)
        return got[layer], got.logits, layer
    last = penultimate_layer(model)
    feats: list[torch.Tensor] = []
    logits = []
    owner = threading.get_ident()

    def keep(module: nn.Module, inp: Any) -> None:
        if threading.get_ident() == owner:
            feats.append(inp[0].detach().flatten(1).float().cpu().clone())

    handle = plan.table[last][0].register_forward_pre_hook(keep)
    try:
        with torch.no_grad(), modules_in_eval_mode(plan.modules):
            for i in range(0, len(x), batch_size):
                logits.append(model(x[i : i + batch_size]).float().cpu())
    finally:
        handle.remove()
    return torch.cat(feats).numpy(), torch.cat(logits).numpy(), f"input of {last}"


def embedding(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    method: str = "pca",
    n: int = 1000,
    *,
    layer: str | None = None,
    seed: int = 0,
    perplexity: float = 30.0,
) -> Embedding:
    """Project the penultimate vectors (see :func:`features`) of the first ``n`` images to 2-D
    with ``"pca"`` or ``"tsne"`` (scikit-learn; PCA to 50 dimensions first). t-SNE of 1,000
    digits takes a few seconds on 2 cores; the picked images are ``indices``."""
    if method not in ("pca", "tsne"):
        raise ExplainerError(f"unknown method {method!r}; use 'pca' or 'tsne'")
    x = _images(images)
    y = np.asarray(labels).astype(int)
    if len(y) != len(x):
        raise ExplainerError(f"{len(x)} images but {len(y)} labels")
    idx = np.arange(min(n, len(x)))
    feats, logits, where = features(model, x[idx], layer)
    feats = feats.astype(np.float32)
    explained = np.zeros(0, np.float32)
    if method == "pca" or len(idx) < 5:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(feats)
        points = pca.transform(feats)
        explained = pca.explained_variance_ratio_.astype(np.float32)
    else:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        reduced = feats
        dims = min(50, len(idx) - 1)
        if feats.shape[1] > dims:
            reduced = PCA(n_components=dims, random_state=seed).fit_transform(feats)
        from threadpoolctl import threadpool_limits

        # one thread: OpenMP's spinning threads slow t-SNE 10-70x on a busy 2-core machine
        with threadpool_limits(1):
            points = TSNE(
                n_components=2,
                perplexity=min(perplexity, (len(idx) - 1) / 3),
                init="pca",
                random_state=seed,
            ).fit_transform(reduced)
    return Embedding(
        points=points.astype(np.float32),
        labels=y[idx],
        predictions=logits.argmax(1),
        indices=idx,
        features=feats,
        layer=where,
        method=method,
        explained=explained,
    )


def plot_embedding(
    emb: Embedding,
    *,
    class_names: Sequence[str] | None = None,
    title: str = "",
    theme: str = "light",
) -> Figure:
    """Scatter of the 2-D points coloured by true class, each class's name at its centre,
    misclassified digits ringed in black with an ×, and a legend."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from explainer.style import CLASS_COLORS

    th = _theme(theme)
    names = list(class_names) if class_names else [str(i) for i in range(10)]
    fig, ax = plt.subplots(figsize=(8, 6.6), facecolor=th.background)
    for c in np.unique(emb.labels):
        sel = emb.labels == c
        ax.scatter(*emb.points[sel].T, s=12, color=CLASS_COLORS[c % 10], alpha=0.75, lw=0)
    wrong = emb.wrong
    ax.scatter(*emb.points[wrong].T, s=55, marker="x", color=th.foreground, lw=1.4)
    for c in np.unique(emb.labels):
        centre = np.median(emb.points[emb.labels == c], axis=0)
        ax.text(*centre, names[c], fontsize=15, weight="bold", ha="center", va="center",
                color=CLASS_COLORS[c % 10],
                bbox={"boxstyle": "round,pad=0.15", "fc": th.background, "ec": "none",
                      "alpha": 0.8})  # fmt: skip
    handles = [
        Line2D([], [], marker="o", ls="", color=CLASS_COLORS[c % 10], label=names[c])
        for c in np.unique(emb.labels)
    ]
    handles.append(
        Line2D(
            [],
            [],
            marker="x",
            ls="",
            color=th.foreground,
            label=f"misclassified ({int(wrong.sum())})",
        )
    )
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
              labelcolor=th.foreground, title="true class", title_fontsize=9)  # fmt: skip
    how = "PCA" if emb.method == "pca" else "t-SNE"
    if emb.method == "pca" and emb.explained.size == 2:
        ax.set_xlabel(f"PC 1 ({emb.explained[0]:.0%} of the variance)", color=th.foreground)
        ax.set_ylabel(f"PC 2 ({emb.explained[1]:.0%})", color=th.foreground)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE keeps neighbours close; distances between clusters mean little",
                      color=th.muted, fontsize=9)  # fmt: skip
    ax.set_title(
        title
        or f"{len(emb.points)} digits as the network sees them\n({emb.layer}: "
        f"{emb.features.shape[1]} numbers per digit, {how} to 2-D)",
        color=th.foreground,
        fontsize=11,
    )
    _style_axes(ax, th)
    fig.tight_layout()
    return fig


# --- 4. training evolution ------------------------------------------------------------------


def evolution(
    snapshot_paths: Sequence[str | os.PathLike],
    image: np.ndarray | torch.Tensor,
    *,
    label: int | None = None,
    layers: Sequence[str] | None = None,
    with_weights: bool = True,
) -> list[Trace]:
    """The same digit captured through each checkpoint in ``snapshot_paths`` (e.g.
    ``models/snapshots/mnist_bn_cnn_epoch00.pt`` ... then ``models/mnist_bn_cnn.pt``).

    Each Trace's ``meta`` holds ``epoch`` and, when the checkpoint recorded them,
    ``val_accuracy`` / ``train_loss`` of that epoch."""
    from explainer.nets.checkpoints import load_checkpoint

    if not snapshot_paths:
        raise ExplainerError("no snapshots given; train with --snapshot-epochs 0,1,2,5")
    traces = []
    for path in snapshot_paths:
        ckpt = load_checkpoint(path)
        meta: dict[str, Any] = {"epoch": int(ckpt.epoch)}
        for row in ckpt.history:
            if int(row.get("epoch", -1)) == ckpt.epoch:
                for key in ("val_accuracy", "val_acc", "train_loss", "val_loss"):
                    if key in row and isinstance(row[key], (int, float)):
                        meta[key] = float(row[key])
        traces.append(
            capture_checkpoint(
                ckpt, image, label=label, layers=layers, with_weights=with_weights, meta=meta
            )
        )
    return traces


def plot_evolution(
    traces: Sequence[Trace], *, layer: str | None = None, channels: int = 4, theme: str = "light"
) -> Figure:
    """One column per snapshot: the class probabilities (the true class, if known, in green),
    then the first ``channels`` feature maps of ``layer`` (default: the first conv layer) on
    one colour scale per row."""
    import matplotlib.pyplot as plt

    from explainer.style import CORRECT_COLOR, scale_for

    th = _theme(theme)
    if not traces:
        raise ExplainerError("no traces to plot")
    first = traces[0]
    if layer is None:
        from explainer.analysis.arith import first_conv

        conv = first_conv(first)
        layer = conv.name if conv is not None else None
    cols = len(traces)
    has_maps = layer is not None and all(layer in t.names() for t in traces)
    rows = 1 + (channels if has_maps else 0)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(1.9 * cols + 1.2, 1.9 + 1.25 * (rows - 1)),
        facecolor=th.background,
        squeeze=False,
        gridspec_kw={"height_ratios": [1.6] + [1] * (rows - 1)},
        layout="constrained",
    )
    k = len(first.class_names)
    for c, t in enumerate(traces):
        ax = axes[0, c]
        colors = [th.muted] * k
        if t.label is not None:
            colors[t.label] = CORRECT_COLOR
        ax.bar(range(k), t.probs, color=colors)
        ax.set_ylim(0, 1)
        ax.set_xticks(range(k), t.class_names if k <= 10 else [], fontsize=7)
        epoch = t.meta.get("epoch", c)
        acc = t.meta.get("val_accuracy")
        acc_text = f"\nval acc {acc:.1%}" if isinstance(acc, float) else ""
        ax.set_title(f"epoch {epoch}{acc_text}", color=th.foreground, fontsize=9)
        _style_axes(ax, th)
        if c:
            ax.set_yticklabels([])
        else:
            ax.set_ylabel("probability", fontsize=8, color=th.foreground)
    if has_maps:
        maps = [t.layer(layer).output for t in traces]
        for r in range(channels):
            row = [m[r] for m in maps if r < len(m)]
            if not row:
                break
            scale = scale_for(np.stack(row), first.layer(layer).kind)
            for c, m in enumerate(maps):
                ax = axes[r + 1, c]
                im = ax.imshow(m[r], cmap=scale.cmap, vmin=scale.vmin, vmax=scale.vmax)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r + 1, 0].set_ylabel(f"ch {r}", fontsize=8, color=th.foreground)
            bar = fig.colorbar(im, ax=list(axes[r + 1]), fraction=0.02, pad=0.01)
            bar.ax.tick_params(labelsize=7, colors=th.foreground)
            if r == 0:
                bar.set_label("activation\n(blue < 0 < red)", fontsize=7, color=th.foreground)
    fig.suptitle(
        f"The same digit through training ({first.architecture}; green bar: the true class"
        + (f"; below: {layer} maps, one colour scale per row" if has_maps else "")
        + ")",
        color=th.foreground,
        fontsize=10,
    )
    return fig


# --- 5. training evolution, as the animations draw it -------------------------------------


def snapshot_paths(checkpoint: Any, *, final: bool = True, strict: bool = True) -> list[Path]:
    """The epoch snapshots of a checkpoint (a :class:`~explainer.nets.checkpoints.Checkpoint`, a
    path or a shipped name): ``models/snapshots/<name>_epochNN.pt`` in epoch order, then
    (``final``) the checkpoint's own file. ``strict``: a one-line error when there are none
    (else an empty list). The one place that knows where snapshots live."""
    from explainer.nets.checkpoints import models_dir, resolve_checkpoint

    if hasattr(checkpoint, "model"):
        path = checkpoint.path
        stem = path.stem if path is not None else checkpoint.name
    else:
        path = resolve_checkpoint(checkpoint)
        stem = path.stem
    found = []
    for p in (models_dir() / "snapshots").glob(f"{stem}_epoch*.pt"):
        m = re.fullmatch(rf"{re.escape(stem)}_epoch(\d+)\.pt", p.name)
        if m:
            found.append((int(m.group(1)), p))
    if not found and strict:
        raise ExplainerError(
            f"no epoch snapshots of {stem} in {models_dir() / 'snapshots'}; train with "
            "`explainer train ... --snapshot-epochs 0,1,2,5` or pass --snapshots FILE..."
        )
    tail = [path] if final and found and path is not None and path.is_file() else []
    return [p for _, p in sorted(found)] + tail


@dataclass
class SnapshotView:
    """One snapshot as the training animation shows it: the digit's :class:`Trace`, the
    first layer's weights ``(K, h, w)`` (conv kernels, or a dense layer's 784 weights per unit
    as 28×28 templates), the digit's values after that layer's activation (``(C, H, W)`` maps
    or an ``(N,)`` vector), the confusion matrix ``(K, K)`` (rows: true class) and accuracy."""

    label: str
    epoch: int
    trace: Trace
    kernels: np.ndarray
    kernels_title: str
    maps: np.ndarray
    maps_title: str
    confusion: np.ndarray
    accuracy: float


@dataclass
class TrainingEvolution:
    """Every snapshot's :class:`SnapshotView`, oldest first, and the digits they were
    scored on (``test_set``, e.g. "the 500 bundled test digits")."""

    views: list[SnapshotView]
    test_set: str
    architecture: str


def first_layer_view(trace: Trace) -> tuple[np.ndarray, str, np.ndarray, str]:
    """``(weights, what they are, values after the first layer's path, what they are)``
    for the first conv layer of ``trace`` or, without one, its first dense layer."""
    from explainer.analysis.arith import first_conv, path_after

    first = first_conv(trace)
    if first is not None:
        w = first.weight
        kernels = w[:, 0] if w.shape[1] == 1 else w.mean(1)
        what = f"{first.name}: {len(kernels)} kernels of {'×'.join(map(str, kernels.shape[1:]))}"
    else:
        first = next((r for r in trace.layers if r.kind == "linear" and r.weight is not None), None)
        if first is None or first.weight.shape[1] != trace.image.size:
            raise ExplainerError(
                "the training view needs a conv layer or a dense layer reading every pixel"
            )
        kernels = first.weight.reshape(-1, *trace.image.shape)
        what = f"{first.name}: each unit's {first.weight.shape[1]} weights as a picture"
    after = [r for r in path_after(trace, first) if r.kind != "pool"]
    last = next((r for r in reversed(after) if r.kind == "relu"), after[-1] if after else first)
    how = f"after {last.description}" if last is not first else f"{first.name} output"
    return kernels.astype(np.float32), what, last.output, f"{last.name} ({how})"


def _snapshot_label(ck: Any, i: int) -> str:
    is_snapshot = ck.path is not None and "_epoch" in ck.path.name
    if is_snapshot or ck.path is None:
        return "epoch 0 (untrained)" if i == 0 and ck.epoch == 0 else f"epoch {ck.epoch}"
    return f"final (epoch {ck.epoch})"


def training_evolution(
    snapshots: Sequence[Any],
    image: np.ndarray | torch.Tensor,
    *,
    label: int | None = None,
    data_dir: str | os.PathLike | None = None,
    images: np.ndarray | torch.Tensor | None = None,
    labels: np.ndarray | torch.Tensor | None = None,
    predict: Callable[[Any], np.ndarray] | None = None,
) -> TrainingEvolution:
    """What the training animation draws, for each of ``snapshots`` (checkpoints or paths,
    oldest first): the digit ``image`` captured through it, its first layer's weights and
    the digit's values after that layer, and its confusion matrix on ``images``/``labels``
    (default: the test set when on disk, else the 500 bundled test digits). ``predict(ckpt)``,
    when given, returns a checkpoint's predictions on those digits (e.g. from
    :func:`explainer.analysis.cache.evaluation`) instead of running the model over them."""
    from explainer.nets.checkpoints import load_checkpoint
    from explainer.nets.inference import predict_logits
    from explainer.tracing.capture import capture_checkpoint

    if len(snapshots) < 2:
        raise ExplainerError("the training animation needs at least two snapshots")
    ckpts = [s if hasattr(s, "model") else load_checkpoint(s) for s in snapshots]
    where = f"{len(labels) if labels is not None else 0} given digits"
    if images is None or labels is None:
        from explainer.data import load_test_or_sample

        test, full = load_test_or_sample(ckpts[-1].dataset, data_dir)
        images, labels = test.floats(), test.labels
        where = f"the {len(labels)} {'test' if full else 'bundled test'} digits"
    x = _images(images)
    y = np.asarray(labels).astype(int)
    views = []
    for i, ck in enumerate(ckpts):
        tr = capture_checkpoint(ck, image, label=label)
        kernels, k_title, maps, m_title = first_layer_view(tr)
        pred = predict(ck) if predict else predict_logits(ck.model, x).argmax(1).numpy()
        k = len(ck.class_names) or int(pred.max()) + 1
        conf = np.zeros((k, k), dtype=np.int64)
        np.add.at(conf, (y, pred), 1)
        acc = float(np.trace(conf) / max(1, conf.sum()))
        views.append(SnapshotView(_snapshot_label(ck, i), int(ck.epoch), tr, kernels, k_title,
                                  maps, m_title, conf, acc))  # fmt: skip
    return TrainingEvolution(views, where, ckpts[-1].architecture)
