"""The three convolution views (GIF animator, Manim scene, app window) show the network's own
numbers, for the shipped mnist_bn_cnn and for every network of the zoo.

The reference is independent of :mod:`explainer.analysis.arith`: each conv module's real input and
output come from torch forward hooks on the model itself, the window sums from ``F.conv2d``
and ``F.unfold`` on that input, the "what happens next" values from running the model's own
modules (or the torch function the network called) on the conv's output.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explainer.analysis import arith
from explainer.analysis.arith import ArithMismatch
from explainer.animate import build_animation
from explainer.tracing.capture import capture
from tests.zoo import ZOO, build_zoo

CASES = ["mnist_bn_cnn", *ZOO]
SMALL = dict(fps=4, seconds=16, size=(480, 270))


class Net:
    """A model, a trace of one digit through it, and each conv call's real input/output."""

    def __init__(self, name: str, image: np.ndarray) -> None:
        if name == "mnist_bn_cnn":
            from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint

            self.model = load_checkpoint(resolve_checkpoint(name)).model.eval()
        else:
            self.model = build_zoo(name)
        self.trace = capture(self.model, image)
        self.convs: list[tuple[nn.Conv2d, torch.Tensor, torch.Tensor]] = []
        hooks = [
            m.register_forward_hook(
                lambda mod, i, o: self.convs.append(
                    (mod, i[0].detach().clone(), o.detach().clone())
                )
            )
            for m in self.model.modules()
            if isinstance(m, nn.Conv2d)
        ]
        with torch.no_grad():
            self.model(torch.from_numpy(image)[None, None])
        for h in hooks:
            h.remove()

    def call(self, layer: str) -> tuple[nn.Conv2d, torch.Tensor, torch.Tensor]:
        names = [r.name for r in arith.conv_records(self.trace)]
        return self.convs[names.index(layer)]

    def after(self, step_records, x: torch.Tensor) -> list[torch.Tensor]:
        """The model's own modules (or the torch function called) applied in turn to ``x``."""
        outs, x = [], x.clone()  # in-place modules must not change the stored reference
        for r in step_records:
            base = re.sub(r"#\d+$", "", r.name)
            p = r.params
            try:
                op = self.model.get_submodule(base)
            except AttributeError:
                op = {
                    "relu": F.relu, "tanh": torch.tanh, "silu": F.silu,
                    "max_pool2d": lambda t, p=p: F.max_pool2d(t, p["kernel_size"], p["stride"]),
                    "avg_pool2d": lambda t, p=p: F.avg_pool2d(t, p["kernel_size"], p["stride"]),
                }[p["function"]]  # fmt: skip
            with torch.no_grad():
                x = op(x)
            outs.append(x[0].numpy().astype(np.float64))
        return outs


@pytest.fixture(scope="module")
def nets(sample):
    image = sample.images[7].numpy().astype(np.float32) / 255.0
    return {name: Net(name, image) for name in CASES}


