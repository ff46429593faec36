"""Lesson mode: a 15-minute class on how the network reads one digit, a step at a time.

A big canvas to draw on, then *Previous / Next* through the steps of
:func:`explainer.app.lesson_steps.lesson_steps` (a convolution with its batch norm and activation
is one step, dropout and flatten folded in), each with its picture and its numbers from the
Trace, and every technical word explained on hover (the ? next to it) and in the glossary.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer.analysis.flowgraph import is_output
from explainer.app import canvas, digits, looks, model_choice, visuals, words
from explainer.app.lesson_steps import GLOSSARY, Step, lesson_steps
from explainer.nets.checkpoints import Checkpoint
from explainer.style import scale_for
from explainer.text import markdown_safe
from explainer.tracing.capture import capture_checkpoint

CANVAS_PX = 420


@st.cache_resource(show_spinner=False, max_entries=32)
def _lesson_trace(model_key: str, digit_key: str, _ckpt: Checkpoint, _digit: digits.Digit):
    """The Trace of the lesson: the digit through the model, with how the model was trained
    (epochs run, learning rate) in its ``meta``, so every step reads the Trace alone."""
    cfg = _ckpt.config or {}
    meta = {"epochs": len(_ckpt.history), "learning_rate": cfg.get("lr")}
    return capture_checkpoint(_ckpt, _digit.image, label=_digit.label, source=_digit.key, meta=meta)


def drawn_digit(dataset: str) -> digits.Digit | None:
    """The big canvas; a drawing becomes the current digit (preprocessed once per drawing)."""
    from explainer.reading.preprocess import NoInkError, preprocess

    image_data, objects = canvas.drawing_canvas("lesson_canvas", CANVAS_PX, stroke_width=30)
    if not objects or image_data is None:
        return None
    image = np.ascontiguousarray(image_data)
    key = digits.image_key(image, f"{dataset}:draw")
    kept = st.session_state.setdefault("_lesson_prep", {})
    if key not in kept:
        try:
            p = preprocess(image)
        except NoInkError:
            st.info("No ink yet: draw with a few firm strokes.")
            return None
        kept.clear()
        kept[key] = digits.Digit(key, p.image, None, "your drawing", dataset, p.steps)
    return kept[key]


def terms_row(terms: list[str]) -> None:
    """The step's technical words, each with its explanation on hover."""
    if not terms:
        return
    cols = st.columns(min(len(terms), 4))
    for i, term in enumerate(terms):
        cols[i % len(cols)].markdown(f"**{term}**", help=GLOSSARY[term])


