"""The app against hostile uploads: checkpoints made from a good one with one field of metadata
damaged at a time. Each is refused in the sidebar with one line that names the upload (never a
server path), and the session stays usable: the pages run, a good upload still works, removing
the file drops the model and the memory it held."""

from __future__ import annotations

import gc
import math
import tempfile
import weakref

import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from test_app import APP, _page_ok, _uploader
from test_hostile_fields import CHECKPOINT_DAMAGE


def _bytes(payload: dict, tmp_path) -> bytes:
    path = tmp_path / "made.pt"
    torch.save(payload, path)
    return path.read_bytes()


# (what is damaged, the change); each was a crash of every page, or of one, before
UPLOAD_DAMAGE = [
    ("accuracy past a float", {"metrics": {"test_accuracy": 10**400}}),
    ("accuracy NaN", {"metrics": {"test_accuracy": math.nan}}),
    ("accuracy negative", {"metrics": {"test_accuracy": -3.0}}),
    ("accuracy above one", {"metrics": {"test_accuracy": 7.0}}),
    ("per-class accuracy short", {"metrics": {"per_class_accuracy": [0.5]}}),
    ("per-class accuracy long", {"metrics": {"per_class_accuracy": [0.5] * 1000}}),
    ("errors past a float", {"metrics": {"test_errors": 10**30}}),
    ("history epoch huge", {"history": [{"epoch": 10**30, "train_loss": 0.1}]}),
    ("history value past a float", {"history": [{"epoch": 1, "train_loss": 10**400}]}),
    ("history rows", {"history": [{"epoch": 1}] * 100_001}),
    ("epoch huge", {"epoch": 10**30}),
    ("best epoch huge", {"best_epoch": 10**30}),
    ("temperature text", {"calibration": {"temperature": "hot"}}),
    ("temperature past a float", {"calibration": {"temperature": 10**400}}),
    ("dataset unknown", {"dataset": "cifar10"}),
    ("dataset a path", {"dataset": "../../etc/passwd"}),
    ("architecture a format code", {"architecture": "{0}%s"}),
    ("arguments unknown", {"arch_kwargs": {"bogus": 1}}),
    ("own class", {"model_class": "os:system"}),
    ("history without epoch", {"history": [{"train_loss": 0.3}]}),
    ("metrics nested deep", {"metrics": {"x": [[[[0.1]]]]}}),
    ("class names too few", {"class_names": ["a", "b"]}),
    ("not a checkpoint", {"format": "something else"}),
]
UPLOAD_DAMAGE += [(f"load: {name}", change) for name, _, change in CHECKPOINT_DAMAGE]


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model"] = "mnist_fast_cnn"
    return at.run()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    _uploader(at).set_value((name, data, "application/octet-stream"))
    return at.run()


def _refusal(at: AppTest) -> str:
    assert not at.exception, at.exception[0].value
    said = [w.value for w in at.warning]
    assert len(said) == 1, said
    return said[0].replace("\\", "")  # as the learner reads it: Markdown escapes undone


@pytest.mark.parametrize(("change"), [d[1] for d in UPLOAD_DAMAGE],
                         ids=[d[0] for d in UPLOAD_DAMAGE])  # fmt: skip
def test_a_damaged_upload_is_refused_in_one_line_and_the_pages_still_run(
    good_payload, tmp_path, change
):
    at = _upload(_app(), "mine.pt", _bytes({**good_payload, **change}, tmp_path))
    said = _refusal(at)
    assert "\n" not in said and "mine" in said, said
    assert tempfile.gettempdir() not in said and str(tmp_path) not in said, said
    assert "mine (uploaded)" not in at.selectbox(key="model").options
    assert at.selectbox(key="model").value == "mnist_fast_cnn"
    for page in ("layers", "compare"):
        at.switch_page(f"explainer/app/{page}.py").run()
        _page_ok(at)


def test_the_undamaged_copy_is_taken(good_payload, tmp_path):
    """The generator itself breaks nothing: the same payload saved again is accepted."""
    at = _upload(_app(), "mine.pt", _bytes(dict(good_payload), tmp_path))
    assert not at.warning and not at.exception
    assert at.selectbox(key="model").value == "mine (uploaded)"
    for page in ("compare", "training", "lesson"):
        at.switch_page(f"explainer/app/{page}.py").run()
        _page_ok(at)


def test_after_a_bad_upload_a_good_one_works(good_payload, tmp_path):
    bad = _bytes({**good_payload, "metrics": {"test_accuracy": 10**400}}, tmp_path)
    at = _upload(_app(), "bad.pt", bad)
    _refusal(at)
    at = _upload(at, "good.pt", _bytes(dict(good_payload), tmp_path))
    assert not at.warning and not at.exception
    assert at.selectbox(key="model").value == "good (uploaded)"


def _uploaded(at: AppTest) -> dict:
    state = at.session_state  # no .get on the test harness's session state
    return state["uploaded_models"] if "uploaded_models" in state else {}  # noqa: SIM401


def test_removing_the_file_drops_the_model_and_its_memory(good_payload, tmp_path):
    # bytes no other test uploads: sessions uploading the same bytes share one model, and an
    # earlier test's session may still be alive
    own = {**good_payload, "metrics": {**good_payload["metrics"], "test_accuracy": 0.8731}}
    at = _upload(_app(), "mine.pt", _bytes(own, tmp_path))
    gone = weakref.ref(_uploaded(at)["mine (uploaded)"].model)
    _uploader(at).set_value(None)
    at.run()
    assert not at.exception
    assert "mine (uploaded)" not in at.selectbox(key="model").options
    assert not _uploaded(at)
    gc.collect()
    assert gone() is None, "the removed upload's model is still held"


def test_one_session_keeps_at_most_three_uploads(good_payload, tmp_path):
    from explainer.app.model_choice import MAX_UPLOADS

    at = _app()
    for i in range(MAX_UPLOADS + 2):
        payload = {**good_payload, "metrics": {"test_accuracy": 0.5 + i / 100}}  # other bytes
        at = _upload(at, f"m{i}.pt", _bytes(payload, tmp_path))
        assert not at.warning and not at.exception
    kept = list(_uploaded(at))
    assert kept == [f"m{i} (uploaded)" for i in range(2, MAX_UPLOADS + 2)]
    assert "m0 (uploaded)" not in at.selectbox(key="model").options


def test_an_upload_past_the_size_limit_is_refused_before_it_is_read(good_payload, tmp_path):
    from explainer.app.model_choice import MAX_CHECKPOINT_BYTES

    at = _upload(_app(), "huge.pt", b"PK" + bytes(MAX_CHECKPOINT_BYTES))
    said = _refusal(at)
    assert "huge" in said and "10.0 MB" in said and "up to 10 MB" in said and "\n" not in said
    assert "huge (uploaded)" not in at.selectbox(key="model").options
