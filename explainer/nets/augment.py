"""Batched random affine augmentation (rotation, shift, scale) with one ``grid_sample`` call."""

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
