"""The sidebar every page of the app shares: dataset switch, model picker, presenter mode.

State lives in ``st.session_state``:

- ``dataset``: ``"mnist"`` or ``"fashion_mnist"`` (the sidebar's dataset switch);
- ``model``: the chosen checkpoint's name (a shipped ``models/*.pt`` stem, a model trained
  live on the Training page, kept in ``live_models``, or an upload);
- ``digit``: the current :class:`~explainer.app.digits.Digit`, the image every page explains;
- ``presenter``: large type for a projector.

What the sidebar offers comes from :mod:`~explainer.app.model_choice` (the models),
:mod:`~explainer.app.digits` (the current digit) and :mod:`~explainer.app.looks` (the CSS).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from explainer.analysis.flowgraph import item_word
from explainer.app import janitor
from explainer.app.digits import current_digit
from explainer.app.looks import BASE_CSS, PRESENTER_CSS, zoom
from explainer.app.model_choice import (
    add_uploaded_checkpoint,
    all_models,
    current_dataset,
    datasets_with_models,
    forget_uploads,
    model_label,
    model_note,
    uploaded_models,
)
from explainer.data import dataset_info
from explainer.errors import ExplainerError
from explainer.text import markdown_safe


def sidebar() -> None:
    """Dataset switch, model picker and presenter mode (in the router, so every page has them),
    at the top where a teacher finds them; the checkpoint uploader folded away below them."""
    st.markdown(BASE_CSS, unsafe_allow_html=True)
    janitor.watch_session()  # this session's memory goes back to the system when it ends
    if "_next_dataset" in st.session_state:  # a new upload's, before the switch is drawn
        st.session_state["dataset"] = st.session_state.pop("_next_dataset")
    with st.sidebar:
        dsets = datasets_with_models() or ["mnist"]
        if len(dsets) > 1:
            st.radio(
                "Dataset",
                dsets,
                format_func=lambda d: dataset_info(d).title,
                key="dataset",
                horizontal=True,
            )
        else:
            st.session_state["dataset"] = dsets[0]
        models = all_models(current_dataset())
        if "_next_model" in st.session_state:
            st.session_state["model"] = st.session_state.pop("_next_model")
        if error := st.session_state.pop("_model_error", None):
            st.error(error)
        if models:
            names = list(models)
            # whole in the box, in either mode (never "fashion_mnist_bn_cnn · 9")
            short = bool(st.session_state.get("presenter"))
            labels = {n: model_label(n, c) for n, c in models.items()}
            if st.session_state.get("model") not in names:
                wanted = os.environ.get("EXPLAINER_APP_MODEL", "")
                wanted = Path(wanted).stem if wanted.endswith(".pt") else wanted
                st.session_state["model"] = wanted if wanted in names else names[0]
            st.selectbox(
                "Model",
                names,
                key="model",
                format_func=labels.get,
                help="Every shipped model (with its test accuracy where there is room) and the "
                "ones you train on the Training page (their names start with live_).",
            )
            # what the box had no room for, on lines that wrap after an underscore of a long
            # name (a zero-width space there), never inside a word
            chosen = st.session_state["model"]
            if note := model_note(chosen, models.get(chosen), short=short):
                st.caption(markdown_safe(note, 300).replace("_", "_\u200b"))
        st.toggle("Presenter mode", key="presenter", help="Large type for a projector.")
        with st.expander("Your own model (for teachers)"):
            upload_checkpoint()
    if st.session_state.get("presenter"):
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)


def upload_checkpoint() -> None:
    """The sidebar's "your own checkpoint" uploader (a ``.pt`` of a registered
    architecture); a new upload becomes the selected model."""
    up = st.file_uploader(
        "Your checkpoint (.pt)",
        type=["pt"],
        key="ckpt_upload",
        help="A checkpoint saved by `explainer train` (any registered architecture). It is "
        "read as plain tensors: nothing in it is run.",
    )
    if up is None:
        held = bool(uploaded_models())
        forget_uploads()  # the file was removed: so are its model and its memory
        if held:  # and the picker drawn above lists it no more: a run from the top
            st.rerun()
        return
    try:
        name = add_uploaded_checkpoint(up.name, up.getvalue())
    except ExplainerError as exc:
        st.warning(markdown_safe(exc, 300))
        return
    if st.session_state.get("_uploaded") != name + str(up.file_id):
        st.session_state["_uploaded"] = name + str(up.file_id)
        # the dataset switch and the model picker are above: set for the next run, then rerun
        st.session_state["_next_dataset"] = uploaded_models()[name].dataset
        st.session_state["_next_model"] = name
        st.rerun()


def sidebar_digit() -> None:
    """The current digit in the sidebar (drawn after the page, so it shows the latest one)."""
    d = current_digit()
    with st.sidebar:
        st.caption(f"Current {item_word(d.dataset)} (every page explains it)")
        st.image(zoom(d.image, 4), caption=d.source, width=112)
