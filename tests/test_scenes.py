"""The Manim scenes: how they read a Trace (for every architecture), the numbers the
convolution scene writes out, each scene's last frame at known positions, and full renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("manim")

from manim import tempconfig

from explainer.architectures import available, build
from explainer.capture import capture
from explainer.errors import ExplainerError
from explainer.style import HIGHLIGHT_COLOR, colorize, hex_to_rgb
from scenes.comparison import ArchitectureComparisonScene, human_count, weight_count
from scenes.convolution import ConvolutionScene, first_conv, scene_numbers
from scenes.data_flow import DataFlowScene, flow_blocks
from scenes.forward_pass import ForwardPassScene, forward_stages
from tests.conftest import shipped


def random_trace(arch: str, sample, index: int = 7):
    torch.manual_seed(0)
    model = build(arch).eval()
    img = sample.images[index].numpy().astype(np.float32)
    img = img / 255.0 if img.max() > 1 else img
    return capture(model, img, label=int(sample.labels[index]), source="sample")


@pytest.fixture(scope="module")
def small_trace(sample):
    """A real trained network when shipped (fast_cnn: quick), else tinyvgg with fresh weights."""
    from explainer.capture import capture_checkpoint
    from explainer.checkpoints import models_dir

    if (models_dir() / "mnist_fast_cnn.pt").exists():
        ckpt = shipped("mnist_fast_cnn")
        img = sample.images[7].numpy().astype(np.float32)
        return capture_checkpoint(
            ckpt, img / 255.0 if img.max() > 1 else img, label=int(sample.labels[7])
        )
    return random_trace("tinyvgg", sample)


# --- how scenes read a Trace -----------------------------------------------------------------


@pytest.mark.parametrize("arch", available())
def test_forward_stages_and_flow_blocks_cover_every_architecture(arch, sample):
    trace = random_trace(arch, sample)
    stages = forward_stages(trace)
    kinds = [s.kind for s in stages]
    assert kinds[0] == "input" and kinds[-2:] == ["logits", "probs"]
    assert stages[-2].record.shape == trace.logits.shape
    np.testing.assert_array_equal(stages[-2].record.output, trace.logits)
    spatial = [r for r in trace.layers if r.is_spatial and r.kind == "pool"]
    assert sum(s.kind == "maps" and s.record.kind == "pool" for s in stages) == len(spatial)
    convs = [r for r in trace.layers if r.kind == "conv"]
    assert sum(any(x.kind == "conv" for x in s.records) for s in stages) == len(convs)
    # no layer drawn twice, none lost except normalise / dropout
    drawn = [r.name for s in stages for r in s.records]
    assert drawn == [r.name for r in trace.layers if r.kind not in ("normalize", "dropout")]

    blocks = flow_blocks(trace)
    assert blocks[0].shape == (1, 28, 28)
    starts = [r for r in trace.layers if r.kind in ("conv", "pool", "flatten", "linear")]
    assert [b.records[0].name for b in blocks[1:]] == [r.name for r in starts]
    assert [b.shape for b in blocks[1:]] == [b.records[-1].shape for b in blocks[1:]]
    assert blocks[-1].shape == (10,)


def test_bn_cnn_stage_titles(sample):
    stages = forward_stages(random_trace("bn_cnn", sample))
    titles = [s.title for s in stages]
    assert titles[:4] == ["input", "conv 3×3 + BN + ReLU", "conv 3×3 + BN + ReLU", "max pool 2×2"]
    assert [s.record.shape for s in stages if s.kind == "maps"][-1] == (128, 3, 3)
    assert stages[-3].kind == "dense" and stages[-3].record.shape == (256,)


def test_convolution_numbers_match_the_network(small_trace):
    """The scene's map and worked cells against torch's conv on the layer's real input."""
    conv, inp = first_conv(small_trace)
    np.testing.assert_array_equal(inp, small_trace.value(conv.inputs[0]))
    nums = scene_numbers(small_trace)
    p = conv.params
    ref = torch.nn.functional.conv2d(
        torch.tensor(np.array(inp, np.float32))[None], torch.tensor(conv.weight),
        torch.tensor(conv.bias), p["stride"], p["padding"], p["dilation"], p["groups"],
    )[0, nums.channel].numpy()  # fmt: skip
    np.testing.assert_allclose(nums.output, ref, atol=1e-4)
    for cs in nums.cells:
        assert cs.value == pytest.approx(float(ref[cs.cell.y, cs.cell.x]), abs=1e-4)
        np.testing.assert_allclose(cs.products, cs.patch * conv.weight[nums.channel, cs.shown])
    for step in nums.steps:  # the maps after the conv are the network's own records
        np.testing.assert_array_equal(step.values, step.record.output[nums.channel])


