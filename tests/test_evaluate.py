"""``explainer evaluate``: numbers equal a direct computation; every promised file opens."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from explainer.analysis.evaluate import evaluate
from explainer.analysis.report_figures import first_layer_weights
from explainer.cli import main

PROMISED = {
    "metrics.json",
    "classification_report.txt",
    "confusion_matrix.png",
    "confusion_matrix.json",
    "misclassified.png",
    "misclassified.json",
    "predictions.png",
    "class_distribution.png",
    "report.md",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory, tinyvgg):
    out = tmp_path_factory.mktemp("report")
    assert main(["evaluate", str(tinyvgg.path), "--sample", "--out", str(out)]) == 0
    return out


def _direct(model, split):
    with torch.no_grad():
        return model(split.floats()).argmax(1).numpy()


def test_accuracy_and_per_class_equal_a_direct_computation(sample, tinyvgg, report):
    pred, y = _direct(tinyvgg.model, sample), sample.labels.numpy()
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["test_set"] == "bundled_sample" and metrics["images"] == 500
    assert metrics["accuracy"] == pytest.approx((pred == y).mean(), abs=1e-12)
    assert metrics["errors"] == int((pred != y).sum())
    for k in range(10):
        pc = metrics["per_class"][str(k)]
        assert pc["support"] == int((y == k).sum())
        assert pc["recall"] == pytest.approx((pred[y == k] == k).mean())
        if (pred == k).any():
            assert pc["precision"] == pytest.approx((y[pred == k] == k).mean())
    cm = json.loads((report / "confusion_matrix.json").read_text())
    counts = np.array(cm["counts"])
    assert counts.sum() == 500 and np.trace(counts) == int((pred == y).sum())
    np.testing.assert_array_equal(counts.sum(1), np.bincount(y, minlength=10))
    np.testing.assert_allclose(np.array(cm["row_normalized"]).sum(1), 1.0, atol=1e-5)


def test_misclassified_list_is_sorted_and_true(sample, tinyvgg, report):
    pred, y = _direct(tinyvgg.model, sample), sample.labels.numpy()
    mistakes = json.loads((report / "misclassified.json").read_text())
    assert {m["position"] for m in mistakes} == set(np.flatnonzero(pred != y).tolist())
    conf = [m["confidence"] for m in mistakes]
    assert conf == sorted(conf, reverse=True)
    for m in mistakes:
        assert m["index"] == int(sample.indices[m["position"]])  # official test-set index
        assert m["true"] == str(y[m["position"]]) and m["predicted"] == str(pred[m["position"]])


def test_every_promised_file_exists_and_opens(report, tinyvgg):
    names = {p.name for p in report.iterdir()}
    expected = PROMISED | ({"training_curves.png"} if tinyvgg.history else set())
    expected |= {"kernels.png"} if first_layer_weights(tinyvgg.model) else set()
    assert expected <= names, expected - names
    for name in names:
        path = report / name
        if path.suffix == ".png":
            with Image.open(path) as im:
                im.verify()
            with Image.open(path) as im:
                assert im.width >= 600 and im.height >= 150
        elif path.suffix == ".json":
            json.loads(path.read_text())
    md = (report / "report.md").read_text()
    assert all(f"({n})" in md for n in names if n.endswith(".png"))


def test_json_format_prints_the_metrics(tinyvgg, tmp_path, capsys):
    assert (
        main(
            ["evaluate", str(tinyvgg.path), "--sample", "--format", "json", "--out", str(tmp_path)]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) >= {"accuracy", "per_class", "errors", "macro_avg"}
    assert printed == json.loads((tmp_path / "metrics.json").read_text())


def test_official_test_set_matches_the_training_record(dataset_dir, tinyvgg):
    ev = evaluate(tinyvgg, data_dir=dataset_dir)
    assert ev.official and len(ev.labels) == 10000
    assert ev.accuracy == pytest.approx(tinyvgg.metrics["test_accuracy"], abs=1e-6)


def test_first_layer_weights_are_the_models_own(tinyvgg):
    name, w, kind = first_layer_weights(tinyvgg.model)
    module = dict(tinyvgg.model.named_modules())[name]
    expected = module.weight.detach().numpy()
    expected = expected[:, 0] if kind == "conv" else expected.reshape(-1, 28, 28)
    np.testing.assert_array_equal(w, expected)


KEEPS_BACKEND = """
import matplotlib
matplotlib.use("svg")  # a notebook's own backend, say (inline is not installable here)
from explainer.analysis.compare import compare, write_comparison
from explainer.analysis.evaluate import evaluate
from explainer.analysis.report import write_report
from explainer.nets.checkpoints import load_checkpoint

write_report(evaluate(load_checkpoint({path!r}), sample_only=True), {out!r} + "/report")
result = compare([{path!r}], sample_only=True)
write_comparison(result.rows, result.test_set, {out!r} + "/compare")
print("backend:", matplotlib.get_backend())
"""


def test_the_library_leaves_a_notebooks_backend_alone(tinyvgg, tmp_path):
    """Regression: write_report and write_comparison switched matplotlib to Agg, so a notebook
    that evaluated a model showed no inline plot after it. Only the commands choose Agg."""
    import subprocess
    import sys

    code = KEEPS_BACKEND.format(path=str(tinyvgg.path), out=str(tmp_path))
    env = {k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-800:]
    assert "backend: svg" in res.stdout
    assert (tmp_path / "report" / "confusion_matrix.png").stat().st_size > 1000
    assert (tmp_path / "compare" / "compare.png").stat().st_size > 1000
