"""Numbers as a learner reads them, rounded honestly.

:func:`fmt` writes a true minus sign and never "-0.00"; :func:`decimals_that_add_up` finds how
many decimals make the shown terms add up to the shown total (views say "rounded" when none
do); :func:`explainer.nets.calibration.confidence_text` shows probabilities.
"""

from __future__ import annotations

import numpy as np

MINUS = "\u2212"


def fmt(value: float, decimals: int = 2, *, sign: bool = False) -> str:
    """``value`` with ``decimals`` decimals, a true minus sign, and no "-0.00"
    (``sign=True``: a "+" before values that are not negative, for terms of a sum)."""
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    if text.startswith("-"):
        return MINUS + text[1:]
    return "+" + text if sign else text


def decimals_that_add_up(
    terms: np.ndarray, total: float, start: int = 2, most: int = 4
) -> int | None:
    """The fewest decimals (from ``start`` up to ``most``) at which the rounded ``terms`` add
    up exactly to the rounded ``total``; ``None`` when none do (then say "rounded")."""
    terms = np.asarray(terms, dtype=np.float64).ravel()
    for d in range(start, most + 1):
        shown = sum(round(float(t), d) for t in terms)
        if round(shown, d) == round(float(total), d):
            return d
    return None
