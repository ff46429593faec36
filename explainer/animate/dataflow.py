"""``dataflow``: the architecture as blocks sized by tensor shape, painted with the real
activations as the data reaches them.

Each block is one step that changes the tensor (a convolution or dense layer together with the
batch norm / activation / dropout that only follow it, a pooling, the flatten, an addition, a
concatenation; see :func:`explainer.analysis.flowgraph.flow_blocks`), drawn as a stack of feature
maps
(side ∝ map size, stack depth ∝ number of channels) or as a column of neurons; the block shows
what leaves it. Arrows follow the real dataflow: a block fed by the one before it gets a
straight arrow, any other input (a residual connection, a second branch) an arrow over the
top. A pulse travels along them and each block lights up with its activations when the pulse
arrives; the last block is the softmax with the prediction.

Any number of blocks fits the frame: when one row would shrink them below readability they
wrap onto more rows (the softmax then a column on the right), and every block, label, arrow
and the pulse stay inside the frame. A record of any shape is drawn (token matrices as a heat
map, channels-last maps with their channels moved to the front, more axes flattened into
maps; :mod:`explainer.animate.shapes`), its own shape written under it. A requested length is
met by shorter hops, then by blocks lighting up together.

The blocks and their places (rows, arrows) come from :mod:`explainer.animate.dataflow_layout`,
the labels' from :mod:`explainer.animate.dataflow_labels`; this module draws them and times the
frames.
"""

from __future__ import annotations

import math

import numpy as np

from explainer import style
from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import tied_classes
from explainer.animate.answer import answer
from explainer.animate.canvas import Sketch, text_width
from explainer.animate.dataflow_blocks import flow_view
from explainer.animate.dataflow_labels import clear_labels, crossings, place_labels
from explainer.animate.dataflow_layout import (
    LABEL_PT,
    MAX_LAYOUT_ROWS,
    Block,
    Slot,
    along,
    arrow_paths,
    label_box,
    label_lines,
    layout,
    names_pt,
    row_names,
    tail_width,
)
from explainer.animate.length import too_short
from explainer.animate.reel import Box, Paste, Reel
from explainer.errors import ExplainerError
from explainer.tracing.trace import Trace

HOW = (
    "Each block is the tensor leaving one step (height: map size, depth: channels) in its "
    "real values; arrows: what each step reads."
)
SHORT_HOW = "Each block: the tensor leaving one step; arrows: what each step reads."
LEAST_HOP = 0.4  # seconds: a length asked for gives each block at least this, else fewer blocks
# seconds: before the first hop, each hop along an arrow, the pause at each block, the end
PACES = {
    "class": {"intro": 1.0, "hop": 0.4, "dwell": 1.2, "outro": 4.0},
    "readme": {"intro": 0.5, "hop": 0.3, "dwell": 0.0, "outro": 0.0},
}


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = np.arange(h) * a.shape[0] // h
    cols = np.arange(w) * a.shape[1] // w
    return a[rows][:, cols]


def _draw_block(sk: Sketch, b: Block, s: Slot, paint: bool, names: list[str], pred: int,
                u: float, bars: tuple[str, str] | None = None) -> None:  # fmt: skip
    """One block on ``sk``: grey placeholders, or (``paint``) its real values; ``bars``: the
    softmax's colours for the answer and the others (default: highlight and muted)."""
    t = sk.theme
    if b.kind == "probability":
        scale = style.scale_for(b.values, "probability")
    else:
        scale = style.layer_scale(b.values, b.kind)
    if b.values.ndim == 3:
        order = np.argsort(b.values.reshape(len(b.values), -1).mean(1))[-s.slabs :]
        for k, ch in enumerate(order):  # strongest in front
            sx, sy = s.x + s.off * (s.slabs - 1 - k), s.top - s.off * (s.slabs - 1 - k)
            if paint:
                sk.paste((sy, sy + s.side, sx, sx + s.side),
                         style.colorize(_resize(b.values[ch], s.side, s.side), scale))  # fmt: skip
            else:
                sk.draw.rectangle((sx, sy, sx + s.side - 1, sy + s.side - 1), fill=t.panel)
            sk.draw.rectangle((sx - 1, sy - 1, sx + s.side, sy + s.side),
                              outline=b.colour if paint else t.muted)  # fmt: skip
        return
    n, x0, top, side, height = b.values.size, s.x, s.top, s.side, s.height
    if b.kind == "probability":
        _draw_softmax(sk, b, s, paint, names, u, bars)
        return
    if paint:
        rows = np.arange(height) * n // height
        col = style.colorize(b.values[rows], scale)[:, None, :].repeat(side, 1)
        if n <= 16:
            col[(np.arange(height) * n % height) < n] = style.hex_to_rgb(t.background)
        sk.paste((top, top + height, x0, x0 + side), col)
    else:
        sk.draw.rectangle((x0, top, x0 + side - 1, top + height - 1), fill=t.panel)
    sk.draw.rectangle((x0 - 1, top - 1, x0 + side, top + height),
                      outline=b.colour if paint else t.muted)  # fmt: skip


