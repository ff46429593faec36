"""Lesson mode: a 15-minute class on how the network reads one digit, a step at a time, in
words a 14-year-old reads (:mod:`explainer.app.lesson_steps`).

*Previous / Next* on top, the step's title, then its picture on the left (the big canvas on
the first step) and its few short sentences on the right, so that a projector at 1280×720
shows the canvas and the step's picture without scrolling. Each convolution block shows the
filters that fired most and where on the digit; pooling is drawn on the real grid; learning
is the first filters at epoch 0 beside the trained ones; the answer is large; the last step
invites another digit.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer.app import canvas, digits, looks, model_choice, verdict, visuals, words
from explainer.app.lesson_steps import GLOSSARY, Step, answer_words, lesson_steps
from explainer.nets.checkpoints import Checkpoint
from explainer.style import colorize, scale_for
from explainer.text import markdown_safe
from explainer.tracing.capture import capture_checkpoint
from explainer.tracing.trace import Trace

CANVAS_PX = 420
CANVAS = "lesson_canvas"


@st.cache_resource(show_spinner=False, max_entries=32)
def _lesson_trace(model_key: str, digit_key: str, _ckpt: Checkpoint, _digit: digits.Digit):
    """The Trace of the lesson: the digit through the model, with how the model was trained
    (epochs run, learning rate) in its ``meta``, so every step reads the Trace alone."""
    cfg = _ckpt.config or {}
    meta = {"epochs": len(_ckpt.history), "learning_rate": cfg.get("lr")}
    return capture_checkpoint(_ckpt, _digit.image, label=_digit.label, source=_digit.key, meta=meta)


@st.cache_resource(show_spinner=False, max_entries=8)
def _untrained_trace(path: str, digit_key: str, _image: np.ndarray) -> Trace | None:
    """The digit through the network's epoch-0 snapshot (before any training), if kept."""
    from explainer.nets.checkpoints import load_checkpoint

    return capture_checkpoint(load_checkpoint(path), _image, source=digit_key)


@st.cache_resource(show_spinner=False, max_entries=4)
def _fresh_trace(model_key: str, digit_key: str, _ckpt: Checkpoint, _image: np.ndarray) -> Trace:
    """The digit through a fresh copy of the network, every layer's numbers drawn at random
    as its training started (PyTorch's own initialisation, seed 0): the stand-in for an
    epoch-0 snapshot that was not kept."""
    import copy

    import torch

    from explainer.tracing.capture import capture

    model = copy.deepcopy(_ckpt.model)
    torch.manual_seed(0)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return capture(model.eval(), _image, source=digit_key)


def _epoch0_path(ckpt: Checkpoint) -> str | None:
    from explainer.analysis.snapshots import snapshot_paths

    found = [p for p in snapshot_paths(ckpt, final=False, strict=False) if "epoch00" in p.stem]
    return str(found[0]) if found else None


def drawn_digit(dataset: str) -> digits.Digit | None:
    """The big canvas; a drawing becomes the current digit (preprocessed once per drawing)."""
    from explainer.reading.preprocess import NoInkError, preprocess

    image_data, objects = canvas.drawing_canvas(CANVAS, CANVAS_PX, stroke_width=30)
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
    """The step's words, on one line that wraps, their meanings on hover (the ?)."""
    if terms:
        help_text = "\n\n".join(f"**{t}**: {GLOSSARY[t]}" for t in terms)
        st.markdown("New words: " + ", ".join(f"**{t}**" for t in terms), help=help_text)


def _digit_rgb(image: np.ndarray, f: int) -> np.ndarray:
    grey = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return visuals.upscale(np.dstack([grey] * 3), f)


