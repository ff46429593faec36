"""The Trace as pictures draw it: blocks of records on one path, and the edges between them.

Every picture (the forward and data-flow GIFs, the Manim scenes) groups the records of a
:class:`~explainer.tracing.trace.Trace` the same way: a block starts at each record that does
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

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from explainer.tracing.trace import INPUT, LayerRecord, Trace

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


# --- counts ----------------------------------------------------------------------------------


def tensor_count(trace: Trace) -> int:
    """How many tensors a picture of ``trace`` draws: the input and each block's output (the
    one count every scene and caption uses)."""
    return 1 + len(flow_blocks(trace))


def parameter_count(trace: Trace) -> int | None:
    """The learned numbers the Trace holds (conv, dense and norm weights and biases): the
    model's parameter count when it was captured with weights, ``None`` when it was not."""
    if any(r.weight is None for r in trace.layers if r.kind in ("conv", "linear")):
        return None
    return sum(
        (r.weight.size if r.weight is not None else 0) + (r.bias.size if r.bias is not None else 0)
        for r in trace.layers
    )


# --- words a picture uses for the input and the answer ----------------------------------------

_ITEM_WORDS = {"mnist": "digit", "fashion_mnist": "item"}


def item_word(
    dataset: str = "", class_names: Sequence[str] | None = None, plural: bool = False
) -> str:
    """What one input picture is called: ``"digit"`` for MNIST (class names ``0``..``9``),
    ``"item"`` for Fashion-MNIST, else ``"image"`` (``plural``: with an ``s``). The class
    names decide when given (a Fashion-MNIST model is never "digit"), else the dataset."""
    from explainer.data import FASHION_CLASSES

    if class_names:
        names = [str(n) for n in class_names]
        if names == [str(i) for i in range(len(names))]:
            word = "digit"
        else:
            word = "item" if names == FASHION_CLASSES else "image"
    else:
        word = _ITEM_WORDS.get(str(dataset).lower().replace("-", "_"), "image")
    return word + "s" if plural else word


def dataset_title(dataset: str) -> str:
    """``"MNIST"``, ``"Fashion-MNIST"``, or the name as given for another dataset."""
    from explainer.data import DATASETS

    info = DATASETS.get(str(dataset).lower().replace("-", "_"))
    return info.title if info is not None else str(dataset)


_TEST_KEY = re.compile(r"^([a-z_]+):test:(\d+)$")  # the app's key: "mnist:test:0"
_TEST_TEXT = re.compile(r"^test (?:digit|item|image) #(\d+)$")  # "test digit #370"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".npy")


def source_title(trace: Trace, limit: int = 40) -> str:
    """Where the picture came from, as a learner reads it: ``"MNIST test digit #0"`` (never
    the app's internal ``mnist:test:0``), a file's name without its folders, or the source
    text shortened to ``limit`` characters; ``""`` when the trace does not say."""
    src = (trace.source or "").strip()
    if not src:
        return ""
    word = item_word(trace.dataset, trace.class_names)
    key = _TEST_KEY.match(src)
    if key:
        return f"{dataset_title(key.group(1))} test {word} #{int(key.group(2))}"
    text = _TEST_TEXT.match(src)
    if text:
        return f"{dataset_title(trace.dataset)} test {word} #{int(text.group(1))}"
    if "/" in src or "\\" in src or src.lower().endswith(_IMAGE_SUFFIXES):
        src = re.split(r"[\\/]", src.rstrip("/\\"))[-1]
    head = src.split(":", 1)[0]
    if ":" in src and head in _ITEM_WORDS:  # another app key: "mnist:draw:..."
        src = f"a drawn {word}" if ":draw" in src else f"a {dataset_title(head)} {word}"
    return src if len(src) <= limit else src[: limit - 1] + "…"


def tied_classes(probs: np.ndarray, tol: float = 1e-6) -> list[int]:
    """The classes whose probability equals the highest one (within ``tol``): one index
    when the model has a single answer."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    return [int(i) for i in np.flatnonzero(p >= p.max() - tol)]


@dataclass
class Verdict:
    """The answer as a picture states it: ``text`` (``"prediction: 7  > 99.9%"`` or
    ``"tie: 10 classes at 10.0% each"``), ``note`` (``"✓ correct"``, ``"✗ the label is 3"``,
    ``""``) and ``state``: ``"correct"``, ``"wrong"``, ``"tie"`` or ``"unlabelled"``."""

    text: str
    note: str
    state: str

    @property
    def line(self) -> str:
        return f"{self.text}  {self.note}" if self.note else self.text


def verdict(probs: np.ndarray, class_names: Sequence[str], label: int | None = None) -> Verdict:
    """What the model answered for one picture: its prediction with :func:`confidence_text`,
    or, when several classes share the highest probability, that they tie (argmax would just
    pick the first of them)."""
    from explainer.analysis.arith import confidence_text

    p = np.asarray(probs, dtype=np.float64).ravel()
    names = [str(n) for n in class_names] if class_names else [str(i) for i in range(p.size)]
    tied = tied_classes(p)
    truth = names[label] if label is not None else ""
    if len(tied) > 1:
        who = " and ".join(names[i] for i in tied) if len(tied) <= 3 else f"{len(tied)} classes"
        note = "" if label is None else (
            f"the label {truth} is one of them" if label in tied else f"the label is {truth}"
        )  # fmt: skip
        return Verdict(f"tie: {who} at {confidence_text(float(p[tied[0]]))} each", note, "tie")
    best = tied[0]
    text = f"prediction: {names[best]}  {confidence_text(float(p[best]))}"
    if label is None:
        return Verdict(text, "", "unlabelled")
    if best == label:
        return Verdict(text, "✓ correct", "correct")
    return Verdict(text, f"✗ the label is {truth}", "wrong")
