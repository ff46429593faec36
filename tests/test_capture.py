"""capture() and capture_batch() against references: the submodules called by hand."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from zoo import REAL, build_zoo

from explainer.errors import ExplainerError
from explainer.nets.architectures import available, build
from explainer.tracing.batch import capture_batch
from explainer.tracing.capture import (
    BadImageError,
    LayerNameError,
    as_batch,
    capture,
    capture_checkpoint,
    layer_names,
)
from explainer.tracing.layers import plan_of
from explainer.tracing.recompute import UnreplayableWarning


def _seeded(arch: str) -> nn.Module:
    torch.manual_seed(0)
    model = build(arch)
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _leaf_reference(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Walk the nn.Sequential tree by hand, calling each leaf on the previous output."""
    out: list[tuple[str, torch.Tensor]] = []

    def walk(mod: nn.Module, prefix: str, h: torch.Tensor) -> torch.Tensor:
        for name, child in mod.named_children():
            path = f"{prefix}{name}"
            if isinstance(child, nn.Sequential):
                h = walk(child, path + ".", h)
            else:
                h = child(h)
                out.append((path, h))
        return h

    with torch.no_grad():
        walk(model, "", x)
    return out


@pytest.mark.parametrize("arch", available())
def test_every_layer_equals_calling_the_submodules_in_order(arch, sample):
    model = _seeded(arch)
    image = sample.floats()[3, 0]
    trace = capture(model, image.numpy(), label=int(sample.labels[3]))
    reference = _leaf_reference(model, image[None, None])
    assert trace.names() == [n for n, _ in reference] == layer_names(model)
    for record, (_, ref) in zip(trace.layers, reference, strict=True):
        np.testing.assert_array_equal(record.output, ref[0].numpy(), err_msg=record.name)
    with torch.no_grad():
        logits = model(image[None, None])[0].numpy()
    np.testing.assert_array_equal(trace.logits, logits)
    assert trace.probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert trace.prediction == int(np.argmax(logits))
    assert trace.image.shape == (28, 28) and trace.image.dtype == np.float32
    assert trace.label == int(sample.labels[3]) and trace.architecture == arch


def test_kinds_params_and_weights(sample):
    model = _seeded("bn_cnn")
    trace = capture(model, sample.floats()[0])
    conv = trace.layer("block1.conv1")
    assert conv.kind == "conv" and conv.shape == (32, 28, 28)
    assert conv.params["kernel_size"] == [3, 3] and conv.params["padding"] == [1, 1]
    assert conv.input_shape == (1, 28, 28)
    np.testing.assert_array_equal(conv.weight, model.block1.conv1.weight.detach().numpy())
    np.testing.assert_array_equal(conv.bias, model.block1.conv1.bias.detach().numpy())
    kinds = {r.name: r.kind for r in trace.layers}
    assert kinds["normalize"] == "normalize" and kinds["block1.bn1"] == "bn"
    assert kinds["block1.relu1"] == "relu" and kinds["block1.pool"] == "pool"
    assert kinds["block1.dropout"] == "dropout" and kinds["classifier.flatten"] == "flatten"
    assert kinds["classifier.fc2"] == "linear"
    assert trace.layer("classifier.fc2").weight.shape == (10, 256)
    assert trace.layer("block1.relu1").weight is None
    assert conv.description == "conv 3×3, 1→32, pad 1"
    # weights follow the model when it changes (cached copies are invalidated)
    with torch.no_grad():
        model.block1.conv1.weight.add_(1.0)
    again = capture(model, sample.floats()[0], layers=["block1.conv1"])
    np.testing.assert_array_equal(again.layer("block1.conv1").weight, conv.weight + 1.0)
    assert not capture(model, sample.floats()[0], with_weights=False).layer("block1.conv1").weight


