"""Training: ``fit(TrainConfig(...)) -> History``.

The whole split lives in memory as one tensor; each epoch draws a seeded permutation and
(optionally) augments each batch with one batched affine warp. Every epoch is seeded with
``seed * 1000 + epoch``, so a run is reproducible on one device and ``--resume`` continues it
exactly. Checkpoints: the best epoch (by validation accuracy) goes to ``out``, the latest state
with optimizer and scheduler to ``<out>.last.pt`` (for ``--resume``), and epoch snapshots to
``<out folder>/snapshots/<name>_epochNN.pt``. Ctrl-C saves the latest state and stops cleanly.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from explainer.architectures import Network, build, count_parameters, describe
from explainer.augment import random_affine
from explainer.checkpoints import make_payload, read_payload, save_checkpoint
from explainer.data import Split, dataset_info, load_split, load_train_val
from explainer.errors import ExplainerError
from explainer.inference import accuracy, pick_device, predict_logits
from explainer.io import write_text_atomic

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = ("onecycle", "plateau", "step", "none")


@dataclass
class TrainConfig:
    """A training recipe. Every field is also a ``explainer train`` option."""

    arch: str = "bn_cnn"
    dataset: str = "mnist"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "onecycle"
    step_size: int = 5
    gamma: float = 0.5
    patience: int = 0
    augment: bool = False
    rotation: float = 10.0
    shift: float = 0.1
    scale: float = 0.1
    label_smoothing: float = 0.0
    val_fraction: float = 0.15
    seed: int = 0
    device: str = "auto"
    dry_run: bool = False
    save_every: int = 0
    snapshot_epochs: list[int] = field(default_factory=list)
    out: str | None = None
    resume: bool = False
    data_dir: str | None = None
    channels_last: bool = True
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    train_limit: int = 0
    max_seconds: float = 0.0
    evaluate_test: bool = True
    progress: bool = True

    def validate(self) -> None:
        describe(self.arch)
        dataset_info(self.dataset)
        if self.optimizer not in OPTIMIZERS:
            raise ExplainerError(f"unknown optimizer {self.optimizer!r}; choose {OPTIMIZERS}")
        if self.scheduler not in SCHEDULERS:
            raise ExplainerError(f"unknown scheduler {self.scheduler!r}; choose {SCHEDULERS}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ExplainerError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ExplainerError(f"learning rate must be a positive number, got {self.lr}")

    def recipe(self) -> dict[str, Any]:
        """The fields that define the result (not where files go or how it is displayed)."""
        skip = {"out", "resume", "data_dir", "progress", "dry_run", "device"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


@dataclass
class History:
    """What ``fit`` returns: per-epoch records, the outcome, and the trained (best) model."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = 0.0
    test_metrics: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    interrupted: bool = False
    diverged: bool = False
    seconds: float = 0.0
    checkpoint: Path | None = None
    model: nn.Module | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self) | {"checkpoint": str(self.checkpoint) if self.checkpoint else None}
        d.pop("model")
        return d


ProgressCallback = Callable[[dict[str, Any]], None]


def default_out(config: TrainConfig) -> Path:
    from explainer.checkpoints import models_dir

    return models_dir() / f"{config.dataset}_{config.arch}.pt"


def last_path(out: Path) -> Path:
    return out.with_name(out.stem + ".last.pt")


def snapshot_path(out: Path, epoch: int) -> Path:
    return out.parent / "snapshots" / f"{out.stem}_epoch{epoch:02d}.pt"


def make_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    if c.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=c.lr,
            momentum=c.momentum,
            nesterov=c.momentum > 0,
            weight_decay=c.weight_decay,
        )
    return torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, c: TrainConfig, steps_per_epoch: int):
    total = c.epochs * steps_per_epoch
    if c.scheduler == "onecycle" and total >= 3:  # shorter runs keep a constant lr
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=c.lr,
            total_steps=total,
            pct_start=max(0.25, 2 / total),
        )
    if c.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=c.gamma, patience=1
        )
    if c.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=c.step_size, gamma=c.gamma)
    return None


