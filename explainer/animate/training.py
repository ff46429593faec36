"""``training``: what changes while a network learns, across its epoch snapshots.

It draws a :class:`~explainer.analysis.snapshots.TrainingEvolution` (made by
:func:`explainer.analysis.snapshots.training_evolution` from the snapshots, e.g.
``models/snapshots/<name>_epochNN.pt`` then the final checkpoint): for each snapshot the first
layer's weights (conv kernels, or a dense layer's per-unit templates), one digit's values after
that layer's activation, and the confusion matrix with the accuracy. It loads nothing and runs
no model. The caption says what was measured between snapshots: how much the first layer's
weights changed (cosine similarity with the first snapshot, relative change) and the accuracy.
At ``pace="class"`` each snapshot stays 4 s on screen.
"""

from __future__ import annotations

import numpy as np

from explainer import style
from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import item_word
from explainer.analysis.snapshots import TrainingEvolution
from explainer.animate.canvas import Sketch, as_tiles, colorize_tiles, grid_boxes
from explainer.animate.length import too_short
from explainer.animate.reel import Paste, Reel
from explainer.errors import ExplainerError
from explainer.tracing.trace import Trace

PACES = {"class": 4.0, "readme": 2.0}  # seconds per snapshot


def default_seconds(evolution: TrainingEvolution, fps: float = 10, pace: str = "class") -> float:
    """``PACES[pace]`` seconds per snapshot."""
    if pace not in PACES:
        raise ExplainerError(f"unknown pace {pace!r}; choose one of: {', '.join(PACES)}")
    return float(max(1, round(PACES[pace] * len(evolution.views))))


