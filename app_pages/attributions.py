"""Saliency and Grad-CAM panels: which pixels the prediction depends on, for two digits side
by side. Maps are ``(28, 28)`` float in [0, 1], overlaid on the digit in the positive colormap."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from app_pages import common, visuals
from explainer.style import POSITIVE_CMAP, Scale, colorize


def saliency(model: torch.nn.Module, image: np.ndarray, target: int) -> np.ndarray:
    """|∂ score_target / ∂ pixel|, ``(28, 28)`` scaled to [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).reshape(1, 1, 28, 28)
    x.requires_grad_(True)
    was = model.training
    model.eval()
    try:
        (grad,) = torch.autograd.grad(model(x)[0, target], x)  # parameters' .grad untouched
    finally:
        model.train(was)
    g = grad[0, 0].abs().numpy()
    return g / g.max() if g.max() > 0 else g


def last_conv(model: torch.nn.Module) -> torch.nn.Module | None:
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    return convs[-1] if convs else None


def gradcam(model: torch.nn.Module, image: np.ndarray, target: int) -> np.ndarray | None:
    """Grad-CAM (Selvaraju et al. 2017) at the last convolution, upsampled to ``(28, 28)`` and
    scaled to [0, 1]; ``None`` for networks without convolutions."""
    conv = last_conv(model)
    if conv is None:
        return None
    store: dict[str, torch.Tensor] = {}

    def hook(_m, _i, out):
        store["a"] = out

    h = conv.register_forward_hook(hook)
    was = model.training
    model.eval()
    try:
        x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).reshape(1, 1, 28, 28)
        score = model(x)[0, target]
        (grad,) = torch.autograd.grad(score, store["a"])
    finally:
        h.remove()
        model.train(was)
    a = store["a"].detach()
    weights = grad[0].mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * a[0]).sum(0)).detach()[None, None]
    cam = torch.nn.functional.interpolate(cam, size=(28, 28), mode="bilinear", align_corners=False)
    c = cam[0, 0].numpy()
    return c / c.max() if c.max() > 0 else c


@st.cache_data(show_spinner=False, max_entries=128)
def _maps(model_key: str, digit_key: str, target: int, _ckpt, _image) -> tuple:
    return saliency(_ckpt.model, _image, target), gradcam(_ckpt.model, _image, target)


def overlay(image: np.ndarray, heat: np.ndarray, zoom: int = 6) -> np.ndarray:
    """The digit in grey with ``heat`` on top (opacity grows with heat), enlarged."""
    grey = np.repeat((image * 0.55 * 255)[..., None], 3, axis=2)
    hot = colorize(heat, Scale(POSITIVE_CMAP, 0.0, 1.0, ""))
    a = (0.25 + 0.75 * heat)[..., None]
    return visuals.upscale((grey * (1 - a) + hot * a).astype(np.uint8), zoom)


def side_by_side(ckpt, mistake: common.Digit, good: common.Digit | None, names: list[str]) -> None:
    """Saliency and Grad-CAM of the mistake (for its predicted class) next to a correctly read
    digit of the same true class (for that class)."""
    tr = common.trace_for(ckpt, mistake)
    rows = [(mistake, tr.prediction, f"mistake → {names[tr.prediction]}")]
    if good is not None:
        rows.append((good, good.label, f"correct {names[good.label]}"))
    key = common.model_key(ckpt)
    cols = st.columns(len(rows) * 2)
    for j, (d, target, title) in enumerate(rows):
        sal, cam = _maps(key, d.key, int(target), ckpt, d.image)
        cols[2 * j].image(overlay(d.image, sal), caption=f"{title}: saliency", width="stretch")
        if cam is not None:
            cols[2 * j + 1].image(
                overlay(d.image, cam), caption=f"{title}: Grad-CAM", width="stretch"
            )
        else:
            cols[2 * j + 1].caption("Grad-CAM needs a convolution; this model has none.")
    st.markdown(
        visuals.colorbar_html(
            Scale(POSITIVE_CMAP, 0.0, 1.0, "how much the score depends on the pixel (scaled)")
        ),
        unsafe_allow_html=True,
    )
    st.caption(
        "Saliency: how strongly each pixel moves the class score (its gradient). Grad-CAM: "
        "which regions of the last convolution's maps the class score relies on."
    )