def _draw_softmax(sk: Sketch, b: Block, s: Slot, paint: bool, names: list[str], u: float,
                  bars: tuple[str, str] | None = None) -> None:  # fmt: skip
    """The softmax as one row per class: a bar as long as its probability, the class name on
    the right, the prediction (every tied class) highlighted with its percentage; ``bars``:
    the answer's colour and the others' (greys for a picture that is no digit)."""
    t = sk.theme
    best, rest = bars or (style.HIGHLIGHT_COLOR, t.muted)
    n, x0, top, side, height = b.values.size, s.x, s.top, s.side, s.height
    k = max(0.7, u)
    row = height / n
    pt = names_pt(b, height, k)
    tied = set(tied_classes(b.values)) if paint else set()
    sk.draw.rectangle((x0 - 1, top - 1, x0 + side, top + height), fill=t.panel,
                      outline=b.colour if paint else t.muted)  # fmt: skip
    for i, name in enumerate(names[:n]):
        y0, y1 = top + i * row + 1, top + (i + 1) * row - 1
        p = float(b.values[i])
        hit = i in tied
        if paint and p * side >= 1:
            colour = best if hit else rest
            sk.draw.rectangle((x0, y0, x0 + p * side - 1, y1 - 1), fill=colour)
        text = f"{name} {confidence_text(p)}" if hit else name
        sk.text(x0 + side + 5 * u, (y0 + y1) / 2, text, pt, bold=hit,
                color=t.foreground if hit or not paint else t.muted)  # fmt: skip


def _draw_labels(sk: Sketch, b: Block, s: Slot, u: float, k: float = 1.0) -> None:
    for j, (line, shape) in enumerate(label_lines(b)):
        sk.text(sum(s.label_x) / 2, s.label_top + s.line_h * j, line, LABEL_PT * k,
                bold=not shape, anchor="mm",
                color=sk.theme.muted if shape else sk.theme.foreground)  # fmt: skip


def _draw_path(sk: Sketch, pts: list[tuple[float, float]], u: float, colour=None) -> None:
    """An arrow along ``pts`` (a skip's: thicker, in ``colour``)."""
    t = sk.theme
    width = max(1, int(u)) + (1 if colour else 0)
    sk.line(pts, color=colour or t.muted, width=width)
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    d = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / d, (y1 - y0) / d
    tip = (x1, y1)
    head = min(6 * u, 0.8 * d)  # a short arrow's head stays between its ends
    back, half = (x1 - head * ux, y1 - head * uy), head * 2 / 3
    sk.draw.polygon([tip, (back[0] - half * uy, back[1] + half * ux),
                     (back[0] + half * uy, back[1] - half * ux)],
                    fill=colour or t.muted)  # fmt: skip


def _arranged(sk: Sketch, blocks: list[Block], names: list[str], u: float, k: float):
    """``(slots, arrows, tail)``: the blocks laid out, labelled and joined; when an arrow
    still crosses a label (or labels meet), labelled the softmax first (on rows), then on
    more rows, up to :data:`MAX_LAYOUT_ROWS` (the arrangement with the fewest crossings)."""
    best = None
    rows = 1
    while True:
        for soft_first in (False, True):
            n, slots, paths, tail = _labelled(sk, blocks, names, u, k, rows, soft_first)
            if best is None or n < best[0]:
                best = (n, slots, paths, tail)
            if n == 0 or not any(s.row for s in slots):
                break
        rows = max(s.row for s in slots) + 2
        if best[0] == 0 or rows > min(MAX_LAYOUT_ROWS, len(blocks) - 1):
            return best[1:]


