"""The digit every page explains, and its trace through the chosen model.

``st.session_state["digit"]`` holds the current :class:`Digit` (a test digit, a drawing, a
photo); :func:`trace_for` captures it through a checkpoint, cached by (model, digit) names.
The test digits come from :func:`eval_set`: the full test set when it is on disk, else the
500 bundled ones (read-only arrays shared by every session).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from explainer.analysis.flowgraph import item_word
from explainer.app.model_choice import current_dataset, model_key
from explainer.data import find_data_dir, load_sample, load_split
from explainer.nets.checkpoints import Checkpoint
from explainer.tracing.capture import capture_checkpoint
from explainer.tracing.trace import Trace

GET_DATA_HINT = (
    "The full test set is not on this machine, so this page uses the 500 bundled test digits. "
    "For all 10,000: `explainer data download` (or point `EXPLAINER_DATA_DIR` at a folder "
    "holding `MNIST/raw/`), then restart the app."
)


@dataclass
class Digit:
    """The image every page explains: ``image`` is ``(28, 28)`` float32 in [0, 1]."""

    key: str
    image: np.ndarray
    label: int | None = None
    source: str = ""
    dataset: str = "mnist"
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)


@st.cache_data(show_spinner=False)
def sample_arrays(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bundled sample: images ``(500, 28, 28)`` uint8, labels ``(500,)``, test indices."""
    s = load_sample(dataset)
    return s.images.numpy(), s.labels.numpy(), s.indices.numpy()


def has_test_set(dataset: str) -> bool:
    return find_data_dir(dataset) is not None


@st.cache_resource(show_spinner=False)
def eval_set(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Images ``(N, 28, 28)`` uint8, labels, official test indices, and whether it is the full
    test set (else the bundled sample). Read-only: shared by every session."""
    if has_test_set(dataset):
        split = load_split(dataset, train=False, download=False)
        images, labels = split.images.numpy(), split.labels.numpy()
        arrays = (images, labels, np.arange(len(labels)), True)
    else:
        arrays = (*sample_arrays(dataset), False)
    for a in arrays[:3]:
        a.setflags(write=False)
    return arrays


def digit_from_sample(dataset: str, i: int) -> Digit:
    images, labels, indices = eval_set(dataset)[:3]
    return Digit(
        key=f"{dataset}:test:{int(indices[i])}",
        image=images[i].astype(np.float32) / 255.0,
        label=int(labels[i]),
        source=f"test {item_word(dataset)} #{int(indices[i])}",
        dataset=dataset,
    )


def image_key(image: np.ndarray, prefix: str) -> str:
    return f"{prefix}:{hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]}"


def current_digit() -> Digit:
    d = st.session_state.get("digit")
    if d is None or d.dataset != current_dataset():
        d = digit_from_sample(current_dataset(), 0)
        st.session_state["digit"] = d
    return d


def set_digit(d: Digit) -> None:
    st.session_state["digit"] = d


@st.cache_resource(show_spinner=False, max_entries=64)
def _trace(model_key: str, digit_key: str, _ckpt: Checkpoint, _image: np.ndarray, label) -> Trace:
    return capture_checkpoint(_ckpt, _image, label=label, source=digit_key)


def trace_for(ckpt: Checkpoint, digit: Digit) -> Trace:
    """Every layer's output for ``digit`` through ``ckpt``, cached by (model, digit) names."""
    return _trace(model_key(ckpt), digit.key, ckpt, digit.image, digit.label)