def weight_change(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(cosine similarity, relative change ‖b − a‖ / ‖a‖)`` of two snapshots' weights."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    cos = float(x @ y / (nx * ny)) if nx and ny else float("nan")
    return cos, float(np.linalg.norm(y - x) / nx) if nx else float("nan")


def change_caption(views: list, i: int) -> str:
    """What was measured at snapshot ``i``, compared with the first snapshot."""
    v, first = views[i], views[0]
    name = v.kernels_title.split(":")[0]
    acc = confidence_text(v.accuracy)
    if i == 0:
        return f"{first.label}: {name}'s weights as they start; accuracy {acc}."
    cos, rel = weight_change(first.kernels, v.kernels)
    how = "barely changed" if cos > 0.99 else "changed a little" if cos > 0.9 else "changed a lot"
    return (
        f"{name}'s weights vs {first.label}: cosine similarity {cos:.4f} (1 = unchanged), "
        f"{rel:.1%} apart: {how}. Accuracy {confidence_text(first.accuracy)} → {acc}."
    )


def build_training(
    trace: Trace,
    *,
    evolution: TrainingEvolution,
    fps: float = 10,
    seconds: float | None = None,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
    pace: str = "class",
) -> Reel:
    """The training animation of ``evolution`` (see
    :func:`explainer.analysis.snapshots.training_evolution`); ``trace`` names the digit whose values
    are shown (its label and class names)."""
    if not isinstance(evolution, TrainingEvolution):
        raise ExplainerError(
            "the training animation needs evolution=training_evolution(snapshots, image) "
            "(explainer.analysis.snapshots)"
        )
    views = evolution.views
    if len(views) < 2:
        raise ExplainerError("the training animation needs at least two snapshots")
    if seconds is None:
        seconds = default_seconds(evolution, fps, pace)
    names = trace.class_names or [str(i) for i in range(10)]
    W, H = size
    u = min(W / 800, H / 450)
    k = max(0.7, u)
    n = len(views)
    n_frames = round(fps * seconds)
    per = n_frames // n
    if per < 1:
        raise too_short(f"{n} snapshots", n, fps, seconds)
    kmax = max(float(np.abs(v.kernels).max()) for v in views) or 1.0
    kscale = style.Scale(style.SIGNED_CMAP, -kmax, kmax, "weight")
    every = np.concatenate([v.maps.ravel() for v in views])
    mscale = style.layer_scale(every, "relu" if every.min() >= 0 else "auto")
    # at most 16 maps, big enough to read: the channels most active in the final model
    last = views[-1].maps
    keep = sorted(np.argsort(np.abs(last.reshape(len(last), -1)).max(1))[::-1][:16].tolist())
    word = item_word(trace.dataset, names)
    digit = names[trace.label] if trace.label is not None else word
    test_set = evolution.test_set.replace("digits", item_word(trace.dataset, names, plural=True))
    sheets = []
    for i, v in enumerate(views):
        sk = Sketch(size, theme)
        t = sk.theme
        sk.fitted(16 * u, 18 * u, f"Training {evolution.architecture}: {v.label}", 11.5 * k,
                  W * 0.48, bold=True)  # fmt: skip
        sk.fitted(W - 16 * u, 18 * u, f"accuracy {confidence_text(v.accuracy)} on {test_set}",
                  10 * k, W * 0.48, bold=True, anchor="rm", color=t.accent)  # fmt: skip
        _timeline(sk, views, i, u)
        top, col_w = int(90 * u), int(238 * u)
        x0 = int(16 * u)
        _kernels(sk, v, kscale, (top, x0, col_w), u)
        _maps(
            sk,
            v,
            mscale,
            keep if v.maps.ndim == 3 else [],
            digit,
            (top, x0 + col_w + int(24 * u), col_w),
            u,
        )
        _confusion(sk, v.confusion, names, top, x0 + 2 * col_w + int(64 * u), u)
        sk.fitted(16 * u, H - 22 * u, change_caption(views, i), 8.5 * k, W - 32 * u,
                  color=t.foreground)  # fmt: skip
        sheets.append(sk.array())

    reel = Reel(sheets[0], fps, title=f"training: {evolution.architecture}")
    ids = [0] + [reel.add_sheet(s) for s in sheets[1:]]
    for i, sid in enumerate(ids):
        reel.frame([Paste(sid, (0, H, 0, W))] if i else [], reset=i == 0)
        reel.hold(per - 1 + (n_frames - per * n if i == n - 1 else 0))
    reel.meta = {"views": views, "captions": [change_caption(views, i) for i in range(n)]}
    return reel


def _timeline(sk: Sketch, views: list, i: int, u: float) -> None:
    """One chip per snapshot: the current one filled, the earlier ones greyed."""
    t = sk.theme
    W, n, ty = sk.width, len(views), 44 * u
    for j, w in enumerate(views):
        x0 = 16 * u + j * (W - 32 * u) / n
        x1 = 16 * u + (j + 1) * (W - 32 * u) / n - 4
        fill = t.accent if j == i else t.panel if j > i else style.hex_to_rgb(t.muted)
        sk.draw.rounded_rectangle((x0, ty - 8 * u, x1, ty + 8 * u), radius=4, fill=fill)
        sk.text((x0 + x1) / 2, ty, w.label, 7.5, anchor="mm",
                color="#ffffff" if j <= i else t.foreground, bold=j == i)  # fmt: skip


def _kernels(sk: Sketch, v, scale: style.Scale, where: tuple[int, int, int], u: float) -> None:
    top, x0, col_w = where
    sk.text(x0, top - 26 * u, "the first layer's weights", 9, bold=True)
    sk.text(x0, top - 12 * u, v.kernels_title, 8, color=sk.theme.muted)
    shown = v.kernels[:64]
    kb = grid_boxes(len(shown), shown.shape[1:], (top, top + int(230 * u), x0, x0 + col_w),
                    gap=max(3, int(30 * u) // shown.shape[-1]))  # fmt: skip
    for b, kern in zip(kb, shown, strict=True):
        sk.paste(b, style.colorize(kern, scale))
    bar = (top + int(246 * u), top + int(254 * u), x0, x0 + col_w)
    _hbar(sk, bar, scale, "weight (blue < 0 < red)")


def _maps(sk: Sketch, v, scale: style.Scale, keep: list[int], digit: str,
          where: tuple[int, int, int], u: float) -> None:  # fmt: skip
    """The digit's values after the first layer: up to 16 maps, or a vector as tiles."""
    top, x0, col_w = where
    area = (top, top + int(230 * u), x0, x0 + col_w)
    if v.maps.ndim == 3:
        of = f", {len(keep)} of {len(v.maps)}" if len(keep) < len(v.maps) else ""
        for b, ch in zip(grid_boxes(len(keep), v.maps.shape[1:], area, gap=2), keep, strict=True):
            sk.paste(b, style.colorize(v.maps[ch], scale))
    else:
        of = f", {v.maps.size} values"
        tiles = as_tiles(v.maps)
        (b,) = grid_boxes(1, tiles.shape, area)
        sk.paste(b, colorize_tiles(tiles, scale, style.hex_to_rgb(sk.theme.panel)))
    sk.text(x0, top - 26 * u, f"what this {digit} becomes{of}", 9, bold=True)
    sk.text(x0, top - 12 * u, v.maps_title, 8, color=sk.theme.muted)
    bar = (top + int(246 * u), top + int(254 * u), x0, x0 + col_w)
    _hbar(sk, bar, scale, "value (blue < 0 < red)" if scale.signed else "activation (≥ 0)")


MAX_CLASSES_SHOWN = 20  # rows and columns of the confusion matrix; more: the busiest ones


def _confusion(sk: Sketch, confusion: np.ndarray, names: list[str], top: int, cx0: int,
               u: float) -> None:  # fmt: skip
    W = sk.width
    if len(confusion) > MAX_CLASSES_SHOWN:  # the classes the digits hit most, in class order
        hits = confusion.sum(0) + confusion.sum(1)
        keep = np.sort(np.argsort(-hits, kind="stable")[:MAX_CLASSES_SHOWN])
        confusion, names = confusion[np.ix_(keep, keep)], [names[i] for i in keep]
    k = len(confusion)
    cell = int(min((W - cx0 - 16 * u) / (k + 1), 240 * u / k))
    sk.text(cx0, top - 12 * u, "confusion matrix", 9, bold=True)
    rows = confusion / np.maximum(1, confusion.sum(1, keepdims=True))
    rgb = style.colorize(rows, style.Scale(style.PROBABILITY_CMAP, 0, 1, ""))
    gx, gy = cx0 + cell, top + 4
    short = all(len(n) <= 2 for n in names)  # long names: numbers on the axes and a key
    axis = list(names) if short else [str(i) for i in range(k)]
    for a in range(k):
        sk.text(gx - 4, gy + (a + 0.5) * cell, axis[a], 7, anchor="rm")
        sk.text(gx + (a + 0.5) * cell, gy + k * cell + 8, axis[a], 7, anchor="mm")
        for b in range(k):
            colour = tuple(int(c) for c in rgb[a, b])
            box = (gx + b * cell, gy + a * cell, gx + (b + 1) * cell - 1, gy + (a + 1) * cell - 1)
            sk.draw.rectangle(box, fill=colour)
            if confusion[a, b]:
                sk.text(gx + (b + 0.5) * cell, gy + (a + 0.5) * cell, str(confusion[a, b]),
                        6 if confusion[a, b] >= 100 else 6.5, anchor="mm",
                        color=style.text_on(colour))  # fmt: skip
    sk.text(gx + k * cell / 2, gy + k * cell + 24 * u, "rows: true class · columns: predicted",
            7.5, anchor="mm", color=sk.theme.muted)  # fmt: skip
    if not short:
        half = -(-k // 2)
        col_w = (W - 16 * u - cx0) / 2
        for a in range(k):
            x = cx0 + (a // half) * col_w
            y = gy + k * cell + 40 * u + (a % half) * 13 * u
            sk.fitted(x, y, f"{a} {names[a]}", 7.5, col_w - 4, color=sk.theme.muted)


def _hbar(sk: Sketch, box: tuple[int, int, int, int], scale: style.Scale, label: str) -> None:
    """A horizontal colour bar with end labels and a caption."""
    from explainer.analysis.arith import fmt

    y0, y1, x0, x1 = (int(v) for v in box)
    values = np.linspace(scale.vmin, scale.vmax, x1 - x0)[None, :].repeat(y1 - y0, 0)
    sk.paste((y0, y1, x0, x1), style.colorize(values, scale))
    sk.box((y0, y1, x0, x1))
    sk.text(x0, y1 + 9, fmt(scale.vmin), 7.5, anchor="lm")
    sk.text(x1, y1 + 9, fmt(scale.vmax), 7.5, anchor="rm")
    sk.text((x0 + x1) / 2, y1 + 24, label, 7.5, color=sk.theme.muted, anchor="mm")
