"""Ctrl-C always reaches the command, even when it lands inside a clean-up callback.

Python cannot raise an exception from a weakref or import-lock callback; a Ctrl-C that
arrives there is printed as "Exception ignored in ... KeyboardInterrupt" (a traceback) and
then lost, so the command runs on. :func:`deliver_interrupts_to_main` makes such a lost
Ctrl-C arrive again in the main thread a moment later, where the command line ends quietly
with status 130 (and ``explainer train`` keeps its last finished epoch).
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
from typing import Any

AGAIN_AFTER_S = 0.05  # long enough for the callback that swallowed the Ctrl-C to return


def quiet_while_starting() -> None:
    """When this process is the ``explainer`` command starting, Ctrl-C ends it at once, quietly
    (a library import elsewhere leaves Ctrl-C alone)."""
    command = sys.orig_argv[1:3] == ["-m", "explainer"]
    script = os.path.basename(sys.argv[0] if sys.argv else "") in ("explainer", "explainer.exe")
    if command or script:
        signal.signal(signal.SIGINT, _end_now)


def _end_now(_signum: int, _frame: Any) -> None:
    sys.stderr.write("explainer: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def deliver_interrupts_to_main() -> None:
    """Ctrl-C raises KeyboardInterrupt again (after :func:`quiet_while_starting`), and (once)
    the hook that re-delivers a Ctrl-C Python could not raise is installed."""
    if signal.getsignal(signal.SIGINT) is _end_now:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if getattr(sys.unraisablehook, "_explainer", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if unraisable.exc_type is None or not issubclass(unraisable.exc_type, KeyboardInterrupt):
            previous(unraisable)
            return
        while True:  # the re-delivered Ctrl-C may land in this hook: then schedule it again
            try:
                _interrupt_main_later()
                return
            except KeyboardInterrupt:
                continue

    hook._explainer = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _interrupt_main_later() -> None:
    timer = threading.Timer(AGAIN_AFTER_S, _thread.interrupt_main)
    timer.daemon = True
    timer.start()
