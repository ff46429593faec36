"""One drawing, one "sure": every view shows the same calibrated probability.

The reference is computed here, independently: the model run by torch on the preprocessed
drawing, divided by the temperature read from the checkpoint file itself, then softmax."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from test_app import APP, _canvas_state
from test_app_truth import _charts, _ok, _texts

from explainer.analysis.evaluate import evaluate
from explainer.analysis.flowgraph import verdict
from explainer.animate import build_animation
from explainer.data import load_sample
from explainer.nets.calibration import confidence_text
from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint
from explainer.reading.predict import Predictor
from explainer.reading.preprocess import preprocess
from explainer.tracing.capture import capture_checkpoint
from explainer.tracing.notebook import trace_html

MODEL = "mnist_bn_cnn"


def _rgba(image28: np.ndarray) -> np.ndarray:
    """The 280×280 picture the canvas sends for a 28×28 uint8 drawing."""
    big = np.kron(image28, np.ones((10, 10), np.uint8))
    return np.dstack([big, big, big, np.full_like(big, 255)])


def _reference(image: np.ndarray) -> np.ndarray:
    """softmax(z / T) in float64, T from the file, z from torch."""
    path = resolve_checkpoint(MODEL)
    temperature = torch.load(path, weights_only=True)["calibration"]["temperature"]
    model = load_checkpoint(path).model
    with torch.no_grad():
        z = model(torch.from_numpy(image)[None, None].float())[0].double()
    return torch.softmax(z / temperature, 0).numpy()


@pytest.fixture(scope="module")
def drawing():
    """A bundled digit, drawn on the canvas, that the model is far from sure about (so a view
    that skipped the temperature, or rounded differently, would show another number)."""
    sample = load_sample("mnist")
    best = None
    for i in range(60):
        raw = sample.images[i].numpy()
        img = preprocess(_rgba(raw)).image
        ref = _reference(img)
        score = abs(ref.max() - 0.75)
        if best is None or score < best[0]:
            best = (score, raw, img, ref, i)
    _, raw, img, ref, index = best
    assert 0.3 < ref.max() < 0.97, ref.max()
    return raw, img, ref, index


def test_the_library_views_show_the_reference(drawing):
    raw, img, ref, _ = drawing
    ckpt = load_checkpoint(MODEL)
    trace = capture_checkpoint(ckpt, img)
    np.testing.assert_allclose(trace.probs, ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(Predictor(ckpt).predict(_rgba(raw)).probs, ref, atol=1e-6)
    text = confidence_text(float(ref.max()))
    assert trace.confidence_text == text
    assert text in trace_html(trace)
    assert text in trace.summary()
    assert text in verdict(trace.probs, trace.class_names).text  # the GIFs' verdict line
    for kind in ("forward", "dataflow"):  # the answer the GIFs draw
        reel = build_animation(kind, trace, fps=4, size=(320, 180), pace="readme")
        assert text in reel.meta["answer"].text, (kind, reel.meta["answer"].text)


def test_an_evaluation_shows_the_reference_for_every_test_digit():
    ev = evaluate(MODEL, sample_only=True)
    images = load_sample("mnist").floats()[:40, 0].numpy()
    refs = np.stack([_reference(img) for img in images])
    np.testing.assert_allclose(ev.probs[:40], refs, rtol=1e-4, atol=1e-6)
    unsure = int(refs.max(1).argmin())  # where the temperature shows most
    assert confidence_text(float(ev.probs[unsure].max())) == confidence_text(refs[unsure].max())


def test_the_command_line_prints_the_same_sure(drawing, tmp_path):
    raw, _, ref, _ = drawing
    png = tmp_path / "drawing.png"
    buf = io.BytesIO()
    Image.fromarray(_rgba(raw), "RGBA").save(buf, format="PNG")
    png.write_bytes(buf.getvalue())
    out = subprocess.run(
        [sys.executable, "-m", "explainer", "predict", str(png), "--model", MODEL],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert confidence_text(float(ref.max())) in out.stdout, out.stdout


@pytest.mark.parametrize(
    "page", ["explainer/app/draw.py", "explainer/app/lesson.py", "explainer/app/compare.py"]
)
def test_every_app_page_shows_the_same_sure(drawing, page):
    from streamlit.testing.v1 import AppTest

    raw, _, ref, _ = drawing
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset"] = "mnist"
    at.session_state["model"] = MODEL
    at.run()
    at.switch_page("explainer/app/draw.py").run()
    at.session_state["canvas"] = _canvas_state(raw)
    at.run()
    _ok(at)
    assert at.session_state["digit"].source == "your drawing"
    if page != "explainer/app/draw.py":
        at.switch_page(page).run()
        _ok(at)
    text = confidence_text(float(ref.max()))
    if page == "explainer/app/draw.py":  # the answer's own "sure", not only the strip's
        shown = [f"{m.label} {m.value} {m.delta}" for m in at.metric]
        sure = [s for s in shown if "%" in s]
        assert sure and all(text in s for s in sure), (text, shown)
    seen = []
    for _ in range(40):  # the lesson: walk its steps until the one with the answer
        seen.append(" | ".join([*_texts(at), *(str(m.delta) for m in at.metric)]))
        charted = [
            float(row[key]) for _, rows in _charts(at) for row in rows for key in row
            if "prob" in str(key).lower()
        ]  # fmt: skip
        if text in seen[-1] or any(abs(p - ref.max()) < 1e-6 for p in charted):
            return
        nxt = [b for b in at.button if b.label == "Next ▶" and not b.disabled]
        if not nxt:
            break
        nxt[0].click().run()
        _ok(at)
    pytest.fail(f"{page} never shows {text}: " + " || ".join(seen)[:2000])
