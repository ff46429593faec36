"""DataFlowScene: the network's tensor shapes as volumes, with the data flowing through them.

Each convolution, pooling, flatten and dense layer starts a new volume (C deep, H high, W
wide: the shape written under it, the channels on its side); batch norm, ReLU and dropout
keep the shape and join the volume before them. The front face of each volume shows the real
feature map with the most activity, so the boxes are not empty.
Works for every registered architecture:

    manim -ql scenes/data_flow.py DataFlowScene
    EXPLAINER_ARCH=basic_cnn manim -ql scenes/data_flow.py DataFlowScene
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from manim import (
    DOWN,
    LEFT,
    PI,
    RIGHT,
    UP,
    Arrow,
    Create,
    CurvedArrow,
    Dot,
    FadeIn,
    Group,
    Indicate,
    MoveAlongPath,
    Polygon,
    VMobject,
    linear,
)

from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import flow_blocks as graph_blocks
from explainer.analysis.flowgraph import inputs_text, tensor_count
from explainer.scenes.common import TraceScene, bar_colours, said_first, short_description
from explainer.scenes.mobjects import SMALL_FONT_SIZE, THEME, FeatureMap, label
from explainer.style import HIGHLIGHT_COLOR, layer_scale
from explainer.tracing.blocks import Block as TraceBlock
from explainer.tracing.blocks import blocks_of, view_of
from explainer.tracing.normalising import normalisation, normalisation_words
from explainer.tracing.trace import INPUT, LayerRecord, Trace

STARTS_VOLUME = ("conv", "pool", "flatten", "linear")


@dataclass
class Block:
    """One volume: the layers that produce one tensor shape, the last one's output drawn."""

    records: list[LayerRecord] = field(default_factory=list)
    image: np.ndarray | None = None  # the input, for the first block
    sources: list[int] = field(default_factory=list)  # the blocks it reads (0: the input)
    block: TraceBlock | None = None  # a block of the network drawn as one volume
    skip: str = ""  # a residual block: what its skip carries, in words

    @property
    def output(self) -> np.ndarray:
        return self.image[None] if self.image is not None else self.records[-1].output

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.output.shape)

    @property
    def shape_text(self) -> str:
        return "×".join(map(str, self.shape))

    @property
    def title(self) -> str:
        if self.image is not None:
            return "input"
        if self.block is not None:
            return self.block.name
        shown = [r for r in self.records if r.kind != "dropout"]
        norm = normalisation(shown)
        if norm is not None:  # "normalise: mean 0.1307, std 0.3081", not "subtract + ÷ 0.3081"
            return " + ".join([normalisation_words(*norm), *map(short_description, shown[2:])])
        return " + ".join(short_description(r) for r in shown)

    @property
    def note(self) -> str:
        """What an addition or concatenation combines (``"block.bn2 + stem.2"``), what a
        residual block's skip carries, else ''."""
        if self.block is not None:
            return f"+ skip: {self.skip}" if self.block.skip else ""
        return inputs_text(self.records[0]) if self.records else ""


def flow_blocks(
    trace: Trace, *, block: str | None = None, by_blocks: bool | None = None
) -> list[Block]:
    """The volumes of :class:`DataFlowScene`: the input, then the blocks of
    :func:`explainer.analysis.flowgraph.flow_blocks` (a conv, pool, flatten, dense layer,
    addition or concatenation with the shape-keeping layers that only follow it), each with
    the blocks it reads. A network of more than
    :data:`~explainer.tracing.blocks.BY_BLOCKS_FROM` records: one volume per block of
    :func:`explainer.tracing.blocks.blocks_of` (``by_blocks`` forces either); ``block``:
    what that block reads, then its steps."""
    view = view_of(trace, block=block, by_blocks=by_blocks)
    if view.opened is not None:
        b = view.opened
        inside = dataclasses.replace(trace, layers=[trace.layer(n) for n in b.records])
        first = Block(image=trace.image) if b.input == INPUT else Block([trace.layer(b.input)])
        return [first, *flow_blocks(inside, by_blocks=False)[1:]]
    if view.blocks is not None:
        return _by_blocks(trace)
    blocks = [Block(image=trace.image)]
    for b in graph_blocks(trace):
        blocks.append(Block(list(b.records), sources=[s + 1 for s in b.sources]))
    return blocks


def _by_blocks(trace: Trace) -> list[Block]:
    volumes, where = [Block(image=trace.image)], {INPUT: 0}
    for b in blocks_of(trace):
        records = [trace.layer(n) for n in b.records]
        reads = [n for r in records for n in r.inputs if n not in b.records]
        sources = list(dict.fromkeys(where.get(n, len(volumes) - 1) for n in reads))
        skip = ""
        if b.skip is not None:
            skip = " + ".join(short_description(trace.layer(n)) for n in b.skip.through)
        volumes.append(Block(records, sources=sources, block=b, skip=skip or "identity"))
        where.update({n: len(volumes) - 1 for n in b.records})
    return volumes


