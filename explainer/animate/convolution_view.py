"""The numbers the ``convolution`` animation shows: :class:`ConvView` and :func:`conv_view`.

Every number comes from :mod:`explainer.analysis.arith`, checked against the network (a mismatch
raises :class:`~explainer.analysis.arith.ArithMismatch`): the layer's output channel recomputed
by hand, the input it read (``LayerRecord.inputs``, zero-padded the way the layer pads it), a
few cells worked out in full, and a 4×4 block followed through the records after the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.analysis import arith
from explainer.analysis.arith import ConvSum, NextBlock
from explainer.analysis.flowgraph import item_word
from explainer.errors import ExplainerError
from explainer.tracing.trace import INPUT, LayerRecord, Trace


@dataclass
class ConvView:
    """What the animation shows, all from :mod:`explainer.analysis.arith`: the layer, its output
    channel, the input channel drawn (``in_channel``), the input it read (``inputs``,
    ``(C_in, H, W)``), the output map (recomputed by hand and checked), the worked cells and
    the block followed through the next records."""

    layer: LayerRecord
    channel: int
    in_channel: int
    inputs: np.ndarray
    input_name: str
    output: np.ndarray
    cells: list[ConvSum]
    next: NextBlock
    stride: list[int]
    padding: list[int]
    dilation: list[int]
    input_kind: str = "auto"

    @property
    def kernel_shape(self) -> tuple[int, int]:
        return tuple(self.layer.weight.shape[2:])

    @property
    def padded(self) -> np.ndarray:
        """The drawn input channel, zero-padded as the layer pads it."""
        py, px = self.padding
        return np.pad(self.inputs[self.in_channel], ((py, py), (px, px)))

    @property
    def span(self) -> tuple[int, int]:
        """Input pixels one window covers (rows, columns), dilation included."""
        (kh, kw), (dy, dx) = self.kernel_shape, self.dilation
        return (kh - 1) * dy + 1, (kw - 1) * dx + 1


def _input_name(trace: Trace, rec: LayerRecord, in_channel: int) -> str:
    src = rec.inputs[0]
    word = item_word(trace.dataset, trace.class_names)
    if src == INPUT:
        return f"the {word} as the model receives it"
    what = trace.layer(src)
    if what.kind == "normalize":
        return f"{src}: the normalised {word}"
    n = trace.value(src).shape[0]
    return f"{src} ({what.description}), channel {in_channel} of {n}"


def input_kind(trace: Trace, rec: LayerRecord) -> str:
    """The colour-scale kind of the input ``rec`` reads (:func:`explainer.style.layer_scale`):
    the model's own input in grey when it is a 0-1 image, a ReLU or pooling output from 0
    (sequential), a conv / batch-norm / normalised map around 0 (diverging), and anything else
    by its values (sequential when none is below 0)."""
    src = rec.inputs[0]
    if src == INPUT:
        v = np.asarray(trace.model_input, dtype=np.float64)
        return "input" if v.size and v.min() >= 0 and v.max() <= 1 else "auto"
    kind = trace.layer(src).kind
    return kind if kind in ("relu", "pool", "bn", "conv", "linear", "normalize") else "auto"


def _most_decimals(rec: LayerRecord) -> int:
    return 3 if max(rec.weight.shape[2:]) <= 3 else 2  # what fits in the grid's cells


def worked_cell(trace: Trace, cv: ConvView, y: int, x: int) -> ConvSum:
    """Output ``(cv.channel, y, x)`` worked out like the view's cells (same input channel
    shown), checked against the network."""
    cell = arith.conv_cell(trace, cv.layer, cv.channel, y, x)
    return arith.conv_sum(cell, cv.cells[0].shown, most=_most_decimals(cv.layer))


def conv_view(
    trace: Trace, layer: str | None = None, channel: int | None = None, n_cells: int = 4
) -> ConvView:
    """The numbers of the ``convolution`` animation (default: the first conv layer and its
    most active output channel), every one computed and checked by
    :mod:`explainer.analysis.arith`."""
    rec = arith.pick_conv(trace, layer)
    n_out = rec.output.shape[0]
    if channel is None:
        channel = int(np.argmax(rec.output.reshape(n_out, -1).max(1)))
    if not 0 <= channel < n_out:
        raise ExplainerError(
            f"--channel {channel} is out of range: {rec.name} has channels 0 to {n_out - 1}"
        )
    output = arith.conv_channel_map(trace, rec, channel)
    ow = output.shape[1]
    y_c, x_c = (int(v) for v in np.unravel_index(int(np.argmax(output)), output.shape))
    n_cells = min(n_cells, ow)
    x0 = int(np.clip(x_c - n_cells // 2, 0, ow - n_cells))
    most = _most_decimals(rec)
    first = arith.conv_sum(arith.conv_cell(trace, rec, channel, y_c, x0), most=most)
    cells = [first] + [
        arith.conv_sum(arith.conv_cell(trace, rec, channel, y_c, x0 + d), first.shown, most=most)
        for d in range(1, n_cells)
    ]
    stride, padding, dilation = arith.conv_geometry(rec)
    inputs = np.asarray(trace.inputs_of(rec)[0], dtype=np.float64)
    return ConvView(
        rec, channel, first.in_channel, inputs, _input_name(trace, rec, first.in_channel),
        output, cells, arith.next_block(trace, rec, channel), stride, padding, dilation,
        input_kind(trace, rec),
    )  # fmt: skip
