"""The data-flow diagram's geometry: the blocks of a Trace (one per tensor-changing step, the
input first, the softmax last) and where each goes in the frame.

Blocks are sized by the tensor leaving them (maps: side ∝ map size, stack depth ∝ channels;
vectors: a column), packed left to right far enough apart for their labels, and wrapped onto
more rows (the softmax a column on the right) when one row would shrink them below
readability. Arrows run straight to the next block, over the top from any other (on rows:
across the top of the row they land in, each on a lane of its own; past a whole row, down
the left margin). Where the labels go: :mod:`explainer.animate.dataflow_labels`. Pixels
throughout; ``u`` is the frame's scale against 800×450 and ``k`` the font scale.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from explainer import style
from explainer.analysis.arith import MINUS, confidence_text
from explainer.analysis.flowgraph import flow_blocks, record_label
from explainer.animate.canvas import text_width
from explainer.animate.reel import Box
from explainer.animate.shapes import displayed, shape_words
from explainer.errors import ExplainerError
from explainer.tracing.normalising import normalisation
from explainer.tracing.trace import Trace

LABEL_PT = 7.5


@dataclass
class Block:
    """One box of the diagram: its label lines, the tensor leaving it, how to colour it and
    the blocks it reads (indices into the list, 0 = the input)."""

    title: str
    values: np.ndarray  # (C, H, W) or (n,), as drawn (see explainer.animate.shapes)
    kind: str  # the kind of the block's last layer (decides the colour scale)
    colour: str  # the kind colour of its main layer
    sources: list[int] = field(default_factory=list)
    shape: tuple[int, ...] | None = None  # the record's own shape (default: that of values)
    skip: bool = False  # a residual block: its skip drawn as an arc from the block before

    @property
    def shape_text(self) -> str:
        """The record's shape in words; for one value per image (a 0-d record), that value."""
        if self.shape == ():
            return f"= {float(self.values.reshape(-1)[0]):.3g}".replace("-", MINUS)
        return shape_words(self.values.shape if self.shape is None else self.shape)

    @property
    def lines(self) -> list[str]:
        """The title, one step per line: ``["conv 3×3", "+BN", "+ReLU"]``."""
        if "\n" in self.title:
            return self.title.split("\n")
        head, *rest = self.title.split(" + ")
        return [head, *("+" + x for x in rest)]


LONG_LINE = 18  # characters: a longer label line is broken at its middle space


def _halves(line: str) -> list[str]:
    """``line``, or its two halves cut at the space nearest its middle when it is long."""
    spaces = [i for i, c in enumerate(line) if c == " "]
    if len(line) <= LONG_LINE or not spaces:
        return [line]
    cut = min(spaces, key=lambda i: abs(i - len(line) / 2))
    return [line[:cut], line[cut + 1 :]]


def label_lines(b: Block) -> list[tuple[str, bool]]:
    """A block's label as drawn, ``(text, is_shape)`` per line: its title's lines and its
    shape, each long one on two lines."""
    title = [(x, False) for line in b.lines for x in _halves(line)]
    return [*title, *((x, True) for x in _halves(b.shape_text))]


def _label(rec) -> str:
    return "dense" if rec.kind == "linear" else record_label(rec)


def _title(records: list) -> str:
    """``"conv 3×3 + BN + ReLU"``; a normalisation in the model's forward says its mean and
    standard deviation (one line each: :attr:`Block.lines` splits at newlines first)."""
    norm = normalisation(records)
    if norm is None:
        return " + ".join(_label(r) for r in records)
    rest = "".join(f"\n+{_label(r)}" for r in records[2:])
    return f"normalise\nmean {norm[0]:.4g}\nstd {norm[1]:.4g}{rest}"


def blocks_of(trace: Trace) -> list[Block]:
    """The input, one block per tensor-changing step (with the real inputs of each), and
    the softmax."""
    first = Block("input", trace.image[None], "input", style.KIND_COLORS["input"])
    steps = step_blocks(trace)
    return [first, *steps, softmax_block(trace, len(steps))]


