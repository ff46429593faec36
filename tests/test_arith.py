"""explainer.analysis.arith against torch: every hand computation equals the same operation done by
torch on the record's real input, and a tampered trace is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from zoo import ZOO, build_zoo

from explainer.analysis import arith
from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint
from explainer.tracing.capture import capture
from explainer.tracing.trace import Trace


@pytest.fixture(scope="module")
def bn_trace(sample) -> Trace:
    from explainer.tracing.capture import capture_checkpoint

    ckpt = load_checkpoint(resolve_checkpoint("mnist_bn_cnn"))
    return capture_checkpoint(ckpt, sample.floats()[11, 0])


def _zoo_trace(name: str, sample) -> Trace:
    return capture(build_zoo(name), sample.floats()[5, 0])


def _torch_conv(trace: Trace, rec) -> np.ndarray:
    """The whole conv output recomputed by torch from the record's named input."""
    x = torch.from_numpy(np.array(trace.value(rec.inputs[0])))[None]
    p = rec.params
    b = None if rec.bias is None else torch.from_numpy(np.array(rec.bias))
    out = F.conv2d(x, torch.from_numpy(np.array(rec.weight)), b, p["stride"], p["padding"],
                   p["dilation"], p["groups"])  # fmt: skip
    return out[0].numpy()


@pytest.mark.parametrize("name", ["bn_cnn", *ZOO])
def test_every_conv_cell_matches_torch(name, sample, bn_trace):
    trace = bn_trace if name == "bn_cnn" else _zoo_trace(name, sample)
    rng = np.random.default_rng(0)
    for rec in arith.conv_records(trace):
        ref = _torch_conv(trace, rec)
        for _ in range(3):
            c, y, x = (int(rng.integers(n)) for n in rec.output.shape)
            cell = arith.conv_cell(trace, rec, c, y, x)
            assert cell.value == pytest.approx(float(ref[c, y, x]), abs=1e-4)
            assert cell.channel_sums.sum() + cell.bias == pytest.approx(cell.value)
            assert cell.patch.shape == rec.weight[c].shape


def test_conv_cell_reads_the_named_input_not_the_previous_record(sample):
    trace = _zoo_trace("examples", sample)  # conv2 reads F.relu's output, not conv1's
    rec = trace.layer("conv2")
    cell = arith.conv_cell(trace, rec, 3, 4, 5)
    relu = trace.layer("relu").output
    np.testing.assert_allclose(cell.patch, relu[:, 4:7, 5:8])
    trace.layer("conv2").inputs = ["conv1"]  # what the first version assumed
    with pytest.raises(arith.ArithMismatch, match=r"conv2 channel 3 at \(4, 5\)"):
        arith.conv_cell(trace, rec, 3, 4, 5)


def test_padding_stride_dilation_and_groups_land_on_the_right_pixels(sample):
    trace = _zoo_trace("strided", sample)
    cell = arith.conv_cell(trace, "conv1", 0, 0, 0)  # stride 2, padding 1: row -1 is padding
    assert cell.rows == [-1, 0, 1] and (cell.patch[:, 0, :] == 0).all()
    depth = arith.conv_cell(trace, "depthwise", 5, 3, 3)
    assert depth.in_channels == [5] and depth.patch.shape == (1, 3, 3)


def test_a_perturbed_weight_is_refused(bn_trace):
    rec = bn_trace.layer("block2.conv1")
    weight = np.array(rec.weight)
    weight[7, 0, 1, 1] += 0.5
    rec.weight = weight
    y, x = np.unravel_index(np.argmax(np.abs(bn_trace.value(rec.inputs[0])[0])), (14, 14))
    with pytest.raises(arith.ArithMismatch, match=r"block2\.conv1 channel 7"):
        arith.conv_cell(bn_trace, rec, 7, int(y), int(x))


def test_batch_norm_activation_pool_dense_softmax_match_torch(bn_trace):
    t = bn_trace
    bn = t.layer("block1.bn2")
    x = torch.from_numpy(np.array(t.value(bn.inputs[0])))[None]
    ref = F.batch_norm(x, torch.tensor(bn.arrays["running_mean"]),
                       torch.tensor(bn.arrays["running_var"]), torch.tensor(bn.weight),
                       torch.tensor(bn.bias), False, 0.0, bn.params["eps"])[0]  # fmt: skip
    assert arith.norm_cell(t, bn, (4, 9, 9)).value == pytest.approx(float(ref[4, 9, 9]), abs=1e-5)
    relu = t.layer("block1.relu2")
    block = t.value(relu.inputs[0])[4, 8:12, 8:12]
    np.testing.assert_allclose(arith.activation_map(t, relu, block), np.maximum(block, 0))
    pool = t.layer("block1.pool")
    ref = F.max_pool2d(torch.from_numpy(np.array(t.value(pool.inputs[0])))[None], 2)[0]
    cell = arith.pool_cell(t, pool, 4, 5, 6)
    assert cell.value == float(ref[4, 5, 6]) and cell.rows == [10, 11] and cell.cols == [12, 13]
    fc = t.of_kind("linear")[-1]
    ref = F.linear(
        torch.from_numpy(np.array(t.value(fc.inputs[0]))),
        torch.from_numpy(np.array(fc.weight)),
        torch.from_numpy(np.array(fc.bias)),
    )
    assert arith.dense_row(t, fc, 3).value == pytest.approx(float(ref[3]), abs=1e-4)
    # the calibrated softmax: the temperature read from the checkpoint file itself
    stored = torch.load(resolve_checkpoint("mnist_bn_cnn"), weights_only=True)
    temperature = stored["calibration"]["temperature"]
    assert temperature != 1.0  # the shipped model is calibrated, so T matters here
    ref = torch.softmax(torch.tensor(t.logits, dtype=torch.float64) / temperature, 0)
    np.testing.assert_allclose(arith.softmax(t).probs, ref, rtol=1e-5)
    np.testing.assert_allclose(t.probs, ref, rtol=1e-5)


