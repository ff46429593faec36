"""The answer as the GIFs state it: the prediction with how sure (and right or wrong), or,
when the Trace says the picture does not look like a digit (``trace.not_a_digit``), that first,
in :func:`~explainer.tracing.verdict.verdict_text`'s words, with the probability bars greyed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from explainer import style
from explainer.analysis.flowgraph import verdict
from explainer.tracing.trace import Trace
from explainer.tracing.verdict import greys, verdict_lines


@dataclass
class Answer:
    """``lines``: what the picture writes, first line first, each ``(text, colour)``;
    ``top`` and ``rest``: the colours of the answer's bar and of the others; ``flagged``:
    the picture does not look like a digit."""

    lines: list[tuple[str, str]]
    top: str
    rest: str
    flagged: bool

    @property
    def text(self) -> str:
        """Every line, joined by spaces (what a reader of the frame reads)."""
        return " ".join(t for t, _ in self.lines)

    @property
    def line(self) -> str:
        """Every line on one, two spaces apart (``"prediction: 7  > 99.9%  ✓ correct"``)."""
        return "  ".join(t for t, _ in self.lines)


def answer(trace: Trace, names: Sequence[str], theme: str = "light") -> Answer:
    """What a GIF says about ``trace``'s answer, with ``names`` its class names as drawn (a
    flagged picture's label, if any, is left to the picture's own "label" line)."""
    t = style.theme(theme)
    if trace.not_a_digit:
        head, guess = verdict_lines(names[trace.prediction])
        return Answer([(head, t.foreground), (guess, t.foreground)], *greys(theme), True)
    v = verdict(trace.probs, names, trace.label)
    colour = {"correct": style.CORRECT_COLOR, "wrong": style.WRONG_COLOR}.get(v.state, t.foreground)
    lines = [(v.text, colour)] + ([(v.note, colour)] if v.note else [])
    return Answer(lines, style.HIGHLIGHT_COLOR, t.muted, False)
