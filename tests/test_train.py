import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from explainer.cli import main
from explainer.data import Split, stratified_split
from explainer.errors import ExplainerError
from explainer.nets.architectures import build
from explainer.nets.checkpoints import (
    CheckpointError,
    load_checkpoint,
    make_payload,
    read_payload,
    save_checkpoint,
)
from explainer.nets.model_card import chance_warning
from explainer.nets.train import fit
from explainer.nets.train_config import TrainConfig
from explainer.nets.train_run import last_path, snapshot_path


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
    from explainer.nets.train import make_optimizer

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


def fresh(splits) -> tuple[Split, Split]:
    """Copies of the splits whose labels a test may change."""
    return tuple(Split(s.images.clone(), s.labels.clone(), s.dataset) for s in splits)


def spoil_after_epoch(val: Split, epoch: int = 1):
    """A callback that, once ``epoch`` is done, gives the validation digits labels no
    prediction can match: no later epoch can improve on it."""

    def callback(event):
        if event.get("done") and event["epoch"] == epoch:
            val.labels.fill_(-100)

    return callback


@pytest.mark.parametrize("scheduler", ["onecycle", "plateau", "step", "none"])
def test_every_scheduler_runs(tmp_path, splits, scheduler):
    hist = fit(
        small(
            tmp_path, epochs=2, scheduler=scheduler, step_size=1, evaluate_test=False, augment=True
        ),
        data=splits,
    )
    assert [r["epoch"] for r in hist.epochs] == [1, 2] and not hist.stopped_early
    assert hist.epochs[0]["lr"] != hist.epochs[1]["lr"] or scheduler in ("plateau", "none")


def test_early_stopping_stops_after_patience_epochs_without_progress(tmp_path, splits):
    train, val = fresh(splits)
    config = small(tmp_path, epochs=6, patience=2, evaluate_test=False, train_limit=100)
    hist = fit(config, data=(train, val), callback=spoil_after_epoch(val))
    assert hist.stopped_early and hist.best_epoch == 1
    assert [r["epoch"] for r in hist.epochs] == [1, 2, 3]


def test_resume_keeps_the_best_epochs_weights(tmp_path, splits):
    """Regression: a resumed run started its "best" from the resumed *last* state, so when no
    later epoch improved, the last weights were saved under the best epoch's label."""
    train, val = fresh(splits)
    kw = dict(scheduler="step", evaluate_test=False, snapshot_epochs=[1])
    first = fit(small(tmp_path, epochs=2, **kw), data=(train, val), callback=spoil_after_epoch(val))
    assert first.best_epoch == 1 and first.epochs[1]["val_accuracy"] == 0.0
    resumed = fit(small(tmp_path, epochs=3, resume=True, **kw), data=(train, val))
    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3] and resumed.best_epoch == 1
    out = tmp_path / "m.pt"
    best, epoch1 = read_payload(out), read_payload(snapshot_path(out, 1))
    last = read_payload(last_path(out))
    assert best["epoch"] == 1 and last["epoch"] == 3
    for k, v in epoch1["state_dict"].items():
        assert torch.equal(best["state_dict"][k], v), k
    assert not all(torch.equal(last["state_dict"][k], v) for k, v in epoch1["state_dict"].items())


def test_a_huge_learning_rate_is_reported_as_diverged(tmp_path, splits):
    hist = fit(
        small(
            tmp_path, arch="linear", lr=1e12, optimizer="sgd", scheduler="none", evaluate_test=False
        ),
        data=splits,
    )
    assert hist.diverged


def test_a_diverged_run_saves_no_model_and_keeps_the_existing_file(tmp_path, splits):
    out = tmp_path / "m.pt"
    save_checkpoint(out, make_payload(build("fast_cnn")))
    before = out.read_bytes()
    config = small(tmp_path, lr=1e30, optimizer="sgd", scheduler="none", save_every=1)
    hist = fit(config, data=splits, test=splits[1])
    assert hist.diverged and hist.reason.startswith("training diverged in epoch 1")
    assert out.read_bytes() == before and not (tmp_path / "m.json").exists()
    assert not snapshot_path(out, 1).exists()
    assert all(bool(torch.isfinite(p).all()) for p in hist.model.parameters())


