"""The not-a-digit verdict on every page: one warning, said first, in the words of
:func:`explainer.reading.predict.verdict_text` (the Draw page's and ``explainer predict``'s)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer.app import digits, model_choice, words
from explainer.nets.checkpoints import Checkpoint


def why_flagged(ckpt: Checkpoint, d: digits.Digit) -> str:
    """Why the picture ``d.image`` ``(28, 28)`` does not look like a digit through ``ckpt``'s
    rule ("" when it does, and always "" for a model of clothes)."""
    if model_choice.current_dataset() != "mnist":
        return ""
    stroke = st.session_state.get("_prep_stroke", {}).get(d.key)  # the Draw page measured it
    strokes = None if stroke is None else np.array([stroke])
    return model_choice.predictor(ckpt).not_a_digit(d.image[None], strokes)[0]


def say_first(ckpt: Checkpoint, d: digits.Digit, probs: np.ndarray, names: list[str]) -> bool:
    """Warn, when the picture is flagged, with the forced answer of ``probs`` ``(classes,)``;
    ``True`` when it was (the page then greys its probability bars)."""
    from explainer.reading.predict import verdict_text

    why = why_flagged(ckpt, d)
    if why:
        said, _ = words.answer(probs, names)
        st.warning(verdict_text(said, why, bold=True), icon=":material/help:")
    return bool(why)
