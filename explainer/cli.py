"""The ``explainer`` command line: one sub-command per module in :mod:`explainer.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports its heavy dependencies inside ``run`` so ``--help`` is quick.
Problems the user can fix (:class:`~explainer.errors.ExplainerError`) are printed as one line
``explainer: error: ...`` with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from explainer import __version__
from explainer.errors import ExplainerError

COMMANDS = [
    "train",
    "data",
    "predict",
    "render",
    "evaluate",
    "capture",
    "compare",
    "sweep",
    "insights",
    "app",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explainer",
        description="See how a convolutional network reads a handwritten digit.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"explainer.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _extra_ok=getattr(module, "ACCEPTS_EXTRA", False))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args._extra_ok:  # only `explainer app` passes options on (to Streamlit)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args._extra_ok:
        args.extra = extra
    try:
        return int(args._run(args) or 0)
    except ExplainerError as exc:
        print(f"explainer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("explainer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