def test_weights_that_become_nan_after_a_good_epoch_stop_the_run(tmp_path, splits, monkeypatch):
    import explainer.nets.train as train

    original = train._train_epoch

    def poisoned(model, *args, **kwargs):  # the loss stays finite, a weight does not
        record = original(model, *args, **kwargs)
        if record["epoch"] == 2:
            with torch.no_grad():
                model.classifier.fc.weight[0, 0] = float("inf")
        return record

    monkeypatch.setattr(train, "_train_epoch", poisoned)
    hist = fit(small(tmp_path, epochs=3, evaluate_test=False), data=splits)
    assert hist.diverged and "epoch 2" in hist.reason and "classifier.fc.weight" in hist.reason
    assert [r["epoch"] for r in hist.epochs] == [1, 2] and hist.best_epoch == 1
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m.json").exists()
    assert read_payload(last_path(tmp_path / "m.pt"))["epoch"] == 1  # the last good state
    assert all(bool(torch.isfinite(p).all()) for p in hist.model.parameters())


def test_chance_level_gets_a_warning(tmp_path, splits):
    assert chance_warning(0.12, 10).startswith("the best validation accuracy is 12.0%")
    assert chance_warning(0.35, 10) == "" and chance_warning(0.6, 2) == ""
    assert "50% for 2 classes" in chance_warning(0.45, 2)
    train, val = fresh(splits)
    val.labels.fill_(-100)  # nothing can be right: accuracy 0, below chance
    hist = fit(small(tmp_path, epochs=1), data=(train, val), test=splits[1])
    assert len(hist.warnings) == 1 and "chance level" in hist.warnings[0]
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["warnings"] == hist.warnings
    good = fit(small(tmp_path / "g", epochs=2), data=splits, test=splits[1])
    assert good.best_val_accuracy > 0.2 and good.warnings == []


def test_resume_refuses_another_architecture_and_poisoned_states(tmp_path, splits):
    fit(small(tmp_path, epochs=1, evaluate_test=False), data=splits)
    for other in (dict(arch="tinyvgg"), dict(arch_kwargs={"width": 8})):
        with pytest.raises(ExplainerError, match="resume state of fast_cnn") as err:
            fit(small(tmp_path, epochs=2, resume=True, **other), data=splits)
        assert "\n" not in str(err.value)
    with pytest.raises(ExplainerError, match="one-cycle schedule planned for 1 epochs"):
        fit(small(tmp_path, epochs=2, resume=True, scheduler="onecycle"), data=splits)
    last = last_path(tmp_path / "m.pt")
    state = read_payload(last)
    state["state_dict"]["classifier.fc.bias"][3] = float("nan")
    torch.save(state, last)
    with pytest.raises(CheckpointError, match=r"m.last.pt: tensor 'classifier.fc.bias' holds NaN"):
        fit(small(tmp_path, epochs=2, resume=True), data=splits)


