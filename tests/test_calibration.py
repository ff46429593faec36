"""Temperature scaling: fitted on the validation split, stored in each shipped checkpoint, and
it lowers the expected calibration error (ECE) there; `explainer evaluate` shows both."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer.nets.calibration import (
    calibration_entry,
    expected_calibration_error,
    fit_temperature,
    softmax_t,
    temperature_of,
)
from explainer.nets.checkpoints import shipped_checkpoints


def overconfident(n: int = 4000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose softmax at T = 1 is calibrated by construction (labels drawn from it),
    then multiplied by 3: a model three times too sure."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 10, generator=g) * 2.0
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).flatten()
    return logits * 3.0, labels


def test_temperature_undoes_overconfidence():
    logits, labels = overconfident()
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    y = labels.numpy()
    before = expected_calibration_error(softmax_t(logits, 1.0), y)
    after = expected_calibration_error(softmax_t(logits, t), y)
    assert after < before / 3, (before, after)
    assert (softmax_t(logits, t).argmax(1) == softmax_t(logits, 1.0).argmax(1)).all()


def test_ece_against_a_hand_count():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])  # bin 0.9: 50% right, bin 0.6: 100% right
    assert expected_calibration_error(probs, labels, bins=10) == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.4
    )


def test_every_shipped_model_stores_its_temperature():
    for path in shipped_checkpoints():
        raw = torch.load(path, map_location="cpu", weights_only=True)
        entry = raw.get("calibration")
        assert entry is not None, f"{path.name}: run scripts/calibrate_models.py"
        assert "validation split" in entry["split"]
        assert entry["ece_after"] <= entry["ece_before"] + 1e-9
        assert temperature_of(raw) == pytest.approx(entry["temperature"])


@pytest.mark.dataset
def test_validation_ece_is_lower_after_scaling(dataset_dir, tinyvgg):
    from explainer.data import load_train_val
    from explainer.nets.inference import predict_logits

    _, val = load_train_val("mnist", 0.15, 0, dataset_dir)
    logits = predict_logits(tinyvgg.model, val.floats())
    entry = calibration_entry(logits, val.labels, "validation split")
    assert entry["ece_after"] < entry["ece_before"]
    assert entry["temperature"] == pytest.approx(temperature_of(tinyvgg.raw), rel=1e-3)


def test_evaluate_writes_the_reliability_diagram(tmp_path, tinyvgg):
    import json

    from explainer.analysis.evaluate import evaluate, summary_lines
    from explainer.analysis.report import write_report

    ev = evaluate(tinyvgg, sample_only=True)
    folder = write_report(ev, tmp_path / "report")
    assert (folder / "reliability.png").stat().st_size > 10_000
    c = json.loads((folder / "calibration.json").read_text())
    assert c["fitted"] and c["temperature"] == pytest.approx(temperature_of(tinyvgg.raw))
    assert any("ECE" in line for line in summary_lines(ev))
