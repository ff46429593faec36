"""Training: ``fit(TrainConfig(...)) -> History``.

The whole split lives in memory as one tensor; each epoch draws a seeded permutation and
(optionally) augments each batch with one batched affine warp. Every epoch is seeded with
``seed * 1000 + epoch``, so a run is reproducible on one device and ``--resume`` continues it
exactly. Checkpoints: the latest state with optimizer, scheduler and the best weights so far
goes to ``<out>.last.pt`` after every epoch (for ``--resume``), epoch snapshots to
``<out folder>/snapshots/<name>_epochNN.pt``, and when the run ends the best epoch (by
validation accuracy) to ``out`` with its model card. Ctrl-C saves the latest state and stops
cleanly. A run whose loss or weights become NaN/infinite stops at once and saves nothing from
that epoch on: ``out`` and its card are left as they were (``History.diverged``, ``reason``).
``config.code`` trains a user's own class (``file.py:Class`` / ``pkg.mod:Class``).

This module is the loop itself; the recipe and result are :mod:`~explainer.nets.train_config`,
the run's state and files between epochs :mod:`~explainer.nets.train_run`, and the test metrics
and model card :mod:`~explainer.nets.model_card`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from explainer.data import Split, dataset_info, load_train_val
from explainer.errors import ExplainerError
from explainer.nets import user_code
from explainer.nets.architectures import build
from explainer.nets.augment import random_affine, thicken
from explainer.nets.inference import accuracy, pick_device, predict_logits
from explainer.nets.train_config import History, TrainConfig
from explainer.nets.train_run import TrainingRun

__all__ = [
    "History",
    "ProgressCallback",
    "TrainConfig",
    "build_model",
    "check_forward",
    "fit",
    "make_optimizer",
    "make_scheduler",
]

ProgressCallback = Callable[[dict[str, Any]], None]


MAX_THREADS = 4  # more threads barely speed up these small networks, and starve the rest


def cpu_threads(requested: int = 0, cores: int | None = None, load: float | None = None) -> int:
    """How many CPU threads training should use: ``requested`` when given (1 or more), else
    ``min(cores, MAX_THREADS)``, or 1 when the machine is busy (the 1-minute load average
    above half the cores): torch's default, one thread per core, stalled for more than 20
    minutes behind other work on a 2-core machine where one thread took 195 s.
    ``cores`` and ``load`` default to this machine's (``os.sched_getaffinity``,
    ``os.getloadavg``; no load average, as on Windows: not busy)."""
    if requested < 0:
        raise ExplainerError(f"--threads {requested}: use 1 or more (0: choose for me)")
    if requested:
        return requested
    if cores is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return 1 if load > cores / 2 else max(1, min(cores, MAX_THREADS))


def build_model(c: TrainConfig) -> nn.Module:
    """Fresh weights for a run: the registry's ``c.arch``, or the user's class ``c.code``."""
    if c.code:
        return user_code.build_from_spec(c.code, c.arch_kwargs)
    info = dataset_info(c.dataset)
    return build(c.arch, mean=info.mean, std=info.std, **c.arch_kwargs)


def check_forward(model: nn.Module, x: torch.Tensor, classes: int, name: str) -> None:
    """One forward pass of a couple of digits before training: a model that cannot read
    ``(N, 1, 28, 28)`` digits or does not return ``(N, classes)`` logits is a one-line error."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:  # the user's own forward(): report it in one line
        raise ExplainerError(
            f"{name} cannot read a batch of digits of shape {tuple(x.shape)}: "
            f"{user_code.one_line(exc)}"
        ) from None
    finally:
        model.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (len(x), classes):
        raise ExplainerError(
            f"{name} returns {shape} for {len(x)} digits; it must return logits of shape "
            f"(N, {classes})"
        )


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
    """Train ``config.arch`` (or the user's class ``config.code``) on ``config.dataset`` and
    return its :class:`History`.

    ``data`` (train, validation) and ``test`` may be given to train on something other than the
    official splits (tests, the app's live training). ``callback`` receives a dict after every
    batch (``{"epoch", "batch", "batches", "loss", "accuracy"}``) and after every epoch (the
    epoch's history record, with ``"done": True``).

    Example (one epoch on 400 of the bundled digits, checked on the other 100; no file is
    written without ``out``):

    >>> import torch
    >>> from explainer import TrainConfig, fit, load_sample
    >>> digits = load_sample()
    >>> data = (digits.subset(torch.arange(400)), digits.subset(torch.arange(400, 500)))
    >>> config = TrainConfig(arch="fast_cnn", epochs=1, evaluate_test=False, progress=False)
    >>> history = fit(config, data=data)
    >>> len(history.epochs), history.model(digits.floats()[:2]).shape
    (1, torch.Size([2, 10]))
    """
    c = config
    c.validate()
    info = dataset_info(c.dataset)
    device = pick_device(c.device)
    (x_train, y_train), (x_val, y_val) = _tensors(c, data)
    torch.manual_seed(c.seed)
    fmt = torch.channels_last if c.channels_last else torch.contiguous_format
    model = build_model(c).to(device, memory_format=fmt)
    probe = (x_val if len(x_val) else x_train)[:2].to(device, memory_format=fmt)
    check_forward(model, probe, len(info.class_names), c.code or c.arch)
    steps = 1 if c.dry_run else max(1, len(x_train) // c.batch_size)
    opt = make_optimizer(model, c)
    sched = make_scheduler(opt, c, steps)
    run = TrainingRun(c, info, model, opt, sched, Path(c.out) if c.out else None)
    start_epoch = run.resume() if c.resume else run.begin()
    t_start = time.perf_counter()
    deadline = t_start + c.max_seconds if c.max_seconds else None
    try:
        for epoch in range(start_epoch + 1, c.epochs + 1):
            record = _train_epoch(
                model, opt, run.sched, c, x_train, y_train, epoch, steps, device, callback, deadline
            )
            t_eval = time.perf_counter()
            record |= _validation(model, x_val, y_val, device)
            record["seconds"] = record["train_seconds"] + (time.perf_counter() - t_eval)
            run.hist.epochs.append(record)
            if not run.end_epoch(record, callback, deadline):
                break
    except KeyboardInterrupt:
        # <out>.last.pt already holds the state at the end of the last finished epoch, so
        # --resume repeats the interrupted epoch exactly; nothing half-done is written.
        run.hist.interrupted = True
    run.hist.seconds = time.perf_counter() - t_start
    return run.finish(test, (x_val, y_val))


def _tensors(c: TrainConfig, data: tuple[Split, Split] | None):
    train, val = (
        data if data is not None else load_train_val(c.dataset, c.val_fraction, c.seed, c.data_dir)
    )
    if c.train_limit:
        train = train.subset(torch.arange(min(c.train_limit, len(train))))
    if c.dry_run:
        val = val.subset(torch.arange(min(1000, len(val))))
    return (train.floats(), train.labels), (val.floats(), val.labels)


def _validation(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device) -> dict[str, float]:
    logits = predict_logits(model, x, 1000, device)
    loss = F.cross_entropy(logits, y).item() if len(y) else float("nan")
    return {"val_loss": loss, "val_accuracy": accuracy(logits, y)}


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
        xb = thicken(xb, c.thicken, generator=gen)
        xb = xb.to(
            device,
            memory_format=torch.channels_last if c.channels_last else torch.contiguous_format,
        )
        yb = yb.to(device)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=c.label_smoothing)
        n, value = len(yb), loss.item()
        total_loss += value * n
        correct += (logits.argmax(1) == yb).sum().item()
        seen += n
        if not math.isfinite(value):
            break  # diverged: no step with a non-finite gradient; the epoch reports it
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if isinstance(sched, torch.optim.lr_scheduler.OneCycleLR):
            sched.step()
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
