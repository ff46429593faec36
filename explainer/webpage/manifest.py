"""What the page knows about the network besides its graph: one JSON manifest.

For every record of the Trace (in order, index ``i`` is the graph's output ``v{i}``): its name,
kind, short description, output shape (batch axis removed), inputs, and the block it belongs
to (the first part of its name: ``block1.conv1`` is in ``block1``), by which a big network is
shown. Convolutions also carry their settings and weights (``float32`` little-endian, base64)
so the page can show a cell's window and its arithmetic. Beside them: the class names, the
calibration temperature, the "not a digit" rule and detector, and which record holds the
logits.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from explainer.nets.not_a_digit import REASON as DETECTOR_REASON
from explainer.nets.not_a_digit import Detector
from explainer.nets.ood import BLOT_STROKE, OodRule
from explainer.tracing.trace import LayerRecord, Trace
from explainer.webpage.replay import logits_record

__all__ = ["FORMAT", "MAX_KERNEL_VALUES", "block_of", "manifest"]

FORMAT = "mnist-explainer/page"
MAX_KERNEL_VALUES = 1 << 18  # a conv's weights travel for the arithmetic view up to this size


def block_of(name: str) -> str:
    """The block a record is shown in: ``"block1"`` for ``"block1.conv1"``; a record at the
    top level (``"fc2"``, ``"relu#2"``) is its own (the page shows consecutive top-level
    records together, without a heading)."""
    return name.split(".", 1)[0].split("#", 1)[0] if "." in name else name


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _layer(r: LayerRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.name,
        "kind": r.kind,
        "description": r.description,
        "shape": list(r.shape),
        "batched": r.params.get("batched", True) is not False,
        "inputs": list(r.inputs),
        "block": block_of(r.name),
    }
    p = r.params
    plain = p.get("padding_mode", "zeros") == "zeros" and not isinstance(p.get("padding"), str)
    spatial = r.kind == "conv" and r.weight is not None and r.weight.ndim == 4
    if spatial and plain and r.weight.size <= MAX_KERNEL_VALUES:
        entry["conv"] = {
            "stride": list(p["stride"]),
            "padding": list(p["padding"]),
            "dilation": list(p["dilation"]),
            "groups": int(p["groups"]),
            "weight_shape": list(r.weight.shape),
            "weight": _b64(r.weight),
            "bias": None if r.bias is None else _b64(r.bias),
        }
    return entry


def manifest(
    trace: Trace,
    *,
    title: str,
    ood: OodRule | None,
    detector: Detector | None = None,
    architecture: str = "",
) -> dict[str, Any]:
    """The page's manifest for ``trace`` (see the module's docstring); ``detector``: the
    not-a-digit detector whose graph travels beside the network's (its threshold and words)."""
    return {
        "format": FORMAT,
        "version": 1,
        "title": title,
        "checkpoint": trace.checkpoint,
        "architecture": architecture or trace.architecture,
        "dataset": trace.dataset,
        "class_names": list(trace.class_names),
        "temperature": float(trace.temperature),
        "logits": logits_record(trace),
        "ood": None if ood is None else {**ood.to_dict(), "blot_stroke": BLOT_STROKE},
        "detector": None
        if detector is None
        else {
            "threshold": float(detector.threshold),
            "energy_weight": float(detector.energy_weight),
            "reason": DETECTOR_REASON,
        },
        "layers": [_layer(r) for r in trace.layers],
    }
