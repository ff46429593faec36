"""``explainer sweep [ARCH]``: a hyperparameter grid (or TPE search) on Optuna."""

from __future__ import annotations

import argparse

HELP = "hyperparameter sweep (grid or TPE on Optuna): lr, batch size, optimizer, epochs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_data_dir
    from explainer.nets.architectures import available
    from explainer.nets.sweep import SweepConfig

    d = SweepConfig()
    p.add_argument(
        "arch",
        nargs="?",
        default=d.arch,
        choices=available(),
        help=f"architecture to tune (default {d.arch})",
    )
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--lr", default=",".join(map(str, d.lr)), help="comma-separated learning rates")
    p.add_argument(
        "--batch-size", default=",".join(map(str, d.batch_size)), help="comma-separated batch sizes"
    )
    p.add_argument("--optimizer", default=",".join(d.optimizer), help="comma-separated: adam,sgd")
    p.add_argument(
        "--epochs", default=",".join(map(str, d.epochs)), help="comma-separated epoch counts"
    )
    p.add_argument(
        "--sampler",
        choices=["grid", "tpe"],
        default=d.sampler,
        help="grid: every combination; tpe: Bayesian search (lr between the extremes)",
    )
    p.add_argument(
        "--trials", type=int, default=0, help="number of runs (default: the whole grid; 20 for tpe)"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=d.time_budget,
        metavar="SECONDS",
        help="stop each run after this many seconds (default %(default)s)",
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


def run(args: argparse.Namespace) -> int:
    from explainer.extras import require

    require("sweep", "explainer sweep")
    from explainer.nets.sweep import SweepConfig, parse_list, run_sweep, write_results

    c = SweepConfig(
        arch=args.arch,
        dataset=args.dataset,
        lr=parse_list(args.lr, float),
        batch_size=parse_list(args.batch_size, int),
        optimizer=parse_list(args.optimizer, str),
        epochs=parse_list(args.epochs, int),
        sampler=args.sampler,
        trials=args.trials,
        time_budget=args.time_budget,
        train_limit=args.train_limit,
        prune=args.prune,
        seed=args.seed,
        study=args.study,
        storage=args.storage,
        out=args.out,
        data_dir=args.data_dir,
    )
    from explainer.io import check_writable

    check_writable(c.out_dir(), folder=True)
    results = run_sweep(c)
    files = write_results(results, c)
    print()
    print(files[0].read_text(), end="")
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0
