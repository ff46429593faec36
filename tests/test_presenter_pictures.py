"""What a projector shows must be readable: channel numbers on feature-map grids large enough,
a confusion matrix's counts inside their cells at any count, every layer named on the Filters
page's strength chart."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import ImageFont

pytest.importorskip("streamlit")

from explainer.app import visuals
from explainer.app.filters import strength_spec
from explainer.data import load_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir
from explainer.style import Scale
from explainer.tracing.capture import capture_checkpoint


@pytest.mark.parametrize("cell", [56, 76, 110])
def test_channel_numbers_are_at_least_ten_pixels_tall(cell):
    maps = np.zeros((12, 28, 28), np.float32)  # a dark map: only the number is white
    grid = visuals.mosaic(maps, Scale("magma", 0.0, 1.0, ""), cols=4, cell=cell)
    f = max(1, round(cell / 28))
    gap, side = 4, 28 * f
    y, x = gap + 2 * (side + gap), gap + 2 * (side + gap)  # channel 10, row 2 column 2
    corner = grid[y : y + side // 2, x : x + side // 2]
    rows = np.nonzero((corner == 255).all(axis=2).any(axis=1))[0]
    assert rows.size and rows.max() - rows.min() + 1 >= 10, f"{rows.size} px tall at {cell}"


def _font_px(expr: str, bandwidth: float) -> float:
    """Evaluate count_font_expr's ``min(a, (bandwidth('x') - 4) / b)`` for one cell width."""
    a, b = (float(v) for v in re.fullmatch(
        r"min\(([\d.]+), \(bandwidth\('x'\) - 4\) / ([\d.]+)\)", expr).groups())  # fmt: skip
    return min(a, (bandwidth - 4) / b)


@pytest.mark.parametrize("top", [7, 58, 1129, 98765])
@pytest.mark.parametrize("cell_px", [30, 38, 60])
def test_confusion_counts_fit_their_cells(top, cell_px):
    cm = np.eye(10, dtype=int) * top
    spec = visuals.confusion_spec(cm, [str(i) for i in range(10)])
    expr = spec["layer"][1]["mark"]["fontSize"]["expr"]
    size = _font_px(expr, cell_px)
    # the reference: the count's width in DejaVu Sans, a wider font than the app's
    font = ImageFont.truetype("DejaVuSans.ttf", max(1, round(size)))
    width = font.getlength(str(top))
    assert width <= cell_px - 2, f"{top} is {width:.0f} px in a {cell_px} px cell"
    assert size >= min(13, (cell_px - 4) / (0.7 * len(str(top))))  # no smaller than needed


def test_every_layer_is_named_on_the_strength_chart():
    ckpt = load_checkpoint(models_dir() / "mnist_bn_cnn.pt")
    trace = capture_checkpoint(ckpt, load_sample("mnist").images[0].numpy() / 255.0)
    spec = strength_spec(trace)
    names = [v["layer"] for v in spec["data"]["values"]]
    assert len(names) >= 20
    axis = spec["encoding"]["y"]
    assert axis["field"] == "layer" and axis["sort"] == names
    assert axis["axis"]["labelOverlap"] is False  # Vega would drop every other name
    assert spec["height"] >= 1.5 * axis["axis"]["labelFontSize"] * len(names)


def test_a_large_answer_wraps_after_a_slash_never_inside_a_word():
    from explainer.app import words

    names = ["T-shirt/top", "Trouser", "Pullover"]
    said, _ = words.answer(np.array([0.8, 0.1, 0.1]), names)
    assert said.replace("\u200b", "") == "T-shirt/top"  # reads the same
    assert said.split("\u200b") == ["T-shirt/", "top"]  # one place to wrap: after the slash
    assert words.answer(np.array([0.1, 0.8, 0.1]), names)[0] == "Trouser"


def test_the_largest_probability_label_has_room_right_of_its_bar():
    spec = visuals.probability_chart(np.array([0.999, 0.001]), ["a", "b"])
    x = spec["encoding"]["x"]
    assert x["scale"]["domain"][1] >= 1.2  # "> 99.9%" at 15 px beside a full bar
    assert max(x["axis"]["values"]) == 1  # the axis still ends at 100%
