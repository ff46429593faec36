"""The Manim scenes: how they read a Trace (for every architecture), the numbers the
convolution scene writes out, each scene's last frame at known positions, and full renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("manim")

from manim import tempconfig

from explainer.errors import ExplainerError
from explainer.nets.architectures import available, build
from explainer.scenes.comparison import (
    ArchitectureComparisonScene,
    NetworkRow,
    count_text,
    network_text,
)
from explainer.scenes.convolution import ConvolutionScene, first_conv, scene_numbers
from explainer.scenes.data_flow import DataFlowScene, flow_blocks
from explainer.scenes.forward_pass import ForwardPassScene, forward_stages
from explainer.style import HIGHLIGHT_COLOR, colorize, hex_to_rgb
from explainer.tracing.capture import capture
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
    from explainer.nets.checkpoints import models_dir
    from explainer.tracing.capture import capture_checkpoint

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
    from explainer.scenes.inputs import comparison_traces, default_trace

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


def test_every_scene_counts_tensors_and_parameters_the_same_way(sample):
    """One count of tensors (input included) and the exact parameter count, against torch."""
    from explainer.analysis.flowgraph import parameter_count, tensor_count
    from explainer.nets.architectures import count_parameters

    for arch in ("tinyvgg", "bn_cnn", "mlp"):
        torch.manual_seed(0)
        model = build(arch).eval()
        trace = random_trace(arch, sample)
        assert parameter_count(trace) == count_parameters(model)
        assert tensor_count(trace) == len(flow_blocks(trace))  # the data-flow volumes
        row = NetworkRow(trace)
        n = len(row.volumes) + 1  # the comparison draws the shared input once, on the left
        expected = f"{n} tensors · {count_parameters(model):,} parameters"
        assert row.subtitle.text == network_text(trace) == expected
    assert count_text(437_738) == "437,738" and count_text(7740) == "7,740"
    no_weights = capture(build("mlp").eval(), sample.images[0].numpy() / 255.0, with_weights=False)
    assert "parameters" not in network_text(no_weights)  # never a wrong "0 parameters"


def test_conv_captions_say_what_each_layer_reads(sample):
    """ "64 filters of 3×3 read the 32 maps before them": the counts of the model's own
    layers (torch), not of the maps on screen."""
    from explainer.scenes.forward_pass import stage_caption

    torch.manual_seed(0)
    model = build("bn_cnn").eval()
    trace = random_trace("bn_cnn", sample)
    convs = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    seen = 0
    for st in forward_stages(trace):
        first = st.records[0] if st.records else None
        if first is None or first.kind != "conv":
            continue
        m = convs[first.name]
        text = stage_caption(st, trace)
        assert text.startswith(f"{m.out_channels} filters of {m.kernel_size[0]}×")
        if m.in_channels == 1:
            assert text.endswith("slide over the digit")
        else:
            assert text.endswith(f"read the {m.in_channels} maps before them")
        seen += 1
    assert seen == len(convs)


def fashion_trace(sample):
    from explainer.data import FASHION_CLASSES

    torch.manual_seed(0)
    img = sample.images[7].numpy().astype(np.float32)
    return capture(
        build("bn_cnn").eval(),
        img / 255.0 if img.max() > 1 else img,
        label=9,
        class_names=FASHION_CLASSES,
        dataset="fashion_mnist",
        source="test digit #0",
    )  # fmt: skip (capture's own wording, for now)


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
    """It ends on a readable frame: the output layer and the prediction, not a far view."""
    scene, frame = last_frame(ForwardPassScene, tmp_path, trace=small_trace)
    stages = scene.stages
    assert [s.kind for s in stages] == [s.kind for s in forward_stages(small_trace)]
    assert scene.camera.frame.width == pytest.approx(scene.FRAME_WIDTH)
    bars = stages[-1].mobject.bars
    winner = bars.bars[small_trace.prediction]
    np.testing.assert_allclose(
        colour_at(frame, to_pixel(scene, winner.get_center())), hex_to_rgb(HIGHLIGHT_COLOR), atol=30
    )
    # the output neurons: each circle has the colour of its logit
    col = stages[-2].mobject.column
    for circ, rgb in zip(col.neurons, colorize(small_trace.logits, col.value_scale), strict=True):
        np.testing.assert_allclose(colour_at(frame, to_pixel(scene, circ.get_center())), rgb,
                                   atol=30)  # fmt: skip
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
    assert scene.camera.frame.width == pytest.approx(scene.FRAME_WIDTH)  # ends readable
    face = scene.volumes[-1].face  # the output scores, a column of 10
    for k, rgb in enumerate(face.pixels[:, 0]):
        got = colour_at(frame, to_pixel(scene, face.pixel_center(k, 0)))
        np.testing.assert_allclose(got, rgb, atol=50)

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
    from explainer.scenes.render import render_manim

    trace = random_trace("linear", sample)
    out = render_manim("dataflow", trace, tmp_path / "flow.gif", resolution=(W, H), pace="readme")
    check_video(out, DataFlowScene, trace, tmp_path)
    assert not list(tmp_path.glob(".flow*"))  # no temp file left beside it


def test_render_manim_rejects_bad_requests(small_trace, tmp_path):
    from explainer.scenes.render import render_manim

    with pytest.raises(ExplainerError, match=r"\.mp4 or \.gif"):
        render_manim("forward", small_trace, tmp_path / "x.avi")
    with pytest.raises(ExplainerError, match="choose one of"):
        render_manim("nope", small_trace, tmp_path / "x.mp4")
    with pytest.raises(ExplainerError, match="quality"):
        render_manim("forward", small_trace, tmp_path / "x.mp4", quality="ultra")
    with pytest.raises(ExplainerError, match="unknown pace 'slow'; choose one of: class, readme"):
        render_manim("forward", small_trace, tmp_path / "x.mp4", pace="slow")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,cls", [("forward", ForwardPassScene), ("convolution", ConvolutionScene)]
)
def test_render_manim_full_low_quality(kind, cls, small_trace, tmp_path):
    from explainer.scenes.render import render_manim

    out = render_manim(kind, small_trace, tmp_path / f"{kind}.mp4", resolution=(W, H))
    check_video(out, cls, small_trace, tmp_path)


# --- captions, pace and layout ---------------------------------------------------------------


def shown_for(scene) -> list[tuple[str, float]]:
    """(caption, seconds it stays fully on screen): from the end of the play that brought it in
    to the start of the next play that changes the captions (or the end of the video)."""
    beats = scene.timeline
    out = []
    for i, b in enumerate(beats):
        if b.caption is None:
            continue
        later = [x for x in beats[i + 1 :] if x.caption is not None or x.hides]
        until = later[0].start if later else beats[-1].end
        out.append((b.caption, until - b.end))
    return out


SCENES = [ForwardPassScene, ConvolutionScene, DataFlowScene, ArchitectureComparisonScene]


@pytest.fixture(scope="module")
def paced(small_trace, sample, tmp_path_factory):
    """Each scene built at class and readme pace (last frame only: no video)."""
    other = random_trace("mlp", sample)
    got = {}
    for cls in SCENES:
        for pace in ("class", "readme"):
            kw = {"trace_b": other} if cls is ArchitectureComparisonScene else {}
            tmp = tmp_path_factory.mktemp(f"{cls.__name__}_{pace}")
            got[cls.__name__, pace] = last_frame(cls, tmp, trace=small_trace, pace=pace, **kw)[0]
    return got


@pytest.mark.parametrize("cls", SCENES, ids=lambda c: c.__name__)
def test_captions_come_with_what_they_describe_and_stay_to_be_read(cls, paced):
    from explainer.scenes.common import read_time

    scene = paced[cls.__name__, "class"]
    beats = scene.timeline
    assert len(scene.captions()) >= 3
    for i, b in enumerate(beats):
        if b.caption is None or b.visual:
            continue  # a caption that comes in the play that draws its picture: good
        drawn_next = next((x for x in beats[i + 1 :] if x.visual or x.caption), None)
        assert drawn_next is None or drawn_next.caption is not None, (
            f"“{b.caption}” comes before the picture it describes"
        )
    for text, seconds in shown_for(scene):
        assert seconds >= read_time(text) - 0.05, f"“{text}” shown {seconds:.1f} s"
        assert seconds >= 2.0 - 0.05
    quick = paced[cls.__name__, "readme"]
    assert [b.caption for b in quick.captions()] == [b.caption for b in scene.captions()]
    assert quick.renderer.time < scene.renderer.time


def test_forward_pass_holds_every_layer_at_class_pace(paced):
    """Each stage, once drawn, stays still with its caption at least 2 s (issue 11)."""
    scene = paced["ForwardPassScene", "class"]
    captions = scene.captions()
    stage_texts = [c.caption for c in captions[: len(scene.stages)]]
    from explainer.scenes.forward_pass import stage_caption

    assert stage_texts == [stage_caption(s, scene.trace) for s in scene.stages]
    waits = [
        b.end - b.start
        for i, b in enumerate(scene.timeline)
        if b.caption is None and not b.visual and i and scene.timeline[i - 1].visual
    ]
    assert len(waits) >= len(scene.stages) and min(waits) >= 2.0 - 1e-6


def test_caption_swap_never_shows_two_captions(small_trace):
    """The old caption is gone before the new one starts to appear."""
    from explainer.scenes.common import TraceScene

    scene = TraceScene(trace=small_trace)
    scene.setup()
    first = scene.swap_caption("one")
    assert len(first) == 1
    new, old = scene.swap_caption("two")
    for t in np.linspace(0, 1, 41):
        if old.rate_func(t) < 1 - 1e-9:  # the old one still (partly) visible
            assert new.rate_func(t) <= 1e-9, t
    for by in (0.25, 1.0):
        new, old = scene.swap_caption("three", by=by)
        assert new.rate_func(by) == pytest.approx(1) and old.rate_func(0.4 * by) == pytest.approx(1)


def _box(m):
    return m.get_left()[0], m.get_bottom()[1], m.get_right()[0], m.get_top()[1]


def _overlap(a, b) -> bool:
    (l1, b1, r1, t1), (l2, b2, r2, t2) = _box(a), _box(b)
    return l1 < r2 and l2 < r1 and b1 < t2 and b2 < t1


def test_forward_stages_clear_header_and_caption_fashion(sample, tmp_path):
    """Every stage of a Fashion-MNIST trace between the header and the caption line, class
    names whole, the dataset's words everywhere."""
    from explainer.scenes.forward_pass import stage_caption

    trace = fashion_trace(sample)
    scene, _ = last_frame(ForwardPassScene, tmp_path, trace=trace, pace="readme")
    cap_top = scene.caption.get_top()[1]
    head = scene.make_header("Forward pass")
    for st in scene.stages:
        m = st.mobject
        assert m.get_bottom()[1] > cap_top, st.title
        assert m.get_top()[1] < head.get_bottom()[1], st.title
    bars = scene.stages[-1].mobject.bars
    assert [n.text for n in bars.names] == trace.class_names
    f = scene.camera.frame
    assert bars.get_left()[0] > f.get_left()[0] and bars.get_right()[0] < f.get_right()[0]
    texts = [c.caption for c in scene.captions()] + [scene.header_text()]
    assert not [t for t in texts if "digit" in t], texts
    assert stage_caption(scene.stages[0], trace).startswith("A 28×28 image")
    assert scene_numbers(trace).input_label in ("the image", "the normalized image")
    assert "“Ankle boot”" in scene.caption.text or trace.predicted_name in scene.caption.text


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_comparison_is_readable_at_480p(dataset, small_trace, sample, tmp_path):
    a, b = small_trace, random_trace("mlp", sample)
    if dataset != "mnist":
        a = fashion_trace(sample)
        b = capture(build("mlp").eval(), a.image, class_names=a.class_names, dataset=dataset)
    scene, _ = last_frame(ArchitectureComparisonScene, tmp_path, trace=a, trace_b=b,
                          pace="readme")  # fmt: skip
    px_per_unit = 480 / scene.camera.frame.height
    for row in scene.rows:
        for name in row.bars.names:  # a class name's line box, in pixels at 854×480
            assert name.height * px_per_unit >= 16
        assert not _overlap(row.bars, scene.caption)
        assert not _overlap(row.verdict, row.bars) and not _overlap(row.head, row.bars)
    assert not _overlap(scene.rows[0], scene.rows[1])
    assert scene.rows[0].get_top()[1] < scene.make_header("x").get_bottom()[1]


