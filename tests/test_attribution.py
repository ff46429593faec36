"""Saliency and Grad-CAM on a hand-built model whose answer depends on one known region."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explainer.analysis.attribution import (
    grad_cam,
    grad_cam_all,
    gradcam_layer,
    last_conv_layer,
    plot_attributions,
    plot_class_evidence,
    saliency,
)
from explainer.errors import ExplainerError
from explainer.nets.architectures import build
from explainer.tracing.capture import capture

TOP_LEFT = (slice(3, 9), slice(2, 14))  # where the horizontal bar lies
BOTTOM_RIGHT = (slice(14, 26), slice(18, 24))  # where the vertical bar lies


def stroke_model(inplace: bool = False) -> nn.Sequential:
    """Class 0 = amount of horizontal stroke, class 1 = amount of vertical stroke.

    The conv has a horizontal-line detector (channel 0) and a vertical one (channel 1); a
    1-pixel bar of the other orientation gives exactly 0 after the ReLU."""
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    h = torch.tensor([[-1.0, -1, -1], [1, 1, 1], [-1, -1, -1]])
    with torch.no_grad():
        conv.weight.copy_(torch.stack([h, h.T])[:, None])
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2) * 0.1)
        head.bias.zero_()
    return nn.Sequential(
        conv, nn.ReLU(inplace=inplace), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head
    ).eval()


def two_bars() -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    img[6, 4:12] = 1.0  # horizontal bar, top left
    img[16:24, 21] = 1.0  # vertical bar, bottom right
    return img


def _share(m: np.ndarray, region: tuple[slice, slice]) -> float:
    return float(m[region].sum() / m.sum())


@pytest.mark.parametrize("inplace", [False, True])
def test_grad_cam_lights_the_region_the_answer_depends_on(inplace):
    model = stroke_model(inplace)
    img = two_bars()
    horizontal = grad_cam(model, img, target=0)
    vertical = grad_cam(model, img, target=1)
    assert last_conv_layer(model) == "0"  # the maps Grad-CAM weighs: after the ReLU
    assert horizontal.layer == vertical.layer == "1" == gradcam_layer(model)
    assert horizontal.map.shape == (28, 28) and horizontal.map.max() == pytest.approx(1.0)
    assert _share(horizontal.map, TOP_LEFT) > 0.9
    assert _share(vertical.map, BOTTOM_RIGHT) > 0.9
    assert horizontal.raw.shape == (28, 28) and horizontal.method == "grad-cam"
    # the two class maps from one pass equal the single-class calls
    both = grad_cam_all(model, img)
    assert [a.target for a in both] == [0, 1]
    np.testing.assert_allclose(both[0].map, horizontal.map, atol=1e-6)
    np.testing.assert_allclose(both[1].map, vertical.map, atol=1e-6)


def test_saliency_is_the_input_gradient_and_sits_on_the_region():
    model = stroke_model()
    img = two_bars()
    sal = saliency(model, img, target=0)
    x = torch.from_numpy(img)[None, None].requires_grad_(True)
    model(x)[0, 0].backward()
    expected = x.grad[0, 0].abs().numpy()
    np.testing.assert_allclose(sal.raw, expected, rtol=1e-6)
    assert _share(sal.map, (slice(2, 11), slice(0, 17))) > 0.95
    smooth = saliency(model, img, target=1, smooth=16)
    assert smooth.method == "smoothgrad" and smooth.target == 1
    assert smooth.map[BOTTOM_RIGHT].mean() > 1.2 * smooth.map[TOP_LEFT].mean()


def test_default_target_is_prediction_and_state_is_left_alone(sample):
    torch.manual_seed(0)
    model = build("tinyvgg").train()
    img = sample.floats()[2, 0].numpy()
    with torch.no_grad():
        model.eval()
        pred = int(model(torch.from_numpy(img)[None, None]).argmax())
        model.train()
    cam = grad_cam(model, img)
    sal = saliency(model, img)
    assert cam.target == sal.target == cam.prediction == pred
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    assert cam.layer == "block2.relu2"  # the last conv block after its activation
    with pytest.raises(ExplainerError, match="classes 0 to 9"):
        grad_cam(model, img, target=12)
    with pytest.raises(ExplainerError, match="no convolution layer"):
        grad_cam(build("mlp"), img)


def test_figures_render(sample):
    torch.manual_seed(0)
    model = build("fast_cnn").eval()
    img = sample.floats()[0, 0].numpy()
    fig = plot_attributions([saliency(model, img), grad_cam(model, img)], title="t")
    assert len(fig.axes) == 4  # input, two overlays, the colour bar
    plt.close(fig)
    fig = plot_class_evidence(grad_cam_all(model, img))
    assert sum(ax.get_visible() for ax in fig.axes) == 11
    plt.close(fig)


# --- against captum, the reference implementation ----------------------------------------------


def _few_digits():
    from explainer.data import load_sample

    s = load_sample()
    return [(s.floats()[i, 0], int(s.labels[i])) for i in (0, 1, 2, 3)]


@pytest.fixture(params=["bn_cnn", "tinyvgg"])
def shipped_model(request) -> nn.Module:
    """Two shipped checkpoints (conftest's fixtures), in eval mode as loaded."""
    return request.getfixturevalue(request.param).model


def _targets(label: int) -> list[int | None]:
    """The default (the predicted class) and one other class."""
    return [None, (label + 1) % 10]


def _peak_one(a: np.ndarray) -> np.ndarray:
    """``a`` divided by its maximum (all zeros stay zeros), as float32."""
    return (a / a.max() if a.max() > 0 else a).astype(np.float32)


def test_saliency_equals_captums(shipped_model):
    """Bit-identical today: captum's Saliency is the same ``|d score / d pixel|`` autograd."""
    captum_attr = pytest.importorskip("captum.attr")
    for image, label in _few_digits():
        for target in _targets(label):
            ours = saliency(shipped_model, image, target)
            x = image[None, None].clone().requires_grad_(True)
            ref = captum_attr.Saliency(shipped_model).attribute(x, target=ours.target, abs=True)
            ref = ref[0, 0].detach().numpy()
            np.testing.assert_array_equal(ours.raw, ref)
            np.testing.assert_array_equal(ours.map, _peak_one(ref))
            if target is None:
                with torch.no_grad():
                    assert ours.target == int(shipped_model(image[None, None]).argmax())


def test_grad_cam_equals_captums_layer_grad_cam(shipped_model):
    """Bit-identical today: captum's LayerGradCam on the module our Grad-CAM reads, scaled up
    the way ours is (bilinear, corners not aligned, then negatives cut) and divided by its
    peak."""
    captum_attr = pytest.importorskip("captum.attr")
    layer = gradcam_layer(shipped_model)
    module = dict(shipped_model.named_modules())[layer]
    cam = captum_attr.LayerGradCam(shipped_model, module)
    lit = 0
    for image, label in _few_digits():
        for target in _targets(label):
            ours = grad_cam(shipped_model, image, target)
            assert ours.layer == layer
            ref = cam.attribute(image[None, None], target=ours.target, relu_attributions=True)
            np.testing.assert_array_equal(ours.raw, ref[0, 0].detach().numpy())
            up = torch.nn.functional.interpolate(
                ref.detach(), size=(28, 28), mode="bilinear", align_corners=False
            )[0, 0].clamp_min(0)
            np.testing.assert_array_equal(ours.map, _peak_one(up.numpy()))
            lit += int(ours.raw.max() > 0)
    assert lit >= 4  # at least the predicted classes' maps are not empty: the checks can fail


# --- real networks: the default layer is fine enough to say "where" ---------------------------


@pytest.fixture(scope="module")
def resnet18():
    from zoo import build_zoo

    return build_zoo("resnet18")


def test_resnet18_reads_the_last_4x4_block_after_its_add_and_relu_like_captum(resnet18):
    """torchvision's ResNet-18 on 28×28 digits: layer3 and layer4 give 2×2 and 1×1 maps, so the
    default is layer2's output, the ReLU after its last block's residual add. Captum's
    LayerGradCam on the module ``layer2`` (the block's output, after add and ReLU) is the
    reference."""
    captum_attr = pytest.importorskip("captum.attr")
    assert gradcam_layer(resnet18) == "layer2.1.relu#2"
    cam = captum_attr.LayerGradCam(resnet18, resnet18.layer2)
    lit = 0
    for image, label in _few_digits():
        for target in _targets(label):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a 4×4 map is fine: no warning
                ours = grad_cam(resnet18, image, target)
            assert ours.layer == "layer2.1.relu#2" and ours.warning == ""
            assert ours.raw.shape == (4, 4)
            assert ours.where == "layer2.1.relu#2, 4×4 maps" and ours.where in ours.title
            ref = cam.attribute(image[None, None], target=ours.target, relu_attributions=True)
            np.testing.assert_allclose(ours.raw, ref[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
            lit += int(ours.raw.max() > 0)
    assert lit >= 4


def test_a_map_smaller_than_4x4_warns_in_the_api_and_in_the_picture(resnet18):
    img = _few_digits()[0][0]
    with pytest.warns(UserWarning, match=r"^Grad-CAM of layer4\.1\.relu#2 has only 1×1 maps"):
        one = grad_cam(resnet18, img, layer="layer4.1.relu#2")
    assert "at least 4×4" in one.warning and "\n" not in one.warning
    assert np.ptp(one.map) < 1e-5  # what the warning is about: one heat for every pixel
    with pytest.warns(UserWarning, match="only 2×2 maps"):
        every = grad_cam_all(resnet18, img, layer="layer3.1.relu#2", targets=[0, 1])
    assert all("2×2" in a.warning for a in every)
    fig = plot_attributions([saliency(resnet18, img), one])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("only 1×1 maps" in t for t in texts)
    assert "layer4.1.relu#2, 1×1 maps" in fig.axes[2].get_title()
    plt.close(fig)
    fig = plot_class_evidence(every)
    assert "only 2×2 maps" in fig.texts[0].get_text()
    plt.close(fig)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("resnetish", "cat"), ("convnext", "block.add"), ("strided", "act3"), ("examples", "relu#2")],
)
def test_the_default_is_the_last_block_output_of_at_least_4x4(name, expected):
    """The zoo's answers, by hand: resnetish joins two conv branches with torch.cat (14×14);
    the ConvNeXt-style net's last 4×4-or-more output is its block's residual add (7×7; its
    ``down`` conv is 3×3, and the hand-written channel norm's ``x - mean`` is no merge)."""
    from zoo import build_zoo

    from explainer.analysis.cam_layer import MIN_CAM_SIDE, gradcam_choice

    model = build_zoo(name)
    chosen = gradcam_choice(model)
    assert chosen.name == expected and chosen.side >= MIN_CAM_SIDE and chosen.warning == ""
    trace = capture(model, np.zeros((28, 28), np.float32), with_weights=False)
    assert trace.layer(expected).shape == chosen.shape
    later = trace.names()[trace.names().index(expected) + 1 :]
    convs = [n for n in later if trace.layer(n).kind == "conv"]
    assert all(min(trace.layer(n).shape[-2:]) < MIN_CAM_SIDE for n in convs)


def test_the_app_names_the_layer_and_flags_coarse_maps(resnet18):
    from types import SimpleNamespace

    from explainer.app.attributions import cam_layer_text, cam_warning

    assert cam_layer_text(SimpleNamespace(model=resnet18)) == " of layer2.1.relu#2 (4×4 maps)"
    assert cam_warning(SimpleNamespace(model=resnet18)) == ""
    assert cam_layer_text(SimpleNamespace(model=build("mlp"))) == ""

    class Tiny(nn.Module):  # 28 → 14 → 7 → 4 → 2: even the last conv's maps are 2×2
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.Sequential(*[nn.Conv2d(1, 1, 3, 2, 1) for _ in range(4)])
            self.fc = nn.Linear(4, 10)

        def forward(self, x):
            return self.fc(self.convs(x).flatten(1))

    tiny = SimpleNamespace(model=Tiny().eval())
    assert cam_layer_text(tiny) == " of convs.2 (4×4 maps)"
    assert cam_warning(tiny) == ""
    three = nn.Sequential(nn.Conv2d(1, 2, 7, stride=10), nn.ReLU(), nn.Flatten(), nn.Linear(18, 10))
    coarse = SimpleNamespace(model=three.eval())
    assert cam_layer_text(coarse) == " of 1 (3×3 maps)"  # the only maps there are, after ReLU
    assert cam_warning(coarse).startswith("Grad-CAM of 1 has only 3×3 maps")
    with pytest.warns(UserWarning, match="only 3×3 maps"):
        assert grad_cam(coarse.model, two_bars()).warning == cam_warning(coarse)


class DownBlockNet(nn.Module):
    """Three strided convs (28 → 14 → 7 → 4), then a ShuffleNet/RegNet-style downsampling
    block: its main branch starts with a 1×1 conv at 4×4 before its strided conv, its
    shortcut reads the block's input, and the add is 2×2."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*[nn.Sequential(nn.Conv2d(c, 8, 3, 2, 1), nn.ReLU())
                                    for c in (1, 8, 8)])  # fmt: skip
        self.expand = nn.Conv2d(8, 16, 1)
        self.down = nn.Conv2d(16, 8, 3, 2, 1)
        self.shortcut = nn.Conv2d(8, 8, 1, 2)
        self.fc = nn.Linear(8 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.down(F.relu(self.expand(x))) + self.shortcut(x)
        return self.fc(F.relu(y).flatten(1))


def test_the_default_is_never_one_branch_of_a_block():
    """The main branch's 1×1 conv (4×4, after its ReLU) ran last of the 4×4 maps, but the
    shortcut does not read it: the default is the block's input, which everything after it
    reads, and captum's LayerGradCam on that module agrees."""
    from explainer.analysis.cam_layer import cut_points

    torch.manual_seed(0)
    model = DownBlockNet().eval()
    trace = capture(model, np.zeros((28, 28), np.float32), with_weights=False)
    assert trace.layer("relu").shape == (16, 4, 4)  # the branch's ReLU: later, but one branch
    assert "relu" not in cut_points(trace) and "stem.2.1" in cut_points(trace)
    assert gradcam_layer(model) == "stem.2.1"
    captum_attr = pytest.importorskip("captum.attr")
    image, _ = _few_digits()[1]
    ours = grad_cam(model, image)
    ref = captum_attr.LayerGradCam(model, model.stem[2][1]).attribute(
        image[None, None], target=ours.target, relu_attributions=True
    )
    np.testing.assert_allclose(ours.raw, ref[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
