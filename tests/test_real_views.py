"""Every view draws every real network (tests/zoo.py's REAL: tuple results, a tiny ViT's
tokens, hand-written attention, a channels-last ConvNeXt, torchvision's ResNet-18) at three
frame sizes with a 12-second request; data flow keeps its blocks and its pulse on screen; a
length that cannot be honoured is refused in the caller's words."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zoo import REAL, build_zoo

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


@pytest.mark.parametrize("name", list(REAL))  # resnet18 too: its 35 blocks need rows
@pytest.mark.parametrize("size", SIZES)
def test_dataflow_blocks_and_pulse_stay_on_screen(name, size, traces):
    reel = build_animation("dataflow", traces(name), fps=15, seconds=12, size=size)
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


def test_forward_shows_every_real_record_shape_truthfully(traces):
    """Token matrices, channels-last maps and >3-D tensors each reach a stage, drawn as
    maps or a vector, with the record's own shape in the subtitle."""
    seen = set()
    for name in FAST:
        reel = build_animation("forward", traces(name), fps=3, seconds=12, size=(640, 360))
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
