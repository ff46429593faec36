"""NaN and infinite activations (a diverged model) are not drawn as a blank map without a
word: the layer's scale carries a note, written above the colour bar of the GIF's map and in
front of the app's colour bar label; the limits come from the finite values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer import style
from explainer.nets.architectures import build
from explainer.tracing.capture import capture
from explainer.tracing.trace import Trace


@pytest.fixture(scope="module")
def nan_trace(tmp_path_factory, sample):
    """A real trace with one conv record's output partly NaN, saved and loaded back."""
    torch.manual_seed(0)
    trace = capture(build("fast_cnn").eval(), sample.floats()[3, 0], label=int(sample.labels[3]))
    rec = next(r for r in trace.layers if r.kind == "conv")
    out = np.array(rec.output, dtype=np.float32)
    out[0, :3, :3] = np.nan
    rec.output = out
    return Trace.load(trace.save(tmp_path_factory.mktemp("nan") / "nan.npz")), rec.name


@pytest.mark.parametrize(("bad", "word"), [(np.nan, "NaN"), (np.inf, "infinite"),
                                           (-np.inf, "infinite")])  # fmt: skip
@pytest.mark.parametrize("kind", ["conv", "relu", "auto"])
def test_a_scale_of_values_holding_nan_or_inf_says_so(bad, word, kind):
    values = np.linspace(-2.0, 3.0, 24, dtype=np.float32).reshape(2, 3, 4)
    if kind == "relu":
        values = np.abs(values)
    clean = style.layer_scale(values, kind)
    values[0, 1, 1] = bad  # not an extreme: the limits stay those of the finite values
    got = style.layer_scale(values, kind)
    assert word in got.note and "diverged" in got.note
    assert got.label.startswith(got.note)
    assert (got.vmin, got.vmax, got.cmap) == (clean.vmin, clean.vmax, clean.cmap)
    assert clean.note == "" and "diverged" not in clean.label


def test_the_limits_come_from_the_finite_values():
    values = np.array([np.nan, -5.0, 2.0, np.inf], np.float32)
    got = style.scale_for(values, "conv")
    assert (got.vmin, got.vmax) == (-5.0, 5.0)  # max |finite| = 5
    assert style.scale_for(np.full(4, np.nan, np.float32), "relu").vmax == 1.0


def test_the_forward_stage_of_the_nan_layer_carries_the_note(nan_trace):
    from explainer.animate.forward_stages import stages_of

    trace, name = nan_trace
    notes = {s.name: s.scale.note for s in stages_of(trace)}
    assert "NaN" in notes[name]
    assert not [n for k, n in notes.items() if n and k != name]


def _reddish(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > 150) & (g < 110) & (b < 110)


def test_the_gif_colour_bar_writes_the_note_above_itself():
    from explainer.animate.canvas import Sketch

    box = (100, 300, 560, 572)  # y0, y1, x0, x1
    values = np.array([np.nan, -1.0, 1.0], np.float32)
    pictures = {}
    for name, scale in [("nan", style.scale_for(values, "conv")),
                        ("clean", style.scale_for(values[1:], "conv"))]:  # fmt: skip
        sk = Sketch((640, 360))
        sk.colorbar(box, scale)
        pictures[name] = sk.array()
    changed = np.argwhere((pictures["nan"] != pictures["clean"]).any(-1))
    assert len(changed), "the note drew nothing"
    assert changed[:, 0].max() < box[0] and changed[:, 1].max() <= box[3]  # above, not past
    assert _reddish(pictures["nan"][: box[0]]).sum() > 20
    assert not _reddish(pictures["clean"][: box[0]]).any()  # the bar itself is red at its top


def test_a_nan_trace_renders_every_trace_kind(nan_trace):
    from explainer.animate import CountingWriter, render_animation

    trace, _ = nan_trace
    for kind in ("forward", "dataflow", "convolution"):
        counter = CountingWriter()
        render_animation(kind, trace, "x.gif", fps=2, size=(640, 360), writer=counter)
        assert counter.frames > 1, kind


def test_the_apps_colour_bar_says_the_layer_diverged():
    from explainer.app.visuals import colorbar_html

    html = colorbar_html(style.scale_for(np.array([np.nan, 1.0], np.float32), "relu"))
    assert "holds NaN: the model diverged" in html
