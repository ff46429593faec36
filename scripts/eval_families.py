"""Accuracy of every synthetic family (explainer.reading.testsets), per model: MNIST-style
preprocessing against a plain resize of the whole picture, plus the "not a digit" flag rates.

    .venv/bin/python scripts/eval_families.py [--n 200] [--models mnist_bn_cnn,mnist_tinyvgg]

Prints a Markdown table (the one in README, section evaluate). Digits are official MNIST test
digits when EXPLAINER_DATA_DIR has them, else the bundled sample (seeded picks, 1 per index).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def pick_digits(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    from explainer.data import load_test_or_sample

    split, _ = load_test_or_sample("mnist")
    idx = np.random.default_rng(seed).permutation(len(split))[:n]
    return split.images.numpy()[idx], split.labels.numpy()[idx]


def main() -> None:
    import torch

    from explainer.nets.checkpoints import shipped_checkpoints
    from explainer.reading import testsets
    from explainer.reading.images import PreprocessError
    from explainer.reading.predict import Predictor
    from explainer.reading.preprocess import plain_resize, preprocess

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--models", default="")
    ap.add_argument("--families", default="")
    ap.add_argument("--ood", type=int, default=0, help="pictures per not-a-digit kind")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = (
        args.models.split(",") if args.models else [p.stem for p in shipped_checkpoints("mnist")]
    )
    preds = {m: Predictor(m) for m in names}
    fams = args.families.split(",") if args.families else list(testsets.ALL_FAMILIES)
    digits, labels = pick_digits(args.n)
    print("| family | " + " | ".join(f"`{m}` (plain)" for m in names) + " | flagged |")
    print("|---|" + "---:|" * (len(names) + 1))
    for fam in fams:
        t0 = time.perf_counter()
        pics = testsets.make_family(fam, digits, labels, seed=0)
        ys = np.array([y for _, y in pics])
        ours, plain, strokes = [], [], []
        for pic, _ in pics:
            try:
                pre = preprocess(pic)
                ours.append(pre.image)
                strokes.append(pre.stroke)
            except PreprocessError:
                ours.append(np.zeros((28, 28), np.float32))
                strokes.append(0.0)
            plain.append(plain_resize(pic))
        ours, plain = np.stack(ours), np.stack(plain)
        cells = []
        for p in preds.values():
            a = (p.probabilities(ours).argmax(1) == ys).mean()
            b = (p.probabilities(plain).argmax(1) == ys).mean()
            cells.append(f"{a:.1%} ({b:.1%})")
        first = next(iter(preds.values()))
        flagged = np.mean([bool(r) for r in first.not_a_digit(ours, np.array(strokes))])
        dt = time.perf_counter() - t0
        print(f"| {fam} | " + " | ".join(cells) + f" | {flagged:.1%} |  <!-- {dt:.0f}s -->",
              flush=True)  # fmt: skip
    if args.ood:
        not_digits(first, args.ood)


def not_digits(predictor, n: int) -> None:
    """Flag rates of the not-a-digit kinds (a picture with no ink at all counts as caught)."""
    from explainer.reading import testsets
    from explainer.reading.preprocess import NoInkError

    print(f"\n| not a digit ({n} each) | flagged | of which no ink at all |\n|---|---:|---:|")
    for kind in testsets.NOT_DIGITS:
        flagged = blank = 0
        for pic in testsets.make_not_digits(kind, n, seed=11):
            try:
                flagged += predictor.predict(pic).not_a_digit
            except NoInkError:
                blank += 1
        print(f"| {kind} | {(flagged + blank) / n:.1%} | {blank / n:.1%} |", flush=True)


if __name__ == "__main__":
    main()
