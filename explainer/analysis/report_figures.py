"""The figures of an evaluation report, each a matplotlib ``Figure``.

Each is drawn from an :class:`~explainer.analysis.evaluate.Evaluation` or a checkpoint:
:func:`confusion_figure` (counts and row-normalised, cells written by :func:`share_text`),
:func:`mistakes_figure`, :func:`predictions_figure`, :func:`curves_figure` (the training
history), :func:`kernels_figure` (the first layer's weights, from :func:`first_layer_weights`)
and :func:`distribution_figure` (predicted classes against the truth).
"""

from __future__ import annotations

import numpy as np
import torch

from explainer import style
from explainer.analysis.evaluate import MAX_MISTAKES_SHOWN, Evaluation
from explainer.nets.calibration import confidence_text
from explainer.nets.checkpoints import Checkpoint

PREDICTIONS_SHOWN = 40


def _title(ev: Evaluation) -> str:
    where = "official test set" if ev.official else "bundled sample"
    return f"{ev.checkpoint.name} · {where} ({len(ev.labels)} images) · accuracy {ev.accuracy:.2%}"


def share_text(part: int, whole: int) -> str:
    """``part / whole`` as a row-normalised cell shows it: ``""`` for none, ``"100%"`` only
    when every image of the row is there, never rounded up to it: 977/980 is ``"99.7%"``,
    9,999/10,000 ``"> 99.9%"``, 1/2,000 ``"< 0.1%"``."""
    from explainer.analysis.arith import confidence_text

    if part <= 0 or whole <= 0:
        return ""
    if part >= whole:
        return "100%"
    return confidence_text(part / whole)


def confusion_figure(ev: Evaluation):
    """Two heat maps: counts, and each row divided by its total (the per-class recall)."""
    import matplotlib.pyplot as plt

    names = ev.class_names
    k = len(names)
    cm = ev.confusion
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    long = max(len(n) for n in names) > 2
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.2 if long else 5.6), layout="constrained")
    for ax, values, title, fmt in (
        (axes[0], cm, "counts", "d"),
        (axes[1], norm, "row-normalised (each true class sums to 100%)", "pct"),
    ):
        # the diagonal dwarfs the errors: a log-like colour scale keeps mistakes visible
        shown = np.log1p(values) if fmt == "d" else values
        im = ax.imshow(shown, cmap=style.PROBABILITY_CMAP, vmin=0)
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                if fmt == "d":
                    label = str(int(v)) if v else ""
                else:
                    label = share_text(int(cm[i, j]), int(cm[i].sum()))
                dark = shown[i, j] > 0.6 * max(shown.max(), 1e-9)
                ax.text(
                    j,
                    i,
                    label,
                    ha="center",
                    va="center",
                    fontsize=8 if k > 10 else 9,
                    color="white" if dark else "#1a1a1a",
                )
        ax.set_xticks(range(k), names, rotation=45 if long else 0, ha="right" if long else "center")
        ax.set_yticks(range(k), names)
        ax.set_xlabel("predicted class", fontsize=11)
        ax.set_ylabel("true class", fontsize=11)
        ax.set_title(title, fontsize=12)
        bar = fig.colorbar(im, ax=ax, shrink=0.85)
        if fmt == "d":
            ticks = [t for t in (0, 1, 10, 100, 1000, 10000) if t <= max(values.max(), 1)]
            bar.set_ticks(np.log1p(ticks), labels=[str(t) for t in ticks])
            bar.set_label("images (log scale)")
        else:
            bar.set_label("fraction of the true class")
    fig.suptitle(f"Confusion matrix · {_title(ev)}", fontsize=13)
    return fig


def _long(names: list[str]) -> bool:
    """Class names too long to share one title line with another (Fashion-MNIST)."""
    return max(len(n) for n in names) > 3


def _digit_grid(images, titles, colors, cols: int, suptitle: str, note: str = ""):
    import matplotlib.pyplot as plt

    n = len(images)
    rows = max(1, -(-n // cols))
    two_lines = any("\n" in t for t in titles)
    cell_h = 1.85 if two_lines else 1.55
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * cell_h + 0.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t, c in zip(axes.flat, images, titles, colors, strict=False):
        ax.imshow(img, cmap=style.INPUT_CMAP, vmin=0, vmax=1)
        ax.set_title(t, fontsize=10, color=c, pad=2)
    fig.suptitle(suptitle, fontsize=12, y=0.995)
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=9, color="#555555")
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.06 if note else 0.01,
        top=1 - (1.0 if two_lines else 0.7) / (rows * cell_h + 0.9),
        wspace=0.08,
        hspace=0.75 if two_lines else 0.55,
    )
    return fig


