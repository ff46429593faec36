"""The Trace carries the not-a-digit verdict, and the GIFs, the Manim scenes and a Trace in a
notebook say it first: a drawn letter A goes the way `explainer render --image` takes it.

The expected words are written out here, and the forced answer is the arg-max of the model run
by torch on the preprocessed picture, not read from the code under test."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from PIL import Image
from test_said_first import letter_a
from trace_files import rewrite_header

from explainer.animate import build_animation
from explainer.cli import main
from explainer.commands.render import load_trace
from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint
from explainer.reading.predict import Predictor
from explainer.reading.preprocess import preprocess
from explainer.style import HIGHLIGHT_COLOR, hex_to_rgb
from explainer.tracing.notebook import trace_html
from explainer.tracing.trace import Trace, TraceError

MODEL = "mnist_bn_cnn"  # what `explainer render` uses by default
SAID = "This does not look like a digit. If it were one, the network would guess {}."
SMALL = (320, 180)


def _args(**kw) -> argparse.Namespace:
    base = {"trace": None, "image": None, "index": None, "digit": None, "data_dir": None}
    return argparse.Namespace(**{**base, **kw})


def _guess(path) -> str:
    """The forced answer: torch's arg-max on the preprocessed picture."""
    model = load_checkpoint(resolve_checkpoint(MODEL)).model.eval()
    with torch.no_grad():
        z = model(torch.from_numpy(preprocess(path).image)[None, None].float())[0]
    return str(int(z.argmax()))


@pytest.fixture(scope="module")
def letter(tmp_path_factory):
    """``(png path, its Trace through the render command's path, the expected words)``."""
    png = tmp_path_factory.mktemp("letter") / "a_letter.png"
    Image.fromarray(letter_a()).save(png)
    ckpt = load_checkpoint(resolve_checkpoint(MODEL))
    return png, load_trace(_args(image=str(png)), ckpt), SAID.format(_guess(png))


@pytest.fixture(scope="module")
def digit():
    ckpt = load_checkpoint(resolve_checkpoint(MODEL))
    return load_trace(_args(digit=3), ckpt)


def test_the_render_path_gives_the_trace_the_predictors_verdict(letter, digit):
    png, trace, said = letter
    expected = Predictor(MODEL).predict(png)
    assert expected.not_a_digit and trace.not_a_digit == expected.why
    assert trace.said_first == said
    assert digit.not_a_digit is None and digit.said_first == ""


def test_the_verdict_survives_save_and_load(letter, digit, tmp_path):
    _, trace, said = letter
    back = Trace.load(trace.save(tmp_path / "letter.npz"))
    assert back.not_a_digit == trace.not_a_digit and back.said_first == said
    assert Trace.load(digit.save(tmp_path / "digit.npz")).not_a_digit is None


def test_an_older_file_loads_as_unknown_and_a_bad_verdict_is_refused(letter, tmp_path):
    path = letter[1].save(tmp_path / "old.npz")
    rewrite_header(path, lambda h: h.pop("not_a_digit"))
    assert Trace.load(path).not_a_digit is None
    rewrite_header(path, lambda h: h.update(not_a_digit=[1, 2]))
    with pytest.raises(TraceError, match="not_a_digit") as err:
        Trace.load(path)
    assert "\n" not in str(err.value)


def test_the_notebook_says_it_first(letter, digit):
    _, trace, said = letter
    page = trace_html(trace)
    assert said in page and page.index(said) < page.index(" reads ")
    assert trace.summary().startswith(said)
    assert "does not look like" not in trace_html(digit) + digit.summary()


def _has(rgb: np.ndarray, colour: str) -> bool:
    return bool((np.abs(rgb.astype(int) - hex_to_rgb(colour)).max(-1) < 12).any())


def _grey(rgb: np.ndarray) -> bool:
    """No pixel with a hue: r = g = b everywhere (give or take the GIF palette)."""
    rgb = rgb.astype(int)
    return int((rgb.max(-1) - rgb.min(-1)).max()) <= 6


