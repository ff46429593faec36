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
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

GOAL = 0.97
WIDTHS = (26, 49)  # brush width in px on the 280-px canvas (numpy's high end is exclusive)


def thick_skeleton(label: int, rng: np.random.Generator) -> np.ndarray:
    """The held-out skeleton of ``label`` in a wobbling hand, drawn with a thick brush on a
    280×280 canvas: ``(280, 280, 4)`` RGBA or ``(280, 280, 3)`` uint8, white ink."""
    from explainer.reading.heldout import DIGITS, draw, wobble
    from explainer.reading.testsets import canvas

    strokes = wobble(DIGITS[label], rng)
    side = int(rng.integers(150, 230))
    top, left = (int(v) for v in rng.integers(20, 260 - side, 2))
    ink = draw(strokes, (280, 280), (top, left, side, side), int(rng.integers(*WIDTHS)))
    return canvas(ink, transparent=bool(rng.integers(2)))


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
    from explainer.data import load_split
    from explainer.reading import testsets
    from explainer.reading.predict import Predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist_bn_cnn")
    ap.add_argument("--n", type=int, default=500, help="pictures per set")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    pred = Predictor(args.model)
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
        print(f"  {name:<30} {acc:7.2%} of {len(ys):>4}  {mark} (goal >= {GOAL:.0%}); "
              f"flagged {flagged:.1%}; by digit {per}")  # fmt: skip
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
