"""The Trace as a complete dataflow graph, for the registry and for user-style networks:
every record names its inputs and can be recomputed from them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from trace_files import rewrite_header
from zoo import REAL, ZOO, build_zoo

from explainer.nets.architectures import available, build
from explainer.tracing.batch import capture_batch
from explainer.tracing.capture import capture, layer_names
from explainer.tracing.recompute import UnreplayableWarning, check_trace, recompute
from explainer.tracing.trace import Trace, TraceError


def _model(name: str) -> torch.nn.Module:
    if name in ZOO or name in REAL:
        return build_zoo(name)
    torch.manual_seed(0)
    model = build(name)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


ALL = [*ZOO, *REAL, *available()]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ALL)
def test_every_record_is_recomputed_from_its_inputs(name, sample):
    model = _model(name)
    image = sample.floats()[7, 0]
    trace = capture(model, image)
    with torch.no_grad():
        logits = model(image[None, None])[0]
    np.testing.assert_allclose(trace.logits, logits.numpy(), rtol=1e-5, atol=1e-6)
    seen = {"input"}
    for r in trace.layers:
        assert r.inputs and set(r.inputs) <= seen, (r.name, r.inputs)  # never '?'
        seen.add(r.name)
        np.testing.assert_allclose(recompute(trace, r), r.output, rtol=1e-4, atol=1e-5,
                                   err_msg=r.name)  # fmt: skip
    np.testing.assert_allclose(trace.layers[-1].output, trace.logits, rtol=1e-6)
    assert layer_names(model) == trace.names()
    assert check_trace(trace) == []


def test_functional_network_by_hand(sample):
    """pytorch/examples' net: the functions between modules are records, checked by hand."""
    model = build_zoo("examples")
    x = sample.floats()[:1]
    trace = capture(model, x)
    assert trace.names() == ["conv1", "relu", "conv2", "relu#2", "max_pool2d", "dropout1",
                             "flatten", "fc1", "relu#3", "dropout2", "fc2",
                             "log_softmax"]  # fmt: skip
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
    assert [p.split(":")[0] for p in check_trace(trace)] == ["conv2"]
    trace = capture(build_zoo("examples"), sample.floats()[0, 0])
    trace.layer("conv2").params["padding"] = [1, 1]
    (problem,) = check_trace(trace)  # another padding, another shape
    assert problem.startswith("conv2: recomputed shape (16, 26, 26)")


@pytest.mark.parametrize("name", [*ZOO, *REAL])
def test_graph_round_trips_through_a_file(name, tmp_path, sample):
    weights = name != "resnet18"  # its 11 M weights take seconds to compress
    trace = capture(build_zoo(name), sample.floats()[0, 0], with_weights=weights)
    back = Trace.load(trace.save(tmp_path / "t.npz"))
    for a, b in zip(trace.layers, back.layers, strict=True):
        assert (a.name, a.kind, a.inputs) == (b.name, b.kind, b.inputs)
        assert a.description == b.description
        assert json.loads(json.dumps(a.params)) == b.params
        np.testing.assert_array_equal(a.output, b.output, err_msg=a.name)
        assert a.arrays.keys() == b.arrays.keys()
        for key, value in a.arrays.items():
            np.testing.assert_array_equal(value, b.arrays[key], err_msg=f"{a.name} {key}")
        for x, y in ((a.weight, b.weight), (a.bias, b.bias)):
            assert (x is None) == (y is None) and (x is None or np.array_equal(x, y))
    if weights:
        assert check_trace(back) == []


def test_an_old_trace_says_how_to_capture_again(tmp_path, sample):
    trace = capture(build("tinyvgg").eval(), sample.floats()[0, 0])
    path = trace.save(tmp_path / "old.npz")
    rewrite_header(path, lambda header: header.update(version=1))
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


# --- real networks: tuple results, attention, channel-axis norms ------------------------------


def test_every_tensor_of_a_tuple_result_is_a_record(sample):
    model = build_zoo("split")
    x = sample.floats()[3:4]
    trace = capture(model, x)
    with torch.no_grad():
        a, b = model.conv(x).chunk(2, dim=1)
        pooled = F.max_pool2d(model.conv2(a * torch.sigmoid(b)), 2)
        left, right = torch.split(pooled, [2, 4], dim=1)
        peak, where = left.max(dim=1)
        top, at = torch.topk(right.flatten(2), 5, dim=2)
    wanted = {"chunk[0]": a, "chunk[1]": b, "split[0]": left, "split[1]": right,
              "unbind[6]": right[:, :, 6], "max[0]": peak, "max[1]": where, "topk[0]": top,
              "topk[1]": at}  # fmt: skip
    for name, want in wanted.items():
        np.testing.assert_array_equal(trace.layer(name).output, want[0].numpy(), err_msg=name)
    unbound = [n for n in trace.names() if n.startswith("unbind")]
    assert unbound == [f"unbind[{i}]" for i in range(7)]
    chunk = trace.layer("chunk[1]")
    assert (chunk.kind, chunk.inputs, chunk.params["element"]) == ("split", ["conv"], [1])
    assert trace.layer("sigmoid").inputs == ["chunk[1]"]
    assert trace.layer("mul").inputs == ["chunk[0]", "sigmoid"]
    assert trace.layer("max[1]").params["dtype"] == "int64"
    assert trace.layer("max[1]").description == "max (indices)"
    assert trace.layer("float").inputs == ["max[1]"]  # the indices, used as features
    assert {"sort[0]", "sort[1]"} <= set(trace.names())


