"""Manim mobjects for a vector: a column of neurons lit by their values, and the softmax as
probability bars with class names and percentages.

Like every mobject in :mod:`explainer.scenes.mobjects`, they colour through
:mod:`explainer.style` and offer ``make_*_animation(...)`` methods that return an Animation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    Animation,
    AnimationGroup,
    Circle,
    Create,
    FadeIn,
    Group,
    GrowFromEdge,
    LaggedStart,
    Rectangle,
    VGroup,
)

from explainer.analysis.arith import confidence_text
from explainer.scenes.mobjects import (
    FONT_SIZE,
    SMALL_FONT_SIZE,
    THEME,
    hex_color,
    label,
    top_channels,
)
from explainer.style import HIGHLIGHT_COLOR, Scale, colorize, layer_scale


class NeuronColumn(Group):
    """A ``(N,)`` vector as a column of circles filled by their values (at most ``max_shown``:
    the most active ones, in index order, with "⋮" where others are left out).

    Built *lit*; call :meth:`turn_off` first and play :meth:`make_light_animation` to light them.
    ``names`` labels each neuron (e.g. class names for an output layer), on ``names_side``.
    """

    def __init__(
        self,
        values: np.ndarray,
        *,
        kind: str = "auto",
        scale: Scale | None = None,
        max_shown: int = 12,
        radius: float = 0.11,
        gap: float = 0.05,
        names: Sequence[str] | None = None,
        names_side: np.ndarray = LEFT,
    ) -> None:
        values = np.asarray(values, dtype=np.float32).ravel()
        self.values = values
        self.value_scale = scale or layer_scale(values, kind)
        n = len(values)
        self.indices = (
            list(range(n)) if n <= max_shown else top_channels(values.reshape(n, 1, 1), max_shown)
        )
        self.colors = [hex_color(c) for c in colorize(values[self.indices], self.value_scale)]
        self.neurons = VGroup()
        for col in self.colors:
            circ = Circle(radius=radius, stroke_color=THEME.muted, stroke_width=1.5)
            circ.set_fill(col, opacity=1)
            self.neurons.add(circ)
        self.neurons.arrange(DOWN, buff=gap)
        parts: list = [self.neurons]
        self.dots = Group()
        if n > max_shown:
            self.dots = label("⋮", FONT_SIZE, THEME.muted).next_to(self.neurons, DOWN, buff=0.05)
            parts.append(self.dots)
        self.names = Group()
        if names is not None:
            for circ, i in zip(self.neurons, self.indices, strict=True):
                name = label(str(names[i]), SMALL_FONT_SIZE)
                self.names.add(name.next_to(circ, names_side, buff=0.1))
            parts.append(self.names)
        super().__init__(*parts)

    @property
    def shown(self) -> int:
        return len(self.neurons)

    def turn_off(self) -> NeuronColumn:
        """Turn every neuron off (background fill) before :meth:`make_light_animation`."""
        for circ in self.neurons:
            circ.set_fill(THEME.panel, opacity=1)
        return self

    def make_light_animation(self, run_time: float = 1.2) -> Animation:
        """Each neuron takes the colour of its activation, top to bottom."""
        return LaggedStart(
            *[
                c.animate.set_fill(col, opacity=1)
                for c, col in zip(self.neurons, self.colors, strict=True)
            ],
            lag_ratio=0.08,
            run_time=run_time,
        )


class ProbabilityBars(Group):
    """Softmax probabilities ``(K,)`` as horizontal bars with class names and percentages.

    Bars are ``max_width`` long at probability 1; the tallest is drawn in the highlight colour
    by :meth:`make_highlight_animation`. Percentages as
    :func:`explainer.analysis.arith.confidence_text`
    writes them ("> 99.9%", "< 0.1%"); ``font_size`` defaults to what fits a row.
    """

    def __init__(
        self,
        probs: np.ndarray,
        class_names: Sequence[str] | None = None,
        *,
        max_width: float = 2.5,
        bar_height: float = 0.26,
        gap: float = 0.1,
        color: str | None = None,
        font_size: float | None = None,
    ) -> None:
        probs = np.asarray(probs, dtype=np.float32).ravel()
        self.probs = probs
        self.class_names = list(class_names) if class_names else [str(i) for i in range(len(probs))]
        self.max_width = max_width
        self.bar_color = color or THEME.accent
        self.tracks = VGroup()
        self.bars = VGroup()
        self.names = Group()
        self.values = Group()
        self.row_pitch = bar_height + gap
        size = font_size or min(SMALL_FONT_SIZE + 2, self.row_pitch * 52)  # text fits its row
        for i, p in enumerate(probs):
            y = DOWN * i * (bar_height + gap)
            track = Rectangle(width=max_width, height=bar_height, stroke_width=0)
            track.set_fill(THEME.panel, opacity=1).move_to(y, aligned_edge=LEFT)
            bar = Rectangle(
                width=max(max_width * float(p), 1e-3), height=bar_height, stroke_width=0
            )
            bar.set_fill(self.bar_color, opacity=1).move_to(y, aligned_edge=LEFT)
            name = label(self.class_names[i], size).next_to(track, LEFT, buff=0.15)
            value = label(confidence_text(float(p)), size - 2, THEME.muted)
            value.next_to(track, RIGHT, buff=0.12)
            self.tracks.add(track)
            self.bars.add(bar)
            self.names.add(name)
            self.values.add(value)
        super().__init__(self.tracks, self.bars, self.names, self.values)

    @property
    def winner(self) -> int:
        return int(np.argmax(self.probs))

    def make_grow_animation(self, run_time: float = 1.5) -> Animation:
        """Bars grow from zero to their probability, then the percentages appear."""
        return AnimationGroup(
            FadeIn(self.tracks, self.names),
            LaggedStart(*[GrowFromEdge(b, LEFT) for b in self.bars], lag_ratio=0.05),
            FadeIn(self.values),
            lag_ratio=0.4,
            run_time=run_time,
        )

    def make_highlight_animation(
        self, index: int | None = None, run_time: float = 1.0, color: str = HIGHLIGHT_COLOR
    ) -> Animation:
        """Colour bar ``index`` (default: the winner) and frame its row, in ``color`` (a grey
        for a picture that does not look like a digit)."""
        i = self.winner if index is None else index
        track = self.tracks[i]
        pad = min(0.06, (self.row_pitch - track.height) / 2)  # inside the row, clear of the next
        left, right = self.names[i].get_left()[0] - 0.04, self.values[i].get_right()[0] + 0.04
        self.highlight_box = Rectangle(
            width=right - left, height=track.height + 2 * pad, color=color
        ).move_to([(left + right) / 2, track.get_center()[1], 0])
        name = self.names[i]
        return AnimationGroup(
            self.bars[i].animate.set_fill(color),
            FadeIn(name.recolored(color)),
            Create(self.highlight_box),
            run_time=run_time,
        )