def test_tanh_and_average_pooling_of_lenet(sample):
    t = _zoo_trace("tanh_lenet", sample)
    tanh = t.layer("tanh")
    block = t.value("c1")[2, 10:14, 10:14]
    np.testing.assert_allclose(arith.activation_map(t, tanh, block), np.tanh(block), rtol=1e-6)
    pool = t.layer("avg_pool2d")
    ref = F.avg_pool2d(torch.from_numpy(np.array(t.value("tanh")))[None], 2)[0]
    assert arith.pool_cell(t, pool, 2, 6, 6).value == pytest.approx(float(ref[2, 6, 6]), abs=1e-6)


def test_path_after_follows_the_real_records(bn_trace, sample):
    names = [r.name for r in arith.path_after(bn_trace, "block1.conv2")]
    assert names == ["block1.bn2", "block1.relu2", "block1.pool"]
    assert [r.name for r in arith.path_after(bn_trace, "block1.conv1")] == [
        "block1.bn1", "block1.relu1"
    ]  # fmt: skip
    t = _zoo_trace("examples", sample)
    assert [r.name for r in arith.path_after(t, "conv2")] == ["relu#2", "max_pool2d"]
    t = _zoo_trace("tanh_lenet", sample)
    assert [r.kind for r in arith.path_after(t, "c1")] == ["relu", "pool"]


def test_block_sits_on_the_pool_grid_and_holds_negatives(bn_trace):
    pool = bn_trace.layer("block1.pool")
    y, x = arith.pool_aligned_block(bn_trace, "block1.bn2", 4, 4, pool)
    assert y % 2 == 0 and x % 2 == 0
    block = bn_trace.layer("block1.bn2").output[4, y : y + 4, x : x + 4]
    assert block.min() < 0 < block.max()


def test_numbers_are_written_honestly():
    assert arith.fmt(-0.004) == "0.00" and arith.fmt(-0.5) == "\u22120.50"
    assert arith.fmt(0.25, sign=True) == "+0.25" and arith.fmt(0.0, sign=True) == "+0.00"
    terms = np.array([0.114, 0.114, 0.114])  # 0.11 × 3 = 0.33 but the total shows 0.34
    assert arith.decimals_that_add_up(terms, terms.sum()) == 3
    assert arith.decimals_that_add_up(np.array([1 / 3] * 3), 1.0, most=4) is None
    assert arith.confidence_text(0.9999979) == "> 99.9%"
    assert arith.confidence_text(0.5) == "50.0%" and arith.confidence_text(1e-5) == "< 0.1%"


def test_a_permute_is_followed_to_the_value_it_moved(sample):
    """ConvNeXt's channels-last permutes: value k of the output comes from the input position
    numpy's own transpose of a position grid says, and the two numbers are equal."""
    import warnings

    from explainer.analysis.arith.ops import flat_position

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = capture(build_zoo("convnext"), sample.floats()[5, 0])
    permutes = [r for r in trace.layers if r.params.get("function") == "permute"]
    assert len(permutes) >= 2
    for r in permutes:
        inp = np.asarray(trace.value(r.inputs[0]))
        dims = [a for a in r.params["call"]["args"][1:]]  # batch axis first
        grid = np.arange(inp.size).reshape((1, *inp.shape)).transpose(dims)[0].ravel()
        for k in range(0, r.output.size, 7):
            src = flat_position(trace, r, k)
            assert np.ravel_multi_index(src, inp.shape) == grid[k], (r.name, k)
            assert inp[src] == r.output.ravel()[k]


def test_a_dense_layer_on_channels_last_values_works_on_the_last_axis(sample):
    """ConvNeXt's pointwise Linear on (H, W, C): each output value is torch's F.linear of the
    input vector at the same (row, column)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_zoo("convnext")
        trace = capture(model, sample.floats()[5, 0])
    r = trace.layer("block.pwconv1")
    x = torch.from_numpy(np.asarray(trace.value(r.inputs[0]), dtype=np.float32))
    want = F.linear(x, model.block.pwconv1.weight, model.block.pwconv1.bias).detach().numpy()
    for unit in (0, 63, 64 * 7 + 5, r.output.size - 1):
        row = arith.dense_row(trace, r, unit)
        assert row.value == pytest.approx(float(want.ravel()[unit]), abs=1e-5)
