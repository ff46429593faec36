"""Fit temperature scaling and the out-of-distribution statistics of every shipped checkpoint
(or those named) on the seeded validation split, and store them in the ``.pt`` file under
``calibration`` (every other field is kept as it is; the file is rewritten atomically).

    .venv/bin/python scripts/calibrate_models.py [mnist_bn_cnn ...] [--dry-run]

Needs the full dataset (EXPLAINER_DATA_DIR or --data-dir). See explainer/nets/calibration.py and
explainer/nets/ood.py for what is fitted.
"""

from __future__ import annotations

import argparse
import time

import torch


def calibrate_file(path, data_dir=None, dry_run: bool = False) -> dict:
    from explainer.data import load_train_val
    from explainer.nets import ood
    from explainer.nets.calibration import KEY, calibration_entry
    from explainer.nets.checkpoints import load_checkpoint, save_checkpoint
    from explainer.nets.inference import predict_logits

    ckpt = load_checkpoint(path)
    cfg = ckpt.config or {}
    frac, seed = float(cfg.get("val_fraction", 0.15)) or 0.15, int(cfg.get("seed", 0))
    _, val = load_train_val(ckpt.dataset, frac, seed, data_dir)
    logits = predict_logits(ckpt.model, val.floats())
    split = f"{ckpt.dataset} validation split (val_fraction {frac}, seed {seed})"
    entry = calibration_entry(logits, val.labels, split)
    entry["ood"] = ood.fit_rule(logits, val.images.numpy() / 255.0).to_dict()
    if not dry_run:
        payload = torch.load(path, map_location="cpu", weights_only=True)  # as stored
        payload[KEY] = entry
        save_checkpoint(path, payload)
    return entry


def main() -> None:
    from explainer.nets.checkpoints import resolve_checkpoint, shipped_checkpoints

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--data-dir")
    ap.add_argument("--dry-run", action="store_true", help="fit and print, write nothing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    paths = [resolve_checkpoint(m) for m in args.models] or shipped_checkpoints()
    for p in paths:
        t0 = time.perf_counter()
        e = calibrate_file(p, args.data_dir, dry_run=args.dry_run)
        print(
            f"{p.stem}: T={e['temperature']:.3f}, ECE {e['ece_before']:.4f} -> "
            f"{e['ece_after']:.4f}, OOD threshold {e['ood']['threshold']:.1f} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
