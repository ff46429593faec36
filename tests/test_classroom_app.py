"""The app as a class meets it: the drawing stays the learner's across pages and lesson steps,
the words fit the dataset, and every page's text says what its own numbers show. Driven
headless with AppTest against the shipped models and the bundled sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from test_app import APP, _canvas_state
from test_app_truth import _elements, _ok, _texts

from explainer.data import load_sample
from explainer.reading.preprocess import preprocess


def _start(model: str = "mnist_fast_cnn", dataset: str = "mnist") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset"] = dataset
    at.session_state["model"] = model
    return at.run()


def _canvas_data(at: AppTest) -> dict:
    """What the page hands the drawing canvas component (its ``initialDrawing`` among it)."""
    found = [e for e in _elements(at._tree) if getattr(e, "type", "") == "bidi_component"]
    assert len(found) == 1, f"{len(found)} canvases on the page"
    return json.loads(found[0].proto.json)


def _drawn_pixels(image28: np.ndarray) -> np.ndarray:
    """The 28×28 the preprocessing makes of :func:`_canvas_state`'s canvas (the reference)."""
    big = np.kron(image28, np.ones((10, 10), np.uint8))
    return preprocess(np.dstack([big, big, big, np.full_like(big, 255)])).image


# --- 1. the drawing is the learner's until they clear it --------------------------------------


def test_a_drawing_survives_other_pages_and_lesson_steps():
    at = _start()
    img = load_sample("mnist").images[3].numpy()
    at.session_state["canvas"] = _canvas_state(img)
    at.run()
    expected = _drawn_pixels(img)
    strokes = at.session_state["canvas"]["drawing"]["raw"]["objects"]
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)

    at.switch_page("explainer/app/lesson.py").run()
    _ok(at)
    at.button(key="lesson_next").click().run()
    at.button(key="lesson_prev").click().run()
    _ok(at)
    assert at.session_state["lesson_at"] == 0
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)

    at.switch_page("explainer/app/draw.py").run()
    _ok(at)
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)
    assert _canvas_data(at)["initialDrawing"]["objects"] == strokes  # the canvas shows it again
    assert not any("canvas is empty" in t for t in _texts(at))
    assert [m for m in at.metric if m.label == "Prediction"]  # and it is still predicted


def test_a_lesson_drawing_survives_next_then_previous():
    at = _start()
    at.switch_page("explainer/app/lesson.py").run()
    img = load_sample("mnist").images[8].numpy()
    at.session_state["lesson_canvas"] = _canvas_state(img)
    at.run()
    _ok(at)
    expected = _drawn_pixels(img)
    strokes = at.session_state["lesson_canvas"]["drawing"]["raw"]["objects"]
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)
    at.button(key="lesson_next").click().run()
    assert "lesson_canvas" not in at.session_state  # the canvas is gone on step 2
    at.button(key="lesson_prev").click().run()
    _ok(at)
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)
    assert _canvas_data(at)["initialDrawing"]["objects"] == strokes


def test_clear_ends_the_drawing_and_a_newer_drawing_elsewhere_wins():
    at = _start()
    sample = load_sample("mnist").images
    at.session_state["canvas"] = _canvas_state(sample[3].numpy())
    at.run()
    at.button(key="canvas_clear").click().run()
    at.session_state["canvas"] = {"drawing": {"raw": {"objects": []}, "data": None}}
    at.run()  # what the canvas sends once cleared
    at.switch_page("explainer/app/lesson.py").run()
    at.switch_page("explainer/app/draw.py").run()
    assert _canvas_data(at)["initialDrawing"]["objects"] == []
    assert any("canvas is empty" in t for t in _texts(at))

    at.session_state["canvas"] = _canvas_state(sample[3].numpy())
    at.run()
    at.switch_page("explainer/app/lesson.py").run()
    at.session_state["lesson_canvas"] = _canvas_state(sample[8].numpy())
    at.run()
    newer = _drawn_pixels(sample[8].numpy())
    at.switch_page("explainer/app/draw.py").run()  # the Draw canvas's older drawing is dropped
    np.testing.assert_array_equal(at.session_state["digit"].image, newer)
    assert _canvas_data(at)["initialDrawing"] is None or not _canvas_data(at)["initialDrawing"].get(
        "objects"
    )