def test_only_requested_layers_and_bad_names(sample):
    model = _seeded("tinyvgg")
    trace = capture(model, sample.floats()[1], layers=["block2.pool", "block1.conv1"])
    assert trace.names() == ["block1.conv1", "block2.pool"]  # in the order they ran
    with pytest.raises(ValueError, match=r"valid names: normalize, block1\.conv1") as info:
        capture(model, sample.floats()[1], layers=["block9.conv"])
    assert isinstance(info.value, LayerNameError) and isinstance(info.value, ExplainerError)


def _hook_count(model: nn.Module) -> int:
    """Hooks left on the model's modules, plus process-wide module hooks."""
    from torch.nn.modules import module as torch_module

    own = sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )
    return (
        own + len(torch_module._global_forward_hooks) + len(torch_module._global_forward_pre_hooks)
    )


class Exploding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


def test_hooks_removed_and_modes_restored_after_success_and_error(sample):
    model = _seeded("bn_cnn")
    model.train()
    model.block2.eval()  # a mixed state must come back exactly
    before = {n: m.training for n, m in model.named_modules()}
    trace = capture(model, sample.floats()[0])
    # eval mode during the pass: dropout off, batch norm uses running statistics
    with torch.no_grad():
        model.eval()
        expected = model(sample.floats()[:1])[0].numpy()
        model.train()
        model.block2.eval()
    np.testing.assert_array_equal(trace.logits, expected)
    assert {n: m.training for n, m in model.named_modules()} == before
    assert _hook_count(model) == 0

    broken = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), Exploding()).train()
    with pytest.raises(RuntimeError, match="boom"):
        capture(broken, sample.floats()[0])
    assert _hook_count(broken) == 0 and all(m.training for m in broken.modules())
    with pytest.raises(RuntimeError, match="boom"):
        capture_batch(broken, sample.floats()[:4])
    assert _hook_count(broken) == 0 and all(m.training for m in broken.modules())


class BadHead(nn.Module):
    """A ``forward`` of its own whose dense layer gets the wrong number of features."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(x).flatten(1))


def test_a_layer_that_raises_leaves_no_torch_function_mode_behind(sample):
    """Calls are not watched inside a layer; when the layer raises, its own error comes out
    and the mode stack is as it was, so the next capture records its calls again."""
    depth = torch._C._len_torch_function_stack()
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        capture(BadHead().eval(), sample.floats()[0])
    assert torch._C._len_torch_function_stack() == depth
    trace = capture(UserNet().eval(), sample.floats()[0])
    assert "sub" in trace.names() and "flatten" in trace.names()


class PoolBy(nn.Module):
    """``F.max_pool2d`` with a window set from outside (the same call site, other values)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.k: object = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.conv(x), self.k).flatten(1)


