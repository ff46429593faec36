"""Where the data-flow diagram's labels go: below / above their blocks, clear of the blocks,
of each other and of every arrow (see :mod:`explainer.animate.dataflow_layout` for the blocks'
places and the arrows' paths). Boxes are ``(y0, y1, x0, x1)`` in pixels.

When the blocks wrap onto rows, an arrow between rows and an arrow over the top runs where
its blocks are, whatever the labels do: those pixels are kept out of every label (but the
label an arrow lands on) before any label is placed, so that a label never has to give way
to an arrow that itself gives way to labels.
"""

from __future__ import annotations

import itertools

import numpy as np

from explainer.animate.canvas import Sketch
from explainer.animate.dataflow_layout import (
    Block,
    Slot,
    label_box,
    label_lines,
    label_sides,
    label_width,
    meets,
    next_path,
    run_lanes,
    segment_box,
)

Area = tuple[tuple[float, float, float, float], int]  # a box and the block whose label may use it


def keep_outs(blocks: list[Block], slots: list[Slot], u: float) -> tuple[list[Area], list[Area]]:
    """The pixels the arrows of a wrapped layout take whatever the labels do, each with the
    block whose own label may still touch it (-1: none): over a block an arrow rises from or
    lands on, down from a block to a later row, along the top of the row it lands in, and
    the arrows from the end of a row to the start of the next. A layout of one row: none."""
    if not any(s.row for s in slots):
        return [], []
    pad = max(2.0, 2 * u) + 1
    out: list[Area] = []
    chimneys: list[Area] = []
    for key, (y, x0, x1, detour) in run_lanes(blocks, slots, u).items():
        a, s = slots[key[0]], slots[key[1]]
        out.append(((y - pad, y + pad, x0 - pad, x1 + pad), -1))
        chimneys.append(((y, s.box[0], *s.box[2:]), key[1]))
        if detour:  # down from its source, along the row's bottom, down the margin
            yb, xm = detour
            out += [((a.box[1], yb + pad, a.cx - pad, a.cx + pad), -1),
                    ((yb - pad, yb + pad, xm - pad, a.cx + pad), -1),
                    ((yb - pad, y + pad, xm - pad, xm + pad), -1)]  # fmt: skip
        elif a.row != s.row:  # down from the bottom of its source
            out.append(((a.box[1], y, a.cx - pad, a.cx + pad), -1))
        else:
            chimneys.append(((y, a.box[0], *a.box[2:]), key[0]))
    last = len(blocks) - 1
    for i in range(1, len(blocks)):  # from the end of a row to the next, into the softmax
        if i - 1 in blocks[i].sources and (slots[i - 1].row != slots[i].row or i == last):
            pts = next_path(slots[i - 1], slots[i], u, i == last)
            out += [(segment_box(p, q, pad), -1) for p, q in itertools.pairwise(pts)]
    return out, chimneys


def shut(chimney: tuple[float, float, float, float], labels: list, u: float) -> bool:
    """Whether ``labels`` (boxes) leave no place over a block (``chimney``: the rows of pixels
    above it and its own span) where an arrow can rise 3 px clear of them all."""
    pad = 3 * u
    lo, hi = chimney[2] + pad, chimney[3] - pad
    spans = sorted((b[2] - pad, b[3] + pad) for b in labels
                   if b[1] > chimney[0] and b[0] < chimney[1] and b[3] + pad >= lo
                   and b[2] - pad <= hi)  # fmt: skip
    if lo > hi:  # a narrow block: the arrow runs at its middle
        lo = hi = (chimney[2] + chimney[3]) / 2
    for x0, x1 in spans:
        if x0 > lo + 2:  # a gap the arrow fits in
            return False
        lo = max(lo, x1)
    return lo > hi


def place_labels(sk: Sketch, blocks: list[Block], slots: list[Slot], u: float,
                  tail: float = 0.0, k: float = 1.0, soft_first: bool = False) -> None:  # fmt: skip
    """Labels alternate below / above the blocks (a residual block's below, under its skip's
    arc; one with an arrow down to a later row above); a label that would touch another
    block, the class names, a label already placed or an arrow's :func:`keep_outs` goes to
    the other side, else one row further out (on rows, never out of its row)."""
    taken = _blocks_taken(blocks, slots, u, tail)
    keep, chimneys = keep_outs(blocks, slots, u)
    low = sk.height - 50 * u  # the legend's top
    wrapped = any(s.row for s in slots)
    placed: list = []

    def clashes(r: tuple[float, float, float, float], i: int) -> int:
        if r[0] < 44 * u or r[1] > low or r[2] < 0 or r[3] > sk.width:
            return 10**6
        if not _in_row(r, slots[i], wrapped):  # read with the row it is in
            return 10**5
        shut_now = sum(shut(c, [*placed, r], u) for c, o in chimneys if o != i)
        return (
            shut_now
            + sum(meets(r, box) for box, o in keep if o != i)
            + sum(meets(r, t) for t in taken)
        )

    line_h = 13 * u * k / max(0.7, u)
    up = label_sides(blocks, [s.row for s in slots])
    last = len(blocks) - 1  # ``soft_first``: on rows, the softmax column's label first
    for i in [last, *range(last)] if wrapped and soft_first else range(last + 1):
        b, s = blocks[i], slots[i]
        spots = _spots(b, s, u, k, line_h, sk.width, up[i])
        counts = [clashes(sp, i) for sp in spots]  # none free: the one that clashes least
        y0, y1, x0, x1 = spots[counts.index(min(counts))]
        taken.append((y0, y1, x0, x1))
        placed.append((y0, y1, x0, x1))
        s.label_top, s.label_bottom = y0 + 7 * u, y1 - 7 * u
        s.label_x = (x0, x1)
        s.line_h = line_h


