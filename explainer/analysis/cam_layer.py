"""Which layer Grad-CAM reads by default, and whether its maps can locate anything.

Grad-CAM weighs feature maps ``(C, h, w)`` and scales the ``(h, w)`` sum up to the image, so
it can only be as sharp as ``h × w``: at 1×1 every pixel gets the same heat, at 2×2 the four
quarters of the digit. :func:`gradcam_layer` therefore picks the *last* layer whose maps are
at least :data:`MIN_CAM_SIDE` × :data:`MIN_CAM_SIDE`, among the outputs of the network's
convolution blocks, each taken after its batch norm and activation, and of the residual
additions and concatenations that join convolution branches, taken after the activation that
follows them (for torchvision's ResNet-18 on 28×28 digits: ``layer2.1.relu#2``, the output of
``layer2``, 4×4; not ``layer4.1.bn2``, 1×1 and before the block's add and ReLU). A record the
rest of the network reads only through is preferred (:func:`cut_points`), so one branch of a
downsampling block (ShuffleNet, RegNet) is not taken for the whole.
:func:`coarse_warning` is what a picture and the API say when a map is smaller than that.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from explainer.errors import ExplainerError
from explainer.tracing.layers import plan_of
from explainer.tracing.trace import INPUT, LayerRecord, Trace

MIN_CAM_SIDE = 4  # the smallest map side Grad-CAM can say "where" with
MERGES = ("add", "concat")


@dataclass(frozen=True)
class CamLayer:
    """The layer Grad-CAM reads: its record ``name`` and its maps' ``shape`` ``(C, h, w)``."""

    name: str
    shape: tuple[int, ...]

    @property
    def side(self) -> int:
        """The smaller side of the maps (Grad-CAM's resolution)."""
        return min(self.shape[-2:])

    @property
    def warning(self) -> str:
        """:func:`coarse_warning` of these maps (``""`` when they are fine enough)."""
        return coarse_warning(self.name, tuple(self.shape[-2:]))


def coarse_warning(layer: str, size: tuple[int, int]) -> str:
    """One line saying that ``(h, w)`` maps of ``layer`` are too coarse for Grad-CAM, or
    ``""`` when both sides are at least :data:`MIN_CAM_SIDE`."""
    h, w = (int(s) for s in size)
    if min(h, w) >= MIN_CAM_SIDE:
        return ""
    what = "every pixel gets the same heat" if h * w == 1 else "the heat map is a few blocks"
    n = MIN_CAM_SIDE
    return (
        f"Grad-CAM of {layer} has only {h}×{w} maps, too coarse to say where the evidence is "
        f"({what}); choose a layer with maps of at least {n}×{n}"
    )


def conv_module_names(model: nn.Module) -> list[str]:
    """Names of the 2-D convolution layers, in registration order."""
    plan = plan_of(model)
    return [n for n in plan.names if isinstance(plan.table[n][0], nn.Conv2d)]


def last_conv_layer(model: nn.Module) -> str:
    """The last convolution module (one-line error for a model without one)."""
    convs = conv_module_names(model)
    if not convs:
        raise ExplainerError(
            f"{getattr(model, 'arch_name', type(model).__name__)} has no convolution layer, so "
            "Grad-CAM has no feature maps to weigh; use saliency for this model"
        )
    return convs[-1]


def _is_merge(rec: LayerRecord, names: set[str], conv_sizes: set[tuple[int, ...]]) -> bool:
    """A residual ``+`` or a concatenation of at least two recorded tensors (``names``),
    ``(C, H, W)`` with the ``(H, W)`` of a convolution that ran before it (so not a
    channels-last tensor); a subtraction (a norm's ``x - mean``) is not a merge."""
    recorded = [n for n in rec.inputs if n == INPUT or n in names]
    return (
        rec.kind in MERGES
        and rec.params.get("function") != "sub"
        and len(recorded) >= 2
        and rec.is_spatial
        and rec.shape[-2:] in conv_sizes
    )