def fit(
    config: TrainConfig,
    data: tuple[Split, Split] | None = None,
    test: Split | None = None,
    callback: ProgressCallback | None = None,
) -> History:
    """Train ``config.arch`` on ``config.dataset`` and return its :class:`History`.

    ``data`` (train, validation) and ``test`` may be given to train on something other than the
    official splits (tests, the app's live training). ``callback`` receives a dict after every
    batch (``{"epoch", "batch", "batches", "loss", "accuracy"}``) and after every epoch (the
    epoch's history record, with ``"done": True``).
    """
    c = config
    c.validate()
    info = dataset_info(c.dataset)
    device = pick_device(c.device)
    train, val = (
        data if data is not None else load_train_val(c.dataset, c.val_fraction, c.seed, c.data_dir)
    )
    if c.train_limit:
        train = train.subset(torch.arange(min(c.train_limit, len(train))))
    if c.dry_run:
        val = val.subset(torch.arange(min(1000, len(val))))
    x_train, y_train = train.floats(), train.labels
    x_val, y_val = val.floats(), val.labels

    torch.manual_seed(c.seed)
    model = build(c.arch, mean=info.mean, std=info.std, **c.arch_kwargs)
    memory_format = torch.channels_last if c.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    steps = 1 if c.dry_run else max(1, len(x_train) // c.batch_size)
    opt = make_optimizer(model, c)
    sched = make_scheduler(opt, c, steps)
    out = Path(c.out) if c.out else None
    hist = History()
    start_epoch = 0

    if c.resume:
        if out is None or not last_path(out).exists():
            where = last_path(out) if out else "<out>.last.pt"
            raise ExplainerError(
                f"nothing to resume: {where} does not exist (train without --resume first)"
            )
        state = read_payload(last_path(out))
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer_state"])
        if sched is not None and state.get("scheduler_state"):
            sched.load_state_dict(state["scheduler_state"])
        hist.epochs = list(state["history"])
        start_epoch = int(state["epoch"])
        prev = max(hist.epochs, key=lambda r: r["val_accuracy"], default=None)
        if prev:
            hist.best_epoch, hist.best_val_accuracy = prev["epoch"], prev["val_accuracy"]
        if start_epoch >= c.epochs:
            raise ExplainerError(
                f"{last_path(out)} already ran {start_epoch} epochs; raise --epochs to go on"
            )

    def payload(epoch: int, with_state: bool = False, metrics: dict | None = None) -> dict:
        extra = {}
        if with_state:
            extra = {
                "optimizer_state": opt.state_dict(),
                "scheduler_state": sched.state_dict() if sched else {},
            }
        return make_payload(
            model,
            dataset=info.name,
            class_names=info.class_names,
            arch_kwargs=c.arch_kwargs,
            history=hist.epochs,
            metrics=metrics,
            config=c.recipe(),
            epoch=epoch,
            train_seconds=sum(r["seconds"] for r in hist.epochs),
            extra=extra,
        )

    def snapshot_due(epoch: int) -> bool:
        return out is not None and (
            epoch in c.snapshot_epochs or (c.save_every > 0 and epoch % c.save_every == 0)
        )

    if start_epoch == 0 and snapshot_due(0):
        save_checkpoint(snapshot_path(out, 0), payload(0))
    if start_epoch == 0 and out is not None:  # Ctrl-C always finds an epoch-boundary state
        save_checkpoint(last_path(out), payload(0, with_state=True))

    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    t_start = time.perf_counter()
    deadline = t_start + c.max_seconds if c.max_seconds else None
    epoch = start_epoch
    try:
        for epoch in range(start_epoch + 1, c.epochs + 1):
            record = _train_epoch(
                model, opt, sched, c, x_train, y_train, epoch, steps, device, callback, deadline
            )
            t_eval = time.perf_counter()
            val_logits = predict_logits(model, x_val, 1000, device)
            record["val_loss"] = (
                F.cross_entropy(val_logits, y_val).item() if len(y_val) else float("nan")
            )
            record["val_accuracy"] = accuracy(val_logits, y_val)
            record["seconds"] = record["train_seconds"] + (time.perf_counter() - t_eval)
            hist.epochs.append(record)
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(record["val_accuracy"])
            elif isinstance(sched, torch.optim.lr_scheduler.StepLR):
                sched.step()
            if not math.isfinite(record["train_loss"]):
                hist.diverged = True
            improved = record["val_accuracy"] > hist.best_val_accuracy or not hist.epochs[:-1]
            if improved:
                hist.best_epoch, hist.best_val_accuracy = epoch, record["val_accuracy"]
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if out is not None:
                    save_checkpoint(out, payload(epoch))
            if out is not None:
                save_checkpoint(last_path(out), payload(epoch, with_state=True))
            if snapshot_due(epoch):
                save_checkpoint(snapshot_path(out, epoch), payload(epoch))
            if callback:
                callback(record | {"done": True})
            if c.progress:
                _print_epoch(record, c.epochs)
            if hist.diverged or c.dry_run:
                break
            if c.patience and epoch - hist.best_epoch >= c.patience:
                hist.stopped_early = True
                break
            if deadline is not None and time.perf_counter() > deadline:
                hist.stopped_early = True
                break
    except KeyboardInterrupt:
        # <out>.last.pt already holds the state at the end of the last finished epoch, so
        # --resume repeats the interrupted epoch exactly; nothing half-done is written.
        hist.interrupted = True
    hist.seconds = time.perf_counter() - t_start

    model.load_state_dict(best_state)
    model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    hist.model = model
    if c.evaluate_test and not hist.interrupted and not c.dry_run:
        test = test if test is not None else load_split(c.dataset, train=False, data_dir=c.data_dir)
        hist.test_metrics = test_metrics(model, test)
    if out is not None and hist.epochs and not hist.interrupted:
        best = payload(
            hist.best_epoch,
            metrics=hist.test_metrics | {"best_val_accuracy": hist.best_val_accuracy},
        )
        save_checkpoint(out, best)
        hist.checkpoint = out
        write_model_card(out, c, hist, model)
    return hist


def _train_epoch(
    model, opt, sched, c, x, y, epoch, steps, device, callback, deadline=None
) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(c.seed * 1000 + epoch)
    torch.manual_seed(c.seed * 1000 + epoch)
    perm = torch.randperm(len(x), generator=gen)
    model.train()
    t0 = time.perf_counter()
    total_loss, correct, seen = 0.0, 0, 0
    bar = _progress(steps, f"epoch {epoch}/{c.epochs}", c.progress)
    for step in range(steps):
        idx = perm[step * c.batch_size : (step + 1) * c.batch_size]
        xb, yb = x[idx], y[idx]
        if c.augment:
            xb = random_affine(xb, c.rotation, c.shift, c.scale, generator=gen)
        xb = xb.to(
            device,
            memory_format=torch.channels_last if c.channels_last else torch.contiguous_format,
        )
        yb = yb.to(device)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=c.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if isinstance(sched, torch.optim.lr_scheduler.OneCycleLR):
            sched.step()
        n = len(yb)
        total_loss += loss.item() * n
        correct += (logits.argmax(1) == yb).sum().item()
        seen += n
        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
        if callback:
            callback(
                {
                    "epoch": epoch,
                    "batch": step + 1,
                    "batches": steps,
                    "loss": total_loss / seen,
                    "accuracy": correct / seen,
                }
            )
        if not math.isfinite(loss.item()):
            break
        if deadline is not None and time.perf_counter() > deadline:
            break  # the time budget (--max-seconds) ends the epoch early
    if bar is not None:
        bar.close()
    return {
        "epoch": epoch,
        "train_loss": total_loss / max(seen, 1),
        "train_accuracy": correct / max(seen, 1),
        "lr": opt.param_groups[0]["lr"],
        "train_seconds": time.perf_counter() - t0,
        "images_per_second": seen / max(time.perf_counter() - t0, 1e-9),
    }


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, unit="batch", dynamic_ncols=True)


def _print_epoch(r: dict[str, Any], epochs: int) -> None:
    print(
        f"epoch {r['epoch']:>3}/{epochs}  "
        f"train loss {r['train_loss']:.4f} acc {r['train_accuracy']:.4f}"
        f"  val loss {r['val_loss']:.4f} acc {r['val_accuracy']:.4f}  lr {r['lr']:.2e}"
        f"  {r['seconds']:.1f}s",
        flush=True,
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


def write_model_card(out: Path, c: TrainConfig, hist: History, model: Network) -> Path:
    """``<out>.json`` beside the checkpoint: recipe, seed, time, test accuracy, how to reproduce."""
    from explainer.checkpoints import file_hash

    arch = describe(c.arch)
    card = {
        "name": out.stem,
        "architecture": c.arch,
        "title": arch.title,
        "summary": arch.summary,
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
        "reproduce": reproduce_command(c),
    }
    return write_text_atomic(out.with_suffix(".json"), json.dumps(card, indent=2) + "\n")


def reproduce_command(c: TrainConfig) -> str:
    """The ``explainer train`` command line that re-creates this recipe."""
    default = TrainConfig()
    parts = ["explainer train", c.arch]
    for f in fields(c):
        if f.name in {
            "arch",
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