def test_cli_refuses_to_replace_a_shipped_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EXPLAINER_MODELS_DIR", str(tmp_path))
    shipped = tmp_path / "mnist_fast_cnn.pt"
    shipped.write_bytes(b"the shipped model")
    assert main(["train", "fast_cnn", "--lr", "1e30", "--optimizer", "sgd"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--force" in err and "--out" in err and "\n" not in err
    assert shipped.read_bytes() == b"the shipped model" and list(tmp_path.iterdir()) == [shipped]


def test_cli_diverging_and_chance_level_runs(tmp_path, monkeypatch, capsys, dataset_dir):
    monkeypatch.setenv("EXPLAINER_MODELS_DIR", str(tmp_path))
    shipped = save_checkpoint(tmp_path / "mnist_fast_cnn.pt", make_payload(build("fast_cnn")))
    card = tmp_path / "mnist_fast_cnn.json"
    card.write_text("{}")
    before = shipped.read_bytes()
    quick = ["--epochs", "1", "--train-limit", "1000", "--quiet", "--data-dir", str(dataset_dir)]
    rc = main(["train", "fast_cnn", "--lr", "1e30", "--optimizer", "sgd", "--force", *quick])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "diverged in epoch 1" in err and "\n" not in err
    assert shipped.read_bytes() == before and card.read_text() == "{}"
    out = tmp_path / "adam.pt"
    assert main(["train", "fast_cnn", "--lr", "1e6", "--out", str(out), "--no-test", *quick]) == 0
    assert "chance level" in capsys.readouterr().err
    assert load_checkpoint(out).epoch == 1


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


def scripted_validation(monkeypatch, accuracies: list[float], losses: list[float]) -> None:
    """Epoch ``e``'s validation scores are ``accuracies[e - 1]`` and ``losses[e - 1]``, whatever
    the model does: the scheduler's decisions then follow from the script alone."""
    import explainer.nets.train as train

    scores = iter(zip(accuracies, losses, strict=True))

    def validation(model, x, y, device):
        acc, loss = next(scores)
        return {"val_loss": loss, "val_accuracy": acc}

    monkeypatch.setattr(train, "_validation", validation)


@pytest.mark.parametrize(
    ("accuracies", "losses", "cut_before"),
    [
        ([0.50, 0.60, 0.70, 0.80, 0.90], [1.0, 0.8, 0.6, 0.4, 0.2], None),  # improves every epoch
        ([0.50, 0.60, 0.60, 0.60, 0.60], [1.0, 0.8, 0.8, 0.8, 0.8], 5),  # stalls after epoch 2
    ],
)
def test_plateau_cuts_the_lr_only_when_validation_stalls(
    tmp_path, splits, monkeypatch, accuracies, losses, cut_before
):
    """ReduceLROnPlateau with patience 1: the lr is halved after two epochs without a better
    validation score (accuracy up, loss down), and never while the scores keep improving.
    ``hist.epochs[e]["lr"]`` is the lr epoch ``e + 1`` trained with."""
    scripted_validation(monkeypatch, accuracies, losses)
    config = small(tmp_path, epochs=5, scheduler="plateau", gamma=0.5, train_limit=100,
                   evaluate_test=False)  # fmt: skip
    hist = fit(config, data=splits)
    lrs = [r["lr"] for r in hist.epochs]
    want = [config.lr if cut_before is None or e < cut_before else config.lr * 0.5
            for e in range(1, 6)]  # fmt: skip
    assert lrs == pytest.approx(want, rel=1e-12), lrs
    assert [r["val_accuracy"] for r in hist.epochs] == accuracies


def test_installed_from_a_wheel_a_run_saves_in_the_current_folder(tmp_path, monkeypatch):
    """Regression: installed from a wheel, `explainer train` without --out wrote into the
    installed package (site-packages/explainer/models/), which may be read-only and which a
    reinstall wipes. Now ./models/; a source checkout and EXPLAINER_MODELS_DIR keep theirs."""
    from explainer import paths
    from explainer.cli import build_parser
    from explainer.commands import train as train_command

    def out_of(argv):
        return Path(train_command.make_config(build_parser("train").parse_args(argv)).out)

    monkeypatch.delenv("EXPLAINER_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    checkout = out_of(["train", "tinyvgg", "--dataset", "fashion_mnist"])
    assert checkout == paths.source_checkout() / "models" / "fashion_mnist_tinyvgg.pt"

    wheel = tmp_path / "site-packages" / "explainer"
    (wheel / "models").mkdir(parents=True)
    monkeypatch.setattr(paths, "PACKAGE_DIR", wheel)
    assert out_of(["train", "tinyvgg"]) == tmp_path / "models" / "mnist_tinyvgg.pt"
    assert not list((wheel / "models").iterdir())
    monkeypatch.setenv("EXPLAINER_MODELS_DIR", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    assert out_of(["train", "tinyvgg"]) == tmp_path / "mine" / "mnist_tinyvgg.pt"


def test_a_fresh_run_that_diverges_leaves_no_file(tmp_path, splits):
    """Regression: the CLI said "nothing was saved" while the run's <out>.last.pt (and its
    epoch-0 snapshot) stayed behind; resuming them would only diverge again."""
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    hist = fit(small(tmp_path, lr=1e30, optimizer="sgd", snapshot_epochs=[0], evaluate_test=False),
               data=splits)  # fmt: skip
    assert hist.diverged and "diverged in epoch 1" in hist.reason
    assert [p.name for p in tmp_path.rglob("*")] == ["notes.txt"]  # no snapshots/ folder either


def test_a_diverged_run_keeps_the_files_it_replaced(tmp_path, splits):
    fit(small(tmp_path, epochs=1, evaluate_test=False), data=splits)
    before = last_path(tmp_path / "m.pt").read_bytes()
    hist = fit(small(tmp_path, lr=1e30, optimizer="sgd", evaluate_test=False), data=splits)
    assert hist.diverged
    assert last_path(tmp_path / "m.pt").exists() and (tmp_path / "m.pt").exists()
    assert last_path(tmp_path / "m.pt").read_bytes() != before  # replaced by this run, kept