def _labelled(sk: Sketch, blocks: list[Block], names: list[str], u: float, k: float, rows: int,
              soft_first: bool):  # fmt: skip
    """``(crossings, slots, arrows, tail)`` of the blocks on at least ``rows`` rows, the
    softmax's label placed first or last."""
    slots = layout(blocks, (sk.width, sk.height), u, k, names, rows)
    tail = tail_width(blocks[-1], names, slots[-1].height, k, u)
    place_labels(sk, blocks, slots, u, tail, k, soft_first)
    paths = arrow_paths(blocks, slots, u)
    for _ in range(6):  # labels an arrow crosses move, the arrows follow them
        clear_labels(sk, blocks, slots, paths, u, tail, k)
        moved, paths = paths, arrow_paths(blocks, slots, u)
        if moved == paths:
            break
    return crossings(slots, paths, u), slots, paths, tail


def _sketches(trace: Trace, blocks: list[Block], size, theme: str, u: float, view: str = ""):
    """The base (placeholders) and painted pictures, the blocks' slots and the edges'
    polylines."""
    W, H = size
    t = style.theme(theme)
    k = max(0.7, u)
    margin = int(24 * u)
    names = trace.class_names or [str(i) for i in range(len(trace.logits))]
    base = Sketch(size, theme)
    who = trace.checkpoint or trace.architecture
    title = f"Data flow through {who}" + (f", {view}" if view else "")
    base.fitted(margin, 18 * u, title, 11.5 * k, W * 0.46, bold=True)
    said = answer(trace, names, theme)
    room = W - 2 * margin  # a picture that is no digit keeps the right for its verdict's end
    room -= text_width(said.lines[1][0], 9.5 * k, True) + 16 * u if said.flagged else 0
    base.fitted(margin, 38 * u, SHORT_HOW if said.flagged else HOW, 8.5 * k, room,
                color=t.muted)  # fmt: skip
    painted = Sketch.on(base.array(), theme)
    rows = row_names(trace)
    slots, paths, tail = _arranged(base, blocks, rows, u, k)
    for sk, paint in ((base, False), (painted, True)):
        for b, s in zip(blocks, slots, strict=True):
            _draw_block(sk, b, s, paint, rows, trace.prediction, u, (said.top, said.rest))
            _draw_labels(sk, b, s, u, k)
        for key, pts in paths.items():
            _draw_path(sk, pts, u, style.KIND_COLORS["add"] if len(key) == 3 else None)
        _legend(sk, (H - int(44 * u), W, margin), u)
    if said.flagged:  # said first, on two lines: the verdict, then the forced answer
        for j, (text, colour) in enumerate(said.lines):
            painted.fitted(W - margin, (18 + 20 * j) * u, text, (11 if j == 0 else 9.5) * k,
                           W * 0.5, bold=True, anchor="rm", color=colour)  # fmt: skip
    else:
        painted.fitted(W - margin, 18 * u, said.line, 11 * k, W * 0.5, bold=True, anchor="rm",
                       color=said.lines[0][1])  # fmt: skip
    return base, painted, slots, paths, tail, said


def default_seconds(
    trace: Trace, fps: float = 15, pace: str = "class", *, block: str | None = None,
    by_blocks: bool | None = None,
) -> float:  # fmt: skip
    """The length at ``pace``: class: 1 s, then 1.6 s per block (0.4 s along the arrow, 1.2 s
    to say what it is), 4 s on the prediction; readme: 10 s (longer when 0.3 s per arrow needs
    it). ``block``, ``by_blocks``: as :func:`build_dataflow`."""
    p = _pace(pace)
    n = len(flow_view(trace, block=block, by_blocks=by_blocks)[0])
    wanted = p["intro"] + (n - 1) * (p["hop"] + p["dwell"]) + p["outro"]
    need = max(1, round(fps * p["intro"])) + (n - 1) * (max(2, round(fps * p["hop"])) + 1) + 1
    return float(max(math.ceil(need / fps) + 1, math.ceil(wanted), 10 if pace == "readme" else 1))


