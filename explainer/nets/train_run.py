"""One training run between its epochs, and every file it writes.

:class:`TrainingRun` keeps the best weights so far, decides after each epoch whether the run
goes on (divergence, early stopping, the time budget), and writes: the resume state with
optimizer, scheduler and best weights to ``<out>.last.pt`` after every epoch
(:func:`last_path`), epoch snapshots (:func:`snapshot_path`), and at the end the best epoch to
``out`` with its model card. An epoch whose loss or weights are not finite writes nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explainer.data import DatasetInfo, Split, load_split
from explainer.errors import ExplainerError
from explainer.nets import user_code
from explainer.nets.calibration import KEY as CALIBRATION
from explainer.nets.checkpoints import (
    make_payload,
    read_payload,
    save_checkpoint,
    shape_mismatch,
)
from explainer.nets.model_card import chance_warning, test_metrics, write_model_card
from explainer.nets.not_a_digit_fit import calibrate
from explainer.nets.train_config import History, TrainConfig
from explainer.paths import training_dir


def default_out(config: TrainConfig) -> Path:
    """Where a run saves when no ``--out`` is given: ``<dataset>_<arch>.pt`` in
    :func:`~explainer.paths.training_dir` (the repository's ``models/`` in a source checkout,
    ``./models/`` when installed from a wheel)."""
    return training_dir() / f"{config.dataset}_{config.arch}.pt"


def last_path(out: Path) -> Path:
    """The resume state of a run saving to ``out``: ``<out>.last.pt``."""
    return out.with_name(out.stem + ".last.pt")


def snapshot_path(out: Path, epoch: int) -> Path:
    """Epoch ``epoch``'s snapshot: ``<out folder>/snapshots/<name>_epochNN.pt``."""
    return out.parent / "snapshots" / f"{out.stem}_epoch{epoch:02d}.pt"


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
class TrainingRun:
    """One training run's state between epochs, and everything it writes."""

    c: TrainConfig
    info: DatasetInfo
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    out: Path | None
    hist: History = field(default_factory=History)
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    created: set[Path] = field(default_factory=set)  # files this run made (not replaced)
    trained: bool = False  # an epoch of this run finished with finite weights

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
            self._save(last_path(self.out), self.payload(epoch, resumable=True))
        if self.snapshot_due(epoch):
            self._save(snapshot_path(self.out, epoch), self.payload(epoch))

    def _save(self, path: Path, payload: dict) -> None:
        new = [p for p in (path, *path.parents) if not p.exists()]  # the file, new folders
        self.created.update(new)
        save_checkpoint(path, payload)

    def forget_created(self) -> None:
        """Remove the files this run made (its untrained state and epoch-0 snapshot, when it
        diverged in its first epoch: resuming them would diverge again, as every epoch is
        seeded). Files it replaced stay."""
        for path in sorted(self.created, key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                if not any(path.iterdir()):  # a folder it made, if nothing else went there
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)
        self.created.clear()

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
            self.trained = True
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

    def finish(self, test: Split | None, val: tuple | None = None) -> History:
        """The best weights back in the model; the test metrics, the chance-level warning, and
        (unless the run diverged or was interrupted) ``out`` and its model card. ``val``
        (images, labels): the validation split the temperature and the not-a-digit rule are
        fitted on (:func:`~explainer.nets.not_a_digit_fit.calibrate`) and stored in ``out``."""
        c, hist = self.c, self.hist
        self.model.load_state_dict(self.best_state)
        model = self.model.to("cpu", memory_format=torch.contiguous_format).eval()
        hist.model = model
        if hist.diverged and not self.trained:
            self.forget_created()
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
            payload = self.payload(hist.best_epoch, metrics=metrics)
            split = f"{c.dataset} validation split (val_fraction {c.val_fraction}, seed {c.seed})"
            fitted = calibrate(model, *val, c.dataset, split) if val and not c.dry_run else None
            if fitted:
                payload[CALIBRATION] = fitted
            save_checkpoint(self.out, payload)
            hist.checkpoint = self.out
            write_model_card(self.out, c, hist, model)
        return hist


def _print_epoch(r: dict[str, Any], epochs: int) -> None:
    print(
        f"epoch {r['epoch']:>3}/{epochs}  "
        f"train loss {r['train_loss']:.4f} acc {r['train_accuracy']:.4f}"
        f"  val loss {r['val_loss']:.4f} acc {r['val_accuracy']:.4f}  lr {r['lr']:.2e}"
        f"  {r['seconds']:.1f}s",
        flush=True,
    )
