"""Page 1, Draw & predict: the learner's own digit (drawn, uploaded, or picked from the test
set), the preprocessing steps that turn it into 28×28, and the model's probabilities."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer.app import canvas, digits, looks, model_choice, strip, visuals, words
from explainer.data import dataset_info
from explainer.errors import ExplainerError
from explainer.reading.preprocess import STEP_TITLES, NoInkError, preprocess
from explainer.text import clip_text, markdown_safe

CANVAS_PX = 280
MAX_UPLOAD_MB = 8  # under the server's 10 MB (.streamlit/config.toml server.maxUploadSize)
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
SOURCES = ["Draw", "Upload a picture", "Pick a test digit"]


def _item() -> str:
    """ "digit" or "item": what one picture of the chosen dataset is called."""
    return words.item(model_choice.current_dataset())


def _what() -> str:
    """What one picture shows, said in full: "handwritten digit", "item of clothing"."""
    return "handwritten digit" if _item() == "digit" else "item of clothing"


def _preprocessed_digit(raw: np.ndarray | bytes, prefix: str, source: str) -> digits.Digit:
    """Preprocess once per distinct picture (kept in session state by its hash)."""
    key = digits.image_key(np.frombuffer(raw, np.uint8) if isinstance(raw, bytes) else raw, prefix)
    cache = st.session_state.setdefault("_prep_cache", {})
    if key not in cache:
        p = preprocess(raw)  # its steps are small: the picture is shrunk to 256 px first
        cache.clear()
        cache[key] = digits.Digit(
            key, p.image, None, source, model_choice.current_dataset(), p.steps
        )
        st.session_state["_prep_stroke"] = {key: p.stroke}  # for the not-a-digit flag
    return cache[key]


def draw_source() -> digits.Digit | None:
    st.caption(
        f"Draw one {_item()} with the mouse or a finger; the prediction updates when you lift it."
    )
    image, objects = canvas.drawing_canvas("canvas", CANVAS_PX, stroke_width=22)
    if not objects or image is None:
        st.info(f"The canvas is empty: draw {words.a(_item())}, big, in the middle.")
        return None
    try:
        return _preprocessed_digit(np.ascontiguousarray(image), "draw", "your drawing")
    except NoInkError:
        st.info(f"No ink yet: draw {words.a(_item())} with a few firm strokes.")
    return None


def upload_source() -> digits.Digit | None:
    up = st.file_uploader(
        f"A photo or scan of one {_item()} (PNG, JPEG, BMP, WebP, GIF, TIFF; up to "
        f"{MAX_UPLOAD_MB} MB)",
        type=["png", "jpg", "jpeg", "bmp", "webp", "gif", "tif", "tiff"],
        max_upload_size=MAX_UPLOAD_MB,  # the uploader then says the same limit as this page
        key="upload",
    )
    if up is None:
        st.info(f"Upload a picture of one {_what()}, dark on a light background or the reverse.")
        return None
    data = up.getvalue()
    if not data:
        st.warning(f"{markdown_safe(up.name)} is empty (0 bytes): choose another file.")
        return None
    if len(data) > MAX_UPLOAD_BYTES:
        st.warning(
            f"{markdown_safe(up.name)} is {len(data) / 1e6:.1f} MB; a photo of one {_item()} "
            f"needs far less. Shrink it below {MAX_UPLOAD_MB} MB and try again."
        )
        return None
    try:
        return _preprocessed_digit(data, "upload", clip_text(up.name, 80))
    except ExplainerError as exc:
        st.warning(f"That picture does not work: {markdown_safe(exc, 300)}")
    return None


def test_source() -> digits.Digit:
    ds = model_choice.current_dataset()
    _images, labels, _indices, full = digits.eval_set(ds)
    n = len(labels)
    # side by side, the button never narrower than its words (a narrow column wraps it under)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    c1, c2 = row.container(), row.container(width="content")
    if c2.button(f"Random {_item()}", icon=":material/casino:", width="content"):
        st.session_state["test_pos"] = int(np.random.default_rng().integers(n))
    i = c1.number_input(
        f"Test {words.item(ds)} (0 – {n - 1})" + ("" if full else ", from the bundled sample"),
        min_value=0,
        max_value=n - 1,
        step=1,
        key="test_pos",
    )
    d = digits.digit_from_sample(ds, int(i))
    st.image(looks.zoom(d.image, 8), caption=f"{d.source}, labelled {_name(d.label)}", width=224)
    return d


def _name(label: int | None) -> str:
    names = model_choice.current_model().class_names
    return "?" if label is None else words.breakable(names[label]) if names else str(label)


def show_steps(d: digits.Digit) -> None:
    if not d.steps:
        return
    st.subheader("From your picture to the 28×28 the model sees")
    cols = st.columns(len(d.steps))
    for col, (name, img) in zip(cols, d.steps, strict=False):
        h, w = img.shape
        f = visuals.fit_factor(max(h, w), 140)
        shown = looks.padded_square(img, f)  # keeps the step's aspect ratio
        col.image(
            np.clip(shown, 0, 1),
            caption=f"{STEP_TITLES.get(name, name)} · {w}×{h}",
            width="stretch",
            clamp=True,
        )


def show_prediction(d: digits.Digit) -> None:
    from explainer.reading.predict import verdict_text

    ckpt = model_choice.current_model()
    trace = digits.trace_for(ckpt, d)
    predictor = model_choice.predictor(ckpt)  # the not-a-digit rule
    probs = trace.probs  # calibrated with the checkpoint's temperature, as on every page
    pred = int(probs.argmax())
    said, sure = words.answer(probs, trace.class_names)  # "> 99.9%"; a tie said as a tie
    stroke = st.session_state.get("_prep_stroke", {}).get(d.key)
    why = predictor.not_a_digit(d.image[None], None if stroke is None else np.array([stroke]))[0]
    flagged = bool(why) and model_choice.current_dataset() == "mnist"
    if flagged:  # said first, before any number
        st.warning(verdict_text(said, why, bold=True), icon=":material/help:")
    m1, m2 = st.columns(2)
    m1.metric(
        "Prediction",
        said,
        f"{sure} of the ten answers" if flagged else f"{sure} sure",
        delta_color="off",
        delta_arrow="off",
    )
    if d.label is not None:
        ok = d.label == pred
        tie = said.startswith("tie")  # no single answer: neither right nor wrong
        m2.metric(
            "True label",
            _name(d.label),
            "no single answer" if tie else "correct" if ok else "wrong",
            delta_color="off" if tie else "normal" if ok else "inverse",
        )
    visuals.chart(visuals.probability_chart(probs, trace.class_names, flagged=flagged))
    items = words.item(ckpt.dataset, plural=True)  # digits, or items of clothing
    title = dataset_info(ckpt.dataset).title
    kind = "handwriting" if ckpt.dataset == "mnist" else "photos of clothes"
    st.caption(
        f"Probabilities of **{markdown_safe(ckpt.name)}** ({ckpt.architecture}), calibrated on "
        f"the validation {items} (temperature {predictor.temperature:.2f}): on {title} {items}, "
        "answers given 90% sure were right about 90% of the time. "
        + (
            "That was measured on digits only, so for this picture the bars are just the share "
            "of the ten forced answers, not how likely it is right."
            if flagged
            else f"It was measured on {title}'s {kind}, not on every way of drawing, so treat "
            "it as a good guess."
        )
        + " Open *Layer by layer* to see how it got there."
    )


st.title("Draw & predict")
source = st.radio(
    f"Where does the {_item()} come from?",
    SOURCES,
    format_func=lambda s: s.replace("digit", _item()),
    horizontal=True,
    key="source",
    label_visibility="collapsed",
)
# the canvas, the prediction and the whole network side by side where the page is wide enough
# (1920×1080), else the network wraps under them (looks.BASE_CSS: each part's least width)
row = st.container(horizontal=True, gap="medium", key="draw_row")
left = row.container(key="draw_input")
right = row.container(key="draw_answer")
with left:
    if source == SOURCES[0]:
        digit = draw_source()
    elif source == SOURCES[1]:
        digit = upload_source()
    else:
        digit = test_source()
if digit is not None and digit.key != digits.current_digit().key:
    digits.set_digit(digit)
with right:
    if digit is None:
        st.markdown(f"#### The prediction appears here once there is {words.a(_item())}.")
        st.caption(
            f"Until then every other page explains the last one: {digits.current_digit().source}."
        )
    else:
        show_prediction(digit)
if digit is not None:
    with row.container(key="draw_strip"):
        strip.network_strip(digits.trace_for(model_choice.current_model(), digit), digit.key)
    show_steps(digit)