def _first_panel(step: Step, trace: Trace, p, h: int) -> tuple[np.ndarray, str]:
    """What the filter looks for: its own pattern when it reads the picture itself (one input
    channel), else the patch of the digit it fired on, enlarged."""
    conv = next(r for r in step.records if r.kind == "conv")
    if conv.weight is not None and conv.weight.shape[1] == 1:
        w = conv.weight[p.channel, 0]
        rgb = visuals.upscale(colorize(w, scale_for(w, "kernel")), max(1, h // max(w.shape)))
        return _fit_height(rgb, h), "its pattern"
    crop = trace.image[p.box[0] : p.box[2], p.box[1] : p.box[3]]
    return _fit_height(_digit_rgb(crop, max(1, h // max(crop.shape))), h), "what it saw"


def conv_picture(step: Step, trace: Trace) -> None:
    """The strongest filters (two, one a row, large, in presenter mode; else four, two a row):
    each one's pattern (or the patch it fired on, enlarged), the patch framed on the digit, and
    the filter's whole map with its peak ringed."""
    out = next(r for r in reversed(step.records) if r.is_spatial).output
    sc = scale_for(out, "relu" if out.min() >= 0 else "conv")
    big = looks.presenter()
    cols = st.columns(1 if big else 2)
    for i, p in enumerate(step.patches[: 2 if big else 4]):
        digit = visuals.outline(_digit_rgb(trace.image, 5), p.box[0] * 5, p.box[1] * 5,
                                (p.box[2] - p.box[0]) * 5, (p.box[3] - p.box[1]) * 5)  # fmt: skip
        f = visuals.fit_factor(out.shape[1], 140)
        fm = visuals.upscale(colorize(out[p.channel], sc), f)
        fm = visuals.ring(fm, p.y * f, p.x * f, f, f, width=max(2, f // 4))
        fm = _fit_height(fm, digit.shape[0])
        first, what = _first_panel(step, trace, p, digit.shape[0])
        gap = np.full((digit.shape[0], 10, 3), 255, np.uint8)
        cols[i % len(cols)].image(np.hstack([first, gap, digit, gap, fm]), width="stretch",
                          caption=f"filter {p.channel}: {what}, where, its map")  # fmt: skip


def _fit_height(rgb: np.ndarray, h: int) -> np.ndarray:
    """``rgb`` padded (white) or cut to ``h`` rows, centred."""
    if rgb.shape[0] >= h:
        top = (rgb.shape[0] - h) // 2
        return rgb[top : top + h]
    pad = h - rgb.shape[0]
    return np.pad(rgb, ((pad // 2, pad - pad // 2), (0, 0), (0, 0)), constant_values=255)


def pool_grid(before: np.ndarray, after: np.ndarray, k: int, s: int, f: int, sc) -> np.ndarray:
    """One map before pooling (``(H, W)``, ``f`` px a value) with its ``k``×``k`` squares drawn
    and the rows and columns no square covers greyed, beside the map after (``(h, w)``, each
    value as large as the square it came from): ``uint8`` RGB."""
    big = visuals.upscale(colorize(before, sc), f).astype(np.int32)
    oh, ow = after.shape
    used_h, used_w = ((oh - 1) * s + k) * f, ((ow - 1) * s + k) * f
    big[used_h:] = (big[used_h:] + 2 * 200) // 3
    big[:, used_w:] = (big[:, used_w:] + 2 * 200) // 3
    for i in range(0, min(used_h, big.shape[0]) + 1, s * f):
        big[max(0, i - 1) : i + 1, :used_w] = 40
    for j in range(0, min(used_w, big.shape[1]) + 1, s * f):
        big[:used_h, max(0, j - 1) : j + 1] = 40
    small = visuals.upscale(colorize(after, sc), s * f)
    small = _fit_height(small, big.shape[0])
    gap = np.full((big.shape[0], 3 * f, 3), 255, np.uint8)
    return np.hstack([big.astype(np.uint8), gap, small])


def pool_picture(step: Step, trace: Trace) -> None:
    """The channel that peaks highest, before pooling on its grid of squares, and after."""
    pool = next(r for r in step.records if r.kind == "pool")
    x = np.asarray(trace.inputs_of(pool)[0])
    ch = int(np.argmax(x.reshape(x.shape[0], -1).max(axis=1)))
    sc = scale_for(x[ch], "relu" if x.min() >= 0 else "auto")
    if pool.params.get("adaptive") or "kernel_size" not in pool.params:
        st.image(visuals.upscale(colorize(pool.output[ch], sc), 20), width=200)
        return
    k = int(np.ravel(pool.params["kernel_size"])[0])
    s = int(np.ravel(pool.params.get("stride") or k)[0])
    f = visuals.fit_factor(x.shape[1], 200)
    st.image(pool_grid(x[ch], pool.output[ch], k, s, f, sc), width="stretch",
             caption=f"map {ch} before (its squares drawn) and after")  # fmt: skip
    st.markdown(visuals.colorbar_html(sc), unsafe_allow_html=True)


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


def score_chart(logits: np.ndarray, names: list[str]) -> dict:
    values = [{"answer": n, "score": float(v)} for n, v in zip(names, logits, strict=False)]
    return {
        "data": {"values": values},
        "height": 230,
        "mark": {"type": "bar", "color": "#7a9cc6"},
        "encoding": {
            "y": {"field": "answer", "type": "nominal", "sort": None, "title": None,
                  "axis": {"labelFontSize": 16, "labelLimit": 200}},
            "x": {"field": "score", "type": "quantitative", "title": "score"},
            "tooltip": [{"field": "answer"}, {"field": "score", "format": ".3f"}],
        },
    }  # fmt: skip


def learning_picture(trace: Trace, ckpt: Checkpoint) -> None:
    """The first convolution's filters and the digit's maps through them: at epoch 0 (the
    snapshot saved before training, when there is one) beside the trained network."""
    conv = next((r for r in trace.layers if r.kind == "conv" and r.weight is not None), None)
    if conv is None:
        st.markdown("This network has no filters to show.")
        return
    path = _epoch0_path(ckpt)
    if path:
        start, before = _untrained_trace(path, trace.source, trace.image), "Before (epoch 0)"
    else:
        mkey = model_choice.model_key(ckpt)
        start, before = _fresh_trace(mkey, trace.source, ckpt, trace.image), "Before (random)"
    pairs = [("After training", trace)]
    if conv.name in start.names():
        pairs.insert(0, (before, start))
    cols = st.columns(len(pairs))
    for col, (title, t) in zip(cols, pairs, strict=True):
        r = t.layer(conv.name)
        n = min(8, r.weight.shape[0])
        col.markdown(f"**{title}**")
        w = r.weight[:n, 0]
        col.image(visuals.mosaic(w, scale_for(w, "kernel"), cols=4, cell=56, labels=False),
                  caption="its first filters", width="stretch")  # fmt: skip
        maps = r.output[:n]
        col.image(visuals.mosaic(maps, scale_for(maps, "conv"), cols=4, cell=56, labels=False),
                  caption=f"your {words.item(model_choice.current_dataset())} through them",
                  width="stretch")  # fmt: skip
    if not path:
        st.caption("This network's own copy from before training was not kept: on the left, a "
                   "fresh copy with random numbers, as every network starts.")  # fmt: skip


def picture(step: Step, trace: Trace, ckpt: Checkpoint, mkey: str) -> None:
    """The step's key picture."""
    names = trace.class_names
    if step.look == "digit":
        st.image(looks.zoom(trace.image, 12), width=336, clamp=True)
    elif step.look == "answer":
        flagged = verdict.say_first(ckpt, digits.current_digit(), trace.probs, names)
        st.markdown(f"<div class='lesson-answer'>{markdown_safe(answer_words(trace))}</div>",
                    unsafe_allow_html=True)  # fmt: skip
        best = [int(i) for i in np.argsort(-trace.probs, kind="stable")[:3]]
        top3 = visuals.probability_chart(trace.probs[best], [names[i] for i in best], 150, flagged)
        visuals.chart(top3)
        st.caption("its three highest chances")
    elif step.look == "end":
        st.image(looks.zoom(trace.image, 8), width=224, clamp=True, caption="your last one")
    elif step.look == "learning":
        learning_picture(trace, ckpt)
    elif step.look == "conv":
        conv_picture(step, trace)
    elif step.look == "pool":
        pool_picture(step, trace)
    elif step.look == "scores":
        visuals.chart(score_chart(step.last.output, names))
    elif step.look == "maps":
        r = step.last
        sc = scale_for(r.output, "auto")
        st.image(visuals.cached_mosaic(f"{mkey}|{trace.source}|lesson|{r.name}", r.output, sc, 52))
    elif step.look == "dense":
        vector_picture(step.last.output, f"{mkey}|{trace.source}|lesson|{step.last.name}|vec")


def _move(delta: int, n: int) -> None:
    st.session_state["lesson_at"] = int(
        np.clip(st.session_state.get("lesson_at", 0) + delta, 0, n - 1)
    )


def _again() -> None:
    """Your turn: back to the first step with an empty canvas."""
    canvas.clear(CANVAS)
    st.session_state["lesson_at"] = 0


def navigation(n: int) -> int:
    """Previous / Next and where we are; returns the current step."""
    i = min(int(st.session_state.get("lesson_at", 0)), n - 1)
    st.session_state["lesson_at"] = i
    c1, c2, c3 = st.columns([1, 3, 1], vertical_alignment="center")
    c1.button("◀ Previous", key="lesson_prev", disabled=i == 0, width="stretch",
              on_click=_move, args=(-1, n))  # fmt: skip
    c3.button("Next ▶", key="lesson_next", disabled=i == n - 1, width="stretch",
              on_click=_move, args=(1, n))  # fmt: skip
    c2.progress((i + 1) / n, text=f"Lesson: step {i + 1} of {n}")
    return i


st.markdown(
    "<style>.lesson-answer { font-size: 2.6em; font-weight: 700; line-height: 1.15; "
    "margin: .1em 0 .3em 0; }</style>",
    unsafe_allow_html=True,
)
ckpt = model_choice.current_model()
ds = model_choice.current_dataset()
item = words.item(ds)
digit = digits.current_digit()
mkey = model_choice.model_key(ckpt)
trace = _lesson_trace(mkey, digit.key, ckpt, digit)
steps = lesson_steps(trace, item)
at = navigation(len(steps))
step = steps[at]
st.title(f"{at + 1}. {step.title}")
left, right = st.columns([1.5, 1], gap="large")
with left, st.container(key="lesson_picture"):  # the step's key picture (the layout test's)
    if step.kind == "input":
        drawn = drawn_digit(ds)
        if drawn is not None and drawn.key != digit.key:
            digits.set_digit(drawn)
            st.rerun()
    else:
        picture(step, trace, ckpt, mkey)
with right:
    if step.kind == "input":
        keep = markdown_safe(digit.source)
        st.markdown(f"**Draw one {item}**, big, in the middle (or keep {keep}):")
        picture(step, trace, ckpt, mkey)
    st.markdown(step.text)
    terms_row(step.terms)
    if step.kind == "end":
        st.button(f"Draw another {item}", icon=":material/draw:", key="lesson_again",
                  on_click=_again, type="primary")  # fmt: skip
st.caption(
    f"**{markdown_safe(ckpt.name)}** reading {markdown_safe(digit.source)}. Everything shown "
    f"comes from this one pass: {len(trace.layers)} recorded layers in {len(steps)} steps."
)
with st.expander("All the words"):
    for term, meaning in GLOSSARY.items():
        st.markdown(f"**{term}**: {meaning}")
