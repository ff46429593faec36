"""The ``explainer`` command line: one sub-command per module in :mod:`explainer.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports its heavy dependencies inside ``run`` so ``--help`` is quick.
Problems the user can fix (:class:`~explainer.errors.ExplainerError`) are printed as one line
``explainer: error: ...`` with exit status 2, never as a traceback; a stdout closed by its
reader (``explainer --help | head -1``) ends the command quietly with status 141.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from explainer import __version__
from explainer.errors import ExplainerError
from explainer.interrupts import deliver_interrupts_to_main
from explainer.io import os_error_text
from explainer.text import SafeStream, terminal_safe

SIGPIPE = 13  # Linux and macOS; signal.SIGPIPE does not exist on Windows

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
    "export-page",
]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command (``command`` None), or of ``command`` alone: the others
    get their one-line help and no options, so ``explainer --help`` and ``explainer X --help``
    import no other command's dependencies (torch for ``train``'s architectures)."""
    parser = argparse.ArgumentParser(
        prog="explainer",
        description="See how a convolutional network reads a handwritten digit.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"explainer.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        if command is None or name == command:
            module.add_arguments(p)
        p.set_defaults(_run=module.run, _extra_ok=getattr(module, "ACCEPTS_EXTRA", False))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. A reader that closes our stdout early
    (``explainer ... | head -1``) ends the command quietly with status 141, as a Unix tool
    killed by SIGPIPE does (so ``set -o pipefail`` scripts see what they see with ``cat``).
    Everything printed goes through :class:`~explainer.text.SafeStream`: names and messages
    that came from files cannot rewrite the terminal, nor fail on a strict encoding."""
    deliver_interrupts_to_main()
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(streams[0]), SafeStream(streams[1], progress=True)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    try:
        try:
            return _run(argv)
        finally:  # what is still buffered goes out here, where a closed pipe can be caught
            sys.stdout.flush()
    except BrokenPipeError:
        return closed_stdout()
    except KeyboardInterrupt:  # Ctrl-C, whenever it comes: start-up included
        print("explainer: interrupted", file=sys.stderr)
        return 130


def closed_stdout() -> int:
    """After a write to a closed stdout: point stdout at /dev/null (so the flush at exit
    cannot fail again) and return 141 (128 + SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + SIGPIPE


def chosen_command(argv: list[str] | None) -> str:
    """The command ``argv`` names: its first word that is not an option ("" when none)."""
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), "")


def _run(argv: list[str] | None) -> int:
    parser = build_parser(chosen_command(argv))
    args, extra = parser.parse_known_args(argv)
    if extra and not args._extra_ok:  # only `explainer app` passes options on (to Streamlit)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args._extra_ok:
        args.extra = extra
    try:
        return int(args._run(args) or 0)
    except ExplainerError as exc:
        print(f"explainer: error: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as exc:  # a fault of the machine: full disk, name too long, no permission
        print(f"explainer: error: {os_error_text(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
