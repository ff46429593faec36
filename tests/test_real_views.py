"""Every view draws every real network (tests/zoo.py's REAL: tuple results, a tiny ViT's
tokens, hand-written attention, a channels-last ConvNeXt, torchvision's ResNet-18) at three
frame sizes with a 12-second request; data flow keeps its blocks and its pulse on screen; a
length that cannot be honoured is refused in the caller's words."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools

import numpy as np
import pytest
import torch
from zoo import REAL, ZOO, build_zoo

from explainer.animate import CountingWriter, build_animation, render_animation
from explainer.animate.length import as_flags, too_short
from explainer.animate.shapes import displayed, shape_words
from explainer.cli import main
from explainer.errors import ExplainerError
from explainer.tracing.capture import capture

SIZES = [(640, 360), (800, 450), (1280, 720)]
FAST = ["split", "tiny_vit", "sdpa", "convnext"]  # one thread: resnet18 costs 2 s in all


@pytest.fixture(scope="module")
def traces():
    torch.set_num_threads(1)
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = capture(build_zoo(name), image, label=3)
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(REAL))
@pytest.mark.parametrize("kind", ["forward", "dataflow", "convolution"])
@pytest.mark.parametrize("size", SIZES)
def test_every_kind_builds_every_real_net_at_every_size(name, kind, size, traces):
    counter = CountingWriter()
    render_animation(kind, traces(name), "x.gif", fps=3, seconds=12, size=size, writer=counter)
    assert counter.frames == 36 and counter.shape == (size[1], size[0], 3)


@pytest.mark.parametrize("kind", ["forward", "dataflow", "convolution"])
@pytest.mark.parametrize(
    "size", [SIZES[0], *(pytest.param(s, marks=pytest.mark.slow) for s in SIZES[1:])]
)
@pytest.mark.parametrize("name", list(ZOO))
def test_every_kind_builds_every_zoo_net_at_every_size(name, kind, size, traces):
    counter = CountingWriter()
    render_animation(kind, traces(name), "x.gif", fps=3, seconds=12, size=size, writer=counter)
    assert counter.frames == 36 and counter.shape == (size[1], size[0], 3)


@pytest.mark.parametrize("name", list(REAL))  # resnet18 too: its 35 blocks need rows
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("by_blocks", [None, False])
def test_dataflow_blocks_and_pulse_stay_on_screen(name, size, by_blocks, traces):
    reel = build_animation("dataflow", traces(name), fps=15, seconds=12, size=size,
                           by_blocks=by_blocks)  # fmt: skip
    w, h = size
    boxes = reel.meta["boxes"]
    for y0, y1, x0, x1 in boxes:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    for i, a in enumerate(boxes):  # readable: no block drawn over another
        for b in boxes[i + 1 :]:
            assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2], (a, b)
    for pts in reel.meta["paths"].values():
        for x, y in pts:
            assert 0 <= x < w and 0 <= y < h
    assert reel.meta["pulse"], "the pulse never moves"
    for _, x, y in reel.meta["pulse"]:
        assert 0 <= x < w and 0 <= y < h


@pytest.mark.parametrize("by_blocks", [None, False])  # False: --every-layer
@pytest.mark.parametrize("name", ["tiny_vit", "resnet18", "sdpa", "convnext", "split"])
@pytest.mark.parametrize("size", SIZES)
def test_dataflow_labels_clear_of_arrows_and_each_other(name, size, by_blocks, traces):
    reel = build_animation("dataflow", traces(name), fps=3, seconds=12, size=size,
                           by_blocks=by_blocks)  # fmt: skip
    assert reel.meta["view"] == "" or by_blocks is None
    labels_clear(reel)


def _meets(a, b) -> bool:
    return not (a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2])


def _gap(a, b) -> float:
    """The distance between boxes ``(y0, y1, x0, x1)`` (0 where they meet)."""
    dy = max(0.0, a[0] - b[1], b[0] - a[1])
    dx = max(0.0, a[2] - b[3], b[2] - a[3])
    return float(np.hypot(dx, dy))


def labels_clear(reel) -> None:
    """Every label of a data-flow reel inside the frame, wide enough for its lines as Pillow
    measures them, read with its own row of blocks (the block nearest to it, the softmax column
    beside all rows aside, is in that row), under no block, and clear of every other label and
    of every arrow (a segment as a box 1 px round the line)."""
    from explainer.animate.canvas import text_width
    from explainer.animate.dataflow_layout import LABEL_PT, label_lines

    h, w = reel.size[1], reel.size[0]
    k = max(0.7, min(w / 800, h / 450))
    labels = reel.meta["labels"]
    for b, box in zip(reel.meta["blocks"], labels, strict=True):
        assert box[2] >= 0 and box[3] <= w and box[0] >= 0 and box[1] <= h, (b.title, box)
        widest = max(text_width(x, LABEL_PT * k, bold=True) for x, _ in label_lines(b))
        assert box[3] - box[2] >= widest, (b.title, box)
    boxes = reel.meta["boxes"]
    for i, box in enumerate(labels):  # read with its own row: its nearest block is in it
        beside = len(boxes) - 1 if i < len(boxes) - 1 else len(boxes)  # the softmax: all rows
        near = min(range(beside), key=lambda j: _gap(box, boxes[j]))
        own = boxes[i]
        assert boxes[near][0] < own[1] and own[0] < boxes[near][1], reel.meta["blocks"][i].title
        for j, block in enumerate(boxes):  # and under no block, the softmax column included
            assert not _meets(box, block), (reel.meta["blocks"][i].title, j)
    for i, a in enumerate(labels):
        for j in range(i + 1, len(labels)):
            assert not _meets(a, labels[j]), (reel.meta["blocks"][i].title, labels[j])
    arrows = [*reel.meta["paths"].items(), *reel.meta["skips"].items()]
    for key, pts in arrows:
        for (xa, ya), (xb, yb) in itertools.pairwise(pts):
            seg = (min(ya, yb) - 1, max(ya, yb) + 1, min(xa, xb) - 1, max(xa, xb) + 1)
            for b, box in zip(reel.meta["blocks"], labels, strict=True):
                assert not _meets(seg, box), (key, b.title, seg, box)


@pytest.mark.parametrize("by_blocks", [None, False])
@pytest.mark.parametrize("name", ["mnist_bn_cnn", "fashion_mnist_bn_cnn"])
@pytest.mark.parametrize("size", SIZES)
def test_dataflow_labels_clear_of_arrows_on_shipped_models(name, size, by_blocks):
    from explainer.nets.checkpoints import load_checkpoint
    from explainer.tracing.capture import capture_checkpoint

    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    trace = capture_checkpoint(load_checkpoint(name), image, label=3)
    labels_clear(build_animation("dataflow", trace, fps=3, seconds=12, size=size,
                                 by_blocks=by_blocks))  # fmt: skip


def test_forward_shows_every_real_record_shape_truthfully(traces):
    """Token matrices, channels-last maps and >3-D tensors each reach a stage, drawn as
    maps or a vector, with the record's own shape in the subtitle."""
    seen = set()
    for name in FAST:
        reel = build_animation("forward", traces(name), fps=3, seconds=12, size=(640, 360),
                               by_blocks=False)  # fmt: skip
        by_name = {r.name: r for r in traces(name).layers}
        for st in reel.meta["stages"]:
            shape = by_name[st.name].output.shape
            seen.add(len(shape) if len(shape) != 3 or shape[0] != shape[1] else "hwc")
            assert st.values.ndim in (1, 3)
            assert st.values.size == max(1, int(np.prod(shape)))
            assert "×".join(map(str, shape)) in st.subtitle
    assert {2, "hwc", 4} <= seen


