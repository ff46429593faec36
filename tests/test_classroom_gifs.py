"""The GIFs a teacher projects: text a back row can read, steps held long enough to say them,
and the worked-cell tables in step with the window they describe.

Text sizes are measured on the rendered frames: the height of the ink of a number or a title,
compared with the same DejaVu font rendered here by Pillow at the size the issue asks for
(titles 24 px, numbers 16 px at 1280×720). Hold times are read back from the GIF file's frame
durations. Colours are compared with the input panel's own pixels or with the colour map the
values call for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explainer import style
from explainer.analysis.snapshots import SnapshotView, TrainingEvolution
from explainer.animate import PRESET_SIZES, build_animation
from explainer.animate.writer import save
from explainer.nets.architectures import build
from explainer.tracing.capture import capture

CLASS = (1280, 720)
INK = 90  # a pixel is ink when a channel differs this much from the background


def _font(px: int, bold: bool = False):
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), px)


def _ink(rgb: np.ndarray, background) -> np.ndarray:
    """``(h, w)`` bool: the pixels that differ from ``background``."""
    return (np.abs(rgb.astype(int) - np.asarray(background, int)).max(-1)) > INK


def _height(mask: np.ndarray) -> int:
    rows = np.nonzero(mask.any(1))[0]
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0


def reference_height(text: str, px: int, bold: bool = False) -> int:
    """The ink height of ``text`` drawn black on white at ``px`` pixels (Pillow, DejaVu)."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (px * (len(text) + 2), px * 3), "white")
    ImageDraw.Draw(im).text((px, px), text, fill="black", font=_font(px, bold))
    return _height(_ink(np.asarray(im), (255, 255, 255)))


