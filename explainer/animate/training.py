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

from dataclasses import dataclass

import numpy as np

from explainer import style
from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import item_word
from explainer.analysis.snapshots import TrainingEvolution
from explainer.animate.canvas import (
    Sketch,
    as_tiles,
    colorize_tiles,
    fit_grid,
    fit_text,
    grid_boxes,
)
from explainer.animate.convolution_frames import wrap_words
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


@dataclass(frozen=True)
class TrainingLayout:
    """Where the panels go on a ``W × H`` frame (``u``: pixels per unit of an 800×450 frame,
    ``k``: the font scale). ``confusion`` is the matrix's box ``(y0, y1, x0, x1)``, ``cell``
    one cell's side; ``key_y`` the row of the class-name key (None: names on the axes)."""

    W: int
    H: int
    u: float
    k: float
    top: int
    col_w: int
    area_h: int
    x_maps: int
    confusion: tuple[int, int, int, int]
    cell: int
    key_y: int | None


def training_layout(size: tuple[int, int], n_classes: int, short_names: bool) -> TrainingLayout:
    """Two picture columns (weights, maps) and the confusion matrix as large as the rest
    allows: its counts are at least 10 px × the font scale (16 px at 1280×720)."""
    W, H = size
    u = min(W / 800, H / 450)
    k = max(0.7, u)
    top, bottom = int(98 * u), H - int(44 * u)
    key_y = None if short_names else bottom - int(22 * u)  # under the two picture columns
    n = min(n_classes, MAX_CLASSES_SHOWN)
    cell = int(min((bottom - top - 26 * u) / n, 330 * u / (n + 1)))
    x1 = W - int(16 * u)
    cx0 = x1 - (n + 1) * cell
    col_w = int((cx0 - 16 * u - 24 * u - 30 * u) / 2)
    gy = top + int(4 * u)
    conf = (gy, gy + n * cell, cx0 + cell, cx0 + (n + 1) * cell)
    area_h = int((bottom if key_y is None else key_y - 12 * u) - top - 62 * u)
    x_maps = int(16 * u) + col_w + int(24 * u)
    return TrainingLayout(W, H, u, k, top, col_w, area_h, x_maps, conf, cell, key_y)


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
    are shown (its label and class names). ``reel.meta["layout"]`` is its
    :class:`TrainingLayout`."""
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
    lay = training_layout(size, len(names), all(len(m) <= 2 for m in _shown(views, names)))
    n_maps = _how_many_maps(len(last), last.shape[1:], lay) if last.ndim == 3 else 0
    keep = sorted(np.argsort(np.abs(last.reshape(len(last), -1)).max(1))[::-1][:n_maps].tolist())
    word = item_word(trace.dataset, names)
    digit = names[trace.label] if trace.label is not None else word
    test_set = evolution.test_set.replace("digits", item_word(trace.dataset, names, plural=True))
    u, k = lay.u, lay.k
    sheets = []
    for i, v in enumerate(views):
        sk = Sketch(size, theme)
        t = sk.theme
        sk.fitted(16 * u, 20 * u, f"Training {evolution.architecture}: {v.label}", 12 * k,
                  W * 0.48, bold=True)  # fmt: skip
        sk.fitted(W - 16 * u, 20 * u, f"accuracy {confidence_text(v.accuracy)} on {test_set}",
                  10.5 * k, W * 0.48, bold=True, anchor="rm", color=t.accent)  # fmt: skip
        _timeline(sk, views, i, u, k)
        x0 = int(16 * u)
        _kernels(sk, v, kscale, (lay.top, x0, lay.col_w), lay)
        _maps(sk, v, mscale, keep if v.maps.ndim == 3 else [], digit,
              (lay.top, lay.x_maps, lay.col_w), lay)  # fmt: skip
        _confusion(sk, v.confusion, names, lay)
        _caption(sk, change_caption(views, i), lay)
        sheets.append(sk.array())

    reel = Reel(sheets[0], fps, title=f"training: {evolution.architecture}")
    ids = [0] + [reel.add_sheet(s) for s in sheets[1:]]
    for i, sid in enumerate(ids):
        reel.frame([Paste(sid, (0, H, 0, W))] if i else [], reset=i == 0)
        reel.hold(per - 1 + (n_frames - per * n if i == n - 1 else 0))
    reel.meta = {"views": views, "captions": [change_caption(views, i) for i in range(n)],
                 "layout": lay}  # fmt: skip
    return reel


def _shown(views: list, names: list[str]) -> list[str]:
    return _shown_classes(views[-1].confusion, names)[1]


def _how_many_maps(n: int, hw: tuple[int, int], lay: TrainingLayout) -> int:
    """How many maps to show (at most 16): the count that covers the most of the maps column
    at a whole-pixel enlargement (more maps where two cover the same)."""
    area = (0, lay.area_h, 0, lay.col_w)
    counts = [c for c in (16, 12, 9, 8, 6, 4) if c <= n] or [n]
    return max(counts, key=lambda c: (c * fit_grid(c, hw, area, gap=2)[2] ** 2, c))


def _caption(sk: Sketch, text: str, lay: TrainingLayout) -> None:
    """What was measured, along the bottom: one line, or two where it does not fit."""
    u, pt, width = lay.u, 9.5 * lay.k, lay.W - 32 * lay.u
    rows = wrap_words(sk, text, width, pt)
    if len(rows) == 1:
        sk.text(16 * u, lay.H - 20 * u, text, pt)
        return
    half = len(text) // 2
    cut = min((i for i, ch in enumerate(text) if ch == " "), key=lambda i: abs(i - half))
    for j, line in enumerate((text[:cut], text[cut + 1 :])):
        sk.fitted(16 * u, lay.H - 30 * u + j * 17 * u, line, pt, width)


def _timeline(sk: Sketch, views: list, i: int, u: float, k: float) -> None:
    """One chip per snapshot: the current one filled, the earlier ones greyed."""
    t = sk.theme
    W, n, ty = sk.width, len(views), 46 * u
    for j, w in enumerate(views):
        x0 = 16 * u + j * (W - 32 * u) / n
        x1 = 16 * u + (j + 1) * (W - 32 * u) / n - 4
        fill = t.accent if j == i else t.panel if j > i else style.hex_to_rgb(t.muted)
        sk.draw.rounded_rectangle((x0, ty - 9 * u, x1, ty + 9 * u), radius=4, fill=fill)
        sk.fitted((x0 + x1) / 2, ty, w.label, 8.5 * k, x1 - x0 - 6, anchor="mm",
                  color="#ffffff" if j <= i else t.foreground, bold=j == i)  # fmt: skip


def _heads(sk: Sketch, x0: int, col_w: int, title: str, sub: str, lay: TrainingLayout) -> None:
    """A panel's title and, under it, what it shows."""
    sk.fitted(x0, lay.top - 30 * lay.u, title, 9.5 * lay.k, col_w, bold=True)
    sk.fitted(x0, lay.top - 13 * lay.u, sub, 8.5 * lay.k, col_w, color=sk.theme.muted)


