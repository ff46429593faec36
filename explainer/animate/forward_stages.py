"""The layers the forward animation shows: one :class:`Stage` per captured layer (dropout
skipped), with its values as drawn, its colour scale, its title, what its output is and the
few letters of its chip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer import style
from explainer.analysis.flowgraph import chip_label, inputs_text, is_output, output_meaning
from explainer.animate.shapes import displayed, is_channels_last
from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace


@dataclass
class Stage:
    """One step of the forward animation: a layer's output and how to colour it."""

    name: str
    kind: str
    title: str
    subtitle: str
    values: np.ndarray  # (C, H, W) or (n,)
    scale: style.Scale
    chip: str = "op"  # a few letters for the layer chip (conv, BN, tanh, add...)
    output: str = ""  # for the model's output record: what its values mean
    note: str = ""  # under a vector: what reads it (a hidden layer is not class scores)
    # a block of records shown as one step (explainer.animate.forward_blocks): what it reads
    # and what it gives, drawn, its main path's steps and its skip's in words (None: no skip)
    before: Stage | None = None
    after: Stage | None = None
    steps: list[str] = field(default_factory=list)
    skip: list[str] | None = None

    @property
    def spatial(self) -> bool:
        return self.values.ndim == 3


def stages_of(trace: Trace) -> list[Stage]:
    """The layers the animation shows, in order (every captured layer except dropout)."""
    out = []
    k = len(trace.class_names) or len(trace.logits)
    for r in trace.layers:
        if r.kind == "dropout":
            continue
        st = record_stage(r, output_meaning(r) if is_output(trace, r) else "")
        if not st.output and not st.spatial and st.values.size == k:
            readers = ", ".join(c.name for c in trace.consumers(r.name)) or "nothing"
            st.note = f"{k} hidden values, not class scores yet: read by {readers}"
        out.append(st)
    if not out:
        raise ExplainerError("this trace has no layers to show; capture it with all layers")
    return out


def record_stage(r: LayerRecord, output: str = "") -> Stage:
    """The stage of one record (``output``: what its values mean when it is the model's)."""
    values = displayed(r.output)
    scale = style.layer_scale(values, r.kind)
    shape = tuple(np.shape(r.output))
    if len(shape) == 2 or (len(shape) == 3 and values.shape[0] == 1 and shape[1] == 1):
        what = f"a heat map, {values.shape[1]} rows × {values.shape[2]} columns"
    elif values.ndim == 3:
        c, hh, ww = values.shape
        what = f"{c} map{'s' if c != 1 else ''} of {hh}×{ww}"
        what += ", channels moved to the front" if is_channels_last(shape) else ""
    else:
        what = "one value" if values.size == 1 else f"{values.size} values"
    colour = "blue < 0 < red" if scale.signed else "dark = 0, bright = strong"
    combines = inputs_text(r)
    return Stage(
        r.name,
        r.kind,
        f"{r.name}  ·  {r.description}" + (f":  {combines}" if combines else ""),
        f"output {'×'.join(str(d) for d in shape) or 'scalar'}: {what}  ({colour})",
        values,
        scale,
        _chip(r),
        output,
    )


_CHIP_WORDS = {
    "attention": "attn",
    "norm": "norm",
    "getitem": "index",
    "multi_head_attention_forward": "attn",
}


def _chip(r: LayerRecord) -> str:
    """A few letters for the chip: :func:`chip_label`, or a word where it has none."""
    label = chip_label(r)
    if label != "op":
        return label
    fn = str(r.params.get("function", r.kind))
    return _CHIP_WORDS.get(fn, _CHIP_WORDS.get(r.kind, fn[:8]))