def vector_picture(values: np.ndarray, key: str) -> None:
    """A vector of numbers as rows of coloured cells (32 a row), with its colour bar."""
    n = values.size
    per_row = min(32, n)
    rows = -(-n // per_row)
    grid = np.full(rows * per_row, np.nan, np.float32)
    grid[:n] = values.ravel()
    grid = grid.reshape(rows, per_row)
    sc = scale_for(values, "auto")
    zoom = visuals.fit_factor(per_row, 480)
    st.image(
        visuals.cached_bytes(key, lambda: visuals.upscale(visuals.colorize_nan(grid, sc), zoom)),
        caption=f"the {n:,} numbers, {per_row} a row",
    )
    st.markdown(visuals.colorbar_html(sc), unsafe_allow_html=True)


def logit_chart(logits: np.ndarray, names: list[str]) -> dict:
    values = [{"class": n, "logit": float(v)} for n, v in zip(names, logits, strict=False)]
    return {
        "data": {"values": values},
        "height": 300,
        "mark": {"type": "bar", "color": "#7a9cc6"},
        "encoding": {
            "y": {"field": "class", "type": "nominal", "sort": None, "title": None,
                  "axis": {"labelFontSize": 16, "labelLimit": 200}},
            "x": {"field": "logit", "type": "quantitative", "title": "logit (score)"},
            "tooltip": [{"field": "class"}, {"field": "logit", "format": ".3f"}],
        },
    }  # fmt: skip


def picture(step: Step, trace, mkey: str) -> None:
    """The step's picture: the digit, the block's feature maps or numbers, the answer."""
    names = trace.class_names
    if step.kind == "input":
        st.image(looks.zoom(trace.image, 12), width=336, clamp=True)
        return
    if step.kind == "answer":
        visuals.chart(visuals.probability_chart(trace.probs, names, 320))
        return
    if step.kind == "learning":
        convs = [r for r in trace.layers if r.kind == "conv" and r.weight is not None]
        if convs and convs[0].weight.shape[1] == 1:
            w = convs[0].weight[:, 0]
            sc = scale_for(w, "kernel")
            st.markdown(f"The learned kernels of the first convolution ({convs[0].name}):")
            st.image(visuals.cached_mosaic(f"{mkey}|lesson|{convs[0].name}|w", w, sc, 56))
            st.markdown(visuals.colorbar_html(sc, label="weight"), unsafe_allow_html=True)
        return
    r = step.last
    if is_output(trace, r) and r.output.ndim == 1 and r.output.size == len(names):
        visuals.chart(logit_chart(r.output, names))
    elif r.is_spatial:
        c = r.output.shape[0]
        cell = 110 if c <= 8 else 72 if c <= 32 else 52
        sc = scale_for(r.output, "relu" if r.output.min() >= 0 else r.kind)
        key = f"{mkey}|{trace.source}|lesson|{r.name}|{cell}"
        st.image(visuals.cached_mosaic(key, r.output, sc, cell),
                 caption=f"{c} maps of {r.output.shape[1]}×{r.output.shape[2]}")  # fmt: skip
        st.markdown(visuals.colorbar_html(sc), unsafe_allow_html=True)
    else:
        vector_picture(r.output, f"{mkey}|{trace.source}|lesson|{r.name}|vec")


def _move(delta: int, n: int) -> None:
    st.session_state["lesson_at"] = int(
        np.clip(st.session_state.get("lesson_at", 0) + delta, 0, n - 1)
    )


def navigation(n: int) -> int:
    """Previous / Next and where we are; returns the current step."""
    i = min(int(st.session_state.get("lesson_at", 0)), n - 1)
    st.session_state["lesson_at"] = i
    c1, c2, c3 = st.columns([1, 4, 1], vertical_alignment="center")
    c1.button("◀ Previous", key="lesson_prev", disabled=i == 0, width="stretch",
              on_click=_move, args=(-1, n))  # fmt: skip
    c3.button("Next ▶", key="lesson_next", disabled=i == n - 1, width="stretch",
              on_click=_move, args=(1, n))  # fmt: skip
    c2.progress((i + 1) / n, text=f"Step {i + 1} of {n}")
    return i


st.title("Lesson mode")
ckpt = model_choice.current_model()
ds = model_choice.current_dataset()
item = words.item(ds)
digit = digits.current_digit()
trace = _lesson_trace(model_choice.model_key(ckpt), digit.key, ckpt, digit)
steps = lesson_steps(trace, item)
at = navigation(len(steps))
step = steps[at]
st.header(f"{at + 1}. {step.title}")
left, right = st.columns([1.25, 1], gap="large")
with left:
    if step.kind == "input":
        keep = markdown_safe(digit.source)
        st.markdown(f"**Draw one {item}**, big, in the middle (or keep {keep}):")
        drawn = drawn_digit(ds)
        if drawn is not None and drawn.key != digit.key:
            digits.set_digit(drawn)
            st.rerun()
    else:
        picture(step, trace, model_choice.model_key(ckpt))
with right:
    if step.kind == "input":
        picture(step, trace, model_choice.model_key(ckpt))
    st.markdown(step.text)
    terms_row(step.terms)
st.caption(
    f"**{markdown_safe(ckpt.name)}** reading {markdown_safe(digit.source)}. Everything shown "
    "comes from this one pass: "
    f"{len(trace.layers)} recorded layers in {len(steps)} steps."
)
with st.expander("Glossary"):
    for term, meaning in GLOSSARY.items():
        st.markdown(f"**{term}**: {meaning}")
