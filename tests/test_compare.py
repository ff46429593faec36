"""``explainer compare``: the table's numbers are the models' own; all three files are written."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from explainer.analysis.compare import compare
from explainer.cli import main
from explainer.nets.architectures import count_parameters


def test_rows_equal_a_direct_computation(sample, tinyvgg):
    result = compare([str(tinyvgg.path)], sample_only=True)
    assert not result.official and len(result.rows) == 1
    row = result.rows[0]
    with torch.no_grad():
        pred = tinyvgg.model(sample.floats()).argmax(1)
    y = sample.labels
    assert row.test_accuracy == pytest.approx((pred == y).float().mean().item())
    assert row.test_errors == int((pred != y).sum()) and row.test_images == 500
    assert row.parameters == count_parameters(tinyvgg.model)
    assert row.file_bytes == tinyvgg.path.stat().st_size
    assert row.per_class_accuracy[3] == pytest.approx((pred[y == 3] == 3).float().mean().item())
    assert row.eval_images_per_second > 0 and row.train_seconds == tinyvgg.train_seconds


def test_cli_writes_markdown_png_and_json(tmp_path, tinyvgg, capsys):
    assert main(["compare", "--sample", "--out", str(tmp_path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [m["name"] for m in data["models"]]
    assert tinyvgg.name in names
    assert all(not n.endswith(".last") and "epoch" not in n for n in names)  # no resume/snapshots
    accs = [m["test_accuracy"] for m in data["models"]]
    assert accs == sorted(accs, reverse=True)
    md = (tmp_path / "compare.md").read_text()
    assert md.count("\n| `mnist_") == 2 * len(names)  # overview and per-class tables
    assert f"| `{tinyvgg.name}` |" in md
    with Image.open(tmp_path / "compare.png") as im:
        assert im.width >= 800


def test_a_named_model_that_is_missing_is_a_clear_error(capsys):
    assert main(["compare", "no_such_model", "--sample"]) == 2
    assert "no checkpoint 'no_such_model'" in capsys.readouterr().err
