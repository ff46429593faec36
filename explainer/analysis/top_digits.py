"""The digits that excite each channel of a layer most, and the patch of each that did.

:func:`top_activating` finds, over many digits, the ``k`` strongest responses of each channel
and the input patch behind each peak (the receptive field from :func:`receptive_field` for
chains of layers, else from the gradient of that one activation);
:func:`plot_top_activating` draws them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from explainer.analysis.insights import figure_theme, image_batch
from explainer.errors import ExplainerError
from explainer.tracing.capture import device_of, modules_in_eval_mode
from explainer.tracing.layers import plan_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class ReceptiveField:
    """Where output ``(i, j)`` of a layer looks in the input: rows ``start + i * jump`` to
    ``start + i * jump + size`` (exclusive), same for columns; ``start`` may be negative
    (padding) and boxes are clipped to the image."""

    size: int
    jump: int
    start: int

    def box(self, i: int, j: int, height: int = 28, width: int = 28) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)``, bottom/right exclusive, clipped to the image."""
        top, left = self.start + i * self.jump, self.start + j * self.jump
        return (
            max(top, 0),
            max(left, 0),
            min(top + self.size, height),
            min(left + self.size, width),
        )


def receptive_field(model: nn.Module, layer: str) -> ReceptiveField | None:
    """The receptive field of ``layer`` for networks that are chains of layers (every
    registered architecture); ``None`` for other models (then boxes come from gradients).

    Only square kernels, strides and paddings are supported; layers other than conv and
    pooling keep positions as they are."""
    model_ok = isinstance(model, nn.Sequential) and all(
        isinstance(m, nn.Sequential) or not m._modules for m in model.modules()
    )
    plan = plan_of(model)
    if not model_ok or layer not in plan.table:
        return None
    size, jump, start = 1, 1, 0
    for name in plan.names:
        module = plan.table[name][0]
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p, d = (
                _square(module.kernel_size),
                _square(module.stride or module.kernel_size),
                _square(module.padding),
                _square(getattr(module, "dilation", 1)),
            )
            if None in (k, s, p, d) or isinstance(module.padding, str):
                return None
            k = d * (k - 1) + 1
            start -= p * jump
            size += (k - 1) * jump
            jump *= s
        elif (
            isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten))
            and name != layer
        ):
            return None
        if name == layer:
            return ReceptiveField(size, jump, start)
    return None


def _square(v: Any) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return None
    v = tuple(v)
    return int(v[0]) if len(set(v)) == 1 else None


@dataclass
class TopActivations:
    """For each of ``channels`` of ``layer``: the ``k`` images that excite it most.

    ``indices``: ``(C, k)`` positions in the images given; ``values``: ``(C, k)`` the peak
    activation; ``positions``: ``(C, k, 2)`` the peak's (row, col) in the layer's map (0, 0
    for vector layers); ``boxes``: ``(C, k, 4)`` the input patch (top, left, bottom, right;
    bottom/right exclusive) that produced the peak; ``images``: ``(C, k, 28, 28)`` floats."""

    layer: str
    channels: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    images: np.ndarray
    labels: np.ndarray | None = None
    patch_size: int = 28

    def patches(self, channel_row: int = 0) -> list[np.ndarray]:
        """The cropped patches of one row (one channel), each ``(h, w)``."""
        return [
            img[t:b, le:r]
            for img, (t, le, b, r) in zip(
                self.images[channel_row], self.boxes[channel_row], strict=True
            )
        ]


