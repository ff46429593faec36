import math

import pytest
import torch
import torch.nn.functional as F

from explainer.architectures import build
from explainer.checkpoints import load_checkpoint, read_payload
from explainer.cli import main
from explainer.data import stratified_split
from explainer.train import TrainConfig, fit, last_path, snapshot_path


@pytest.fixture(scope="module")
def splits(sample):
    tr, va = stratified_split(sample.labels, 0.2, seed=0)
    return sample.subset(tr), sample.subset(va)


def small(tmp_path, **kw) -> TrainConfig:
    base = dict(
        arch="fast_cnn",
        epochs=2,
        batch_size=50,
        lr=3e-3,
        progress=False,
        out=str(tmp_path / "m.pt"),
        seed=1,
    )
    return TrainConfig(**(base | kw))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_one_training_step_lowers_the_loss_on_a_fixed_batch(sample, optimizer):
    torch.manual_seed(0)
    model = build("tinyvgg")
    x, y = sample.floats()[:64], sample.labels[:64]
    from explainer.train import make_optimizer

    opt = make_optimizer(model, TrainConfig(optimizer=optimizer, lr=0.01))
    before = F.cross_entropy(model(x), y)
    opt.zero_grad()
    before.backward()
    opt.step()
    assert F.cross_entropy(model(x), y).item() < before.item()


def test_fit_writes_best_last_card_and_history(tmp_path, splits):
    hist = fit(small(tmp_path, save_every=1), data=splits, test=splits[1])
    assert [r["epoch"] for r in hist.epochs] == [1, 2]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        assert all(math.isfinite(r[key]) for r in hist.epochs)
    assert hist.epochs[-1]["train_loss"] < hist.epochs[0]["train_loss"]
    ckpt = load_checkpoint(tmp_path / "m.pt")
    assert ckpt.architecture == "fast_cnn" and ckpt.epoch == hist.best_epoch
    assert ckpt.metrics["test_accuracy"] == pytest.approx(hist.test_metrics["test_accuracy"])
    assert (tmp_path / "m.json").exists() and last_path(tmp_path / "m.pt").exists()
    for epoch in (0, 1, 2):
        assert snapshot_path(tmp_path / "m.pt", epoch).exists()


def test_training_is_reproducible_with_a_seed(tmp_path, splits):
    a = fit(small(tmp_path / "a", epochs=1, evaluate_test=False), data=splits)
    b = fit(small(tmp_path / "b", epochs=1, evaluate_test=False), data=splits)
    assert a.epochs[0]["train_loss"] == b.epochs[0]["train_loss"]
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_resume_continues_the_history(tmp_path, splits):
    fit(small(tmp_path, epochs=1, scheduler="step", evaluate_test=False), data=splits)
    resumed = fit(
        small(tmp_path, epochs=3, scheduler="step", resume=True, evaluate_test=False), data=splits
    )
    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3]
    straight = fit(
        small(tmp_path / "s", epochs=3, scheduler="step", evaluate_test=False), data=splits
    )
    assert resumed.epochs[-1]["train_loss"] == pytest.approx(
        straight.epochs[-1]["train_loss"], rel=1e-4
    )


def test_ctrl_c_saves_the_state_and_stops_cleanly(tmp_path, splits):
    def interrupt(event):
        if event.get("epoch") == 2 and event.get("batch") == 2:
            raise KeyboardInterrupt

    hist = fit(small(tmp_path, epochs=3), data=splits, callback=interrupt)
    assert hist.interrupted and len(hist.epochs) == 1
    state = read_payload(last_path(tmp_path / "m.pt"))
    assert state["epoch"] == 1 and "optimizer_state" in state
    resumed = fit(small(tmp_path, epochs=3, resume=True, evaluate_test=False), data=splits)
    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3]


@pytest.mark.parametrize("scheduler", ["onecycle", "plateau", "step", "none"])
def test_every_scheduler_runs_and_early_stopping_stops(tmp_path, splits, scheduler):
    hist = fit(
        small(
            tmp_path,
            epochs=2,
            scheduler=scheduler,
            evaluate_test=False,
            augment=True,
            patience=1,
            lr=1e-9,
            train_limit=100,
        ),
        data=splits,
    )
    assert 1 <= len(hist.epochs) <= 2


def test_a_huge_learning_rate_is_reported_as_diverged(tmp_path, splits):
    hist = fit(
        small(
            tmp_path, arch="linear", lr=1e12, optimizer="sgd", scheduler="none", evaluate_test=False
        ),
        data=splits,
    )
    assert hist.diverged


def test_train_dry_run_end_to_end(dataset_dir, capsys):
    assert main(["train", "bn_cnn", "--dry-run", "--quiet", "--data-dir", str(dataset_dir)]) == 0
    assert "dry run ok" in capsys.readouterr().out


def test_bad_options_are_one_line_errors(capsys):
    assert main(["train", "linear", "--epochs", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("explainer: error:") and "\n" not in err


def test_a_time_budget_stops_inside_an_epoch(tmp_path, splits):
    seen = []
    hist = fit(
        small(tmp_path, epochs=5, batch_size=10, max_seconds=1e-9, evaluate_test=False),
        data=splits,
        callback=lambda e: seen.append(e) if "batch" in e else None,
    )
    assert hist.stopped_early and len(hist.epochs) == 1 and len(seen) == 1