def _in_row(r: tuple[float, float, float, float], s: Slot, wrapped: bool) -> bool:
    """Whether a label box ``r`` stays in the row band of its block ``s`` (one row: always)."""
    return not wrapped or (s.band[0] <= r[0] and r[1] <= s.band[1])


def _blocks_taken(blocks: list[Block], slots: list[Slot], u: float, tail: float) -> list:
    """The blocks' boxes (2 px wider) and the class names right of the softmax column."""
    taken = [(s.box[0], s.box[1], s.box[2] - 2 * u, s.box[3] + 2 * u) for s in slots]
    if blocks[-1].kind == "probability":
        b = slots[-1].box
        taken.append((b[0], b[1], b[3], b[3] + tail))
    return taken


SHIFTS = (0.0, 0.25, -0.25, 0.5, -0.5, 0.75, -0.75, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0)


def _spots(b: Block, s: Slot, u: float, k: float, line_h: float, width: int, up: bool) -> list:
    """The boxes ``(y0, y1, x0, x1)`` a block's label may take, best first: below / above
    (``up``: above first), half a label further out each time, then shifted sideways."""
    lines = label_lines(b)
    half = label_width(b, k) / 2 + 3 * u
    depth = line_h * len(lines) + 4 * u
    pref = ("above", "below") if up else ("below", "above")
    spots = []
    for shift in SHIFTS:
        cx = min(max(s.cx + shift * half, half + 2), width - half - 2)  # inside the frame
        for row in np.arange(12) / 2:  # half a label's depth further out each time
            for side in pref:
                if side == "below":
                    top = s.top + s.height + 12 * u + row * depth
                else:
                    top = s.box[0] - 12 * u - line_h * (len(lines) - 1) - row * depth
                spots.append((top - 7 * u, top + line_h * (len(lines) - 1) + 7 * u,
                              cx - half, cx + half))  # fmt: skip
    return spots


def crossings(slots: list[Slot], paths: dict, u: float) -> int:
    """How many times a label meets an arrow, a block or another label, or is nearer another
    row's block than any of its own row's."""
    pad = max(2.0, 2 * u)
    lines = [segment_box(a, b, pad) for pts in paths.values() for a, b in itertools.pairwise(pts)]
    boxes = [label_box(s) for s in slots]
    meet = sum(meets(b, t) for b in boxes for t in lines)
    astray = sum(not _read_with(i, slots) for i in range(len(slots)))
    under = sum(meets(b, s.box) for b in boxes for s in slots)  # a label under a block
    return meet + astray + under + sum(meets(a, b) for a, b in itertools.combinations(boxes, 2))


def _gap(a, b) -> float:
    """The distance between boxes ``a`` and ``b`` (0 where they meet)."""
    return float(np.hypot(max(0.0, a[2] - b[3], b[2] - a[3]), max(0.0, a[0] - b[1], b[0] - a[1])))


def _read_with(i: int, slots: list[Slot]) -> bool:
    """Whether label ``i`` is read with its own row: the block nearest to it (but the softmax
    column beside all rows) is in that row (level with block ``i``)."""
    here, own = label_box(slots[i]), slots[i].box
    near = min(slots[:-1] if i < len(slots) - 1 else slots, key=lambda s: _gap(here, s.box)).box
    return near[0] < own[1] and own[0] < near[1]


def clear_labels(sk: Sketch, blocks: list[Block], slots: list[Slot], paths: dict, u: float,
                 tail: float = 0.0, k: float = 1.0) -> None:  # fmt: skip
    """Move every label that an arrow crosses (or that meets another label) to the first of
    its :func:`_spots` clear of the arrows, the blocks, the class names, the other labels and
    the :func:`keep_outs`; a label nothing crosses stays where :func:`place_labels` put it."""
    pad = max(2.0, 2 * u)
    lines = [segment_box(a, b, pad) for pts in paths.values() for a, b in itertools.pairwise(pts)]
    blocks_taken = _blocks_taken(blocks, slots, u, tail)
    keep, chimneys = keep_outs(blocks, slots, u)
    low = sk.height - 50 * u
    wrapped = any(s.row for s in slots)
    for i, (b, s) in enumerate(zip(blocks, slots, strict=True)):
        others = [label_box(x) for j, x in enumerate(slots) if j != i]
        here = label_box(s)
        if not any(meets(here, t) for t in [*lines, *others]):
            continue
        taken = [*lines, *others, *blocks_taken, *(box for box, o in keep if o != i)]
        mine = [c for c, o in chimneys if o != i]
        for y0, y1, x0, x1 in _spots(b, s, u, k, s.line_h, sk.width, s.label_top < s.top):
            box = (y0 + 7 * u - s.line_h / 2, y1 - 7 * u + s.line_h / 2, x0, x1)
            if box[0] < 44 * u or box[1] > low or not _in_row(box, s, wrapped):
                continue
            if any(meets(box, t) for t in taken):
                continue
            if not any(shut(c, [*others, box], u) for c in mine):
                s.label_top, s.label_bottom, s.label_x = y0 + 7 * u, y1 - 7 * u, (x0, x1)
                break