def cell_ink(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The ink inside one coloured cell ``(y0, y1, x0, x1)`` (its 2-px rim left out)."""
    y0, y1, x0, x1 = box
    inner = frame[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2]
    return _ink(inner, inner[0, 0])


def first_line_height(frame: np.ndarray, band: tuple[int, int]) -> int:
    """The ink height of the first line of text in rows ``band`` of a light frame."""
    mask = _ink(frame[band[0] : band[1]], frame[0, 0]).any(1)
    rows = np.nonzero(mask)[0]
    if not len(rows):
        return 0
    gaps = np.nonzero(np.diff(rows) > 2)[0]  # the first run of inked rows
    end = rows[gaps[0]] if len(gaps) else rows[-1]
    return int(end - rows[0] + 1)


@pytest.fixture(scope="module")
def tiny(sample):
    torch.manual_seed(0)
    image = sample.images[7].numpy().astype(np.float32) / 255.0
    return capture(build("tinyvgg").eval(), image, label=int(sample.labels[7]))


@pytest.fixture(scope="module")
def class_reel(tiny):
    """The convolution GIF at the class preset (fewer frames a second: the same seconds)."""
    return build_animation("convolution", tiny, fps=4, pace="class")


# --- text a back row can read ---------------------------------------------------------------


def test_convolution_text_is_classroom_size(class_reel):
    reel, lay = class_reel, class_reel.meta["layout"]
    assert reel.size == CLASS == PRESET_SIZES["class"]
    sch = reel.meta["schedule"]
    frame = reel.frame_at(sch.intro + 2 * sch.stage)  # the first worked cell, summed
    title = first_line_height(frame, (0, int(36 * lay.u)))
    assert title >= reference_height("Convolution", 24, bold=True), title
    digits = reference_height("0123456789", 16)
    kh, kw = reel.meta["view"].kernel_shape
    for name, (y0, _, x0, _) in lay.grids.items():
        for i in range(kh):
            for j in range(kw):
                box = (y0 + i * lay.cell, y0 + (i + 1) * lay.cell,
                       x0 + j * lay.cell, x0 + (j + 1) * lay.cell)  # fmt: skip
                ink = cell_ink(frame, box)
                assert _height(ink) >= digits, (name, i, j, _height(ink), digits)
                # the number sits inside its cell, clear of both sides
                assert not ink[:, :2].any() and not ink[:, -2:].any(), (name, i, j)


def test_text_scales_with_the_size_for_every_kind(tiny, sample):
    """The first line of each kind is ~1.6× taller at 1280×720 than at 800×450."""
    evolution = _evolution(tiny)
    for kind, options in [("forward", {}), ("dataflow", {}), ("convolution", {}),
                          ("training", {"evolution": evolution})]:  # fmt: skip
        heights = []
        for size in [(800, 450), CLASS]:
            reel = build_animation(kind, tiny, fps=2, seconds=40, size=size, **options)
            heights.append(first_line_height(reel.frame_at(-1), (0, size[1] // 10)))
        assert heights[1] >= 1.45 * heights[0] > 0, (kind, heights)


# --- steps held long enough to say them ---------------------------------------------------


def gif_runs(path: Path, box: tuple[int, int, int, int]) -> list[int]:
    """Milliseconds each picture in ``box`` stays on screen, read back from the GIF."""
    from PIL import Image, ImageSequence

    y0, y1, x0, x1 = box
    runs: list[int] = []
    previous = None
    with Image.open(path) as im:
        for f in ImageSequence.Iterator(im):
            part = np.asarray(f.convert("RGB"))[y0:y1, x0:x1]
            if previous is not None and np.array_equal(part, previous):
                runs[-1] += f.info["duration"]
            else:
                runs.append(f.info["duration"])
                previous = part.copy()
    return runs


def test_class_pace_holds_each_worked_picture_three_seconds(class_reel, tiny, tmp_path):
    lay, n_cells = class_reel.meta["layout"], len(class_reel.meta["view"].cells)
    runs = gif_runs(save(class_reel, tmp_path / "class.gif"), lay.calc_box)
    worked = runs[1 : 1 + 3 * n_cells]  # after the input alone: patch × kernel, products, sum
    assert len(worked) == 3 * n_cells and min(worked) >= 3000, worked
    # the readme preset is visibly another file: smaller, and a short loop
    quick = build_animation("convolution", tiny, fps=4, pace="readme")
    assert quick.size == PRESET_SIZES["readme"] != class_reel.size
    q_lay = quick.meta["layout"]
    q_runs = gif_runs(save(quick, tmp_path / "readme.gif"), q_lay.calc_box)
    assert max(q_runs[1 : 1 + 3 * len(quick.meta["view"].cells)]) < 1500, q_runs
    assert quick.duration < class_reel.duration / 2


def test_worked_tables_follow_the_window(class_reel):
    """In every frame with a framed window, the patch table shows that window's input cells
    (same colours as the input panel under the frame)."""
    reel, lay = class_reel, class_reel.meta["layout"]
    cv = reel.meta["view"]
    kh, kw = cv.kernel_shape
    (iy0, iy1, ix0, ix1), f = lay.in_box, lay.f_in
    hl = np.asarray(style.hex_to_rgb(style.HIGHLIGHT_COLOR))
    py0, _, px0, _ = lay.grids["patch"]
    checked = 0
    for frame in reel.frames():
        region = frame[iy0 - 6 : iy1 + 6, ix0 - 6 : ix1 + 6]
        ys, xs = np.nonzero((region == hl).all(-1))
        if not len(ys):
            continue  # the steps after the sweep: no window on the input
        top = iy0 - 6 + ys.min() + (ys.max() - ys.min() + 1 - kh * f) // 2
        left = ix0 - 6 + xs.min() + (xs.max() - xs.min() + 1 - kw * f) // 2
        for i in range(kh):
            for j in range(kw):
                under = frame[top + i * f + f // 2, left + j * f + f // 2]
                shown = frame[py0 + i * lay.cell + 3, px0 + j * lay.cell + 3]
                np.testing.assert_array_equal(shown, under, err_msg=f"window at {top}, {left}")
        checked += 1
    assert checked > 3 * len(cv.cells) * reel.meta["schedule"].stage  # the sweep included


# --- the right colour map for the input ---------------------------------------------------


def _input_panel_colours(reel) -> tuple[np.ndarray, np.ndarray]:
    """(what the input panel shows at each padded cell, those cells' values)."""
    cv, (y0, _, x0, _), f = reel.meta["view"], reel.meta["input_box"], reel.meta["layout"].f_in
    padded = cv.padded
    frame = reel.frame_at(0)
    h, w = padded.shape
    cy, cx = y0 + np.arange(h) * f + f // 2, x0 + np.arange(w) * f + f // 2
    return frame[np.ix_(cy, cx)].astype(int), padded


def test_a_relu_input_is_drawn_from_zero_and_a_signed_one_around_zero(tiny):
    relu_input = build_animation("convolution", tiny, fps=2, seconds=40, size=(800, 450),
                                 layer="block1.conv2")  # fmt: skip
    assert tiny.layer(relu_input.meta["view"].layer.inputs[0]).kind == "relu"
    shown, values = _input_panel_colours(relu_input)
    top = float(tiny.layer(relu_input.meta["view"].layer.inputs[0]).output.max())
    sequential = style.colorize(values, style.Scale(style.POSITIVE_CMAP, 0.0, top, ""))
    assert np.abs(shown - sequential).max() <= 1
    # a signed map (the first conv's output read by a hand-made second conv) stays diverging
    signed = tiny.layer("block1.conv1").output
    assert signed.min() < 0
    conv_of_conv = _conv_after_conv(tiny)
    shown, values = _input_panel_colours(conv_of_conv)
    m = float(np.abs(conv_of_conv.meta["view"].inputs).max())
    diverging = style.colorize(values, style.Scale(style.SIGNED_CMAP, -m, m, ""))
    assert np.abs(shown - diverging).max() <= 1


def _conv_after_conv(tiny):
    """A two-conv network with no activation between: the second conv reads a signed map."""
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3))
    trace = capture(net.eval(), tiny.image)
    return build_animation("convolution", trace, fps=2, seconds=40, size=(800, 450),
                           layer=trace.of_kind("conv")[1].name)  # fmt: skip


