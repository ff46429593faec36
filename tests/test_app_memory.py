"""The app's memory across sessions: an upload's weights and results are shared by the sessions
that hold the same file and freed with the last of them; passes over the whole test set run
one at a time however many sessions ask. (bench/bench_memory.py measures a real server.)"""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref

import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from test_app import APP, _page_ok, _uploader


@pytest.fixture
def upload_bytes(good_payload, tmp_path) -> bytes:
    path = tmp_path / "made.pt"
    torch.save(dict(good_payload), path)
    return path.read_bytes()


def _session(name: str, data: bytes) -> AppTest:
    """A new browser session that uploaded ``data`` as ``name`` and then opened Mistakes (the
    upload's evaluation over the test set)."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["model"] = "mnist_fast_cnn"
    at.run()
    _uploader(at).set_value((name, data, "application/octet-stream"))
    at.run()
    assert at.selectbox(key="model").value == f"{name[:-3]} (uploaded)"
    at.switch_page("explainer/app/mistakes.py").run()
    _page_ok(at)
    return at


def _held(at: AppTest) -> dict:
    return at.session_state["_held_results"]


def test_an_upload_is_shared_by_the_sessions_holding_it_and_freed_with_the_last(
    upload_bytes, tmp_path, monkeypatch
):
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))  # the 500 bundled
    a = _session("mine.pt", upload_bytes)
    b = _session("copy.pt", upload_bytes)  # another learner, the same file under another name
    model_a = a.session_state["uploaded_models"]["mine (uploaded)"].model
    model_b = b.session_state["uploaded_models"]["copy (uploaded)"].model
    assert model_a is model_b  # one copy of the weights
    (ev_a,), (ev_b,) = _held(a).values(), _held(b).values()
    assert ev_a is ev_b  # evaluated once, for both
    assert ev_a.checkpoint.model is model_a and len(ev_a.labels) == 500
    model, evaluation = weakref.ref(model_a), weakref.ref(ev_a)
    del model_a, model_b, ev_a, ev_b
    del a  # the first session ends: the second still holds both
    gc.collect()
    assert model() is not None and evaluation() is not None
    del b  # the last one ends
    gc.collect()
    assert evaluation() is None, "an ended session's evaluation is still held"
    assert model() is None, "an ended session's uploaded model is still held"


def test_passes_over_the_test_set_run_one_at_a_time():
    from explainer.app import compute

    running, most, guard = [0], [0], threading.Lock()

    def work() -> None:
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with guard:
            running[0] -= 1

    threads = [threading.Thread(target=compute.one_heavy_pass, args=(work,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == compute.HEAVY_AT_ONCE == 1


def test_an_ended_session_sets_off_the_release(upload_bytes, tmp_path, monkeypatch):
    from explainer.app import janitor

    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setattr(janitor, "DELAY_S", 0.1)
    at = _session("mine.pt", upload_bytes)
    before = janitor.released
    time.sleep(0.5)
    assert janitor.released == before  # nothing while the session lives
    del at
    gc.collect()
    deadline = time.monotonic() + 10
    while janitor.released == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert janitor.released == before + 1


def _rss_mb() -> float:
    psutil = pytest.importorskip("psutil")
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_gives_freed_heap_pages_back_to_the_system():
    """Memory freed in the middle of the heap (what is left when a session's objects go
    while others stay) is not returned by itself; after release() it is."""
    from explainer.app import janitor

    def churn(kept: list) -> None:  # in a thread, as a page script runs: its own arena
        blocks = [bytes(10_000) + bytes([i % 256]) for i in range(20_000)]  # ~200 MB
        kept.extend(blocks[::10])

    kept: list = []
    worker = threading.Thread(target=churn, args=(kept,))
    worker.start()
    worker.join()
    gc.collect()
    held = _rss_mb()
    janitor.release()
    assert held - _rss_mb() > 100, "the freed pages were not handed back"
    assert len(kept) == 2000


def test_models_trained_here_never_share_a_key():
    """A result held for a freed model must not be handed to a new one at the same address."""
    from explainer.app.model_choice import model_key
    from explainer.nets.checkpoints import Checkpoint

    keys = []
    for _ in range(50):
        ckpt = Checkpoint(model=torch.nn.Linear(1, 1), architecture="x", dataset="mnist",
                          class_names=[])  # fmt: skip
        keys.append(model_key(ckpt))
        del ckpt
    assert len(set(keys)) == 50