def flow_arrows(vols: list, blocks: list[Block], **style) -> list[tuple[int, int, VMobject]]:
    """``(source, block, arrow)`` for every edge: straight from the volume before, arched
    over the top from any other (a shortcut, a second branch); ``None`` volumes are left
    out."""
    out = []
    for i, b in enumerate(blocks):
        for src in b.sources:
            a, v = vols[src], vols[i]
            if a is None or v is None:
                continue
            if src == i - 1:
                arrow = Arrow(a.face.get_right(), v.face.get_left(), **style)
            else:
                start, end = a.title.get_top() + UP * 0.08, v.title.get_top() + UP * 0.08
                arrow = CurvedArrow(start, end, angle=-PI / 3, stroke_width=2)
            out.append((src, i, arrow.set_color(THEME.muted)))
    return out


def volume_size(shape: tuple[int, ...]) -> tuple[float, float, float]:
    """(width, height, depth) in scene units for a ``(C, H, W)`` or ``(N,)`` tensor: height and
    width grow with the pixels, depth with log2 of the channels; vectors are thin columns."""
    if len(shape) == 3:
        c, h, w = shape
        return 0.4 + 1.8 * w / 28, 0.4 + 1.8 * h / 28, 0.12 + 0.16 * math.log2(max(c, 1))
    n = shape[0]
    return 0.22, 0.4 + 0.2 * math.log2(max(n, 2)), 0.0


class Volume(Group):
    """A pseudo-3D box for one tensor with labelled dimensions and its strongest map on the
    front face (a vector: its values as a coloured column)."""

    def __init__(self, block: Block, labelled: bool = True) -> None:
        w, h, d = volume_size(block.shape)
        dx, dy = d * 0.7, d * 0.45
        out = block.output
        if out.ndim == 3:
            ch = int(np.argmax(np.abs(out.reshape(out.shape[0], -1)).mean(axis=1)))
            kind = "input" if block.image is not None else block.records[-1].kind
            values = out[ch]
        else:
            kind, values = block.records[-1].kind, out[:, None]
        scale = layer_scale(values, kind)  # as the GIFs: any record below 0 is diverging
        self.face = FeatureMap(values, scale, height=h, width=w, frame_color=THEME.foreground)
        x0, y0 = self.face.get_corner(DOWN + LEFT)[:2]
        o = np.array([dx, dy, 0])
        bl, br = np.array([x0, y0, 0]), np.array([x0 + w, y0, 0])
        tl, tr = bl + UP * h, br + UP * h
        style = {"stroke_color": THEME.foreground, "stroke_width": 1.5, "fill_opacity": 1}
        self.top = Polygon(tl, tr, tr + o, tl + o, fill_color="#3b4356", **style)
        self.side = Polygon(br, br + o, tr + o, tr, fill_color="#2a3040", **style)
        parts: list = [self.top, self.side, self.face] if d > 0 else [self.face]
        dims = Group()  # the depth (channels) on the side; height and width: the shape label
        if len(block.shape) == 3:
            depth = label(str(block.shape[0]), SMALL_FONT_SIZE - 2, THEME.muted)
            dims.add(depth.next_to(br + o / 2, RIGHT, buff=0.08 + dx / 2))
        self.dims = dims
        shape_text = "×".join(map(str, block.shape))
        self.shape_label = label(shape_text, SMALL_FONT_SIZE, THEME.foreground)
        self.title = label(block.title, SMALL_FONT_SIZE - 1, THEME.muted)
        if block.note:
            note = label(block.note, SMALL_FONT_SIZE - 3, THEME.muted)
            self.title = Group(self.title, note).arrange(DOWN, buff=0.05)
        box = Group(*parts, dims)
        self.title.next_to(box, UP, buff=0.15)
        self.shape_label.next_to(box, DOWN, buff=0.12)
        self.body = Group(*parts)
        if labelled:
            super().__init__(self.body, dims, self.title, self.shape_label)
        else:  # too small to read (a row of the comparison): the box alone, titles for arrows
            super().__init__(self.body)

    def outline(self) -> VMobject:
        """The front face's frame, to flash as the data passes."""
        return self.face.frame


def block_caption(blocks: list[Block], i: int) -> str:
    """What volume ``i`` does to the shape: ``"max pool 2×2: 32×28×28 → 32×14×14"``."""
    b = blocks[i]
    into = " and ".join("×".join(map(str, blocks[s].shape)) for s in b.sources)
    return f"{b.title}: {into} → {'×'.join(map(str, b.shape))}"


def pulses(dot: Dot, paths: list[VMobject]) -> list[MoveAlongPath]:
    """A copy of ``dot`` running along each path, from its start, gone at its end."""
    return [
        MoveAlongPath(dot.copy().move_to(p.get_start()), p, rate_func=linear, remover=True)
        for p in paths
    ]