@pytest.mark.parametrize("name", [*ZOO, *REAL])
def test_no_constant_changes_with_the_digit(name, sample):
    """A tensor the capture lost (an element of a tuple result) reaches the next call as a
    "constant": one that changes with the digit. Real constants are the same for any digit."""
    model = build_zoo(name)
    one, two = (capture(model, sample.floats()[i, 0], with_weights=False) for i in (1, 2))
    for a, b in zip(one.layers, two.layers, strict=True):
        for key in a.arrays.keys() - {"attention"}:
            np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=f"{a.name} {key}")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_multihead_attention_is_a_record_with_every_heads_weights(sample):
    model = build_zoo("tiny_vit")
    trace = capture(model, sample.floats()[7, 0])
    out = trace.layer("attn.multi_head_attention_forward[0]")
    mean = trace.layer("attn.multi_head_attention_forward[1]")
    assert out.kind == mean.kind == "attention" and out.inputs == ["attn.transpose"]
    assert out.description == "attention, 2 heads"
    # by hand, from the tokens it reads and the module's projections
    tokens = trace.layer("add").output.astype(np.float64)  # (17, 16)
    w = model.attn.in_proj_weight.detach().double().numpy()
    bias = model.attn.in_proj_bias.detach().double().numpy()
    q, k, v = (p.reshape(17, 2, 8).transpose(1, 0, 2) for p in np.split(tokens @ w.T + bias, 3, 1))
    weights = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(8))  # (heads, 17, 17)
    np.testing.assert_allclose(out.arrays["attention"], weights, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mean.output, weights.mean(0), rtol=1e-4, atol=1e-6)
    heads = (weights @ v).transpose(1, 0, 2).reshape(17, 16)
    proj = model.attn.out_proj
    want = heads @ proj.weight.detach().double().numpy().T + proj.bias.detach().double().numpy()
    np.testing.assert_allclose(out.output[:, 0], want, rtol=1e-4, atol=1e-5)  # (L, N, E)
    assert out.params["batched"] is False
    assert trace.layer("attn.transpose#2").inputs == [out.name]
    assert trace.layer("add#2").inputs == ["add", "attn.transpose#2"]  # the residual


def test_scaled_dot_product_attention_keeps_its_weights(sample):
    trace = capture(build_zoo("sdpa"), sample.floats()[7, 0])
    r = trace.layer("scaled_dot_product_attention")
    assert r.kind == "attention" and r.inputs == ["unbind[0]", "unbind[1]", "unbind[2]"]
    q, k, v = (x.astype(np.float64) for x in trace.inputs_of(r))  # (heads, L, d) each
    weights = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1]))
    np.testing.assert_allclose(r.arrays["attention"], weights, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(r.output, weights @ v, rtol=1e-4, atol=1e-5)


def _channel_norm(x: np.ndarray, weight, bias, eps: float, axes: tuple[int, ...]) -> np.ndarray:
    """``x`` ``(C, H, W)`` normalised over ``axes`` in float64, then scaled per channel."""
    x = x.astype(np.float64)
    z = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    w, b = (t.detach().double().numpy()[:, None, None] for t in (weight, bias))
    return z * w + b


def test_norm_records_say_which_axes_they_normalise(sample):
    model = build_zoo("convnext")
    trace = capture(model, sample.floats()[7, 0])
    assert not trace.of_kind("bn")
    expected = {
        "stem_norm.layer_norm": ("layer", [3], "layer norm over channels"),
        "block.norm": ("layer", [3], "layer norm over channels"),
        "gn": ("group", [1, 2, 3], "group norm, 4 groups"),
        "inorm": ("instance", [2, 3], "instance norm over positions"),
    }
    for name, (norm, axes, text) in expected.items():
        r = trace.layer(name)
        assert (r.kind, r.params["norm"], r.params["axes"], r.description) == (
            "norm", norm, axes, text), name  # fmt: skip
    stem, m = trace.layer("stem").output, model.stem_norm
    want = _channel_norm(stem, m.weight, m.bias, 1e-6, (0,))
    np.testing.assert_allclose(trace.layer("stem_norm.permute#2").output, want, rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    block, m = trace.layer("block.add").output, model.down_norm  # by hand over dim 1
    want = _channel_norm(block, m.weight, m.bias, m.eps, (0,))
    np.testing.assert_allclose(trace.layer("down_norm.add#2").output, want, rtol=1e-4, atol=1e-5)
    assert trace.layer("view").inputs == ["contiguous"]  # a copy, then a view of it
    assert trace.layer("contiguous").inputs == ["permute"]
    x, m = trace.inputs_of("inorm")[0], model.inorm
    np.testing.assert_allclose(trace.layer("inorm").output, _channel_norm(x, m.weight, m.bias,
                               m.eps, (1, 2)), rtol=1e-4, atol=1e-5)  # fmt: skip


class _Cumsum(torch.nn.Module):
    """A call this project does not replay (``torch.cumsum``) between two modules."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.fc = torch.nn.Linear(4 * 26 * 26, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cumsum(self.conv(x), dim=3).flatten(1))


def test_check_trace_lists_every_problem_and_never_raises(sample):
    with pytest.warns(UnreplayableWarning):
        trace = capture(_Cumsum().eval(), sample.floats()[0, 0])
    cumsum = trace.layer("cumsum")
    assert (cumsum.kind, cumsum.inputs) == ("other", ["conv"])  # kept, with its input
    trace.layer("flatten").params["call"]["key"] = "torch.load"  # not a call it may replay
    trace.layer("fc").inputs = ["?"]
    problems = check_trace(trace)
    assert [p.split(":")[0] for p in problems] == ["cumsum", "flatten", "fc"]
    assert "cannot be recomputed" in problems[0] and "'?'" in problems[2]
    assert all("\n" not in p for p in problems)
