"""``explainer compare``: all shipped MNIST architectures side by side."""

from __future__ import annotations

import argparse

HELP = "compare the shipped MNIST models: accuracy, size, speed, per-class accuracy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_code, add_test_source

    p.add_argument("models", nargs="*", help="checkpoints to compare (default: models/mnist_*.pt)")
    p.add_argument("--out", help="output folder (default: reports/compare/)")
    p.add_argument(
        "--format",
        choices=["markdown", "json"],
        default="markdown",
        help="what to print: the Markdown table or the JSON",
    )
    add_code(p)
    add_test_source(p)


def run(args: argparse.Namespace) -> int:
    import sys

    from explainer.analysis.compare import DEFAULT_OUT, compare, write_comparison
    from explainer.commands import draw_to_files
    from explainer.io import check_writable

    draw_to_files()
    check_writable(args.out or DEFAULT_OUT, folder=True)
    result = compare(
        args.models or None, data_dir=args.data_dir, sample_only=args.sample, code=args.code
    )
    files = write_comparison(result.rows, result.test_set, args.out)
    print(files[2 if args.format == "json" else 0].read_text(), end="")
    for reason in result.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    print(f"wrote {', '.join(str(f) for f in files)}", file=sys.stderr)
    return 0
