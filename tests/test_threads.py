"""Training's thread count: min(cores, 4) on a quiet machine, 1 on a busy one, or as asked
(``explainer train --threads N``), and said once."""

from __future__ import annotations

import pytest
import torch

from explainer.cli import build_parser
from explainer.commands import train as train_command
from explainer.errors import ExplainerError
from explainer.nets.train import cpu_threads


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
