"""The app's cached computations, in an importable module (not in the page scripts, which
Streamlit re-executes on every rerun): each is computed once per (model, digit, ...) key, given
as plain strings, and reused by every session.

Models and the arrays they produce are cached with ``st.cache_resource`` (shared, read-only,
never copied); small plain results with ``st.cache_data``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer.analysis import results
from explainer.analysis.evaluate import Evaluation
from explainer.app import digits, model_choice
from explainer.nets import inference
from explainer.nets.checkpoints import Checkpoint, load_checkpoint

EMBED_MAX = 2000  # points on the embedding map (t-SNE on more is too slow for a live page)
TOP_K = 6


@st.cache_resource(show_spinner="Running the test images through the model…", max_entries=32)
def _evaluation(model_key: str, _ckpt: Checkpoint) -> Evaluation:
    return results.evaluation(_ckpt)  # read from disk when warmed up (explainer.app.warmup)


def evaluation(ckpt: Checkpoint) -> Evaluation:
    """:func:`explainer.analysis.evaluate.evaluate` on the test set (official if on disk, else the
    bundled sample): probabilities ``(N, K)``, predictions, confusion matrix."""
    return _evaluation(model_choice.model_key(ckpt), ckpt)


@st.cache_data(show_spinner=False, max_entries=256)
def _similarity(model_key: str, key_a: str, key_b: str, _a, _b) -> list[float]:
    out = []
    for ra, rb in zip(_a.layers, _b.layers, strict=False):
        x, y = ra.output.ravel(), rb.output.ravel()
        den = float(np.linalg.norm(x) * np.linalg.norm(y))
        out.append(float(x @ y) / den if den > 0 else 0.0)
    return out


def similarity_by_layer(ckpt: Checkpoint, a: digits.Digit, b: digits.Digit) -> list[float]:
    """Cosine similarity of the two digits' activations, layer by layer (1 = same pattern)."""
    ta, tb = digits.trace_for(ckpt, a), digits.trace_for(ckpt, b)
    return _similarity(model_choice.model_key(ckpt), a.key, b.key, ta, tb)


@st.cache_data(show_spinner=False, max_entries=128)
def _attributions(model_key: str, digit_key: str, target: int, _ckpt, _image) -> tuple:
    from explainer.analysis.attribution import conv_module_names, grad_cam, saliency
    from explainer.nets.calibration import temperature_of

    t = temperature_of(_ckpt.raw or {})
    sal = saliency(_ckpt.model, _image, target, temperature=t).map
    cam = (
        grad_cam(_ckpt.model, _image, target, temperature=t).map
        if conv_module_names(_ckpt.model)
        else None
    )
    return sal, cam


def attributions(ckpt: Checkpoint, digit: digits.Digit, target: int) -> tuple:
    """Saliency and Grad-CAM maps ``(28, 28)`` in [0, 1] of class ``target`` (Grad-CAM is
    ``None`` for networks without a convolution)."""
    return _attributions(model_choice.model_key(ckpt), digit.key, int(target), ckpt, digit.image)


@st.cache_data(show_spinner=False)
def _latency_ms(model_key: str, _ckpt: Checkpoint) -> float:
    return inference.latency_ms(_ckpt.model)


def latency_ms(ckpt: Checkpoint) -> float:
    """Median milliseconds for one digit on this machine's CPU (20 runs after a warm-up)."""
    return _latency_ms(model_choice.model_key(ckpt), ckpt)


@st.cache_resource(show_spinner="Running every test image through the layer…", max_entries=16)
def _top_images(model_key: str, layer: str, dataset: str, _ckpt):
    images, labels = digits.eval_set(dataset)[:2]
    return results.top_activating(_ckpt, np.array(images), layer, k=TOP_K, labels=labels)


def top_images(ckpt: Checkpoint, layer: str):
    """:func:`~explainer.analysis.top_digits.top_activating` over
    :func:`~explainer.app.digits.eval_set`: for each channel of ``layer`` (at most 64) the
    :data:`TOP_K` digits that excite it most, with the patch."""
    return _top_images(model_choice.model_key(ckpt), layer, ckpt.dataset, ckpt)


@st.cache_resource(show_spinner="Computing the embedding map…", max_entries=16)
def _embedding(model_key: str, method: str, dataset: str, _ckpt):
    images, labels = digits.eval_set(dataset)[:2]
    return results.embedding(_ckpt, np.array(images), labels, method, EMBED_MAX)


def embedding(ckpt: Checkpoint, method: str):
    """:func:`explainer.analysis.embedding_map.embedding` (``"pca"`` or ``"tsne"``) of the first
    :data:`EMBED_MAX` digits of :func:`~explainer.app.digits.eval_set`, mistakes included."""
    return _embedding(model_choice.model_key(ckpt), method, ckpt.dataset, ckpt)


@st.cache_resource(show_spinner="Loading snapshot…", max_entries=32)
def load_snapshot(path: str) -> Checkpoint:
    return load_checkpoint(path)
