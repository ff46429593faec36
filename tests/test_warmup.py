"""explainer.app.warmup: the background warm-up runs each task once, in order, says how far it is,
and fills the results cache so the app's slow pages then read it without running the model
over the test digits again (the library's functions are counted)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("streamlit")
import streamlit as st
from streamlit.testing.v1 import AppTest

import explainer.analysis.embedding_map
import explainer.analysis.evaluate
import explainer.analysis.top_digits
from explainer.analysis.snapshots import snapshot_paths
from explainer.app import warmup
from explainer.nets.checkpoints import load_checkpoint, models_dir

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
SLOW_PAGES = ["mistakes", "filters", "training"]


def _task(name: str, ran: list, *, fail: bool = False, gate: threading.Event | None = None):
    def run() -> None:
        if gate is not None:
            assert gate.wait(30)
        ran.append(name)
        if fail:
            raise ValueError(f"{name} broke")

    return warmup.Task(name, f"doing {name}", run)


def _until(cond, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_tasks_run_once_in_order_and_say_how_far_they_are():
    w = warmup.Warmup(nice=0)
    assert w.progress().finished and w.progress().fraction == 1.0
    ran: list[str] = []
    gate = threading.Event()
    assert w.submit([_task("a", ran, gate=gate), _task("b", ran), _task("c", ran, fail=True)]) == 3
    _until(lambda: w.progress().current == "doing a")
    p = w.progress()
    assert (p.done, p.total, p.finished) == (0, 3, False)
    assert p.text() == "Preparing the pages (1/3): doing a…"
    assert w.submit([_task("b", ran), _task("d", ran)], first=True) == 1  # b is queued already
    assert not w.wait(0.05)
    gate.set()
    assert w.wait(30)
    assert ran == ["a", "d", "b", "c"]  # d (submitted first=True) went ahead of b and c
    p = w.progress()
    assert (p.done, p.total, p.fraction) == (4, 4, 1.0) and p.failed == ["doing c: c broke"]
    assert w.submit([_task("a", ran)]) == 0  # never twice
    assert w.submit([_task("e", ran)]) == 1 and w.wait(30)
    assert (w.progress().done, w.progress().total) == (1, 1)  # a new round counts from zero


def test_app_tasks_cover_the_slow_pages_most_needed_first():
    path = models_dir() / "mnist_bn_cnn.pt"
    if not path.exists():
        pytest.skip(f"{path} has not been trained yet (make models)")
    ckpt = load_checkpoint(path)
    snaps = snapshot_paths(ckpt, final=False, strict=False)
    assert len(snaps) >= 2
    convs = [n for n, m in ckpt.model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    keys = [t.key.split("|", 1)[1] if t.key.startswith(ckpt.sha256) else t.key
            for t in warmup.app_tasks(ckpt, snaps, top_k=6, embed_n=2000)]  # fmt: skip
    want = ["data|mnist", "evaluate", f"top|{convs[0]}|6", "emb|pca|2000"]
    want += [f"snap|{p}|{p.stat().st_mtime_ns}" for p in [snaps[-1], *snaps[:-1]]]
    want += [f"top|{c}|6" for c in convs[1:]] + ["emb|tsne|2000"]
    assert keys == want
    ckpt.path = None  # a model trained in the app: nothing to keep on disk
    assert warmup.app_tasks(ckpt, snaps) == []


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """The app on the bundled digits, a fresh cache folder, a fresh warm-up, and no result
    of an earlier test in Streamlit's memory caches."""
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("EXPLAINER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EXPLAINER_WARMUP", "1")
    monkeypatch.syspath_prepend(str(ROOT))
    from explainer.app import launch

    fresh = warmup.Warmup(nice=0)
    monkeypatch.setattr(warmup, "WARMUP", fresh)
    monkeypatch.setattr(launch, "_started", set())
    st.cache_resource.clear()
    st.cache_data.clear()
    yield fresh
    st.cache_resource.clear()
    st.cache_data.clear()


