"""The app's cached computations, in an importable module (not in the page scripts, which
Streamlit re-executes on every rerun): each is computed once per (model, digit, ...) key, given
as plain strings, and reused by every session.

Models and the arrays they produce are cached with ``st.cache_resource`` (shared, read-only,
never copied); small plain results with ``st.cache_data``.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st
import torch

from app_pages import common
from explainer.checkpoints import Checkpoint, load_checkpoint
from explainer.evaluate import Evaluation, evaluate

EMBED_MAX = 2000  # points on the embedding map (t-SNE on more is too slow for a live page)
TOP_K = 6


@st.cache_resource(show_spinner="Running the test digits through the model…", max_entries=32)
def _evaluation(model_key: str, _ckpt: Checkpoint) -> Evaluation:
    return evaluate(_ckpt)


def evaluation(ckpt: Checkpoint) -> Evaluation:
    """:func:`explainer.evaluate.evaluate` on the test set (official if on disk, else the
    bundled sample): probabilities ``(N, K)``, predictions, confusion matrix."""
    return _evaluation(common.model_key(ckpt), ckpt)


@st.cache_data(show_spinner=False, max_entries=256)
def _similarity(model_key: str, key_a: str, key_b: str, _a, _b) -> list[float]:
    out = []
    for ra, rb in zip(_a.layers, _b.layers, strict=False):
        x, y = ra.output.ravel(), rb.output.ravel()
        den = float(np.linalg.norm(x) * np.linalg.norm(y))
        out.append(float(x @ y) / den if den > 0 else 0.0)
    return out


def similarity_by_layer(ckpt: Checkpoint, a: common.Digit, b: common.Digit) -> list[float]:
    """Cosine similarity of the two digits' activations, layer by layer (1 = same pattern)."""
    ta, tb = common.trace_for(ckpt, a), common.trace_for(ckpt, b)
    return _similarity(common.model_key(ckpt), a.key, b.key, ta, tb)


@st.cache_data(show_spinner=False, max_entries=128)
def _attributions(model_key: str, digit_key: str, target: int, _ckpt, _image) -> tuple:
    from explainer.attribution import conv_layers, grad_cam, saliency

    sal = saliency(_ckpt.model, _image, target).map
    cam = grad_cam(_ckpt.model, _image, target).map if conv_layers(_ckpt.model) else None
    return sal, cam


def attributions(ckpt: Checkpoint, digit: common.Digit, target: int) -> tuple:
    """Saliency and Grad-CAM maps ``(28, 28)`` in [0, 1] of class ``target`` (Grad-CAM is
    ``None`` for networks without a convolution)."""
    return _attributions(common.model_key(ckpt), digit.key, int(target), ckpt, digit.image)


@st.cache_data(show_spinner=False)
def _latency_ms(model_key: str, _ckpt: Checkpoint) -> float:
    x = torch.zeros(1, 1, 28, 28)
    model = _ckpt.model
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(20):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def latency_ms(ckpt: Checkpoint) -> float:
    """Median milliseconds for one digit on this machine's CPU (20 runs after a warm-up)."""
    return _latency_ms(common.model_key(ckpt), ckpt)


def _batch_outputs(model: torch.nn.Module, images: np.ndarray, name: str, inputs: bool = False):
    """Output (or input) of layer ``name`` for ``images`` ``(N, 28, 28)`` uint8, ``(N, ...)``."""
    module = model.get_submodule(name)
    got: list[torch.Tensor] = []

    def hook(_m, i, o):
        got.append((i[0] if inputs else o).detach().float())

    h = module.register_forward_hook(hook)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            x = torch.from_numpy(np.array(images)).float().div_(255.0).unsqueeze(1)
            for i in range(0, len(x), 1000):
                model(x[i : i + 1000])
    finally:
        h.remove()
        model.train(was)
    return torch.cat(got).numpy()


@st.cache_resource(show_spinner="Running every test digit through the layer…", max_entries=16)
def _top_images(model_key: str, layer: str, dataset: str, _ckpt) -> np.ndarray:
    acts = _batch_outputs(_ckpt.model, common.eval_set(dataset)[0], layer)
    score = acts.reshape(acts.shape[0], acts.shape[1], -1).mean(axis=2)  # (N, C)
    return np.argsort(-score, axis=0)[:TOP_K].T


def top_images(ckpt: Checkpoint, layer: str) -> np.ndarray:
    """Indices ``(C, TOP_K)`` into :func:`common.eval_set` of the digits with the highest mean
    activation of each channel of ``layer``."""
    return _top_images(common.model_key(ckpt), layer, ckpt.dataset, ckpt)


@st.cache_resource(show_spinner="Computing the embedding map…", max_entries=16)
def _embedding(model_key: str, method: str, dataset: str, _ckpt) -> tuple:
    images = common.eval_set(dataset)[0]
    idx = np.linspace(0, len(images) - 1, min(EMBED_MAX, len(images))).astype(int)
    last = [n for n, m in _ckpt.model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    feats = _batch_outputs(_ckpt.model, images[idx], last, inputs=True).reshape(len(idx), -1)
    if method == "PCA":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=0).fit_transform(feats)
    else:
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, init="pca", perplexity=30, random_state=0).fit_transform(feats)
    return xy.astype(np.float32), idx


def embedding(ckpt: Checkpoint, method: str) -> tuple[np.ndarray, np.ndarray]:
    """2-D map ``(M, 2)`` (PCA or t-SNE) of what the last dense layer receives, and which
    digits ``(M,)`` of :func:`common.eval_set` it shows (at most :data:`EMBED_MAX`)."""
    return _embedding(common.model_key(ckpt), method, ckpt.dataset, ckpt)


@st.cache_resource(show_spinner="Loading snapshot…", max_entries=32)
def load_snapshot(path: str) -> Checkpoint:
    return load_checkpoint(path)
