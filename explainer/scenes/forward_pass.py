"""ForwardPassScene: one digit through the whole network, with the real numbers of every layer.

The digit, each convolution block as a stack of its real feature maps, pooling shrinking them,
the flatten into a column, dense neurons lit by their activations, softmax bars growing and the
prediction highlighted; a caption says what each step does and the camera follows the data.

    manim -ql scenes/forward_pass.py ForwardPassScene
    EXPLAINER_TRACE=my_trace.npz manim -ql scenes/forward_pass.py ForwardPassScene
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np
from manim import (
    DOWN,
    PI,
    RIGHT,
    UP,
    AnimationGroup,
    Arrow,
    Create,
    CurvedArrow,
    FadeIn,
    FadeOut,
    Group,
    Line,
    VGroup,
)

from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import flow_blocks, inputs_text, output_meaning
from explainer.scenes.common import (
    TraceScene,
    bar_colours,
    layer_title,
    noun,
    said_first,
    short_description,
)
from explainer.scenes.mobjects import (
    SMALL_FONT_SIZE,
    THEME,
    ColorBar,
    FeatureMap,
    FeatureMapStack,
    label,
    make_morph_animation,
)
from explainer.scenes.vectors import NeuronColumn, ProbabilityBars
from explainer.style import scale_for
from explainer.tracing.blocks import Block, blocks_of, view_of
from explainer.tracing.normalising import normalisation, normalisation_words
from explainer.tracing.trace import INPUT, LayerRecord, Trace


@dataclass
class Stage:
    """One picture of the forward pass: ``kind`` is input, maps, flatten, dense, logits or
    probs; ``records`` the layers it sums up (e.g. conv + bn + ReLU), the last one drawn."""

    kind: str
    records: list[LayerRecord] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    reads_previous: bool = True
    block: Block | None = None  # a block of the network shown as one picture

    @property
    def record(self) -> LayerRecord | None:
        return self.records[-1] if self.records else None

    @property
    def title(self) -> str:
        if self.kind == "input":
            return "input"
        if self.kind == "probs":
            return "softmax"
        if self.block is not None:
            return self.block.name + (" (residual)" if self.block.skip else "")
        norm = normalisation(self.records)
        if norm is not None:
            rest = layer_title(self.records[2:])
            return normalisation_words(*norm) + (f" + {rest}" if rest else "")
        return layer_title(self.records)


def forward_stages(
    trace: Trace, *, block: str | None = None, by_blocks: bool | None = None
) -> list[Stage]:
    """The pictures of :class:`ForwardPassScene`: one per step (:func:`record_stages`), one
    per block for a network of more than :data:`~explainer.tracing.blocks.BY_BLOCKS_FROM`
    records (``by_blocks``: force either; :func:`block_stages`), or one block's steps after
    what it reads (``block="layer2.0"``)."""
    view = view_of(trace, block=block, by_blocks=by_blocks)
    if view.opened is not None:
        return opened_stages(trace, view.opened)
    return record_stages(trace) if view.blocks is None else block_stages(trace)


def _kind_of(record: LayerRecord, last: bool) -> str:
    if last and not record.is_spatial:
        return "logits"
    return "maps" if record.is_spatial else "dense"


def block_stages(trace: Trace) -> list[Stage]:
    """The input, one stage per block of :func:`explainer.tracing.blocks.blocks_of` (its
    records, the last one drawn), the softmax."""
    blocks = blocks_of(trace)
    stages, where = [Stage("input")], {INPUT: 0}
    for i, b in enumerate(blocks):
        records = [trace.layer(n) for n in b.records]
        reads = [n for r in records for n in r.inputs if n not in b.records]
        sources = list(dict.fromkeys(where.get(n, len(stages) - 1) for n in reads))
        kind = _kind_of(records[-1], i == len(blocks) - 1)
        stages.append(Stage(kind, records, sources or [len(stages) - 1], block=b))
        where.update({n: len(stages) - 1 for n in b.records})
    return _finish(stages)


def opened_stages(trace: Trace, b: Block) -> list[Stage]:
    """What block ``b`` reads (the input, or that record's picture), then its steps."""
    inside = dataclasses.replace(trace, layers=[trace.layer(n) for n in b.records])
    stages = record_stages(inside)[:-1]  # its own softmax would skip the rest of the network
    if b.input != INPUT:
        rec = trace.layer(b.input)
        stages[0] = Stage(_kind_of(rec, False), [rec])
    stages[-1].kind = "maps" if stages[-1].record.is_spatial else "dense"
    return _finish(stages)


def _finish(stages: list[Stage]) -> list[Stage]:
    stages.append(Stage("probs", sources=[len(stages) - 1]))
    for i, st in enumerate(stages):
        st.reads_previous = i == 0 or (i - 1) in st.sources
    return stages


def record_stages(trace: Trace) -> list[Stage]:
    """Group a Trace's layers into the pictures of :class:`ForwardPassScene`.

    The blocks of :func:`explainer.analysis.flowgraph.flow_blocks` (a conv → BN → activation on one
    path is one picture; a pooling, an addition, a concatenation each its own): image-shaped
    ones are ``maps``, the flatten ``flatten``, vectors ``dense``, and the block that returns
    the model's output ``logits``; then ``probs``. Normalisation and dropout (off at test
    time) are not drawn. ``Stage.sources`` are the stages a stage reads (0: the input).
    """
    blocks = flow_blocks(trace)
    stages = [Stage("input")]
    stage_of = {-1: [0]}  # block index -> the stages that stand for it (0: the input)
    for i, b in enumerate(blocks):
        records = [r for r in b.records if r.kind != "dropout"]
        sources = list(dict.fromkeys(k for s in b.sources for k in stage_of[s]))
        if not records:  # dropout alone: drawn as what it passes on
            stage_of[i] = sources
            continue
        if i == len(blocks) - 1 and not b.last.is_spatial:
            kind = "logits"
        elif b.last.is_spatial:
            kind = "maps"
        else:
            kind = "flatten" if b.first.kind == "flatten" else "dense"
        stages.append(Stage(kind, records, sources=sources))
        stage_of[i] = [len(stages) - 1]
    return _finish(stages)


def block_caption(stage: Stage, trace: Trace) -> str:
    """``"layer2.0, a residual block: conv 3×3 /2 → BN → ReLU → conv 3×3 → BN, plus its
    skip (conv 1×1 /2 + BN); 64×7×7 → 128×4×4"``."""
    b = stage.block
    through = set(b.skip.through) if b.skip else set()
    main = [r for r in stage.records if r.name not in through and r.kind != "dropout"]
    words = [short_description(r) for r in main if b.skip is None or r.name != b.skip.join]
    steps = " → ".join(words[:6]) + (f" → … ({len(words) - 6} more)" if len(words) > 6 else "")
    what = {"stem": "the first layers", "head": "to the class scores"}.get(b.role, "a block")
    if b.skip is not None:
        carried = " + ".join(short_description(trace.layer(n)) for n in b.skip.through)
        what, steps = "a residual block", f"{steps}, plus its skip ({carried or 'the input'})"
    shapes = f"{'×'.join(map(str, trace.value(b.input).shape))} → {stage.record.shape_text}"
    return f"{b.name}, {what}: {steps}; {shapes}"


def _maps_caption(stage: Stage, trace: Trace) -> str:
    r, first = stage.record, stage.records[0]
    norm = normalisation(stage.records)
    if norm is not None:
        mean, std = (f"{v:.4g}" for v in norm)
        return f"{normalisation_words(*norm)}: each value becomes (x − {mean}) ÷ {std}"
    if first.kind == "pool":
        if first.params.get("adaptive"):
            size = "×".join(str(v) for v in first.shape[1:])
            how = "the largest value" if first.params.get("mode") == "max" else "the mean"
            return f"Adaptive pooling keeps {how} of each map: {size} per channel"
        k = first.params.get("kernel_size", [2, 2])[0]
        size = f"{trace.value(first.inputs[0]).shape[-1]}→{first.shape[-1]} pixels"
        if first.params.get("mode", "max") == "max":
            return f"Max pooling keeps the strongest of each {k}×{k} block: {size}"
        return f"Average pooling keeps the mean of each {k}×{k} block: {size}"
    if first.kind in ("add", "concat", "mul"):
        what = inputs_text(first)
        if first.kind == "add":
            return f"Adds {what} value by value (a shortcut around the layers between)"
        if first.kind == "concat":
            chans = " + ".join(str(trace.value(n).shape[0]) for n in first.inputs)
            return f"Stacks the maps of {what}: {chans} = {r.shape[0]} channels"
        return f"Multiplies every value: {what}"
    if first.kind != "conv":
        return f"{stage.title}: {r.shape_text}"
    return _conv_caption(first, trace)


def _conv_caption(conv: LayerRecord, trace: Trace) -> str:
    """What a convolution reads, from its input record: the image, or the maps before it."""
    c = conv.params.get("out_channels", conv.shape[0])
    k = conv.params.get("kernel_size", [3, 3])[0]
    src = conv.inputs[0] if conv.inputs else INPUT
    cin = trace.value(src).shape[0]
    reads_image = src == INPUT or (
        trace.layer(src).kind == "normalize" and trace.layer(src).inputs == [INPUT]
    )
    maps = "the map" if cin == 1 else f"the {cin} maps"
    what = f"the {noun(trace)}" if reads_image else f"{maps} before them"
    groups = conv.params.get("groups", 1)
    if groups > 1 and groups == cin:
        return f"{c} filters of {k}×{k}, each sliding over one of {maps} before them"
    verb = "slide over" if reads_image else "read"
    return f"{c} filters of {k}×{k} {verb} {what}"


def stage_caption(stage: Stage, trace: Trace) -> str:
    """One short sentence saying what the step does."""
    r = stage.record
    if stage.block is not None:
        return block_caption(stage, trace)
    if stage.kind == "input":
        h, w = trace.image.shape[-2:]
        return f"A {h}×{w} {noun(trace)}: each pixel is a number from 0 (black) to 1 (white)"
    if stage.kind == "maps" and r is not None:
        return _maps_caption(stage, trace)
    if stage.kind == "flatten" and r is not None:
        shape = "×".join(map(str, trace.value(stage.records[0].inputs[0]).shape))
        return f"Flatten: the {shape} values become one column of {r.shape[0]}"
    if stage.kind == "dense" and r is not None:
        lin = stage.records[0]
        n_in = lin.params.get("in_features", "all")
        return (
            f"Dense layer: each of {r.shape[0]} neurons weighs all {n_in} inputs (bright = active)"
        )
    if stage.kind == "logits" and r is not None:
        return f"Output layer ({stage.title}): {output_meaning(r)}"
    if trace.not_a_digit:  # said first, and instead of a sure answer
        return said_first(trace)
    p = confidence_text(trace.confidence)
    verdict = ""
    if trace.label is not None:
        verdict = " ✓ correct" if trace.correct else f" ✗ (label {trace.class_names[trace.label]})"
    return f"Softmax turns scores into probabilities: “{trace.predicted_name}” at {p}{verdict}"


def map_height_for(size: int) -> float:
    """Feature-map height in scene units for a map ``size`` pixels high (28 → 0.65)."""
    return 0.3 + 0.35 * min(size, 28) / 28


class ForwardPassScene(TraceScene):
    """The whole forward pass of one Trace (see the module docstring)."""

    FRAME_WIDTH = 12.0
    STEP = 0.8  # horizontal gap between stages, scene units

    def build_stage(self, stage: Stage, trace: Trace, prev: Stage | None) -> Group:
        r = stage.record
        if stage.kind == "input":
            fm = FeatureMap(trace.image, scale_for(trace.image, "input"), height=2.6)
            cap = Group(
                label("input", SMALL_FONT_SIZE + 2),
                label("1×" + "×".join(map(str, trace.image.shape)), SMALL_FONT_SIZE, THEME.muted),
            ).arrange(DOWN, buff=0.06)
            cap.next_to(fm, DOWN, buff=0.15)
            bar = ColorBar(fm.value_scale, width=1.6, text="pixel value").next_to(
                cap, DOWN, buff=0.2
            )
            g = Group(fm, cap, bar)
            g.main, g.parts = fm, [fm]
            return g
        if stage.kind == "maps":
            c, h, _ = r.shape
            channels = None
            same = stage.records[0].kind in ("pool", "add", "mul", "bn", "relu")
            if same and stage.reads_previous and prev.kind == "maps" and prev.record.shape[0] == c:
                channels = prev.mobject.stack.channels  # pooling: the same channels, shrunk
            stack = FeatureMapStack(
                r.output,
                kind=r.kind,
                channels=channels,
                max_maps=8,
                rows=4,
                map_height=map_height_for(h),
                title=stage.title,
            )
            bar = ColorBar(stack.value_scale, width=1.4, text="activation").next_to(
                stack, DOWN, buff=0.2
            )
            g = Group(stack, bar)
            g.stack, g.main, g.parts = stack, stack.body, stack.maps
            return g
        if stage.kind == "flatten":
            fm = FeatureMap(r.output[:, None], kind="flatten", height=3.4, width=0.16)
            cap = Group(
                label("flatten", SMALL_FONT_SIZE + 2),
                label(f"{r.shape[0]}", SMALL_FONT_SIZE, THEME.muted),
            ).arrange(DOWN, buff=0.06)
            cap.next_to(fm, DOWN, buff=0.15)
            g = Group(fm, cap)
            g.main, g.parts = fm, [fm]
            return g
        if stage.kind in ("dense", "logits"):
            names = trace.class_names if stage.kind == "logits" else None
            kind = "relu" if r.kind == "relu" else "linear"
            col = NeuronColumn(r.output, kind=kind, max_shown=10, names=names, names_side=RIGHT)
            n = r.shape[0]
            shown = f"{col.shown} of {n} (most active)" if col.shown < n else f"{n} neurons"
            cap = Group(
                label(stage.title, SMALL_FONT_SIZE + 2), label(shown, SMALL_FONT_SIZE, THEME.muted)
            ).arrange(DOWN, buff=0.06)
            cap.next_to(col, DOWN, buff=0.15)
            text = "logit" if stage.kind == "logits" else "activation"
            bar = ColorBar(col.value_scale, width=1.2, text=text).next_to(cap, DOWN, buff=0.2)
            g = Group(col, cap, bar)
            g.main, g.parts, g.column = col.neurons, list(col.neurons), col
            return g
        bars = ProbabilityBars(trace.probs, trace.class_names, max_width=2.2, bar_height=0.2,
                               gap=0.08, color=bar_colours(trace)[1])  # fmt: skip
        cap = label("probability", SMALL_FONT_SIZE + 2).next_to(bars, DOWN, buff=0.25)
        g = Group(bars, cap)
        g.main, g.parts, g.bars = bars.tracks, list(bars.bars), bars
        return g

    def connect(self, prev: Group, new: Group) -> list:
        """Lines from the previous stage to a dense column (each neuron sees every input)."""
        a = prev.main
        lines = VGroup()
        for n in new.parts:
            for y in (a.get_top(), a.get_bottom()):
                line = Line(y + RIGHT * a.width / 2, n.get_left(), stroke_width=0.6)
                lines.add(line.set_stroke(THEME.muted, opacity=0.5))
        return [Create(lines, lag_ratio=0.02)]

    # the band between the header and the caption line that the pictures may use (frame
    # centred at y = 0, 12 units wide, so 6.75 high)
    TOP, BOTTOM = 2.1, -2.55

    def layout(self, mobs: list[Group]) -> Group:
        """Stages left to right, their main pictures on one line, all inside the band between
        the header and the caption (a stage too tall for it is shrunk)."""
        band = self.TOP - self.BOTTOM
        for m in mobs:
            if m.height > band:
                m.scale(band / m.height, about_point=m.main.get_center())
        for prev, m in itertools.pairwise(mobs):
            gap = self.STEP + (0.5 if m.stage_kind in ("dense", "logits", "probs") else 0)
            m.next_to(prev, RIGHT, buff=gap)
        up = np.array([m.get_top()[1] - m.main.get_center()[1] for m in mobs])
        down = np.array([m.main.get_center()[1] - m.get_bottom()[1] for m in mobs])

        def fits(line: float) -> np.ndarray:  # how much each stage must shrink at this line
            return np.minimum(1, np.minimum((self.TOP - line) / up, (line - self.BOTTOM) / down))

        lines = np.linspace(self.BOTTOM + 0.5, self.TOP - 0.5, 60)
        line = max(lines, key=lambda y: float(np.log(np.clip(fits(y), 1e-3, 1)).sum()))
        for m, f in zip(mobs, fits(line), strict=True):
            m.scale(float(f), about_point=m.main.get_center())
            m.shift(UP * (line - m.main.get_center()[1]))
        everything = Group(*mobs)
        everything.shift(RIGHT * (mobs[0].get_left()[0] + self.FRAME_WIDTH / 2 - 0.6) * -1)
        return everything

    def construct(self) -> None:
        trace = self.trace
        self.frame.set(width=self.FRAME_WIDTH)
        stages = self.stages = forward_stages(trace)
        mobs: list[Group] = []
        prev_stage: Stage | None = None
        for st in stages:
            st.mobject = self.build_stage(st, trace, prev_stage)
            st.mobject.stage_kind = st.kind
            mobs.append(st.mobject)
            prev_stage = st
        everything = self.layout(mobs)

        header = self.make_header("Forward pass")
        hud = Group(header)
        hud.is_chrome = True
        self.play(FadeIn(header), run_time=0.6)
        self.play(FadeIn(mobs[0]), *self.swap_caption(stage_caption(stages[0], trace)), run_time=1)
        self.hold_caption()

        for i in range(1, len(stages)):
            st, prev = stages[i], stages[i - 1]
            new, old = st.mobject, prev.mobject
            target_x = (old.get_center()[0] + new.get_center()[0]) / 2
            target_x = max(target_x, new.get_right()[0] - self.FRAME_WIDTH / 2 + 0.4)
            shift = RIGHT * (target_x - self.frame.get_center()[0])
            start = old.column.get_right() if prev.kind == "logits" else old.main.get_right()
            end = new.bars.names.get_left() if st.kind == "probs" else new.main.get_left()
            arrow = Arrow(start, end, buff=0.12, stroke_width=3).set_color(THEME.muted)
            dense = st.kind in ("dense", "logits") and st.reads_previous  # connection lines
            skips = self.skip_arrows(stages, st, i)
            arrow = VGroup(arrow, *skips) if st.reads_previous else skips
            drawn = [] if dense else [Create(arrow)]
            # the old caption leaves with the camera; the new one comes with its picture
            self.play(self.frame.animate.shift(shift), hud.animate.shift(shift),
                      *self.hide_caption(), *drawn, run_time=1.0)  # fmt: skip
            for old_stage in stages[: max(0, i - 2)]:  # off screen: stop drawing it
                self.remove(old_stage.mobject)
            self.play(
                self.stage_animation(st, prev, new, old),
                *self.swap_caption(stage_caption(st, trace)),
                run_time=1.6,
            )
            if st.kind == "probs":
                top = bar_colours(trace)[0]
                self.play(new.bars.make_highlight_animation(color=top), run_time=0.8)
            self.hold_caption()
        self.finale(trace, mobs, everything, header, hud)

    def finale(self, trace: Trace, mobs: list[Group], everything: Group, header, hud) -> None:
        """The whole network at a glance, then back to the prediction, which stays on screen."""
        home = self.frame.get_center()
        self.play(FadeOut(header), *self.hide_caption(), run_time=0.5)
        self.add(*mobs)
        width = everything.width + 1.0
        centre = everything.get_center() + DOWN * width * 0.04
        self.play(self.frame.animate.set(width=width).move_to(centre), run_time=1.5)
        steps = len(mobs) - 2
        glance = f"The whole network: {steps} steps from the pixels to the scores"
        self.play(*self.swap_caption(glance, centre, width), run_time=0.6)
        self.hold_caption()
        self.play(*self.hide_caption(), run_time=0.4)
        self.play(self.frame.animate.set(width=self.FRAME_WIDTH).move_to(home), run_time=1.5)
        verdict = ""
        if trace.label is not None:
            verdict = (
                " ✓ correct" if trace.correct else f" ✗ (label {trace.class_names[trace.label]})"
            )
        model = trace.checkpoint or trace.architecture
        summary = (
            f"{model} reads “{trace.predicted_name}” ({confidence_text(trace.confidence)}){verdict}"
        )
        summary = f"{model}: {said_first(trace)}" if trace.not_a_digit else summary
        self.play(FadeIn(header), *self.swap_caption(summary), run_time=0.8)
        self.hold_caption(extra=1.0)

    @staticmethod
    def skip_arrows(stages: list[Stage], st: Stage, i: int) -> VGroup:
        """Arrows over the top from each stage ``st`` reads other than the one before it (a
        shortcut, a second branch)."""
        arrows = VGroup()
        for src in [s for s in st.sources if s != i - 1]:
            a, b = stages[src].mobject.main, st.mobject.main
            arrow = CurvedArrow(a.get_top() + UP * 0.1, b.get_top() + UP * 0.1, angle=-PI / 3)
            arrows.add(arrow.set_color(THEME.muted).set_stroke(width=3))
        return arrows

    def stage_animation(self, st: Stage, prev: Stage, new: Group, old: Group):
        pooled = bool(st.records) and st.records[0].kind == "pool" and st.reads_previous
        if st.kind == "maps" and prev.kind == "maps" and pooled:
            return AnimationGroup(
                *[make_morph_animation(a, b) for a, b in zip(old.parts, new.parts, strict=False)],
                FadeIn(
                    Group(*[m for m in new.submobjects if m is not new.stack]), new.stack.caption
                ),
            )
        if st.kind == "maps":
            return AnimationGroup(
                new.stack.make_build_animation(), FadeIn(new.submobjects[1]), lag_ratio=0.3
            )
        if st.kind == "flatten":
            return AnimationGroup(
                make_morph_animation(old.main, new.main), FadeIn(new.submobjects[1])
            )
        if st.kind in ("dense", "logits"):
            col = new.column
            col.turn_off()
            return AnimationGroup(
                *self.connect(old, new),
                FadeIn(Group(col, *new.submobjects[1:])),
                col.make_light_animation(),
                lag_ratio=0.35,
            )
        return AnimationGroup(
            new.bars.make_grow_animation(), FadeIn(new.submobjects[1]), lag_ratio=0.3
        )


__all__ = ["ForwardPassScene", "Stage", "block_stages", "forward_stages", "np", "record_stages"]
