"""Fit temperature scaling and the out-of-distribution statistics of every shipped checkpoint
(or those named) on the seeded validation split, and store them in the ``.pt`` file under
``calibration`` (every other field is kept as it is; the file is rewritten atomically).

    .venv/bin/python scripts/calibrate_models.py [mnist_bn_cnn ...] [--dry-run]

Needs the full dataset (EXPLAINER_DATA_DIR or --data-dir). See explainer/calibration.py and
explainer/ood.py for what is fitted.
"""

from __future__ import annotations

import argparse
import time

import torch


def calibrate_file(path, data_dir=None, fit_images: int = 10_000, dry_run: bool = False) -> dict:
    from explainer import ood
    from explainer.calibration import KEY, calibration_entry
    from explainer.checkpoints import load_checkpoint, save_checkpoint
    from explainer.data import load_train_val

    ckpt = load_checkpoint(path)
    cfg = ckpt.config or {}
    frac, seed = float(cfg.get("val_fraction", 0.15)) or 0.15, int(cfg.get("seed", 0))
    train, val = load_train_val(ckpt.dataset, frac, seed, data_dir)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:fit_images]
    fit_set = train.subset(pick)
    val_logits, val_feats = ood.logits_and_features(ckpt.model, val.floats())
    _, fit_feats = ood.logits_and_features(ckpt.model, fit_set.floats())
    split = f"{ckpt.dataset} validation split (val_fraction {frac}, seed {seed})"
    entry = calibration_entry(val_logits, val.labels, split)
    k = len(ckpt.class_names) or val_logits.shape[1]
    model = ood.calibrate(ood.fit(fit_feats, fit_set.labels, k), val_feats)
    entry["ood"] = model.to_dict(ood.QUANTILE, ood.feature_layer(ckpt.model)[0])
    entry["ood"]["fit_images"] = len(fit_set)
    if not dry_run:
        payload = dict(ckpt.raw)
        payload[KEY] = entry
        save_checkpoint(path, payload)
    return entry


def main() -> None:
    from explainer.checkpoints import resolve_checkpoint, shipped_checkpoints

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
