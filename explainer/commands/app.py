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
# The checkout's .streamlit/config.toml, which Streamlit reads only when started in the checkout
# (tests/test_package.py keeps the two equal). Given as environment variables, so the learner's
# own options on the command line still win.
STREAMLIT_DEFAULTS = {
    "server.maxUploadSize": 10,
    "server.runOnSave": False,
    "server.fileWatcherType": "none",
    "runner.postScriptGC": False,
    "browser.gatherUsageStats": False,
    "client.toolbarMode": "minimal",
    "client.showErrorDetails": "type",
    "theme.base": "light",
    "theme.primaryColor": "#1f6fd1",
    "theme.font": "sans serif",
}

# glibc's malloc for a server whose sessions run in threads: two arenas (not one per thread,
# each keeping its own freed pages) and blocks of 1 MB or more mapped on their own, so a batch
# of activations goes back to the system when freed (one learner's visit of every page with an
# upload: a 60 MB lower peak, half as much kept after it). Set only when not set already.
MALLOC_DEFAULTS = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": str(2**20)}


def env_name(option: str) -> str:
    """``server.maxUploadSize`` -> ``STREAMLIT_SERVER_MAX_UPLOAD_SIZE`` (Streamlit's rule)."""
    snake = "".join(f"_{c}" if c.isupper() else c for c in option.replace(".", "_"))
    return f"STREAMLIT_{snake.upper()}"


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
    from explainer.extras import require

    require("app", "explainer app")
    cmd = streamlit_command(list(args.extra))
    env = dict(os.environ)
    for option, value in STREAMLIT_DEFAULTS.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        env.setdefault(env_name(option), text)
    for name, value in MALLOC_DEFAULTS.items():
        env.setdefault(name, value)
    if os.name == "posix":  # become Streamlit: one process, so a signal reaches the server
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    return subprocess.call(cmd, env=env)
