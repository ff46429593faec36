"""How fast does the command line answer ``--help``? Each as a ratio to ``python -c pass``.

Goal (issue 20): ``explainer --help`` and every ``explainer COMMAND --help`` in at most 0.3 s,
i.e. little more than starting Python (the heavy libraries, torch first, are imported only by
the command that runs). Each is timed ``--repeat`` times in a fresh process (the median is
kept), next to ``python -c pass`` measured the same way in the same run; the load is said.

Usage: ``python bench/bench_cli.py [--repeat 5]``. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

GOAL_S = 0.3


def median_seconds(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    from explainer.cli import COMMANDS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"bench_cli: --help, median of {args.repeat} fresh processes, load {load}")
    base = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    print(f"  {'python -c pass':<28} {base:6.3f} s")
    ok = True
    for command in ["", *COMMANDS]:
        argv = [sys.executable, "-m", "explainer", *([command] if command else []), "--help"]
        took = median_seconds(argv, args.repeat)
        good = took <= GOAL_S
        ok &= good
        name = f"explainer {command} --help".replace("  ", " ")
        print(
            f"  {name:<28} {took:6.3f} s = {took / base:5.1f}x python -c pass"
            f"  {'PASS' if good else 'FAIL'}"
        )
    print(f"  goal: <= {GOAL_S} s each")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
