"""Pooling windows worked out by hand on the network's own grid, each checked.

:func:`pool_cell`: a plain max or average pooling window (padding, stride, count_include_pad
as the layer has them); :func:`adaptive_pool_cell`: an adaptive pooling's region of the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.analysis.arith.verify import (
    check_value,
    gather_window,
    input_of,
    record_of,
    window_span,
)
from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace


@dataclass
class PoolCell:
    """One pooling window on the network's own grid: ``window`` is ``(kH, kW)`` of the
    input, ``rows``/``cols`` its input coordinates (padding: ``nan``)."""

    layer: str
    channel: int
    y: int
    x: int
    mode: str
    window: np.ndarray
    rows: list[int]
    cols: list[int]
    captured: float

    @property
    def value(self) -> float:
        vals = self.window[~np.isnan(self.window)]
        return float(vals.max() if self.mode == "max" else vals.mean())


def pool_cell(trace: Trace, layer: LayerRecord | str, channel: int, y: int, x: int) -> PoolCell:
    """Output ``(channel, y, x)`` of a max or average pooling layer, from its window."""
    rec = record_of(trace, layer, ("pool",))
    p = rec.params
    if p.get("adaptive") or p.get("ceil_mode") or max(p.get("dilation", [1, 1])) > 1:
        raise ExplainerError(f"{rec.name}: only plain max/average pooling is worked by hand")
    inp = input_of(trace, rec)[channel]
    (kh, kw), (sy, sx), (py, px) = p["kernel_size"], p["stride"], p["padding"]
    rows = window_span(y, sy, py, 1, kh)
    cols = window_span(x, sx, px, 1, kw)
    window = gather_window(inp, rows, cols, np.nan)
    if p["mode"] != "max" and p.get("count_include_pad", True):
        window = np.nan_to_num(window, nan=0.0)
    cell = PoolCell(rec.name, channel, y, x, p["mode"], window, rows, cols,
                    float(rec.output[channel, y, x]))  # fmt: skip
    check_value(cell.value, cell.captured, f"{rec.name} channel {channel} at ({y}, {x})")
    return cell


def adaptive_pool_cell(
    trace: Trace, layer: LayerRecord | str, channel: int, y: int, x: int
) -> PoolCell:
    """Output ``(channel, y, x)`` of an adaptive max/average pooling: its region of the input
    (rows ``⌊y·H/h⌋`` to ``⌈(y+1)·H/h⌉``, likewise columns), checked."""
    rec = record_of(trace, layer, ("pool",))
    if not rec.params.get("adaptive") or not rec.is_spatial:
        raise ExplainerError(f"{rec.name} is not an adaptive pooling of feature maps")
    inp = input_of(trace, rec)[channel]
    (h, w), (oh, ow) = inp.shape, rec.output.shape[1:]
    rows = list(range(y * h // oh, -(-(y + 1) * h // oh)))
    cols = list(range(x * w // ow, -(-(x + 1) * w // ow)))
    cell = PoolCell(rec.name, channel, y, x, rec.params.get("mode", "average"),
                    inp[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy(), rows, cols,
                    float(rec.output[channel, y, x]))  # fmt: skip
    check_value(cell.value, cell.captured, f"{rec.name} channel {channel} at ({y}, {x})")
    return cell
