"""``dataflow``: the architecture as blocks sized by tensor shape, painted with the real
activations as the data reaches them.

Each block is one step that changes the tensor (a convolution or dense layer together with the
batch norm / activation / dropout that only follow it, a pooling, the flatten, an addition, a
concatenation; see :func:`explainer.flowgraph.flow_blocks`), drawn as a stack of feature maps
(side ∝ map size, stack depth ∝ number of channels) or as a column of neurons; the block shows
what leaves it. Arrows follow the real dataflow: a block fed by the one before it gets a
straight arrow, any other input (a residual connection, a second branch) an arrow over the
top. A pulse travels along them and each block lights up with its activations when the pulse
arrives; the last block is the softmax with the prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from explainer import style
from explainer.animate.canvas import Sketch
from explainer.animate.reel import Box, Paste, Reel
from explainer.errors import ExplainerError
from explainer.flowgraph import flow_blocks, record_label
from explainer.trace import Trace


@dataclass
class Block:
    """One box of the diagram: its label lines, the tensor leaving it, how to colour it and
    the blocks it reads (indices into the list, 0 = the input)."""

    title: str
    values: np.ndarray  # (C, H, W) or (n,)
    kind: str  # the kind of the block's last layer (decides the colour scale)
    colour: str  # the kind colour of its main layer
    sources: list[int] = field(default_factory=list)

    @property
    def shape_text(self) -> str:
        return "×".join(str(s) for s in self.values.shape)

    @property
    def lines(self) -> list[str]:
        """The title, one step per line: ``["conv 3×3", "+BN", "+ReLU"]``."""
        head, *rest = self.title.split(" + ")
        return [head, *("+" + x for x in rest)]


def _label(rec) -> str:
    return "dense" if rec.kind == "linear" else record_label(rec)


def blocks_of(trace: Trace) -> list[Block]:
    """The input, one block per tensor-changing step (with the real inputs of each), and
    the softmax."""
    blocks = [Block("input", trace.image[None], "input", style.KIND_COLORS["input"])]
    for fb in flow_blocks(trace):
        last = next((r for r in reversed(fb.records) if r.kind != "dropout"), fb.first)
        colour = style.KIND_COLORS.get(fb.first.kind, style.KIND_COLORS["other"])
        title = " + ".join(_label(r) for r in fb.shown)
        blocks.append(Block(title, fb.output, last.kind, colour, [s + 1 for s in fb.sources]))
    if len(blocks) == 1:
        raise ExplainerError("this trace has no layers to draw; capture it with all layers")
    blocks.append(
        Block("softmax", trace.probs, "probability", style.KIND_COLORS["softmax"], [len(blocks) - 1])
    )
    return blocks


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = np.arange(h) * a.shape[0] // h
    cols = np.arange(w) * a.shape[1] // w
    return a[rows][:, cols]


def _geometry(b: Block, u: float) -> tuple[int, int, int, int]:
    """``(side_or_width, height, slabs, offset)`` of a block in pixels."""
    v = b.values
    if v.ndim == 3:
        side = int((22 + 2.1 * v.shape[1]) * u)
        slabs = 1 if v.shape[0] == 1 else min(8, 1 + round(1.2 * math.log2(v.shape[0])))
        return side, side, slabs, max(2, int(4 * u))
    height = int(min(210, 40 + 18 * math.log2(max(2, v.size))) * u)
    return int(16 * u), height, 1, 0


def build_dataflow(
    trace: Trace,
    *,
    fps: float = 15,
    seconds: float = 10,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
) -> Reel:
    """The data-flow animation as a :class:`Reel`; ``reel.meta["blocks"]`` lists the blocks and
    ``reel.meta["boxes"]`` their pixel boxes."""
    blocks = blocks_of(trace)
    W, H = size
    u = min(W / 800, H / 450)
    t = style.theme(theme)
    n_frames = round(fps * seconds)
    geo = [_geometry(b, u) for b in blocks]
    widths = [g[0] + g[3] * (g[2] - 1) for g in geo]
    margin = int(24 * u)
    gap = (W - 2 * margin - sum(widths) - int(46 * u)) / max(1, len(blocks) - 1)
    if gap < 10 * u:
        shrink = (W - 2 * margin - int(46 * u) - 10 * u * (len(blocks) - 1)) / sum(widths)
        geo = [(max(8, int(g[0] * shrink)), max(8, int(g[1] * shrink)), g[2], g[3]) for g in geo]
        widths = [g[0] + g[3] * (g[2] - 1) for g in geo]
        gap = (W - 2 * margin - sum(widths) - int(46 * u)) / max(1, len(blocks) - 1)
    mid = int(H * 0.44)

    base = Sketch(size, theme)
    names = trace.class_names or [str(i) for i in range(len(trace.logits))]
    base.text(
        margin,
        18 * u,
        f"Data flow through {trace.checkpoint or trace.architecture}",
        11.5,
        bold=True,
    )
    base.text(margin, 38 * u, "Blocks are sized by the tensor leaving each step "
              "(height: map size, depth: channels) "
              "and painted with its real values.", 8.5, color=t.muted)  # fmt: skip
    painted = None
    boxes: list[Box] = []
    x = margin
    slots = []
    for side, height, slabs, off in geo:
        width = side + off * (slabs - 1)
        top = mid - height // 2 + off * (slabs - 1) // 2
        box = (top - off * (slabs - 1), top + height, x, x + width)
        boxes.append(box)
        slots.append((x, top, side, height, slabs, off))
        x = round(x + width + gap)
    painted = Sketch.on(base.array(), theme)
    for i, (b, (x0, top, side, height, slabs, off)) in enumerate(zip(blocks, slots, strict=True)):
        scale = (
            style.layer_scale(b.values, b.kind)
            if b.kind != "probability"
            else style.scale_for(b.values, "probability")
        )
        for sk, paint in ((base, False), (painted, True)):
            if b.values.ndim == 3:
                order = np.argsort(b.values.reshape(len(b.values), -1).mean(1))[
                    -slabs:
                ]  # strongest in front
                for s, ch in enumerate(order):
                    sx = x0 + off * (slabs - 1 - s)
                    sy = top - off * (slabs - 1 - s)
                    box = (sy, sy + side, sx, sx + side)
                    if paint:
                        sk.paste(box, style.colorize(_resize(b.values[ch], side, side), scale))
                    else:
                        sk.draw.rectangle((sx, sy, sx + side - 1, sy + side - 1), fill=t.panel)
                    sk.draw.rectangle(
                        (sx - 1, sy - 1, sx + side, sy + side),
                        outline=b.colour if paint else t.muted,
                    )
            else:
                n = b.values.size
                box = (top, top + height, x0, x0 + side)
                if paint:
                    rows = np.arange(height) * n // height
                    col = style.colorize(b.values[rows], scale)[:, None, :].repeat(side, 1)
                    if n <= 16:
                        col[(np.arange(height) * n % height) < n] = style.hex_to_rgb(t.background)
                    sk.paste(box, col)
                else:
                    sk.draw.rectangle((x0, top, x0 + side - 1, top + height - 1), fill=t.panel)
                sk.draw.rectangle(
                    (x0 - 1, top - 1, x0 + side, top + height),
                    outline=b.colour if paint else t.muted,
                )
                if b.kind == "probability":
                    for k, name in enumerate(names):
                        yk = top + (k + 0.5) * height / n
                        hit = k == trace.prediction
                        if paint:
                            text = f"{name} {b.values[k]:.0%}" if hit else name
                            ink = t.foreground if hit else t.muted
                            sk.text(
                                x0 + side + 5 * u, yk, text, 8 if hit else 7, bold=hit, color=ink
                            )
                            if hit:
                                sk.draw.rectangle(
                                    (
                                        x0 - 3,
                                        yk - height / n / 2 - 1,
                                        x0 + side + 2,
                                        yk + height / n / 2,
                                    ),
                                    outline=style.HIGHLIGHT_COLOR,
                                    width=2,
                                )
                        else:
                            sk.text(x0 + side + 5 * u, yk, name, 7, color=t.muted)
            # labels: alternate below / above so neighbours never collide
            cx = x0 + (side + off * (slabs - 1)) / 2
            lines = [*b.title.split(" +", 1)[:1], *("+" + x for x in b.title.split(" +", 1)[1:])]
            lines.append(b.shape_text)
            below = i % 2 == 0
            if below:
                ly = top + height + 12 * u
            else:
                ly = top - off * (slabs - 1) - 12 * u - 13 * u * (len(lines) - 1)
            for j, line in enumerate(lines):
                last = j == len(lines) - 1
                sk.text(cx, ly + 13 * u * j, line, 7.5, bold=not last, anchor="mm",
                        color=t.muted if last else t.foreground)  # fmt: skip
    # arrows between blocks
    for sk in (base, painted):
        for a, b in itertools.pairwise(boxes):
            y = mid
            sk.line([(a[3] + 3 * u, y), (b[2] - 5 * u, y)], color=t.muted, width=max(1, int(u)))
            sk.draw.polygon(
                [(b[2] - 3 * u, y), (b[2] - 9 * u, y - 4 * u), (b[2] - 9 * u, y + 4 * u)],
                fill=t.muted,
            )
        _legend(sk, (H - int(44 * u), W, margin), u)
    summary = f"prediction: {trace.predicted_name} ({trace.confidence:.0%})"
    if trace.label is not None:
        summary += "  ✓ correct" if trace.correct else f"  ✗ the label is {names[trace.label]}"
    painted.text(
        W - margin,
        18 * u,
        summary,
        11,
        bold=True,
        anchor="rm",
        color=style.CORRECT_COLOR if trace.correct is not False else style.WRONG_COLOR,
    )

    reel = Reel(base.array(), fps, title=f"data flow: {trace.checkpoint or trace.architecture}")
    s_paint = reel.add_sheet(painted.array())
    dot = Sketch((int(14 * u), int(14 * u)), theme)
    r = int(14 * u)
    dot.draw.ellipse((1, 1, r - 2, r - 2), fill=style.HIGHLIGHT_COLOR, outline=t.foreground)
    s_dot = reel.add_sheet(dot.array())

    hop = max(2, round(fps * 0.3))
    intro = max(1, round(fps * 0.5))
    need = intro + (len(blocks) - 1) * (hop + 1) + 1
    if need > n_frames:
        raise ExplainerError(
            f"{n_frames} frames are too few for {len(blocks)} blocks; "
            f"use --seconds {need / fps + 1:.0f} or more"
        )
    spare = n_frames - need
    dwell = spare // (2 * len(blocks))  # a pause at each block, the rest held at the end
    reel.frame([Paste(s_paint, _grow(boxes[0]))])
    reel.hold(intro - 1 + dwell)
    for i in range(1, len(blocks)):
        a, b = boxes[i - 1], boxes[i]
        x_from, x_to = a[3] + 4 * u, b[2] - 4 * u - r
        prev = None
        for h in range(hop):
            xx = int(x_from + (x_to - x_from) * h / max(1, hop - 1))
            at = (mid - r // 2, xx)
            pastes = (
                [] if prev is None else [Paste(0, (prev[0], prev[0] + r, prev[1], prev[1] + r))]
            )
            pastes.append(Paste(s_dot, (0, r, 0, r), at))
            reel.frame(pastes)
            prev = at
        reel.frame(
            [Paste(0, (prev[0], prev[0] + r, prev[1], prev[1] + r)), Paste(s_paint, _grow(b))]
        )
        reel.hold(dwell)
    reel.frame([Paste(s_paint, (0, int(34 * u), W // 2, W))])
    reel.hold(n_frames - reel.n_frames)
    reel.meta = {"blocks": blocks, "boxes": boxes}
    return reel


def _grow(box: Box, pad: int = 90) -> Box:
    """A block's box widened to take its labels and class names along."""
    y0, y1, x0, x1 = box
    return (max(0, y0 - 40), y1 + 60, max(0, x0 - 22), x1 + pad if pad else x1)


def _legend(sk: Sketch, where: tuple[int, int, int], u: float) -> None:
    y, w, x0 = where
    t = sk.theme
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
            "after ReLU: dark = 0, bright = strong",
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
        sk.text(x + 46, y + 12 * u, text, 8)
        x += 46 + sk.text_width(text, 8) + 26 * u
    sk.text(
        x0,
        y + 29 * u,
        "Each block shows its most varied channels in front; every map uses its own layer's scale.",
        7.5,
        color=t.muted,
    )
