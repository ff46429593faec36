"""Digits as the network sees them: the penultimate layer of many digits projected to 2-D.

:func:`features` reads the vector each digit gives the last linear layer (or any layer's
output); :func:`embedding` projects them with PCA or t-SNE; :func:`plot_embedding` draws the
map coloured by class, mistakes marked.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from explainer.analysis.insights import figure_theme, image_batch, style_axes
from explainer.errors import ExplainerError
from explainer.tracing.batch import capture_batch
from explainer.tracing.capture import modules_in_eval_mode
from explainer.tracing.layers import plan_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    x = image_batch(images)
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
    x = image_batch(images)
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

    th = figure_theme(theme)
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
    style_axes(ax, th)
    fig.tight_layout()
    return fig
