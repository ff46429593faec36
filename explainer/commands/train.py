"""``explainer train ARCH``: train a registered architecture and write its checkpoint and card."""

from __future__ import annotations

import argparse
import json

HELP = "train an architecture; writes models/<dataset>_<arch>.pt and a JSON model card"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.architectures import available
    from explainer.commands import add_data_dir
    from explainer.train import OPTIMIZERS, SCHEDULERS, TrainConfig

    d = TrainConfig()
    p.add_argument("arch", choices=available(), help="architecture to train")
    p.add_argument("--dataset", default=d.dataset, help="mnist or fashion_mnist")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (peak lr for onecycle)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--momentum", type=float, default=d.momentum, help="for sgd")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--scheduler", choices=SCHEDULERS, default=d.scheduler)
    p.add_argument(
        "--step-size", type=int, default=d.step_size, help="epochs between lr steps (step)"
    )
    p.add_argument("--gamma", type=float, default=d.gamma, help="lr factor (step, plateau)")
    p.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        help="early stopping: epochs without a better validation accuracy (0: off)",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=d.augment,
        help="random rotation, shift and scale of every training batch",
    )
    p.add_argument("--rotation", type=float, default=d.rotation, help="max degrees")
    p.add_argument("--shift", type=float, default=d.shift, help="max shift, fraction of the width")
    p.add_argument("--scale", type=float, default=d.scale, help="max zoom in or out, a fraction")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--device", default=d.device, help="auto (cuda, then mps, then cpu), cpu, cuda, mps"
    )
    p.add_argument("--dry-run", action="store_true", help="one batch, one epoch: checks the set-up")
    p.add_argument(
        "--save-every",
        type=int,
        default=d.save_every,
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
    p.add_argument("--resume", action="store_true", help="continue from <out>.last.pt")
    p.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, default=d.channels_last
    )
    p.add_argument(
        "--arch-kwargs", type=json.loads, default={}, help="JSON of architecture options"
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
    add_data_dir(p)


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields
    from pathlib import Path

    from explainer.train import TrainConfig, default_out, fit, last_path

    config = TrainConfig(
        **{f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    )
    if config.out is None and not config.dry_run:
        config.out = str(default_out(config))
    hist = fit(config)
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
    status = "diverged" if hist.diverged else "stopped early" if hist.stopped_early else "done"
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
    return 0
