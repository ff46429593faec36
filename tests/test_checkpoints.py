import json

import pytest
import torch

from explainer.architectures import build
from explainer.checkpoints import (
    CheckpointError,
    load_checkpoint,
    make_payload,
    save_checkpoint,
    shipped_checkpoints,
)
from explainer.cli import main
from explainer.data import load_split
from explainer.inference import accuracy, predict_logits


def test_round_trip_gives_an_equal_state_dict_and_metadata(tmp_path):
    model = build("bn_cnn")
    model.block1.bn1.running_mean.normal_()
    payload = make_payload(
        model,
        dataset="mnist",
        class_names=list("0123456789"),
        history=[{"epoch": 1, "val_accuracy": 0.5}],
        metrics={"test_accuracy": 0.5},
    )
    save_checkpoint(tmp_path / "a.pt", payload)
    ckpt = load_checkpoint(tmp_path / "a.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, ckpt.model.state_dict()[k]), k
    assert ckpt.architecture == "bn_cnn" and ckpt.history[0]["val_accuracy"] == 0.5
    assert not ckpt.model.training
    assert not list(tmp_path.glob("*.tmp*"))  # atomic write leaves no temp file


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "not a readable checkpoint"),
        (b"hello, I am a text file", "not a readable checkpoint"),
    ],
)
def test_foreign_files_give_a_one_line_error(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_truncated_and_foreign_torch_files(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, make_payload(build("linear"), dataset="mnist", class_names=["0"] * 10))
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"state_dict": build("linear").state_dict()}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a mnist-explainer checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_pickle_payload_is_never_executed(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"format": Evil()}, fh)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_resolve_checkpoint_accepts_shipped_names_and_lists_them_when_unknown():
    from explainer.checkpoints import models_dir, resolve_checkpoint

    with pytest.raises(CheckpointError, match="shipped models"):
        resolve_checkpoint("no_such_model")
    for path in shipped_checkpoints():
        assert resolve_checkpoint(path.stem) == models_dir() / path.name


def test_resume_without_a_previous_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "linear", "--resume", "--out", str(tmp_path / "none.pt")]) == 2
    assert "nothing to resume" in capsys.readouterr().err


SHIPPED = shipped_checkpoints()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_checkpoint_scores_its_recorded_accuracy_on_the_sample(path):
    from explainer.data import load_sample

    ckpt = load_checkpoint(path)
    recorded = ckpt.metrics["test_accuracy"]
    sample = load_sample(ckpt.dataset)
    acc = accuracy(predict_logits(ckpt.model, sample.floats()), sample.labels)
    sd = (recorded * (1 - recorded) / len(sample)) ** 0.5
    assert abs(acc - recorded) <= 4 * sd + 0.01, (acc, recorded)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["test_accuracy"] == pytest.approx(recorded) and card["test_images"] == 10000


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_checkpoint_scores_exactly_its_recorded_test_accuracy(path, dataset_dir):
    ckpt = load_checkpoint(path)
    test = load_split(ckpt.dataset, train=False, data_dir=dataset_dir)
    acc = accuracy(predict_logits(ckpt.model, test.floats()), test.labels)
    assert acc == pytest.approx(ckpt.metrics["test_accuracy"], abs=2e-4)


TARGETS = {
    "mnist_bn_cnn": 0.996,
    "mnist_linear": 0.919,
    "mnist_tinyvgg": 0.986,
    "mnist_basic_cnn": 0.987,
    "mnist_cnn3_fc3": 0.993,
    "mnist_fast_cnn": 0.99,
}


@pytest.mark.parametrize("name", list(TARGETS))
def test_shipped_models_reach_their_tutorial_figures(name):
    from explainer.checkpoints import models_dir

    card = json.loads((models_dir() / f"{name}.json").read_text())
    assert card["test_accuracy"] >= TARGETS[name]


def test_models_folder_is_small():
    from explainer.checkpoints import models_dir

    total = sum(p.stat().st_size for p in models_dir().rglob("*") if p.is_file())
    assert total < 25 * 2**20