def test_default_trace_follows_the_environment(small_trace, tmp_path, monkeypatch):
    from scenes.inputs import comparison_traces, default_trace

    small_trace.save(tmp_path / "a.npz")
    monkeypatch.setenv("EXPLAINER_TRACE", str(tmp_path / "a.npz"))
    got = default_trace()
    np.testing.assert_array_equal(got.logits, small_trace.logits)
    other = small_trace.layers[0].output[0]  # any (28, 28) array will do for a second file
    monkeypatch.delenv("EXPLAINER_TRACE")
    monkeypatch.setenv("EXPLAINER_ARCH", "linear")
    lin = default_trace()
    assert lin.architecture == "linear" and lin.image.shape == other.shape
    np.testing.assert_array_equal(lin.image, small_trace.image)  # the same bundled digit
    monkeypatch.setenv("EXPLAINER_TRACE_B", str(tmp_path / "a.npz"))
    a, b = comparison_traces(lin)
    assert a is lin and b.architecture == small_trace.architecture
    monkeypatch.setenv("EXPLAINER_ARCH", "nonsense")
    with pytest.raises(ExplainerError, match="unknown architecture"):
        default_trace()


def test_convolution_scene_refuses_networks_without_convolutions(sample):
    with pytest.raises(ExplainerError, match="convolution"):
        first_conv(random_trace("mlp", sample))


def test_weight_count(sample):
    trace = random_trace("tinyvgg", sample)
    assert weight_count(trace) == sum(p.numel() for p in build("tinyvgg").parameters()) == 7740
    assert human_count(7740) == "7.7 k" and human_count(1_199_882) == "1.20 M"


# --- last frames at known positions ---------------------------------------------------------

W, H = 480, 270


def last_frame(scene_cls, tmp_path, **kwargs):
    options = {
        "pixel_width": W,
        "pixel_height": H,
        "media_dir": str(tmp_path),
        "save_last_frame": True,
        "write_to_movie": False,
        "disable_caching": True,
        "progress_bar": "none",
        "verbosity": "WARNING",
    }
    with tempconfig(options):
        scene = scene_cls(**kwargs)
        scene.render()
        frame = np.asarray(scene.camera.pixel_array)[..., :3].astype(int).copy()
    import imageio.v3 as iio

    iio.imwrite(tmp_path / f"{scene_cls.__name__}_last.png", frame.astype(np.uint8))  # to look at
    return scene, frame


def to_pixel(scene, point) -> tuple[int, int]:
    """(row, col) of a scene point in the last frame."""
    f = scene.camera.frame
    c = f.get_center()
    col = (point[0] - c[0]) / f.width * W + W / 2
    row = H / 2 - (point[1] - c[1]) / f.height * H
    return int(row), int(col)


def colour_at(frame, rc, radius: int = 0) -> np.ndarray:
    r, c = rc
    return frame[r - radius : r + radius + 1, c - radius : c + radius + 1].reshape(-1, 3).mean(0)


def flat_pixel(values: np.ndarray, ink: bool) -> tuple[int, int, float]:
    """(row, col, value) of the inkiest (or emptiest) value whose 3×3 neighbourhood is as
    even as possible, so a sample of the rendered frame there is safe."""
    h, w = values.shape
    best, pick = None, (1, 1)
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            nb = values[r - 1 : r + 2, c - 1 : c + 2]
            score = -nb.min() if ink else nb.max()
            if best is None or score < best:
                best, pick = score, (r, c)
    return pick[0], pick[1], float(values[pick])


def test_forward_pass_last_frame(small_trace, tmp_path):
    scene, frame = last_frame(ForwardPassScene, tmp_path, trace=small_trace)
    stages = scene.stages
    assert [s.kind for s in stages] == [s.kind for s in forward_stages(small_trace)]
    digit = stages[0].mobject.main
    img = (small_trace.image * 255).round()
    for ink in (False, True):
        r, c, value = flat_pixel(img, ink)
        got = colour_at(frame, to_pixel(scene, digit.pixel_center(r, c)))
        np.testing.assert_allclose(got, [value] * 3, atol=50)
    bars = stages[-1].mobject.bars
    winner = bars.bars[small_trace.prediction]
    np.testing.assert_allclose(
        colour_at(frame, to_pixel(scene, winner.get_center())), hex_to_rgb(HIGHLIGHT_COLOR), atol=30
    )
    # every map of the first conv stage: its screen area has the mean colour of its values
    stack = stages[1].mobject.stack
    for fm in stack.maps:
        corners = [fm.image.get_corner(np.array(d)) for d in ((-1, 1, 0), (1, -1, 0))]
        (r0, c0), (r1, c1) = (to_pixel(scene, p) for p in corners)
        area = frame[r0 + 1 : r1, c0 + 1 : c1].reshape(-1, 3).mean(0)
        expected = colorize(fm.values, stack.value_scale).reshape(-1, 3).mean(0)
        np.testing.assert_allclose(area, expected, atol=25)
    assert (
        np.abs(colour_at(frame, (2, 2)) - np.array(hex_to_rgb("#0f1117"))).max() < 4
    )  # background


