"""``explainer data``: where the datasets are, fetch them, or rebuild the bundled sample."""

from __future__ import annotations

import argparse

HELP = "show where the datasets are, download them, or rebuild the bundled sample"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_data_dir

    p.add_argument(
        "action", choices=["where", "download", "make-sample"], nargs="?", default="where"
    )
    p.add_argument("--dataset", default="mnist", help="mnist or fashion_mnist (default: mnist)")
    add_data_dir(p)


def run(args: argparse.Namespace) -> int:
    from explainer import data

    if args.action == "where":
        root = data.resolve_data_dir(args.data_dir)
        for name in data.DATASETS:
            found = data.find_data_dir(name, args.data_dir)
            print(f"{name:<14} {'found in' if found else 'missing, would download to'} {root}")
        return 0
    if args.action == "download":
        for train in (True, False):
            split = data.load_split(args.dataset, train=train, data_dir=args.data_dir)
            print(f"{args.dataset} {'train' if train else 'test'}: {len(split)} images")
        return 0
    print(f"wrote {data.make_sample(args.dataset, data_dir=args.data_dir)}")
    return 0