def reference_cell(net: Net, layer: str, ch: int, y: int, x: int, in_channel: int) -> dict:
    """The window of output (ch, y, x) worked out with torch on the conv's real input."""
    mod, inp, out = net.call(layer)
    args = (mod.stride, mod.padding, mod.dilation, mod.groups)
    full = F.conv2d(inp, mod.weight, mod.bias, *args)
    mask = torch.zeros_like(inp)
    mask[:, in_channel] = 1
    with torch.no_grad():
        shown = F.conv2d(inp * mask, mod.weight, None, *args)[0, ch, y, x]
        others = F.conv2d(inp * (1 - mask), mod.weight, None, *args)[0, ch, y, x]
        cols = F.unfold(inp, mod.kernel_size, mod.dilation, mod.padding, mod.stride)
    per_group = mod.in_channels // mod.groups
    first = (ch // (mod.out_channels // mod.groups)) * per_group
    patch = cols[0, :, y * out.shape[3] + x].reshape(mod.in_channels, *mod.kernel_size)
    w = mod.weight[ch, in_channel - first].detach()
    return {
        "value": float(out[0, ch, y, x]), "conv2d": float(full[0, ch, y, x].detach()),
        "shown": float(shown), "others": float(others),
        "bias": 0.0 if mod.bias is None else float(mod.bias[ch].detach()),
        "patch": patch[in_channel].numpy(), "products": (patch[in_channel] * w).numpy(),
        "kernel": w.numpy(),
    }  # fmt: skip


def assert_sum_is_true(net: Net, cs: arith.ConvSum) -> None:
    c = cs.cell
    ref = reference_cell(net, c.layer, c.channel, c.y, c.x, cs.in_channel)
    assert ref["conv2d"] == pytest.approx(ref["value"], abs=1e-4)
    assert cs.value == pytest.approx(ref["value"], abs=1e-4)
    assert cs.shown_sum == pytest.approx(ref["shown"], abs=1e-4)
    assert cs.others == pytest.approx(ref["others"], abs=1e-4)
    assert c.bias == pytest.approx(ref["bias"], abs=1e-6)
    np.testing.assert_allclose(cs.patch, ref["patch"], atol=1e-5)
    np.testing.assert_allclose(cs.kernel, ref["kernel"], atol=1e-6)
    np.testing.assert_allclose(cs.products, ref["products"], atol=1e-5)
    # what the view writes: the figures add up as written, or it says they are rounded
    lines = arith.conv_sum_lines(cs)
    assert lines[-1][1] == arith.fmt(ref["value"], cs.decimals) or abs(ref["value"]) < 1e-3
    assert all("-" not in number for _, number in lines)  # a true minus sign, never "-0.00"
    if cs.exact:
        written = [float(n.replace("\u2212", "-")) for _, n in lines]
        assert round(sum(written[:-1]), cs.decimals) == pytest.approx(written[-1])


def assert_next_is_true(net: Net, nb: arith.NextBlock) -> None:
    """The block's values after each step are the model's own, on the pooling grid."""
    _mod, _inp, out = net.call(nb.layer)
    n = nb.before.shape[0]
    ys, xs = slice(nb.y, nb.y + n), slice(nb.x, nb.x + n)
    np.testing.assert_allclose(nb.before, out[0, nb.channel, ys, xs].numpy(), atol=1e-4)
    refs = net.after([s.record for s in nb.steps], out)
    for step, ref in zip(nb.steps, refs, strict=True):
        (ty, tx), (h, w) = step.top_left, step.values.shape
        np.testing.assert_allclose(
            step.values,
            ref[nb.channel, ty : ty + h, tx : tx + w],
            atol=1e-4,
            err_msg=step.record.name,
        )
        if step.record.kind == "pool":
            s, pad = step.record.params["stride"][0], step.record.params["padding"][0]
            assert (nb.y + pad) % s == 0 and (nb.x + pad) % s == 0  # on the network's own grid
            assert h * s <= n and w * s <= n


@pytest.mark.parametrize("name", CASES)
def test_gif_shows_the_networks_numbers(nets, name):
    net = nets[name]
    for rec in arith.conv_records(net.trace)[:3]:
        reel = build_animation("convolution", net.trace, layer=rec.name, **SMALL)
        cv = reel.meta["view"]
        assert reel.n_frames == 64
        _mod, inp, out = net.call(rec.name)
        np.testing.assert_allclose(cv.inputs, inp[0].numpy(), atol=1e-6)  # the real input
        np.testing.assert_allclose(cv.output, out[0, cv.channel].numpy(), atol=1e-4)
        for cs in cv.cells:
            assert_sum_is_true(net, cs)
        assert_next_is_true(net, cv.next)


@pytest.mark.parametrize("name", CASES)
def test_scene_numbers_are_the_networks(nets, name):
    pytest.importorskip("manim")
    from explainer.scenes.convolution import scene_numbers

    net = nets[name]
    nums = scene_numbers(net.trace)
    _mod, inp, out = net.call(nums.conv.name)
    np.testing.assert_allclose(nums.inputs, inp[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(nums.output, out[0, nums.channel].numpy(), atol=1e-4)
    for cs in nums.cells:
        assert_sum_is_true(net, cs)
    path = arith.path_after(net.trace, nums.conv)
    refs = [ref for r, ref in zip(path, net.after(path, out), strict=True) if r.kind != "dropout"]
    assert [s.record.name for s in nums.steps] == [r.name for r in path if r.kind != "dropout"]
    for step, ref in zip(nums.steps, refs, strict=True):
        np.testing.assert_allclose(step.values, ref[nums.channel], atol=1e-4)
        if step.window is not None:  # the lit window is on the grid and gives the pooled value
            wy, wx = step.window.y, step.window.x
            assert step.window.value == pytest.approx(float(ref[nums.channel, wy, wx]), abs=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_app_window_is_the_networks(nets, name):
    from explainer.app.conv_window import conv_window, default_cell

    net = nets[name]
    for rec in arith.conv_records(net.trace):
        ch = rec.output.shape[0] - 1
        y, x = default_cell(net.trace, rec.name, ch)
        cs = conv_window(net.trace, rec.name, ch, y, x)
        assert_sum_is_true(net, cs)
        last = cs.cell.in_channels[-1]  # any input channel of its group can be shown
        assert_sum_is_true(net, conv_window(net.trace, rec.name, ch, 0, 0, last))


def test_the_old_bug_is_gone(nets):
    """pytorch/examples-style F.relu between convs: the window reads relu's output."""
    net = nets["examples"]
    cv = build_animation("convolution", net.trace, layer="conv2", **SMALL).meta["view"]
    relu = net.trace.layer("relu").output
    np.testing.assert_array_equal(cv.inputs, relu)
    assert not np.allclose(cv.inputs, net.trace.layer("conv1").output)


def _tampered(trace, how: str, layer: str):
    t = copy.deepcopy(trace)
    rec = t.layer(layer)
    if how == "inputs":
        names = t.names()
        rec.inputs = [names[names.index(layer) - 2]]  # a record before the real input
    else:
        rec.weight = rec.weight.copy()
        rec.weight[..., 0, 0] += 0.25
    return t


@pytest.mark.parametrize("how", ["inputs", "weight"])
def test_tampered_traces_are_refused_by_every_view(nets, how):
    from explainer.app.conv_window import conv_window

    net = nets["examples"]  # conv1 → relu → conv2: the wrong input has the right shape
    bad = _tampered(net.trace, how, "conv2")
    with pytest.raises(ArithMismatch, match="conv2"):
        build_animation("convolution", bad, layer="conv2", **SMALL)
    with pytest.raises(ArithMismatch, match="conv2"):
        conv_window(bad, "conv2", 0, 5, 5)
    if how == "weight":
        first = _tampered(net.trace, how, "conv1")
        pytest.importorskip("manim")
        from explainer.scenes.convolution import scene_numbers

        with pytest.raises(ArithMismatch, match="conv1"):
            scene_numbers(first)


def test_tampered_next_step_is_refused(nets):
    net = nets["mnist_bn_cnn"]
    bad = copy.deepcopy(net.trace)
    bn = bad.layer("block1.bn2")
    bn.arrays = {**bn.arrays, "running_mean": bn.arrays["running_mean"] + 0.5}
    with pytest.raises(ArithMismatch, match=r"block1\.bn2"):
        build_animation("convolution", bad, layer="block1.conv2", **SMALL)


def test_cli_prints_a_mismatch_as_one_line(nets, tmp_path, capsys):
    from explainer.cli import main

    path = tmp_path / "bad.npz"
    _tampered(nets["examples"].trace, "weight", "conv2").save(path)
    code = main(["render", "convolution", "--trace", str(path), "--layer", "conv2",
                 "--out", str(tmp_path / "c.gif"), "--fps", "4", "--seconds", "16"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("explainer: error: ") and "\n" not in err and "conv2" in err
    assert not (tmp_path / "c.gif").exists()


@pytest.mark.parametrize("name", ["mnist_bn_cnn", "tanh_lenet", "strided"])
def test_scene_panel_is_readable_and_clear_of_the_maps(nets, name):
    """Every weight at one size (a negative one keeps its minus sign and is not shrunk more
    than a positive one), and the worked panel stays between the two maps and above the
    caption line."""
    pytest.importorskip("manim")
    from explainer.scenes.convolution import (
        GRID_Y,
        MAP_HEIGHT,
        MAP_X,
        ConvolutionScene,
        kernel_group,
        scene_numbers,
    )

    nums = scene_numbers(nets[name].trace)
    kern_group = kernel_group(nums)
    squares, numbers = kern_group[0]
    heights = {round(n.height, 6) for n in numbers}
    assert len(heights) == 1, heights  # one size for every weight
    assert all(n.width <= squares[0].width for n in numbers)
    signs = np.sign(nums.cells[-1].kernel.ravel())
    if (signs < 0).any() and (signs > 0).any():  # "−0.158" is wider than "0.158": sign kept
        neg = max(n.width for n, s in zip(numbers, signs, strict=True) if s < 0)
        pos = max(n.width for n, s in zip(numbers, signs, strict=True) if s > 0)
        assert neg > pos * 0.99
    scene = ConvolutionScene(trace=nets[name].trace)
    scene.numbers = nums
    cell = squares[0].width
    for cs in nums.cells:
        panel = scene.product_panel(cs, cell, kern_group)
        left, right = panel.get_left()[0], panel.get_right()[0]
        maps_edge = MAP_X - MAP_HEIGHT / 2  # the maps are square (28×28 inputs)
        assert -maps_edge < left and right < maps_edge, (left, right)
        assert panel.get_bottom()[1] > -3.2 and panel.get_top()[1] < GRID_Y + 1.7
        xs, prods, sums = panel
        assert (
            xs.get_right()[0]
            < kern_group.get_left()[0]
            < kern_group.get_right()[0]
            < (prods.get_left()[0])
        )
        assert sums.get_top()[1] < min(xs.get_bottom()[1], kern_group.get_bottom()[1])
