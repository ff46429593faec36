"""``forward``: one digit through every layer of the network, revealed layer by layer.

Frame layout (800×450 by default): the input digit on the left, the current layer in the
middle (all channels as a grid, the layer's name, what it does, its output shape and a colour
bar), the softmax bars on the right, and a row of layer chips along the bottom showing where
the data is. Dropout layers are skipped: they do nothing at test time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainer import style
from explainer.animate.canvas import Canvas, Sketch, as_tiles, blit, colorize_tiles, grid_boxes
from explainer.animate.reel import Box, Paste, Reel
from explainer.arith import confidence_text
from explainer.errors import ExplainerError
from explainer.flowgraph import chip_label, inputs_text, is_output, output_meaning
from explainer.trace import LayerRecord, Trace


@dataclass
class Stage:
    """One step of the forward animation: a layer's output and how to colour it."""

    name: str
    kind: str
    title: str
    subtitle: str
    values: np.ndarray  # (C, H, W) or (n,)
    scale: style.Scale
    chip: str = "op"  # a few letters for the layer chip (conv, BN, tanh, add...)
    output: str = ""  # for the model's output record: what its values mean

    @property
    def spatial(self) -> bool:
        return self.values.ndim == 3


def stages_of(trace: Trace) -> list[Stage]:
    """The layers the animation shows, in order (every captured layer except dropout)."""
    out = []
    for r in trace.layers:
        if r.kind == "dropout":
            continue
        out.append(_stage(r, output_meaning(r) if is_output(trace, r) else ""))
    if not out:
        raise ExplainerError("this trace has no layers to show; capture it with all layers")
    return out


def _stage(r: LayerRecord, output: str = "") -> Stage:
    values = r.output if r.output.ndim in (1, 3) else r.output.reshape(-1)
    scale = style.layer_scale(values, r.kind)
    if r.is_spatial:
        what = f"{r.shape[0]} channel{'s' if r.shape[0] != 1 else ''} of {r.shape[1]}×{r.shape[2]}"
    else:
        what = f"{values.size} values"
    colour = "blue < 0 < red" if scale.signed else "dark = 0, bright = strong"
    combines = inputs_text(r)
    return Stage(
        r.name,
        r.kind,
        f"{r.name}  ·  {r.description}" + (f":  {combines}" if combines else ""),
        f"output {r.shape_text}: {what}  ({colour})",
        values,
        scale,
        chip_label(r),
        output,
    )


def default_seconds(trace: Trace, fps: float = 15) -> float:
    """0.8 s per layer shown plus 2.2 s for the input and the prediction, at least 10 s, and
    long enough for two frames per layer at ``fps``."""
    n = len(stages_of(trace))
    need = math.ceil((2 * (n + 1) + 2 + round(fps * 0.6) + round(fps * 1.6)) / fps)
    return max(10.0, round(0.8 * (n + 1) + 2.2), need)


@dataclass
class ForwardLayout:
    """Pixel boxes of the forward frame."""

    input: Box
    center: Box
    bars: Box
    chips: list[Box]


