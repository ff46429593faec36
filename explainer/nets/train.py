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

from explainer.data import DatasetInfo, Split, dataset_info, load_split, load_train_val
from explainer.errors import ExplainerError
from explainer.io import write_text_atomic
from explainer.nets import user_code
from explainer.nets.architectures import build, count_parameters, describe
from explainer.nets.augment import random_affine
from explainer.nets.checkpoints import make_payload, read_payload, save_checkpoint, shape_mismatch
from explainer.nets.inference import accuracy, pick_device, predict_logits

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
    code: str = ""
    train_limit: int = 0
    max_seconds: float = 0.0
    evaluate_test: bool = True
    progress: bool = True

    def validate(self) -> None:
        if not isinstance(self.arch_kwargs, dict):
            raise ExplainerError("--arch-kwargs / --model-kwargs must be a JSON object, e.g. '{}'")
        user_code.check_plain(self.arch_kwargs, "--arch-kwargs")
        if self.code:  # import it now: a wrong --code fails before the data is loaded
            user_code.check_arguments(user_code.import_class(self.code), self.arch_kwargs)
        else:
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
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None
    model: nn.Module | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self) | {"checkpoint": str(self.checkpoint) if self.checkpoint else None}
        d.pop("model")
        return d


ProgressCallback = Callable[[dict[str, Any]], None]


def default_out(config: TrainConfig) -> Path:
    from explainer.nets.checkpoints import models_dir

    return models_dir() / f"{config.dataset}_{config.arch}.pt"


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
    run = _Run(c, info, model, opt, make_scheduler(opt, c, steps), Path(c.out) if c.out else None)
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
    return run.finish(test)


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


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
        for k, v in state.items()
    }


def nonfinite(record: dict[str, Any], model: nn.Module) -> str:
    """Why an epoch left the model unusable ('' when its loss and every weight are finite)."""
    if not math.isfinite(record["train_loss"]):
        return f"the training loss became {record['train_loss']}"
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return f"weight {name!r} became NaN or infinite"
    return ""


