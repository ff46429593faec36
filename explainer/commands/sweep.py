"""``explainer sweep [ARCH]``: a hyperparameter grid (or TPE search) on Optuna."""

from __future__ import annotations

import argparse

HELP = "hyperparameter sweep (grid or TPE on Optuna): lr, batch size, optimizer, epochs"


# The defaults below are SweepConfig's, written out so that --help needs no torch (SweepConfig
# lives beside the training code); tests/test_train_cli.py checks they are the same. Options
# left out are not in the namespace: run() lets SweepConfig fill them in.
DEFAULT = argparse.SUPPRESS


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_data_dir
    from explainer.commands.train import lazy_choice

    p.add_argument(
        "arch",
        nargs="?",
        type=lazy_choice("explainer.nets.architectures", "available", "architecture"),
        metavar="ARCH",
        help="architecture to tune (default fast_cnn)",
    )
    p.add_argument("--dataset", default=DEFAULT, help="mnist (default) or fashion_mnist")
    p.add_argument(
        "--lr", default=DEFAULT, help="comma-separated learning rates (default 0.001,0.003,0.01)"
    )
    p.add_argument(
        "--batch-size", default=DEFAULT, help="comma-separated batch sizes (default 64,256)"
    )
    p.add_argument("--optimizer", default=DEFAULT, help="comma-separated (default adam,sgd)")
    p.add_argument("--epochs", default=DEFAULT, help="comma-separated epoch counts (default 2)")
    p.add_argument(
        "--sampler",
        choices=["grid", "tpe"],
        default=DEFAULT,
        help="grid (default): every combination; tpe: Bayesian search (lr between the extremes)",
    )
    p.add_argument(
        "--trials", type=int, default=0, help="number of runs (default: the whole grid; 20 for tpe)"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=DEFAULT,
        metavar="SECONDS",
        help="stop each run after this many seconds (default 120)",
    )
    p.add_argument(
        "--train-limit",
        type=int,
        default=0,
        help="train on the first N training images only (quick sweeps)",
    )
    p.add_argument(
        "--no-prune",
        dest="prune",
        action="store_false",
        help="never stop a run early (default: Optuna's median pruner)",
    )
    p.add_argument("--study", default="", help="study name (default <dataset>_<arch>)")
    p.add_argument(
        "--storage",
        default="",
        help="Optuna storage URL (default sqlite:///reports/sweep/<study>.db); share "
        "one database (e.g. postgresql://...) to run a study on several machines",
    )
    p.add_argument("--out", default="", help="folder for the results (default reports/sweep/)")
    p.add_argument("--seed", type=int, default=0)
    add_data_dir(p)


def make_config(args: argparse.Namespace):
    """The :class:`~explainer.nets.sweep.SweepConfig` of the options (its defaults for those
    left out)."""
    from dataclasses import fields

    from explainer.nets.sweep import SweepConfig, parse_list

    lists = {"lr": float, "batch_size": int, "optimizer": str, "epochs": int}
    given = {f.name: getattr(args, f.name, None) for f in fields(SweepConfig)}
    given = {k: v for k, v in given.items() if v is not None}  # left out: SweepConfig's
    given |= {k: parse_list(v, lists[k]) for k, v in given.items() if k in lists}
    return SweepConfig(**given)


def run(args: argparse.Namespace) -> int:
    from explainer.extras import require

    require("sweep", "explainer sweep")
    from explainer.commands import draw_to_files
    from explainer.nets.sweep import run_sweep, write_results

    draw_to_files()
    c = make_config(args)
    from explainer.io import check_writable

    check_writable(c.out_dir(), folder=True)
    results = run_sweep(c)
    files = write_results(results, c)
    print()
    print(files[0].read_text(), end="")
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0