def test_the_forward_gif_says_it_from_the_first_softmax_frame(letter, digit):
    _, trace, said = letter
    reel = build_animation("forward", trace, fps=4, size=SMALL, pace="readme")
    answer, first = reel.meta["answer"], reel.meta["answer_from"]
    assert answer.text == said
    stage, grown, _ = reel.meta["schedule"][first]
    assert stage == len(reel.meta["stages"]) and grown == 0  # before the bars grow
    w, h = SMALL
    top_right = (slice(0, h // 5), slice(w // 2, w))
    assert (reel.frame_at(first)[top_right] != reel.frame_at(first - 1)[top_right]).any()
    y0, y1, x0, x1 = reel.meta["layout"].bars
    bars = reel.frame_at(reel.n_frames - 1)[y0:y1, x0:x1]
    assert _grey(bars) and not _has(bars, HIGHLIGHT_COLOR)
    plain = build_animation("forward", digit, fps=4, size=SMALL, pace="readme")
    assert "does not look like" not in plain.meta["answer"].text
    assert _has(plain.frame_at(plain.n_frames - 1)[y0:y1, x0:x1], HIGHLIGHT_COLOR)


def test_the_dataflow_gif_says_it_when_the_softmax_lights_up(letter, digit):
    _, trace, said = letter
    reel = build_animation("dataflow", trace, fps=4, size=SMALL, pace="readme")
    assert reel.meta["answer"].text == said
    first = reel.meta["answer_from"]
    y0, y1, x0, x1 = (int(v) for v in reel.meta["boxes"][-1])  # the softmax block
    lit, before = (reel.frame_at(i)[y0:y1, x0:x1] for i in (first, first - 1))
    assert (lit != before).any() and not _has(lit, HIGHLIGHT_COLOR)  # it lights up, grey
    w, h = SMALL
    words, no_words = (reel.frame_at(i)[: h // 5, w // 2 :] for i in (first, first - 1))
    assert (words != no_words).any()  # the words come with the softmax, not after it
    plain = build_animation("dataflow", digit, fps=4, size=SMALL, pace="readme")
    assert "does not look like" not in plain.meta["answer"].text
    y0, y1, x0, x1 = (int(v) for v in plain.meta["boxes"][-1])
    assert _has(plain.frame_at(plain.n_frames - 1)[y0:y1, x0:x1], HIGHLIGHT_COLOR)


def test_render_forward_image_end_to_end(letter, tmp_path, capsys):
    png, trace, said = letter
    out = tmp_path / "letter.png"  # the last frame
    args = ["render", "forward", "--image", str(png), "--out", str(out), "--size", "320x180",
            "--pace", "readme", "--fps", "4"]  # fmt: skip
    assert main(args) == 0
    reel = build_animation("forward", trace, fps=4, size=SMALL, pace="readme")
    assert reel.meta["answer"].text == said
    got = np.asarray(Image.open(out).convert("RGB"))
    assert np.abs(got.astype(int) - reel.frame_at(reel.n_frames - 1)).max() <= 8


def test_the_manim_scenes_say_it_with_grey_bars(letter, tmp_path):
    pytest.importorskip("manim")
    from test_scenes import colour_at, last_frame, to_pixel

    from explainer.scenes.data_flow import DataFlowScene
    from explainer.scenes.forward_pass import ForwardPassScene

    _, trace, said = letter
    for cls in (DataFlowScene, ForwardPassScene):
        scene, frame = last_frame(cls, tmp_path / cls.__name__, trace=trace, pace="readme")
        captions = [b.caption for b in scene.captions()]
        assert captions[-1].endswith(said), captions  # the last words, as the scene ends
    bar = scene.stages[-1].mobject.bars.bars[trace.prediction]  # the forward pass's
    r, g, b = colour_at(frame, to_pixel(scene, bar.get_center()))
    assert max(r, g, b) - min(r, g, b) < 10  # grey, not the highlight
