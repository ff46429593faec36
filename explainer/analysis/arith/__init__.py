"""Every number a view works out by hand, computed once, from a Trace, and checked.

The GIF animators, the Manim scenes and the app show a learner how one output value comes
about: a convolution window (patch × kernel, summed over every input channel, plus the bias),
a batch-norm step, an activation, a pooling window on the network's own grid, one row of a
dense layer, the softmax. Each function takes those numbers from the records the layer
actually consumed (``LayerRecord.inputs``), computes the value in float64, and compares it
with the output the network recorded: a mismatch raises :class:`ArithMismatch` naming the
layer and the cell, so no view can ever draw arithmetic the network did not do.

This face defines nothing; views write ``from explainer.analysis import arith`` and read:

- :mod:`.verify`: :class:`ArithMismatch`, :func:`check_block` (the check every module uses);
- :mod:`.rounding`: :func:`fmt`, :func:`decimals_that_add_up`; :func:`confidence_text` is
  kept beside the probability it shows, in :mod:`explainer.nets.calibration`;
- :mod:`.conv`: conv cells and whole output channels, which records are convolutions;
- :mod:`.sums`: a conv cell as a view writes it (:func:`conv_sum`, :func:`conv_sum_lines`);
- :mod:`.norm_act`: batch norm and activations; :mod:`.pooling`: pooling windows;
- :mod:`.dense`: a dense row and the softmax; :mod:`.ops`: ``+ − × /``, concat, reshape;
- :mod:`.path`: what follows a conv layer, on a block of its map (:func:`next_block`).
"""

from explainer.analysis.arith.conv import (
    ConvCell,
    conv_cell,
    conv_channel_map,
    conv_geometry,
    conv_records,
    first_conv,
    last_conv,
    pick_conv,
)
from explainer.analysis.arith.dense import DenseRow, Softmax, dense_row, softmax, softmax_of
from explainer.analysis.arith.norm_act import (
    NormCell,
    activation_formula,
    activation_map,
    activation_name,
    activation_value,
    norm_cell,
)
from explainer.analysis.arith.ops import Elementwise, concat_parts, elementwise, flat_position
from explainer.analysis.arith.path import (
    NextBlock,
    Step,
    next_block,
    path_after,
    pool_aligned_block,
)
from explainer.analysis.arith.pooling import PoolCell, adaptive_pool_cell, pool_cell
from explainer.analysis.arith.rounding import MINUS, decimals_that_add_up, fmt
from explainer.analysis.arith.sums import ConvSum, conv_sum, conv_sum_lines
from explainer.analysis.arith.verify import ArithMismatch, check_block
from explainer.nets.calibration import confidence_text

__all__ = [
    "MINUS",
    "ArithMismatch",
    "ConvCell",
    "ConvSum",
    "DenseRow",
    "Elementwise",
    "NextBlock",
    "NormCell",
    "PoolCell",
    "Softmax",
    "Step",
    "activation_formula",
    "activation_map",
    "activation_name",
    "activation_value",
    "adaptive_pool_cell",
    "check_block",
    "concat_parts",
    "confidence_text",
    "conv_cell",
    "conv_channel_map",
    "conv_geometry",
    "conv_records",
    "conv_sum",
    "conv_sum_lines",
    "decimals_that_add_up",
    "dense_row",
    "elementwise",
    "first_conv",
    "flat_position",
    "fmt",
    "last_conv",
    "next_block",
    "norm_cell",
    "path_after",
    "pick_conv",
    "pool_aligned_block",
    "pool_cell",
    "softmax",
    "softmax_of",
]