def test_call_settings_follow_each_calls_own_arguments(sample):
    """Settings worked out once per distinct arguments: another window, or the same number
    as another type, is another setting; each record owns its lists."""
    net = PoolBy().eval()
    seen = []
    for k in (2, 4, 2, (2, 4), 2):
        net.k = k
        trace = capture(net, sample.floats()[0])
        pool = trace.layer("max_pool2d")
        want = [k, k] if isinstance(k, int) else list(k)
        assert pool.params["kernel_size"] == want and pool.params["stride"] == want
        assert pool.output.shape == (2, 28 // want[0], 28 // want[1])
        seen.append(pool)
    seen[0].params["kernel_size"][0] = 99  # a caller changing one record changes no other
    assert seen[2].params["kernel_size"] == [2, 2] and seen[4].params["kernel_size"] == [2, 2]


class UserNet(nn.Module):
    """Not a Sequential: a user module with in-place ReLUs and a module used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Linear(4 * 28 * 28, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv(x))
        h = self.act(h - 0.1)
        return self.head(h.flatten(1))


def test_user_module_with_inplace_ops_and_reuse(sample):
    torch.manual_seed(1)
    net = UserNet().eval()
    x = sample.floats()[:1]
    trace = capture(net, x)
    with torch.no_grad():
        conv = net.conv(x)
        relu1 = torch.relu(conv)
        relu2 = torch.relu(relu1 - 0.1)
        logits = net.head(relu2.flatten(1))
    assert trace.names() == ["conv", "act", "sub", "act#2", "flatten", "head"]
    assert [r.inputs for r in trace.layers] == [
        ["input"],
        ["conv"],
        ["act"],
        ["sub"],
        ["act#2"],
        ["flatten"],
    ]
    np.testing.assert_array_equal(trace.layer("sub").output, (relu1 - 0.1)[0].numpy())
    assert (conv < 0).any()  # the recorded conv output must still hold its negative values
    np.testing.assert_array_equal(trace.layer("conv").output, conv[0].numpy())
    np.testing.assert_array_equal(trace.layer("act").output, relu1[0].numpy())
    np.testing.assert_array_equal(trace.layer("act#2").output, relu2[0].numpy())
    np.testing.assert_allclose(trace.logits, logits[0].numpy(), rtol=1e-6)
    assert trace.architecture == "UserNet"
    full = capture_batch(net, sample.floats()[:3], layers=["conv"], reduce="none")
    with torch.no_grad():
        np.testing.assert_array_equal(full["conv"], net.conv(sample.floats()[:3]).numpy())


class SometimesInPlace(nn.Module):
    """Changes its conv's output in place only when ``flag`` is set (a data-dependent path)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.flag = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        g = h * 2
        if self.flag:
            h.relu_()
        return (g + h).flatten(1)


def test_records_stay_right_when_in_place_changes_come_and_go(sample):
    """A later pass copies only the records an earlier one saw changed in place; a change the
    plan did not expect still leaves every record as it was made."""
    torch.manual_seed(2)
    net = SometimesInPlace().eval()
    x = sample.floats()[:1]
    with torch.no_grad():
        conv = net.conv(x)
    assert (conv < 0).any()
    for flag in (False, True, True, False, True):
        net.flag = flag
        trace = capture(net, x)
        np.testing.assert_array_equal(trace.layer("conv").output, conv[0].numpy())
        np.testing.assert_array_equal(trace.layer("mul").output, 2 * conv[0].numpy())
        done = (2 * conv + (conv.relu() if flag else conv)).flatten(1)
        np.testing.assert_array_equal(trace.logits, done[0].numpy())
    assert plan_of(net).copies == {"conv"}  # learned: later passes copy it and run once


def test_capture_batch_stats_match_full_arrays(sample):
    model = _seeded("tinyvgg")
    images = sample.floats()[:70]
    full = capture_batch(model, images, reduce="none", batch_size=32)
    stats = capture_batch(model, images, reduce="stats", batch_size=32)
    with torch.no_grad():
        np.testing.assert_allclose(full.logits, model(images).numpy(), rtol=1e-5, atol=1e-5)
    assert full.count == stats.count == 70
    for name in ["block1.conv1", "block1.relu2", "classifier.fc"]:
        a = full[name]
        axes = (0, 2, 3) if a.ndim == 4 else (0,)
        s = stats[name]
        np.testing.assert_allclose(s.mean, a.mean(axis=axes), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(s.max, a.max(axis=axes))
        np.testing.assert_array_equal(s.min, a.min(axis=axes))
        np.testing.assert_allclose(s.zero_fraction, (a == 0).mean(axis=axes), atol=1e-7)
        assert s.shape == a.shape[1:]
    assert (stats["block1.relu2"].zero_fraction > 0).all()
    peaks = capture_batch(model, images, ["block1.relu1"], reduce=lambda t: t.amax(dim=(2, 3)))
    np.testing.assert_array_equal(peaks["block1.relu1"], full["block1.relu1"].max(axis=(2, 3)))
    np.testing.assert_array_equal(stats.predictions, full.logits.argmax(1))


def test_image_forms_and_bad_images(sample):
    u8 = sample.images[0].numpy()
    x = as_batch(u8)
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    np.testing.assert_array_equal(x[0, 0].numpy(), u8 / np.float32(255.0))
    assert as_batch(sample.images[:5]).shape == (5, 1, 28, 28)
    with pytest.raises(BadImageError, match="divide 0-255 pixel values by 255"):
        as_batch(u8.astype(np.float32))
    with pytest.raises(BadImageError, match="shape"):
        as_batch(np.zeros((2, 3, 4, 5, 6), np.float32))


def test_capture_checkpoint_metadata(tmp_path, sample):
    from explainer.nets.checkpoints import load_checkpoint, make_payload, save_checkpoint

    payload = make_payload(
        _seeded("tinyvgg"), dataset="mnist", class_names=[str(d) for d in range(10)], epoch=4
    )
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "mnist_tinyvgg.pt", payload))
    trace = capture_checkpoint(ckpt, sample.floats()[0], label=7, source="sample #0")
    assert trace.checkpoint == "mnist_tinyvgg" and trace.architecture == "tinyvgg"
    assert trace.checkpoint_hash == ckpt.sha256 and len(trace.checkpoint_hash) == 16
    assert trace.class_names == [str(d) for d in range(10)] and trace.source == "sample #0"
    assert trace.meta["epoch"] == 4 and trace.label == 7


