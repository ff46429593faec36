"""``forward``: one picture through every layer of the network, revealed layer by layer.

Frame layout (800×450 by default): the input on the left, the current layer in the middle
(all channels as a grid, the layer's name, what it does, its output shape and a colour bar;
the output record as one row per class with its score), the softmax bars on the right, and a
row of layer chips along the bottom showing where the data is. Dropout layers are skipped:
they do nothing at test time. At ``pace="class"`` each layer stays complete on screen for at
least :data:`CLASS_HOLD` seconds, long enough to say what it does; ``pace="readme"`` is a
short loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explainer import style
from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import source_title, tied_classes
from explainer.animate.answer import Answer, answer
from explainer.animate.canvas import (
    Canvas,
    Sketch,
    blit,
    fit_text,
    text_width,
)
from explainer.animate.forward_blocks import block_sheets, view_stages
from explainer.animate.forward_sheets import stage_sheets
from explainer.animate.forward_stages import Stage
from explainer.animate.length import too_short
from explainer.animate.reel import Box, Paste, Reel
from explainer.errors import ExplainerError
from explainer.text import clip_text
from explainer.tracing.trace import Trace

CLASS_NAME_CHARS = 24  # a class name from a checkpoint is cut there (an ellipsis ends it)
LEAST_STEP = 0.6  # seconds: fewer, bigger blocks when a length asked for gives less per block
CLASS_HOLD = 2.0  # seconds each complete layer stays on screen at class pace
# seconds: before the first layer, per layer (reveal + hold), of the reveal, after the bars grow
PACES = {
    "class": {"intro": 1.5, "stage": 2.5, "reveal": 0.4, "outro": 4.0},
    "readme": {"intro": 0.6, "stage": 0.8, "reveal": 0.5, "outro": 1.6},
}


def pace_of(pace: str) -> dict[str, float]:
    if pace not in PACES:
        raise ExplainerError(f"unknown pace {pace!r}; choose one of: {', '.join(PACES)}")
    return PACES[pace]


def default_seconds(
    trace: Trace, fps: float = 15, pace: str = "class", *, block: str | None = None,
    by_blocks: bool | None = None,
) -> float:  # fmt: skip
    """The length that gives every layer (or block, see :func:`view_stages`) its time at
    ``pace`` (class: 2.5 s per step, 1.5 s before and 4 s after; readme: 0.8 s per step, at
    least 10 s), and at least two frames per step at ``fps``."""
    p = pace_of(pace)
    n = len(view_stages(trace, block=block, by_blocks=by_blocks)[0]) + 1  # and the softmax
    need = math.ceil((2 * n + round(fps * p["intro"]) + round(fps * p["outro"])) / fps)
    wanted = p["intro"] + p["stage"] * n + p["outro"]
    return float(max(need, math.ceil(wanted), 10 if pace == "readme" else 1))


@dataclass
class ForwardLayout:
    """Pixel boxes of the forward frame."""

    input: Box
    center: Box
    bars: Box
    chips: list[Box]
    label_w: int = 0  # the class names' column left of the bars
    k: float = 1.0  # font scale


def font_scale(size: tuple[int, int]) -> float:
    """Fonts grow with the frame (a 1280×720 projector gets 1.6×) and shrink to 0.7× at most."""
    return max(0.7, min(size[0] / 800, size[1] / 450))


def _layout(size: tuple[int, int], n_stages: int, names: list[str]) -> ForwardLayout:
    w, h = size
    u = min(w / 800, h / 450)
    k = font_scale(size)
    f = max(1, int(84 * u) // 28)
    top = int(58 * u)
    chip_h = int(22 * u)
    chips_y = h - int(8 * u) - chip_h
    center_bottom = chips_y - int(6 * u + 13 * k)  # room for the block names
    x_in = int(18 * u)
    inp = (top + int(34 * u), top + int(34 * u) + 28 * f, x_in, x_in + 28 * f)
    bars_w = int(120 * u)
    bars_x1 = w - int(42 * u)
    label_w = int(max(text_width(n, 8.5 * k) for n in names) + 8 * u)
    bars = (top + int(30 * u), center_bottom - int(30 * u), bars_x1 - bars_w, bars_x1)
    left = max(inp[3], x_in + int(text_width("28×28 pixels", 8.5 * k))) + int(30 * u)
    center = (top - int(4 * u), center_bottom, left, bars[2] - label_w - int(24 * u))
    x0, x1 = int(16 * u), w - int(16 * u)
    step = (x1 - x0) / n_stages
    chips = [
        (chips_y, chips_y + chip_h, int(x0 + i * step) + 1, int(x0 + (i + 1) * step) - 1)
        for i in range(n_stages)
    ]
    return ForwardLayout(inp, center, bars, chips, label_w, k)


def _static(trace: Trace, stages: list[Stage], lay: ForwardLayout, size, theme, names, view=""):
    """The matplotlib frame drawn once: header, input, empty softmax chart, block labels."""
    cv = Canvas(size, theme)
    t, k = cv.theme, lay.k
    u = min(size[0] / 800, size[1] / 450)
    who = trace.checkpoint or trace.architecture
    x_left = lay.input[2]
    title = f"Forward pass through {who}" + (f", {view}" if view else "")
    title, pt = fit_text(title, 11.5 * k, size[0] * 0.55, bold=True)
    cv.text(x_left, 18 * u, title, fontsize=pt, weight="bold")
    src = source_title(trace)
    if src:
        src, pt = fit_text(src, 9 * k, size[0] * 0.55)
        cv.text(x_left, 38 * u, src, fontsize=pt, color=t.muted)
    y0, y1, x0, x1 = lay.input
    col_w = lay.center[2] - x0 - 8 * u
    cv.text(x0, y0 - 12 * u, "input", fontsize=10 * k, weight="bold")
    cv.box(lay.input, edge=t.muted, lw=0.8)
    text, pt = fit_text("28×28 pixels", 8.5 * k, col_w)
    cv.text(x0, y1 + 12 * u, text, fontsize=pt, color=t.muted)
    if trace.label is not None:
        text, pt = fit_text(f"label: {names[trace.label]}", 9.5 * k, col_w)
        cv.text(x0, y1 + 30 * u, text, fontsize=pt)
    bar_w = max(x1 - x0, int(60 * u))
    cv.text(x0, y1 + 48 * u, "pixel value", fontsize=7.5 * k, color=t.muted)
    cv.colorbar((y1 + 56 * u, y1 + 64 * u, x0, x0 + bar_w), style.scale_for(trace.image, "input"),
                orientation="horizontal", ticks=[0, 1], fontsize=7.5 * k)  # fmt: skip
    mid = (y0 + y1) / 2
    cv.arrow((x1 + 6 * u, mid), (lay.center[2] - 6 * u, mid))
    by0, by1, bx0, _ = lay.bars
    k_cls = len(trace.probs)
    # into the chart between two class rows, left of the names: it never lands on a label
    y_arrow = by0 + (k_cls // 2) / max(1, k_cls) * (by1 - by0)
    cv.arrow((lay.center[3] + 2 * u, y_arrow), (bx0 - lay.label_w - 4 * u, y_arrow))
    head, pt = fit_text("softmax: probability", 10 * k, size[0] - (bx0 - lay.label_w) - 8 * u,
                        bold=True)  # fmt: skip
    cv.text(bx0 - lay.label_w, by0 - 20 * u, head, fontsize=pt, weight="bold")
    ax = cv.axes(lay.bars)
    ax.set_xlim(0, 1)
    ax.set_ylim(k_cls - 0.5, -0.5)
    row_px = (by1 - by0) / max(1, k_cls)
    ax.set_yticks(range(k_cls), names, fontsize=min(8.5 * k, row_px * 0.6 * 72 / 100))
    ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"], fontsize=8 * k)
    ax.tick_params(length=2)
    for sp in ("top", "right"):
        ax.spines[sp].set_visible(False)
    _block_labels(cv, stages, lay.chips, u, k)
    return cv, ax


def _final_sheet(sk: Sketch, trace: Trace, ax, lay: ForwardLayout, names, size) -> Answer:
    """The bars at their lengths, the percentages and the answer, on the "active" sheet; the
    answer as drawn. A picture that is no digit gets grey bars and the verdict first."""
    k = lay.k
    u = min(size[0] / 800, size[1] / 450)
    probs = trace.probs
    tied = set(tied_classes(probs))
    said = answer(trace, names, sk.theme.name)
    to_px = ax.transData.transform
    for i, p in enumerate(probs):
        (xa, ya), (xb, yb) = to_px([(0, i - 0.36), (float(p), i + 0.36)])
        colour = said.top if i in tied else said.rest
        if xb - xa >= 1:
            sk.draw.rectangle((xa + 1, size[1] - ya, xb, size[1] - yb - 1), fill=colour)
        if p >= 0.005:
            text, y = confidence_text(float(p)), size[1] - (ya + yb) / 2
            pt = min(7.5 * k, abs(yb - ya) * 0.9 * 72 / 100)
            if xb + 6 * u + sk.text_width(text, pt) < size[0]:
                sk.text(xb + 4 * u, y, text, pt)
            else:  # no room right of a long bar: inside its end
                ink = style.text_on(style.hex_to_rgb(colour))
                sk.text(xb - 3 * u, y, text, pt, anchor="rm", color=ink)
    for j, (text, colour) in enumerate(said.lines):
        sk.fitted(size[0] - 16 * u, (18 + 20 * j) * u, text, (10.5 if j == 0 else 9.5) * k,
                  size[0] * 0.42, bold=True, color=colour, anchor="rm")  # fmt: skip
    return said


def _timing(n_stages: int, fps: float, seconds: float, pace: str) -> tuple[int, int, int, int]:
    """``(intro, per_stage, reveal, n_frames)`` in frames; ``per_stage`` may be 0 when there
    are more layers than frames (:func:`_kept` then picks the layers shown)."""
    p = pace_of(pace)
    n_frames = round(fps * seconds)
    intro, outro = round(fps * p["intro"]), round(fps * p["outro"])
    spare = n_frames - (p["intro"] + p["outro"]) * fps
    if spare < p["stage"] * fps * (n_stages + 1):  # a shorter length: shorter ends first
        intro, outro = round(fps * 0.6), round(fps * 1.6)
    if n_frames - intro - outro < 2 * (n_stages + 1):  # fewer frames still: the least ends
        intro, outro = 1, 3
    if n_frames < intro + outro + 2:
        raise too_short(f"the forward pass of {n_stages} layers", intro + outro + 2, fps, seconds)
    per_stage = (n_frames - intro - outro) // (n_stages + 1)
    reveal = max(1, min(round(fps * p["reveal"]), per_stage - 1))
    return intro, per_stage, reveal, n_frames


def _kept(n_stages: int, n_frames: int, intro: int) -> list[int]:
    """The stages given a frame of their own: all when the frames allow, else evenly spread
    ones (always the first and the last), one frame each."""
    room = n_frames - intro - 3
    if room >= n_stages:
        return list(range(n_stages))
    return sorted({round(x) for x in np.linspace(0, n_stages - 1, max(1, room))})


def build_forward(
    trace: Trace,
    *,
    fps: float = 15,
    seconds: float | None = None,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
    pace: str = "class",
    block: str | None = None,
    by_blocks: bool | None = None,
) -> Reel:
    """The forward animation of ``trace`` as a :class:`Reel` with ``round(fps * seconds)``
    frames of ``size`` pixels (default length: :func:`default_seconds` at ``pace``).

    A network of more than 24 drawn records is shown by blocks (``by_blocks=False``: every record;
    True: blocks however small), each block's picture with its input, its steps, its output
    and its skip; ``block="layer2.0"`` opens one block to its records. When a length asked
    for leaves a block less than :data:`LEAST_STEP` seconds, blocks merge into stages.

    ``reel.meta`` holds the layout: ``panels[layer]`` (the frame boxes of each channel, of
    the vector's tile rows, or of each class row), ``shown[layer]`` (the first frame where
    that layer is complete), ``until[layer]`` (the first frame of the next layer),
    ``schedule`` (per frame: stage, revealed units, units), ``answer`` (the
    :class:`~explainer.animate.answer.Answer` drawn: its lines and bar colours) and
    ``answer_from`` (the first frame showing it; for a picture that is no digit, the first
    frame of the softmax, before its bars grow)."""
    if seconds is None:
        seconds = default_seconds(trace, fps, pace, block=block, by_blocks=by_blocks)
    ends = round(fps * 0.6) + round(fps * 1.6)  # the short intro and outro of _timing
    most = max(1, int((round(fps * seconds) - ends) / (fps * LEAST_STEP)) - 1)
    stages, view = view_stages(trace, block=block, by_blocks=by_blocks, most=most)
    intro, per_stage, reveal, n_frames = _timing(len(stages), fps, seconds, pace)
    names = [clip_text(n, CLASS_NAME_CHARS) for n in trace.class_names] or [
        str(i) for i in range(len(trace.logits))
    ]
    lay = _layout(size, len(stages) + 1, names)
    u = min(size[0] / 800, size[1] / 450)
    cv, ax = _static(trace, stages, lay, size, theme, names, view)
    plain = cv.render()
    blit(plain, lay.input, style.colorize(trace.image, style.scale_for(trace.image, "input")))
    # Everything that changes is drawn with Pillow on copies of that one matplotlib render.
    chip_labels = [st.chip for st in stages] + ["prob"]
    chip_kinds = [st.kind for st in stages] + ["softmax"]
    sheets = {}
    for state in ("waiting", "active", "visited"):
        sk = Sketch.on(plain, theme)
        for b, lab, kind in zip(lay.chips, chip_labels, chip_kinds, strict=True):
            colour = style.KIND_COLORS.get(kind, style.KIND_COLORS["other"])
            _chip(sk, b, lab, colour, state, u, lay.k)
        sheets[state] = sk
    said = _final_sheet(sheets["active"], trace, ax, lay, names, size)
    base, final, visited = (sheets[s].array() for s in ("waiting", "active", "visited"))

    reel = Reel(base, fps, title=f"forward pass: {trace.checkpoint or trace.architecture}")
    s_final, s_visited = reel.add_sheet(final), reel.add_sheet(visited)
    cy0, cy1, cx0, cx1 = lay.center
    csize = (cx1 - cx0, cy1 - cy0)
    panels: dict[str, list[Box]] = {}
    shown: dict[str, int] = {}
    until: dict[str, int] = {}

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
    previous = 0  # the first chip not yet marked visited
    kept = _kept(len(stages), n_frames, intro) if per_stage < 2 else list(range(len(stages)))
    for n_kept, i in enumerate(kept):
        stage = stages[i]
        if n_kept:
            until[stages[kept[n_kept - 1]].name] = reel.n_frames
        sheets_of = block_sheets if stage.before is not None else stage_sheets
        empty, done, units = sheets_of(stage, csize, theme, names, lay.k)
        s_empty, s_done = reel.add_sheet(empty), reel.add_sheet(done)
        whole = (0, csize[1], 0, csize[0])
        first = [Paste(s_done if per_stage < 2 else s_empty, whole, (cy0, cx0)),
                 Paste(s_final, lay.chips[i])]  # fmt: skip
        if i > previous:
            first.append(Paste(s_visited, _chip_span(lay.chips, previous, i)))
        previous = i
        reel.frame(first)
        mark(i, len(units) if per_stage < 2 else 0, len(units))
        batches = [] if per_stage < 2 else np.array_split(
            np.arange(len(units)), max(1, min(len(units), reveal)))  # fmt: skip
        for batch in batches:
            reel.frame(
                [Paste(s_done, units[j], (units[j][0] + cy0, units[j][2] + cx0)) for j in batch]
            )
            mark(i, int(batch[-1]) + 1, len(units))
        shown[stage.name] = reel.n_frames - 1
        panels[stage.name] = [(b[0] + cy0, b[1] + cy0, b[2] + cx0, b[3] + cx0) for b in units]
        reel.hold(per_stage - 1 - len(batches))
    until[stages[kept[-1]].name] = reel.n_frames
    previous_chip = _chip_span(lay.chips, previous, len(stages))

    # --- softmax: the bars grow, the prediction appears -------------------------------------
    answer_box = (0, int((28 + 20 * len(said.lines)) * u), size[0] // 2, size[0])
    first = [Paste(s_final, lay.chips[-1]), Paste(s_visited, previous_chip)]
    reel.frame(first + ([Paste(s_final, answer_box)] if said.flagged else []))  # said first
    said_from = reel.n_frames - 1 if said.flagged else -1
    grow = max(1, min(per_stage // 2, round(fps * 0.8)))
    mark(len(stages), 0, grow)
    by0, by1, bx0, bx1 = lay.bars
    bar_area = (by0 - 2, by1 + 2, bx0 - 1, bx1 + int(40 * u))
    for g in range(1, grow + 1):
        x = bx0 + round((bar_area[3] - bx0) * g / grow)
        reel.frame([Paste(s_final, (bar_area[0], bar_area[1], bx0, x))])
        mark(len(stages), g, grow)
    reel.frame([Paste(s_final, answer_box)])
    said_from = reel.n_frames - 1 if said_from < 0 else said_from
    reel.hold(n_frames - reel.n_frames)
    mark(len(stages), grow, grow)
    schedule.extend([schedule[-1]] * (reel.n_frames - len(schedule)))
    reel.meta = {"panels": panels, "shown": shown, "until": until, "stages": stages, "view": view,
                 "layout": lay, "schedule": schedule, "pace": pace,
                 "answer": said, "answer_from": said_from}  # fmt: skip
    return reel


def _chip_span(chips: list[Box], a: int, b: int) -> Box:
    """The box covering chips ``a`` to ``b - 1`` (one row of chips)."""
    return (chips[a][0], chips[a][1], chips[a][2], chips[max(a, b - 1)][3])


def _block_labels(cv: Canvas, stages: list[Stage], chips: list[Box], u: float, k: float) -> None:
    """Block names (``block1``...) above runs of chips that share a prefix."""
    from matplotlib.lines import Line2D

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
            Line2D([cv.fx(chips[a][2] + 1), cv.fx(chips[b][3] - 1)], [cv.fy(y), cv.fy(y)],
                   transform=cv.fig.transFigure, color=cv.theme.muted, linewidth=0.8)
        )  # fmt: skip
        text, pt = fit_text(block, 7.5 * k, chips[b][3] - chips[a][2])
        cv.text((chips[a][2] + chips[b][3]) / 2, y - 7 * u, text, ha="center", fontsize=pt,
                color=cv.theme.muted)  # fmt: skip


def _chip(sk: Sketch, box: Box, label: str, colour: str, state: str, u: float, k: float) -> None:
    """One layer chip: ``waiting`` (outlined in its kind's colour), ``active`` (filled) or
    ``visited`` (a tint of its colour). Every state reads on both themes."""
    y0, y1, x0, x1 = box
    t = sk.theme
    face = {
        "waiting": t.panel,
        "active": colour,
        "visited": style.mix(colour, t.background, 0.35),
    }[state]
    edge = style.mix(colour, t.foreground, 0.8) if state == "active" else colour
    sk.draw.rounded_rectangle(
        (x0, y0, x1 - 1, y1 - 1), radius=max(2, int(3 * u)), fill=face, outline=edge,
        width=max(1, round(1.4 * u)),
    )  # fmt: skip
    ink = style.text_on(style.hex_to_rgb(colour)) if state == "active" else t.foreground
    sk.fitted((x0 + x1) / 2, (y0 + y1) / 2, label, 7.5 * k, x1 - x0 - 3, bold=state == "active",
              color=ink, anchor="mm")  # fmt: skip
