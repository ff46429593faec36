"""The steps of the app's lesson mode, built from a
:class:`~explainer.tracing.trace.Trace` alone (no
Streamlit here, so tests call it directly).

A 15-minute class cannot walk through the 28 records of ``bn_cnn``: a step is a block of
:func:`explainer.analysis.flowgraph.flow_blocks` (a convolution with its batch norm and activation
is
one step, dropout rides along with what it follows), a flatten is folded into the dense layer
that reads it, and the lesson opens on the input and closes on the answer (logits, softmax)
and on how the network learned (epochs, learning rate). Every number a step states is read
from the Trace: shapes, kernel sizes, padding, stride, the share of values an activation set
to 0, the probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer.analysis.flowgraph import flow_blocks, inputs_text, is_output, record_label, verdict
from explainer.tracing.trace import LayerRecord, Trace

GLOSSARY = {
    "pixel": "One square of the picture: a number from 0 (black) to 1 (white ink). The model "
    "reads 28×28 = 784 of them.",
    "kernel": "A small grid of learned numbers (3×3, 5×5...). It is laid on a window of the "
    "input, each input number multiplied by the kernel number on it, and all the products "
    "added up (plus a bias): that is one output number.",
    "feature map": "The grid of numbers one kernel produces as it slides over the input: "
    "large where the input looks like the kernel's pattern.",
    "channel": "One of the stacked grids a layer gives or reads: the input has 1 (grey), a "
    "convolution with 32 kernels gives 32 feature maps.",
    "padding": "Zeros added around the border of the input so the kernel can also sit on the "
    "edge pixels. With padding 1, a 3×3 kernel keeps the size (28 → 28); without it, 28 → 26.",
    "stride": "How many pixels the kernel moves between two outputs. Stride 1 visits every "
    "position; stride 2 every other one, so the output is half as wide.",
    "batch norm": "Batch normalisation: each channel shifted and scaled by numbers fixed in "
    "training (its mean and spread over the training images, and two learned ones), so the "
    "next layer always gets values of about the same size.",
    "activation": "A simple function applied to every number on its own. ReLU keeps positive "
    "numbers and turns negative ones into 0; without it, all the layers together could only "
    "compute one weighted sum.",
    "pooling": "Shrinks each feature map: max pooling 2×2 keeps the largest number of every "
    "2×2 square, so 28×28 becomes 14×14 and a stroke shifted by a pixel still counts.",
    "dropout": "In training, switches off a random share of the numbers so the network cannot "
    "rely on any single one. When the network is used, as here, it does nothing.",
    "flatten": "Lays the stacked grids out in one long row of numbers, so a dense layer can "
    "read them all. Nothing is computed; only the arrangement changes.",
    "dense layer": "Each output is a weighted sum of every input number plus a bias (one "
    "learned weight per input and output). Also called fully connected or linear.",
    "logit": "The raw score the last layer gives each class, before softmax. The higher, the "
    "more likely; logits can be negative and do not add up to anything in particular.",
    "softmax": "Turns the logits into probabilities: e to the power of each score, divided by "
    "the sum of them all. Every probability is positive and together they make 100%.",
    "epoch": "One pass of training over every training image. After each image batch the "
    "weights are nudged to make the right answers a little more likely.",
    "learning rate": "How big each of those nudges is. Too big and training jumps about; too "
    "small and it learns very slowly.",
}


@dataclass
class Step:
    """One lesson step: a ``title``, what it says (``text``, markdown, numbers from the Trace),
    the glossary ``terms`` it uses, and the ``records`` it covers (none for the input, the
    answer and the training step)."""

    title: str
    kind: str  # "input", "layer", "answer", "learning"
    text: str
    terms: list[str]
    records: list[LayerRecord] = field(default_factory=list)

    @property
    def last(self) -> LayerRecord | None:
        return self.records[-1] if self.records else None


def _groups(trace: Trace) -> list[list[LayerRecord]]:
    """Records per step: the flow blocks, a flatten (or a block of dropout only) folded
    into the block after it, the input's own normalisation left out (shown with the input)."""
    groups: list[list[LayerRecord]] = []
    carry: list[LayerRecord] = []
    for block in flow_blocks(trace):
        recs = carry + block.records
        if all(r.kind in ("flatten", "dropout") for r in block.records):
            carry = recs
            continue
        groups.append(recs)
        carry = []
    if carry:  # a flatten at the very end: it stays a step of its own
        groups.append(carry)
    return groups


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _sentence(trace: Trace, r: LayerRecord) -> tuple[str, list[str]]:
    """What one record does, in plain words with its real numbers, and the terms used."""
    p = r.params
    if r.kind == "conv":
        k, pad = p.get("kernel_size", [0, 0]), p.get("padding", [0, 0])
        stride = p.get("stride", [1, 1])
        text = (
            f"**{p.get('out_channels')} kernels** of {k[0]}×{k[1]} slide over the "
            f"{p.get('in_channels')} input channel{'s' if p.get('in_channels') != 1 else ''} "
            f"(padding {pad[0]}, stride {stride[0]}): {p.get('out_channels')} feature maps."
        )
        return text, ["kernel", "channel", "padding", "stride", "feature map"]
    if r.kind == "bn":
        return f"**{r.description.capitalize()}** rescales each channel.", ["batch norm"]
    if r.kind == "relu":
        before = trace.value(r.inputs[0]) if r.inputs else r.output
        neg = float((np.asarray(before) < 0).mean())
        text = f"**{r.description}** is applied to every number"
        if r.description.startswith("ReLU"):
            text += f": {neg:.0%} of them were negative and became 0."
        return text + ("" if text.endswith(".") else "."), ["activation"]
    if r.kind == "pool":
        text = f"**{record_label(r)}** shrinks each map: {_shape(r.input_shape)} → "
        return text + f"{_shape(r.shape)}.", ["pooling"]
    if r.kind == "dropout":
        return "**Dropout** follows; it does nothing now (only in training).", ["dropout"]
    if r.kind == "flatten":
        text = f"**Flatten**: the {_shape(r.input_shape)} numbers laid out in one row of "
        return text + f"{r.output.size:,}.", ["flatten"]
    if r.kind == "linear":
        n_in = int(p.get("in_features") or (r.input_shape[-1] if r.input_shape else 0))
        n_out = int(p.get("out_features") or r.output.size)
        text = (
            f"**Dense {n_in}→{n_out}**: each of the {n_out} outputs is a weighted sum of all "
            f"{n_in:,} inputs plus a bias."
        )
        if is_output(trace, r):
            text += " These last numbers are the **logits**: one score per class."
            return text, ["dense layer", "logit"]
        return text, ["dense layer"]
    if r.kind == "softmax":
        return f"**{r.description}** turns the scores into probabilities.", ["softmax"]
    how = inputs_text(r)
    return f"**{record_label(r)}**" + (f" ({how})" if how else "") + ".", []


