"""The app's Predictor (a checkpoint's calibration and its not-a-digit detector, read from
``models/not_a_digit.npz``) is built once per checkpoint, not on every rerun: reruns of Draw &
predict, Layer by layer, the Lesson and the preprocessing page reuse it. Sessions that uploaded
the same bytes run one copy of the weights through it, and that copy is freed with the last
session, Predictors and all."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from test_app import APP, _canvas_state, _page_ok, _uploader

from explainer.data import load_sample

PAGES = ["layers", "lesson", "preprocessing", "draw"]
JUDGING = ["layers", "preprocessing", "draw"]  # the Lesson judges on its answer step only


@pytest.fixture
def counts(monkeypatch) -> dict[str, int]:
    """How many Predictors were built, detector files read and verdicts asked for."""
    from explainer.nets import not_a_digit
    from explainer.reading import predict

    counts = {"built": 0, "read": 0, "asked": 0}
    init, load, ask = (
        predict.Predictor.__init__,
        not_a_digit.load_companion,
        predict.Predictor.not_a_digit,
    )

    def counted(key, fn):
        def wrapper(*args, **kwargs):
            counts[key] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(predict.Predictor, "__init__", counted("built", init))
    monkeypatch.setattr(not_a_digit, "load_companion", counted("read", load))
    monkeypatch.setattr(predict.Predictor, "not_a_digit", counted("asked", ask))
    return counts


def test_reruns_and_pages_reuse_one_predictor(counts):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model"] = "mnist_fast_cnn"
    at.session_state["canvas"] = _canvas_state(load_sample("mnist").images[3].numpy())
    at.run()  # a drawing: every page judges it
    _page_ok(at)
    first = dict(counts)  # the shipped model's Predictor: built here, or by an earlier test
    assert first["built"] <= 1 and first["read"] <= 1
    at.run().run()
    for page in PAGES:
        at.switch_page(f"explainer/app/{page}.py").run().run()
        _page_ok(at)
    assert counts["asked"] >= first["asked"] + 2 + 2 * len(JUDGING), "the pages stopped judging"
    assert counts["built"] == first["built"], "a Predictor was built again on a rerun"
    assert counts["read"] == first["read"], "the detector file was read again on a rerun"


def _session(name: str, data: bytes) -> AppTest:
    """A browser session that uploaded ``data`` as ``name`` and opened Layer by layer."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model"] = "mnist_fast_cnn"
    at.run()
    _uploader(at).set_value((name, data, "application/octet-stream"))
    at.run()
    at.switch_page("explainer/app/layers.py").run()
    _page_ok(at)
    return at


def test_an_uploads_predictor_runs_the_shared_model_and_goes_with_the_last_session(
    good_payload, tmp_path, counts
):
    from explainer.app import model_choice

    # bytes no other test uploads: an earlier test's session may still hold its own upload
    own = {**good_payload, "metrics": {**good_payload["metrics"], "test_accuracy": 0.7913}}
    torch.save(own, tmp_path / "made.pt")
    data = (tmp_path / "made.pt").read_bytes()
    a, b = _session("mine.pt", data), _session("copy.pt", data)
    ckpt_a = a.session_state["uploaded_models"]["mine (uploaded)"]
    ckpt_b = b.session_state["uploaded_models"]["copy (uploaded)"]
    built = counts["built"]
    pred_a, pred_b = model_choice.predictor(ckpt_a), model_choice.predictor(ckpt_b)
    assert counts["built"] == built, "the pages had not built the uploads' Predictors"
    assert pred_a.model is pred_b.model is ckpt_a.model  # one copy of the weights
    model, predictor = weakref.ref(ckpt_a.model), weakref.ref(pred_a)
    del ckpt_a, ckpt_b, pred_a, pred_b
    del a
    gc.collect()
    assert model() is not None  # the second session still runs it
    del b
    gc.collect()
    assert predictor() is None, "an ended session's Predictor is still held"
    assert model() is None, "an ended session's uploaded model is still held"
