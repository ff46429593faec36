"""What a finished training run reports: test metrics, the chance-level warning, the model card.

The model card ``<out>.json`` sits beside the checkpoint: the recipe, seed, time, device, the
test metrics and the ``explainer train`` command line that re-creates the run
(:func:`reproduce_command`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from explainer.data import Split
from explainer.io import write_text_atomic
from explainer.nets import user_code
from explainer.nets.architectures import count_parameters, describe
from explainer.nets.inference import accuracy, pick_device, predict_logits
from explainer.nets.train_config import History, TrainConfig


def chance_warning(best_val_accuracy: float, classes: int) -> str:
    """A warning when the best validation accuracy is close to chance level: below chance plus
    a ninth of the way to 100% (20% for 10 classes)."""
    chance = 1 / classes
    if not (math.isfinite(best_val_accuracy) and best_val_accuracy < chance + (1 - chance) / 9):
        return ""
    return (
        f"the best validation accuracy is {best_val_accuracy:.1%}, about chance level "
        f"({1 / classes:.0%} for {classes} classes): this model learned nothing useful; try a "
        "smaller --lr, another --optimizer or more epochs"
    )


def test_metrics(model: nn.Module, test: Split, batch_size: int = 1000) -> dict[str, Any]:
    """Accuracy, loss, error count, per-class accuracy and throughput on a test split."""
    t0 = time.perf_counter()
    logits = predict_logits(model, test.floats(), batch_size)
    seconds = time.perf_counter() - t0
    pred = logits.argmax(1)
    per_class = [
        (pred[test.labels == k] == k).float().mean().item()
        if (test.labels == k).any()
        else float("nan")
        for k in range(logits.shape[1])
    ]
    return {
        "test_accuracy": accuracy(logits, test.labels),
        "test_loss": F.cross_entropy(logits, test.labels).item(),
        "test_errors": int((pred != test.labels).sum()),
        "test_images": len(test),
        "per_class_accuracy": per_class,
        "eval_images_per_second": len(test) / max(seconds, 1e-9),
    }


def write_model_card(out: Path, c: TrainConfig, hist: History, model: nn.Module) -> Path:
    """``<out>.json`` beside the checkpoint: recipe, seed, time, test accuracy, how to reproduce."""
    from explainer.nets.checkpoints import file_hash

    if c.code:
        title, summary = user_code.describe_class(type(model))
        name = type(model).__name__
    else:
        arch = describe(c.arch)
        title, summary, name = arch.title, arch.summary, c.arch
    card = {
        "name": out.stem,
        "architecture": name,
        **({"code": c.code} if c.code else {}),
        "title": title,
        "summary": summary,
        "parameters": count_parameters(model),
        "dataset": c.dataset,
        "recipe": c.recipe(),
        "seed": c.seed,
        "epochs_run": len(hist.epochs),
        "best_epoch": hist.best_epoch,
        "best_val_accuracy": hist.best_val_accuracy,
        "train_seconds": round(sum(r["seconds"] for r in hist.epochs), 1),
        "device": str(pick_device(c.device)),
        "torch_version": str(torch.__version__),
        "checkpoint_sha256": file_hash(out),
        "file_bytes": out.stat().st_size,
        **{k: v for k, v in hist.test_metrics.items()},
        **({"warnings": hist.warnings} if hist.warnings else {}),
        "reproduce": reproduce_command(c),
    }
    return write_text_atomic(out.with_suffix(".json"), json.dumps(card, indent=2) + "\n")


def reproduce_command(c: TrainConfig) -> str:
    """The ``explainer train`` command line that re-creates this recipe."""
    default = TrainConfig()
    parts = ["explainer train", f"--code {c.code}" if c.code else c.arch]
    for f in fields(c):
        if f.name in {
            "arch",
            "code",
            "out",
            "resume",
            "data_dir",
            "progress",
            "dry_run",
            "device",
            "evaluate_test",
        }:
            continue
        value = getattr(c, f.name)
        if value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif isinstance(value, list):
            parts.append(f"{flag} {','.join(map(str, value))}")
        elif isinstance(value, dict):
            parts.append(f"{flag} '{json.dumps(value)}'")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)
