"""A conv output as a view writes it: one input channel's products, what the others add, the
bias, ``=`` the output, at the fewest decimals where the written figures add up.

:func:`conv_sum` picks the channel and the decimals (:class:`ConvSum` says whether the written
figures add up exactly, else the view says "rounded"); :func:`conv_sum_lines` gives the lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.analysis.arith.conv import ConvCell
from explainer.analysis.arith.rounding import decimals_that_add_up, fmt
from explainer.errors import ExplainerError


@dataclass
class ConvSum:
    """One conv output as a view writes it: the products of one input channel (``shown``, a
    position in ``cell.in_channels``), the sum each other input channel adds (from
    :attr:`ConvCell.channel_sums`), the bias and the output, with ``decimals`` at which the
    written figures add up (``exact``; otherwise the view says they are rounded)."""

    cell: ConvCell
    shown: int
    decimals: int
    exact: bool

    @property
    def in_channel(self) -> int:
        return self.cell.in_channels[self.shown]

    @property
    def patch(self) -> np.ndarray:
        return self.cell.patch[self.shown]

    @property
    def kernel(self) -> np.ndarray:
        return self.cell.kernel[self.shown]

    @property
    def products(self) -> np.ndarray:
        return self.cell.products[self.shown]

    @property
    def shown_sum(self) -> float:
        return float(self.cell.channel_sums[self.shown])

    @property
    def n_others(self) -> int:
        return len(self.cell.in_channels) - 1

    @property
    def others(self) -> float:
        """What the other input channels add: the sum of their own channel sums."""
        return float(np.delete(self.cell.channel_sums, self.shown).sum())

    @property
    def terms(self) -> list[float]:
        """The terms of the last addition: this channel's sum, the others', the bias."""
        return [self.shown_sum, *([self.others] if self.n_others else []), self.cell.bias]

    @property
    def value(self) -> float:
        return self.cell.value


def _adds_up(terms: np.ndarray | list[float], total: float, d: int) -> bool:
    return decimals_that_add_up(np.asarray(terms), total, start=d, most=d) == d


def conv_sum(cell: ConvCell, shown: int | None = None, start: int = 2, most: int = 3) -> ConvSum:
    """How to write ``cell``: the input channel ``shown`` (default: the one that adds the
    most), at the fewest decimals (``start``..``most``) where the written products add up to
    the written channel sum and the written terms to the written output."""
    if shown is None:
        shown = int(np.argmax(np.abs(cell.channel_sums)))
    if not 0 <= shown < len(cell.in_channels):
        n = len(cell.in_channels)
        raise ExplainerError(
            f"{cell.layer} output channel {cell.channel} reads {n} input channel(s), not {shown}"
        )
    cs = ConvSum(cell, shown, most, False)
    for d in range(start, most + 1):
        if _adds_up(cs.products, cs.shown_sum, d) and _adds_up(cs.terms, cs.value, d):
            return ConvSum(cell, shown, d, True)
    return cs


def conv_sum_lines(cs: ConvSum) -> list[tuple[str, str]]:
    """The written sum, as ``(words, number)`` lines: this channel's products, what the other
    input channels add, the bias, ``=`` the output (the last line)."""
    d, k = cs.decimals, cs.products.size
    where = f" (input channel {cs.in_channel})" if len(cs.cell.in_channels) > 1 else ""
    lines = [(f"sum of the {k} products{where}", fmt(cs.shown_sum, d))]
    if cs.n_others:
        n = cs.n_others
        lines.append((f"+ the other {n} input channel{'s' if n > 1 else ''}", fmt(cs.others, d)))
    lines.append(("+ bias", fmt(cs.cell.bias, d)))
    lines.append((f"= output [{cs.cell.y}, {cs.cell.x}]", fmt(cs.value, d)))
    return lines
