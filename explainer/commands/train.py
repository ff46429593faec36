"""``explainer train ARCH`` / ``explainer train --code my_net.py:MyNet``: train a registered
architecture or your own model class, and write its checkpoint and model card."""

from __future__ import annotations

import argparse
import json

HELP = "train an architecture or your own class; writes a checkpoint and a JSON model card"


def lazy_choice(module: str, name: str, what: str):
    """An argparse ``type`` accepting the values of ``module.name`` (a sequence, or a function
    returning one), read when a value is given, not when ``--help`` is printed (argparse
    lists ``choices`` in every help): the architectures' names need torch, which
    ``explainer train --help`` does not import."""

    def check(value: str) -> str:
        import importlib

        found = getattr(importlib.import_module(module), name)
        values = list(found() if callable(found) else found)
        if value not in values:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {value!r}; choose from {', '.join(values)}"
            )
        return value

    return check


# Options whose default is TrainConfig's: left out of the namespace when not given (so
# TrainConfig, imported only to run, fills them in; make_config passes what is there).
DEFAULT = argparse.SUPPRESS


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_data_dir

    p.add_argument(
        "arch",
        nargs="?",
        type=lazy_choice("explainer.nets.architectures", "available", "architecture"),
        metavar="ARCH",
        help="architecture to train, e.g. fast_cnn, bn_cnn, linear (a wrong name lists them "
        "all), or use --code",
    )
    p.add_argument(
        "--code",
        default="",
        metavar="FILE.py:CLASS",
        help="train your own nn.Module class instead: path/to/file.py:Class or "
        "package.module:Class (its constructor arguments: --model-kwargs)",
    )
    p.add_argument("--dataset", default=DEFAULT, help="mnist or fashion_mnist")
    p.add_argument("--epochs", type=int, default=DEFAULT)
    p.add_argument("--batch-size", type=int, default=DEFAULT)
    p.add_argument("--lr", type=float, default=DEFAULT, help="learning rate (peak lr for onecycle)")
    p.add_argument(
        "--optimizer",
        type=lazy_choice("explainer.nets.train_config", "OPTIMIZERS", "optimizer"),
        metavar="NAME",
        default=DEFAULT,
        help="adam (default) or sgd",
    )
    p.add_argument("--momentum", type=float, default=DEFAULT, help="for sgd")
    p.add_argument("--weight-decay", type=float, default=DEFAULT)
    p.add_argument(
        "--scheduler",
        type=lazy_choice("explainer.nets.train_config", "SCHEDULERS", "scheduler"),
        metavar="NAME",
        default=DEFAULT,
        help="the learning-rate schedule: onecycle (default), plateau, step or none",
    )
    p.add_argument("--step-size", type=int, default=DEFAULT, help="epochs between lr steps (step)")
    p.add_argument("--gamma", type=float, default=DEFAULT, help="lr factor (step, plateau)")
    p.add_argument(
        "--patience",
        type=int,
        default=DEFAULT,
        help="early stopping: epochs without a better validation accuracy (0: off)",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT,
        help="random rotation, shift and scale of every training batch",
    )
    p.add_argument("--rotation", type=float, default=DEFAULT, help="max degrees")
    p.add_argument("--shift", type=float, default=DEFAULT, help="max shift, fraction of the width")
    p.add_argument("--scale", type=float, default=DEFAULT, help="max zoom in or out, a fraction")
    p.add_argument(
        "--thicken",
        type=float,
        default=DEFAULT,
        metavar="SHARE",
        help="draw this share of training images (0-1) with a pen 1-3 px thicker, as markers "
        "and thick brushes draw (default 0: off)",
    )
    p.add_argument("--label-smoothing", type=float, default=DEFAULT)
    p.add_argument("--val-fraction", type=float, default=DEFAULT)
    p.add_argument("--seed", type=int, default=DEFAULT)
    p.add_argument(
        "--device", default=DEFAULT, help="auto (cuda, then mps, then cpu), cpu, cuda, mps"
    )
    p.add_argument("--dry-run", action="store_true", help="one batch, one epoch: checks the set-up")
    p.add_argument(
        "--save-every",
        type=int,
        default=DEFAULT,
        metavar="N",
        help="also save an epoch snapshot every N epochs (and the untrained epoch 0)",
    )
    p.add_argument(
        "--snapshot-epochs",
        type=_int_list,
        default=[],
        metavar="0,1,2,5",
        help="also save snapshots at these epochs",
    )
    p.add_argument("--out", help="checkpoint path (default: models/<dataset>_<arch>.pt)")
    p.add_argument(
        "--force",
        action="store_true",
        help="without --out: replace the model already in models/ (refused otherwise)",
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>.last.pt")
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last batches (default: on for the registry's networks, off with --code)",
    )
    p.add_argument(
        "--arch-kwargs",
        "--model-kwargs",
        dest="arch_kwargs",
        type=_json_object,
        default={},
        metavar="JSON",
        help="constructor arguments as a JSON object, e.g. '{\"hidden\": 64}'",
    )
    p.add_argument("--train-limit", type=int, default=0, help="train on the first N images only")
    p.add_argument("--max-seconds", type=float, default=0.0, help="stop after this many seconds")
    p.add_argument(
        "--no-test",
        dest="evaluate_test",
        action="store_false",
        help="skip the final evaluation on the official test set",
    )
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="CPU threads (default: min(cores, 4), or 1 when the machine is busy)",
    )
    add_data_dir(p)


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{}}', got {text!r}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def make_config(args: argparse.Namespace):
    """The :class:`TrainConfig` of the options; without ``--out`` the default file in models/,
    which must not exist yet unless ``--force`` (or ``--resume``) says to go on."""
    from dataclasses import fields

    from explainer.errors import ExplainerError
    from explainer.nets.train_config import TrainConfig
    from explainer.nets.train_run import default_out
    from explainer.nets.user_code import parse_spec

    if bool(args.arch) == bool(args.code):
        raise ExplainerError(
            "give an architecture to train (e.g. `explainer train fast_cnn`) or your own class "
            "with --code path/to/file.py:Class, not both"
            if args.arch
            else "name an architecture to train, e.g. `explainer train fast_cnn`, or your own "
            "class with --code path/to/file.py:Class"
        )
    if args.code:
        args.arch = parse_spec(args.code)[1].rpartition(".")[2]
    if args.channels_last is None:
        args.channels_last = not args.code  # a user's forward() may .view() its input
    config = TrainConfig(
        **{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    )
    if config.out is None and not config.dry_run:
        out = default_out(config)
        if out.exists() and not (args.force or config.resume):
            raise ExplainerError(
                f"{out} exists (a shipped or earlier model) and would be replaced: train into "
                "another file with --out my_model.pt, or pass --force to replace it"
            )
        config.out = str(out)
    return config


def use_threads(requested: int) -> int:
    """Set torch's CPU threads (:func:`explainer.nets.train.cpu_threads`) and say it once."""
    import os

    import torch

    from explainer.nets.train import cpu_threads

    n = cpu_threads(requested)
    torch.set_num_threads(n)
    load = f"load {os.getloadavg()[0]:.1f}, " if hasattr(os, "getloadavg") else ""
    chosen = "as asked" if requested else f"{load}{os.cpu_count()} cores; --threads N to change"
    print(f"training on {n} thread{'s' if n > 1 else ''} ({chosen})", flush=True)
    return n


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from explainer.errors import ExplainerError
    from explainer.nets.train import fit
    from explainer.nets.train_run import last_path

    config = make_config(args)
    use_threads(args.threads)
    hist = fit(config)
    if hist.diverged:
        out = Path(config.out) if config.out else None
        kept = f"; {out} is unchanged" if out and out.exists() else ""
        last = last_path(out) if out else None
        good = f"; the last good epoch's state is in {last}" if last and last.exists() else ""
        raise ExplainerError(
            f"{hist.reason}: no model was saved{kept}{good}; try a smaller --lr (now {config.lr:g})"
        )
    if hist.interrupted:
        where = f" in {last_path(Path(config.out))}" if config.out else ""
        print(
            f"interrupted: state of epoch {len(hist.epochs)} saved{where}; continue with --resume"
        )
        return 130
    if config.dry_run:
        r = hist.epochs[-1]
        print(
            f"dry run ok: one batch, loss {r['train_loss']:.4f}, "
            f"val accuracy {r['val_accuracy']:.4f}"
        )
        return 0
    m = hist.test_metrics
    status = "stopped early" if hist.stopped_early else "done"
    print(
        f"{status}: best epoch {hist.best_epoch}, val accuracy {hist.best_val_accuracy:.4f}, "
        f"{hist.seconds:.0f}s"
    )
    if m:
        print(
            f"test accuracy {m['test_accuracy']:.4f} "
            f"({m['test_errors']} errors of {m['test_images']})"
        )
    if hist.checkpoint:
        print(f"wrote {hist.checkpoint} and {hist.checkpoint.with_suffix('.json')}")
    for warning in hist.warnings:
        print(f"explainer: warning: {warning}", file=sys.stderr)
    return 0
