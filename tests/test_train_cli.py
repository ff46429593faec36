"""``explainer train``'s command line: its thread count (min(cores, 4) on a quiet machine, 1 on
a busy one, or as asked with ``--threads N``, said once), and a ``--help`` that imports no
torch while the options still mean what TrainConfig says."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from types import SimpleNamespace

import pytest
import torch

from explainer.cli import build_parser
from explainer.commands import train as train_command
from explainer.errors import ExplainerError
from explainer.nets.train import cpu_threads
from explainer.nets.train_config import TrainConfig


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [(2, 0.0, 2), (2, 0.9, 2), (2, 1.5, 1), (2, 13.0, 1), (16, 1.0, 4), (1, 0.0, 1), (8, 5.0, 1)],
)
def test_the_thread_count_follows_cores_and_load(cores, load, expected):
    assert cpu_threads(cores=cores, load=load) == expected


def test_asked_threads_win_and_bad_ones_are_one_line():
    assert cpu_threads(3, cores=2, load=50.0) == 3
    with pytest.raises(ExplainerError, match="--threads -1"):
        cpu_threads(-1)


def test_this_machine_gets_a_sane_count():
    assert 1 <= cpu_threads() <= 4


def test_the_flag_sets_torch_and_is_said_once(capsys):
    args = build_parser("train").parse_args(["train", "fast_cnn", "--threads", "1"])
    before = torch.get_num_threads()
    try:
        assert train_command.use_threads(args.threads) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert out.count("training on 1 thread ") == 1


HELP_IMPORTS = """
import sys
from explainer.cli import main
try:
    main([{argv}])
except SystemExit:
    pass
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
"""


@pytest.mark.parametrize("argv", ["'--help'", "'train', '--help'", "'render', '--help'"])
def test_help_imports_no_torch(argv):
    res = subprocess.run(
        [sys.executable, "-c", HELP_IMPORTS.format(argv=argv)], capture_output=True, text=True
    )
    assert res.stderr.strip().endswith("NO-TORCH"), res.stderr[-500:]
    assert "usage: explainer" in res.stdout


def test_options_left_out_are_trainconfigs_defaults(tmp_path):
    args = build_parser("train").parse_args(["train", "fast_cnn", "--out", str(tmp_path / "m.pt")])
    got = asdict(train_command.make_config(args))
    ref = asdict(TrainConfig(arch="fast_cnn", out=str(tmp_path / "m.pt"), channels_last=True))
    assert got == ref
    args = build_parser("train").parse_args(
        ["train", "fast_cnn", "--epochs", "3", "--optimizer", "sgd", "--out", "x.pt"]
    )
    assert (args.epochs, args.optimizer) == (3, "sgd")


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["train", "nosuch"], "unknown architecture 'nosuch'; choose from"),
     (["train", "fast_cnn", "--optimizer", "adamw"], "unknown optimizer 'adamw'; choose")],
)  # fmt: skip
def test_a_wrong_name_lists_the_right_ones(argv, says, capsys):
    with pytest.raises(SystemExit):
        build_parser("train").parse_args(argv)
    assert says in capsys.readouterr().err


def test_sweep_defaults_are_sweepconfigs_and_its_help_says_them(capsys):
    from explainer.commands import sweep as sweep_command
    from explainer.nets.sweep import SweepConfig

    ref = SweepConfig()
    args = build_parser("sweep").parse_args(["sweep"])
    assert sweep_command.make_config(args) == ref
    args = build_parser("sweep").parse_args(["sweep", "bn_cnn", "--lr", "0.1,0.2"])
    assert (sweep_command.make_config(args).arch, sweep_command.make_config(args).lr) == (
        "bn_cnn", [0.1, 0.2])  # fmt: skip
    with pytest.raises(SystemExit):
        build_parser("sweep").parse_args(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for said in (
        f"default {ref.arch}",
        f"{ref.dataset} (default)",
        "default " + ",".join(map(str, ref.lr)),
        "default " + ",".join(map(str, ref.batch_size)),
        "default " + ",".join(ref.optimizer),
        "default " + ",".join(map(str, ref.epochs)),
        f"{ref.sampler} (default)",
        f"default {ref.time_budget:g}",
    ):
        assert said in text, said


# --- your own class, from training to the training GIF, on the command line -----------------

USER_NET = """
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=2)
        self.fc = nn.Linear(4 * 12 * 12, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(x)), 1))
