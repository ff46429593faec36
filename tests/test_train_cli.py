"""``explainer train``'s command line: its thread count (min(cores, 4) on a quiet machine, 1 on
a busy one, or as asked with ``--threads N``, said once), and a ``--help`` that imports no
torch while the options still mean what TrainConfig says."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

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
