"""A flagged picture is said to be no digit first, in the same words, everywhere: the terminal
table of `explainer predict`, the Layer by layer page and the lesson's answer step."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from explainer.cli import main

SAID = "This does not look like a digit. If it were one, the network would guess"


def letter_a(size: int = 280) -> np.ndarray:
    """A plain drawn letter A, ``(size, size)`` uint8 white ink on black."""
    from explainer.reading.heldout import LETTERS, draw

    ink = draw(LETTERS["A"], (size, size), (40, 40, 200, 200), 24)
    return (ink * 255).astype(np.uint8)


def test_cli_table_says_the_verdict_first(tmp_path, sample, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.fromarray(letter_a()).save(folder / "a_letter.png")
    digit = np.asarray(Image.fromarray(sample.images[0].numpy()).resize((112, 112)))
    Image.fromarray(np.pad(digit, 40)).save(folder / "b_digit.png")
    args = ["predict", str(folder), "--model", "mnist_fast_cnn"]
    assert main([*args, "--format", "json"]) == 0
    rows = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["a_letter.png"]["not_a_digit"] and not rows["b_digit.png"]["not_a_digit"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    guess = rows["a_letter.png"]["prediction"]
    assert lines[0].startswith(f"{folder / 'a_letter.png'}: {SAID} {guess}.")
    assert lines[1].startswith("file")  # the digit gets no verdict line; the table follows


def _element_tree(node):
    """Every element under an AppTest node, depth first."""
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _element_tree(child)


def _chart_colours(at) -> list[list[str]]:
    """The colour ranges of every Vega-Lite chart on the page, as the browser gets them."""
    specs = [json.loads(e.proto.spec) for e in _element_tree(at._tree)
             if getattr(e, "type", "") == "vega_lite_chart"]  # fmt: skip
    layers = [x for s in specs for x in s.get("layer", [s])]
    return [x["encoding"]["color"]["scale"]["range"] for x in layers
            if "color" in x.get("encoding", {})]  # fmt: skip


def test_layer_and_lesson_pages_say_the_verdict_first():
    import pytest

    pytest.importorskip("streamlit")
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    from test_not_a_digit import _canvas

    from explainer.app.lesson_steps import lesson_steps

    a = letter_a()
    app = Path(__file__).resolve().parent.parent / "streamlit_app.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    at.session_state["model"] = "mnist_fast_cnn"
    at.session_state["canvas"] = _canvas(np.dstack([a, a, a, np.full_like(a, 255)]))
    at.run()  # the Draw page: the letter becomes the current picture
    assert not at.exception
    guess = next(m.value for m in at.metric if m.label == "Prediction")
    said = f"**{SAID[:32]}** {SAID[33:]} {guess}."
    assert at.warning[0].value.startswith(said)
    [grey] = _chart_colours(at)
    assert len(grey) == 2 and grey[0] != grey[1]  # the forced answer still stands out
    assert all(len({h[1:3], h[3:5], h[5:7]}) == 1 for h in grey)  # #rrggbb, r = g = b: no hue

    at.switch_page("explainer/app/layers.py").run()
    assert not at.exception and at.title[0].value == "Layer by layer"
    assert at.warning[0].value.startswith(said)

    drawn = at.session_state["digit"]
    at.switch_page("explainer/app/lesson.py").run()
    from explainer.app.digits import trace_for
    from explainer.nets.checkpoints import load_checkpoint, models_dir

    ckpt = load_checkpoint(models_dir() / "mnist_fast_cnn.pt")
    steps = lesson_steps(trace_for(ckpt, drawn), "digit")
    at.session_state["lesson_at"] = next(i for i, s in enumerate(steps) if s.kind == "answer")
    at.run()
    assert not at.exception
    assert at.warning[0].value.startswith(said)
    assert _chart_colours(at) == [grey]  # its three highest chances, greyed too


def test_saved_strip_says_the_verdict_in_the_same_words(tmp_path):
    from explainer.reading.predict import Predictor, steps_figure

    Image.fromarray(letter_a()).save(tmp_path / "a.png")
    pred = Predictor("mnist_fast_cnn").predict(tmp_path / "a.png")
    assert pred.not_a_digit
    title = steps_figure(pred).axes[-1].get_title().replace("\n", " ")
    assert title.startswith(f"{SAID} {pred.class_name} (")
