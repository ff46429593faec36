"""Which pixels made the network say "7"? Saliency and Grad-CAM, written with plain autograd.

- :func:`saliency`: how much the class score changes when each pixel changes, ``|d score /
  d pixel|`` (Simonyan et al. 2014); ``smooth=N`` averages N noisy copies (SmoothGrad).
- :func:`grad_cam`: feature maps of one layer, each weighted by how much the class score grows
  with it (its mean gradient), summed, kept where positive and scaled up to the image
  (Selvaraju et al. 2017). Coarser than saliency, but it shows *regions*. By default the layer
  is the last one whose maps are at least 4×4, taken after its block's residual add and
  activation (:func:`~explainer.analysis.cam_layer.gradcam_layer`); the result names it, and
  a map smaller than 4×4 (a layer given by hand) comes with a warning, in ``warning``, in the
  picture and from :func:`warnings.warn`.
- :func:`grad_cam_all`: Grad-CAM for every class at once: where the evidence for a 3, a 5...
  sits in the same digit.

Every map is an :class:`Attribution`: ``map`` is ``(28, 28)`` in [0, 1] (1 = the strongest
pixel), ready to lay over the digit with :func:`plot_attributions`. Models are used in eval
mode, every module's training flag is restored, hooks are removed even on error, and no
parameter's ``.grad`` is touched.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explainer.analysis.cam_layer import (
    coarse_warning,
    conv_module_names,
    gradcam_choice,
    gradcam_layer,
    last_conv_layer,
)
from explainer.errors import ExplainerError
from explainer.nets.calibration import confidence_text, softmax_t
from explainer.tracing.capture import as_batch, modules_in_eval_mode
from explainer.tracing.layers import plan_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Attribution:
    """One explanation of one class for one image.

    ``map``: ``(H, W)`` float32 in [0, 1] at the image's resolution. ``raw``: the map before
    scaling (``(H, W)`` for saliency, the coarse ``(h, w)`` map for Grad-CAM). ``target``: the
    explained class; ``probability``: the model's probability for it; ``method``: "saliency",
    "smoothgrad" or "grad-cam"; ``layer``: the layer Grad-CAM read (else ""); ``warning``: why
    the map cannot be trusted to say *where* (Grad-CAM maps smaller than 4×4), else ""."""

    map: np.ndarray
    raw: np.ndarray
    image: np.ndarray
    target: int
    probability: float
    prediction: int
    method: str
    layer: str = ""
    warning: str = ""

    @property
    def where(self) -> str:
        """``"layer2.1.relu#2, 4×4 maps"`` for Grad-CAM, ``""`` for saliency."""
        if not self.layer:
            return ""
        return f"{self.layer}, {self.raw.shape[-2]}×{self.raw.shape[-1]} maps"

    @property
    def title(self) -> str:
        where = f" of {self.where}" if self.layer else ""
        p = confidence_text(self.probability)
        return f"{self.method}{where} for class {self.target} (p = {p})"


def _prepare(image: np.ndarray | torch.Tensor, model: nn.Module) -> torch.Tensor:
    x = as_batch(image)[:1]
    p = next(model.parameters(), None)
    return x.to(p.device) if p is not None else x


def _target(logits: torch.Tensor, target: int | None) -> int:
    k = logits.shape[1]
    if target is None:
        return int(logits[0].argmax())
    if not 0 <= int(target) < k:
        raise ExplainerError(f"class {target} does not exist; this model has classes 0 to {k - 1}")
    return int(target)


def _unit(a: np.ndarray) -> np.ndarray:
    m = float(a.max()) if a.size else 0.0
    return (a / m if m > 0 else np.zeros_like(a)).astype(np.float32)


def saliency(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    target: int | None = None,
    *,
    smooth: int = 0,
    noise: float = 0.15,
    seed: int = 0,
    temperature: float = 1.0,
) -> Attribution:
    """``|d score(target) / d pixel|`` for a ``(28, 28)`` image in [0, 1] (default target: the
    predicted class). ``smooth=N`` averages the gradients of N copies with Gaussian noise of
    standard deviation ``noise`` (SmoothGrad), which removes most of the speckle.
    ``temperature``: the model's calibration temperature, for the ``probability`` it reports
    (``temperature_of(ckpt.raw)`` for a checkpoint, so it says what every view says)."""
    x = _prepare(image, model)
    with modules_in_eval_mode(plan_of(model).modules), torch.enable_grad():
        logits = model(x)
        tgt = _target(logits, target)
        probs = softmax_t(logits.detach()[0], temperature)
        if smooth > 0:
            gen = torch.Generator(device=x.device).manual_seed(seed)
            noisy = x + noise * torch.randn((smooth, *x.shape[1:]), generator=gen, device=x.device)
            noisy.requires_grad_(True)
            (grad,) = torch.autograd.grad(model(noisy)[:, tgt].sum(), noisy)
            grad = grad.abs().mean(0, keepdim=True)
        else:
            xg = x.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(model(xg)[0, tgt], xg)
            grad = grad.abs()
    raw = grad[0].amax(0).detach().float().cpu().numpy()
    return Attribution(
        map=_unit(raw),
        raw=raw,
        image=x[0, 0].detach().cpu().numpy(),
        target=tgt,
        probability=float(probs[tgt]),
        prediction=int(probs.argmax()),
        method="smoothgrad" if smooth > 0 else "saliency",
    )


def _grad_cam_maps(
    model: nn.Module, x: torch.Tensor, layer: str, targets: Sequence[int] | None
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Coarse Grad-CAM maps ``(T, h, w)``, the logits ``(1, K)`` and the targets used."""
    plan = plan_of(model)
    if layer not in plan.table:
        return _record_cam_maps(model, x, layer, targets)
    kept: list[torch.Tensor] = []

    owner = threading.get_ident()

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        if threading.get_ident() != owner:  # another thread's pass through a shared model
            return None
        kept.append(output)
        return output.clone()  # a later in-place op changes the clone, not the maps we keep

    handle = plan.table[layer][0].register_forward_hook(hook)
    try:
        with modules_in_eval_mode(plan.modules), torch.enable_grad():
            xg = x.clone().requires_grad_(True)  # the maps need a graph even if weights are frozen
            logits = model(xg)
            if not kept or kept[0].dim() != 4:
                raise ExplainerError(f"layer {layer!r} gives no (C, H, W) maps for Grad-CAM")
            cams, tgts = _weigh(kept[0], logits, targets)
    finally:
        handle.remove()
    return cams, logits.detach(), tgts


