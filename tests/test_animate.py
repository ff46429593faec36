"""Animators: frame counts, what each output file holds, and pixels checked against the Trace.

Models are built here with seeded weights (no dependence on the shipped checkpoints), so these
tests check the animators on every registered architecture, quickly.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from explainer import style
from explainer.animate import CountingWriter, build_animation, render_animation
from explainer.animate.writer import distinct_frames, gif_durations, save
from explainer.data import load_test_or_sample
from explainer.errors import ExplainerError
from explainer.nets.architectures import available, build
from explainer.nets.checkpoints import Checkpoint
from explainer.tracing.capture import capture

SMALL = (480, 270)


def _model(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    return build(arch).eval()


def _trace(arch: str, sample, i: int = 7):
    image = sample.images[i].numpy().astype(np.float32) / 255.0
    return capture(_model(arch), image, label=int(sample.labels[i]), architecture=arch)


@pytest.fixture(scope="module")
def tiny(sample):
    return _trace("tinyvgg", sample)


@pytest.mark.parametrize("arch", available())
@pytest.mark.parametrize("kind", ["forward", "dataflow"])
def test_every_architecture_gives_the_promised_frames(kind, arch, sample):
    counter = CountingWriter()
    render_animation(
        kind, _trace(arch, sample), "x.gif", fps=6, seconds=12, size=SMALL, writer=counter
    )
    assert counter.frames == 72
    assert counter.shape == (270, 480, 3)


def test_forward_panels_are_the_colormapped_activations(tiny):
    reel = build_animation("forward", tiny, fps=10, seconds=12)
    checked = 0
    frames = {i: None for i in reel.meta["shown"].values()}
    for i, f in enumerate(reel.frames()):
        if i in frames:
            frames[i] = f.copy()
    for name, frame_no in reel.meta["shown"].items():
        rec = tiny.layer(name)
        if not rec.is_spatial:
            continue
        scale = style.layer_scale(rec.output, rec.kind)
        frame = frames[frame_no]
        for c, (y0, y1, x0, x1) in enumerate(reel.meta["panels"][name]):
            h, w = rec.output.shape[1:]
            cy = y0 + ((np.arange(h) + 0.5) * (y1 - y0) / h).astype(int)
            cx = x0 + ((np.arange(w) + 0.5) * (x1 - x0) / w).astype(int)
            expected = style.colorize(rec.output[c], scale)
            np.testing.assert_array_equal(frame[np.ix_(cy, cx)], expected)
            checked += 1
    assert checked == sum(r.shape[0] for r in tiny.layers if r.is_spatial and r.kind != "dropout")


def test_convolution_numbers_reproduce_the_captured_output(tiny):
    """Each worked cell: the shown channel's products, the other channels' own sums (not a
    remainder) and the bias, against torch's conv on the layer's real input."""
    import torch.nn.functional as F

    from explainer.animate.convolution_view import conv_view

    for layer in ("block1.conv1", "block1.conv2"):
        rec = tiny.layer(layer)
        cv = conv_view(tiny, layer, channel=3)
        x = torch.from_numpy(np.array(tiny.inputs_of(rec)[0], np.float32))[None]
        w = torch.from_numpy(rec.weight)
        for cs in cv.cells:
            y, xx, c = cs.cell.y, cs.cell.x, cs.in_channel
            one = torch.zeros_like(x)
            one[:, c] = x[:, c]
            ref_shown = F.conv2d(one, w, None, 1, 1)[0, 3, y, xx].item()
            ref_others = F.conv2d(x - one, w, None, 1, 1)[0, 3, y, xx].item()
            assert cs.products.shape == (3, 3)
            assert cs.shown_sum == pytest.approx(ref_shown, abs=1e-4)
            assert cs.others == pytest.approx(ref_others, abs=1e-4)
            assert cs.value == pytest.approx(float(rec.output[3, y, xx]), abs=1e-4)


def test_convolution_output_panel_shows_the_output_channel(tiny):
    reel = build_animation("convolution", tiny, fps=8, seconds=16, layer="block1.conv1", channel=2)
    cn, (y0, y1, x0, x1) = reel.meta["view"], reel.meta["output_box"]
    # after the sweep, the full pre-ReLU output map is on screen
    frames = [f.copy() for f in reel.frames()]
    h, w = cn.output.shape
    cy = y0 + ((np.arange(h) + 0.5) * (y1 - y0) / h).astype(int)
    cx = x0 + ((np.arange(w) + 0.5) * (x1 - x0) / w).astype(int)
    expected = style.colorize(cn.output, reel.meta["scale"])
    assert any(np.array_equal(f[np.ix_(cy, cx)], expected) for f in frames)


def test_convolution_needs_a_conv_layer_and_a_known_layer(sample, tiny):
    with pytest.raises(ExplainerError, match="no convolution layer"):
        build_animation("convolution", _trace("mlp", sample))
    with pytest.raises(ExplainerError, match=r"no layer 'block9\.conv1'"):
        build_animation("convolution", tiny, layer="block9.conv1")
    with pytest.raises(ExplainerError, match="not a convolution"):
        build_animation("convolution", tiny, layer="block1.pool")


def test_gif_holds_the_promised_frames_size_and_duration(tiny, tmp_path):
    from PIL import Image

    reel = build_animation("forward", tiny, fps=10, seconds=12, size=SMALL)
    out = save(reel, tmp_path / "f.gif")
    with Image.open(out) as im:
        assert im.size == SMALL
        assert im.info.get("loop") == 0
        assert im.n_frames == distinct_frames(reel)
        total = 0
        for k in range(im.n_frames):
            im.seek(k)
            total += im.info["duration"]
        last = np.asarray(im.convert("RGB")).astype(int)
    assert total == 12000
    # one shared palette: the last GIF frame is the last RGB frame up to quantisation
    assert np.abs(last - reel.frame_at(-1).astype(int)).mean() < 4
    assert [p.name for p in tmp_path.iterdir()] == ["f.gif"]


def test_mp4_and_png(tiny, tmp_path):
    import imageio.v2 as imageio
    from PIL import Image

    reel = build_animation("dataflow", tiny, fps=8, seconds=5, size=SMALL)
    png = save(reel, tmp_path / "d.png")
    np.testing.assert_array_equal(np.asarray(Image.open(png).convert("RGB")), reel.frame_at(-1))
    mp4 = save(reel, tmp_path / "d.mp4")
    with imageio.get_reader(mp4) as r:
        meta = r.get_meta_data()
        frames = [f for f in r]
    assert len(frames) == 40 and frames[0].shape == (270, 480, 3)
    assert meta["fps"] == pytest.approx(8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.mp4", "d.png"]


def test_failed_write_leaves_no_file(tiny, tmp_path):
    class Boom(Exception):
        pass

    reel = build_animation("dataflow", tiny, fps=8, seconds=5, size=SMALL)

    original = reel.indexed_frames

    def broken():
        yield next(iter(original()))
        raise Boom

    reel.indexed_frames = broken
    with pytest.raises(Boom):
        save(reel, tmp_path / "d.gif")
    assert list(tmp_path.iterdir()) == []


def test_bad_extension_and_bad_settings_are_one_line_errors(tiny):
    with pytest.raises(ExplainerError, match=r"must end in \.gif, \.mp4, \.png"):
        render_animation("forward", tiny, "out.webm")
    with pytest.raises(ExplainerError, match="unknown animation"):
        render_animation("sideways", tiny, "out.gif")
    with pytest.raises(ExplainerError, match="too short"):
        build_animation("forward", tiny, fps=2, seconds=2)


def test_gif_durations_add_up():
    changes = [True, False, False, True, True, False, True]
    d = gif_durations(changes, fps=15)
    assert len(d) == 4 and all(v % 10 == 0 for v in d)
    assert sum(d) == round(7 / 15 * 100) * 10


def test_training_draws_the_library_evolution(sample, tiny):
    from explainer.analysis.snapshots import training_evolution

    snaps = [
        Checkpoint(model=_model("tinyvgg", s), architecture="tinyvgg", dataset="mnist",
                   class_names=[str(i) for i in range(10)], epoch=s)
        for s in (1, 2)
    ]  # fmt: skip
    evolution = training_evolution(snaps, tiny.image, label=tiny.label)
    reel = build_animation("training", tiny, evolution=evolution, fps=5, seconds=4)
    assert reel.n_frames == 20
    views = reel.meta["views"]
    np.testing.assert_array_equal(
        views[1].kernels, snaps[1].model.block1.conv1.weight.detach()[:, 0].numpy()
    )
    # the maps are the digit's values after the first conv's activation, from its own trace
    np.testing.assert_array_equal(views[0].maps, views[0].trace.layer("block1.relu1").output)
    assert views[0].confusion.sum() == len(load_test_or_sample("mnist")[0])
    with pytest.raises(ExplainerError, match="at least two"):
        training_evolution(snaps[:1], tiny.image)


def test_mistakes_are_real_and_most_confident_first(sample):
    from explainer.analysis.evaluate import evaluate, mistake_report

    ck = Checkpoint(model=_model("tinyvgg", 3), architecture="tinyvgg", dataset="mnist",
                    class_names=[str(i) for i in range(10)])  # fmt: skip
    report = mistake_report(evaluate(ck, sample_only=True))
    reel = build_animation("mistakes", None, report=report, fps=5, seconds=10)
    assert reel.n_frames == 50
    ms = reel.meta["mistakes"]
    assert ms and all(int(np.argmax(m.probs)) != m.label for m in ms)
    conf = [float(m.probs.max()) for m in ms]
    assert conf == sorted(conf, reverse=True)
    images = sample.images.numpy().astype(np.float32) / 255.0
    for m in ms[:5]:  # each card's digit is the test digit its index names
        i = int(np.flatnonzero(sample.indices.numpy() == m.index)[0])
        np.testing.assert_array_equal(m.image, images[i])
        assert m.label == int(sample.labels[i])


def test_style_colours_stay_exact_in_the_gif_palette():
    from explainer.animate.reel import Reel

    base = np.full((50, 60, 3), 255, np.uint8)
    base[10:20, 10:20] = style.hex_to_rgb(style.THEMES["light"].muted)
    base[30:40] = np.random.default_rng(0).integers(0, 255, (10, 60, 3))  # 600 other colours
    reel = Reel(base, fps=5)
    reel.frame()
    pal, idx = reel.palette(), next(iter(reel.indexed_frames()))
    assert len(pal) == 255
    assert tuple(pal[idx[0, 0]]) == (255, 255, 255)
    assert tuple(pal[idx[15, 15]]) == style.hex_to_rgb(style.THEMES["light"].muted)


# --- paced for speech ---------------------------------------------------------------------


def _gif_frames(path):
    """``[(rgb, milliseconds)]`` of every frame the GIF stores."""
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        return [
            (np.asarray(f.convert("RGB")).astype(int), f.info["duration"])
            for f in ImageSequence.Iterator(im)
        ]


def _panel_matches(frame, values, kind, boxes) -> bool:
    """Whether ``frame`` shows all of ``values`` (a layer's output) in ``boxes``, colour by
    colour (up to the GIF palette)."""
    from explainer.animate.canvas import as_tiles

    scale = style.layer_scale(values, kind)
    if values.ndim == 3:
        parts = list(values)
    elif len(boxes) == values.size:  # the output record: one row per class
        parts = [np.full((1, 1), v) for v in values]
    else:
        parts = [row[None] for row in as_tiles(values)]
    assert len(parts) == len(boxes)
    for part, (y0, y1, x0, x1) in zip(parts, boxes, strict=True):
        h, w = part.shape
        cy = y0 + ((np.arange(h) + 0.5) * (y1 - y0) / h).astype(int)
        cx = x0 + ((np.arange(w) + 0.5) * (x1 - x0) / w).astype(int)
        keep = ~np.isnan(part)
        expected = style.colorize(np.nan_to_num(part), scale).astype(int)
        if np.abs(frame[np.ix_(cy, cx)] - expected)[keep].mean() > 10:
            return False
    return True


def test_forward_holds_every_layer_two_seconds_at_class_pace(tiny, tmp_path):
    """Read back from the GIF: how long each layer's real activations are on screen."""
    from explainer.animate.forward import CLASS_HOLD

    reel = build_animation("forward", tiny, fps=10, size=SMALL, pace="class")
    frames = _gif_frames(save(reel, tmp_path / "f.gif"))
    assert sum(ms for _, ms in frames) == round(reel.duration * 1000)
    stages = reel.meta["stages"]
    for st in stages:
        boxes = reel.meta["panels"][st.name]
        on_screen = sum(ms for rgb, ms in frames if _panel_matches(rgb, st.values, st.kind, boxes))
        assert on_screen >= CLASS_HOLD * 1000, (st.name, on_screen)
    # the readme pace is the short loop: well under two seconds a layer
    short = build_animation("forward", tiny, fps=10, size=SMALL, pace="readme")
    assert short.duration < CLASS_HOLD * len(stages) < reel.duration


def test_mistakes_cards_stay_three_seconds_at_class_pace(tmp_path):
    from explainer.analysis.evaluate import evaluate, mistake_report

    ck = Checkpoint(model=_model("tinyvgg", 3), architecture="tinyvgg", dataset="mnist",
                    class_names=[str(i) for i in range(10)])  # fmt: skip
    report = mistake_report(evaluate(ck, sample_only=True))
    reel = build_animation("mistakes", None, report=report, fps=5, size=SMALL, pace="class")
    frames = _gif_frames(save(reel, tmp_path / "m.gif"))
    # one stored frame per card appearing; each stays at least 3 s before the next
    assert len(frames) == len(reel.meta["mistakes"]) == 12
    assert all(ms >= 3000 for _, ms in frames), [ms for _, ms in frames]
    quick = build_animation("mistakes", None, report=report, fps=5, size=SMALL, pace="readme")
    assert quick.duration == 12


def test_pace_is_checked(tiny):
    with pytest.raises(ExplainerError, match="unknown pace 'slow'; choose one of: class, readme"):
        build_animation("forward", tiny, pace="slow")


# --- true words and numbers -------------------------------------------------------------


def test_a_tie_is_said_and_certainty_is_never_100_percent():
    from explainer.analysis.flowgraph import verdict

    names = [str(i) for i in range(10)]
    v = verdict(np.full(10, 0.1, np.float32), names, label=0)
    assert v.state == "tie" and v.text == "tie: 10 classes at 10.0% each"
    assert v.note == "the label 0 is one of them"
    v = verdict(np.array([0.5, 0.5, 0, 0]), ["a", "b", "c", "d"], label=2)
    assert (v.text, v.note) == ("tie: a and b at 50.0% each", "the label is c")
    probs = np.full(10, 2.1e-6 / 9)
    probs[3] = 0.9999979
    v = verdict(probs, names, label=3)
    assert v.line == "prediction: 3  > 99.9%  ✓ correct" and "100" not in v.line
    assert verdict(probs, names, label=5).note == "✗ the label is 5"


def test_a_tied_network_renders(sample):
    """An all-zero network gives ten equal probabilities: every picture still renders."""
    model = build("linear").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    trace = capture(model, sample.images[0].numpy() / 255.0, label=int(sample.labels[0]))
    assert np.allclose(trace.probs, 0.1)
    for kind in ("forward", "dataflow"):
        assert build_animation(kind, trace, fps=4, size=SMALL, pace="readme").n_frames > 1


def test_words_follow_the_dataset():
    from types import SimpleNamespace

    from explainer.analysis.flowgraph import item_word, source_title
    from explainer.data import FASHION_CLASSES

    digits = [str(i) for i in range(10)]
    assert item_word("mnist", digits) == "digit"
    assert item_word("fashion_mnist", FASHION_CLASSES, plural=True) == "items"
    assert item_word("mnist", FASHION_CLASSES) == "item"  # the class names decide
    assert item_word("emnist") == "image"

    def title(source, dataset="mnist", names=digits):
        return source_title(SimpleNamespace(source=source, dataset=dataset, class_names=names))

    assert title("mnist:test:0") == "MNIST test digit #0"
    assert title("fashion_mnist:test:12", "fashion_mnist", FASHION_CLASSES) == (
        "Fashion-MNIST test item #12"
    )
    assert title("test digit #370") == "MNIST test digit #370"
    assert title("/home/teacher/photos/my seven.png") == "my seven.png"
    assert title("") == ""


def test_training_caption_says_what_was_measured(tiny):
    from explainer.analysis.snapshots import training_evolution
    from explainer.animate.training import change_caption

    snaps = [
        Checkpoint(model=_model("tinyvgg", s), architecture="tinyvgg", dataset="mnist",
                   class_names=[str(i) for i in range(10)], epoch=s)
        for s in (1, 2)
    ]  # fmt: skip
    evolution = training_evolution(snaps, tiny.image, label=tiny.label)
    a, b = (s.model.block1.conv1.weight.detach().flatten() for s in snaps)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=0).item()
    text = change_caption(evolution.views, 1)
    assert f"cosine similarity {cos:.4f}" in text
    assert f"{(b - a).norm().item() / a.norm().item():.1%} apart" in text
    assert "noise into stroke detectors" not in text


