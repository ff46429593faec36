"""ArchitectureComparisonScene: one digit through two networks, side by side.

Each row shows one network's tensors as volumes (from :mod:`explainer.scenes.data_flow`), its weight
count, the data flowing through it and its softmax bars, so a learner sees a deep CNN and a
small MLP reach (or miss) the same answer in different ways.

    manim -ql scenes/comparison.py ArchitectureComparisonScene
    EXPLAINER_TRACE=a.npz EXPLAINER_TRACE_B=b.npz \\
        manim -ql scenes/comparison.py ArchitectureComparisonScene
"""

from __future__ import annotations

from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    AnimationGroup,
    Arrow,
    Create,
    Dot,
    FadeIn,
    Group,
    LaggedStart,
)

from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import parameter_count, tensor_count
from explainer.scenes.common import TraceScene, bar_colours, said_first, source_text
from explainer.scenes.data_flow import Block, Volume, flow_arrows, flow_blocks, pulses
from explainer.scenes.inputs import comparison_traces
from explainer.scenes.mobjects import (
    FONT_SIZE,
    SMALL_FONT_SIZE,
    THEME,
    ColorBar,
    FeatureMap,
    label,
)
from explainer.scenes.vectors import ProbabilityBars
from explainer.style import CORRECT_COLOR, HIGHLIGHT_COLOR, WRONG_COLOR, scale_for
from explainer.tracing.trace import Trace

ROW_WIDTH = 6.2  # scene units for one network's volumes, at most
ROW_HEIGHT = 1.4
BAR_FONT = 16  # class names on the bars (a digit about 10 px high at 854×480)


def count_text(n: int | None) -> str:
    """A count as a learner reads it, exact: ``437738`` → ``"437,738"``."""
    return "?" if n is None else f"{n:,}"


def network_text(trace: Trace) -> str:
    """``"12 tensors · 437,738 parameters"``: the tensors its pictures draw (input included)
    and the parameters it learned (when the Trace holds its weights)."""
    params = parameter_count(trace)
    tail = "" if params is None else f" · {count_text(params)} parameters"
    return f"{tensor_count(trace)} tensors{tail}"


def verdict_text(trace: Trace) -> str:
    """``"“7” > 99.9% ✓"``, or ``"not a digit? (“4”)"`` when the picture does not look like
    one to this network (its caption then says :func:`~explainer.scenes.common.said_first`)."""
    if trace.not_a_digit:
        return f"not a digit? (“{trace.predicted_name}”)"
    mark = "" if trace.correct is None else (" ✓" if trace.correct else " ✗")
    return f"“{trace.predicted_name}” {confidence_text(trace.confidence)}{mark}"


