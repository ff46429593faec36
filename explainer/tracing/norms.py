"""What a normalisation computes: which axes share one mean and variance, said in words.

Batch, layer, group, instance and RMS norms differ only in the axes their statistics run over.
A record of one says which (``params["norm"]`` and ``params["axes"]``: axes of its input, 0 the
batch axis) and in words (``params["over"]``: ``"channels"``, ``"positions"``, ``"features"``...).
The words need to know what an axis is: a 4-D tensor is taken as ``(N, C, H, W)`` unless it was
permuted (ConvNeXt's channels-last ``(N, H, W, C)``), which a *layout* tracks: ``layout[i]`` is
the ``(N, C, H, W)`` axis that axis ``i`` came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NCHW = (0, 1, 2, 3)

# the torch function of each norm, and the norm it computes
NORM_OF_CALL = {
    "batch_norm": "batch", "layer_norm": "layer", "group_norm": "group",
    "instance_norm": "instance", "rms_norm": "rms",
}  # fmt: skip


def norm_axes(norm: str, ndim: int, trailing: int = 1) -> list[int]:
    """The axes of an ``ndim``-D input (0: batch) over which one mean and variance are taken:
    batch norm ``[0, 2, 3...]`` (per channel), layer and RMS norm the last ``trailing`` axes,
    group norm ``[1, 2...]`` (per group of channels), instance norm ``[2, 3...]``."""
    if norm == "batch":
        return [0, *range(2, ndim)]
    if norm in ("layer", "rms"):
        return list(range(ndim - trailing, ndim))
    if norm == "group":
        return list(range(1, ndim))
    return list(range(2, ndim))


def over_words(axes: Sequence[int], ndim: int, layout: Sequence[int] | None = None) -> str:
    """``"channels"``, ``"positions"``, ``"channels and positions"``, ``"features"``... for the
    normalised ``axes`` of an ``ndim``-D tensor; ``"axes 1, 2"`` when no word fits."""
    axes = sorted(a % ndim for a in axes) if ndim else []
    if ndim == 4:
        meaning = {(layout or NCHW)[a] for a in axes}
        words = ["images"] if 0 in meaning else []
        words += ["channels"] if 1 in meaning else []
        words += ["positions"] if {2, 3} <= meaning else ["rows"] if 2 in meaning else []
        words += ["columns"] if 3 in meaning and 2 not in meaning else []
        return " and ".join(words)
    if ndim in (2, 3) and axes == [ndim - 1]:
        return "features"
    if ndim == 3 and axes == [1, 2]:
        return "tokens and features"
    return "axes " + ", ".join(str(a) for a in axes)


def norm_params(norm: str, ndim: int, trailing: int, layout: Sequence[int] | None) -> dict:
    """``{"norm", "axes", "over"}`` of a norm on an ``ndim``-D input. Batch, instance and
    group norm keep channels on axis 1 by definition; layer and RMS norm normalise whatever
    their last axes are (channels after a permute to channels-last)."""
    axes = norm_axes(norm, ndim, trailing)
    positions = " and positions" if ndim > 2 else ""
    over = {
        "batch": f"images{positions}",
        "instance": "positions",
        "group": f"groups of channels{positions}",
    }.get(norm) or over_words(axes, ndim, layout)
    return {"norm": norm, "axes": axes, "over": over}


def permuted(layout: Sequence[int] | None, function: str, args: tuple, kwargs: dict) -> tuple:
    """The layout of ``permute``/``transpose``'s result, from its input's (4-D only)."""
    layout = tuple(layout or NCHW)
    if function == "permute":
        dims = kwargs.get("dims", args[1:])
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else dims
        return tuple(layout[int(d) % 4] for d in dims)
    a, b = (list(args[1:3]) + [kwargs[k] for k in ("dim0", "dim1") if k in kwargs])[:2]
    swapped = list(layout)
    swapped[int(a) % 4], swapped[int(b) % 4] = swapped[int(b) % 4], swapped[int(a) % 4]
    return tuple(swapped)


def describe(p: dict[str, Any]) -> str:
    """``"layer norm over channels"``, ``"group norm, 4 groups"``, ``"batch norm"``."""
    norm = p.get("norm") or {"LayerNorm": "layer", "GroupNorm": "group"}.get(p.get("type"), "batch")
    if norm == "batch":
        return "batch norm"
    if norm == "group":
        groups = p.get("num_groups")
        return f"group norm, {groups} groups" if groups else "group norm"
    name = {"layer": "layer norm", "instance": "instance norm", "rms": "RMS norm"}[norm]
    return f"{name} over {p['over']}" if p.get("over") else name
