"""Batched augmentation of training digits: a random affine warp (rotation, shift, scale) with
one ``grid_sample`` call, and a random thicker pen (:func:`thicken`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(
    images: torch.Tensor,
    rotation: float = 10.0,
    shift: float = 0.1,
    scale: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rotate by up to ``rotation`` degrees, shift by up to ``shift`` of the width and zoom by
    up to ``scale`` (a fraction), independently per image. ``images``: ``(N, 1, H, W)`` floats
    with a black (0) background, which is what fills the borders."""
    n = images.shape[0]
    if n == 0 or (rotation == 0 and shift == 0 and scale == 0):
        return images

    def uniform(span: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * span

    angle = uniform(math.radians(rotation))
    zoom = 1.0 + uniform(scale)
    tx, ty = uniform(2 * shift), uniform(2 * shift)  # grid coordinates span [-1, 1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(
        images.dtype
    )
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


THICKEN_WIDTHS = (2, 3, 4)  # square pen tips: a stroke grows by 1, 2 or 3 px on the 28-px grid


def thicken(
    images: torch.Tensor, share: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw ``share`` of the images (each chosen at random) with a thicker pen: a grey dilation
    by a square of :data:`THICKEN_WIDTHS` px, picked per image (a stroke 1 to 3 px wider, a small
    loop may close, as with a marker or a thick canvas brush). ``images``: ``(N, 1, H, W)``
    floats with a black (0) background; the rest are returned as they are."""
    n = images.shape[0]
    if n == 0 or share <= 0:
        return images
    pick = torch.rand(n, generator=generator)
    width = torch.randint(len(THICKEN_WIDTHS), (n,), generator=generator)
    out = images
    for i, w in enumerate(THICKEN_WIDTHS):
        chosen = ((pick < share) & (width == i)).view(n, 1, 1, 1)
        before, after = (w - 1) // 2, w // 2  # even widths grow one more px right and down
        wide = F.max_pool2d(F.pad(images, (before, after, before, after)), w, stride=1)
        out = torch.where(chosen, wide, out)
    return out
