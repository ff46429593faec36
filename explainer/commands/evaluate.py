"""``explainer evaluate CHECKPOINT``: metrics, confusion matrix, mistakes and curves as a report."""

from __future__ import annotations

import argparse

HELP = "evaluate a checkpoint on the test set and write a report folder of figures and JSON"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_checkpoint, add_test_source

    add_checkpoint(p, default=None)
    p.add_argument("--out", help="report folder (default: reports/<checkpoint name>/)")
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="json: print the metrics as JSON instead of a summary",
    )
    add_test_source(p)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from explainer.analysis.evaluate import evaluate, summary_lines
    from explainer.analysis.report import default_report_dir, write_report
    from explainer.io import check_writable
    from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint

    if args.out:
        check_writable(args.out, folder=True)
    ckpt = load_checkpoint(resolve_checkpoint(args.checkpoint), code=args.code)
    check_writable(args.out or default_report_dir(ckpt), folder=True)
    ev = evaluate(ckpt, data_dir=args.data_dir, sample_only=args.sample)
    folder = write_report(ev, args.out)
    if args.format == "json":
        print(json.dumps(ev.metrics(), indent=2))
        print(f"wrote {len(ev.files)} files to {folder}/", file=sys.stderr)
        return 0
    for line in summary_lines(ev):
        print(line)
    print(f"wrote {len(ev.files)} files to {folder}/ (open {folder / 'report.md'})")
    return 0