def step_blocks(trace: Trace, offset: int = 1) -> list[Block]:
    """One block per tensor-changing step of ``trace``'s records; ``sources`` count from
    ``offset`` blocks before the first (the input's index is ``offset - 1``)."""
    blocks = []
    for fb in flow_blocks(trace):
        last = next((r for r in reversed(fb.records) if r.kind != "dropout"), fb.first)
        colour = style.KIND_COLORS.get(fb.first.kind, style.KIND_COLORS["other"])
        title = _title(fb.shown)
        sources = [s + offset for s in fb.sources]
        shape = tuple(np.shape(fb.output))
        blocks.append(Block(title, displayed(fb.output), last.kind, colour, sources, shape))
    if not blocks:
        raise ExplainerError("this trace has no layers to draw; capture it with all layers")
    return blocks


def softmax_block(trace: Trace, source: int, title: str = "softmax") -> Block:
    """The softmax column (its rows: :func:`shown_classes`), reading block ``source``."""
    rows = shown_classes(trace)
    title = title if len(rows) == len(trace.probs) else f"{title}, top {len(rows)}"
    colour = style.KIND_COLORS["softmax"]
    return Block(title, trace.probs[rows], "probability", colour, [source])


MAX_ROWS = 20  # classes the softmax column shows one row each; more: the most probable ones


def shown_classes(trace: Trace) -> np.ndarray:
    """``(R,)`` class indices of the softmax column's rows: every class in order when there
    are at most :data:`MAX_ROWS`, else the :data:`MAX_ROWS` most probable, most probable first."""
    k = len(trace.probs)
    if k <= MAX_ROWS:
        return np.arange(k)
    return np.argsort(-trace.probs, kind="stable")[:MAX_ROWS]


def row_names(trace: Trace) -> list[str]:
    """The class names of the softmax column's rows, in the order of :func:`shown_classes`."""
    names = trace.class_names or [str(i) for i in range(len(trace.logits))]
    return [names[i] for i in shown_classes(trace)]


def _geometry(b: Block, u: float) -> tuple[int, int, int, int]:
    """``(side_or_width, height, slabs, offset)`` of a block in pixels."""
    v = b.values
    if v.ndim == 3:
        side = int((22 + 2.1 * min(40, max(v.shape[1:]))) * u)
        slabs = 1 if v.shape[0] == 1 else min(8, 1 + round(1.2 * math.log2(v.shape[0])))
        return side, side, slabs, max(2, int(4 * u))
    height = int(min(210, 40 + 18 * math.log2(max(2, v.size))) * u)
    if b.kind == "probability":  # one readable row per class, bars as long as the probability
        return int(40 * u), int(max(height, min(210, 15 * v.size) * u)), 1, 0
    return int(16 * u), height, 1, 0


def label_width(b: Block, k: float) -> float:
    return max(text_width(x, LABEL_PT * k, bold=True) for x, _ in label_lines(b))


def names_pt(b: Block, height: int, k: float) -> float:
    """The class names' size beside the softmax rows: as big as the rows allow."""
    return min(8 * k, height / max(1, b.values.size) * 0.62 * 72 / 100)


def tail_width(b: Block, names: list[str], height: int, k: float, u: float) -> float:
    """Width right of the softmax for its class names (the predicted one with its %)."""
    if b.kind != "probability":
        return 6 * u
    pt = names_pt(b, height, k)
    best = max(text_width(f"{n} {confidence_text(float(p))}", pt, True)
               for n, p in zip(names, b.values, strict=False))  # fmt: skip
    return max(max(text_width(n, pt) for n in names), best) + 10 * u


@dataclass
class Slot:
    """Where one block is drawn: its stack's origin and size, and its label lines' span."""

    x: int
    top: int
    side: int
    height: int
    slabs: int
    off: int
    label_top: float = 0.0
    label_bottom: float = 0.0
    label_x: tuple[float, float] = (0.0, 0.0)
    line_h: float = 13.0
    row: int = 0  # which row of the layout (the softmax column: the last row)
    band: tuple[float, float] = (0.0, 0.0)  # the row's top and bottom pixel
    mid: float = 0.0  # the height straight arrows run at in this row

    @property
    def box(self) -> Box:
        return (self.top - self.off * (self.slabs - 1), self.top + self.height, self.x,
                self.x + self.side + self.off * (self.slabs - 1))  # fmt: skip

    @property
    def cx(self) -> float:
        return self.x + (self.side + self.off * (self.slabs - 1)) / 2

    @property
    def upper(self) -> float:
        """The highest pixel of the block and its labels."""
        return min(self.box[0], self.label_top - self.line_h / 2)


