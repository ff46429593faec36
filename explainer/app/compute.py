"""The app's cached computations, in an importable module (not in the page scripts, which
Streamlit re-executes on every rerun): each is computed once per (model, digit, ...) key, given
as plain strings, and reused by every session.

Memory stays bounded however many learners come and go:

- results of the shipped models (files on disk, the same few for everyone) are cached with
  ``st.cache_resource`` (shared, read-only, never copied, a bounded number of entries); small
  plain results with ``st.cache_data``;
- results of a model without a file (an upload, a model trained here) are held by the
  sessions that use it (:func:`held`): kept in ``st.session_state``, shared with any other
  session holding the same model (an upload is keyed by its content hash), freed when the
  last such session ends;
- the passes over the whole test set (evaluation, top digits, the embedding map) run
  :data:`HEAVY_AT_ONCE` at a time (:func:`one_heavy_pass`): each holds a batch's activations
  (up to ~300 MB for a 10 MB model), so twenty learners with twenty models wait in line
  instead of holding twenty such batches at once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import streamlit as st

from explainer.analysis import results
from explainer.analysis.evaluate import Evaluation
from explainer.app import digits, model_choice
from explainer.nets import inference
from explainer.nets.checkpoints import Checkpoint, load_checkpoint

EMBED_MAX = 2000  # points on the embedding map (t-SNE on more is too slow for a live page)
TOP_K = 6
HEAVY_AT_ONCE = 1  # passes over the whole test set at a time, across all sessions
HELD_PER_SESSION = 12  # results of file-less models one session holds (the oldest go first)
EVALUATING = "Running the test images through the model…"
T = TypeVar("T")

_heavy = threading.BoundedSemaphore(HEAVY_AT_ONCE)
_shared: weakref.WeakValueDictionary[tuple, Any] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def one_heavy_pass(make: Callable[[], T]) -> T:
    """``make()`` once no more than :data:`HEAVY_AT_ONCE` - 1 other heavy passes run (in any
    session): a pass over 10,000 test digits holds a batch's activations while it runs."""
    with _heavy:
        return make()


def held(kind: str, ckpt: Checkpoint, params: tuple, make: Callable[[], T]) -> T:
    """The result ``kind`` of ``params`` for a model without a file, made once by ``make()``:
    held by this session (its ``st.session_state``, at most :data:`HELD_PER_SESSION`), shared
    with any other session that holds the same result (same model key: an upload's content
    hash), and freed when no session holds it any more (the session ended, or moved on)."""
    key = (kind, model_choice.model_key(ckpt), *params)
    with _shared_lock:
        got = _shared.get(key)
    if got is None:
        got = make()
        with _shared_lock:
            got = _shared.setdefault(key, got)
    mine: dict = st.session_state.setdefault("_held_results", {})
    mine.pop(key, None)
    mine[key] = got  # the newest last
    while len(mine) > HELD_PER_SESSION:
        mine.pop(next(iter(mine)))
    return got


@st.cache_resource(show_spinner=EVALUATING, max_entries=32)
def _evaluation(model_key: str, _ckpt: Checkpoint) -> Evaluation:
    # read from disk when warmed up (explainer.app.warmup) or shipped (models/reports)
    return one_heavy_pass(lambda: results.evaluation(_ckpt))


def evaluation(ckpt: Checkpoint) -> Evaluation:
    """:func:`explainer.analysis.evaluate.evaluate` on the test set (official if on disk, else the
    bundled sample): probabilities ``(N, K)``, predictions, confusion matrix."""
    if ckpt.path is None:
        return held("evaluation", ckpt, (), lambda: _spin(EVALUATING, results.evaluation, ckpt))
    return _evaluation(model_choice.model_key(ckpt), ckpt)


def _spin(text: str, fn: Callable[..., T], *args: Any) -> T:
    with st.spinner(text):
        return one_heavy_pass(lambda: fn(*args))


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


@st.cache_data(show_spinner=False, max_entries=64)
def _latency_ms(model_key: str, _ckpt: Checkpoint) -> float:
    return inference.latency_ms(_ckpt.model)


def latency_ms(ckpt: Checkpoint) -> float:
    """Median milliseconds for one digit on this machine's CPU (20 runs after a warm-up)."""
    return _latency_ms(model_choice.model_key(ckpt), ckpt)


TOPPING = "Running every test image through the layer…"
MAPPING = "Computing the embedding map…"


def _top(ckpt: Checkpoint, layer: str):
    images, labels = digits.eval_set(ckpt.dataset)[:2]
    return results.top_activating(ckpt, np.array(images), layer, k=TOP_K, labels=labels)


@st.cache_resource(show_spinner=TOPPING, max_entries=16)
def _top_images(model_key: str, layer: str, dataset: str, _ckpt):
    return one_heavy_pass(lambda: _top(_ckpt, layer))


def top_images(ckpt: Checkpoint, layer: str):
    """:func:`~explainer.analysis.top_digits.top_activating` over
    :func:`~explainer.app.digits.eval_set`: for each channel of ``layer`` (at most 64) the
    :data:`TOP_K` digits that excite it most, with the patch."""
    if ckpt.path is None:
        return held("top", ckpt, (layer,), lambda: _spin(TOPPING, _top, ckpt, layer))
    return _top_images(model_choice.model_key(ckpt), layer, ckpt.dataset, ckpt)


def _map(ckpt: Checkpoint, method: str):
    images, labels = digits.eval_set(ckpt.dataset)[:2]
    return results.embedding(ckpt, np.array(images), labels, method, EMBED_MAX)


@st.cache_resource(show_spinner=MAPPING, max_entries=16)
def _embedding(model_key: str, method: str, dataset: str, _ckpt):
    return one_heavy_pass(lambda: _map(_ckpt, method))


def embedding(ckpt: Checkpoint, method: str):
    """The map (:class:`~explainer.analysis.results.EmbeddingMap`) of
    :func:`explainer.analysis.embedding_map.embedding` (``"pca"`` or ``"tsne"``) of the first
    :data:`EMBED_MAX` digits of :func:`~explainer.app.digits.eval_set`, mistakes included."""
    if ckpt.path is None:
        return held("map", ckpt, (method,), lambda: _spin(MAPPING, _map, ckpt, method))
    return _embedding(model_choice.model_key(ckpt), method, ckpt.dataset, ckpt)


@st.cache_resource(show_spinner="Loading snapshot…", max_entries=32)
def load_snapshot(path: str) -> Checkpoint:
    return load_checkpoint(path)
