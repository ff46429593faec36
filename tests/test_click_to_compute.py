"""Layer by layer's click to compute: the output map drawn as a chart whose cells answer a
click, the clicked cell worked out by hand, and what happens to it next, each number against
torch running the network's own modules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("streamlit")
import streamlit
from test_app_truth import _charts, _ok, _start

from explainer.app import conv_window
from explainer.data import load_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir
from explainer.tracing.capture import capture, capture_checkpoint


@pytest.fixture(scope="module")
def bn():
    ckpt = load_checkpoint(models_dir() / "mnist_bn_cnn.pt")
    image = load_sample("mnist").images[0].numpy() / 255.0
    return ckpt, capture_checkpoint(ckpt, image), image


def _torch_outputs(model, image: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Each named module's output, from forward hooks on the model itself."""
    got: dict[str, np.ndarray] = {}
    modules = dict(model.named_modules())

    def keep(name: str):
        def hook(_m, _i, o) -> None:  # returns None: the output is left as it is
            got[name] = o[0].detach().numpy().copy()

        return hook

    hooks = [modules[n].register_forward_hook(keep(n)) for n in names]
    with torch.no_grad():
        model.eval()(torch.tensor(image, dtype=torch.float32)[None, None])
    for h in hooks:
        h.remove()
    return got


def test_the_click_map_holds_the_layers_real_output_and_frames_the_cell(bn):
    ckpt, trace, image = bn
    ref = _torch_outputs(ckpt.model, image, ["block1.conv2"])["block1.conv2"][5]
    spec = conv_window.click_map_spec(trace, "block1.conv2", 5, 3, 7)
    grid = np.full(ref.shape, np.nan)
    for d in spec["data"]["values"]:
        grid[d["row"], d["col"]] = d["value"]
    np.testing.assert_allclose(grid, ref, rtol=1e-5, atol=1e-5)
    assert spec["params"][0]["select"]["fields"] == ["row", "col"]
    assert "datum.row == 3 && datum.col == 7" in json.dumps(spec["encoding"]["stroke"])


def test_a_click_moves_the_worked_cell(monkeypatch):
    state = {"k": {"selection": {conv_window.CLICK: [{"row": 4, "col": 9}]}}}
    monkeypatch.setattr(streamlit, "session_state", state)
    conv_window.take_click("k", "block1.conv1")
    assert (state["cx_row_block1.conv1"], state["cx_col_block1.conv1"]) == (4, 9)
    state2 = {"k": {"selection": {conv_window.CLICK: []}}}  # a click off the cells
    monkeypatch.setattr(streamlit, "session_state", state2)
    conv_window.take_click("k", "block1.conv1")
    assert "cx_row_block1.conv1" not in state2
    assert conv_window.clicked_cell(None) is None


@pytest.mark.parametrize(("row", "col"), [(12, 9), (27, 27), (0, 0)])
def test_the_path_after_the_cell_is_torchs(bn, row, col):
    ckpt, trace, image = bn
    names = ["block1.conv2", "block1.bn2", "block1.relu2", "block1.pool"]
    ref = _torch_outputs(ckpt.model, image, names)
    ch = 3
    lines = conv_window.path_lines(trace, "block1.conv2", ch, row, col)
    assert len(lines) == 4
    for line, name in zip(lines[:3], names[:3], strict=True):
        want = f"{ref[name][ch, row, col]:.4f}".replace("-", "\N{MINUS SIGN}")
        assert line.startswith(name) and line.endswith(want), (line, want)
    i, j = row // 2, col // 2  # a 2×2 max pooling of stride 2
    pooled = ref["block1.pool"][ch, i, j]
    assert f"cell ({i}, {j}) = {pooled:.4f}" in lines[3]
    window = ref["block1.relu2"][ch, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
    largest = ref["block1.relu2"][ch, row, col] == window.max()
    assert ("passes on" in lines[3]) == bool(largest)


def test_the_page_shows_the_clickable_map_and_follows_the_cell():
    at = _start("mnist_fast_cnn")
    at.switch_page("explainer/app/layers.py").run()
    name = "block2.conv1"
    model = load_checkpoint(models_dir() / "mnist_fast_cnn.pt").model
    step = capture(model, np.zeros((28, 28), np.float32)).names().index(name)
    at.selectbox(key="layer_step").set_value(step).run()
    _ok(at)
    clickable = [s for s, _ in _charts(at) if s.get("params", [{}])[0].get("name") == "cell"]
    assert len(clickable) == 1
    at.session_state[f"cx_row_{name}"] = 2  # what a click's callback sets
    at.session_state[f"cx_col_{name}"] = 11
    at.run()
    _ok(at)
    assert at.slider(key=f"cx_row_{name}").value == 2
    assert at.slider(key=f"cx_col_{name}").value == 11
    assert any("Cell (2, 11)" in m.value for m in at.markdown)
