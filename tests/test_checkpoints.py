import json

import pytest
import torch

from explainer.cli import main
from explainer.data import load_split
from explainer.nets.architectures import build
from explainer.nets.checkpoints import (
    CheckpointError,
    load_checkpoint,
    make_payload,
    save_checkpoint,
    shipped_checkpoints,
)
from explainer.nets.inference import accuracy, predict_logits


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
    from explainer.nets.checkpoints import models_dir, resolve_checkpoint

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
    from explainer.nets.checkpoints import models_dir

    card = json.loads((models_dir() / f"{name}.json").read_text())
    assert card["test_accuracy"] >= TARGETS[name]


def test_models_folder_is_small():
    from explainer.nets.checkpoints import models_dir

    total = sum(p.stat().st_size for p in models_dir().rglob("*") if p.is_file())
    assert total < 25 * 2**20


def linear_payload(**changes) -> dict:
    payload = make_payload(build("linear"), dataset="mnist", class_names=list("0123456789"))
    payload.update(changes)
    return payload


def test_load_checkpoint_accepts_a_shipped_short_name():
    from explainer.nets.checkpoints import models_dir

    by_name = load_checkpoint("mnist_fast_cnn")
    by_path = load_checkpoint(models_dir() / "mnist_fast_cnn.pt")
    assert by_name.path == by_path.path and by_name.architecture == "fast_cnn"
    for k, v in by_path.model.state_dict().items():
        assert torch.equal(v, by_name.model.state_dict()[k]), k


def _set(key, value):
    return lambda p: p.update({key: value})


MALFORMED = {
    "no state_dict": (lambda p: p.pop("state_dict"), "'state_dict'"),
    "no architecture": (lambda p: p.pop("architecture"), "'architecture'"),
    "version abc": (_set("version", "abc"), "field 'version' must be an integer"),
    "newer version": (_set("version", 99), "newer mnist-explainer"),
    "architecture list": (_set("architecture", ["linear"]), "field 'architecture'"),
    "unknown architecture": (_set("architecture", "resnet"), "field 'architecture'"),
    "arch_kwargs list": (_set("arch_kwargs", [10]), "field 'arch_kwargs' must be a dict"),
    "arch_kwargs wrong type": (_set("arch_kwargs", {"hidden": "big"}), "field 'arch_kwargs'"),
    "arch_kwargs unknown": (_set("arch_kwargs", {"depth": 3}), "field 'arch_kwargs'"),
    "arch_kwargs negative": (_set("arch_kwargs", {"hidden": -5}), "field 'arch_kwargs'"),
    "class_names str": (_set("class_names", "0123456789"), "field 'class_names'"),
    "class_names ints": (_set("class_names", list(range(10))), "field 'class_names'"),
    "history dict": (_set("history", {"epoch": 1}), "field 'history'"),
    "metrics list": (_set("metrics", [0.9]), "field 'metrics'"),
    "epoch str": (_set("epoch", "1"), "field 'epoch'"),
    "std zero": (_set("normalization", {"mean": 0.1, "std": 0.0}), "field 'normalization'"),
    "model_class int": (_set("model_class", 3), "field 'model_class'"),
    "weights list": (lambda p: p["state_dict"].update({"fc1.weight": [1.0]}), "'fc1.weight'"),
    "state_dict list": (_set("state_dict", [1.0]), "field 'state_dict' must be a dict"),
}


@pytest.mark.parametrize("spoil, match", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_fields_are_one_line_errors_naming_the_field(tmp_path, spoil, match):
    payload = linear_payload()
    spoil(payload)
    torch.save(payload, tmp_path / "bad.pt")  # written as-is: save_checkpoint would refuse it
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(tmp_path / "bad.pt")
    assert "\n" not in str(err.value) and "bad.pt" in str(err.value)


def test_nonfinite_weights_are_refused_on_load_and_never_saved(tmp_path):
    poisoned = linear_payload()
    poisoned["state_dict"]["fc2.bias"][3] = float("nan")
    torch.save(poisoned, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=r"nan.pt: tensor 'fc2.bias' holds NaN") as err:
        load_checkpoint(tmp_path / "nan.pt")
    assert "\n" not in str(err.value)
    good = save_checkpoint(tmp_path / "good.pt", linear_payload())
    before = good.read_bytes()
    with pytest.raises(CheckpointError, match=r"fc2\.bias"):
        save_checkpoint(good, poisoned)
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "good.pt",
        "nan.pt",
    ]


def test_a_compressed_archive_is_refused_before_reading(tmp_path):
    import zipfile

    good = save_checkpoint(tmp_path / "good.pt", linear_payload())
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "z.pt", "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="compressed"):
        load_checkpoint(tmp_path / "z.pt")


MEMORY_SCRIPT = """
import json, resource, sys
from explainer.nets.checkpoints import CheckpointError, load_checkpoint
load_checkpoint(sys.argv[1])  # warm up: imports and the allocator
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
errors = []
for path in sys.argv[2:]:
    try:
        load_checkpoint(path)
        errors.append("loaded")
    except CheckpointError as exc:
        errors.append(str(exc))
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({"grew_mib": grew / 1024, "errors": errors}))
"""


def test_a_small_file_cannot_make_the_loader_allocate_much(tmp_path):
    """37 KB files whose arch_kwargs ask for 10**6 or 10**9 hidden units (the old loader built
    the 3 GB model first), and one whose weights are views repeating a single number."""
    import subprocess
    import sys

    good = save_checkpoint(tmp_path / "good.pt", linear_payload())
    files = []
    for hidden in (10**6, 10**9):
        torch.save(linear_payload(arch_kwargs={"hidden": hidden}), tmp_path / f"h{hidden}.pt")
        files.append(tmp_path / f"h{hidden}.pt")
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in build("linear", hidden=10**6).state_dict().items()}
    views = {k: torch.zeros(()).expand(shape) for k, shape in shapes.items()}
    torch.save(linear_payload(arch_kwargs={"hidden": 10**6}, state_dict=views), tmp_path / "v.pt")
    files.append(tmp_path / "v.pt")
    assert all(f.stat().st_size < 64_000 for f in files)
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(good), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert [("do not fit" in e, "declares" in e) for e in report["errors"]] == [
        (True, False),
        (True, False),
        (False, True),
    ], report["errors"]
    assert report["grew_mib"] < 64, report
