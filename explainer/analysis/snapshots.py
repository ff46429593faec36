"""A network through training: one digit captured through each of its epoch snapshots.

:func:`snapshot_paths` finds a checkpoint's snapshots; :func:`evolution` /
:func:`plot_evolution` capture a digit through each and draw its probabilities and maps;
:func:`training_evolution` gives what the training animation draws of them (a Trace, the
first layer's weights, the digit's values after it and a confusion matrix per snapshot).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from explainer.analysis.insights import figure_theme, image_batch, style_axes
from explainer.errors import ExplainerError
from explainer.tracing.capture import capture_checkpoint
from explainer.tracing.trace import Trace

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def evolution(
    snapshot_paths: Sequence[str | os.PathLike],
    image: np.ndarray | torch.Tensor,
    *,
    label: int | None = None,
    layers: Sequence[str] | None = None,
    with_weights: bool = True,
    code: str | None = None,
) -> list[Trace]:
    """The same digit captured through each checkpoint in ``snapshot_paths`` (e.g.
    ``models/snapshots/mnist_bn_cnn_epoch00.pt`` ... then ``models/mnist_bn_cnn.pt``).
    ``code``: your own model class (``"my_net.py:Net"``), for every snapshot's load.

    Each Trace's ``meta`` holds ``epoch`` and, when the checkpoint recorded them,
    ``val_accuracy`` / ``train_loss`` of that epoch."""
    from explainer.nets.checkpoints import load_checkpoint

    if not snapshot_paths:
        raise ExplainerError("no snapshots given; train with --snapshot-epochs 0,1,2,5")
    traces = []
    for path in snapshot_paths:
        ckpt = load_checkpoint(path, code=code)
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

    th = figure_theme(theme)
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
        style_axes(ax, th)
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


def snapshot_folders(path: Path | None) -> list[Path]:
    """Where the snapshots of the checkpoint file ``path`` may be: the ``snapshots/`` folder
    beside it (where ``explainer train --out FILE`` writes them), then ``models/snapshots/``
    (the shipped models'); each folder once."""
    from explainer.nets.checkpoints import models_dir

    folders = [path.parent / "snapshots"] if path is not None else []
    shipped = models_dir() / "snapshots"
    if not any(_same(f, shipped) for f in folders):
        folders.append(shipped)
    return folders


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def snapshot_paths(
    checkpoint: Any,
    *,
    final: bool = True,
    strict: bool = True,
    folder: str | os.PathLike | None = None,
) -> list[Path]:
    """The epoch snapshots of a checkpoint (a :class:`~explainer.nets.checkpoints.Checkpoint`, a
    path or a shipped name): ``<name>_epochNN.pt`` in epoch order from ``folder`` when given,
    else from the first of :func:`snapshot_folders` that holds any (``snapshots/`` beside the
    checkpoint, then ``models/snapshots/``), then (``final``) the checkpoint's own file.
    ``strict``: a one-line error when there are none (else an empty list). The one place that
    knows where snapshots live."""
    from explainer.nets.checkpoints import resolve_checkpoint

    if hasattr(checkpoint, "model"):
        path = checkpoint.path
        stem = path.stem if path is not None else checkpoint.name
    else:
        path = resolve_checkpoint(checkpoint)
        stem = path.stem
    folders = [Path(folder)] if folder is not None else snapshot_folders(path)
    found: list[tuple[int, Path]] = []
    for folder in folders:
        found = _epochs_in(folder, stem)
        if found:
            break
    if not found and strict:
        where = " or ".join(str(f) for f in folders)
        raise ExplainerError(
            f"no epoch snapshots of {stem} in {where}; train with "
            "`explainer train ... --snapshot-epochs 0,1,2,5` or pass --snapshots FILE..."
        )
    tail = [path] if final and found and path is not None and path.is_file() else []
    return [p for _, p in sorted(found)] + tail


def _epochs_in(folder: Path, stem: str) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every ``<stem>_epochNN.pt`` in ``folder``."""
    found = []
    for p in folder.glob(f"{glob_escape(stem)}_epoch*.pt"):
        m = re.fullmatch(rf"{re.escape(stem)}_epoch(\d+)\.pt", p.name)
        if m:
            found.append((int(m.group(1)), p))
    return found


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
    code: str | None = None,
) -> TrainingEvolution:
    """What the training animation draws, for each of ``snapshots`` (checkpoints or paths,
    oldest first): the digit ``image`` captured through it, its first layer's weights and
    the digit's values after that layer, and its confusion matrix on ``images``/``labels``
    (default: the test set when on disk, else the 500 bundled test digits). ``predict(ckpt)``,
    when given, returns a checkpoint's predictions on those digits (e.g. from
    :func:`explainer.analysis.results.evaluation`) instead of running the model over them.
    ``code``: your own model class (``"my_net.py:Net"``), for every snapshot loaded from a
    path."""
    from explainer.nets.checkpoints import load_checkpoint
    from explainer.nets.inference import predict_logits
    from explainer.tracing.capture import capture_checkpoint

    if len(snapshots) < 2:
        raise ExplainerError("the training animation needs at least two snapshots")
    ckpts = [s if hasattr(s, "model") else load_checkpoint(s, code=code) for s in snapshots]
    where = f"{len(labels) if labels is not None else 0} given digits"
    if images is None or labels is None:
        from explainer.data import load_test_or_sample

        test, full = load_test_or_sample(ckpts[-1].dataset, data_dir)
        images, labels = test.floats(), test.labels
        where = f"the {len(labels)} {'test' if full else 'bundled test'} digits"
    x = image_batch(images)
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
