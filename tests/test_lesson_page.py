"""The lesson page "Why preprocessing matters": the learner's digit through a plain resize and
through each step, an answer under each, and every step switchable off."""

from __future__ import annotations

import numpy as np
from test_app import _app, _canvas_state

from explainer.data import load_sample
from explainer.reading.preprocess import STEP_NAMES, SWITCHABLE


def _lesson_with_a_drawing():
    at = _app()
    img = load_sample("mnist").images[3].numpy()
    at.session_state["canvas"] = _canvas_state(np.pad(img[4:24, 4:24], 4))
    at.run()
    at.switch_page("explainer/app/preprocessing.py").run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    return at


def test_lesson_shows_plain_resize_and_every_step_with_an_answer():
    at = _lesson_with_a_drawing()
    assert at.title[0].value == "Why preprocessing matters"
    text = " ".join(m.value for m in at.markdown)
    assert "plain resize" in text
    assert text.count("sure") >= len(STEP_NAMES) + 1  # an answer under every picture
    assert sum(t.key.startswith("prep_") for t in at.toggle) == len(SWITCHABLE)


def test_switching_a_step_off_marks_it_and_reruns():
    at = _lesson_with_a_drawing()
    at.toggle(key="prep_centred").set_value(False).run()
    assert not at.exception
    assert "(off)" in " ".join(m.value for m in at.markdown)


def test_lesson_without_a_drawing_explains_what_to_do():
    at = _app()
    at.switch_page("explainer/app/preprocessing.py").run()
    assert not at.exception and at.info
