"""A convolution's output worked out by hand from the input the layer really consumed.

One cell (:func:`conv_cell`: patch × kernel over every input channel of its group, plus the
bias) or one whole output channel (:func:`conv_channel_map`), with the layer's stride, zero
padding, dilation and groups (:func:`conv_geometry`), each checked against the network; and
which records are the convolutions a view can show (:func:`conv_records`, :func:`pick_conv`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.analysis.arith.verify import (
    check_block,
    check_value,
    gather_window,
    input_of,
    record_of,
    window_span,
)
from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace


@dataclass
class ConvCell:
    """One output value of a conv layer, worked out by hand.

    ``patch`` and ``kernel`` are ``(C, kH, kW)`` over the input channels this output channel
    reads (all of them, or its group); padding positions hold 0. ``rows``/``cols`` are the
    input coordinates each kernel row/column lands on (negative or past the edge: padding).
    """

    layer: str
    channel: int
    y: int
    x: int
    in_channels: list[int]
    patch: np.ndarray
    kernel: np.ndarray
    rows: list[int]
    cols: list[int]
    bias: float
    captured: float

    @property
    def products(self) -> np.ndarray:
        """``(C, kH, kW)``: patch × kernel, element by element."""
        return self.patch * self.kernel

    @property
    def channel_sums(self) -> np.ndarray:
        """``(C,)``: each input channel's contribution."""
        return self.products.reshape(len(self.in_channels), -1).sum(1)

    @property
    def total(self) -> float:
        """The sum of every product, before the bias."""
        return float(self.products.sum())

    @property
    def value(self) -> float:
        """Sum + bias: what the network computed at this cell."""
        return self.total + self.bias


def _conv_padding(rec: LayerRecord) -> list[int]:
    p = rec.params.get("padding", [0, 0])
    if p == "valid":
        return [0, 0]
    if p == "same":
        k, d = rec.params["kernel_size"], rec.params.get("dilation", [1, 1])
        return [d[i] * (k[i] - 1) // 2 for i in (0, 1)]
    return list(p)


@dataclass
class _ConvInput:
    """What every conv hand computation starts from: the record, the input channels one
    output channel reads (its group: all of them for a plain conv), and its kernel."""

    rec: LayerRecord
    in_channels: list[int]
    inputs: np.ndarray  # (C_group, H, W) float64
    kernel: np.ndarray  # (C_group, kH, kW) float64


def _conv_input(trace: Trace, layer: LayerRecord | str, channel: int) -> _ConvInput:
    rec = record_of(trace, layer, ("conv",))
    if rec.weight is None or not rec.is_spatial:
        raise ExplainerError(f"{rec.name} was captured without weights; capture it again")
    if rec.params.get("padding_mode", "zeros") != "zeros":
        raise ExplainerError(f"{rec.name} pads with {rec.params['padding_mode']}, not zeros")
    c_out = rec.output.shape[0]
    if not 0 <= channel < c_out:
        raise ExplainerError(f"channel {channel} is outside {rec.name}'s channels 0 to {c_out - 1}")
    inp = input_of(trace, rec)
    groups = int(rec.params.get("groups", 1))
    per_group = inp.shape[0] // groups
    first = (channel // (c_out // groups)) * per_group
    kernel = rec.weight[channel].astype(np.float64)
    return _ConvInput(rec, list(range(first, first + per_group)),
                      inp[first : first + per_group], kernel)  # fmt: skip


def conv_cell(trace: Trace, layer: LayerRecord | str, channel: int, y: int, x: int) -> ConvCell:
    """Output ``(channel, y, x)`` of a conv layer from its real input, checked."""
    ci = _conv_input(trace, layer, channel)
    rec, kernel = ci.rec, ci.kernel
    c_out, h_out, w_out = rec.output.shape
    if not (0 <= y < h_out and 0 <= x < w_out):
        raise ExplainerError(
            f"cell ({channel}, {y}, {x}) is outside {rec.name}'s output {c_out}×{h_out}×{w_out}"
        )
    (sy, sx), (py, px), (dy, dx) = conv_geometry(rec)
    rows = window_span(y, sy, py, dy, kernel.shape[1])
    cols = window_span(x, sx, px, dx, kernel.shape[2])
    patch = gather_window(ci.inputs, rows, cols, 0.0)
    bias = 0.0 if rec.bias is None else float(rec.bias[channel])
    cell = ConvCell(rec.name, channel, y, x, ci.in_channels, patch, kernel, rows, cols, bias,
                    float(rec.output[channel, y, x]))  # fmt: skip
    check_value(cell.value, cell.captured, f"{rec.name} channel {channel} at ({y}, {x})")
    return cell


def conv_geometry(rec: LayerRecord) -> tuple[list[int], list[int], list[int]]:
    """``(stride, padding, dilation)`` of a conv record, each ``[rows, columns]``."""
    stride = [int(v) for v in rec.params.get("stride", [1, 1])]
    dilation = [int(v) for v in rec.params.get("dilation", [1, 1])]
    return stride, _conv_padding(rec), dilation


def conv_records(trace: Trace) -> list[LayerRecord]:
    """The conv records with weights and ``(C, H, W)`` outputs, in the order they ran."""
    return [r for r in trace.layers if r.kind == "conv" and r.weight is not None and r.is_spatial]


def first_conv(trace: Trace) -> LayerRecord | None:
    convs = conv_records(trace)
    return convs[0] if convs else None


def last_conv(trace: Trace) -> LayerRecord | None:
    convs = conv_records(trace)
    return convs[-1] if convs else None


def pick_conv(trace: Trace, layer: LayerRecord | str | None = None) -> LayerRecord:
    """The conv record a view shows: ``layer``, or the first convolution; one-line errors
    for a network without one and for a layer that is not a convolution."""
    convs = conv_records(trace)
    if not convs:
        raise ExplainerError(
            f"{trace.checkpoint or trace.architecture} has no convolution layer to show; pick a "
            "CNN checkpoint (e.g. --checkpoint mnist_bn_cnn)"
        )
    if layer is None:
        return convs[0]
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    if rec not in convs:
        names = ", ".join(r.name for r in convs[:12]) + (", ..." if len(convs) > 12 else "")
        raise ExplainerError(f"layer {rec.name!r} is not a convolution; conv layers: {names}")
    return rec


def conv_channel_map(trace: Trace, layer: LayerRecord | str, channel: int) -> np.ndarray:
    """``(H_out, W_out)``: one output channel of a conv layer worked out from its real input
    (every input channel of its group, zero padding, stride, dilation) plus the bias, in
    float64; checked against the captured map (:class:`ArithMismatch` names the cell)."""
    ci = _conv_input(trace, layer, channel)
    rec, kernel = ci.rec, ci.kernel
    _, h_out, w_out = rec.output.shape
    (sy, sx), (py, px), (dy, dx) = conv_geometry(rec)
    padded = np.pad(ci.inputs, ((0, 0), (py, py), (px, px)))
    out = np.zeros((h_out, w_out))
    for i in range(kernel.shape[1]):
        for j in range(kernel.shape[2]):
            window = padded[:, i * dy : i * dy + sy * (h_out - 1) + 1 : sy,
                            j * dx : j * dx + sx * (w_out - 1) + 1 : sx]  # fmt: skip
            out += np.tensordot(kernel[:, i, j], window, axes=1)
    out += 0.0 if rec.bias is None else float(rec.bias[channel])
    check_block(rec, out, (channel,))
    return out
