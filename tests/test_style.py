"""The style module: colours equal matplotlib's, scales follow the signed / non-negative rule."""

from __future__ import annotations

import numpy as np
import pytest

from explainer import style
from explainer.errors import ExplainerError


@pytest.mark.parametrize("cmap", [style.SIGNED_CMAP, style.POSITIVE_CMAP, style.INPUT_CMAP])
def test_colorize_matches_matplotlib(cmap):
    import matplotlib
    from matplotlib.colors import Normalize

    values = np.linspace(-3, 3, 997).reshape(1, -1)
    scale = style.Scale(cmap, -2.5, 2.5, "")
    ours = style.colorize(values, scale).astype(int)
    theirs = matplotlib.colormaps[cmap](Normalize(-2.5, 2.5, clip=True)(values), bytes=True)[
        ..., :3
    ]
    assert ours.shape == (1, 997, 3)
    assert np.abs(ours - theirs.astype(int)).max() <= 1  # rounding vs truncation of the LUT


def test_signed_layers_get_a_symmetric_diverging_scale():
    v = np.array([[-0.5, 2.0], [1.0, -3.0]])
    s = style.layer_scale(v, "conv")
    assert (s.cmap, s.vmin, s.vmax, s.signed) == (style.SIGNED_CMAP, -3.0, 3.0, True)
    zero = style.colorize(np.zeros(1), s)[0]
    assert zero.min() > 230  # white at zero


def test_relu_outputs_get_a_sequential_scale_from_zero():
    v = np.array([0.0, 0.5, 4.0])
    s = style.layer_scale(v, "relu")
    assert (s.cmap, s.vmin, s.vmax) == (style.POSITIVE_CMAP, 0.0, 4.0)
    # pooling of a signed map keeps the signed scale: negative values are never hidden
    assert style.layer_scale(np.array([-1.0, 2.0]), "pool").signed


def test_input_and_probability_scales_are_fixed():
    assert style.layer_scale(np.array([0.2, 0.3]), "input").vmax == 1.0
    assert style.scale_for(np.array([0.1]), "probability").vmax == 1.0


def test_unknown_theme_is_a_one_line_error():
    with pytest.raises(ExplainerError, match="unknown theme 'neon'"):
        style.theme("neon")
    assert set(style.THEMES) == {"light", "dark"}


def test_text_colour_contrasts_with_its_background():
    assert style.text_on((255, 255, 255)) == "#000000"
    assert style.text_on((10, 10, 40)) == "#ffffff"


def test_every_layer_kind_has_a_colour_and_a_short_name():
    from explainer.tracing.trace import KINDS

    for kind in (*KINDS, "input", "softmax"):
        assert kind in style.KIND_COLORS and kind in style.KIND_SHORT