def cam_candidates(trace: Trace) -> list[LayerRecord]:
    """The records Grad-CAM may read by default, in the order they ran: the output of each
    block (:func:`explainer.analysis.flowgraph.flow_blocks`) that starts with a 2-D convolution
    or that joins convolution branches (a residual add, a concatenation), i.e. the block's last
    record that does something (its activation, else its norm, else the block's first)."""
    from explainer.analysis.flowgraph import flow_blocks

    found: list[LayerRecord] = []
    names = set(trace.names())
    conv_sizes: set[tuple[int, ...]] = set()
    for block in flow_blocks(trace):
        first = block.first
        if first.kind == "conv" and first.is_spatial:
            conv_sizes.add(first.shape[-2:])
            found.append(block.shown[-1])
        elif conv_sizes and _is_merge(first, names, conv_sizes):
            found.append(block.shown[-1])
    return found


def cut_points(trace: Trace) -> set[str]:
    """The records that everything after them reads only through them: no later record reads
    anything recorded before one (so not a record inside a residual block, nor one branch of
    a block whose other branch reads the block's input)."""
    layers = trace.layers
    where = {INPUT: -1} | {r.name: i for i, r in enumerate(layers)}
    earliest = len(layers)  # the earliest record read by the records after i
    cuts = set()
    for i in range(len(layers) - 1, -1, -1):
        if earliest >= i:
            cuts.add(layers[i].name)
        earliest = min([earliest, *(where[n] for n in layers[i].inputs if n in where)])
    return cuts


def choose_cam_layer(trace: Trace) -> CamLayer | None:
    """The last candidate (:func:`cam_candidates`) with maps of at least
    :data:`MIN_CAM_SIDE` × :data:`MIN_CAM_SIDE` that the rest of the network reads only
    through (:func:`cut_points`; else the last such candidate); when none is that large, the
    one with the largest maps (the latest of equals). ``None`` without any candidate."""
    found = cam_candidates(trace)
    if not found:
        return None
    fine = [r for r in found if min(r.shape[-2:]) >= MIN_CAM_SIDE]
    cuts = cut_points(trace)
    whole = [r for r in fine if r.name in cuts]
    if whole or fine:
        best = (whole or fine)[-1]
    else:
        best = max(reversed(found), key=lambda r: r.shape[-2] * r.shape[-1])
    return CamLayer(best.name, tuple(best.shape))


_CHOSEN: weakref.WeakKeyDictionary[nn.Module, tuple[Any, CamLayer]] = weakref.WeakKeyDictionary()


def gradcam_choice(model: nn.Module) -> CamLayer:
    """The default Grad-CAM layer of ``model`` and its maps' shape, for a 28×28 digit (one
    pass of a blank image, remembered while the model's structure stays the same)."""
    from explainer.tracing.capture import capture

    last_conv_layer(model)  # a clear error for a model without convolution
    plan = plan_of(model)
    known = _CHOSEN.get(model)
    if known is not None and known[0] is plan:
        return known[1]
    p = next(model.parameters(), None)
    blank = torch.zeros(1, 1, 28, 28, device=p.device if p is not None else "cpu")
    trace = capture(model, blank, with_weights=False)
    chosen = choose_cam_layer(trace)
    if chosen is None:  # a convolution the trace does not show as maps
        name = last_conv_layer(model)
        rec = trace.layer(name) if name in trace.names() else None
        chosen = CamLayer(name, tuple(rec.shape) if rec is not None else (0, 0, 0))
    _CHOSEN[model] = (plan, chosen)
    return chosen


def gradcam_layer(model: nn.Module) -> str:
    """The name of :func:`gradcam_choice`'s layer (a record name: ``"layer2.1.relu#2"`` is
    the second call of the module ``layer2.1.relu``, the block's ReLU after its add)."""
    return gradcam_choice(model).name


__all__ = [
    "MIN_CAM_SIDE",
    "CamLayer",
    "cam_candidates",
    "choose_cam_layer",
    "coarse_warning",
    "conv_module_names",
    "cut_points",
    "gradcam_choice",
    "gradcam_layer",
    "last_conv_layer",
]
