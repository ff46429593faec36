"""How much does capturing cost? Ratios against a plain forward pass, measured in one run.

Goals (issue 10): recording the whole dataflow graph costs at most 1.25x a plain ``model(x)``
at batch 1 and at most 1.20x at batch 256, for ``bn_cnn``. Goal (issue 17): for models with
a ``forward`` of their own, where every torch call between layers is recorded too, at most
1.5x at batch 1, for torchvision's resnet18 adapted to MNIST and for the network of
pytorch/examples ``mnist/main.py`` (``F.relu``, ``F.max_pool2d``, ``torch.flatten``,
``F.log_softmax``). Both sides run under ``torch.no_grad`` in eval mode on the same input,
interleaved (plain, captured, plain, captured...) so that background load hits both alike; we
report medians after a warm-up, and the load average before and after.

- batch 1: ``capture(model, image)`` end to end, i.e. every record with its inputs, output,
  weights and statistics, and the finished :class:`~explainer.tracing.trace.Trace` object;
- batch 256: ``capture_batch(model, images, reduce="none")``, every layer's outputs for all
  256 images kept as arrays, and ``reduce="stats"`` (per-channel mean/max/min/zeros), shown
  for information.

Huge pages: keeping every layer's outputs at batch 256 asks for ~300 MB of fresh memory per
call, and its page faults were most of the batch-256 cost; the package turns on PyTorch's
huge pages for large tensors (:mod:`explainer.huge_pages`), and the bench says whether they
are on (``THP_MEM_ALLOC_ENABLE=0 python bench/bench_capture.py`` measures without).

Usage: ``python bench/bench_capture.py [--arch bn_cnn tinyvgg ...] [--own examples resnet18]
[--threads 1] [--repeats N]`` (on a shared machine: ``taskset -c 1 python ...``).
Exit status 1 when the flagship model (the first ``--arch``) or a ``--own`` model misses a goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from explainer.data import load_sample
from explainer.nets.architectures import build
from explainer.tracing.batch import capture_batch
from explainer.tracing.capture import capture

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from zoo import ExamplesNet, resnet18  # the test zoo's copies, as users write them

GOAL_B1, GOAL_B256, GOAL_OWN = 1.25, 1.20, 1.5
CLOCK = time.perf_counter  # --clock cpu: this thread's CPU time, blind to other processes


def paired_medians(base: Callable[[], object], other: Callable[[], object], repeats: int):
    """Median seconds of ``base`` and ``other``, run alternately after two warm-up rounds."""
    for _ in range(2):
        base(), other()
    a, b = [], []
    for _ in range(repeats):
        t0 = CLOCK()
        base()
        t1 = CLOCK()
        other()
        t2 = CLOCK()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return statistics.median(a), statistics.median(b)


# models with a forward of their own: name -> (builder, whether the 1.5x goal applies)
OWN: dict[str, tuple[Callable[[], nn.Module], bool]] = {
    "examples": (lambda: ExamplesNet(width=32), True),
    "resnet18": (resnet18, True),
    "examples_x8": (lambda: ExamplesNet(width=8), False),  # a 4x narrower copy, for information
}


def load_text() -> str:
    return "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg())


def own_forward_rows(names: list[str], x1: torch.Tensor, repeats: int) -> bool:
    """Batch-1 ratios of the models with a ``forward`` of their own; whether all meet the goal."""
    print(f"\nmodels with their own forward (goal <= {GOAL_OWN}x at batch 1)")
    print(f"{'model':<12} {'plain b1':>10} {'capture b1':>11} {'ratio':>6}")
    ok = True
    for name in names:
        build_it, has_goal = OWN[name]
        torch.manual_seed(0)
        model = build_it().eval()

        def plain(model=model) -> None:
            with torch.no_grad():
                model(x1)

        p1, c1 = paired_medians(plain, lambda model=model: capture(model, x1), repeats)
        r1 = c1 / p1
        verdict = ("meets" if r1 <= GOAL_OWN else "MISSES") if has_goal else "(no goal)"
        ok = ok and (r1 <= GOAL_OWN or not has_goal)
        print(f"{name:<12} {p1 * 1e3:>8.3f}ms {c1 * 1e3:>9.3f}ms {r1:>5.2f}x   {verdict}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["bn_cnn", "tinyvgg", "basic_cnn", "fast_cnn"])
    ap.add_argument("--own", nargs="*", default=list(OWN), choices=list(OWN),
                    help="models with a forward of their own (default: all)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--repeats", type=int, default=200, help="batch-1 rounds (batch 256: /10)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall clock, or this thread's CPU time (for a machine busy with other "
                    "jobs: preemption is not counted; needs --threads 1)")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.clock == "cpu":
        global CLOCK
        CLOCK = time.thread_time

    images = load_sample("mnist").floats()
    x1, x256 = images[:1], images[:256]
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} clock; medians of "
        "interleaved runs"
    )
    print(f"before: {load_text()}")
    thp = os.environ.get("THP_MEM_ALLOC_ENABLE", "")
    print(f"huge pages for tensors of 2 MB and more: {'off' if thp in ('', '0') else 'on'} "
          f"(THP_MEM_ALLOC_ENABLE={thp!r}: the package sets 1 unless the user set it)")  # fmt: skip
    print(
        f"{'architecture':<12} {'plain b1':>10} {'capture b1':>11} {'ratio':>6}   "
        f"{'plain b256':>10} {'keep all':>9} {'ratio':>6}   {'stats':>8} {'ratio':>6}"
    )
    ok = True
    for i, arch in enumerate(args.arch):
        model = build(arch).eval()

        def plain(x: torch.Tensor, model=model) -> None:
            with torch.no_grad():
                model(x)

        def hooked(x: torch.Tensor, reduce: str, model=model) -> None:
            if len(x) == 1:
                capture(model, x)
            else:
                capture_batch(model, x, reduce=reduce)

        p1, c1 = paired_medians(lambda: plain(x1), lambda: hooked(x1, ""), args.repeats)
        n256 = max(5, args.repeats // 10)
        p256, k256 = paired_medians(lambda: plain(x256), lambda: hooked(x256, "none"), n256)
        p256s, s256 = paired_medians(lambda: plain(x256), lambda: hooked(x256, "stats"), n256)
        r1, r256, rs = c1 / p1, k256 / p256, s256 / p256s
        print(
            f"{arch:<12} {p1 * 1e3:>8.3f}ms {c1 * 1e3:>9.3f}ms {r1:>5.2f}x   "
            f"{p256 * 1e3:>8.1f}ms {k256 * 1e3:>7.1f}ms {r256:>5.2f}x   "
            f"{s256 * 1e3:>6.1f}ms {rs:>5.2f}x"
        )
        if i == 0:
            ok = r1 <= GOAL_B1 and r256 <= GOAL_B256
            flagship = (arch, r1, r256)
    arch, r1, r256 = flagship
    verdict = "meets" if ok else "MISSES"
    print(
        f"\n{arch}: capture at batch 1 costs {r1:.2f}x a plain forward (goal <= {GOAL_B1}), "
        f"keeping every layer at batch 256 {r256:.2f}x (goal <= {GOAL_B256}): {verdict} the goals"
    )
    own_ok = own_forward_rows(args.own, x1, args.repeats)
    print(f"\nafter: {load_text()}")
    return 0 if ok and own_ok else 1


if __name__ == "__main__":
    sys.exit(main())