def _layer_step(trace: Trace, recs: list[LayerRecord]) -> Step:
    lines, terms = [], []
    for r in recs:
        line, used = _sentence(trace, r)
        lines.append(line)
        terms += [t for t in used if t not in terms]
    title = " + ".join(record_label(r) for r in recs if r.kind != "dropout")
    first, last = recs[0], recs[-1]
    if any(r.kind not in ("pool", "flatten", "dropout") for r in recs):  # (those say it)
        lines.append(f"Shape: {_shape(first.input_shape)} → **{_shape(last.shape)}**.")
    return Step(title, "layer", "  \n".join(lines), terms, list(recs))


def _input_step(trace: Trace, word: str) -> Step:
    text = (
        f"The {word} as the network gets it: {trace.image.shape[0]}×{trace.image.shape[1]} = "
        f"{trace.image.size} numbers between 0 and 1, one per pixel."
    )
    if any(r.kind == "normalize" for r in trace.layers):
        text += " It first rescales them to the range its training images had."
    return Step(f"The {word}", "input", text, ["pixel"])


def _answer_step(trace: Trace) -> Step:
    probs, names = trace.probs, trace.class_names
    top = int(np.argmax(trace.logits))
    text = (
        f"The {len(names)} logits (highest: {names[top]}, {trace.logits[top]:.2f}) go through "
        "softmax, which makes them probabilities that add up to 100%.  \n"
        f"**{verdict(probs, names, trace.label).line}**"
    )
    return Step("The answer", "answer", text, ["logit", "softmax"])


def _learning_step(trace: Trace) -> Step:
    epochs = int(trace.meta.get("epochs") or 0)
    lr = trace.meta.get("learning_rate")
    parts = []
    if epochs:
        parts.append(f"This network was trained for **{epochs} epoch{'s' * (epochs != 1)}**")
    if lr:
        parts.append(f"with a **learning rate** of {float(lr):g}")
    text = (" ".join(parts) + ". " if parts else "") + (
        "Every kernel and weight shown in this lesson was learned that way: it started as "
        "random numbers, and each training step nudged it towards the right answers."
    )
    return Step("How it learned", "learning", text, ["epoch", "learning rate"])


def lesson_steps(trace: Trace, word: str = "digit") -> list[Step]:
    """The lesson's steps for ``trace``: the input, one step per group of records (see the
    module docstring), the answer, how it learned. Every record is in exactly one step."""
    groups = _groups(trace)
    steps = [_input_step(trace, word)]
    steps += [_layer_step(trace, g) for g in groups]
    steps.append(_answer_step(trace))
    steps.append(_learning_step(trace))
    return steps


def covered(steps: list[Step]) -> list[str]:
    """The record names the steps cover, in order (each once)."""
    return [r.name for s in steps for r in s.records]