def _pace(pace: str) -> dict[str, float]:
    if pace not in PACES:
        raise ExplainerError(f"unknown pace {pace!r}; choose one of: {', '.join(PACES)}")
    return PACES[pace]


def build_dataflow(
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
    """The data-flow animation as a :class:`Reel`; ``reel.meta["blocks"]`` lists the blocks,
    ``reel.meta["boxes"]`` their pixel boxes, ``reel.meta["labels"]`` their labels' boxes
    ``(y0, y1, x0, x1)``, ``reel.meta["paths"]`` the arrows' polylines by
    ``(source, block)`` and ``reel.meta["skips"]`` the skip arcs' by residual block.

    A network of more than 24 drawn records is drawn by blocks (``by_blocks=False``: every step;
    True: blocks however small; :mod:`explainer.animate.dataflow_blocks`), fewer and bigger
    ones when a length asked for leaves a block less than :data:`LEAST_HOP` seconds;
    ``block="layer2.0"`` opens one block to its steps."""
    p = _pace(pace)
    if seconds is None:
        seconds = default_seconds(trace, fps, pace, block=block, by_blocks=by_blocks)
    most = max(2, int(seconds / LEAST_HOP))
    blocks, view = flow_view(trace, block=block, by_blocks=by_blocks, most=most)
    W, H = size
    u = min(W / 800, H / 450)
    n_frames = round(fps * seconds)
    base, painted, slots, arrows, tail, said = _sketches(trace, blocks, size, theme, u, view)
    boxes = [s.box for s in slots]
    paths = {key: pts for key, pts in arrows.items() if len(key) == 2}
    skips = {key[1]: pts for key, pts in arrows.items() if len(key) == 3}
    reel = Reel(base.array(), fps, title=f"data flow: {trace.checkpoint or trace.architecture}")
    s_paint = reel.add_sheet(painted.array())
    r = int(14 * u)
    dot = Sketch((r, r), theme)
    dot.draw.ellipse((1, 1, r - 2, r - 2), fill=style.HIGHLIGHT_COLOR, outline=dot.theme.foreground)
    s_dot = reel.add_sheet(dot.array())

    intro, hop, dwell, group = _timing(len(blocks), fps, n_frames, p)
    pulse: list[tuple[int, float, float]] = []  # (frame, x, y): the pulse centre, unclamped
    answer_box = (0, int((14 + 20 * len(said.lines)) * u), W // 2, W)
    said_from = -1
    reel.frame([Paste(s_paint, _grow(slots[0], H, W, u))])
    reel.hold(intro - 1 + dwell)
    i = 1
    while i < len(blocks):
        src = i - 1 if i - 1 in blocks[i].sources else blocks[i].sources[0]
        pts = paths[(src, i)]
        prev = None
        for h in range(hop):
            px, py = along(pts, h / max(1, hop - 1))
            at = (max(0, min(H - r, int(py - r / 2))), max(0, min(W - r, int(px - r / 2))))
            # erase the dot: painted where it left a painted block, unpainted near the next one
            under = s_paint if h <= hop // 2 else 0
            pastes = (
                [] if prev is None else [Paste(under, (prev[0], prev[0] + r, prev[1], prev[1] + r))]
            )
            pastes.append(Paste(s_dot, (0, r, 0, r), at))
            pulse.append((reel.n_frames, px, py))
            reel.frame(pastes)
            prev = at
        lit = range(i, min(len(blocks), i + group))
        pastes = [] if prev is None else [Paste(0, (prev[0], prev[0] + r, prev[1], prev[1] + r))]
        for j in lit:
            last = j == len(blocks) - 1
            pastes.append(Paste(s_paint, _grow(slots[j], H, W, u, tail if last else 0)))
            if last and said.flagged:  # said first: with the softmax, before anything else
                pastes.append(Paste(s_paint, answer_box))
                said_from = reel.n_frames
        reel.frame(pastes)
        reel.hold(dwell)
        i += group
    reel.frame([Paste(s_paint, answer_box)])
    said_from = reel.n_frames - 1 if said_from < 0 else said_from
    reel.hold(n_frames - reel.n_frames)
    reel.meta = {"blocks": blocks, "boxes": boxes, "paths": paths, "pace": pace, "view": view,
                 "pulse": pulse, "pulse_size": r, "skips": skips,
                 "labels": [label_box(s) for s in slots], "answer": said,
                 "answer_from": said_from}  # fmt: skip
    return reel


def _timing(n: int, fps: float, n_frames: int, p: dict) -> tuple[int, int, int, int]:
    """``(intro, hop, dwell, group)`` in frames for ``n`` blocks: the pace's own when the
    frames allow, else the short loop's hops, else shorter hops (down to none: the blocks
    light up in turn), else ``group`` blocks lighting up together in each frame."""
    hop, intro = max(2, round(fps * p["hop"])), max(1, round(fps * p["intro"]))
    if intro + (n - 1) * (hop + 1) + 1 > n_frames:  # a shorter length: the short loop's hops
        p = PACES["readme"]
        hop, intro = max(2, round(fps * p["hop"])), max(1, round(fps * p["intro"]))
    need = intro + (n - 1) * (hop + 1) + 1
    if need > n_frames:  # shorter hops still, then several blocks a frame
        intro = 1
        hop = max(0, (n_frames - 2) // (n - 1) - 1)
        need = intro + (n - 1) * (hop + 1) + 1
    group = max(1, math.ceil((n - 1) / max(1, n_frames - 2))) if need > n_frames else 1
    if n_frames < 3:
        raise too_short(f"the data flow of {n} blocks", 3, fps, n_frames / fps)
    steps = math.ceil((n - 1) / group)
    need = intro + steps * (hop + 1) + 1
    # a pause at each block (class pace: long enough to name it), the rest at the end
    dwell = (n_frames - need) // (2 * n)
    if p["dwell"]:
        end = min(round(fps * p["outro"]), (n_frames - need) // 2)
        dwell = min(round(fps * p["dwell"]), (n_frames - need - end) // n)
    return intro, hop, max(0, dwell), group


def _grow(s: Slot, height: int, width: int, u: float, tail: float = 0.0) -> Box:
    """The pixels that light up when the data reaches a block: the block (and the softmax's
    class names); its labels read the same before and after, and the next block stays dark."""
    y0, y1, x0, x1 = s.box
    pad = max(2, int(3 * u))
    right = x1 + pad + (tail + 4 if tail else 0)
    return (max(0, y0 - pad), min(height, y1 + pad), max(0, x0 - pad), min(width, int(right)))


def _legend(sk: Sketch, where: tuple[int, int, int], u: float) -> None:
    y, w, x0 = where
    t = sk.theme
    k = max(0.7, u)
    sk.draw.rectangle((0, y - 6 * u, w, y + 40 * u), fill=t.panel)
    items = [
        (
            style.colorize(
                np.linspace(-1, 1, 40)[None].repeat(8, 0), style.Scale(style.SIGNED_CMAP, -1, 1, "")
            ),
            "signed values: blue < 0 < red",
        ),
        (
            style.colorize(
                np.linspace(0, 1, 40)[None].repeat(8, 0), style.Scale(style.POSITIVE_CMAP, 0, 1, "")
            ),
            "values ≥ 0: dark = 0, bright = strong",
        ),
        (
            style.colorize(
                np.linspace(0, 1, 40)[None].repeat(8, 0),
                style.Scale(style.PROBABILITY_CMAP, 0, 1, ""),
            ),
            "probability 0 → 1",
        ),
    ]
    x = x0
    for rgb, text in items:
        sk.paste((int(y + 8 * u), int(y + 8 * u) + 8, int(x), int(x) + 40), rgb)
        x += 46 + sk.fitted(x + 46, y + 12 * u, text, 8 * k, (w - 2 * x0) / 3 - 60 * u) + 26 * u
    sk.fitted(x0, y + 29 * u, "Each block shows its most varied channels in front; every map "
              "uses its own layer's scale.", 7.5 * k, w - 2 * x0, color=t.muted)  # fmt: skip
