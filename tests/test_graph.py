"""The Trace as a complete dataflow graph, for the registry and for user-style networks:
every record names its inputs and can be recomputed from them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from zoo import ZOO, build_zoo

from explainer.nets.architectures import available, build
from explainer.tracing.capture import capture, capture_batch, layer_names
from explainer.tracing.recompute import check_trace, recompute
from explainer.tracing.trace import Trace, TraceError


def _model(name: str) -> torch.nn.Module:
    if name in ZOO:
        return build_zoo(name)
    torch.manual_seed(0)
    model = build(name)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


ALL = [*ZOO, *available()]


@pytest.mark.parametrize("name", ALL)
def test_every_record_is_recomputed_from_its_inputs(name, sample):
    model = _model(name)
    image = sample.floats()[7, 0]
    trace = capture(model, image)
    with torch.no_grad():
        logits = model(image[None, None])[0]
    np.testing.assert_allclose(trace.logits, logits.numpy(), rtol=1e-6, atol=1e-6)
    seen = {"input"}
    for r in trace.layers:
        assert r.inputs and set(r.inputs) <= seen, (r.name, r.inputs)
        seen.add(r.name)
        np.testing.assert_allclose(recompute(trace, r), r.output, rtol=1e-4, atol=1e-5,
                                   err_msg=r.name)  # fmt: skip
    np.testing.assert_allclose(trace.layers[-1].output, trace.logits, rtol=1e-6)
    assert layer_names(model) == trace.names()


def test_functional_network_by_hand(sample):
    """pytorch/examples' net: the functions between modules are records, checked by hand."""
    model = build_zoo("examples")
    x = sample.floats()[:1]
    trace = capture(model, x)
    assert trace.names() == ["conv1", "relu", "conv2", "relu#2", "max_pool2d", "dropout1",
                             "flatten", "fc1", "relu#3", "fc2", "log_softmax"]  # fmt: skip
    with torch.no_grad():
        c1 = model.conv1(x)
        r1 = F.relu(c1)
        c2 = model.conv2(r1)  # the conv2 input is relu's output, not conv1's
        pooled = F.max_pool2d(F.relu(c2), 2)
    assert trace.layer("conv2").inputs == ["relu"]
    np.testing.assert_array_equal(trace.inputs_of("conv2")[0], r1[0].numpy())
    np.testing.assert_allclose(trace.layer("conv2").output, c2[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(trace.layer("max_pool2d").output, pooled[0].numpy(), rtol=1e-6)
    assert trace.layer("max_pool2d").params["kernel_size"] == [2, 2]
    assert trace.layer("max_pool2d").params["stride"] == [2, 2]


def test_residual_add_and_concat_name_both_inputs(sample):
    trace = capture(build_zoo("resnetish"), sample.floats()[2, 0])
    add = trace.layer("block.add")
    assert add.kind == "add" and add.inputs == ["block.bn2", "stem.2"]
    a, b = trace.inputs_of(add)
    np.testing.assert_allclose(add.output, a + b, rtol=1e-6, atol=1e-6)
    cat = trace.layer("cat")
    assert cat.kind == "concat" and cat.inputs == ["branch_a", "branch_b"]
    np.testing.assert_array_equal(cat.output, np.concatenate(trace.inputs_of(cat)))
    bn = trace.layer("block.bn1")
    assert set(bn.arrays) == {"running_mean", "running_var"} and bn.params["eps"] == 1e-5


def test_settings_of_convs_and_pools_are_recorded():
    trace = capture(build_zoo("strided"), np.zeros((28, 28), np.float32))
    conv = trace.layer("conv1").params
    assert (conv["stride"], conv["padding"], conv["dilation"], conv["groups"]) == (
        [2, 2], [1, 1], [1, 1], 1
    )  # fmt: skip
    assert trace.layer("depthwise").params["groups"] == 8
    assert "depthwise" in trace.layer("depthwise").description
    pool = capture(build_zoo("tanh_lenet"), np.zeros((28, 28), np.float32)).layer("avg_pool2d")
    assert pool.kind == "pool" and pool.params["mode"] == "average"


def test_a_wrong_input_is_caught(sample):
    trace = capture(build_zoo("examples"), sample.floats()[0, 0])
    assert check_trace(trace) == []
    trace.layer("conv2").inputs = ["conv1"]  # what the old views assumed
    assert check_trace(trace) == ["conv2"]
    trace = capture(build_zoo("examples"), sample.floats()[0, 0])
    trace.layer("conv2").params["padding"] = [1, 1]
    assert check_trace(trace) == ["conv2"]  # another padding, another shape


def test_graph_round_trips_through_a_file(tmp_path, sample):
    trace = capture(build_zoo("resnetish"), sample.floats()[0, 0])
    back = Trace.load(trace.save(tmp_path / "t.npz"))
    for a, b in zip(trace.layers, back.layers, strict=True):
        assert (a.name, a.inputs, a.params) == (b.name, b.inputs, json.loads(json.dumps(b.params)))
        assert a.arrays.keys() == b.arrays.keys()
    assert check_trace(back) == []


def test_an_old_trace_says_how_to_capture_again(tmp_path, sample):
    trace = capture(build("tinyvgg").eval(), sample.floats()[0, 0])
    path = trace.save(tmp_path / "old.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["header"]))
    header["version"] = 1
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
    with pytest.raises(TraceError, match=r"old trace .*explainer capture") as err:
        Trace.load(path)
    assert "\n" not in str(err.value)


def test_batch_capture_sees_function_records(sample):
    model = build_zoo("examples")
    got = capture_batch(model, sample.floats()[:5], layers=["relu#2", "flatten"], reduce="none")
    with torch.no_grad():
        ref = F.relu(model.conv2(F.relu(model.conv1(sample.floats()[:5]))))
    np.testing.assert_allclose(got["relu#2"], ref.numpy(), rtol=1e-6)
    assert got["flatten"].shape == (5, 16 * 12 * 12)


def test_a_replaced_parameter_is_seen_by_the_next_capture(sample):
    model = build("tinyvgg").eval()
    first = capture(model, sample.floats()[0, 0])
    conv = model.get_submodule("block1.conv1")
    conv.weight = torch.nn.Parameter(conv.weight.detach() * 2)
    again = capture(model, sample.floats()[0, 0])
    np.testing.assert_array_equal(again.layer("block1.conv1").weight, conv.weight.detach().numpy())
    assert not np.array_equal(
        first.layer("block1.conv1").weight, again.layer("block1.conv1").weight
    )
    assert check_trace(again) == []


def test_a_replaced_submodule_is_seen_by_the_next_capture(sample):
    model = build("tinyvgg").eval()
    capture(model, sample.floats()[0, 0])
    model.get_submodule("block1").relu1 = torch.nn.Tanh()
    trace = capture(model, sample.floats()[0, 0])
    assert trace.layer("block1.relu1").description == "tanh"
    assert check_trace(trace) == []


# --- group norm ---------------------------------------------------------------------------------


class GroupNormNet(torch.nn.Module):
    """A GroupNorm module and an ``F.group_norm`` call, each with several groups, an eps far
    from the default and affine weights that are not 1 and 0: a replay that gets any of them
    wrong gives other numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.norm = torch.nn.GroupNorm(4, 8, eps=0.5)
        self.conv2 = torch.nn.Conv2d(8, 6, 3, padding=1)
        self.gamma = torch.nn.Parameter(torch.rand(6) + 0.5)
        self.beta = torch.nn.Parameter(torch.rand(6) - 0.5)
        self.head = torch.nn.Linear(6 * 28 * 28, 10)
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        x = F.group_norm(self.conv2(x), 3, self.gamma, self.beta, eps=0.25)
        return self.head(x.flatten(1))


def _group_norm_by_hand(x: np.ndarray, groups: int, weight, bias, eps: float) -> np.ndarray:
    """Group norm of ``x`` ``(C, H, W)`` in float64: each group of ``C / groups`` channels
    normalised by its own mean and (biased) variance, then scaled and shifted per channel."""
    c = x.shape[0]
    g = x.astype(np.float64).reshape(groups, -1)
    g = (g - g.mean(1, keepdims=True)) / np.sqrt(g.var(1, keepdims=True) + eps)
    w = np.broadcast_to(np.asarray(weight, np.float64), (c,)).reshape(c, 1, 1)
    b = np.broadcast_to(np.asarray(bias, np.float64), (c,)).reshape(c, 1, 1)
    return g.reshape(x.shape) * w + b


def test_group_norm_records_replay_to_the_captured_output(sample):
    torch.manual_seed(0)
    model = GroupNormNet().eval()
    trace = capture(model, sample.floats()[5, 0])
    module, call = trace.layer("norm"), trace.layer("group_norm")
    assert (module.kind, call.kind) == ("norm", "norm")  # a group norm, not a batch norm
    assert (module.inputs, call.inputs) == (["conv"], ["conv2"])
    settings = [(module, 4, model.norm.weight, model.norm.bias, 0.5),
                (call, 3, model.gamma, model.beta, 0.25)]  # fmt: skip
    for r, groups, weight, bias, eps in settings:
        (x,) = trace.inputs_of(r)
        want = _group_norm_by_hand(x, groups, weight.detach().numpy(), bias.detach().numpy(), eps)
        assert not np.allclose(want, _group_norm_by_hand(x, 1, 1.0, 0.0, 1e-5), atol=1e-3)
        np.testing.assert_allclose(r.output, want, rtol=1e-4, atol=1e-5, err_msg=r.name)
        np.testing.assert_allclose(recompute(trace, r), want, rtol=1e-4, atol=1e-5, err_msg=r.name)
    assert check_trace(trace) == []


# --- a record never reads its own output --------------------------------------------------------


@pytest.mark.parametrize("name", ["shared", "resnetish"])
def test_in_place_ops_and_reused_modules_never_make_a_record_its_own_input(name, sample):
    """In-place ReLUs, ``out += x`` and one module called several times return a tensor that is
    also an argument; the record must name where that tensor came from, never itself."""
    trace = capture(build_zoo(name), sample.floats()[4, 0])
    position = {r.name: i for i, r in enumerate(trace.layers)}
    for i, r in enumerate(trace.layers):
        assert r.name not in r.inputs, (r.name, r.inputs)
        assert all(n == "input" or position[n] < i for n in r.inputs), (r.name, r.inputs)


def test_a_trace_whose_record_reads_itself_is_refused(tmp_path, sample):
    trace = capture(build_zoo("shared"), sample.floats()[4, 0])
    record = trace.layers[3]
    record.inputs = [*record.inputs, record.name]  # a loop: its output computed from itself
    with pytest.raises(TraceError, match=rf"layers\[3\].*inputs.*{record.name}"):
        Trace.load(trace.save(tmp_path / "loop.npz"))
