"""Saliency and Grad-CAM panels: which pixels the prediction depends on, for two digits side
by side (maps from :mod:`explainer.analysis.attribution`, drawn with its overlay and colour map)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer.analysis.attribution import HEAT_CMAP
from explainer.app import compute, digits, visuals
from explainer.style import Scale


def overlay(image: np.ndarray, heat: np.ndarray, zoom: int = 6) -> np.ndarray:
    """The digit under ``heat`` (:func:`~explainer.analysis.attribution.overlay`), as enlarged
    uint8 RGB."""
    from explainer.analysis.attribution import overlay as heat_overlay

    rgb = (np.clip(heat_overlay(image, heat), 0, 1) * 255).round().astype(np.uint8)
    return visuals.upscale(rgb, zoom)


def cam_layer_text(ckpt) -> str:
    """``" of layer2.1.relu#2 (4×4 maps)"``: the layer Grad-CAM reads for ``ckpt``'s model
    (``""`` for a model without convolution)."""
    from explainer.analysis.cam_layer import conv_module_names, gradcam_choice

    if not conv_module_names(ckpt.model):
        return ""
    chosen = gradcam_choice(ckpt.model)
    h, w = chosen.shape[-2:]
    return f" of {chosen.name} ({h}×{w} maps)"


def cam_warning(ckpt) -> str:
    """What to say when the Grad-CAM maps of ``ckpt``'s model are smaller than 4×4 (else
    ``""``)."""
    from explainer.analysis.cam_layer import conv_module_names, gradcam_choice

    return gradcam_choice(ckpt.model).warning if conv_module_names(ckpt.model) else ""


def side_by_side(
    ckpt,
    mistake: digits.Digit,
    good: digits.Digit | None,
    names: list[str],
    correct: bool = False,
) -> None:
    """Saliency and Grad-CAM of the studied example (for its predicted class) next to a
    correctly read example of the same true class (for that class). ``correct``: the studied
    one was read correctly (a diagonal cell), so it is not called a mistake."""
    tr = digits.trace_for(ckpt, mistake)
    said = names[tr.prediction]
    rows = [
        (mistake, tr.prediction, f"read correctly as {said}" if correct else f"mistake → {said}")
    ]
    if good is not None:
        rows.append((good, good.label, f"another correct {names[good.label]}"))
    cols = st.columns(len(rows) * 2)
    layer = cam_layer_text(ckpt)
    for j, (d, target, title) in enumerate(rows):
        sal, cam = compute.attributions(ckpt, d, int(target))
        cols[2 * j].image(overlay(d.image, sal), caption=f"{title}: saliency", width="stretch")
        if cam is not None:
            cols[2 * j + 1].image(
                overlay(d.image, cam), caption=f"{title}: Grad-CAM", width="stretch"
            )
        else:
            cols[2 * j + 1].caption("Grad-CAM needs a convolution; this model has none.")
    if layer:  # once, across the page: a layer name is too long for a narrow column
        st.caption(f"Grad-CAM{layer}.")
    coarse = cam_warning(ckpt)
    if coarse:
        st.warning(coarse)
    st.markdown(
        visuals.colorbar_html(
            Scale(HEAT_CMAP, 0.0, 1.0, "how much the score depends on the pixel (scaled)")
        ),
        unsafe_allow_html=True,
    )
    st.caption(
        "Saliency: how strongly each pixel moves the class score (its gradient). Grad-CAM: "
        "which regions of one layer's maps the class score relies on: the last layer whose "
        "maps are at least 4×4, after its block's residual add and activation."
    )