def test_convolution_last_frame(small_trace, tmp_path):
    scene, frame = last_frame(ConvolutionScene, tmp_path, trace=small_trace)
    maps, steps = scene.result_maps, scene.numbers.steps
    assert len(maps) == len(steps) + 1 and steps  # the conv map, then one map per real step
    for fm in maps[-2:]:
        r, c = np.unravel_index(np.argmax(fm.values), fm.values.shape)
        expected = colorize(fm.values[r, c], fm.value_scale)
        got = colour_at(frame, to_pixel(scene, fm.pixel_center(int(r), int(c))))
        np.testing.assert_allclose(got, expected, atol=40)
    F = torch.nn.functional
    for before, after, step in zip(maps[:-1], maps[1:], steps, strict=True):
        x = torch.from_numpy(np.array(before.values))[None]
        kind = "relu" if step.record.description == "ReLU" else step.record.kind
        ref = {"relu": F.relu, "pool": lambda t: F.max_pool2d(t, 2)}.get(kind)
        if ref is not None and step.record.params.get("mode", "max") == "max":
            np.testing.assert_allclose(after.values, ref(x)[0].numpy(), atol=1e-6)


def test_data_flow_and_comparison_last_frames(small_trace, sample, tmp_path):
    scene, frame = last_frame(DataFlowScene, tmp_path / "flow", trace=small_trace)
    face = scene.volumes[0].face
    img = (small_trace.image * 255).round()
    r, c, value = flat_pixel(img, ink=True)
    assert value > 200
    got = colour_at(frame, to_pixel(scene, face.pixel_center(r, c)))
    np.testing.assert_allclose(got, [value] * 3, atol=50)

    other = random_trace("mlp", sample)
    scene, frame = last_frame(
        ArchitectureComparisonScene, tmp_path / "cmp", trace=small_trace, trace_b=other
    )
    for row in scene.rows:
        bar = row.bars.bars[row.trace.prediction]
        np.testing.assert_allclose(
            colour_at(frame, to_pixel(scene, bar.get_center())),
            hex_to_rgb(HIGHLIGHT_COLOR),
            atol=30,
        )


# --- full renders -----------------------------------------------------------------------------


def check_video(path, scene_cls, trace, tmp_path):
    import imageio.v3 as iio

    frames = iio.imread(path, plugin="pyav" if str(path).endswith(".mp4") else None)
    assert frames.shape[0] > 15 * 5  # several seconds at 15 fps
    assert (
        np.abs(frames[0].astype(int) - np.array(hex_to_rgb("#0f1117"))).max() < 40
    )  # starts blank
    _, still = last_frame(scene_cls, tmp_path / "still", trace=trace)
    diff = np.abs(frames[-1][..., :3].astype(int) - still).mean()
    assert diff < 8, f"the video's last frame differs from the rendered still ({diff:.1f})"


def test_render_manim_dataflow_gif(sample, tmp_path):
    """The one full render of the default suite: the shortest scene, the smallest network."""
    from explainer.manim_render import render_manim

    trace = random_trace("linear", sample)
    out = render_manim("dataflow", trace, tmp_path / "flow.gif", resolution=(W, H))
    check_video(out, DataFlowScene, trace, tmp_path)
    assert not list(tmp_path.glob(".flow*"))  # no temp file left beside it


def test_render_manim_rejects_bad_requests(small_trace, tmp_path):
    from explainer.manim_render import render_manim

    with pytest.raises(ExplainerError, match=r"\.mp4 or \.gif"):
        render_manim("forward", small_trace, tmp_path / "x.avi")
    with pytest.raises(ExplainerError, match="choose one of"):
        render_manim("nope", small_trace, tmp_path / "x.mp4")
    with pytest.raises(ExplainerError, match="quality"):
        render_manim("forward", small_trace, tmp_path / "x.mp4", quality="ultra")


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,cls", [("forward", ForwardPassScene), ("convolution", ConvolutionScene)]
)
def test_render_manim_full_low_quality(kind, cls, small_trace, tmp_path):
    from explainer.manim_render import render_manim

    out = render_manim(kind, small_trace, tmp_path / f"{kind}.mp4", resolution=(W, H))
    check_video(out, cls, small_trace, tmp_path)