def test_dataflow_lights_each_block_whole_and_only_when_reached(tiny):
    """Every frame shows each block either still dark or fully painted, never half of one
    (the last block's picture must not spill onto the next), in the order of the flow."""
    reel = build_animation("dataflow", tiny, fps=6, size=SMALL, pace="class")
    base, painted = reel.sheets[0], reel.sheets[1]
    r = int(14 * min(SMALL[0] / 800, SMALL[1] / 450)) + 1  # the pulse's size
    mid = int(SMALL[1] * 0.47)  # straight arrows (and the pulse) run at this height
    parts = {
        i: (slice(y0, min(y1, mid - r)), slice(x0, x1))
        for i, (y0, y1, x0, x1) in enumerate(reel.meta["boxes"])
        if min(y1, mid - r) > y0 and not np.array_equal(base[y0 : mid - r, x0:x1],
                                                        painted[y0 : mid - r, x0:x1])
    }  # fmt: skip
    assert len(parts) >= len(reel.meta["blocks"]) - 2
    lit_order: list[list[int]] = []
    for f in reel.frames():
        lit = []
        for i, part in parts.items():
            if np.array_equal(f[part], painted[part]):
                lit.append(i)
            else:
                assert np.array_equal(f[part], base[part]), f"block {i} half painted"
        if not lit_order or lit != lit_order[-1]:
            lit_order.append(lit)
    assert lit_order[-1] == sorted(parts)
    assert all(b[: len(a)] == a and len(b) == len(a) + 1 for a, b in itertools.pairwise(lit_order))
