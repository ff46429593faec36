"""``explainer app``: start the Streamlit app, from any folder, installed or in a checkout.

Every other argument goes on to ``streamlit run`` unchanged, so Streamlit's own options work:
``explainer app --server.port 8502 --server.address 0.0.0.0``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HELP = "start the Streamlit app; Streamlit's own options (--server.port 8502, ...) pass on"
ACCEPTS_EXTRA = True  # explainer.cli hands unknown options to this command instead of refusing


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Examples: `explainer app`, `explainer app --server.port 8502`, "
        "`explainer app --server.address 0.0.0.0` (a class on one network). "
        "See `streamlit run --help` for every option."
    )
    p.set_defaults(extra=[])


def streamlit_command(extra: list[str]) -> list[str]:
    """The ``python -m streamlit run <app> ...`` command line for ``extra`` options."""
    from explainer.paths import app_script

    return [sys.executable, "-m", "streamlit", "run", str(app_script()), *extra]


def run(args: argparse.Namespace) -> int:
    cmd = streamlit_command(list(args.extra))
    env = dict(os.environ)
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")  # a classroom may be offline
    if os.name == "posix":  # become Streamlit: one process, so a signal reaches the server
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    return subprocess.call(cmd, env=env)
