"""``training``: what changes while a network learns, across its epoch snapshots.

For each snapshot (``models/snapshots/<name>_epochNN.pt``, then the final checkpoint): the
first conv layer's kernels, one digit's feature maps after that layer's ReLU, and the confusion
matrix on the bundled 500 test digits (or the full test set when given), with the accuracy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explainer import style
from explainer.animate.canvas import Sketch, grid_boxes
from explainer.animate.reel import Paste, Reel
from explainer.errors import ExplainerError
from explainer.trace import Trace


def snapshot_paths(checkpoint) -> list[Path]:
    """``models/snapshots/<name>_epochNN.pt`` in epoch order, then the checkpoint itself."""
    from explainer.checkpoints import models_dir

    path = Path(checkpoint.path if hasattr(checkpoint, "path") else checkpoint)
    found = []
    for p in (models_dir() / "snapshots").glob(f"{path.stem}_epoch*.pt"):
        m = re.search(r"_epoch(\d+)\.pt$", p.name)
        if m:
            found.append((int(m.group(1)), p))
    if not found:
        raise ExplainerError(
            f"no epoch snapshots of {path.stem} in {models_dir() / 'snapshots'}; train with "
            "`explainer train ... --snapshot-epochs 0,1,2,5` or pass --snapshots FILE..."
        )
    return [p for _, p in sorted(found)] + [path]


@dataclass
class Snapshot:
    """One checkpoint's view: kernels ``(C, k, k)``, feature maps ``(C, H, W)``, confusion
    ``(K, K)`` (rows: true class), accuracy, and its epoch label."""

    label: str
    kernels: np.ndarray
    maps: np.ndarray
    confusion: np.ndarray
    accuracy: float


def _load(item):
    from explainer.checkpoints import load_checkpoint

    return item if hasattr(item, "model") else load_checkpoint(item)


def snapshot_views(snapshots, image: np.ndarray, images, labels) -> list[Snapshot]:
    """Compute each snapshot's kernels, maps of ``image`` and confusion on ``images``/``labels``."""
    from explainer.capture import capture
    from explainer.inference import predict_logits

    out = []
    for i, item in enumerate(snapshots):
        ck = _load(item)
        tr = capture(ck.model, image)
        convs = [r for r in tr.layers if r.kind == "conv" and r.weight is not None]
        if not convs:
            raise ExplainerError(f"{ck.name} has no conv layer; the training animation needs a CNN")
        first = tr.layers.index(convs[0])
        after = next((r for r in tr.layers[first:] if r.kind == "relu"), convs[0])
        kernels = convs[0].weight[:, 0]
        pred = predict_logits(ck.model, images).argmax(1).numpy()
        k = len(ck.class_names) or 10
        conf = np.zeros((k, k), dtype=np.int64)
        np.add.at(conf, (labels, pred), 1)
        epoch = ck.epoch if ck.path is None or "_epoch" in ck.path.name else None
        label = f"epoch {epoch}" if epoch is not None else f"final (epoch {ck.epoch})"
        if i == 0 and ck.epoch == 0 and "_epoch" in str(ck.path or ""):
            label = "epoch 0 (untrained)"
        out.append(
            Snapshot(label, kernels, after.output, conf, float(np.trace(conf) / max(1, conf.sum())))
        )
    return out