def test_no_ascii_minus_on_screen(sample, tmp_path):
    """Negative numbers keep a true minus (U+2212) wherever a scene writes one."""
    import re

    from explainer.scenes.mobjects import Label

    trace = random_trace("bn_cnn", sample)
    for cls in (ForwardPassScene, ConvolutionScene):
        scene, _ = last_frame(cls, tmp_path / cls.__name__, trace=trace, pace="readme")
        texts = [m.text for m in scene.get_mobject_family_members() if isinstance(m, Label)]
        assert any("\u2212" in t for t in texts), cls  # there are negative numbers
        assert not [t for t in texts if re.search(r"(^|[\\s(])-\d", t)], cls


def test_data_flow_labels_stay_with_their_volumes(paced):
    """Each volume's title above its box and its shape under it, whatever its size."""
    scene = paced["DataFlowScene", "readme"]
    for vol in scene.volumes:
        assert vol.shape_label.get_top()[1] <= vol.body.get_bottom()[1] + 1e-6
        assert vol.title.get_bottom()[1] >= vol.body.get_top()[1] - 1e-6
    bottoms = {round(v.body.get_bottom()[1], 6) for v in scene.volumes}
    assert len(bottoms) == 1  # the boxes stand on one line


def test_a_pulse_starts_where_its_path_starts():
    """A pulse waits nowhere (not at the origin, not at the start of a later edge)."""
    from manim import Arrow, Dot

    from explainer.scenes.data_flow import pulses

    paths = [Arrow(np.array([1.0, 2, 0]), np.array([3.0, 2, 0])), Arrow(np.array([-4.0, -1, 0]),
             np.array([-2.0, 1, 0]))]  # fmt: skip
    for anim, path in zip(pulses(Dot(), paths), paths, strict=True):
        np.testing.assert_allclose(anim.mobject.get_center(), path.get_start(), atol=1e-6)
        assert anim.is_remover()


