"""The numbers of the Layer-by-layer page's "one output number, by hand" panel, without
Streamlit: every figure from :mod:`explainer.analysis.arith` (the layer's real input, every input
channel of its group, checked against the captured output)."""

from __future__ import annotations

import numpy as np

from explainer.analysis import arith
from explainer.tracing.trace import Trace


def default_cell(trace: Trace, layer: str, channel: int) -> tuple[int, int]:
    """The output cell the panel opens on: the channel's strongest response."""
    out = trace.layer(layer).output[channel]
    y, x = np.unravel_index(int(np.argmax(out)), out.shape)
    return int(y), int(x)


def conv_window(
    trace: Trace, layer: str, channel: int, row: int, col: int, in_channel: int | None = None
) -> arith.ConvSum:
    """Output ``(channel, row, col)`` of ``layer`` worked out by hand, showing input channel
    ``in_channel`` (default: the one that adds the most), at decimals that add up."""
    cell = arith.conv_cell(trace, layer, channel, row, col)
    shown = None if in_channel is None else cell.in_channels.index(int(in_channel))
    return arith.conv_sum(cell, shown, start=3, most=4)


class Fmt:
    """``arith.fmt`` with ``.format``, for tables that take a format string."""

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def format(self, value: float) -> str:
        return arith.fmt(float(value), self.decimals)