def build_training(
    trace: Trace,
    *,
    snapshots: list,
    fps: float = 10,
    seconds: float = 10,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
    data_dir: str | os.PathLike | None = None,
) -> Reel:
    """The training animation: ``snapshots`` are checkpoints or paths in training order;
    ``trace`` gives the digit whose feature maps are shown."""
    import torch

    from explainer.data import load_test_or_sample

    if len(snapshots) < 2:
        raise ExplainerError("the training animation needs at least two snapshots")
    test, full = load_test_or_sample(trace.dataset, data_dir)
    images = (
        test.images.float().div(255.0).unsqueeze(1)
        if test.images.dtype == torch.uint8
        else test.images
    )
    views = snapshot_views(snapshots, trace.image, images, test.labels.numpy())
    names = trace.class_names or [str(i) for i in range(10)]
    W, H = size
    u = min(W / 800, H / 450)
    t = style.theme(theme)
    kmax = max(float(np.abs(v.kernels).max()) for v in views)
    kscale = style.Scale(style.SIGNED_CMAP, -kmax, kmax, "weight")
    mmax = max(float(v.maps.max()) for v in views) or 1.0
    # at most 16 maps, big enough to read: the channels most active in the final model
    strength = views[-1].maps.reshape(len(views[-1].maps), -1).max(1)
    keep = sorted(np.argsort(strength)[::-1][:16].tolist())
    mscale = style.scale_for(np.array([0.0, mmax]), "relu")
    n = len(views)
    n_frames = round(fps * seconds)
    per = n_frames // n
    if per < 1:
        raise ExplainerError(f"{n_frames} frames are too few for {n} snapshots; use more --seconds")
    where = f"the {len(test.labels)} {'test' if full else 'bundled test'} digits"

    sheets = []
    for i, v in enumerate(views):
        sk = Sketch(size, theme)
        sk.text(16 * u, 18 * u, f"Training {trace.architecture}: {v.label}", 11.5, bold=True)
        sk.text(
            W - 16 * u,
            18 * u,
            f"accuracy {v.accuracy:.1%} on {where}",
            10,
            bold=True,
            anchor="rm",
            color=t.accent,
        )
        # timeline
        ty = 44 * u
        for j, w in enumerate(views):
            x0 = 16 * u + j * (W - 32 * u) / n
            x1 = 16 * u + (j + 1) * (W - 32 * u) / n - 4
            fill = t.accent if j == i else t.panel if j > i else style.hex_to_rgb(t.muted)
            sk.draw.rounded_rectangle((x0, ty - 8 * u, x1, ty + 8 * u), radius=4, fill=fill)
            sk.text(
                (x0 + x1) / 2,
                ty,
                w.label,
                7.5,
                anchor="mm",
                color="#ffffff" if j <= i else t.foreground,
                bold=j == i,
            )
        top = int(84 * u)
        # kernels
        col_w = int(238 * u)
        sk.text(16 * u, top - 12 * u, "conv1 kernels (learned weights)", 9, bold=True)
        kb = grid_boxes(
            len(v.kernels),
            v.kernels.shape[1:],
            (top, top + int(230 * u), int(16 * u), int(16 * u) + col_w),
            gap=max(4, int(30 * u) // v.kernels.shape[-1]),
        )
        for b, kern in zip(kb, v.kernels, strict=True):
            sk.paste(b, style.colorize(kern, kscale))
        _hbar(
            sk,
            (top + int(246 * u), top + int(254 * u), int(16 * u), int(16 * u) + col_w),
            kscale,
            "weight (blue < 0 < red)",
        )
        # feature maps
        mx0 = int(16 * u) + col_w + int(24 * u)
        digit = names[trace.label] if trace.label is not None else "digit"
        of = f", {len(keep)} of {len(v.maps)}" if len(keep) < len(v.maps) else ""
        sk.text(mx0, top - 12 * u, f"feature maps of this {digit} (ReLU{of})", 9, bold=True)
        area = (top, top + int(230 * u), mx0, mx0 + col_w)
        mb = grid_boxes(len(keep), v.maps.shape[1:], area, gap=3)
        for b, ch in zip(mb, keep, strict=True):
            sk.paste(b, style.colorize(v.maps[ch], mscale))
        _hbar(
            sk,
            (top + int(246 * u), top + int(254 * u), mx0, mx0 + col_w),
            mscale,
            "activation (≥ 0)",
        )
        # confusion matrix
        cx0 = mx0 + col_w + int(40 * u)
        k = len(v.confusion)
        cell = int(min((W - cx0 - 16 * u) / (k + 1), 240 * u / k))
        sk.text(cx0, top - 12 * u, "confusion matrix", 9, bold=True)
        rows = v.confusion / np.maximum(1, v.confusion.sum(1, keepdims=True))
        rgb = style.colorize(rows, style.Scale(style.PROBABILITY_CMAP, 0, 1, ""))
        gx, gy = cx0 + cell, top + 4
        for a in range(k):
            sk.text(gx - 4, gy + (a + 0.5) * cell, names[a][:5], 7, anchor="rm")
            sk.text(gx + (a + 0.5) * cell, gy + k * cell + 8, names[a][:3], 7, anchor="mm")
            for b in range(k):
                colour = tuple(int(c) for c in rgb[a, b])
                sk.draw.rectangle(
                    (
                        gx + b * cell,
                        gy + a * cell,
                        gx + (b + 1) * cell - 1,
                        gy + (a + 1) * cell - 1,
                    ),
                    fill=colour,
                )
                if v.confusion[a, b]:
                    sk.text(
                        gx + (b + 0.5) * cell,
                        gy + (a + 0.5) * cell,
                        str(v.confusion[a, b]),
                        6 if v.confusion[a, b] >= 100 else 6.5,
                        anchor="mm",
                        color=style.text_on(colour),
                    )
        sk.text(
            gx + k * cell / 2,
            gy + k * cell + 24 * u,
            "rows: true class · columns: predicted",
            7.5,
            anchor="mm",
            color=t.muted,
        )
        sk.text(
            16 * u,
            H - 22 * u,
            "Kernels turn from noise into stroke detectors; the maps sharpen; "
            "the confusion matrix fills its diagonal.",
            8.5,
            color=t.muted,
        )
        sheets.append(sk.array())

    reel = Reel(sheets[0], fps, title=f"training: {trace.architecture}")
    ids = [0] + [reel.add_sheet(s) for s in sheets[1:]]
    full_box = (0, H, 0, W)
    for i, sid in enumerate(ids):
        reel.frame([Paste(sid, full_box)] if i else [], reset=i == 0)
        reel.hold(per - 1 + (n_frames - per * n if i == n - 1 else 0))
    reel.meta = {"views": views}
    return reel


def _hbar(sk: Sketch, box, scale: style.Scale, label: str) -> None:
    from explainer.animate.convolution import _hbar as hbar

    hbar(sk, box, scale, label)
