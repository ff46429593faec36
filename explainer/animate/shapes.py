"""Any record's output in a shape every view can draw, with its real shape said truthfully.

Views draw two shapes: a stack of maps ``(C, H, W)`` and a vector ``(n,)``. Records come in
more: a token matrix ``(N, D)`` (a ViT's tokens) is drawn as one ``N × D`` heat map, a
channels-last ``(H, W, C)`` (ConvNeXt after a permute) has its last axis moved to the front for
display, and a tensor of more than three axes has its leading axes flattened into channels.
The text under a picture always gives the record's own shape (:func:`shape_words`).
"""

from __future__ import annotations

import numpy as np


def is_channels_last(shape: tuple[int, ...]) -> bool:
    """A 3-D shape that reads as ``(H, W, C)``: square ``H == W`` in front and a different
    last axis (a ``(C, H, W)`` record has its square at the back)."""
    return len(shape) == 3 and shape[0] == shape[1] != shape[2]


def displayed(values: np.ndarray) -> np.ndarray:
    """``values`` of any shape as float ``(C, H, W)`` or ``(n,)``: a scalar as ``(1,)``, a
    token matrix ``(N, D)`` as ``(1, N, D)``, a sequence-first ``(L, 1, E)`` as ``(1, L, E)``,
    ``(H, W, C)`` as ``(C, H, W)``, ``(A, B, ..., H, W)`` as ``(A·B·..., H, W)``."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim == 0:
        return v.reshape(1)
    if v.ndim == 1:
        return v
    if v.ndim == 2:
        return v[None]
    if v.ndim == 3 and v.shape[1] == 1 < v.shape[2]:  # sequence-first (L, N, E), N = 1
        return v[:, 0][None]
    if v.ndim == 3:
        return np.moveaxis(v, -1, 0) if is_channels_last(v.shape) else v
    return v.reshape(-1, *v.shape[-2:])


def shape_words(shape: tuple[int, ...]) -> str:
    """``"17×32 (matrix)"``, ``"7×7×16 (channels last)"``, ``"4×49×4"``: the real shape, and
    how it is drawn when that is not a map stack or a vector."""
    text = "×".join(str(s) for s in shape) or "scalar"
    if len(shape) == 2:
        return f"{text} (matrix)"
    if is_channels_last(tuple(shape)):
        return f"{text} (channels last)"
    if len(shape) == 3 and shape[1] == 1 < shape[2]:
        return f"{text} (a matrix, sequence first)"
    if len(shape) > 3:
        return f"{text} (first axes as maps)"
    return text