@dataclass
class _Run:
    """One training run's state between epochs, and everything it writes."""

    c: TrainConfig
    info: DatasetInfo
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    out: Path | None
    hist: History = field(default_factory=History)
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)

    def payload(self, epoch: int, resumable: bool = False, metrics: dict | None = None) -> dict:
        extra = {}
        if resumable:
            extra = {
                "optimizer_state": self.opt.state_dict(),
                "scheduler_state": self.sched.state_dict() if self.sched else {},
                "best_state_dict": self.best_state,
                "best_epoch": self.hist.best_epoch,
            }
        return make_payload(
            self.model,
            dataset=self.info.name,
            class_names=self.info.class_names,
            arch_kwargs=self.c.arch_kwargs,
            history=self.hist.epochs,
            metrics=metrics,
            config=self.c.recipe(),
            epoch=epoch,
            train_seconds=sum(r["seconds"] for r in self.hist.epochs),
            extra=extra,
        )

    def snapshot_due(self, epoch: int) -> bool:
        c = self.c
        return self.out is not None and (
            epoch in c.snapshot_epochs or (c.save_every > 0 and epoch % c.save_every == 0)
        )

    def save_epoch(self, epoch: int) -> None:
        """The resume state (with the best weights so far) and the snapshot due, if any."""
        if self.out is not None:
            save_checkpoint(last_path(self.out), self.payload(epoch, resumable=True))
        if self.snapshot_due(epoch):
            save_checkpoint(snapshot_path(self.out, epoch), self.payload(epoch))

    def begin(self) -> int:
        self.best_state = _cpu_copy(self.model.state_dict())
        self.save_epoch(0)  # Ctrl-C always finds an epoch-boundary state
        return 0

    def resume(self) -> int:
        """Load ``<out>.last.pt``: weights, optimizer, scheduler, history and the best epoch's
        weights (so a resumed run never saves its last weights under the best epoch's name)."""
        out, c, hist = self.out, self.c, self.hist
        if out is None or not last_path(out).exists():
            where = last_path(out) if out else "<out>.last.pt"
            raise ExplainerError(
                f"nothing to resume: {where} does not exist (train without --resume first)"
            )
        state = read_payload(last_path(out))  # one-line errors, NaN weights refused
        self._check_resumable(state, last_path(out))
        self.model.load_state_dict(state["state_dict"])
        hist.epochs = list(state.get("history", []))
        start = int(state.get("epoch", 0))
        if start >= c.epochs:
            raise ExplainerError(
                f"{last_path(out)} already ran {start} epochs; raise --epochs to go on"
            )
        if "best_state_dict" in state:
            self.best_state = state["best_state_dict"]
            hist.best_epoch = int(state.get("best_epoch", start))
        else:  # an older resume file: its last weights are the only ones it has, say so
            self.best_state, hist.best_epoch = _cpu_copy(self.model.state_dict()), start
        best = [r for r in hist.epochs if r.get("epoch") == hist.best_epoch]
        hist.best_val_accuracy = float(best[0].get("val_accuracy", 0.0)) if best else 0.0
        return start

    def _check_resumable(self, state: dict[str, Any], where: Path) -> None:
        c = self.c
        name = type(self.model).__name__ if c.code else c.arch
        kwargs = state.get("arch_kwargs", {})
        problem = shape_mismatch(state["state_dict"], self.model.state_dict())
        if state["architecture"] != name or kwargs != c.arch_kwargs or problem:
            raise ExplainerError(
                f"{where} is the resume state of {state['architecture']} {kwargs}, not of "
                f"{name} {c.arch_kwargs}: resume with the same architecture and arguments, or "
                "train into another --out"
            )
        planned = state.get("config", {}).get("epochs", c.epochs)
        if isinstance(self.sched, torch.optim.lr_scheduler.OneCycleLR) and planned != c.epochs:
            raise ExplainerError(
                f"{where} follows a one-cycle schedule planned for {planned} epochs: resume it "
                f"with --epochs {planned}, or train with --scheduler step/plateau/none to extend"
            )
        try:
            self.opt.load_state_dict(state.get("optimizer_state", {}))
            if self.sched is not None and state.get("scheduler_state"):
                self.sched.load_state_dict(state["scheduler_state"])
        except Exception as exc:  # torch raises KeyError/ValueError for a foreign state
            raise ExplainerError(
                f"{where} cannot be resumed with these options ({user_code.one_line(exc, 100)}):"
                " use the same --optimizer and --scheduler, or train into another --out"
            ) from None

    def end_epoch(self, record: dict[str, Any], callback, deadline: float | None) -> bool:
        """Book-keeping after an epoch; ``False`` when the run must stop."""
        c, hist, epoch = self.c, self.hist, record["epoch"]
        if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.sched.step(record["val_accuracy"])
        elif isinstance(self.sched, torch.optim.lr_scheduler.StepLR):
            self.sched.step()
        reason = nonfinite(record, self.model)
        if reason:  # nothing of this epoch is written: no model, resume state or snapshot
            hist.diverged = True
            hist.reason = f"training diverged in epoch {epoch}: {reason}"
        elif record["val_accuracy"] > hist.best_val_accuracy or not hist.epochs[:-1]:
            hist.best_epoch, hist.best_val_accuracy = epoch, record["val_accuracy"]
            self.best_state = _cpu_copy(self.model.state_dict())
        if not reason:
            self.save_epoch(epoch)
        if callback:
            callback(record | {"done": True})
        if c.progress:
            _print_epoch(record, c.epochs)
        if hist.diverged or c.dry_run:
            return False
        if c.patience and epoch - hist.best_epoch >= c.patience:
            hist.stopped_early = True
            return False
        if deadline is not None and time.perf_counter() > deadline:
            hist.stopped_early = True
            return False
        return True

    def finish(self, test: Split | None) -> History:
        """The best weights back in the model; the test metrics, the chance-level warning, and
        (unless the run diverged or was interrupted) ``out`` and its model card."""
        c, hist = self.c, self.hist
        self.model.load_state_dict(self.best_state)
        model = self.model.to("cpu", memory_format=torch.contiguous_format).eval()
        hist.model = model
        if hist.diverged or hist.interrupted:
            return hist
        if c.evaluate_test and not c.dry_run:
            if test is None:
                test = load_split(c.dataset, train=False, data_dir=c.data_dir)
            hist.test_metrics = test_metrics(model, test)
        warning = chance_warning(hist.best_val_accuracy, len(self.info.class_names))
        if warning and not c.dry_run:
            hist.warnings.append(warning)
        if self.out is not None and hist.epochs:
            metrics = hist.test_metrics | {"best_val_accuracy": hist.best_val_accuracy}
            save_checkpoint(self.out, self.payload(hist.best_epoch, metrics=metrics))
            hist.checkpoint = self.out
            write_model_card(self.out, c, hist, model)
        return hist


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
