"""Train the shipped "not a digit" detector (:class:`~explainer.nets.not_a_digit.DetectorNet`)
with outlier exposure and write it to ``models/not_a_digit.npz``.

Positives: the training part of MNIST's seeded train / validation split (val_fraction 0.15,
seed 0, the split of every shipped model, so their validation digits stay unseen), thick-brush,
canvas, slanted and typed versions of them, and versions re-drawn with strokes of one even width
(markers, fine pens, bold type: :func:`~explainer.reading.negatives.restyled`); negatives:
:func:`explainer.reading.negatives.negatives` (generators, Fashion-MNIST training items) and
letters, symbols and pen drawings traced by the same even pen (as many as those digits).
Binary cross-entropy, the two sides weighted equally, 14 epochs of Adam on one CPU thread.
The threshold is then fitted on the validation digits (:func:`~explainer.nets.not_a_digit.
fit_detector`), and ``--fit-shipped`` fits it for each shipped MNIST model, its energy added to
the score, into the same file; ``explainer train`` fits it for each new model on that model's
own split and stores it in the checkpoint.

    python -m explainer.reading.not_a_digit_train [--epochs 14] [--negatives 40000]
        [--restyled 20000] [--cache pos.npz neg.npz even_pos.npz even_neg.npz]
        [--only positives|negatives|restyled]
    python -m explainer.reading.not_a_digit_train --fit-shipped
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from explainer.nets.not_a_digit import Detector, DetectorNet, fit_detector
from explainer.reading.negatives import (
    negatives,
    positives,
    restyled_negatives,
    restyled_positives,
)


def train_net(
    pos: np.ndarray, neg: np.ndarray, epochs: int = 4, batch: int = 256, seed: int = 0,
    log=lambda m: print(m, flush=True),
) -> DetectorNet:  # fmt: skip
    """A :class:`DetectorNet` trained to score ``neg`` ``(M, 28, 28)`` high and ``pos``
    ``(N, 28, 28)`` low (each side's loss weighted by the other's share, so both count alike)."""
    torch.manual_seed(seed)
    x = torch.as_tensor(np.concatenate([pos, neg]), dtype=torch.float32)[:, None]
    y = torch.cat([torch.zeros(len(pos)), torch.ones(len(neg))])
    w = torch.where(y > 0, len(pos) / len(neg), 1.0)
    net = DetectorNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    steps = epochs * (len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        perm, total, t0 = torch.randperm(len(x), generator=gen), 0.0, time.perf_counter()
        net.train()
        for i in range(len(x) // batch):
            idx = perm[i * batch : (i + 1) * batch]
            loss = F.binary_cross_entropy_with_logits(net(x[idx]), y[idx], weight=w[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log(f"epoch {epoch + 1}/{epochs}: loss {total / max(1, len(x) // batch):.4f} "
            f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return net.eval()


def cached(path: str | None, make) -> np.ndarray:
    """``make()``'s pictures ``(N, 28, 28)``, kept in the ``.npz`` at ``path`` (float16) when
    given: generating them takes most of the time, so a second run reads them back."""
    from pathlib import Path

    if path and Path(path).exists():
        with np.load(path) as z:
            return z["x"].astype(np.float32)
    x = make()
    if path:
        np.savez(path, x=x.astype(np.float16))
    return x


def fit_shipped(path) -> dict:
    """Fit the companion detector at ``path`` again (its own threshold, on the validation
    digits of the shipped split) and for every shipped MNIST checkpoint (its own validation
    split, its logits' energy added to the score, see
    :func:`explainer.nets.not_a_digit_fit.fit_with_ink`), and store the fits in the file."""
    from explainer.data import load_train_val
    from explainer.nets.checkpoints import load_checkpoint, shipped_checkpoints
    from explainer.nets.inference import predict_logits
    from explainer.nets.not_a_digit import load_companion, save_companion
    from explainer.nets.not_a_digit_fit import fit_with_ink
    from explainer.nets.ood import OodRule, fit_rule

    _, val = load_train_val("mnist", 0.15, 0)
    det, fits = fit_detector(load_companion(path), val.images.numpy() / 255.0), {}
    print(f"the detector alone: threshold {det.threshold:.3f}", flush=True)
    for ckpt_path in shipped_checkpoints("mnist"):
        ckpt = load_checkpoint(ckpt_path)
        cfg = ckpt.config or {}
        frac, seed = float(cfg.get("val_fraction", 0.15)) or 0.15, int(cfg.get("seed", 0))
        _, val = load_train_val("mnist", frac, seed)
        logits = predict_logits(ckpt.model, val.floats())
        images = val.images.numpy() / 255.0
        rule = OodRule.from_raw(ckpt.raw or {}) or fit_rule(logits, images)
        fits[ckpt_path.stem] = fit_with_ink(det, images, logits.numpy(), rule)
        f = fits[ckpt_path.stem]
        print(f"{ckpt_path.stem}: threshold {f.threshold:.3f}, {f.val_flagged:.2%} of "
              "validation digits flagged", flush=True)  # fmt: skip
    save_companion(det, path, fits)
    return fits


def main() -> None:
    from explainer.data import load_split, load_train_val
    from explainer.nets.checkpoints import models_dir
    from explainer.nets.not_a_digit import companion_path, save_companion

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--negatives", type=int, default=40000)
    ap.add_argument("--augmented", type=int, default=60000, help="digits drawn other ways")
    ap.add_argument(
        "--restyled", type=int, default=20000, help="digits (and as many not) with even strokes"
    )
    ap.add_argument("--data-dir")
    ap.add_argument("--out", help="default: models/not_a_digit.npz")
    ap.add_argument(
        "--cache",
        nargs=4,
        metavar=("POS.npz", "NEG.npz", "EVEN_POS.npz", "EVEN_NEG.npz"),
        help="keep the generated pictures in these files (made once)",
    )
    ap.add_argument(
        "--fit-shipped",
        action="store_true",
        help="only fit the existing detector (--out) for each shipped MNIST model",
    )
    ap.add_argument(
        "--only",
        choices=["positives", "negatives", "restyled"],
        help="only generate (and cache) one set, then stop: run them at once",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if args.fit_shipped:
        fit_shipped(args.out or companion_path(models_dir()))
        return
    train, val = load_train_val("mnist", 0.15, 0, args.data_dir)
    cache_pos, cache_neg, cache_even, cache_odd = args.cache or (None, None, None, None)
    pos = neg = even = odd = None
    digits = train.images.numpy()
    if args.only in (None, "positives"):
        pos = cached(cache_pos, lambda: positives(digits, args.augmented, seed=0))
    if args.only in (None, "restyled"):
        even = cached(cache_even, lambda: restyled_positives(digits, args.restyled, seed=0))
        odd = cached(cache_odd, lambda: restyled_negatives(args.restyled, seed=0))
    if args.only in (None, "negatives"):
        fashion = load_split("fashion_mnist", True, args.data_dir).images.numpy()
        neg = cached(cache_neg, lambda: negatives(args.negatives, fashion, seed=0))
    print(f"pictures ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.only:
        return
    pos, neg = np.concatenate([pos, even]), np.concatenate([neg, odd])
    print(f"{len(pos)} digits, {len(neg)} negatives", flush=True)
    net = train_net(pos, neg, args.epochs)
    det = fit_detector(Detector(net, 0.0), val.images.numpy() / 255.0)
    out = save_companion(det, args.out or companion_path(models_dir()))
    print(f"threshold {det.threshold:.3f}: {det.val_flagged:.2%} of validation digits flagged; "
          f"wrote {out} ({time.perf_counter() - t0:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
