"""Bench: are digits drawn with a thick canvas brush read right? Prints each rate and PASS/MISS.

Goal (issue 18): digits drawn with a thick canvas brush in handwriting styles the project has
not seen are read right at least 97% of the time, through the real preprocessing.

- ``skeleton digits, thick brush``: the held-out digit skeletons of
  :mod:`explainer.reading.heldout` (a style that is not MNIST's), wobbled by its hand and drawn
  on the app's 280×280 canvas with a brush 26-48 px wide (:data:`WIDTHS`, the thick family's
  range; the held-out canvas style itself uses 14-34 px), transparent or black background;
- ``MNIST test in family thick``: MNIST test digits as thick canvas strokes
  (:func:`explainer.reading.testsets.thick`, the project's own thick-brush family).

Each row also gives the share flagged "not a digit" (a flagged digit is not read right either
in the app, which says first that it does not look like a digit). Measured only: nothing here
is tuned on these pictures. About 1 minute on one CPU thread.

    .venv/bin/python bench/bench_thick.py [--model mnist_bn_cnn] [--n 500]
    .venv/bin/python bench/bench_thick.py --by-width   # the held-out 1 and 6 at each brush width
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

GOAL = 0.97
WIDTHS = (26, 49)  # brush width in px on the 280-px canvas (numpy's high end is exclusive)


BY_WIDTH = (14, 20, 26, 34, 42, 48)  # --by-width: the canvas style's brushes and the thick ones


def thick_skeleton(
    label: int, rng: np.random.Generator, width: int | None = None, transparent: bool | None = None
) -> np.ndarray:
    """The held-out skeleton of ``label`` in a wobbling hand, drawn with a brush ``width`` px
    wide (random in :data:`WIDTHS` when not given) on a 280×280 canvas: ``(280, 280, 4)`` RGBA
    or ``(280, 280, 3)`` uint8, white ink."""
    from explainer.reading.heldout import DIGITS, draw, wobble
    from explainer.reading.testsets import canvas

    strokes = wobble(DIGITS[label], rng)
    side = int(rng.integers(150, 230))
    top, left = (int(v) for v in rng.integers(20, 260 - side, 2))
    width = int(rng.integers(*WIDTHS)) if width is None else width
    ink = draw(strokes, (280, 280), (top, left, side, side), width)
    return canvas(ink, transparent=bool(rng.integers(2)) if transparent is None else transparent)


def by_width(pred, per_digit: int = 60) -> None:
    """Print how often the held-out style's 1 and 6 (the digits it misses) are read right, and
    what they are read as, with each brush of :data:`BY_WIDTH` (is it the brush or the style?),
    then all ten digits as the held-out canvas style draws them."""
    from bench_not_a_digit import read_all

    rng = np.random.default_rng(7)
    for width in BY_WIDTH:
        labels = np.array([1, 6] * per_digit)
        pics = [thick_skeleton(int(y), rng, width, transparent=True) for y in labels]
        x, _ = read_all(pics)
        guess = pred.logits(x).argmax(1)
        cells = []
        for d in (1, 6):
            read = np.bincount(guess[labels == d], minlength=10)
            other = ", ".join(f"{k}: {n}" for k, n in enumerate(read) if n and k != d) or "-"
            cells.append(f"{d} read right {read[d] / per_digit:4.0%} (else as {other})")
        print(f"  brush {width:>2} px: " + "; ".join(cells))
    from explainer.reading.heldout import make_heldout

    held = make_heldout("digits", "canvas", 300, seed=5)  # the held-out canvas style's brushes
    x, _ = read_all([p for p, _ in held])
    labels = np.array([int(y) for _, y in held])
    right = pred.logits(x).argmax(1) == labels
    per = " ".join(f"{d}:{right[labels == d].mean():.0%}" for d in range(10))
    print(f"  all ten, the canvas style's own brushes (14-34 px): {right.mean():.2%} of "
          f"{len(right)}; by digit {per}")  # fmt: skip


def read(pred, pictures: list, labels: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Accuracy, share flagged, and the per-picture ``(N,)`` bool "read right" of ``pictures``
    sent through the preprocessing and ``pred``'s model (a blank read counts as wrong)."""
    from bench_not_a_digit import read_all  # the same preprocessing loop (bench/ is on the path)

    x, strokes = read_all(pictures)
    ok = ~np.isnan(strokes)
    right = (pred.logits(x).argmax(1) == labels) & ok
    flagged = np.array([bool(r) for r in pred.not_a_digit(x, np.nan_to_num(strokes))])
    return float(right.mean()), float(flagged.mean()), right


def main() -> None:
    from bench_not_a_digit import interval

    from explainer.data import load_split
    from explainer.reading import testsets
    from explainer.reading.predict import Predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist_bn_cnn")
    ap.add_argument("--n", type=int, default=500, help="pictures per set")
    ap.add_argument("--data-dir")
    ap.add_argument("--by-width", action="store_true", help="only the 1 and 6 per brush width")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    pred = Predictor(args.model)
    if args.by_width:
        print(f"{args.model}, the held-out style's 1 and 6, 60 of each per brush width:")
        by_width(pred)
        print(f"({time.perf_counter() - t0:.0f} s)")
        return
    rng = np.random.default_rng([2026, 97])
    labels = np.arange(args.n) % 10
    sets = {"skeleton digits, thick brush": ([thick_skeleton(int(y), rng) for y in labels],
                                             labels)}  # fmt: skip
    test = load_split("mnist", train=False, data_dir=args.data_dir)
    digits, ys = test.images.numpy()[: args.n], test.labels.numpy()[: args.n]
    sets["MNIST test in family thick"] = (
        [p for p, _ in testsets.make_family("thick", digits, ys, seed=2026)],
        ys,
    )
    print(f"{args.model}, digits drawn with a thick canvas brush, read right:")
    for name, (pics, ys) in sets.items():
        acc, flagged, right = read(pred, pics, ys)
        per = " ".join(f"{d}:{right[ys == d].mean():.0%}" for d in range(10))
        mark = "PASS" if acc >= GOAL else "MISS"
        print(f"  {name:<30} {acc:7.2%} of {len(ys):>4} ({interval(right)})  {mark} "
              f"(goal >= {GOAL:.0%}); flagged {flagged:.1%}; by digit {per}")  # fmt: skip
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