def test_displayed_moves_channels_last_and_keeps_tokens():
    hwc = np.arange(7 * 7 * 16, dtype=np.float32).reshape(7, 7, 16)
    np.testing.assert_array_equal(displayed(hwc)[5], hwc[:, :, 5])
    tokens = np.arange(17 * 32, dtype=np.float32).reshape(17, 32)
    np.testing.assert_array_equal(displayed(tokens)[0], tokens)
    assert displayed(np.zeros((2, 3, 4, 5))).shape == (6, 4, 5)
    assert shape_words((7, 7, 16)) == "7×7×16 (channels last)"
    assert shape_words((16, 7, 7)) == "16×7×7"


def test_a_length_too_short_names_seconds_in_python_and_flags_on_the_cli(traces, tmp_path):
    trace = traces("split")
    with pytest.raises(ExplainerError) as python:
        build_animation("forward", trace, fps=1, seconds=1)
    message = str(python.value)
    assert "seconds=" in message and "--" not in message
    wanted = int(message.split("seconds=")[1].split()[0])
    assert 1 <= wanted <= 120
    build_animation("forward", trace, fps=1, seconds=wanted, size=(640, 360))  # then accepted
    with pytest.raises(ExplainerError, match=r"seconds=500 is out of range; use 1 to 120"):
        build_animation("forward", trace, seconds=500)