def _pack(widths: list[int], label_w: list[float], gap: float, u: float,
          up: list[bool] | None = None, rises: list[tuple[bool, bool]] | None = None,
          ) -> list[float]:  # fmt: skip
    """The left edges of blocks of ``widths`` packed from 0: at least ``gap`` apart, and far
    enough apart that labels on the same side do not touch (``up``: each label's side;
    default: every second block's), nor cover the middle of a block an arrow leaves or
    reaches on that side (``rises``: whether one does, above and below, for each block)."""
    xs: list[float] = []
    pad = 3 * u + 2
    for i, w in enumerate(widths):
        x = 0.0 if i == 0 else xs[-1] + widths[i - 1] + gap
        same = [j for j in range(i) if up[j] == up[i]] if up else [i - 2] * (i >= 2)
        if same:
            j = same[-1]
            x = max(x, xs[j] + widths[j] / 2 + (label_w[i] + label_w[j]) / 2 + 14 * u - w / 2)
        for side in range(2) if up and rises else ():  # 0: above, 1: below
            rose = [j for j in range(i) if rises[j][side]]
            if rose and up[i] == (side == 0):  # its label clear of the last arrow there
                x = max(x, xs[rose[-1]] + widths[rose[-1]] / 2 + label_w[i] / 2 + pad - w / 2)
            told = [j for j in range(i) if up[j] == (side == 0)]
            if told and rises[i][side]:  # its arrow clear of the last label there
                x = max(x, xs[told[-1]] + widths[told[-1]] / 2 + label_w[told[-1]] / 2 + pad
                        - w / 2)  # fmt: skip
        xs.append(x)
    return xs


READABLE = 0.55  # below this shrink of one row, blocks go onto more rows
MAX_LAYOUT_ROWS = 6


def layout(blocks: list[Block], size: tuple[int, int], u: float, k: float = 1.0,
           names: list[str] | None = None, rows: int = 1) -> list[Slot]:  # fmt: skip
    """Blocks from left to right, far enough apart for their labels, shrunk when the frame
    is too narrow; the softmax keeps room on its right for the class names. When one row
    would shrink the blocks below :data:`READABLE`, the blocks wrap onto as many rows as
    keep them readable (the softmax a column on the right, as tall as the rows): every
    block stays inside the frame, however many there are. ``rows``: at least that many."""
    W, H = size
    names = names or [str(i) for i in range(blocks[-1].values.size)]
    if rows > 1:
        return _rows(blocks, size, u, k, names, min(rows, len(blocks) - 1))[0]
    margin = int(24 * u)
    mid = int(H * 0.47)
    tail = tail_width(blocks[-1], names, _geometry(blocks[-1], u)[1], k, u)
    slots, shrink = _row(blocks, u, k, (margin, W - margin - tail), mid, H, names)
    if shrink >= READABLE or len(blocks) < 4:
        return slots
    for n_rows in range(2, MAX_LAYOUT_ROWS + 1):
        slots, shrink = _rows(blocks, size, u, k, names, n_rows)
        if shrink >= READABLE:
            break
    return slots


