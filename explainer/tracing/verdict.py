"""The not-a-digit verdict in words: what every view says first about a picture that does not
look like a digit (the app, ``explainer predict``, the preprocessing strip, a Trace in a
notebook, the GIFs and the Manim scenes). One function, so that every view says it alike; and
the greys its probability bars take (:func:`greys`, :func:`bar_colours`).

>>> verdict_text("4")
'This does not look like a digit. If it were one, the network would guess 4.'
"""

from __future__ import annotations

from typing import Any

from explainer import style

VERDICT = "This does not look like a digit."
IF_IT_WERE = "If it were one, the network would guess {guess}."


def verdict_text(guess: str, why: str = "", bold: bool = False) -> str:
    """What every view says first about a flagged picture: :data:`VERDICT`, then the forced
    answer ``guess`` ("If it were one, the network would guess 4."), then ``why`` in brackets
    when given. ``bold``: the first sentence in Markdown bold (the app)."""
    head = f"**{VERDICT}**" if bold else VERDICT
    text = f"{head} {IF_IT_WERE.format(guess=guess)}"
    return f"{text} ({why[0].upper() + why[1:]}.)" if why else text


def verdict_lines(guess: str) -> tuple[str, str]:
    """:func:`verdict_text` in its two sentences, for a picture that sets them on two lines:
    ``("This does not look like a digit.", "If it were one, the network would guess 4.")``."""
    return VERDICT, IF_IT_WERE.format(guess=guess)


def greys(theme: str = "light") -> tuple[str, str]:
    """``(answer, others)``: the colours of the probability bars of a picture that does not
    look like a digit, greys of ``theme`` (light or dark): there is no digit to pick, though
    the forced answer's bar, the stronger grey, still stands out."""
    t = style.theme(theme)
    return style.mix(t.foreground, t.background, 0.5), style.mix(t.foreground, t.background, 0.22)


def bar_colours(trace: Any, top: str, rest: str, theme: str = "light") -> tuple[str, str]:
    """``(top, rest)``, the colours a view gives the answer's bar and the others, or
    :func:`greys` of ``theme`` when ``trace`` (a Trace, or anything with ``not_a_digit``) does
    not look like a digit."""
    return greys(theme) if getattr(trace, "not_a_digit", None) else (top, rest)
