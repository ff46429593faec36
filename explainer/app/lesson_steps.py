"""The steps of the app's lesson mode, built from a :class:`~explainer.tracing.trace.Trace`
alone (no Streamlit here, so tests call it directly), in words a 14-year-old reads.

Each step is one idea in short sentences: the picture as numbers; per convolution block, that
its filters each look for a pattern and where on this digit each fired most
(:func:`strongest_filters`, the patch found by :func:`input_box`); pooling, keep the biggest of
each square, on the real grid; the clues added up; one score per class; the answer, large; how
the network learned; your turn. Dropout rides along with what it follows, a flatten is folded
into the dense layer that reads it, and every record is in exactly one step. Every number a step
states is read from the Trace. The technical word of a step is explained on hover and in the
glossary (:data:`GLOSSARY`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer.analysis.flowgraph import flow_blocks, is_output, tied_classes
from explainer.app.words import a, percent
from explainer.tracing.trace import LayerRecord, Trace

GLOSSARY = {
    "pixel": "One little square of the picture. It is a number: 0 is black, 1 is white. "
    "The network reads 28 × 28 = 784 of them.",
    "filter": "A tiny grid of numbers, for example 3 × 3. It is laid on the picture, "
    "square by square. Where the picture looks like the filter's pattern, it gives a big "
    "number. Also called a kernel.",
    "feature map": "The new picture one filter makes. It is bright where the filter found "
    "its pattern.",
    "ReLU": "A simple rule: keep a number if it is positive, turn it into 0 if it is negative.",
    "pooling": "Making a map smaller: cut it into 2 × 2 squares and keep only the biggest "
    "number of each square.",
    "dense layer": "Every number coming in is multiplied by its own weight, and they are all "
    "added up. Some clues count for an answer, some count against it.",
    "score": "One number per possible answer. The bigger it is, the more the network thinks "
    "it is that answer. Also called a logit.",
    "softmax": "Turns the scores into chances between 0% and 100% that add up to 100%.",
    "epoch": "One round of training: the network has seen every training picture once.",
    "training": "Showing the network thousands of pictures with the right answer. After each "
    "few pictures, every number in it is nudged a little to be less wrong.",
}


@dataclass
class Patch:
    """Where filter ``channel`` fired most on this digit: the output cell ``(y, x)``, its
    ``value``, and the input pixels it looked at, ``box = (top, left, bottom, right)`` (rows
    ``top:bottom``, columns ``left:right`` of the 28×28)."""

    channel: int
    y: int
    x: int
    value: float
    box: tuple[int, int, int, int]


@dataclass
class Step:
    """One lesson step: a ``title``, what it says (``text``, markdown, numbers from the
    Trace), the glossary ``terms`` it uses, the ``records`` it covers (none for the input,
    answer, learning and ending steps), and ``look``: what its picture shows ("digit", "conv",
    "pool", "dense", "scores", "maps", "answer", "learning", "end")."""

    title: str
    kind: str  # "input", "layer", "answer", "learning", "end"
    text: str
    terms: list[str]
    records: list[LayerRecord] = field(default_factory=list)
    look: str = ""
    patches: list[Patch] = field(default_factory=list)

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


def _pair(v, default: int) -> tuple[int, int]:
    v = default if v is None else v
    return (int(v[0]), int(v[-1])) if isinstance(v, list | tuple) else (int(v), int(v))


def input_box(trace: Trace, layer: str, y: int, x: int) -> tuple[int, int, int, int]:
    """The pixels of the 28×28 input that output cell ``(y, x)`` of ``layer`` reads, as
    ``(top, left, bottom, right)`` (clipped to the picture): the windows of every convolution
    and pooling up to ``layer`` put together (a record's window ``k``, stride ``s``, padding
    ``p``, dilation ``d``: it starts ``p`` steps earlier, grows by ``(k − 1)·d`` steps, and
    its steps are ``s`` times as long). An adaptive pooling reads everything."""
    h, w = trace.image.shape[-2:]
    start, size, jump = [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]
    for r in trace.layers:
        if r.kind in ("conv", "pool") and r.params.get("adaptive"):
            return 0, 0, h, w
        if r.kind in ("conv", "pool") and "kernel_size" in r.params:
            k, s = _pair(r.params["kernel_size"], 1), _pair(r.params.get("stride"), 1)
            p, d = _pair(r.params.get("padding"), 0), _pair(r.params.get("dilation"), 1)
            for a in (0, 1):
                start[a] -= p[a] * jump[a]
                size[a] += (k[a] - 1) * d[a] * jump[a]
                jump[a] *= s[a]
        if r.name == layer:
            break
    top, left = start[0] + y * jump[0], start[1] + x * jump[1]
    box = (top, left, top + size[0], left + size[1])
    return (int(max(0, box[0])), int(max(0, box[1])), int(min(h, box[2])), int(min(w, box[3])))


def strongest_filters(trace: Trace, recs: list[LayerRecord], n: int = 4) -> list[Patch]:
    """The ``n`` filters of a convolution block that fired hardest on this digit (the block's
    output, after its activation), each with where and on which input pixels."""
    conv = next(r for r in recs if r.kind == "conv")
    out = next(r for r in reversed(recs) if r.is_spatial).output
    peaks = out.reshape(out.shape[0], -1).max(axis=1)
    order = [int(c) for c in np.argsort(-peaks, kind="stable")[:n]]
    found = []
    for c in order:
        y, x = (int(v) for v in np.unravel_index(int(np.argmax(out[c])), out.shape[1:]))
        found.append(Patch(c, y, x, float(out[c, y, x]), input_box(trace, conv.name, y, x)))
    return found


def _shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in shape)


def _negative_share(trace: Trace, recs: list[LayerRecord]) -> float | None:
    relu = next((r for r in recs if r.kind == "relu" and r.description.startswith("ReLU")), None)
    if relu is None or not relu.inputs:
        return None
    return float((np.asarray(trace.value(relu.inputs[0])) < 0).mean())


def _conv_step(trace: Trace, recs: list[LayerRecord], number: int, word: str) -> Step:
    conv = next(r for r in recs if r.kind == "conv")
    k = _pair(conv.params.get("kernel_size"), 3)
    n_out = int(conv.params.get("out_channels") or conv.output.shape[0])
    looks_at = f"your {word}" if number == 1 else "the maps from the layer before"
    stride = _pair(conv.params.get("stride"), 1)[0]
    lines = [
        f"This layer has **{n_out} filters**. Each one is a tiny {k[0]} × {k[1]} pattern.",
        f"Each filter slides over {looks_at}, "
        + ("one square at a time." if stride == 1 else f"{stride} squares at a time."),
        "Where the picture looks like its pattern, it lights up.",
    ]
    neg = _negative_share(trace, recs)
    if neg is not None:
        lines.append(f"Then every negative number becomes 0 ({neg:.0%} of them did).")
    lines.append("Left: the filters that lit up most, and where.")
    terms = ["filter", "feature map"] + (["ReLU"] if neg is not None else [])
    step = Step(f"Layer {number}: {n_out} pattern finders", "layer", "  \n".join(lines), terms)
    step.records, step.look = list(recs), "conv"
    step.patches = strongest_filters(trace, recs)
    return step


def _pool_step(trace: Trace, recs: list[LayerRecord]) -> Step:
    pool = next(r for r in recs if r.kind == "pool")
    (h, w), (oh, ow) = pool.input_shape[-2:], pool.shape[-2:]
    if pool.params.get("adaptive"):
        text = f"Each map is shrunk to {oh} × {ow}: each part keeps one number."
        return Step("Shrinking the maps", "layer", text, ["pooling"], list(recs), "pool")
    k, s = _pair(pool.params.get("kernel_size"), 2), _pair(pool.params.get("stride"), 2)
    keep = "the biggest number" if pool.params.get("mode", "max") == "max" else "the average"
    lines = [
        f"Each map is cut into {k[0]} × {k[1]} squares.",
        f"Only {keep} of each square is kept.",
        f"So a {h} × {w} map becomes {oh} × {ow}.",
    ]
    used_h, used_w = (oh - 1) * s[0] + k[0], (ow - 1) * s[1] + k[1]
    if used_h < h or used_w < w:
        lines.append(
            f"{h} does not split into whole squares: the last row and column are left out."
        )
    lines.append("A stroke moved by one pixel still gives the same answer.")
    return Step("Shrinking: keep the biggest", "layer", "  \n".join(lines), ["pooling"],
                list(recs), "pool")  # fmt: skip


def _dense_step(trace: Trace, recs: list[LayerRecord], word: str) -> Step:
    lin = next(r for r in recs if r.kind == "linear")
    n_in = int(lin.params.get("in_features") or np.asarray(trace.inputs_of(lin)[0]).size)
    n_out = int(lin.params.get("out_features") or lin.output.size)
    if is_output(trace, recs[-1]) or recs[-1].output.size == len(trace.class_names) == n_out:
        text = (
            f"The last layer gives **one score for each of the {n_out} answers**.  \n"
            f"Each score adds up all {n_in:,} numbers before it, each with its own weight.  \n"
            "The highest score wins."
        )
        return Step(f"One score per {word}", "layer", text, ["score"], list(recs), "scores")
    text = (
        f"All {n_in:,} numbers so far are put in one long line.  \n"
        f"Each of {n_out} new numbers adds them all up, each with its own weight.  \n"
        "Some clues count for an answer, some count against it."
    )
    return Step("Adding up the clues", "layer", text, ["dense layer"], list(recs), "dense")


def _layer_step(trace: Trace, recs: list[LayerRecord], number: int, word: str) -> Step:
    kinds = {r.kind for r in recs}
    if "conv" in kinds and any(r.is_spatial for r in recs):
        return _conv_step(trace, recs, number, word)
    if "pool" in kinds and any(r.is_spatial for r in recs):
        return _pool_step(trace, recs)
    if "linear" in kinds:
        return _dense_step(trace, recs, word)
    last = recs[-1]
    what = " then ".join(dict.fromkeys(r.description for r in recs if r.kind != "dropout"))
    text = f"Here the numbers go through {what or last.description}.  \n"
    text += f"They come out as {_shape(last.shape)} numbers."
    look = "maps" if last.is_spatial else "dense"
    return Step("More arithmetic", "layer", text, [], list(recs), look)


def _input_step(trace: Trace, word: str) -> Step:
    h, w = trace.image.shape[-2:]
    text = (
        f"The computer sees your {word} as {h} × {w} little squares.  \n"
        "Each square is one number: 0 is black, 1 is white ink.  \n"
        f"That makes {h * w} numbers. Everything after this is arithmetic on them."
    )
    return Step(f"Your {word}", "input", text, ["pixel"], look="digit")


def answer_words(trace: Trace) -> str:
    """The answer as said to the class: ``"It is a 7"``, ``"It is an Ankle boot"``, or, when
    several classes share the highest chance, ``"It cannot choose: 4 or 9"``."""
    names = [str(n) for n in trace.class_names]
    tied = tied_classes(trace.probs)
    if len(tied) > 1:
        return "It cannot choose: " + " or ".join(names[i] for i in tied[:3])
    return f"It is {a(names[tied[0]])}"


def _answer_step(trace: Trace) -> Step:
    probs, names = trace.probs, trace.class_names
    best = int(np.argmax(probs))
    text = (
        "The scores are turned into chances that add up to 100%.  \n"
        f"The network gives **{names[best]}** {percent(float(probs[best]))}."
    )
    if trace.label is not None:
        right = trace.label == best and len(tied_classes(probs)) == 1
        text += f"  \nThe right answer is {names[trace.label]}: " + (
            "it got it right." if right else "it got it wrong."
        )
    return Step("The answer", "answer", text, ["softmax"], look="answer")


def _learning_step(trace: Trace) -> Step:
    epochs = int(trace.meta.get("epochs") or 0)
    rounds = f" It went through them **{epochs} times**." if epochs else ""
    text = (
        "At the start, every filter was random numbers: the network knew nothing.  \n"
        f"Then it was shown thousands of pictures with the right answer.{rounds}  \n"
        "After each few pictures, every number was nudged to be a little less wrong.  \n"
        "Left: the first filters before training and after."
    )
    return Step("How it learned", "learning", text, ["training", "epoch"], look="learning")


def _end_step(word: str) -> Step:
    text = (
        f"Draw another {word} and follow it again.  \n"
        f"Try a tricky one: {a(word)} drawn small, in a corner, or half like another one.  \n"
        "Can you make the network change its mind?"
    )
    return Step("Your turn", "end", text, [], look="end")


def lesson_steps(trace: Trace, word: str = "digit") -> list[Step]:
    """The lesson's steps for ``trace``: the input, one step per group of records (see the
    module docstring), the answer, how it learned, your turn. Every record is in exactly one
    step."""
    steps = [_input_step(trace, word)]
    number = 0
    for group in _groups(trace):
        number += any(r.kind == "conv" for r in group)
        steps.append(_layer_step(trace, group, max(number, 1), word))
    steps += [_answer_step(trace), _learning_step(trace), _end_step(word)]
    return steps


def covered(steps: list[Step]) -> list[str]:
    """The record names the steps cover, in order (each once)."""
    return [r.name for s in steps for r in s.records]
