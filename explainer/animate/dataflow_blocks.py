"""The data-flow diagram by blocks: one box per block of :mod:`explainer.tracing.blocks`
(ResNet-18: stem, eight residual blocks, head), or one block opened to its steps.

By blocks, a box is the tensor leaving a block, labelled with the block's name and, for a
residual block, ``+skip`` and what the skip carries (``+skip conv 1×1`` for a downsampling
one); arrows follow what each block reads. Opened, the first box is what the block reads, then
one box per step of the block with the skip as its own arrow, then the softmax the rest of the
network leads to.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from explainer import style
from explainer.analysis.flowgraph import record_label
from explainer.animate.dataflow_layout import Block, blocks_of, softmax_block, step_blocks
from explainer.animate.shapes import displayed
from explainer.tracing.blocks import Block as TraceBlock
from explainer.tracing.blocks import view_of
from explainer.tracing.trace import INPUT, Trace


def flow_view(
    trace: Trace, *, block: str | None = None, by_blocks: bool | None = None,
    most: int | None = None,
) -> tuple[list[Block], str]:  # fmt: skip
    """The boxes of the diagram and what they are, for the title (``""``: every step;
    ``"by blocks"``; ``"block layer2.0"``). ``by_blocks=None``: by blocks for a network of
    more than :data:`~explainer.tracing.blocks.BY_BLOCKS_FROM` records; ``most`` caps the
    number of blocks."""
    view = view_of(trace, block=block, by_blocks=by_blocks, most=most)
    if view.opened is not None:
        return opened(trace, view.opened), view.title
    if view.blocks is None:
        return blocks_of(trace), view.title
    return grouped(trace, list(view.blocks)), view.title


def _box_of(trace: Trace, name: str, title: str) -> Block:
    """A box for what ``name`` gives (the model's input for ``"input"``)."""
    if name == INPUT:
        return Block(title, trace.image[None], "input", style.KIND_COLORS["input"])
    rec = trace.layer(name)
    colour = style.KIND_COLORS.get(rec.kind, style.KIND_COLORS["other"])
    return Block(title, displayed(rec.output), rec.kind, colour, [], tuple(np.shape(rec.output)))


def grouped(trace: Trace, blocks: list[TraceBlock]) -> list[Block]:
    """The input, one box per block (the tensor leaving it), the softmax."""
    boxes = [_box_of(trace, INPUT, "input")]
    where = {INPUT: 0}
    for b in blocks:
        inside = set(b.records)
        reads = [i for n in b.records for i in trace.layer(n).inputs if i not in inside]
        sources = list(dict.fromkeys(where.get(i, len(boxes) - 1) for i in reads))
        box = _box_of(trace, b.output, _title(trace, b))
        main = next((trace.layer(n) for n in b.records
                     if trace.layer(n).kind in ("conv", "linear", "attention")), None)  # fmt: skip
        if main is not None:
            box.colour = style.KIND_COLORS.get(main.kind, box.colour)
        box.sources = sources or [len(boxes) - 1]
        box.skip = b.skip is not None
        boxes.append(box)
        where.update({n: len(boxes) - 1 for n in b.records})
    return [*boxes, softmax_block(trace, len(boxes) - 1)]


def _title(trace: Trace, b: TraceBlock) -> str:
    """``"layer2.0 + skip conv 1×1 /2"``, ``"layer1.0 + skip"``, ``"stem"``: the label lines
    (:attr:`Block.lines` splits at ``" + "``)."""
    if b.skip is None:
        return b.name
    carried = ", ".join(record_label(trace.layer(n)) for n in b.skip.through)
    return f"{b.name} + skip {carried}".rstrip()


def opened(trace: Trace, b: TraceBlock) -> list[Block]:
    """What block ``b`` reads, one box per step inside it (its skip an arrow of its own),
    and the softmax that the rest of the network leads to."""
    first = _box_of(trace, b.input, f"{b.input} (reads)")
    inside = dataclasses.replace(trace, layers=[trace.layer(n) for n in b.records])
    steps = step_blocks(inside, offset=1)  # inputs from outside the block: the first box
    return [first, *steps, softmax_block(trace, len(steps), "rest + softmax")]