# --- the training GIF's confusion numbers --------------------------------------------------


def _evolution(tiny, names: list[str] | None = None) -> TrainingEvolution:
    """Two snapshots of the tiny trace with a confusion matrix holding 4-digit counts."""
    rng = np.random.default_rng(0)
    conf = np.diag([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]).astype(int)
    off = rng.integers(0, 12, size=(10, 10)) * (rng.random((10, 10)) < 0.3)
    conf = conf + off * (1 - np.eye(10, dtype=int))
    kernels = tiny.layer("block1.conv1").weight[:, 0]
    maps = tiny.layer("block1.relu1").output
    views = [
        SnapshotView(label, epoch, tiny, kernels * (epoch + 1), "block1.conv1: kernels", maps,
                     "block1.relu1 (after ReLU)", conf if epoch else conf // 10, 0.1 + 0.8 * epoch)
        for epoch, label in enumerate(["epoch 0 (untrained)", "final (epoch 1)"])
    ]  # fmt: skip
    return TrainingEvolution(views, "the 10000 test digits", "tinyvgg")


@pytest.mark.parametrize("long_names", [False, True])
def test_training_confusion_counts_are_readable(tiny, long_names):
    trace = tiny
    if long_names:  # Fashion-MNIST's names: numbers on the axes and a key
        import copy

        trace = copy.copy(tiny)
        trace.class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                             "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
    evolution = _evolution(trace)
    reel = build_animation("training", trace, evolution=evolution, fps=1, pace="class")
    assert reel.size == CLASS
    lay, conf = reel.meta["layout"], evolution.views[-1].confusion
    frame = reel.frame_at(-1)
    gy, _, gx, _ = lay.confusion
    digits = reference_height("0123456789", 16)
    for a in range(10):
        for b in range(10):
            box = (gy + a * lay.cell, gy + (a + 1) * lay.cell,
                   gx + b * lay.cell, gx + (b + 1) * lay.cell)  # fmt: skip
            ink = cell_ink(frame, box)
            if conf[a, b] == 0:
                assert not ink.any(), (a, b)
                continue
            assert _height(ink) >= digits, (a, b, conf[a, b], _height(ink), digits)
            assert not ink[:, :1].any() and not ink[:, -1:].any(), (a, b, conf[a, b])


# --- the forward GIF by blocks at the class size ------------------------------------------


@pytest.fixture(scope="module")
def resnet_forward():
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from zoo import build_zoo

    torch.set_num_threads(1)
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    trace = capture(build_zoo("resnet18"), image, label=3)
    return build_animation("forward", trace, fps=2, seconds=30, size=CLASS)


def test_forward_block_steps_are_classroom_size(resnet_forward):
    """The steps box of a residual block: every line at least as tall as "ReLU" at 16 px."""
    reel = resnet_forward
    lay, panel = reel.meta["layout"], np.array(style.hex_to_rgb(style.theme("light").panel))
    i = next(i for i, s in enumerate(reel.meta["stages"]) if s.skip is not None)
    frame = reel.frame_at(reel.meta["shown"][reel.meta["stages"][i].name])
    y0, y1, x0, x1 = lay.center
    w = x1 - x0
    mid_x = x0 + int(w * 0.27) + int(w * 0.25) // 2
    below = y0 + int(50 * lay.k)  # under the block's title and subtitle
    column = np.abs(frame[below:y1, mid_x].astype(int) - panel).max(1) < 3
    rows = np.nonzero(column)[0] + below  # the box's inside (its words leave gaps in it)
    box = frame[rows[0] + 2 : rows[-1] - 2, x0 + int(w * 0.27) + 20 : x0 + int(w * 0.52) - 20]
    ink = np.nonzero(_ink(box, panel).any(1))[0]
    runs = np.split(ink, np.nonzero(np.diff(ink) > 2)[0] + 1)  # one run of rows per line
    assert len(runs) >= 5, len(runs)
    heights = [int(r[-1] - r[0] + 1) for r in runs]
    # the lowest line ("ReLU": capitals, no descender) as tall as capitals at 16 px
    assert min(heights) >= reference_height("ReLU", 16), heights


def test_colour_bar_ticks_are_compact_and_inside_a_narrow_panel():
    """Values of 1e-4 in a panel 160 px wide: ticks read "6e−5", never "6e-05", and their ink
    stays inside the panel."""
    from explainer.animate.canvas import tick_text
    from explainer.animate.forward_sheets import stage_sheets
    from explainer.animate.forward_stages import Stage

    assert tick_text(6e-05) == "6e−5" and tick_text(0.5) == "0.5" and tick_text(-2) == "−2"
    values = np.linspace(0, 1e-4, 2 * 4 * 4).reshape(2, 4, 4)
    scale = style.layer_scale(values, "relu")
    stage = Stage("x", "relu", "x", "2 maps", values, scale, "x")
    _, done, _ = stage_sheets(stage, (160, 300), "light", [str(i) for i in range(10)], 1.6)
    edge = _ink(done[:, -3:], done[0, 0])
    assert not edge.any(), "a tick label runs off the panel"


def test_forward_block_panels_words_are_classroom_size(resnet_forward):
    """The reads and gives panels of a block: every line of their titles and subtitles (wrapped,
    never shrunk) at least as tall as the same words at 16 px."""
    from explainer.animate.forward_blocks import PANEL_PT
    from explainer.animate.forward_sheets import TITLE_PT, header_lines

    reel = resnet_forward
    lay = reel.meta["layout"]
    stage = next(s for s in reel.meta["stages"] if s.skip)
    frame = reel.frame_at(reel.meta["shown"][stage.name])
    y0, _, x0, x1 = lay.center
    w, k = x1 - x0, lay.k
    top = y0 + header_lines(stage, w - 4, k, TITLE_PT * k, stage.subtitle)[2]
    w_in, x_out = int(w * 0.27), int(w * 0.27) + int(w * 0.25)
    for panel, (a, b) in ((stage.before, (0, w_in)), (stage.after, (x_out, w))):
        title, sub, bottom = header_lines(panel, b - a - 4, k, PANEL_PT * k, panel.subtitle)
        crop = frame[top : top + bottom - int(6 * k), x0 + a : x0 + b]
        ink = np.nonzero(_ink(crop, frame[0, 0]).any(1))[0]
        runs = np.split(ink, np.nonzero(np.diff(ink) > 1)[0] + 1)
        heights = [int(r[-1] - r[0] + 1) for r in runs]
        lines = [(x, True) for x in title] + [(x, False) for x in sub]
        assert len(heights) == len(lines), (panel.title, heights, lines)
        for h, (line, bold) in zip(heights, lines, strict=True):
            assert h >= reference_height(line, 16, bold), (line, h)
