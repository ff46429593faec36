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