def _row(blocks: list[Block], u: float, k: float, span: tuple[float, float], mid: float,
         cap: float, names: list[str], up: list[bool] | None = None,
         rises: list[tuple[bool, bool]] | None = None) -> tuple[list[Slot], float]:  # fmt: skip
    """One row of blocks between ``span`` (left, right pixels) centred on height ``mid``,
    none taller than ``cap``: the slots and how much they had to shrink (1: not at all).
    At the least shrink the row is squeezed to fit, so it never leaves ``span``."""
    label_w = [label_width(b, k) for b in blocks]
    geo = []
    for a, h, n, o in (_geometry(b, u) for b in blocks):
        f = min(1.0, cap / max(1, h + o * (n - 1)))
        geo.append((max(8, int(a * f)), max(8, int(h * f)), n, max(1, int(o * f)) if o else 0))
    lead = max(0.0, label_w[0] / 2 - geo[0][0] / 2)
    # on rows, the last label may reach into the 24 px before the softmax column, no further
    trail = max(0.0, label_w[-1] / 2 + 3 * u - geo[-1][0] / 2 - 22 * u) if up else 0.0
    room = span[1] - span[0] - lead - trail
    for shrink in np.linspace(1.0, 0.3, 15):
        g = [(max(8, int(a * shrink)), max(8, int(h * shrink)), n, o) for a, h, n, o in geo]
        if blocks[-1].kind == "probability":  # its rows stay readable
            g[-1] = (max(8, int(geo[-1][0] * max(shrink, 0.6))), geo[-1][1], 1, 0)
        widths = [a + o * (n - 1) for a, _, n, o in g]
        xs = _pack(widths, [w * min(1.0, shrink + 0.4) for w in label_w], 10 * u * shrink, u, up,
                   rises)  # fmt: skip
        if xs[-1] + widths[-1] <= room:
            break
    else:  # squeezed: the blocks keep their order and stay in the row
        over = max(1.0, xs[-1] + widths[-1])
        xs = [x * max(0.0, room - widths[-1]) / max(1.0, over - widths[-1]) for x in xs]
        shrink = 0.0
    spare = max(0.0, room - xs[-1] - widths[-1]) / max(1, len(blocks) - 1)
    slots = []
    for i, ((side, height, slabs, off), x) in enumerate(zip(g, xs, strict=True)):
        top = round(mid - height // 2 + off * (slabs - 1) // 2)
        slots.append(Slot(round(span[0] + lead + x + i * spare), top, side, height, slabs, off,
                           mid=mid))  # fmt: skip
    return slots, float(shrink)


def label_sides(blocks: list[Block], rows: list[int]) -> list[bool]:
    """Whether each block's label goes above it (else below), blocks on ``rows``: above for
    one with an arrow down to a later row, else every second block's but a residual one's."""
    down = {src for i, b in enumerate(blocks) for src in b.sources
            if src != i - 1 and rows[src] != rows[i]}  # fmt: skip
    return [i in down or (i % 2 == 1 and not b.skip) for i, b in enumerate(blocks)]


def _rises(blocks: list[Block], rows: list[int]) -> list[tuple[bool, bool]]:
    """For blocks on ``rows``: whether an arrow (not straight) leaves or reaches each from
    above, and whether one leaves it from below (down to a later row)."""
    above, below = set(), set()
    for key in edges_over(blocks):
        src, i = key[0], key[1]
        above.add(i)
        (below if rows[src] != rows[i] else above).add(src)
    return [(i in above, i in below) for i in range(len(blocks))]


def _rows(blocks: list[Block], size: tuple[int, int], u: float, k: float, names: list[str],
          n_rows: int) -> tuple[list[Slot], float]:  # fmt: skip
    """The blocks but the last on ``n_rows`` rows, the softmax a column on the right; the
    slots and the least shrink of any row."""
    W, H = size
    margin = int(24 * u)
    top, bottom = 50 * u, H - 52 * u
    row_h = (bottom - top) / n_rows
    line_h = 13 * u * k / max(0.7, u)
    lines = max(len(label_lines(b)) for b in blocks)
    cap = max(10.0, row_h - 2 * (line_h * lines + 14 * u))
    soft = blocks[-1]
    s_w = int(_geometry(soft, u)[0] * 0.8)
    s_h = int(min(_geometry(soft, u)[1], bottom - top - 2 * (line_h * lines + 14 * u)))
    tail = tail_width(soft, names, s_h, k, u)
    s_x = W - margin - tail - s_w
    mid_all = (top + bottom) / 2
    right = s_x - 24 * u
    slots: list[Slot] = []
    least = 1.0
    runs = np.array_split(np.arange(len(blocks) - 1), n_rows)
    rows = [r for r, run in enumerate(runs) for _ in run] + [n_rows - 1]
    up, rises = label_sides(blocks, rows), _rises(blocks, rows)
    for r, run in enumerate(runs):
        band = (top + r * row_h, top + (r + 1) * row_h)
        row, shrink = _row([blocks[i] for i in run], u, k, (margin, right), sum(band) / 2, cap,
                           names, [up[i] for i in run], [rises[i] for i in run])  # fmt: skip
        for s in row:
            s.row, s.band = r, band
        slots += row
        least = min(least, shrink)
    last = Slot(round(s_x), round(mid_all - s_h / 2), s_w, s_h, 1, 0, row=n_rows - 1,
                 band=(top, bottom), mid=mid_all)  # fmt: skip
    return [*slots, last], least


def label_box(s: Slot) -> tuple[float, float, float, float]:
    """``(y0, y1, x0, x1)``: the pixels a block's label lines take (half a line round them)."""
    return (s.label_top - s.line_h / 2, s.label_bottom + s.line_h / 2, *s.label_x)


def segment_box(a, b, pad: float) -> tuple[float, float, float, float]:
    """``(y0, y1, x0, x1)``: the pixels of the segment from point ``a`` to ``b``, ``pad`` round."""
    return (min(a[1], b[1]) - pad, max(a[1], b[1]) + pad, min(a[0], b[0]) - pad,
            max(a[0], b[0]) + pad)  # fmt: skip


def meets(r, t) -> bool:
    """Whether boxes ``(y0, y1, x0, x1)`` ``r`` and ``t`` overlap."""
    return not (r[1] <= t[0] or r[0] >= t[1] or r[3] <= t[2] or r[2] >= t[3])


def arrow_paths(blocks: list[Block], slots: list[Slot], u: float) -> dict:
    """The polyline of every edge ``(source, block)``: straight from the block before (down
    to the next row's start when the layout wraps), over the top (each on its own lane where
    they overlap) from any other in the same row, through the gap above the reader's row
    from an earlier row. A residual block's skip is an arc of its own, keyed
    ``(source, block, "skip")``, over the top from the block before it."""
    paths: dict[tuple, list[tuple[float, float]]] = {}
    lanes: list[tuple[int, int, int]] = []  # (from, to, lane)
    wrapped = any(s.row for s in slots)
    runs = run_lanes(blocks, slots, u) if wrapped else {}
    for i, b in enumerate(blocks):
        edges = [(src, (src, i)) for src in b.sources]
        if b.skip and i > 0:  # round the block, from what it reads to it
            edges.append((i - 1, (i - 1, i, "skip")))
        for src, key in edges:
            a, s = slots[src], slots[i]
            if src == i - 1 and len(key) == 2:
                paths[key] = next_path(a, s, u, wrapped and i == len(blocks) - 1)
                continue
            busy = {lane for f, t, lane in lanes if not (t < src or f > i)}
            lane = min(k for k in range(len(lanes) + 1) if k not in busy)
            lanes.append((src, i, lane))
            # a skip leaves the right of its source's top and lands on the left of its block's,
            # so that the arcs of blocks in a row never share a vertical
            ax = _clear_x(a.cx + (a.box[3] - a.box[2]) / 4 * (len(key) == 3), a, slots, u)
            sx = _clear_x(s.cx - (s.box[3] - s.box[2]) / 4 * (len(key) == 3), s, slots, u)
            if wrapped:  # on rows: along the top of the row it lands in, on a lane of its own
                y, _, _, detour = runs[key]
                y = min(y, s.upper - 6 * u)
                rise = (a.cx, a.box[1] + 3 * u) if a.row != s.row else (ax, a.upper - 3 * u)
                way = [(rise[0], detour[0]), (detour[1], detour[0])] if detour else []
                paths[key] = [rise, *way, ((way or [rise])[-1][0], y), (sx, y),
                              (sx, s.upper - 3 * u)]  # fmt: skip
                continue
            if a.row != s.row:
                y = min(s.band[0] + (3 + 4 * lane) * u, s.upper - 6 * u)
                paths[key] = [(ax, a.box[1] + 3 * u), (ax, y), (sx, y),
                              (sx, s.upper - 3 * u)]  # fmt: skip
                continue
            span = [x for x in slots if x.label_x[1] > ax and x.label_x[0] < sx]
            high = min(x.upper for x in [*span, *slots[src : i + 1]] if x.row == a.row)
            y = max(58 * u if a.row == 0 else a.band[0] + 3 * u, high - (10 + 9 * lane) * u)
            paths[key] = [(ax, a.upper - 3 * u), (ax, y), (sx, y),
                          (sx, s.upper - 3 * u)]  # fmt: skip
    return paths


def edges_over(blocks: list[Block]) -> list[tuple]:
    """The keys of the edges that are no straight arrow from the block before, in order:
    ``(source, block)`` and a residual block's ``(source, block, "skip")``."""
    keys: list[tuple] = []
    for i, b in enumerate(blocks):
        keys += [(src, i) for src in b.sources if src != i - 1]
        keys += [(i - 1, i, "skip")] if b.skip and i > 0 else []
    return keys


def run_lanes(blocks: list[Block], slots: list[Slot], u: float) -> dict:
    """On rows, where each arrow of :func:`edges_over` runs: ``key: (y, x0, x1, detour)``,
    across the top of the row it lands in at ``y``, each on a lane below those of the runs it
    overlaps there (``x0``-``x1``: the run's widest extent, over the whole of both its
    blocks). An arrow past a whole row takes a ``detour = (yb, xm)``: along the bottom of its
    source's row at ``yb`` and down the left margin at ``xm``, clear of the rows between
    (else None)."""
    out: dict[tuple, tuple] = {}
    detours: list[tuple[int, float]] = []  # (source row, yb)
    for key in edges_over(blocks):
        a, s = slots[key[0]], slots[key[1]]
        x0, x1 = min(a.box[2], s.box[2]), max(a.box[3], s.box[3])
        detour = None
        if s.row - a.row > 1:
            below = sum(r == a.row for r, _ in detours)
            detour = (a.band[1] - (4 + 3 * below) * u, (6 + 3 * len(detours)) * u)
            detours.append((a.row, detour[0]))
            x0 = detour[1]
        mine = [k for k in out if k[0] == key[0] and slots[k[1]].row == s.row and not detour]
        if mine:  # from the same block into the same row: one bus, branching to each
            out[key] = (out[mine[0]][0], x0, x1, None)
            continue
        busy = {round((y - _floor(s, u)) / (5 * u)) for k, (y, f, t, _) in out.items()
                if slots[k[1]].row == s.row and not (t < x0 or f > x1)}  # fmt: skip
        lane = min(n for n in range(len(out) + 1) if n not in busy)
        out[key] = (_floor(s, u) + 5 * lane * u, x0, x1, detour)
    return out


def _floor(s: Slot, u: float) -> float:
    """The highest lane of an arrow across the top of block ``s``'s row."""
    return max(s.band[0], 55 * u) + 3 * u


def _clear_x(x: float, a: Slot, slots: list[Slot], u: float) -> float:
    """Where over block ``a`` an arrow rises (or lands): ``x``, else the nearest place over
    the block that no other label above it covers."""
    above = [label_box(o) for o in slots if o is not a and o.row == a.row
             and label_box(o)[1] <= a.box[0] + 1]  # fmt: skip
    pad = 3 * u
    for dx in sorted(np.arange(a.box[2] + pad, a.box[3] - pad + 1, 2.0) - x, key=abs):
        if not any(b[2] - pad <= x + dx <= b[3] + pad for b in above):
            return float(x + dx)
    return x


def next_path(a: Slot, s: Slot, u: float, column: bool) -> list[tuple[float, float]]:
    """The arrow from a block to the one after it: straight in a row, into the softmax
    ``column`` at a height it has, or round to the start of the next row."""
    start, end = a.box[3] + 3 * u, s.box[2] - 3 * u
    if a.row == s.row and not column:  # a narrow gap: the arrow fills it, never runs back
        start, end = (a.box[3] + 1, s.box[2] - 1) if end - start < 8 * u else (start, end)
        return [(start, a.mid), (max(end, start + 1), a.mid)]
    if column:
        y = min(max(a.mid, s.top + 4 * u), s.top + s.height - 4 * u)
        x = (start + end) / 2
        return [(start, a.mid), (x, a.mid), (x, y), (end, y)]
    gap, x1, x2 = a.band[1], a.box[3] + 8 * u, s.box[2] - 8 * u
    return [(start, a.mid), (x1, a.mid), (x1, gap), (x2, gap), (x2, s.mid), (end, s.mid)]


def along(pts: list[tuple[float, float]], frac: float) -> tuple[float, float]:
    """The point ``frac`` of the way along a polyline."""
    seg = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(pts)]
    goal = frac * sum(seg)
    for (a, b), length in zip(itertools.pairwise(pts), seg, strict=True):
        if goal <= length and length > 0:
            f = goal / length
            return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
        goal -= length
    return pts[-1]