def _kernels(sk: Sketch, v, scale: style.Scale, where: tuple[int, int, int],
             lay: TrainingLayout) -> None:  # fmt: skip
    top, x0, col_w = where
    u = lay.u
    _heads(sk, x0, col_w, "the first layer's weights", v.kernels_title, lay)
    shown = v.kernels[:64]
    kb = grid_boxes(len(shown), shown.shape[1:], (top, top + lay.area_h, x0, x0 + col_w),
                    gap=max(3, int(30 * u) // shown.shape[-1]))  # fmt: skip
    for b, kern in zip(kb, shown, strict=True):
        sk.paste(b, style.colorize(kern, scale))
    bar = (top + lay.area_h + int(10 * u), top + lay.area_h + int(18 * u), x0, x0 + col_w)
    _hbar(sk, bar, scale, "weight (blue < 0 < red)", lay.k)


def _maps(sk: Sketch, v, scale: style.Scale, keep: list[int], digit: str,
          where: tuple[int, int, int], lay: TrainingLayout) -> None:  # fmt: skip
    """The digit's values after the first layer: up to 16 maps, or a vector as tiles."""
    top, x0, col_w = where
    u = lay.u
    area = (top, top + lay.area_h, x0, x0 + col_w)
    if v.maps.ndim == 3:
        of = f", {len(keep)} of {len(v.maps)}" if len(keep) < len(v.maps) else ""
        for b, ch in zip(grid_boxes(len(keep), v.maps.shape[1:], area, gap=2), keep, strict=True):
            sk.paste(b, style.colorize(v.maps[ch], scale))
    else:
        of = f", {v.maps.size} values"
        tiles = as_tiles(v.maps)
        (b,) = grid_boxes(1, tiles.shape, area)
        sk.paste(b, colorize_tiles(tiles, scale, style.hex_to_rgb(sk.theme.panel)))
    _heads(sk, x0, col_w, f"what this {digit} becomes{of}", v.maps_title, lay)
    bar = (top + lay.area_h + int(10 * u), top + lay.area_h + int(18 * u), x0, x0 + col_w)
    _hbar(sk, bar, scale, "value (blue < 0 < red)" if scale.signed else "activation (≥ 0)", lay.k)


MAX_CLASSES_SHOWN = 20  # rows and columns of the confusion matrix; more: the busiest ones


def _shown_classes(confusion: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """The matrix and names shown: every class, or the :data:`MAX_CLASSES_SHOWN` the
    digits hit most, in class order."""
    if len(confusion) <= MAX_CLASSES_SHOWN:
        return confusion, list(names)
    hits = confusion.sum(0) + confusion.sum(1)
    keep = np.sort(np.argsort(-hits, kind="stable")[:MAX_CLASSES_SHOWN])
    return confusion[np.ix_(keep, keep)], [names[i] for i in keep]


def _confusion(sk: Sketch, confusion: np.ndarray, names: list[str], lay: TrainingLayout) -> None:
    """The confusion matrix in ``lay.confusion``, every non-zero count written in its cell."""
    confusion, names = _shown_classes(confusion, names)
    u, k, cell = lay.u, lay.k, lay.cell
    gy, _, gx, _ = lay.confusion
    n = len(confusion)
    _heads(sk, gx - cell, (n + 1) * cell, "confusion matrix (counts)",
           "rows: true class · columns: predicted", lay)  # fmt: skip
    rows = confusion / np.maximum(1, confusion.sum(1, keepdims=True))
    rgb = style.colorize(rows, style.Scale(style.PROBABILITY_CMAP, 0, 1, ""))
    axis = list(names) if lay.key_y is None else [str(i) for i in range(n)]
    widest = max((str(int(c)) for c in confusion.ravel()), key=len, default="0")
    pt = fit_text(widest, 7.5 * k, cell - max(3, cell // 12))[1]
    label_pt = fit_text(max(axis, key=len), 8.5 * k, cell - 4)[1]
    for a in range(n):
        sk.text(gx - 4, gy + (a + 0.5) * cell, axis[a], label_pt, anchor="rm")
        sk.text(gx + (a + 0.5) * cell, gy + n * cell + 10 * u, axis[a], label_pt, anchor="mm")
        for b in range(n):
            colour = tuple(int(c) for c in rgb[a, b])
            box = (gx + b * cell, gy + a * cell, gx + (b + 1) * cell - 1, gy + (a + 1) * cell - 1)
            sk.draw.rectangle(box, fill=colour, outline=sk.theme.background)
            if confusion[a, b]:
                sk.text(gx + (b + 0.5) * cell, gy + (a + 0.5) * cell, str(int(confusion[a, b])),
                        pt, anchor="mm", color=style.text_on(colour))  # fmt: skip
    if lay.key_y is not None:
        _key(sk, names, lay)


def _key(sk: Sketch, names: list[str], lay: TrainingLayout) -> None:
    """Class numbers and names in two rows under the pictures (long names are not on the
    axes)."""
    u, n = lay.u, len(names)
    per_row = -(-n // 2)
    col_w = (lay.confusion[2] - lay.cell - 46 * u) / per_row
    for a in range(n):
        x = 16 * u + (a % per_row) * col_w
        y = lay.key_y + (a // per_row) * 18 * u
        sk.fitted(x, y, f"{a} {names[a]}", 8.5 * lay.k, col_w - 6, color=sk.theme.muted)


def _hbar(sk: Sketch, box: tuple[int, int, int, int], scale: style.Scale, label: str,
          k: float) -> None:  # fmt: skip
    """A horizontal colour bar with end labels and a caption."""
    from explainer.analysis.arith import fmt

    y0, y1, x0, x1 = (int(v) for v in box)
    values = np.linspace(scale.vmin, scale.vmax, x1 - x0)[None, :].repeat(y1 - y0, 0)
    sk.paste((y0, y1, x0, x1), style.colorize(values, scale))
    sk.box((y0, y1, x0, x1))
    sk.text(x0, y1 + 10 * k, fmt(scale.vmin), 8 * k, anchor="lm")
    sk.text(x1, y1 + 10 * k, fmt(scale.vmax), 8 * k, anchor="rm")
    sk.fitted((x0 + x1) / 2, y1 + 27 * k, label, 8 * k, x1 - x0, color=sk.theme.muted,
              anchor="mm")  # fmt: skip
