"""The Trace as pictures draw it: blocks of records on one path, and the edges between them.

Every picture (the forward and data-flow GIFs, the Manim scenes) groups the records of a
:class:`~explainer.trace.Trace` the same way: a block starts at each record that does
something of its own (a convolution, a dense layer, a pooling, a flatten, an addition, a
concatenation, a softmax...) and takes along the records that only follow it on a single path
(batch norm, the activation, dropout, a multiplication by a constant), as long as nothing else
reads the values in between. A block's ``sources`` are the blocks its first record reads, so
a residual ``+`` or a ``torch.cat`` of two branches is drawn with its real inputs, never as a
chain. Records named ``normalize`` count as the input (they only rescale the pixels).

Labels come from the record: the activation actually used (tanh, GELU...), the pooling mode,
what an addition adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.trace import INPUT, LayerRecord, Trace

FOLLOWERS = ("bn", "relu", "dropout")
INPUT_BLOCK = -1


@dataclass
class FlowBlock:
    """Records drawn as one picture (the last one's output is what leaves the block) and
    the indices of the blocks its first record reads (:data:`INPUT_BLOCK`: the input)."""

    records: list[LayerRecord]
    sources: list[int]

    @property
    def first(self) -> LayerRecord:
        return self.records[0]

    @property
    def last(self) -> LayerRecord:
        return self.records[-1]

    @property
    def output(self) -> np.ndarray:
        return self.last.output

    @property
    def shown(self) -> list[LayerRecord]:
        """The records worth a label (dropout does nothing at test time)."""
        return [r for r in self.records if r.kind != "dropout"] or self.records[:1]


def _constant(rec: LayerRecord) -> float | None:
    """The plain number a one-tensor ``mul``/``div``/``add`` call used (``x * 0.5``)."""
    args = rec.params.get("call", {}).get("args", [])
    nums = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    return float(nums[0]) if len(nums) == 1 else None


def joins(trace: Trace, rec: LayerRecord, previous: LayerRecord) -> bool:
    """Whether ``rec`` only follows ``previous`` (same block): a shape-keeping step that
    reads nothing else, where nothing else reads ``previous``."""
    if rec.inputs != [previous.name] or rec.shape != previous.shape:
        return False
    if len(trace.consumers(previous.name)) != 1:
        return False
    if rec.kind in FOLLOWERS:
        return True
    return rec.kind == "mul" and _constant(rec) is not None


def flow_blocks(trace: Trace) -> list[FlowBlock]:
    """The blocks of ``trace`` in the order they ran (the input is not a block)."""
    blocks: list[FlowBlock] = []
    where: dict[str, int] = {INPUT: INPUT_BLOCK}
    for rec in trace.layers:
        if rec.kind == "normalize" and all(where.get(n) == INPUT_BLOCK for n in rec.inputs):
            where[rec.name] = INPUT_BLOCK
            continue
        if blocks and joins(trace, rec, blocks[-1].last):
            blocks[-1].records.append(rec)
        else:
            sources = []
            for name in rec.inputs:
                src = where.get(name, INPUT_BLOCK)
                if src not in sources:
                    sources.append(src)
            blocks.append(FlowBlock([rec], sources))
        where[rec.name] = len(blocks) - 1
    return blocks


def edges(blocks: list[FlowBlock]) -> list[tuple[int, int]]:
    """``(source, block)`` index pairs, in block order (``-1``: the input)."""
    return [(s, i) for i, b in enumerate(blocks) for s in b.sources]


# --- labels ----------------------------------------------------------------------------------

_SHORT_ACTIVATION = {"leaky ReLU": "lReLU", "sigmoid": "sigm"}


def record_label(rec: LayerRecord) -> str:
    """A short name for what one record does: ``"conv 3×3"``, ``"BN"``, ``"tanh"``,
    ``"avg pool 2×2"``, ``"dense 784→10"``, ``"add"``, ``"× 0.5"``, ``"concat"``."""
    p = rec.params
    if rec.kind == "conv":
        k = p.get("kernel_size", [0, 0])
        return f"conv {k[0]}×{k[1]}" + (
            f" /{p['stride'][0]}" if max(p.get("stride", [1])) > 1 else ""
        )
    if rec.kind == "bn":
        return "BN" if rec.description == "batch norm" else rec.description
    if rec.kind == "pool":
        mode = "max" if p.get("mode", "max") == "max" else "avg"
        if p.get("adaptive"):
            return f"adaptive {mode} pool"
        k = p.get("kernel_size", [2, 2])
        return f"{mode} pool {k[0]}×{k[1]}"
    if rec.kind == "add":
        return "subtract" if p.get("function") == "sub" else "add"
    if rec.kind == "mul":
        c = _constant(rec)
        sign = "÷" if p.get("function") == "div" else "×"
        return f"{sign} {c:g}" if c is not None else ("divide" if sign == "÷" else "multiply")
    if rec.kind == "concat":
        return "concat"
    if rec.kind == "flatten":
        return "flatten" if rec.description == "flatten" else "reshape"
    return rec.description


def chip_label(rec: LayerRecord) -> str:
    """A label of a few letters for a narrow chip: ``conv``, ``BN``, ``tanh``, ``add``..."""
    if rec.kind == "relu":
        return _SHORT_ACTIVATION.get(rec.description, rec.description)
    return {
        "normalize": "norm", "conv": "conv", "bn": "BN", "pool": "pool", "dropout": "drop",
        "flatten": "flat", "linear": "fc", "softmax": "soft", "add": "add", "mul": "mul",
        "concat": "cat",
    }.get(rec.kind, "op")  # fmt: skip


def inputs_text(rec: LayerRecord) -> str:
    """What a record combines, by name: ``"block.bn2 + stem.2"`` for an addition,
    ``"branch_a ‖ branch_b"`` for a concatenation, ``"silu × 0.5"``; ``""`` otherwise."""
    names = [n for n in rec.inputs]
    if rec.kind == "add" and len(names) > 1:
        return (" − " if rec.params.get("function") == "sub" else " + ").join(names)
    if rec.kind == "concat" and len(names) > 1:
        return " ‖ ".join(names)
    if rec.kind == "mul":
        c = _constant(rec)
        sign = " ÷ " if rec.params.get("function") == "div" else " × "
        return sign.join(names + ([f"{c:g}"] if c is not None else []))
    return ""


def is_output(trace: Trace, rec: LayerRecord) -> bool:
    """The record whose output the model returned (its class scores)."""
    return bool(trace.layers) and trace.layers[-1] is rec


def output_meaning(rec: LayerRecord) -> str:
    """What the output record's values are: log-probabilities, probabilities or scores."""
    if rec.kind == "softmax":
        log = "log" in str(rec.params.get("function", "")).lower()
        return "the log of each class's probability" if log else "one probability per class"
    return "one score (logit) per class"


def block_title(block: FlowBlock) -> str:
    """``"conv 3×3 + BN + ReLU"``, ``"add + ReLU"``."""
    return " + ".join(record_label(r) for r in block.shown)