def _layout(size: tuple[int, int], n_stages: int, label_chars: int) -> ForwardLayout:
    w, h = size
    u = min(w / 800, h / 450)
    f = max(1, int(84 * u) // 28)
    top = int(48 * u)
    chip_h = int(22 * u)
    chips_y = h - int(14 * u) - chip_h
    center_bottom = chips_y - int(16 * u)
    x_in = int(18 * u)
    inp = (top + int(40 * u), top + int(40 * u) + 28 * f, x_in, x_in + 28 * f)
    bars_w = int(120 * u)
    bars_x1 = w - int(42 * u)
    bars = (top + int(34 * u), center_bottom - int(34 * u), bars_x1 - bars_w, bars_x1)
    label_w = int((label_chars * 7 + 14) * u)
    center = (
        top - int(6 * u),
        center_bottom,
        inp[3] + int(34 * u),
        bars[2] - label_w - int(26 * u),
    )
    n = n_stages
    x0, x1 = int(16 * u), w - int(16 * u)
    step = (x1 - x0) / n
    chips = [
        (chips_y, chips_y + chip_h, int(x0 + i * step) + 1, int(x0 + (i + 1) * step) - 1)
        for i in range(n)
    ]
    return ForwardLayout(inp, center, bars, chips)


def _stage_sheets(
    stage: Stage, size: tuple[int, int], theme: str, class_names: list[str]
) -> tuple[np.ndarray, np.ndarray, list[Box]]:
    """``(empty, done, reveal_boxes)`` pictures of the centre region for one stage."""
    w, h = size
    u = min(w / 440, h / 340)
    sk = Sketch(size, theme)
    t = sk.theme
    sk.text(0, 10 * u, stage.title, 10.5, bold=True)
    sk.text(0, 28 * u, stage.subtitle, 8.5, color=t.muted)
    cb_w = int(11 * u)
    grid = (int(42 * u), h - 2, 0, w - cb_w - int(36 * u))
    cb = (grid[0] + int(10 * u), grid[1] - int(10 * u), w - cb_w - int(30 * u), w - int(30 * u))
    sk.colorbar(cb, stage.scale)
    labels: list[str] = []
    if stage.spatial:
        ch, hh, ww = stage.values.shape
        boxes = grid_boxes(ch, (hh, ww), grid, gap=2 if ch > 16 else 4)
        pictures = [style.colorize(v, stage.scale) for v in stage.values]
        units = boxes
    else:
        tiles = as_tiles(stage.values)
        if stage.output and stage.values.size == len(class_names):
            labels = class_names
            grid = (grid[0], grid[1] - int(40 * u), grid[2], grid[3])
        boxes = grid_boxes(1, tiles.shape, grid)
        pictures = [colorize_tiles(tiles, stage.scale, style.hex_to_rgb(t.panel))]
        y0, y1, x0, x1 = boxes[0]
        cell = (y1 - y0) // tiles.shape[0]
        units = [(y0 + r * cell, y0 + (r + 1) * cell, x0, x1) for r in range(tiles.shape[0])]
        for i, name in enumerate(labels):
            sk.text(x0 + (i + 0.5) * cell, y1 + 10 * u, name, 8.5, anchor="mt")
        if labels:
            sk.text(
                (x0 + x1) / 2,
                y1 + 30 * u,
                stage.output,
                8,
                color=t.muted,
                anchor="mt",
            )
    for b in boxes:
        sk.box(b)
    empty = sk.array()
    done = empty.copy()
    panel = style.hex_to_rgb(t.panel)
    for b, pic in zip(boxes, pictures, strict=True):
        empty[b[0] : b[1], b[2] : b[3]] = panel
        blit(done, b, pic)
    return empty, done, units


def build_forward(
    trace: Trace,
    *,
    fps: float = 15,
    seconds: float | None = None,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
) -> Reel:
    """The forward animation of ``trace`` as a :class:`Reel` with ``round(fps * seconds)``
    frames of ``size`` pixels (default length: 0.8 s per layer plus 2.2 s, at least 10 s).

    ``reel.meta`` holds the layout: ``panels[layer]`` (the frame boxes of each channel, or of
    the vector's tile rows), ``shown[layer]`` (the first frame where that layer is complete)
    and ``schedule`` (per frame: stage, revealed units, units)."""
    stages = stages_of(trace)
    if seconds is None:
        seconds = default_seconds(trace, fps)
    n_frames = round(fps * seconds)
    intro, outro = round(fps * 0.6), round(fps * 1.6)
    per_stage = (n_frames - intro - outro) // (len(stages) + 1)
    if per_stage < 2:
        need = (2 * (len(stages) + 1) + intro + outro) / fps
        raise ExplainerError(
            f"{seconds:g} s at {fps:g} frames/s is too short for {len(stages)} layers; "
            f"use --seconds {math.ceil(need)} or more"
        )
    names = trace.class_names or [str(i) for i in range(len(trace.logits))]
    lay = _layout(size, len(stages) + 1, max(len(n) for n in names))
    cv = Canvas(size, theme)
    t = cv.theme
    u = min(size[0] / 800, size[1] / 450)

    # --- the static frame: header, input, empty softmax chart, chips -----------------------
    src = f"  ·  {trace.source}" if trace.source else ""
    cv.text(
        lay.input[2],
        18 * u,
        f"Forward pass through {trace.checkpoint or trace.architecture}{src}",
        fontsize=11.5,
        weight="bold",
    )
    y0, y1, x0, x1 = lay.input
    cv.text(x0, y0 - 12 * u, "input", fontsize=10, weight="bold")
    cv.box(lay.input, edge=t.muted, lw=0.8)
    cv.text(x0, y1 + 12 * u, "1×28×28 pixels", fontsize=8.5, color=t.muted)
    if trace.label is not None:
        cv.text(x0, y1 + 28 * u, f"label: {names[trace.label]}", fontsize=9.5)
    cv.colorbar(
        (y1 + 46 * u, y1 + 54 * u, x0, x1),
        style.scale_for(trace.image, "input"),
        orientation="horizontal",
        ticks=2,
    )
    cv.text(x0, y1 + 78 * u, "ink", fontsize=8, color=t.muted)
    mid = (y0 + y1) / 2
    cv.arrow((x1 + 6 * u, mid), (lay.center[2] - 6 * u, mid))
    cv.arrow(
        (lay.center[3] + 2 * u, mid),
        (lay.bars[2] - 8 * u - 7 * u * max(len(n) for n in names), mid),
    )

    by0, by1, bx0, bx1 = lay.bars
    cv.text(bx0 - 40 * u, by0 - 22 * u, "softmax: probability", fontsize=10, weight="bold")
    ax = cv.axes(lay.bars)
    probs = trace.probs
    k = len(probs)
    ax.set_xlim(0, 1)
    ax.set_ylim(k - 0.5, -0.5)
    ax.set_yticks(range(k), names, fontsize=8.5)
    ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"], fontsize=8)
    ax.tick_params(length=2)
    for sp in ("top", "right"):
        ax.spines[sp].set_visible(False)
    _block_labels(cv, stages, lay.chips, u)
    plain = cv.render()
    blit(plain, lay.input, style.colorize(trace.image, style.scale_for(trace.image, "input")))
    # Everything that changes is drawn with Pillow on copies of that one matplotlib render.
    chip_labels = [st.chip for st in stages] + ["prob"]
    chip_kinds = [st.kind for st in stages] + ["softmax"]
    sheets = {}
    for state in ("waiting", "active", "visited"):
        sk = Sketch.on(plain, theme)
        for b, lab, kind in zip(lay.chips, chip_labels, chip_kinds, strict=True):
            _chip(sk, b, lab, style.KIND_COLORS.get(kind, style.KIND_COLORS["other"]), state, u)
        sheets[state] = sk
    final = sheets["active"]
    to_px = ax.transData.transform
    for i, p in enumerate(probs):
        (xa, ya), (xb, yb) = to_px([(0, i - 0.36), (float(p), i + 0.36)])
        colour = style.HIGHLIGHT_COLOR if i == trace.prediction else t.muted
        if xb - xa >= 1:
            final.draw.rectangle((xa + 1, size[1] - ya, xb, size[1] - yb - 1), fill=colour)
        if p >= 0.005:
            text, y = confidence_text(float(p)), size[1] - (ya + yb) / 2
            if xb + 6 * u + final.text_width(text, 7.5) < size[0]:
                final.text(xb + 4 * u, y, text, 7.5)
            else:  # no room right of a long bar: inside its end
                ink = style.text_on(style.hex_to_rgb(colour))
                final.text(xb - 3 * u, y, text, 7.5, anchor="rm", color=ink)
    verdict = ""
    if trace.correct is not None:
        verdict = "  ✓" if trace.correct else f"  ✗ (label {names[trace.label]})"
    ok = style.CORRECT_COLOR if trace.correct is not False else style.WRONG_COLOR
    summary = f"prediction: {trace.predicted_name}  {confidence_text(trace.confidence)}{verdict}"
    final.text(size[0] - 16 * u, 38 * u, summary, 10, bold=True, color=ok, anchor="rm")
    base, final, visited = sheets["waiting"].array(), final.array(), sheets["visited"].array()

    reel = Reel(base, fps, title=f"forward pass: {trace.checkpoint or trace.architecture}")
    s_final, s_visited = reel.add_sheet(final), reel.add_sheet(visited)
    cy0, cy1, cx0, cx1 = lay.center
    csize = (cx1 - cx0, cy1 - cy0)
    panels: dict[str, list[Box]] = {}
    shown: dict[str, int] = {}

    # what each frame shows: (stage, revealed units, units); stage -1 = input only,
    # len(stages) = the softmax bars (bench/bench_render.py replays it with matplotlib)
    schedule: list[tuple[int, int, int]] = []

    def mark(stage: int, revealed: int, total: int) -> None:
        if schedule:
            schedule.extend([schedule[-1]] * (reel.n_frames - 1 - len(schedule)))
        schedule.append((stage, revealed, total))

    reel.frame()
    mark(-1, 0, 0)
    reel.hold(intro - 1)
    previous_chip: Box | None = None
    for i, stage in enumerate(stages):
        empty, done, units = _stage_sheets(stage, csize, theme, names)
        s_empty, s_done = reel.add_sheet(empty), reel.add_sheet(done)
        chip = lay.chips[i]
        first = [Paste(s_empty, (0, csize[1], 0, csize[0]), (cy0, cx0)), Paste(s_final, chip)]
        if previous_chip is not None:
            first.append(Paste(s_visited, previous_chip))
        previous_chip = chip
        reel.frame(first)
        mark(i, 0, len(units))
        steps = max(1, min(len(units), int(per_stage * 0.6) - 1))
        batches = np.array_split(np.arange(len(units)), steps)
        for batch in batches:
            reel.frame(
                [Paste(s_done, units[j], (units[j][0] + cy0, units[j][2] + cx0)) for j in batch]
            )
            mark(i, int(batch[-1]) + 1, len(units))
        shown[stage.name] = reel.n_frames - 1
        panels[stage.name] = [(b[0] + cy0, b[1] + cy0, b[2] + cx0, b[3] + cx0) for b in units]
        reel.hold(per_stage - 1 - len(batches))

    # --- softmax: the bars grow, the prediction appears -------------------------------------
    reel.frame([Paste(s_final, lay.chips[-1]), Paste(s_visited, previous_chip)])
    grow = max(1, per_stage // 2)
    mark(len(stages), 0, grow)
    bar_area = (by0 - 2, by1 + 2, bx0 - 1, bx1 + int(40 * u))
    for g in range(1, grow + 1):
        x = bx0 + round((bar_area[3] - bx0) * g / grow)
        reel.frame([Paste(s_final, (bar_area[0], bar_area[1], bx0, x))])
        mark(len(stages), g, grow)
    reel.frame([Paste(s_final, (int(26 * u), int(50 * u), size[0] // 2, size[0]))])
    reel.hold(n_frames - reel.n_frames)
    mark(len(stages), grow, grow)
    schedule.extend([schedule[-1]] * (reel.n_frames - len(schedule)))
    reel.meta = {"panels": panels, "shown": shown, "stages": stages, "layout": lay}
    reel.meta["schedule"] = schedule
    return reel


def _block_labels(cv: Canvas, stages: list[Stage], chips: list[Box], u: float) -> None:
    """Block names (``block1``...) above runs of chips that share a prefix."""
    groups: list[tuple[str, int, int]] = []
    for i, s in enumerate(stages):
        block = s.name.split(".")[0] if "." in s.name else ""
        if groups and groups[-1][0] == block:
            groups[-1] = (block, groups[-1][1], i)
        else:
            groups.append((block, i, i))
    for block, a, b in groups:
        if not block:
            continue
        y = chips[a][0] - 6 * u
        cv.fig.add_artist(
            __import__("matplotlib.lines", fromlist=["Line2D"]).Line2D(
                [cv.fx(chips[a][2] + 1), cv.fx(chips[b][3] - 1)], [cv.fy(y), cv.fy(y)],
                transform=cv.fig.transFigure, color=cv.theme.muted, linewidth=0.8,
            )
        )  # fmt: skip
        cv.text(
            (chips[a][2] + chips[b][3]) / 2,
            y - 7 * u,
            block,
            ha="center",
            fontsize=7.5,
            color=cv.theme.muted,
        )


def _chip(sk: Sketch, box: Box, label: str, colour: str, state: str, u: float) -> None:
    """One layer chip: ``waiting`` (outlined in its kind's colour), ``active`` (filled) or
    ``visited`` (greyed)."""
    y0, y1, x0, x1 = box
    t = sk.theme
    face = {"waiting": t.panel, "active": colour, "visited": t.background}[state]
    edge = t.muted if state == "visited" else colour
    sk.draw.rounded_rectangle(
        (x0, y0, x1 - 1, y1 - 1), radius=max(2, int(3 * u)), fill=face, outline=edge, width=1
    )
    ink = (
        style.text_on(style.hex_to_rgb(colour))
        if state == "active"
        else t.muted
        if state == "visited"
        else t.foreground
    )
    sk.text(
        (x0 + x1) / 2, (y0 + y1) / 2, label, 7.5, bold=state == "active", color=ink, anchor="mm"
    )
