"""The reusable Manim mobjects: structure, and colours that follow the values (via style)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("manim")

from manim import RESAMPLING_ALGORITHMS, Animation, ImageMobject, ManimColor

from explainer.scenes.mobjects import (
    ColorBar,
    FeatureMap,
    FeatureMapStack,
    Kernel,
    Label,
    make_morph_animation,
    top_channels,
)
from explainer.scenes.vectors import NeuronColumn, ProbabilityBars
from explainer.style import HIGHLIGHT_COLOR, colorize, scale_for

RNG = np.random.default_rng(0)


def fill_rgb(mob) -> np.ndarray:
    return (np.array(ManimColor(mob.get_fill_color()).to_rgb()) * 255).round()


def test_feature_map_is_one_nearest_image_with_style_colours():
    values = RNG.normal(size=(7, 5)).astype(np.float32)
    fm = FeatureMap(values, kind="conv", height=2.0)
    images = [m for m in fm.get_family() if isinstance(m, ImageMobject)]
    assert len(images) == 1
    scale = scale_for(values, "conv")
    assert fm.value_scale == scale and scale.signed
    np.testing.assert_array_equal(fm.image.pixel_array[..., :3], colorize(values, scale))
    assert fm.image.resampling_algorithm == RESAMPLING_ALGORITHMS["nearest"]
    assert fm.image.height == pytest.approx(2.0)
    assert fm.image.width == pytest.approx(2.0 * 5 / 7)
    # value (0, 0) sits in the top-left cell, (6, 4) in the bottom-right one
    s = fm.cell_size
    tl = fm.image.get_corner(np.array([-1, 1, 0]))
    np.testing.assert_allclose(fm.pixel_center(0, 0), tl + np.array([s / 2, -s / 2, 0]), atol=1e-6)
    np.testing.assert_allclose(
        fm.pixel_center(6, 4), tl + np.array([4.5 * s, -6.5 * s, 0]), atol=1e-6
    )


def test_feature_map_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        FeatureMap(np.zeros((2, 3, 4)))


def test_fill_animation_reveals_rows_in_reading_order():
    values = np.arange(16, dtype=np.float32).reshape(4, 4) + 1
    fm = FeatureMap(values, kind="relu")
    full = fm.image.pixel_array.copy()
    anim = fm.make_fill_animation(run_time=1.0)
    assert isinstance(anim, Animation)
    anim.begin()
    anim.interpolate_mobject(0.5)  # 8 of 16 values: the top two rows
    arr = fm.image.pixel_array
    np.testing.assert_array_equal(arr[:2], full[:2])
    assert not np.array_equal(arr[2:], full[2:])
    anim.interpolate_mobject(1.0)
    np.testing.assert_array_equal(fm.image.pixel_array, full)


def test_stack_shows_most_active_channels_on_one_scale():
    values = RNG.random((12, 6, 6)).astype(np.float32)
    values[[2, 7, 9]] *= 10  # the three loudest channels
    stack = FeatureMapStack(values, kind="relu", max_maps=3, rows=3)
    assert stack.channels == [2, 7, 9] == top_channels(values, 3)
    assert len(stack.maps) == 3
    scale = scale_for(values, "relu")
    for c, fm in zip(stack.channels, stack.maps, strict=True):
        assert fm.value_scale == scale
        np.testing.assert_array_equal(fm.image.pixel_array[..., :3], colorize(values[c], scale))
    images = [
        m for m in stack.get_family() if isinstance(m, ImageMobject) and not isinstance(m, Label)
    ]
    assert len(images) == 3  # one image per map, no squares
    explicit = FeatureMapStack(values, channels=[0, 1], layout="cascade")
    assert explicit.channels == [0, 1]
    anim = stack.make_build_animation()
    assert isinstance(anim, Animation)


def test_kernel_cells_follow_weights():
    w = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    k = Kernel(w, cell=0.5)
    assert len(k.cells) == 9 and len(k.numbers) == 9
    colours = colorize(w, scale_for(w, "kernel"))
    for cell, rgb in zip(k.cells, colours.reshape(-1, 3), strict=True):
        np.testing.assert_allclose(fill_rgb(cell), rgb, atol=1)
    # a negative weight is blue-ish, a positive one red-ish (RdBu_r), zero near white
    assert fill_rgb(k.cells[3])[2] > fill_rgb(k.cells[3])[0]
    assert fill_rgb(k.cells[5])[0] > fill_rgb(k.cells[5])[2]
    assert fill_rgb(k.cells[4]).min() > 200
    # cells laid out row-major: cell 1 right of cell 0, cell 3 below it
    assert k.cells[1].get_center()[0] > k.cells[0].get_center()[0]
    assert k.cells[3].get_center()[1] < k.cells[0].get_center()[1]


def test_neuron_column_colours_and_subset():
    values = np.linspace(0, 1, 30).astype(np.float32)
    col = NeuronColumn(values, kind="relu", max_shown=6)
    assert col.shown == 6 and col.indices == list(range(24, 30))
    expected = colorize(values[24:], scale_for(values, "relu"))
    for circ, rgb in zip(col.neurons, expected, strict=True):
        np.testing.assert_allclose(fill_rgb(circ), rgb, atol=1)
    assert len(col.dots) == 1  # the "⋮" for the 24 left out
    col.turn_off()
    assert all(np.allclose(fill_rgb(c), fill_rgb(col.neurons[0])) for c in col.neurons)
    assert isinstance(col.make_light_animation(), Animation)
    named = NeuronColumn(values[:10], names=[str(i) for i in range(10)])
    assert named.shown == 10 and len(named.names) == 10 and len(named.dots) == 0


def test_probability_bars_lengths_and_highlight():
    probs = np.array([0.1, 0.6, 0.3], dtype=np.float32)
    bars = ProbabilityBars(probs, ["a", "b", "c"], max_width=2.0)
    assert len(bars.bars) == 3 and bars.winner == 1
    for bar, p in zip(bars.bars, probs, strict=True):
        assert bar.width == pytest.approx(2.0 * p, rel=1e-3)
    lefts = {round(b.get_left()[0], 6) for b in bars.bars}
    assert len(lefts) == 1  # all grow from the same baseline
    anim = bars.make_highlight_animation()
    assert isinstance(bars.make_grow_animation(), Animation) and isinstance(anim, Animation)
    anim.begin()
    anim.finish()
    np.testing.assert_allclose(
        fill_rgb(bars.bars[1]), [int(HIGHLIGHT_COLOR[i : i + 2], 16) for i in (1, 3, 5)], atol=1
    )


def test_label_and_colorbar():
    small, big = Label("Hg", 16), Label("Hg", 32)
    assert big.height == pytest.approx(2 * small.height, rel=0.1)
    assert small.pixel_array[..., 3].max() == 255  # ink drawn
    bar = ColorBar(scale_for(np.array([-2.0, 1.0]), "conv"), width=2.0)
    assert bar.image.width == pytest.approx(2.0)
    ramp = bar.image.pixel_array[0, :, :3].astype(int)
    assert ramp[0, 2] > ramp[0, 0] and ramp[-1, 0] > ramp[-1, 2]  # blue → red


def test_morph_between_different_sizes_is_an_animation():
    a = FeatureMap(RNG.random((28, 28)), height=1.0)
    b = FeatureMap(RNG.random((14, 14)), height=0.5).shift(np.array([2.0, 0, 0]))
    anim = make_morph_animation(a, b)
    assert isinstance(anim, Animation)
    anim.begin()
    anim.interpolate(0.5)
    anim.finish()


def test_fast_image_camera_draws_the_same_pixels_as_manim():
    from manim import MovingCamera, tempconfig

    from explainer.scenes.common import FastImageCamera

    with tempconfig({"pixel_width": 320, "pixel_height": 180}):
        mobs = [
            FeatureMap(RNG.random((28, 28)), kind="relu", height=2.0).shift(
                np.array([-3.0, 1.0, 0])
            ),
            FeatureMap(RNG.normal(size=(7, 7)), kind="conv", height=1.3).shift(
                np.array([2.5, -1.0, 0])
            ),
            FeatureMap(RNG.random((5, 9)), height=1.0).rotate(0.4).shift(np.array([0.3, 0.8, 0])),
            FeatureMap(RNG.random((14, 14)), height=3.0).shift(
                np.array([-7.0, -3.5, 0])
            ),  # half off
            Label("Hello, layers 3×3", 24).shift(np.array([0.5, -2.5, 0])),
        ]
        frames = []
        for cls in (MovingCamera, FastImageCamera):
            cam = cls()
            cam.capture_mobjects(mobs)
            frames.append(cam.pixel_array[..., :3].astype(int))
    stock, fast = frames
    assert stock.std() > 10  # something was drawn
    diff = np.abs(stock - fast)
    assert diff.mean() < 1.0 and (diff.max(axis=-1) > 40).mean() < 0.003


def test_negative_numbers_keep_a_true_minus():
    """At 480p a hyphen shrinks to a dot: colour-bar ticks, kernel weights and percentages
    write negatives with U+2212 (and no "−0")."""
    from explainer.scenes.mobjects import tick_text

    assert tick_text(-3.3) == "\u22123.3" and tick_text(3.3) == "3.3"
    assert tick_text(-14.2) == "\u221214" and tick_text(-0.0001) == "\u22120.0001"
    assert tick_text(-0.0) == "0"
    bar = ColorBar(scale_for(np.array([-2.0, 1.0]), "conv"), width=2.0)
    texts = [m.text for m in bar.submobjects if isinstance(m, Label)]
    assert texts[0] == tick_text(bar.value_scale.vmin) and texts[0].startswith("\u2212")
    k = Kernel(np.array([[-0.5, 0.25], [0.0, -1.0]], dtype=np.float32), cell=0.5)
    assert [n.text for n in k.numbers] == ["\u22120.50", "0.25", "0.00", "\u22121.00"]


def test_probability_bars_write_what_a_learner_should_read():
    probs = np.array([0.9999979, 0.0000021, 0.0], dtype=np.float32)
    bars = ProbabilityBars(probs, ["T-shirt/top", "Ankle boot", "Bag"], font_size=15)
    assert [v.text for v in bars.values] == ["> 99.9%", "< 0.1%", "0.0%"]
    assert {round(n.size) for n in bars.names} == {15}
    anim = bars.make_highlight_animation()
    anim.begin()
    anim.finish()
    box = bars.highlight_box
    assert box.get_bottom()[1] > bars.tracks[1].get_top()[1]  # inside its own row
    assert box.get_left()[0] < bars.names[0].get_left()[0]


def test_neuron_names_on_either_side():
    from manim import RIGHT

    col = NeuronColumn(np.arange(3, dtype=np.float32), names=["a", "b", "c"], names_side=RIGHT)
    assert all(
        n.get_left()[0] > c.get_right()[0] for n, c in zip(col.names, col.neurons, strict=True)
    )


@pytest.mark.parametrize("kind", ["add", "mul", "concat", "norm", "attention", "other", "pool"])
def test_any_kind_holding_negatives_is_drawn_diverging(kind):
    """A record of any kind with a value below zero (a normalised digit is ``sub`` then
    ``div``: kinds add and mul) gets the diverging map centred at 0, as in the GIFs; the
    same kind all ≥ 0 keeps the "≥ 0" map (except the kinds that are always signed)."""
    from explainer.style import POSITIVE_CMAP, SIGNED_CMAP

    signed = np.linspace(-0.4, 2.8, 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    for mob in (FeatureMapStack(signed, kind=kind), FeatureMap(signed[0], kind=kind),
                NeuronColumn(signed.ravel(), kind=kind)):  # fmt: skip
        s = mob.value_scale
        peak = float(np.abs(mob.values).max())
        assert s.cmap == SIGNED_CMAP and s.vmin == -s.vmax == -peak, type(mob)
    positive = FeatureMapStack(np.abs(signed), kind=kind).value_scale
    expected = SIGNED_CMAP if kind in ("other",) else POSITIVE_CMAP
    assert positive.cmap == expected