class NetworkRow(Group):
    """One network of the comparison: name and counts, its volumes (skipping the shared input,
    unlabelled: too small to read), its verdict under them, its softmax bars at the right."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        blocks = flow_blocks(trace)[1:]
        self.volumes = [Volume(b, labelled=False) for b in blocks]
        chain = Group(*self.volumes)
        for prev, vol in zip(self.volumes, self.volumes[1:], strict=False):
            vol.next_to(prev, RIGHT, buff=0.45)
            vol.shift(UP * (prev.body.get_bottom()[1] - vol.body.get_bottom()[1]))
        if chain.width > ROW_WIDTH:
            chain.scale_to_fit_width(ROW_WIDTH)
        if chain.height > ROW_HEIGHT:
            chain.scale_to_fit_height(ROW_HEIGHT)
        self.chain = chain
        edges = flow_arrows([None, *self.volumes], [Block(), *blocks], buff=0.05,
                            stroke_width=2, tip_length=0.12)  # fmt: skip
        self.arrows = [arrow for _, _, arrow in edges]
        self.title = label(trace.checkpoint or trace.architecture, FONT_SIZE + 2)
        self.subtitle = label(network_text(trace), SMALL_FONT_SIZE + 1, THEME.muted)
        head = Group(self.title, self.subtitle).arrange(RIGHT, buff=0.3, aligned_edge=DOWN)
        head.next_to(chain, UP, buff=0.3).align_to(chain, LEFT)
        ok = trace.correct
        color = CORRECT_COLOR if ok or ok is None else WRONG_COLOR
        color = bar_colours(trace)[0] if trace.not_a_digit else color
        self.verdict = label(verdict_text(trace), FONT_SIZE, color)
        self.verdict.next_to(chain, DOWN, buff=0.3).align_to(chain, LEFT)
        self.bars = ProbabilityBars(trace.probs, trace.class_names, max_width=1.5,
                                    bar_height=0.19, gap=0.09, font_size=BAR_FONT,
                                    color=bar_colours(trace)[1])  # fmt: skip
        self.bars.next_to(Group(head, chain), RIGHT, buff=0.9)
        self.bars.match_y(Group(head, chain, self.verdict))
        self.head = head
        super().__init__(head, chain, *self.arrows, self.verdict, self.bars)


class ArchitectureComparisonScene(TraceScene):
    """Two networks, one input (see the module docstring)."""

    def __init__(self, trace: Trace | None = None, trace_b: Trace | None = None, **kwargs) -> None:
        self.trace_b = trace_b
        super().__init__(trace=trace, **kwargs)

    def setup(self) -> None:
        super().setup()
        if self.trace_b is None:
            self.trace, self.trace_b = comparison_traces(self.trace)

    def header_text(self) -> str:
        t = self.trace
        truth = f", label {t.class_names[t.label]}" if t.label is not None and t.class_names else ""
        return f"{source_text(t)}{truth}"

    # the band between the header and the caption line (frame 8 units high, centred at 0)
    TOP, BOTTOM = 2.75, -3.15

    def layout(self, rows: list[NetworkRow], digit: Group) -> None:
        """Both rows in the band, one above the other, their bars in one column at the right."""
        band = self.TOP - self.BOTTOM
        tall = sum(r.height for r in rows) + 0.35
        if tall > band:
            for r in rows:
                r.scale(band / tall)
        rows[0].next_to(UP * self.TOP, DOWN, buff=0)
        rows[1].next_to(rows[0], DOWN, buff=0.35 * min(1, band / tall))
        right = self.frame.get_right()[0] - 0.25
        for r in rows:
            r.align_to(digit, LEFT).shift(RIGHT * (digit.width + 0.7))
        reach = max(r.bars.get_right()[0] - r.bars.tracks.get_left()[0] for r in rows)
        for r in rows:  # both sets of bars in one column, ending at the frame's right edge
            r.bars.shift(RIGHT * (right - reach - r.bars.tracks.get_left()[0]))
            left = Group(r.head, r.chain, *r.arrows, r.verdict)
            room = r.bars.get_left()[0] - 0.35 - left.get_left()[0]
            if left.width > room:  # long class names: the rest of the row gives way
                left.scale(room / left.width, about_edge=LEFT)

    def construct(self) -> None:
        a, b = self.trace, self.trace_b
        header = self.make_header(f"Two networks, one {self.noun}")
        digit = FeatureMap(a.image, scale_for(a.image, "input"), height=2.2).move_to(
            LEFT * 5.9 + DOWN * 0.3
        )
        bar = ColorBar(digit.value_scale, width=1.4, text="pixel value").next_to(
            digit, DOWN, buff=0.3
        )
        rows = self.rows = [NetworkRow(a), NetworkRow(b)]
        self.layout(rows, digit)
        self.play(FadeIn(header), run_time=0.6)
        self.play(FadeIn(digit, bar),
                  *self.swap_caption(f"The same {self.noun} goes into both networks"),
                  run_time=1.0)  # fmt: skip
        self.hold_caption()
        for row in rows:
            name = row.trace.checkpoint or row.trace.architecture
            feed = Arrow(
                digit.get_right(), row.volumes[0].face.get_left(), buff=0.1, stroke_width=2.5
            )
            feed.set_color(THEME.muted)
            self.play(
                FadeIn(row.head),
                Create(feed),
                LaggedStart(*[FadeIn(v, shift=RIGHT * 0.1) for v in row.volumes], lag_ratio=0.15),
                *[Create(ar) for ar in row.arrows],
                *self.swap_caption(f"{name}: {network_text(row.trace)}"),
                run_time=1.4,
            )
            pulse = Dot(radius=0.06, color=HIGHLIGHT_COLOR)
            for path in [feed, *row.arrows]:  # one play each: no pulse waits on screen
                self.play(*pulses(pulse, [path]), run_time=1.2 / (1 + len(row.arrows)))
            self.hold_caption(already=1.2)
            self.play(row.bars.make_grow_animation(), run_time=1.0)
            said = said_first(row.trace)
            caption = f"{name}: {said}" if said else f"{name} reads {verdict_text(row.trace)}"
            self.play(row.bars.make_highlight_animation(color=bar_colours(row.trace)[0]),
                      FadeIn(row.verdict), *self.swap_caption(caption), run_time=0.8)  # fmt: skip
            self.hold_caption()
        self.play(*self.swap_caption(self.summary(a, b)), run_time=0.8)
        self.hold_caption(extra=1.0)

    @staticmethod
    def summary(a: Trace, b: Trace) -> str:
        na, nb = a.checkpoint or a.architecture, b.checkpoint or b.architecture
        if a.not_a_digit or b.not_a_digit:  # a doubt is said before any agreement
            return doubt_summary(a, b, na, nb)
        if a.prediction == b.prediction:
            if confidence_text(a.confidence) == confidence_text(b.confidence):
                return f"Both read “{a.predicted_name}”, equally sure"
            more = na if a.confidence >= b.confidence else nb
            return f"Both read “{a.predicted_name}”; {more} is more sure"
        return f"They disagree: {na} reads “{a.predicted_name}”, {nb} reads “{b.predicted_name}”"


def doubt_summary(a: Trace, b: Trace, na: str, nb: str) -> str:
    """The comparison's last words when either network says the picture is no digit."""
    if a.not_a_digit and b.not_a_digit:
        return "Neither network thinks this looks like a digit"
    doubter, other, trace = (na, nb, b) if a.not_a_digit else (nb, na, a)
    return f"{doubter} says this does not look like a digit; {other} reads “{trace.predicted_name}”"


__all__ = [
    "UP",
    "AnimationGroup",
    "ArchitectureComparisonScene",
    "NetworkRow",
    "count_text",
    "network_text",
    "verdict_text",
]
