"""Your own model classes: saving, loading only with consent, training them with `--code`."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from explainer.cli import main
from explainer.data import stratified_split
from explainer.errors import ExplainerError
from explainer.nets.architectures import Normalize, build
from explainer.nets.checkpoints import (
    CheckpointError,
    load_checkpoint,
    make_payload,
    save_checkpoint,
)
from explainer.nets.train import fit
from explainer.nets.train_config import TrainConfig
from explainer.nets.train_run import snapshot_path
from explainer.nets.user_code import UserCodeError, import_class
from explainer.reading.predict import Predictor

NET = '''
import pathlib

import torch
from torch import nn

# every import of this file leaves a trace, so a test can tell whether it was imported
with open(pathlib.Path(__file__).with_name("imported.log"), "a") as fh:
    fh.write("imported\\n")


class MyNet(nn.Module):
    """A two-layer perceptron written by a user."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class SelfDescribing(MyNet):
    def __init__(self, hidden: int = 32):
        super().__init__(hidden)
        self.model_kwargs = {"hidden": hidden}


class WrongOutput(MyNet):
    def forward(self, x):
        return super().forward(x)[:, :5]


class NotAModel:
    pass
'''


@pytest.fixture
def net_file(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    path = folder / "my_net.py"
    path.write_text(NET)
    return path


@pytest.fixture(scope="module")
def splits(sample):
    tr, va = stratified_split(sample.labels, 0.2, seed=0)
    return sample.subset(tr), sample.subset(va)


def spec(path, name="MyNet") -> str:
    return f"{path}:{name}"


def raw(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_make_payload_and_predictor_take_any_module(net_file, sample):
    torch.manual_seed(0)
    net = import_class(spec(net_file))(hidden=20)
    payload = make_payload(net, model_kwargs={"hidden": 20})
    assert payload["architecture"] == "MyNet" and payload["normalization"] == {}
    assert payload["model_class"] == spec(net_file.resolve())
    assert payload["arch_kwargs"] == {"hidden": 20} and len(payload["class_names"]) == 10
    x = sample.floats()[:16]
    with torch.no_grad():
        expected = torch.softmax(net(x), dim=1).numpy()
    got = Predictor(net).probabilities(x.numpy()[:, 0])
    assert got == pytest.approx(expected, abs=1e-6)
    # a model with its own Normalize step records that normalisation, a registry net its own
    with_norm = nn.Sequential(Normalize(0.5, 0.25), nn.Flatten(), nn.Linear(784, 10))
    assert make_payload(with_norm)["normalization"] == {"mean": 0.5, "std": 0.25}
    assert make_payload(build("linear", mean=0.2, std=0.4))["normalization"] == pytest.approx(
        {"mean": 0.2, "std": 0.4}
    )


def test_loading_a_users_class_needs_consent(net_file, tmp_path):
    torch.manual_seed(0)
    net = import_class(spec(net_file))(hidden=48)
    path = save_checkpoint(tmp_path / "mine.pt", net, model_kwargs={"hidden": 48})
    with pytest.raises(CheckpointError, match="--code") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value) and spec(net_file.resolve()) in str(err.value)
    for ckpt in (
        load_checkpoint(path, code=spec(net_file)),
        load_checkpoint(path, allow_import=True),
    ):
        assert type(ckpt.model).__name__ == "MyNet" and not ckpt.model.training
        assert ckpt.arch_kwargs == {"hidden": 48} and ckpt.model_class == spec(net_file.resolve())
        for k, v in net.state_dict().items():
            assert torch.equal(v, ckpt.model.state_dict()[k]), k


def test_a_checkpoint_alone_never_imports_code(net_file, tmp_path):
    """In a fresh process: loading without consent fails and imports nothing; with --code the
    file is imported (its module code runs) and the model loads."""
    net = import_class(spec(net_file))(hidden=8)
    path = save_checkpoint(tmp_path / "mine.pt", net, model_kwargs={"hidden": 8})
    log = net_file.with_name("imported.log")
    log.unlink()
    script = textwrap.dedent(
        """
        import sys
        from explainer.nets.checkpoints import CheckpointError, load_checkpoint
        try:
            ckpt = load_checkpoint(sys.argv[1], code=sys.argv[2] or None)
            print("loaded", type(ckpt.model).__name__)
        except CheckpointError as exc:
            print("refused", exc)
        """
    )
    run = [sys.executable, "-c", script, str(path)]
    out = subprocess.run([*run, ""], capture_output=True, text=True, check=True).stdout
    assert out.startswith("refused") and "--code" in out
    assert not log.exists()
    assert main(["capture", str(path), "--list-layers"]) == 2  # the CLI without --code: refused
    assert not log.exists()
    out = subprocess.run([*run, spec(net_file)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "loaded MyNet" and log.read_text() == "imported\n"


def test_a_package_module_spec(tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg_cafe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = import_class("userpkg_cafe.nets:MyNet")(hidden=12)
    path = save_checkpoint(tmp_path / "pkg.pt", net, model_kwargs={"hidden": 12})
    assert raw(path)["model_class"] == "userpkg_cafe.nets:MyNet"
    ckpt = load_checkpoint(path, code="userpkg_cafe.nets:MyNet")
    assert ckpt.model.fc1.weight.shape == (12, 784)


def test_the_recorded_constructor_arguments_shape_the_model(net_file, tmp_path):
    cls = import_class(spec(net_file))
    path = save_checkpoint(tmp_path / "a.pt", cls(hidden=48), model_kwargs={"hidden": 48})
    assert load_checkpoint(path, code=spec(net_file)).model.fc1.weight.shape == (48, 784)
    payload = raw(path)
    payload["arch_kwargs"] = {"hidden": 16}  # the recorded argument no longer fits the weights
    torch.save(payload, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=r"fc1.weight.*\[48, 784\].*\[16, 784\]"):
        load_checkpoint(tmp_path / "b.pt", code=spec(net_file))
    # saving without the arguments that rebuild the model is refused at once, not at load
    with pytest.raises(CheckpointError, match="model_kwargs"):
        save_checkpoint(tmp_path / "c.pt", cls(hidden=48))
    assert not (tmp_path / "c.pt").exists()
    # ...unless the model says them itself
    own = import_class(spec(net_file, "SelfDescribing"))(hidden=24)
    assert raw(save_checkpoint(tmp_path / "d.pt", own))["arch_kwargs"] == {"hidden": 24}
    with pytest.raises(ExplainerError, match="plain JSON"):
        make_payload(cls(hidden=4), model_kwargs={"hidden": 4, "act": nn.ReLU()})


@pytest.mark.parametrize(
    "make_spec, match",
    [
        (lambda f: "no_colon_here", "not a class location"),
        (lambda f: f"{f.parent}/missing.py:MyNet", "no file"),
        (lambda f: f"{f}:Missing", "no class 'Missing'.*MyNet"),
        (lambda f: f"{f}:NotAModel", "not a torch.nn.Module"),
        (lambda f: "no_such_module_xyz.nets:MyNet", "no module"),
    ],
)
def test_bad_code_specs_are_one_line_errors(net_file, make_spec, match):
    with pytest.raises(UserCodeError, match=match) as err:
        import_class(make_spec(net_file))
    assert "\n" not in str(err.value)


def test_code_that_fails_to_import_is_a_one_line_error(tmp_path):
    (tmp_path / "broken.py").write_text("import torch\nraise RuntimeError('oops\\nmore')\n")
    with pytest.raises(UserCodeError, match=r"importing .*broken.py failed: RuntimeError: oops"):
        import_class(f"{tmp_path}/broken.py:Net")


def test_fit_trains_a_users_class_with_snapshots_and_resume(net_file, tmp_path, splits):
    base = dict(
        code=spec(net_file),
        arch="MyNet",
        arch_kwargs={"hidden": 24},
        batch_size=50,
        lr=3e-3,
        progress=False,
        evaluate_test=False,
        channels_last=False,
        out=str(tmp_path / "mine.pt"),
        save_every=1,
        scheduler="step",
        patience=5,
        augment=True,
    )
    fit(TrainConfig(**base, epochs=1), data=splits)
    resumed = fit(TrainConfig(**base, epochs=2, resume=True), data=splits)
    assert [r["epoch"] for r in resumed.epochs] == [1, 2]
    straight = fit(TrainConfig(**(base | {"out": str(tmp_path / "s.pt")}), epochs=2), data=splits)
    assert resumed.epochs[-1]["train_loss"] == pytest.approx(straight.epochs[-1]["train_loss"])
    ckpt = load_checkpoint(tmp_path / "mine.pt", code=spec(net_file))
    assert ckpt.architecture == "MyNet" and ckpt.model.fc1.weight.shape == (24, 784)
    assert snapshot_path(tmp_path / "mine.pt", 2).exists()
    card = json.loads((tmp_path / "mine.json").read_text())
    assert card["code"] == spec(net_file) and card["summary"].startswith("A two-layer")
    assert card["reproduce"].startswith(f"explainer train --code {spec(net_file)}")


def test_a_model_that_does_not_return_logits_is_a_one_line_error(net_file, tmp_path, splits):
    config = TrainConfig(code=spec(net_file, "WrongOutput"), arch="WrongOutput", progress=False)
    with pytest.raises(ExplainerError, match=r"returns \(2, 5\).*\(N, 10\)"):
        fit(config, data=splits)


def test_cli_trains_a_users_class_and_commands_take_code(net_file, tmp_path, dataset_dir, capsys):
    out = tmp_path / "mine.pt"
    common = ["--epochs", "1", "--train-limit", "500", "--out", str(out), "--quiet"]
    args = ["train", "--code", spec(net_file), "--model-kwargs", '{"hidden": 16}', *common]
    assert main([*args, "--no-test", "--data-dir", str(dataset_dir)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert load_checkpoint(out, code=spec(net_file)).model.fc1.weight.shape == (16, 784)
    assert main(["train", "linear", "--code", spec(net_file)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["capture", str(out), "--list-layers"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("explainer: error:") and "--code" in err and "\n" not in err
    assert main(["capture", str(out), "--code", spec(net_file), "--list-layers"]) == 0
    assert "fc1" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--code", spec(net_file), "--sample", "--out",
                 str(tmp_path / "report"), "--format", "json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["architecture"] == "MyNet" and report["images"] == 500
    assert main(["compare", str(out), "--code", spec(net_file), "--sample", "--out",
                 str(tmp_path / "cmp"), "--format", "json"]) == 0  # fmt: skip
    assert "MyNet" in capsys.readouterr().out


def test_cli_train_with_a_wrong_code_spec_fails_before_loading_data(tmp_path, capsys):
    args = ["train", "--code", f"{tmp_path}/missing.py:Net", "--out", str(tmp_path / "m.pt")]
    assert main([*args, "--data-dir", str(tmp_path / "no_data_here")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"explainer: error: --code: no file {tmp_path}/missing.py (expected " + (
        "path/to/file.py:Class or package.module:Class)"
    )
    assert list(tmp_path.iterdir()) == []