def mistakes_figure(ev: Evaluation, limit: int = MAX_MISTAKES_SHOWN):
    """The misclassified images, most confident first: ``true → predicted (confidence)``."""
    import matplotlib.pyplot as plt

    mistakes = ev.mistakes()
    images = ev.split.images.numpy() / 255.0
    if not mistakes:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"No mistakes on {ev.test_set}", ha="center", va="center", fontsize=12)
        return fig
    shown = mistakes[:limit]
    more = f"; the {limit} most confident shown" if len(mistakes) > limit else ""
    return _digit_grid(
        [images[m["position"]] for m in shown],
        [
            f"{m['true']}{sep}→ {m['predicted']} {confidence_text(m['confidence'])}"
            for m in shown
            for sep in ["\n" if _long(ev.class_names) else ""]
        ],
        [style.WRONG_COLOR] * len(shown),
        cols=8,
        suptitle=f"{len(mistakes)} misclassified · {_title(ev)}",
        note=f"title: true → predicted (confidence), most confident mistakes first{more}",
    )


def predictions_figure(ev: Evaluation, n: int = PREDICTIONS_SHOWN):
    """``n`` images of a seeded shuffle, each titled with its prediction; a few mistakes
    (at most ``n // 8``) are mixed in so the red titles have something to show."""
    rng = np.random.default_rng(0)
    wrong = np.flatnonzero(ev.predicted != ev.labels)
    bad = rng.permutation(wrong)[: n // 8]
    good = rng.permutation(np.setdiff1d(np.arange(len(ev.labels)), bad))[: n - len(bad)]
    pick = rng.permutation(np.concatenate([good, bad]))
    images = ev.split.images.numpy()[pick] / 255.0
    names = ev.class_names
    right = ev.predicted[pick] == ev.labels[pick]
    sep = "\n" if _long(names) else " "
    titles = [
        f"{names[p]}{sep}{confidence_text(ev.probs[i, p])}"
        if ok
        else f"{names[p]}{sep}(is {names[y]})"
        for i, p, y, ok in zip(pick, ev.predicted[pick], ev.labels[pick], right, strict=True)
    ]
    colors = [style.CORRECT_COLOR if ok else style.WRONG_COLOR for ok in right]
    return _digit_grid(
        images,
        titles,
        colors,
        cols=10,
        suptitle=f"Sample predictions · {_title(ev)}",
        note=f"green: right (prediction, confidence) · red: wrong (prediction, true class)"
        f" · random images, plus {len(bad)} of the {len(wrong)} mistakes mixed in on purpose",
    )


def curves_figure(ckpt: Checkpoint):
    """Loss, accuracy and learning rate per epoch from the checkpoint's history."""
    import matplotlib.pyplot as plt

    h = ckpt.history
    ep = [r["epoch"] for r in h]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
    series = [
        (axes[0], "loss", ("train_loss", "val_loss"), "cross-entropy loss"),
        (axes[1], "accuracy", ("train_accuracy", "val_accuracy"), "accuracy"),
    ]
    for ax, title, keys, ylabel in series:
        for key, color in zip(keys, (style.CLASS_COLORS[0], style.CLASS_COLORS[1]), strict=True):
            ax.plot(
                ep,
                [r.get(key, np.nan) for r in h],
                "o-",
                color=color,
                ms=4,
                label=key.split("_")[0].replace("val", "validation"),
            )
        ax.set_title(title, fontsize=12)
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel(ylabel, fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend()
    best = max(h, key=lambda r: r.get("val_accuracy", -1))
    axes[1].axvline(best["epoch"], color="#888888", ls="--", lw=1)
    axes[1].annotate(
        f"best epoch {best['epoch']}\nval {best['val_accuracy']:.2%}",
        (best["epoch"], best["val_accuracy"]),
        textcoords="offset points",
        xytext=(-8, -36),
        ha="right",
        fontsize=9,
    )
    axes[2].plot(ep, [r.get("lr", np.nan) for r in h], "o-", color=style.CLASS_COLORS[2], ms=4)
    axes[2].set_title("learning rate (at the end of each epoch)", fontsize=12)
    axes[2].set_xlabel("epoch", fontsize=11)
    axes[2].set_ylabel("learning rate", fontsize=11)
    axes[2].ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    axes[2].grid(alpha=0.3)
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    secs = sum(r.get("seconds", 0) for r in h)
    fig.suptitle(f"Training curves · {ckpt.name} · {len(h)} epochs, {secs:.0f} s", fontsize=13)
    return fig


def first_layer_weights(model: torch.nn.Module) -> tuple[str, np.ndarray, str] | None:
    """``(layer name, weights (K, h, w), kind)`` of the first Conv2d (one kernel per output
    channel, the input channel's kernel for a 1-channel input) or, without one, the first
    Linear layer reading 784 pixels (``(units, 28, 28)`` templates)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            w = module.weight.detach().cpu().numpy()
            return name, w[:, 0] if w.shape[1] == 1 else w.mean(1), "conv"
        if isinstance(module, torch.nn.Linear) and module.in_features == 784:
            w = module.weight.detach().cpu().numpy()
            return name, w.reshape(-1, 28, 28), "dense"
    return None


def kernels_figure(ckpt: Checkpoint, limit: int = 64):
    """The first layer's learned weights on one symmetric blue-white-red scale."""
    import matplotlib.pyplot as plt

    found = first_layer_weights(ckpt.model)
    if found is None:
        return None
    name, w, kind = found
    w = w[:limit]
    scale = style.scale_for(w, "kernel")
    n = len(w)
    cols = min(n, 8)
    rows = -(-n // cols)
    cell = 1.3 if kind == "dense" else 1.0
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(cols * cell + 1.4, rows * cell + 1.0),
        squeeze=False,
        layout="constrained",
    )
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        im = ax.imshow(w[i], cmap=scale.cmap, vmin=scale.vmin, vmax=scale.vmax)
        if n <= 32:
            ax.set_title(f"{'unit' if kind == 'dense' else 'kernel'} {i}", fontsize=9, pad=2)
    fig.colorbar(im, ax=axes, shrink=0.9, aspect=25).set_label("weight (blue < 0 < red)")
    h, wd = w.shape[1:]
    what = (
        f"first conv layer '{name}': {n} learned {h}×{wd} kernels"
        if kind == "conv"
        else f"first dense layer '{name}':\neach unit's 784 weights as a 28×28 template"
    )
    fig.suptitle(f"{ckpt.name} · {what}", fontsize=12)
    return fig


def distribution_figure(ev: Evaluation):
    """How often each class was predicted, beside how often it is the true class."""
    import matplotlib.pyplot as plt

    names = ev.class_names
    k = len(names)
    true_counts = np.bincount(ev.labels, minlength=k)
    pred_counts = np.bincount(ev.predicted, minlength=k)
    fig, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
    x = np.arange(k)
    ax.bar(x - 0.2, true_counts, 0.4, color="#b0b0b0", label="true class")
    bars = ax.bar(
        x + 0.2,
        pred_counts,
        0.4,
        color=[style.CLASS_COLORS[i % 10] for i in range(k)],
        label="predicted class",
    )
    for b, p, t in zip(bars, pred_counts, true_counts, strict=True):
        d = int(p) - int(t)
        if d:
            ax.annotate(
                f"{d:+d}",
                (b.get_x() + b.get_width() / 2, b.get_height()),
                textcoords="offset points",
                xytext=(0, 2),
                ha="center",
                fontsize=8.5,
            )
    long = max(len(n) for n in names) > 2
    ax.set_xticks(x, names, rotation=30 if long else 0, ha="right" if long else "center")
    ax.set_xlabel("class", fontsize=11)
    ax.set_ylabel("images", fontsize=11)
    ax.set_ylim(0, max(true_counts.max(), pred_counts.max()) * 1.22)
    ax.legend(loc="upper center", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(
        f"Predicted classes against the truth (+n: predicted n times too often)\n{_title(ev)}",
        fontsize=12,
    )
    return fig
