"""ArchitectureComparisonScene: one digit through two networks, side by side.

Each row shows one network's tensors as volumes (from :mod:`scenes.data_flow`), its weight
count, the data flowing through it and its softmax bars, so a learner sees a deep CNN and a
small MLP reach (or miss) the same answer in different ways.

    manim -ql scenes/comparison.py ArchitectureComparisonScene
    EXPLAINER_TRACE=a.npz EXPLAINER_TRACE_B=b.npz \\
        manim -ql scenes/comparison.py ArchitectureComparisonScene
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `manim scenes/comparison.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
    MoveAlongPath,
    Succession,
    linear,
)

from explainer.style import CORRECT_COLOR, HIGHLIGHT_COLOR, WRONG_COLOR, scale_for
from explainer.trace import Trace
from scenes.common import TraceScene
from scenes.data_flow import Block, Volume, flow_arrows, flow_blocks
from scenes.inputs import comparison_traces
from scenes.mobjects import (
    FONT_SIZE,
    SMALL_FONT_SIZE,
    THEME,
    ColorBar,
    FeatureMap,
    ProbabilityBars,
    label,
)

ROW_WIDTH = 5.6  # scene units for one network's volumes, at most
ROW_HEIGHT = 1.7


def weight_count(trace: Trace) -> int:
    """Weights and biases of the conv and dense layers captured in ``trace``."""
    return sum(
        (r.weight.size if r.weight is not None else 0) + (r.bias.size if r.bias is not None else 0)
        for r in trace.layers
    )


def human_count(n: int) -> str:
    """``1234567`` → ``"1.23 M"``, ``7740`` → ``"7.7 k"``."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    if n >= 1_000:
        return f"{n / 1e3:.1f} k"
    return str(n)


class NetworkRow(Group):
    """One network of the comparison: title, volumes (skipping the shared input) and bars."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        blocks = flow_blocks(trace)[1:]
        self.volumes = [Volume(b) for b in blocks]
        chain = Group(*self.volumes)
        for prev, vol in zip(self.volumes, self.volumes[1:], strict=False):
            vol.next_to(prev, RIGHT, buff=0.45)
            vol.body.align_to(prev.body, DOWN)
        if chain.width > ROW_WIDTH:
            chain.scale_to_fit_width(ROW_WIDTH)
        if chain.height > ROW_HEIGHT:
            chain.scale_to_fit_height(ROW_HEIGHT)
        self.chain = chain
        edges = flow_arrows([None, *self.volumes], [Block(), *blocks], buff=0.05,
                            stroke_width=2, tip_length=0.12)  # fmt: skip
        self.arrows = [arrow for _, _, arrow in edges]
        name = trace.checkpoint or trace.architecture
        self.title = label(name, FONT_SIZE + 2)
        self.subtitle = label(
            f"{len(blocks)} tensors · {human_count(weight_count(trace))} weights",
            SMALL_FONT_SIZE,
            THEME.muted,
        )
        head = Group(self.title, self.subtitle).arrange(RIGHT, buff=0.3, aligned_edge=DOWN)
        head.next_to(chain, UP, buff=0.25).align_to(chain, LEFT)
        self.bars = ProbabilityBars(
            trace.probs, trace.class_names, max_width=1.4, bar_height=0.12, gap=0.04
        )
        self.bars.next_to(chain, RIGHT, buff=0.9)
        self.head = head
        super().__init__(head, chain, *self.arrows, self.bars)

    def verdict(self) -> Group:
        t = self.trace
        ok = t.correct
        color = CORRECT_COLOR if ok or ok is None else WRONG_COLOR
        mark = "" if ok is None else (" ✓" if ok else " ✗")
        text = label(f"“{t.predicted_name}” {100 * t.confidence:.1f}%{mark}", FONT_SIZE, color)
        return text.next_to(self.bars, DOWN, buff=0.15)


class ArchitectureComparisonScene(TraceScene):
    """Two networks, one digit (see the module docstring)."""

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
        return f"{t.source or 'one digit'}{truth}"

    def construct(self) -> None:
        a, b = self.trace, self.trace_b
        header = self.make_header("Two networks, one digit")
        digit = FeatureMap(a.image, scale_for(a.image, "input"), height=2.2).move_to(
            LEFT * 5.9 + DOWN * 0.3
        )
        bar = ColorBar(digit.value_scale, width=1.4, text="pixel value").next_to(
            digit, DOWN, buff=0.3
        )
        rows = self.rows = [NetworkRow(a), NetworkRow(b)]
        rows[0].move_to(RIGHT * 0.9 + UP * 1.25)
        rows[1].move_to(RIGHT * 0.9 + DOWN * 1.85)
        for r in rows:
            r.align_to(rows[0], LEFT)
        bars_x = max(r.chain.get_right()[0] for r in rows) + 0.9
        for r in rows:  # both sets of bars in one column
            r.bars.shift(RIGHT * (bars_x - r.bars.get_left()[0]))
        self.play(
            FadeIn(header),
            FadeIn(digit, bar),
            *self.swap_caption("The same digit goes into both networks"),
            run_time=1.0,
        )
        for row in rows:
            feed = Arrow(
                digit.get_right(), row.volumes[0].face.get_left(), buff=0.1, stroke_width=2.5
            )
            feed.set_color(THEME.muted)
            self.play(
                FadeIn(row.head),
                Create(feed),
                LaggedStart(*[FadeIn(v, shift=RIGHT * 0.1) for v in row.volumes], lag_ratio=0.15),
                *[Create(ar) for ar in row.arrows],
                run_time=1.4,
            )
            pulse = Dot(radius=0.06, color=HIGHLIGHT_COLOR)
            self.play(
                Succession(
                    *[
                        MoveAlongPath(pulse.copy(), p, rate_func=linear, run_time=0.2, remover=True)
                        for p in [feed, *row.arrows]
                    ]
                ),
                run_time=1.2,
            )
            self.play(row.bars.make_grow_animation(), run_time=1.0)
            self.play(row.bars.make_highlight_animation(), FadeIn(row.verdict()), run_time=0.7)
        self.play(*self.swap_caption(self.summary(a, b)), run_time=0.8)
        self.wait(2.0)

    @staticmethod
    def summary(a: Trace, b: Trace) -> str:
        na, nb = a.checkpoint or a.architecture, b.checkpoint or b.architecture
        if a.prediction == b.prediction:
            more = na if a.confidence >= b.confidence else nb
            return f"Both read “{a.predicted_name}”; {more} is more sure"
        return f"They disagree: {na} reads “{a.predicted_name}”, {nb} reads “{b.predicted_name}”"


__all__ = [
    "UP",
    "AnimationGroup",
    "ArchitectureComparisonScene",
    "NetworkRow",
    "human_count",
    "weight_count",
]
