"""Lesson page, Why preprocessing matters: the learner's digit squeezed to 28×28 as it is, then
through each MNIST-style step, with the model's answer after every step; each step can be
switched off to see the answer change."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer.app import digits, looks, model_choice, visuals, words
from explainer.data import dataset_info
from explainer.errors import ExplainerError
from explainer.nets.calibration import confidence_text
from explainer.reading.predict import Predictor
from explainer.reading.preprocess import STEP_TITLES, SWITCHABLE, plain_resize, preprocess

EXPLAIN = {
    "inverted": "MNIST is white ink on black; paper is the other way round.",
    "cleaned": "Shadows, paper grain, specks and ruled lines are not part of the digit.",
    "cropped": "The digit, not the page: MNIST digits fill their box.",
    "stroke": "MNIST strokes are 2-3 px wide; a marker or a fine pen is brought to that.",
    "scaled": "MNIST digits fit a 20×20 box, keeping their shape (off: fill all 28 px).",
    "centred": "MNIST digits sit with their centre of mass in the middle (off: box centre).",
}


def squeeze(img: np.ndarray) -> np.ndarray:
    """Any step's picture as the model would get it without the later steps: 28×28."""
    if img.shape == (28, 28):
        return img
    return plain_resize(np.clip(img, 0.0, 1.0).astype(np.float32))


def answer(predictor: Predictor, img28: np.ndarray) -> str:
    p = predictor.predict_preprocessed(img28)
    return f"**{p.class_name}** · {confidence_text(p.confidence)} sure"


def tile(col, img: np.ndarray, title: str, caption: str) -> None:
    f = visuals.fit_factor(max(img.shape), 140)
    col.image(looks.padded_square(img, f), width="stretch", clamp=True)
    col.markdown(f"{title}  \n{caption}")


st.title("Why preprocessing matters")
digit = digits.current_digit()
if not digit.steps:
    ds, item = model_choice.current_dataset(), words.item(model_choice.current_dataset())
    st.info(
        f"Draw or upload {words.a(item)} on *Draw & predict* first: this page shows what each "
        f"step of the {dataset_info(ds).title} recipe does to **your** picture (a test {item} "
        "already comes prepared that way)."
    )
    st.stop()
predictor = model_choice.predictor(model_choice.current_model())
picture = digit.steps[0][1]  # the grey picture, shrunk to at most 256 px
ds = model_choice.current_dataset()
learned = (
    "white, centred, 2-3 px strokes in a 20×20 box"
    if ds == "mnist"
    else f"light {words.item(ds, plural=True)} on black, centred in 28×28"
)
st.caption(
    f"The model learned from {dataset_info(ds).title}: {learned}. This page prepares your "
    f"picture the {dataset_info(ds).title} way; switch a step off to see what the model "
    "gets, and answers, without it."
)
toggles = looks.column_rows(len(SWITCHABLE), 3)  # a toggle's label never squeezed mid-word
off = {
    s
    for s, col in zip(SWITCHABLE, toggles, strict=True)
    if not col.toggle(STEP_TITLES[s], value=True, key=f"prep_{s}", help=EXPLAIN[s])
}
try:
    pre = preprocess(picture, off=off)
except ExplainerError as exc:
    st.warning(f"With these steps off, nothing is left for the model: {exc}")
    st.stop()

st.subheader("Squeezed to 28×28 as it is")
c1, c2 = st.columns([1, 5])
tile(c1, plain_resize(picture), "plain resize", answer(predictor, plain_resize(picture)))
c2.markdown(
    "The whole picture, squashed into 28×28: paper, margins and all. This is what a model "
    "gets from an app without preprocessing."
)
st.subheader(f"Step by step, the {dataset_info(ds).title} way")
cols = looks.column_rows(len(pre.steps), 4 if looks.presenter() else 7)
for i, (col, (name, img)) in enumerate(zip(cols, pre.steps, strict=True)):
    state = " (off)" if name in off else ""
    tile(col, img, f"{i + 1}. {STEP_TITLES[name]}{state}", answer(predictor, squeeze(img)))
why = predictor.predict_preprocessed(pre.image)
st.caption(
    "Under each step: the model's answer if it got that picture squeezed to 28×28, i.e. with "
    "the later steps left out. The last one is the answer on *Draw & predict*"
    + (f", and it does not look like a digit ({why.why})." if why.not_a_digit else ".")
)