def top_activating(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    layer: str,
    *,
    channels: Sequence[int] | None = None,
    k: int = 9,
    labels: np.ndarray | torch.Tensor | None = None,
    batch_size: int = 256,
) -> TopActivations:
    """The ``k`` images of ``images`` whose strongest response in each channel of ``layer`` is
    highest (default channels: all, at most 64), with the patch of the input that produced
    it: the receptive field of the peak position (analytic for chains of layers, from the
    gradient of that one activation otherwise)."""
    x = image_batch(images)
    peaks, shape = layer_peaks(model, x, layer, batch_size=batch_size)  # (N, C, 2)
    n_channels = peaks.shape[1]
    chans = np.arange(min(n_channels, 64)) if channels is None else np.asarray(channels, int)
    if chans.size == 0 or chans.min() < 0 or chans.max() >= n_channels:
        raise ExplainerError(f"channels must be between 0 and {n_channels - 1}")
    k = max(1, min(k, len(x)))
    vals = peaks[:, chans, 0]  # (N, C)
    order = np.argsort(-vals, axis=0, kind="stable")[:k].T  # (C, k)
    values = np.take_along_axis(vals.T, order, axis=1)
    flat_pos = np.take_along_axis(peaks[:, chans, 1].T, order, axis=1).astype(int)

    width = shape[-1] if len(shape) == 3 else 1
    positions = np.stack([flat_pos // width, flat_pos % width], axis=-1)
    h, w = x.shape[-2:]
    rf = receptive_field(model, layer) if len(shape) == 3 else None
    boxes = np.zeros((len(chans), k, 4), int)
    for ci, c in enumerate(chans):
        for j in range(k):
            if len(shape) != 3:
                boxes[ci, j] = (0, 0, h, w)
            elif rf is not None:
                boxes[ci, j] = rf.box(*positions[ci, j], height=h, width=w)
            else:
                boxes[ci, j] = _gradient_box(model, x[order[ci, j]], layer, c, positions[ci, j])
    lab = None if labels is None else np.asarray(labels)[order]
    return TopActivations(
        layer=layer,
        channels=chans,
        indices=order,
        values=values.astype(np.float32),
        positions=positions,
        boxes=boxes,
        images=x[torch.from_numpy(order.ravel())][:, 0].numpy().reshape(len(chans), k, h, w),
        labels=lab,
        patch_size=rf.size if rf is not None else int(h),
    )


class _Reached(Exception):
    """Raised by :func:`layer_peaks`' hook once its layer has run: the layers after it are
    skipped."""


def layer_peaks(
    model: nn.Module, x: torch.Tensor, layer: str, *, batch_size: int = 256
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Each image's strongest response in each channel of ``layer``: ``(N, C, 2)`` float32
    (the peak value, its flat position in the channel's map), and one image's output shape
    (``(C, H, W)`` or ``(C,)``). ``x``: ``(N, 1, H, W)`` floats. The forward pass of each batch
    stops at ``layer`` (its first call): the layers after it are never run. Eval mode, no
    grad; only this thread's pass is caught (another session may run the same model)."""
    plan = plan_of(model)
    if layer not in plan.table:
        raise ExplainerError(f"no layer {layer!r}; valid names: {', '.join(plan.names)}")
    caught: list[torch.Tensor] = []
    owner = threading.get_ident()

    def stop(module: nn.Module, inputs: Any, output: Any) -> None:
        if threading.get_ident() == owner and not caught:
            caught.append(output)
            raise _Reached

    parts: list[torch.Tensor] = []
    device = device_of(model)
    handle = plan.table[layer][0].register_forward_hook(stop)
    try:
        with torch.no_grad(), modules_in_eval_mode(plan.modules):
            for i in range(0, len(x), batch_size):
                caught.clear()
                with contextlib.suppress(_Reached):
                    model(x[i : i + batch_size].to(device))
                if not caught or not isinstance(caught[0], torch.Tensor):
                    raise ExplainerError(
                        f"layer {layer!r} did not give a tensor in the forward pass"
                    )
                out = caught[0].float()
                flat = out.reshape(out.shape[0], out.shape[1], -1)
                v, j = flat.max(dim=2)
                parts.append(torch.stack([v, j.to(v.dtype)], dim=-1).cpu())
    finally:
        handle.remove()
    return torch.cat(parts).numpy(), tuple(caught[0].shape[1:])


def _gradient_box(
    model: nn.Module, image: torch.Tensor, layer: str, channel: int, pos: np.ndarray
) -> tuple[int, int, int, int]:
    """Bounding box of the input pixels whose gradient on one activation is non-zero."""
    plan = plan_of(model)
    kept: list[torch.Tensor] = []
    owner = threading.get_ident()
    handle = plan.table[layer][0].register_forward_hook(
        lambda m, i, o: kept.append(o) if threading.get_ident() == owner else None
    )
    try:
        with modules_in_eval_mode(plan.modules), torch.enable_grad():
            xg = image[None].clone().requires_grad_(True)
            model(xg)
            (g,) = torch.autograd.grad(kept[0][0, channel, pos[0], pos[1]], xg)
    finally:
        handle.remove()
    rows, cols = np.nonzero(g[0, 0].abs().numpy() > 0)
    if not len(rows):
        return (0, 0, image.shape[-2], image.shape[-1])
    return (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)


def plot_top_activating(
    top: TopActivations,
    *,
    max_channels: int = 8,
    class_names: Sequence[str] | None = None,
    theme: str = "light",
) -> Figure:
    """One row per channel: its ``k`` most exciting digits, the patch that fired framed, the
    peak activation above each, and the top digit's patch enlarged at the end of the row."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from explainer.style import HIGHLIGHT_COLOR

    th = figure_theme(theme)
    rows = min(max_channels, len(top.channels))
    k = top.indices.shape[1]
    fig, axes = plt.subplots(
        rows,
        k + 1,
        figsize=(1.05 * (k + 1) + 0.8, 1.2 * rows + 0.9),
        facecolor=th.background,
        squeeze=False,
    )
    for r in range(rows):
        for j in range(k):
            ax = axes[r, j]
            ax.imshow(top.images[r, j], cmap="gray", vmin=0, vmax=1)
            t, le, b, ri = top.boxes[r, j]
            if (b - t, ri - le) != top.images.shape[-2:]:
                ax.add_patch(
                    Rectangle(
                        (le - 0.5, t - 0.5),
                        ri - le,
                        b - t,
                        fill=False,
                        edgecolor=HIGHLIGHT_COLOR,
                        linewidth=1.6,
                    )
                )
            lab = ""
            if top.labels is not None:
                lab = (class_names or [str(i) for i in range(10)])[int(top.labels[r, j])] + ": "
            ax.set_title(f"{lab}{top.values[r, j]:.2g}", fontsize=8, color=th.foreground, pad=2)
        axes[r, 0].set_ylabel(f"ch {top.channels[r]}", fontsize=9, color=th.foreground)
        t, le, b, ri = top.boxes[r, 0]
        axes[r, k].imshow(top.images[r, 0][t:b, le:ri], cmap="gray", vmin=0, vmax=1)
        axes[r, k].set_title("patch", fontsize=7, color=HIGHLIGHT_COLOR, pad=2)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_color(th.muted)
    fig.suptitle(
        f"{top.layer}: the digits that excite each channel most (number: peak activation; "
        f"frame: the {top.patch_size}×{top.patch_size} px patch the peak sees)",
        color=th.foreground,
        fontsize=10,
    )
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.02, top=1 - 0.75 / (1.2 * rows + 0.9))
    return fig