def _weigh(
    acts: torch.Tensor, logits: torch.Tensor, targets: Sequence[int] | None
) -> tuple[torch.Tensor, list[int]]:
    """Each target's maps ``acts`` weighted by the mean gradient of its score, summed over
    channels and kept where positive: ``(T, h, w)``."""
    tgts = [_target(logits, None)] if targets is None else [_target(logits, t) for t in targets]
    cams = []
    for i, t in enumerate(tgts):
        (grads,) = torch.autograd.grad(logits[0, t], acts, retain_graph=i < len(tgts) - 1)
        weights = grads.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cams.append(torch.relu((weights * acts).sum(1))[0].detach())
    return torch.stack(cams), tgts


def _record_cam_maps(
    model: nn.Module, x: torch.Tensor, layer: str, targets: Sequence[int] | None
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """:func:`_grad_cam_maps` for a record that is not a module (``F.relu`` in a forward):
    the pass is recorded (:mod:`explainer.tracing.recorder`) with gradients on, keeping that
    record's
    output tensor."""
    from explainer.tracing.capture import layer_names
    from explainer.tracing.recorder import Recorder, chain_applies, watching

    plan = plan_of(model)
    if layer not in layer_names(model):
        raise ExplainerError(
            f"no layer {layer!r}; convolution layers: "
            f"{', '.join(conv_module_names(model)) or 'none'}"
        )
    kept: dict[str, torch.Tensor] = {}

    def take(name: str, out: torch.Tensor) -> None:
        kept[name] = out

    with modules_in_eval_mode(plan.modules), torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        rec = Recorder(plan, xg, take=take, wanted={layer})
        if chain_applies(plan):
            logits = rec.run_chain(xg)
        else:
            with watching(rec):
                logits = model(xg)
        acts = kept.get(layer)
        if acts is None or acts.dim() != 4:
            raise ExplainerError(f"layer {layer!r} gives no (C, H, W) maps for Grad-CAM")
        cams, tgts = _weigh(acts, logits, targets)
    return cams, logits.detach(), tgts


def _upsample(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def grad_cam(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    target: int | None = None,
    layer: str | None = None,
    *,
    temperature: float = 1.0,
) -> Attribution:
    """Grad-CAM of ``target`` (default: the predicted class) at ``layer`` (any record name;
    default: the last one with maps of at least 4×4, after its block's add and activation,
    :func:`gradcam_layer`) for a
    ``(28, 28)`` image in [0, 1]; the coarse map is scaled up bilinearly to 28×28.
    ``temperature`` as in :func:`saliency`. Maps smaller than 4×4 warn
    (:func:`warnings.warn` and ``Attribution.warning``)."""
    x = _prepare(image, model)
    return _grad_cam(model, x, layer, None if target is None else [target], temperature)[0]


def grad_cam_all(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    layer: str | None = None,
    targets: Sequence[int] | None = None,
    *,
    temperature: float = 1.0,
) -> list[Attribution]:
    """Grad-CAM for several classes from one forward pass (default targets: every class).

    Each map is scaled to [0, 1] on its own; compare classes by ``raw.max()``
    (:func:`plot_class_evidence` does)."""
    x = _prepare(image, model)
    if targets is None:
        with torch.no_grad(), modules_in_eval_mode(plan_of(model).modules):
            targets = list(range(model(x).shape[1]))
    return _grad_cam(model, x, layer, targets, temperature)


def _grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    layer: str | None,
    targets: Sequence[int] | None,
    temperature: float,
) -> list[Attribution]:
    layer = layer or gradcam_choice(model).name
    cams, logits, tgts = _grad_cam_maps(model, x, layer, targets)
    warning = coarse_warning(layer, tuple(cams.shape[-2:]))
    if warning:
        warnings.warn(warning, UserWarning, stacklevel=3)
    up = _upsample(cams, tuple(x.shape[-2:])).clamp_min(0).cpu().numpy()
    probs = softmax_t(logits[0].cpu(), temperature)
    pred = int(probs.argmax())
    img = x[0, 0].cpu().numpy()
    return [
        Attribution(
            map=_unit(up[i]),
            raw=cams[i].cpu().numpy(),
            image=img,
            target=t,
            probability=float(probs[t]),
            prediction=pred,
            method="grad-cam",
            layer=layer,
            warning=warning,
        )
        for i, t in enumerate(tgts)
    ]


# --- pictures -------------------------------------------------------------------------------

HEAT_CMAP = "inferno"


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """``(H, W, 3)`` float RGB: the digit in grey, darkened, under ``heat`` (in [0, 1]) drawn
    with :data:`HEAT_CMAP`; the heat's opacity grows with its value."""
    import matplotlib

    grey = np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=2) * 0.55
    colour = matplotlib.colormaps[HEAT_CMAP](np.clip(heat, 0, 1))[..., :3]
    a = alpha * np.clip(heat, 0, 1)[..., None] ** 0.7
    return grey * (1 - a) + colour * a