def test_cli_says_the_seconds_flag(tmp_path, capsys, ckpt_path):
    out = tmp_path / "f.gif"
    rc = main(["render", "forward", "--checkpoint", str(ckpt_path), "--out", str(out),
               "--fps", "1", "--seconds", "1", "--size", "480x270"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc != 0 and "--seconds " in err and "seconds=" not in err


def test_a_length_past_the_longest_suggests_a_frame_rate_that_fits():
    """Where no accepted length is enough, the message names an accepted frame rate that
    gives the frames at the length asked for; the command line says the same in flags."""
    message = str(too_short("300 layers", 300, 2, 12))
    fps = int(message.split("fps=")[1].split()[0])
    assert fps <= 60 and fps * 12 >= 300 and (fps - 1) * 12 < 300
    assert "use --fps 25 or more" in as_flags(message) and "fps=" not in as_flags(message)


# --- by blocks ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet(traces):
    from torchvision.models.resnet import BasicBlock

    model = build_zoo("resnet18")
    residual = [n for n, m in model.named_modules() if isinstance(m, BasicBlock)]
    return model, traces("resnet18"), residual


def test_forward_shows_resnet18_by_blocks_with_readable_chips(resnet):
    from explainer.animate.canvas import fit_text

    _, trace, residual = resnet
    reel = build_animation("forward", trace, fps=15, seconds=12, size=(1280, 720))
    stages = reel.meta["stages"]
    assert reel.meta["view"] == "by blocks"
    assert [s.name for s in stages] == ["stem", *residual, "head"]
    assert [s.chip for s in stages] == [s.name for s in stages]
    lay = reel.meta["layout"]
    for st, (_, _, x0, x1) in zip(stages, lay.chips, strict=False):  # whole words, not "c."
        assert fit_text(st.chip, 7.5 * lay.k, x1 - x0 - 3, bold=True)[0] == st.chip
    assert reel.n_frames == 180


def test_a_block_picture_has_its_input_output_and_skip(resnet):
    model, trace, _ = resnet
    stages = {s.name: s for s in build_animation("forward", trace, fps=3, seconds=12,
                                                 size=(800, 450)).meta["stages"]}  # fmt: skip
    down = stages["layer2.0"]
    np.testing.assert_array_equal(down.before.values, trace.layer("layer1.1.relu#2").output)
    np.testing.assert_array_equal(down.values, trace.layer("layer2.0.relu#2").output)
    ds = model.layer2[0].downsample
    assert down.skip == [
        f"conv {ds[0].kernel_size[0]}×{ds[0].kernel_size[1]}, 64→128, stride 2",
        "batch norm",
    ]
    assert "add the skip" in down.steps and "batch norm" in down.steps
    assert stages["layer1.1"].skip == []  # identity: the input itself
    assert stages["stem"].skip is None and stages["head"].skip is None
    assert stages["head"].output  # the model's output: what its values mean


def test_opening_a_block_shows_its_records_after_its_input(resnet):
    _, trace, _ = resnet
    reel = build_animation("forward", trace, fps=3, seconds=12, size=(640, 360), block="layer2.0")
    names = [s.name for s in reel.meta["stages"]]
    records = [n for n in trace.names() if n.startswith("layer2.0.")]
    assert names == ["layer1.1.relu#2", *records]
    skip = [s.title for s in reel.meta["stages"] if s.name.startswith("layer2.0.downsample")]
    assert all(t.startswith("skip") for t in skip) and len(skip) == 2
    flow = build_animation("dataflow", trace, fps=3, seconds=12, size=(640, 360),
                           block="layer2.0")  # fmt: skip
    boxes = flow.meta["blocks"]
    assert boxes[0].title.startswith("layer1.1.relu#2")
    downsample = next(i for i, b in enumerate(boxes) if b.title.startswith("conv 1×1"))
    assert (0, downsample) in flow.meta["paths"]  # the skip: an arrow from what the block reads


def test_an_unknown_block_is_one_line_listing_the_names(resnet, tmp_path, capsys):
    _, trace, residual = resnet
    with pytest.raises(ExplainerError, match=r"no block 'layer9'.*stem, layer1\.0.*head"):
        build_animation("forward", trace, block="layer9")
    light = [dataclasses.replace(r, weight=None, bias=None, arrays={}) for r in trace.layers]
    saved = dataclasses.replace(trace, layers=light).save(tmp_path / "r.npz")  # 11 M weights off
    rc = main(["render", "dataflow", "--trace", str(saved), "--block", "layer9",
               "--out", str(tmp_path / "d.gif")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "--block" in err and all(name in err for name in residual)
    out = tmp_path / "b.gif"
    common = ["--trace", str(saved), "--fps", "3", "--seconds", "4", "--size", "640x360"]
    assert main(["render", "forward", *common, "--block", "layer2.0", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    for wrong in (["forward", "--block", "layer2.0", "--every-layer"],
                  ["convolution", "--block", "layer2.0"]):  # fmt: skip
        capsys.readouterr()
        assert main(["render", wrong[0], *common, *wrong[1:], "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--block" in err


def test_dataflow_by_blocks_names_each_block_and_its_skip(resnet):
    model, trace, residual = resnet
    reel = build_animation("dataflow", trace, fps=3, seconds=12, size=(1280, 720))
    titles = [b.title for b in reel.meta["blocks"]]
    assert reel.meta["view"] == "by blocks"
    assert [t.split(" + ")[0] for t in titles] == ["input", "stem", *residual, "head", "softmax"]
    for name, title in zip(residual, titles[2:-2], strict=True):
        shortcut = model.get_submodule(name).downsample
        assert title.startswith(f"{name} + skip") and ("conv 1×1" in title) == bool(shortcut)


@pytest.mark.parametrize("size", SIZES)
def test_dataflow_by_blocks_draws_each_skip_round_its_block(resnet, size):
    """Each residual block gets an arc in the skip colour from the top of what it reads to
    the top of its own box, over both, and the arc is on the frame's pixels."""
    from explainer import style

    _, trace, residual = resnet
    reel = build_animation("dataflow", trace, fps=3, seconds=12, size=size)
    titles = [b.title.split(" + ")[0] for b in reel.meta["blocks"]]
    skips, boxes = reel.meta["skips"], reel.meta["boxes"]
    assert sorted(skips) == sorted(titles.index(n) for n in residual)
    colour = np.array(style.hex_to_rgb(style.KIND_COLORS["add"]))
    frame = reel.frame_at(-1).astype(int)
    for i, pts in skips.items():
        (xa, ya), (xb, yb) = pts[0], pts[-1]
        src, dst = boxes[i - 1], boxes[i]
        assert src[2] <= xa <= src[3] and not src[0] <= ya <= src[1], "leaves what it reads"
        assert dst[2] <= xb <= dst[3] and yb < dst[0], "lands on the top of its block"
        (x0, y0), (x1, _) = pts[1], pts[2]  # the arc's top, across
        x, y = round((x0 + x1) / 2), round(y0)
        patch = frame[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3)
        assert (np.abs(patch - colour).max(1) < 40).any(), (titles[i], patch)


@pytest.mark.parametrize("seconds", [1, 2, 3, 5, 12])
@pytest.mark.parametrize("kind", ["forward", "dataflow"])
def test_a_length_asked_for_is_honoured_or_refused_with_one_that_works(resnet, kind, seconds):
    _, trace, _ = resnet
    try:
        reel = build_animation(kind, trace, fps=15, seconds=seconds, size=(640, 360))
    except ExplainerError as e:
        wanted = int(str(e).split("seconds=")[1].split()[0])
        reel = build_animation(kind, trace, fps=15, seconds=wanted, size=(640, 360))
        seconds = wanted
    assert reel.n_frames == round(15 * seconds)


def test_every_layer_can_still_be_asked_for(resnet, tmp_path):
    _, trace, _ = resnet
    reel = build_animation("forward", trace, fps=3, seconds=12, size=(640, 360), by_blocks=False)
    assert reel.meta["view"] == ""
    assert len(reel.meta["stages"]) == len(trace.layers)


def test_normalising_inside_forward_shows_mean_and_std():
    class Normalising(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(784, 10)

        def forward(self, x):
            return self.fc(((x - 0.1307) / 0.3081).flatten(1))

    torch.manual_seed(0)
    image = np.random.default_rng(2).random((28, 28)).astype(np.float32)
    trace = capture(Normalising().eval(), image)
    reel = build_animation("dataflow", trace, fps=3, seconds=6, size=(640, 360))
    lines = reel.meta["blocks"][1].lines
    assert lines == ["normalise", "mean 0.1307", "std 0.3081"]
    first = reel.meta["boxes"][0]
    for x, y in reel.meta["paths"][(0, 1)]:  # the first arrow leaves the input's picture
        assert x >= first[3] or not first[0] <= y <= first[1]


# --- the Manim scenes' data ---------------------------------------------------------------


def test_manim_forward_and_dataflow_data_build_by_blocks(resnet):
    pytest.importorskip("manim")
    from explainer.scenes.data_flow import block_caption as volume_caption
    from explainer.scenes.data_flow import flow_blocks
    from explainer.scenes.forward_pass import forward_stages, stage_caption

    _, trace, residual = resnet
    stages = forward_stages(trace)
    assert [s.title for s in stages] == [
        "input", "stem", *(f"{n} (residual)" for n in residual), "head", "softmax",
    ]  # fmt: skip
    assert [r.name for s in stages for r in s.records] == trace.names()
    assert all(s.sources == [i - 1] for i, s in enumerate(stages) if i)
    np.testing.assert_array_equal(stages[-2].record.output, trace.logits)
    caption = stage_caption(stages[4], trace)  # layer2.0: a downsampling shortcut
    assert caption.startswith("layer2.0, a residual block") and "skip (conv 1×1 /2 + BN)" in caption
    assert "64×7×7 → 128×4×4" in caption
    volumes = flow_blocks(trace)
    assert [v.title for v in volumes] == ["input", "stem", *residual, "head"]
    assert volumes[3].note == "+ skip: identity" and "conv 1×1" in volumes[4].note
    assert volume_caption(volumes, 4) == "layer2.0: 64×7×7 → 128×4×4"
    opened = forward_stages(trace, block="layer2.0")
    assert opened[0].record.name == "layer1.1.relu#2" and opened[-1].kind == "probs"
    assert [r.name for s in opened[1:] for r in s.records] == [
        n for n in trace.names() if n.startswith("layer2.0.")
    ]
    inside = flow_blocks(trace, block="layer2.0")
    assert inside[0].records[0].name == "layer1.1.relu#2"
    assert any(0 in v.sources and v.records[0].kind == "conv" for v in inside[2:])  # the skip


def test_manim_names_a_normalisation_by_its_mean_and_std():
    pytest.importorskip("manim")
    from explainer.scenes.data_flow import flow_blocks
    from explainer.scenes.forward_pass import forward_stages, stage_caption

    class Normalising(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv((x - 0.1307) / 0.3081).flatten(1)[:, :10]

    image = np.random.default_rng(3).random((28, 28)).astype(np.float32)
    trace = capture(Normalising().eval(), image)
    stage = forward_stages(trace)[1]
    assert stage.title == "normalise: mean 0.1307, std 0.3081"
    assert stage_caption(stage, trace).startswith("normalise: mean 0.1307, std 0.3081")
    assert flow_blocks(trace)[1].title == "normalise: mean 0.1307, std 0.3081"


# --- the app's Layer by layer page --------------------------------------------------------


DEEP = """
import sys

from torch import nn

sys.path.insert(0, {zoo!r})
from zoo import ResidualBlock


class Deep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(8) for _ in range(4)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))
"""


@pytest.mark.slow
def test_the_layer_page_picks_a_block_of_a_big_network(tmp_path, monkeypatch):
    """A network shown by blocks gets a block picker: each block lists its own layers, and
    stepping past a block's last layer moves the picker on."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from explainer.nets.checkpoints import save_checkpoint
    from explainer.tracing.blocks import blocks_of

    code = tmp_path / "deep.py"
    code.write_text(DEEP.format(zoo=str(Path(__file__).parent)))
    spec = importlib.util.spec_from_file_location("deep", code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = module.Deep().eval()
    path = save_checkpoint(tmp_path / "deep.pt", model)
    monkeypatch.setenv("EXPLAINER_APP_MODEL", str(path))
    monkeypatch.setenv("EXPLAINER_APP_CODE", f"{code}:Deep")
    app = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
    at = AppTest.from_file(app, default_timeout=120).run()
    at.switch_page("explainer/app/layers.py").run()

    def ok() -> None:
        assert not at.exception and not at.error, (at.exception or at.error)[0].value

    ok()
    blocks = blocks_of(capture(model, at.session_state["digit"].image))
    assert at.selectbox(key="layer_block").value == blocks[0].name
    for b in blocks:
        at.selectbox(key="layer_block").set_value(b.name).run()
        ok()
        options = at.selectbox(key="layer_step").options
        assert [o.split(" · ", 1)[1].split(" — ")[0] for o in options] == list(b.records)
        assert at.header[0].value.startswith(b.records[0])
    at.selectbox(key="layer_block").set_value(blocks[0].name).run()
    for _ in range(len(blocks[0])):
        next(x for x in at.button if x.label == "Next ▶").click().run()
    ok()
    assert at.selectbox(key="layer_block").value == blocks[1].name


def test_the_default_length_is_that_of_the_view_asked_for(resnet):
    from explainer.animate import forward

    _, trace, _ = resnet
    every = build_animation("forward", trace, fps=3, pace="readme", size=(640, 360),
                            by_blocks=False)  # fmt: skip
    blocks = build_animation("forward", trace, fps=3, pace="readme", size=(640, 360))
    assert every.duration == forward.default_seconds(trace, 3, "readme", by_blocks=False)
    assert blocks.duration == forward.default_seconds(trace, 3, "readme")
    assert every.duration > blocks.duration  # 69 layers take longer than 10 blocks


CONVNEXT = """
import sys

sys.path.insert(0, {zoo!r})
from zoo import ConvNeXtish
"""


@pytest.mark.slow
def test_the_layer_page_reads_every_step_of_a_channels_last_network(tmp_path, monkeypatch):
    """ConvNeXt's permutes to channels-last and back: every step of the page is shown, none
    refused by its own check (a permute's values are followed to where they moved)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from explainer.nets.checkpoints import save_checkpoint

    code = tmp_path / "cnx.py"
    code.write_text(CONVNEXT.format(zoo=str(Path(__file__).parent)))
    path = save_checkpoint(tmp_path / "cnx.pt", build_zoo("convnext"))
    monkeypatch.setenv("EXPLAINER_APP_MODEL", str(path))
    monkeypatch.setenv("EXPLAINER_APP_CODE", f"{code}:ConvNeXtish")
    app = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
    at = AppTest.from_file(app, default_timeout=120).run()
    at.switch_page("explainer/app/layers.py").run()
    keys = {box.key for box in at.selectbox}
    seen = 0
    for block in at.selectbox(key="layer_block").options if "layer_block" in keys else [None]:
        if block is not None:
            at.selectbox(key="layer_block").set_value(block).run()
        for step in at.selectbox(key="layer_step").options:
            at.selectbox(key="layer_step").set_value(step).run()
            assert not at.exception and not at.error, (step, (at.exception or at.error)[0].value)
            said = " ".join(w.value for w in at.warning)
            assert "hand computation gives" not in said, (step, said)
            seen += "permute" in step
    assert seen >= 2