def _count_calls(monkeypatch) -> list[str]:
    """Count every call of the slow library functions (they still run)."""
    calls: list[str] = []
    for module, name in [(explainer.analysis.evaluate, "evaluate"), (explainer.analysis.top_digits,
    "top_activating"),
                         (explainer.analysis.embedding_map, "embedding")]:  # fmt: skip
        original = getattr(module, name)

        def counted(*args, _f=original, _n=name, **kwargs):
            calls.append(_n)
            return _f(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls


def _app(model: str = "mnist_fast_cnn") -> AppTest:
    if not (models_dir() / f"{model}.pt").exists():
        pytest.skip(f"{model} has not been trained yet (make models)")
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["model"] = model
    return at.run()


def test_the_app_warms_up_then_its_slow_pages_do_not_recompute(app_env, tmp_path, monkeypatch):
    at = _app()
    assert not at.exception
    assert app_env.progress().total >= 6  # the router started it on the first run
    assert sys.modules["explainer.app.warmup"].WARMUP is app_env
    assert app_env.wait(900), app_env.progress()
    assert app_env.progress().failed == []
    ckpt = load_checkpoint(models_dir() / "mnist_fast_cnn.pt")
    kinds = sorted(p.name.split("-")[0] for p in (tmp_path / "cache" / ckpt.sha256).glob("*.npz"))
    n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in ckpt.model.modules())
    assert kinds == ["embedding.v2"] * 2 + ["evaluate.v2"] + ["top_activating.v2"] * n_conv
    ref = explainer.analysis.evaluate.evaluate(ckpt)

    st.cache_resource.clear()  # a new process: only the files remain
    st.cache_data.clear()
    calls = _count_calls(monkeypatch)
    for page in SLOW_PAGES:
        at.switch_page(f"explainer/app/{page}.py").run()
        assert not at.exception, (page, at.exception)
    assert calls == []
    at.switch_page("explainer/app/mistakes.py").run()
    assert next(m.value for m in at.metric if m.label == "Accuracy") == f"{ref.accuracy:.2%}"
    at.switch_page("explainer/app/filters.py").run()
    at.radio(key="flt_method").set_value("t-SNE").run()
    assert not at.exception and calls == []


def test_without_the_warm_up_the_pages_compute(app_env, monkeypatch):
    """The control: the counting above does see a page that computes."""
    monkeypatch.setenv("EXPLAINER_WARMUP", "0")
    at = _app()
    assert app_env.progress().total == 0
    calls = _count_calls(monkeypatch)
    at.switch_page("explainer/app/mistakes.py").run()
    assert not at.exception
    assert calls == ["evaluate"]


def test_a_render_reports_every_frame_and_writes_the_same_file(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from explainer.animate import build_animation
    from explainer.animate.writer import save
    from explainer.app.launch import _ReportingReel
    from explainer.data import load_sample
    from explainer.tracing.capture import capture_checkpoint

    path = models_dir() / "mnist_fast_cnn.pt"
    if not path.exists():
        pytest.skip(f"{path} has not been trained yet (make models)")
    trace = capture_checkpoint(load_checkpoint(path), load_sample().images[0].numpy())
    reel = build_animation("forward", trace, seconds=8, size=(320, 180))
    seen: list[tuple[int, int]] = []
    reported = _ReportingReel(reel, lambda done, total: seen.append((done, total)))
    for name in ("plain.gif", "reported.gif", "reported.mp4"):
        save(reel if name == "plain.gif" else reported, tmp_path / name)
    n = reel.n_frames
    assert seen == ([(i, n) for i in range(n)] + [(n, n)]) * 2  # the GIF, then the MP4
    assert (tmp_path / "plain.gif").read_bytes() == (tmp_path / "reported.gif").read_bytes()


def test_the_export_page_shows_the_render_steps(app_env, monkeypatch):
    monkeypatch.setenv("EXPLAINER_WARMUP", "0")
    at = _app()
    at.switch_page("explainer/app/export.py").run()
    at.selectbox(key="exp_kind").set_value("mistakes").run()
    next(b for b in at.button if b.label == "Render").click().run()
    assert not at.exception
    (status,) = at.get("status")
    assert status.label.startswith("Rendered in ")
    steps = [m.value for m in status.get("markdown")]
    assert steps == ["Preparing the numbers the animation shows…", "Drawing the pictures…"]
    (bar,) = status.get("progress")
    assert bar.value == 100
    assert next(s.value for s in at.success).endswith(" s")


def test_a_held_warm_up_starts_no_task_until_released():
    w = warmup.Warmup(nice=0)
    ran: list[str] = []
    w.hold()
    w.hold()  # two holders: both must let go
    w.submit([_task("a", ran), _task("b", ran)])
    assert not w.wait(0.3) and ran == []
    w.release()
    assert not w.wait(0.3) and ran == []
    w.release()
    assert w.wait(30) and ran == ["a", "b"]


def test_the_apps_first_page_holds_the_warm_up_and_only_the_first(monkeypatch):
    from explainer.app import launch

    w = warmup.Warmup(nice=0)
    monkeypatch.setattr(warmup, "WARMUP", w)
    monkeypatch.setattr(launch, "_first_page_shown", False)
    ran: list[str] = []
    with launch.first_page_first():
        w.submit([_task("a", ran)])
        assert not w.wait(0.3) and ran == []  # the page is being drawn: the task waits
    assert w.wait(30) and ran == ["a"]
    with launch.first_page_first():  # later runs hold nothing
        w.submit([_task("b", ran)])
        assert w.wait(30) and ran == ["a", "b"]