COARSE_MARK = "⚠"
WARNING_COLOR = "#d62728"


def warn_on(ax: Any, a: Attribution) -> None:
    """Write that ``a``'s maps are too coarse across the bottom of its panel ``ax``."""
    h, w = a.raw.shape[-2:]
    ax.text(
        0.5,
        0.03,
        f"{COARSE_MARK} only {h}×{w} maps:\ntoo coarse to locate",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=8,
        color="white",
        bbox={"facecolor": WARNING_COLOR, "edgecolor": "none", "alpha": 0.9, "pad": 2},
    )


def plot_attributions(
    attributions: Sequence[Attribution],
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    theme: str = "light",
) -> Figure:
    """The digit, then each attribution laid over it, with one shared colour bar.

    ``class_names`` label the targets (default ``"0"``-``"9"``)."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from explainer.style import theme as get_theme

    if not attributions:
        raise ExplainerError("nothing to plot: no attributions given")
    th = get_theme(theme)
    names = list(class_names) if class_names else None

    def cname(i: int) -> str:
        return names[i] if names and i < len(names) else str(i)

    n = len(attributions) + 1
    fig, axes = plt.subplots(
        1, n, figsize=(2.2 * n + 0.9, 2.9), facecolor=th.background, layout="constrained"
    )
    first = attributions[0]
    axes[0].imshow(first.image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(
        f"input\npredicted {cname(first.prediction)}", color=th.foreground, fontsize=10
    )
    for ax, a in zip(axes[1:], attributions, strict=True):
        ax.imshow(overlay(a.image, a.map))
        where = f"\n{a.where}" if a.layer else ""
        ax.set_title(
            f"{a.method}: {cname(a.target)} ({confidence_text(a.probability)}){where}",
            color=th.foreground,
            fontsize=10,
        )
        if a.warning:
            warn_on(ax, a)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor(th.background)
    bar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), HEAT_CMAP), ax=list(axes), fraction=0.03, pad=0.02
    )
    bar.set_label("share of the strongest evidence", color=th.foreground, fontsize=9)
    bar.ax.tick_params(colors=th.foreground)
    if title:
        fig.suptitle(title, color=th.foreground)
    return fig


def plot_class_evidence(
    attributions: Sequence[Attribution],
    *,
    class_names: Sequence[str] | None = None,
    theme: str = "light",
) -> Figure:
    """Grad-CAM of every class (from :func:`grad_cam_all`) in a 2×5 grid, each panel titled
    with the class and its probability, the predicted class framed; one colour bar.

    All panels share one scale (the strongest class's raw map = 1), so a class with little
    evidence stays dark instead of being stretched to full brightness."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from explainer.style import HIGHLIGHT_COLOR
    from explainer.style import theme as get_theme

    th = get_theme(theme)
    peak = max(float(a.raw.max()) for a in attributions) or 1.0
    cols = 5
    rows = -(-len(attributions) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(2.0 * cols + 0.8, 2.1 * rows + 0.5),
        facecolor=th.background,
        layout="constrained",
    )
    axes = np.atleast_1d(axes).ravel()
    for ax, a in zip(axes, attributions, strict=False):
        scale = float(a.raw.max()) / peak
        ax.imshow(overlay(a.image, a.map * scale))
        name = class_names[a.target] if class_names else str(a.target)
        ax.set_title(
            f"{name}: p = {confidence_text(a.probability)}", color=th.foreground, fontsize=10
        )
        if a.target == a.prediction:
            for side in ax.spines.values():
                side.set_color(HIGHLIGHT_COLOR)
                side.set_linewidth(3)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(attributions) :]:
        ax.set_visible(False)
    first = attributions[0]
    coarse = f"\n{COARSE_MARK} {first.warning}" if first.warning else ""
    fig.suptitle(
        f"Where is the evidence for each class? (Grad-CAM of {first.where}; "
        f"framed: the prediction){coarse}",
        color=th.foreground,
        fontsize=11 if not coarse else 9,
        wrap=True,
    )
    bar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), HEAT_CMAP), ax=list(axes), fraction=0.02, pad=0.02
    )
    bar.set_label("evidence (1 = strongest of all classes)", color=th.foreground)
    bar.ax.tick_params(colors=th.foreground)
    return fig


__all__ = [
    "COARSE_MARK",
    "Attribution",
    "conv_module_names",
    "grad_cam",
    "grad_cam_all",
    "gradcam_choice",
    "gradcam_layer",
    "last_conv_layer",
    "overlay",
    "plot_attributions",
    "plot_class_evidence",
    "saliency",
    "warn_on",
]