"""


def test_snapshots_are_found_where_training_writes_them(tmp_path, monkeypatch):
    """Beside the checkpoint (``snapshot_path``, where ``explainer train --out`` writes them),
    else in models/snapshots/; ``--snapshots`` also takes the folder they were moved to."""
    from explainer.analysis.snapshots import snapshot_paths
    from explainer.commands import snapshot_files
    from explainer.nets.train_run import snapshot_path

    models = tmp_path / "models"
    (models / "snapshots").mkdir(parents=True)
    monkeypatch.setenv("EXPLAINER_MODELS_DIR", str(models))
    out = tmp_path / "run" / "my[1].pt"  # glob characters in the name are literal
    written = [snapshot_path(out, e) for e in (0, 1, 10)]
    for p in [out, *written, models / "snapshots" / "my[1]_epoch05.pt"]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    assert snapshot_paths(out) == [*written, out]
    assert snapshot_paths(out, final=False) == written
    moved = tmp_path / "moved"
    (out.parent / "snapshots").rename(moved)
    assert snapshot_paths(out) == [models / "snapshots" / "my[1]_epoch05.pt", out]
    assert snapshot_files([str(moved)], SimpleNamespace(model=None, path=out, name="my[1]")) == [
        *(moved / p.name for p in written),
        out,
    ]
    with pytest.raises(ExplainerError, match=rf"no epoch snapshots of my\[1\] in {tmp_path}"):
        snapshot_files([str(tmp_path / "run")], SimpleNamespace(model=None, path=out, name=""))


@pytest.mark.slow
def test_render_training_of_your_own_class_from_the_command_line(
    tmp_path, monkeypatch, dataset_dir, capsys
):
    """`explainer train --code my_net.py:Net --snapshot-epochs 0,1 --out my.pt` in a folder of
    one's own, then `explainer render training --model my.pt --code my_net.py:Net`: the
    snapshots are found beside my.pt, --code reaches every snapshot load, and --snapshots
    takes the folder they were moved to."""
    from PIL import Image

    from explainer.analysis.snapshots import snapshot_paths
    from explainer.cli import main
    from explainer.nets.checkpoints import load_checkpoint

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_net.py").write_text(USER_NET)
    code = "my_net.py:Net"
    train = ["train", "--code", code, "--snapshot-epochs", "0,1", "--epochs", "1",
             "--train-limit", "200", "--out", "my.pt", "--quiet", "--no-test",
             "--data-dir", str(dataset_dir)]  # fmt: skip
    assert main(train) == 0
    snaps = [tmp_path / "snapshots" / f"my_epoch0{e}.pt" for e in (0, 1)]
    assert all(p.is_file() for p in snaps)
    ckpt = load_checkpoint("my.pt", code=code)
    assert [p.resolve() for p in snapshot_paths(ckpt)] == [*snaps, tmp_path / "my.pt"]
    assert [load_checkpoint(p, code=code).epoch for p in snaps] == [0, 1]
    bundled = str(tmp_path / "no_data")  # the 500 bundled test digits score each snapshot
    render = ["render", "training", "--model", "my.pt", "--size", "640x360", "--seconds", "2",
              "--data-dir", bundled]  # fmt: skip
    capsys.readouterr()
    assert main([*render, "--code", code, "--out", "found.gif"]) == 0
    with Image.open(tmp_path / "found.gif") as gif:
        assert gif.size == (640, 360) and gif.n_frames > 1
    capsys.readouterr()
    assert main([*render, "--out", "refused.gif"]) == 2  # no consent to import my_net.py
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("explainer: error:") and "--code my_net.py:Net" in err
    assert not (tmp_path / "refused.gif").exists()
    (tmp_path / "snapshots").rename(tmp_path / "elsewhere")
    assert main([*render, "--code", code, "--out", "lost.gif"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("explainer: error: no epoch snapshots of my in snapshots or ")
    moved = ["--snapshots", "elsewhere", "--code", code, "--out", "moved.png"]
    assert main([*render, *moved]) == 0
    assert (tmp_path / "moved.png").is_file()