class Gate(nn.Module):
    """Holds the first forward pass that reaches it until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.held = threading.Event()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.held.is_set():
            self.held.set()
            self.release.wait(10)
        return x


def test_concurrent_captures_of_one_model_stay_apart(sample):
    torch.manual_seed(0)
    gate = Gate()
    model = nn.Sequential(nn.Conv2d(1, 3, 3), gate, nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
    gate.held.set()  # let passes through until the real test
    model(sample.floats()[:1])  # materialise the lazy layer
    model.eval()
    a, b = sample.floats()[0], sample.floats()[1]
    solo_a, solo_b = capture(model, a), capture(model, b)
    gate.held.clear()
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("a", capture(model, a)))
    worker.start()
    assert gate.held.wait(10)  # the worker is paused inside its forward pass, hooks registered
    trace_b = capture(model, b)
    gate.release.set()
    worker.join(10)
    for got, solo in ((result["a"], solo_a), (trace_b, solo_b)):
        assert got.names() == solo.names()
        for r, s in zip(got.layers, solo.layers, strict=True):
            np.testing.assert_array_equal(r.output, s.output)


class _Unreplayable(nn.Module):
    """Two calls this project does not replay (``cumsum``, ``logcumsumexp``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.logcumsumexp(torch.cumsum(self.conv(x), dim=3), dim=2)
        return self.fc(x.flatten(1))


def test_unreplayable_records_give_one_warning_naming_them(sample):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace = capture(_Unreplayable().eval(), sample.floats()[0, 0])
    assert [w.category for w in caught] == [UnreplayableWarning]
    assert issubclass(UnreplayableWarning, UserWarning) and caught[0].filename == __file__
    message = str(caught[0].message)
    assert "\n" not in message and "cumsum" in message and "logcumsumexp" in message
    assert trace.layer("logcumsumexp").inputs == ["cumsum"]  # kept in the graph all the same
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreplayableWarning)  # the zoo replays: no warning
        for name in REAL:
            capture(build_zoo(name), sample.floats()[0, 0], with_weights=False)


def test_torchvision_resnet18_is_captured_in_a_few_seconds(sample):
    model = build_zoo("resnet18")
    start = time.perf_counter()
    trace = capture(model, sample.floats()[0, 0])
    assert time.perf_counter() - start < 5
    assert len(trace.of_kind("conv")) == 20 and len(trace.of_kind("add")) == 8  # 8 blocks
    assert trace.layer("layer1.0.add").inputs == ["layer1.0.bn2", "maxpool"]


@pytest.mark.parametrize("functional", [False, True])
def test_a_captured_model_is_freed_when_its_owner_lets_go(functional):
    """The per-model caches (the plan, the probed record names) hold the model weakly: every
    checkpoint an app session uploaded used to stay in memory for good."""
    import gc
    import weakref

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(2 * 26 * 26, 10)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    model = Functional() if functional else nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    capture(model, np.zeros((28, 28), np.float32))
    layer_names(model)
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
