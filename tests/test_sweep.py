"""``explainer sweep``: a 2-point grid on the bundled sample, kept in SQLite, divergence shown."""

from __future__ import annotations

import json

import optuna
import pytest
import torch
from PIL import Image

from explainer.errors import ExplainerError
from explainer.nets.sweep import SweepConfig, run_sweep, write_results


@pytest.fixture
def tiny_data(sample):
    return sample.subset(torch.arange(400)), sample.subset(torch.arange(400, 500))


def test_two_point_grid_reports_the_diverged_run_and_resumes(tmp_path, tiny_data, monkeypatch):
    c = SweepConfig(
        arch="linear",
        lr=[1e-2, 1e3],
        batch_size=[50],
        optimizer=["sgd"],
        epochs=[2],
        out=str(tmp_path),
        study="tiny",
    )
    lines: list[str] = []
    results = run_sweep(c, data=tiny_data, log=lines.append)
    by_lr = {r.lr: r for r in results}
    assert set(by_lr) == {1e-2, 1e3}
    assert by_lr[1e3].status == "diverged"  # a learning rate of 1000 blows the loss up
    assert by_lr[1e-2].status == "complete" and by_lr[1e-2].epochs_run == 2
    assert by_lr[1e-2].val_accuracy > 0.3 > by_lr[1e3].val_accuracy
    assert any("diverged" in line for line in lines)

    # the study is in SQLite: the values are Optuna's own, and a restart runs nothing again
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/tiny.db")
    assert len(study.trials) == 2 and study.best_trial.params["lr"] == 1e-2
    assert study.best_value == pytest.approx(by_lr[1e-2].val_accuracy)
    again = run_sweep(c, data=tiny_data, log=lines.append)
    assert len(again) == 2 and "already done" in lines[-1]

    import matplotlib

    def no_switch(*args, **kwargs):  # a notebook's inline plots would stop showing
        pytest.fail(f"write_results switched matplotlib's backend to {args}")

    monkeypatch.setattr(matplotlib, "use", no_switch)
    md, js, png = write_results(again, c)
    table = md.read_text()
    assert "**diverged**" in table
    assert table.index("| 0.01 |") < table.index("| 1e+03 |")  # best first
    data = json.loads(js.read_text())
    assert sorted(t["status"] for t in data["trials"]) == ["complete", "diverged"]
    with Image.open(png) as im:
        assert im.width >= 800


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(ExplainerError, match="unknown optimizer"):
        run_sweep(SweepConfig(optimizer=["rmsprop"], out=str(tmp_path)))
    with pytest.raises(ExplainerError, match="at least one value"):
        run_sweep(SweepConfig(lr=[], out=str(tmp_path)))