class DataFlowScene(TraceScene):
    """Tensor shapes as volumes, data flowing through (see the module docstring)."""

    FRAME_WIDTH = 14.0

    def construct(self) -> None:
        trace = self.trace
        blocks = flow_blocks(trace)
        vols = self.volumes = [Volume(b) for b in blocks]
        for prev, vol in itertools.pairwise(vols):
            vol.next_to(prev, RIGHT, buff=0.7)
            vol.shift(UP * (prev.body.get_bottom()[1] - vol.body.get_bottom()[1]))  # labels too
        row = Group(*vols)
        row.move_to(ORIGIN_OFFSET)
        self.frame.set(width=self.FRAME_WIDTH).move_to(np.array([row.get_left()[0] + 6.5, 0, 0]))

        header = self.make_header("Data flow: tensor shapes")
        hud = Group(header)
        hud.is_chrome = True
        model = trace.checkpoint or trace.architecture
        n = tensor_count(trace)
        self.play(FadeIn(header), run_time=0.6)
        intro = f"{model}: {n} tensors from input to output; the input is {blocks[0].shape_text}"
        self.play(FadeIn(vols[0]), *self.swap_caption(intro), run_time=1.0)
        self.hold_caption()
        edges = flow_arrows(vols, blocks, buff=0.08, stroke_width=3)
        for i in range(1, len(vols)):
            vol = vols[i]
            shift = max(0.0, vol.get_right()[0] + 0.6 - self.frame.get_right()[0])
            centre = self.frame.get_center() + RIGHT * shift
            into = [arrow for _, dst, arrow in edges if dst == i]
            self.play(self.frame.animate.shift(RIGHT * shift), hud.animate.shift(RIGHT * shift),
                      *[Create(a) for a in into], FadeIn(vol, shift=RIGHT * 0.2),
                      *self.swap_caption(block_caption(blocks, i), centre),
                      run_time=1.2)  # fmt: skip
            self.hold_caption()
        self.flow(trace, vols, blocks, edges, row, header, hud)

    def flow(self, trace: Trace, vols, blocks, edges, row: Group, header, hud: Group) -> None:
        """Zoom out, a pulse runs along every edge, then back to the output and the answer."""
        width = max(self.FRAME_WIDTH, row.width + 2.0)
        zoom = width / self.FRAME_WIDTH
        centre = row.get_center() + DOWN * 0.3 * zoom
        top = centre[1] + width * self.frame.height / self.frame.width / 2
        header_y = top - (0.2 + header.height / 2) * zoom
        self.play(
            self.frame.animate.set(width=width).move_to(centre),
            hud.animate.scale(zoom).move_to([centre[0], header_y, 0]),
            *self.hide_caption(),
            run_time=1.2,
        )
        pulse = Dot(radius=0.09 * zoom, color=HIGHLIGHT_COLOR)
        flows = "Data flows left to right; each box is one tensor"
        self.play(Indicate(vols[0].outline(), color=HIGHLIGHT_COLOR),
                  *self.swap_caption(flows, centre, width), run_time=0.8)  # fmt: skip
        for i, vol in enumerate(vols[1:], start=1):  # one play per step: a pulse is on screen
            into = [arrow for _, dst, arrow in edges if dst == i]  # only while it moves
            self.play(*pulses(pulse, into), run_time=0.35)
            self.play(Indicate(vol.outline(), color=HIGHLIGHT_COLOR, scale_factor=1.05),
                      run_time=0.35)  # fmt: skip
        self.wait(self.hold / 2)
        # back to a readable frame: the last tensors and the answer
        said = said_first(trace)  # a picture that is no digit: said instead of a sure answer
        answer = label("→ not a digit?" if said else f"→ “{trace.predicted_name}”", 30,
                       bar_colours(trace)[0])  # fmt: skip
        answer.next_to(vols[-1].face, RIGHT, buff=0.25)
        home = np.array([answer.get_right()[0] + 0.8 - self.FRAME_WIDTH / 2, 0, 0])
        home[0] = max(home[0], row.get_left()[0] + self.FRAME_WIDTH / 2 - 0.6)
        head_y = self.FRAME_WIDTH * self.frame.height / self.frame.width / 2 - 0.2
        verdict = ""
        if trace.label is not None:
            verdict = (
                " ✓ correct" if trace.correct else f" ✗ (label {trace.class_names[trace.label]})"
            )
        text = said or f"The {len(trace.class_names)} scores give “{trace.predicted_name}” at " + (
            f"{confidence_text(trace.confidence)}{verdict}"
        )
        self.play(
            self.frame.animate.set(width=self.FRAME_WIDTH).move_to(home),
            hud.animate.scale(1 / zoom).move_to([home[0], head_y - header.height / zoom / 2, 0]),
            *self.hide_caption(),
            run_time=1.2,
        )
        self.play(FadeIn(answer, shift=RIGHT * 0.2), *self.swap_caption(text), run_time=0.8)
        self.hold_caption(extra=1.0)


ORIGIN_OFFSET = np.array([0.0, -0.2, 0.0])

__all__ = [
    "DataFlowScene",
    "Volume",
    "block_caption",
    "flow_arrows",
    "flow_blocks",
    "pulses",
    "volume_size",
]