# --- signed maps: the diverging colour map, 0 at its centre, as in the GIFs -------------------


class NormalisingNet(torch.nn.Module):
    """Normalises in its own forward (``(x - 0.1307) / 0.3081``: the digit's background becomes
    negative), then conv → ReLU → pool → dense."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 14 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.1307) / 0.3081
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))


def _diverging_reference(values: np.ndarray) -> np.ndarray:
    """matplotlib's own RdBu_r lookup of ``values`` on ``[-m, m]`` (m: the largest magnitude),
    as uint8 RGB: what imshow(values, cmap="RdBu_r", vmin=-m, vmax=m) paints."""
    import matplotlib
    from matplotlib.colors import Normalize

    m = float(np.abs(values).max())
    rgba = matplotlib.colormaps["RdBu_r"](Normalize(-m, m)(values))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def _assert_diverging(pixels: np.ndarray, values: np.ndarray, scale) -> None:
    assert scale.signed and scale.vmin == -scale.vmax
    np.testing.assert_allclose(pixels.astype(int), _diverging_reference(values), atol=1)
    zero = colorize(np.zeros(1, np.float32), scale)[0]
    assert zero.min() > 235  # 0 is the white centre, not the dark end of the "≥ 0" map
    below = colorize(np.array([values.min()]), scale)[0].astype(int)
    assert below[2] > below[0]  # the most negative value is on the blue side


@pytest.fixture(scope="module")
def normalising_trace(sample):
    torch.manual_seed(0)
    img = sample.images[0].numpy().astype(np.float32) / 255.0
    return capture(NormalisingNet().eval(), img, label=int(sample.labels[0]))


def test_manim_paints_a_normalised_map_with_the_diverging_map(normalising_trace):
    """The maps each scene draws of the normalised digit (records ``sub`` and ``div``, kinds
    add and mul) and of the conv before its ReLU: diverging, as matplotlib would paint them."""
    from explainer.scenes.convolution import input_scale
    from explainer.scenes.data_flow import Volume

    trace = normalising_trace
    normalised = trace.layer("div").output
    assert normalised.min() < 0 < normalised.max()
    # the forward-pass scene: the stage of the normalisation, as the scene builds it
    scene = ForwardPassScene(trace=trace)
    stages = forward_stages(trace)
    (norm_stage,) = [s for s in stages if s.record is not None and s.record.name == "div"]
    prev = stages[stages.index(norm_stage) - 1]
    stack = scene.build_stage(norm_stage, trace, prev).stack
    for fm, c in zip(stack.maps, stack.channels, strict=True):
        _assert_diverging(fm.pixels, normalised[c], stack.value_scale)
    # the data-flow scene: the normalisation's volume
    (block,) = [b for b in flow_blocks(trace) if b.records and b.records[-1].name == "div"]
    face = Volume(block).face
    _assert_diverging(face.pixels, normalised[0], face.value_scale)
    # the convolution scene: its input is the normalised digit
    nums = scene_numbers(trace)
    assert nums.conv.inputs == ["div"]
    _assert_diverging(
        colorize(nums.input_map, input_scale(trace, nums)), nums.input_map, input_scale(trace, nums)
    )
    # a map that is all ≥ 0 keeps the "≥ 0" map: the conv + ReLU stage
    after = stages[stages.index(norm_stage) + 1]
    assert after.record.name == "relu" and after.record.output.min() >= 0
    relu_scale = scene.build_stage(after, trace, norm_stage).stack.value_scale
    assert not relu_scale.signed and relu_scale.vmin == 0.0


def test_a_conv_reading_the_digit_itself_keeps_the_pixel_scale(sample):
    from zoo import build_zoo

    from explainer.scenes.convolution import input_scale

    img = sample.images[0].numpy().astype(np.float32) / 255.0
    trace = capture(build_zoo("examples"), img)  # conv1 reads the raw digit
    nums = scene_numbers(trace)
    assert nums.conv.inputs == ["input"]
    scale = input_scale(trace, nums)
    assert (scale.vmin, scale.vmax) == (0.0, 1.0) and not scale.signed
