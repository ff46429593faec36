"""The app's Export page offers the chosen model's web page as a .zip, and says in one line
when it cannot. Driven headless with AppTest; the zip's network is checked against the model
itself (onnxruntime on a digit, against torch's logits), not against the exporter."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from test_app import APP
from test_app_truth import _elements

from explainer.data import load_sample
from explainer.nets.checkpoints import checkpoint_of, load_checkpoint

WEB = "Web page (runs in the browser)"


def _export_page(model: str = "mnist_fast_cnn", live: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset"] = "mnist"
    if live:
        at.session_state["live_models"] = live
    at.session_state["model"] = model
    at.run()
    return at.switch_page("explainer/app/export.py").run()


def _ok(at: AppTest) -> None:
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert not at.error, at.error[0].value if at.error else ""


def _build(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Build the web page").click().run()
    _ok(at)


def _downloads(at: AppTest) -> list:
    return [e for e in _elements(at._tree) if getattr(e, "type", "") == "download_button"]


def _window_value(script: str, name: str) -> dict:
    prefix = f"window.{name} = "
    assert script.startswith(prefix)
    return json.loads(script[len(prefix) :].rstrip().rstrip(";"))


def test_the_web_page_of_a_shipped_model_downloads_as_a_zip_that_computes_the_model(
    monkeypatch,
):
    onnxruntime = pytest.importorskip("onnxruntime")
    import explainer.webpage.exporter as exporter

    builds = []
    real = exporter.export_page
    monkeypatch.setattr(exporter, "export_page", lambda *a, **k: builds.append(1) or real(*a, **k))
    at = _export_page()
    assert at.radio(key="exp_what").value == "Animation (GIF or MP4)"  # the page's default
    at.radio(key="exp_what").set_value(WEB).run()
    _ok(at)
    assert not _downloads(at)  # nothing is built before it is asked for
    assert any("GitHub Pages" in c.value for c in at.caption)
    _build(at)
    assert not at.warning, at.warning[0].value
    done = at.session_state["web_export"]
    assert done["name"] == "mnist_fast_cnn_page.zip" and len(done["data"]) < 20 * 2**20
    assert len(_downloads(at)) == 1
    with zipfile.ZipFile(io.BytesIO(done["data"])) as zf:
        names = set(zf.namelist())
        assert {"index.html", "model.js", "runtime.js", "page.js"} <= names
        assert "<canvas" in zf.read("index.html").decode("utf-8")
        model_js = zf.read("model.js").decode("utf-8")
    graph = base64.b64decode(_window_value(model_js, "EXPLAINER_MODEL")["onnx"])
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    digit = load_sample().floats()[5:6]
    values = session.run(None, {"x": digit.numpy()})
    with torch.no_grad():
        want = load_checkpoint("mnist_fast_cnn").model(digit)[0].numpy()
    assert np.abs(values[-1].reshape(-1) - want).max() <= 1e-4
    built = len(builds)
    assert built <= 1  # once (none when an earlier test of this process built it)
    _build(at)  # asked again, and on every rerun: the cached zip, not a new export
    at.run()
    assert len(builds) == built and len(_downloads(at)) == 1


class MedianNet(nn.Module):
    """Centres the digit on its median: capture and the app take it, the page cannot."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 26 * 26, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.median()
        return self.fc(torch.flatten(F.relu(self.conv(x)), 1))


def test_a_model_the_page_cannot_compute_is_one_line_naming_the_operation():
    torch.manual_seed(0)
    live = {"median_net": checkpoint_of(MedianNet())}
    at = _export_page("median_net", live)
    at.radio(key="exp_what").set_value(WEB).run()
    _build(at)
    (said,) = [w.value for w in at.warning]
    assert said.startswith("Could not export the page: ") and "\n" not in said
    assert "median" in said
    assert not _downloads(at) and "web_export" not in at.session_state


def test_without_the_web_extra_the_page_names_the_install(monkeypatch):
    from explainer import extras

    monkeypatch.setitem(extras.EXTRAS, "web", ("no_such_module_for_the_web_page",))
    at = _export_page()
    at.radio(key="exp_what").set_value(WEB).run()
    _ok(at)
    (said,) = [i.value for i in at.info]
    assert "`pip install 'mnist-explainer[web]'`" in said and "\n" not in said
    assert not [b for b in at.button if b.label == "Build the web page"]


def _user_class_checkpoint(tmp_path) -> object:
    """A checkpoint of the user's own class, loaded with its code, with two epoch snapshots
    beside it (as ``explainer train --snapshots`` leaves them)."""
    from explainer.nets.checkpoints import save_checkpoint

    (tmp_path / "my_net.py").write_text(
        "from torch import nn\n\n"
        "class MyNet(nn.Sequential):\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Flatten(), nn.Linear(784, 10))\n"
    )
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("my_net", tmp_path / "my_net.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_net"] = module
    spec.loader.exec_module(module)
    (tmp_path / "snapshots").mkdir()
    for epoch in (1, 2):
        save_checkpoint(tmp_path / "snapshots" / f"mine_epoch{epoch:02d}.pt", module.MyNet())
    save_checkpoint(tmp_path / "mine.pt", module.MyNet())
    return load_checkpoint(tmp_path / "mine.pt", code=f"{tmp_path / 'my_net.py'}:MyNet")


def test_training_of_a_model_of_your_own_class_points_to_the_command_line(tmp_path):
    ckpt = _user_class_checkpoint(tmp_path)
    assert ckpt.model_class
    at = _export_page("mine", {"mine": ckpt})
    at.selectbox(key="exp_kind").set_value("Training").run()
    _ok(at)
    (said,) = [i.value for i in at.info]
    assert "your own class" in said and "explainer render training" in said
    assert "\n" not in said and not [b for b in at.button if b.label == "Render"]


def test_the_app_started_with_your_class_imports_its_code_for_the_snapshots(tmp_path, monkeypatch):
    from explainer.analysis.snapshots import snapshot_paths, training_evolution
    from explainer.app.export import own_code

    ckpt = _user_class_checkpoint(tmp_path)
    code = f"{tmp_path / 'my_net.py'}:MyNet"
    assert own_code(ckpt) is None  # no consent: an upload, or another model
    monkeypatch.setenv("EXPLAINER_APP_MODEL", str(tmp_path / "mine.pt"))
    monkeypatch.setenv("EXPLAINER_APP_CODE", code)
    assert own_code(ckpt) == code
    assert own_code(load_checkpoint("mnist_fast_cnn")) is None  # a registry model needs none
    image = load_sample().floats()[0, 0]
    snaps = snapshot_paths(ckpt, strict=False)
    evo = training_evolution(snaps, image, code=own_code(ckpt))  # what Render then reads
    assert len(evo.views) == 3
