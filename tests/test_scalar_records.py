"""A model that computes one value per image inside forward (``x / x.amax()``, ``x - x.mean()``,
``x.median()``, a per-image ``sum``): capture keeps those records as 0-d arrays, recompute
replays them, a saved trace keeps them, and the forward animation draws them as one number.

The reference is torch itself, run step by step on the same image, never the Trace."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explainer import capture, load_sample
from explainer.animate.forward_sheets import stage_sheets
from explainer.animate.forward_stages import record_stage
from explainer.tracing.recompute import check_trace, recompute
from explainer.tracing.trace import Trace


class ScalarNet(nn.Module):
    """Scales the digit by its own largest pixel and centres it on its median, as a user might."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 13 * 13, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / x.amax()
        x = x - x.median()
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        energy = x.sum(dim=(1, 2, 3))  # one value per image, batch axis kept
        x = x / (energy[:, None, None, None] + 1.0)
        return self.fc(x.flatten(1)) * x.mean()


@pytest.fixture(scope="module")
def net_and_trace() -> tuple[ScalarNet, torch.Tensor, Trace]:
    torch.manual_seed(0)
    net = ScalarNet().eval()
    image = load_sample().floats()[3, 0]
    return net, image, capture(net, image)


def _steps(net: ScalarNet, image: torch.Tensor) -> dict[str, float]:
    """The one-value steps, computed here with torch on a batch of one."""
    with torch.no_grad():
        x = image[None, None]
        peak = x.amax()
        x = x / peak
        median = x.median()
        x = F.max_pool2d(F.relu(net.conv(x - median)), 2)
        energy = x.sum(dim=(1, 2, 3))[0]
        x = x / (energy + 1.0)
        return {"amax": peak, "median": median, "sum": energy, "mean": x.mean()}


def test_one_value_records_are_0d_and_equal_torch(net_and_trace):
    net, image, trace = net_and_trace
    want = _steps(net, image)
    for name, value in want.items():
        r = trace.layer(name)
        assert r.output.shape == (), (name, r.output.shape)
        assert not r.output.flags.writeable
        assert r.shape_text == "1 value"  # what every page writes for its shape
        np.testing.assert_allclose(r.output, float(value), rtol=1e-6, err_msg=name)
    with torch.no_grad():
        logits = net(image[None, None])[0].numpy()
    np.testing.assert_allclose(trace.logits, logits, rtol=1e-5, atol=1e-7)


def test_recompute_replays_every_record_and_check_trace_finds_nothing(net_and_trace):
    _, _, trace = net_and_trace
    for r in trace.layers:
        again = recompute(trace, r)
        assert again.shape == r.output.shape, r.name
        np.testing.assert_allclose(again, r.output, rtol=1e-5, atol=1e-6, err_msg=r.name)
    assert check_trace(trace) == []


def test_a_broken_one_value_record_is_found_by_check_trace(net_and_trace):
    _, _, trace = net_and_trace
    amax = trace.layer("amax")
    wrong = np.array(float(amax.output) + 0.5, dtype=np.float32)
    layers = [
        type(r)(**{**r.__dict__, "output": wrong}) if r.name == "amax" else r for r in trace.layers
    ]
    found = check_trace(Trace(**{**trace.__dict__, "layers": layers}))
    assert any("div" in line or "amax" in line for line in found), found


def test_a_saved_trace_keeps_one_value_records(net_and_trace, tmp_path):
    _, _, trace = net_and_trace
    again = Trace.load(trace.save(tmp_path / "scalar.npz"))
    for name in ("amax", "median", "sum", "mean"):
        assert again.layer(name).output.shape == ()
        assert float(again.layer(name).output) == float(trace.layer(name).output)


def test_the_forward_view_draws_one_value_as_one_cell_and_its_number(net_and_trace):
    _, _, trace = net_and_trace
    stage = record_stage(trace.layer("amax"))
    assert "one value" in stage.subtitle
    empty, done, boxes = stage_sheets(stage, (440, 340), "light", trace.class_names)
    (box,) = boxes
    y0, y1, x0, x1 = box
    painted = np.argwhere((empty != done).any(axis=2))
    assert painted.size  # the cell is painted when revealed, and only the cell
    assert painted[:, 0].min() >= y0 and painted[:, 0].max() < y1
    assert painted[:, 1].min() >= x0 and painted[:, 1].max() < x1
    below = empty[y1 + 2 :, x0 - 20 : x1 + 20]  # the number, written under the cell
    assert (below.min(axis=2) < 100).any()


def test_the_data_flow_writes_the_one_value_under_its_block(net_and_trace):
    from explainer.animate.dataflow_layout import step_blocks

    net, image, trace = net_and_trace
    want = _steps(net, image)
    texts = [b.shape_text for b in step_blocks(trace)]
    for name in ("sum", "mean"):
        assert f"= {float(want[name]):.3g}".replace("-", "\u2212") in texts, (name, texts)
    assert "1×28×28" in texts  # the other blocks still say their shape


def test_layer_by_layer_shows_the_one_value_of_the_record():
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest
    from test_app import APP

    from explainer.data import load_test_or_sample
    from explainer.nets.checkpoints import checkpoint_of

    torch.manual_seed(0)
    net = ScalarNet().eval()
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["live_models"] = {"scalar_net": checkpoint_of(net)}
    at.session_state["model"] = "scalar_net"
    at.run()
    at.radio(key="source").set_value("Pick a test digit").run()
    image = load_test_or_sample("mnist")[0].floats()[int(at.number_input(key="test_pos").value), 0]
    names = [r.name for r in capture(net, image).layers]
    at.session_state["layer_step"] = names.index("sum")
    at.switch_page("explainer/app/layers.py").run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    (shown,) = [m for m in at.metric if m.label.startswith("sum:")]
    assert shown.value == f"{float(_steps(net, image)['sum']):.4g}"
