"""Hyperparameter sweeps on Optuna: a grid (or TPE search) over learning rate, batch size,
optimizer and epochs for one architecture, each run capped by a time budget.

Every epoch reports its validation accuracy to Optuna, so the :class:`optuna.pruners.MedianPruner`
stops runs that are clearly worse than the others at the same epoch. Runs whose loss became
NaN / infinite are kept and marked ``diverged`` (their accuracy is what it is, usually ~10%).

The study lives in an SQLite file (``reports/sweep/<study>.db`` by default), so an interrupted
sweep picks up where it stopped: finished grid points are not run again. Point several machines
at one shared database (``--storage postgresql://user:pw@host/db``) and start the same command
on each: they split the work between them.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from explainer.data import Split, load_train_val
from explainer.errors import ExplainerError
from explainer.extras import require
from explainer.io import write_text_atomic
from explainer.text import clip_text

DEFAULT_OUT = Path("reports") / "sweep"
PARAMS = ("lr", "batch_size", "optimizer", "epochs")


@dataclass
class SweepConfig:
    """What to try. Lists are the grid; TPE searches the lr range between their extremes."""

    arch: str = "fast_cnn"
    dataset: str = "mnist"
    lr: list[float] = field(default_factory=lambda: [1e-3, 3e-3, 1e-2])
    batch_size: list[int] = field(default_factory=lambda: [64, 256])
    optimizer: list[str] = field(default_factory=lambda: ["adam", "sgd"])
    epochs: list[int] = field(default_factory=lambda: [2])
    sampler: str = "grid"
    trials: int = 0  # 0: the whole grid (grid), 20 (tpe)
    time_budget: float = 120.0  # seconds per run
    train_limit: int = 0
    prune: bool = True
    seed: int = 0
    study: str = ""
    storage: str = ""
    out: str = ""
    data_dir: str | None = None

    def study_name(self) -> str:
        return self.study or f"{self.dataset}_{self.arch}"

    def out_dir(self) -> Path:
        return Path(self.out) if self.out else DEFAULT_OUT

    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{(self.out_dir() / f'{self.study_name()}.db').as_posix()}"

    def shown_storage(self) -> str:
        """The storage URL as printed and written: its password masked (:func:`masked_url`)."""
        return masked_url(self.storage_url())

    def grid(self) -> dict[str, list]:
        return {p: list(getattr(self, p)) for p in PARAMS}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def validate(self) -> None:
        from explainer.nets.architectures import describe
        from explainer.nets.train_config import OPTIMIZERS

        describe(self.arch)
        if self.sampler not in ("grid", "tpe"):
            raise ExplainerError(f"unknown sampler {self.sampler!r}; choose grid or tpe")
        for p in PARAMS:
            if not getattr(self, p):
                raise ExplainerError(f"give at least one value for --{p.replace('_', '-')}")
        if bad := [o for o in self.optimizer if o not in OPTIMIZERS]:
            raise ExplainerError(f"unknown optimizer {bad[0]!r}; choose from {OPTIMIZERS}")
        if any(v <= 0 for v in self.lr) or any(v < 1 for v in self.batch_size + self.epochs):
            raise ExplainerError("learning rates must be > 0; batch sizes and epochs >= 1")


@dataclass
class TrialResult:
    """One run: its settings, outcome and status (complete, pruned, diverged, failed, running)."""

    number: int
    lr: float
    batch_size: int
    optimizer: str
    epochs: int
    val_accuracy: float | None
    status: str
    epochs_run: int
    seconds: float
    stopped_by_budget: bool


def masked_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``.

    >>> masked_url("postgresql://alice:s3cret@db.example:5432/sweeps")
    'postgresql://alice:***@db.example:5432/sweeps'
    """
    head, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in auth:
        return url
    return f"{head}://{auth.split(':', 1)[0]}:***@{host}"


def storage_error(exc: BaseException, url: str) -> str:
    """A database driver's error in one line: the first line of its message (no SQL, no
    links), any password of ``url`` masked, at most 200 characters."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    secret = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    if secret:
        first = first.replace(secret, "***")
    return clip_text(first, 200)


def _suggest(trial, c: SweepConfig) -> dict[str, Any]:
    if c.sampler == "tpe" and len(set(c.lr)) > 1:
        lr = trial.suggest_float("lr", min(c.lr), max(c.lr), log=True)
    else:
        lr = trial.suggest_categorical("lr", c.lr)
    return {
        "lr": float(lr),
        "batch_size": int(trial.suggest_categorical("batch_size", c.batch_size)),
        "optimizer": str(trial.suggest_categorical("optimizer", c.optimizer)),
        "epochs": int(trial.suggest_categorical("epochs", c.epochs)),
    }


def make_study(c: SweepConfig):
    """Create the study, or load it from its storage when it already exists."""
    require("sweep", "make_study")
    import optuna

    c.out_dir().mkdir(parents=True, exist_ok=True)
    if c.sampler == "grid":
        sampler = optuna.samplers.GridSampler(c.grid(), seed=c.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=c.seed)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        if c.prune
        else optuna.pruners.NopPruner()
    )
    try:
        return optuna.create_study(
            study_name=c.study_name(),
            storage=c.storage_url(),
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
            load_if_exists=True,
        )
    except Exception as exc:  # bad URLs, missing database drivers, unreachable servers, junk
        raise ExplainerError(
            f"cannot open the study storage {c.shown_storage()} "
            f"({storage_error(exc, c.storage_url())}); use a new file or a working database"
        ) from None


def run_sweep(
    c: SweepConfig,
    data: tuple[Split, Split] | None = None,
    log: Callable[[str], None] | None = print,
) -> list[TrialResult]:
    """Run the trials still missing from the study and return every trial's result.

    ``data`` (train, validation) replaces the official split (tests, quick demos)."""
    require("sweep", "run_sweep")
    import optuna

    from explainer.nets.train import fit
    from explainer.nets.train_config import TrainConfig

    c.validate()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = make_study(c)
    train, val = data if data is not None else load_train_val(c.dataset, data_dir=c.data_dir)

    def objective(trial) -> float:
        params = _suggest(trial, c)
        config = TrainConfig(
            arch=c.arch,
            dataset=c.dataset,
            seed=c.seed,
            max_seconds=c.time_budget,
            train_limit=c.train_limit,
            evaluate_test=False,
            progress=False,
            **params,
        )

        def on_progress(record: dict[str, Any]) -> None:
            if record.get("done"):
                trial.report(record["val_accuracy"], record["epoch"])
                if trial.should_prune() and math.isfinite(record["train_loss"]):
                    raise optuna.TrialPruned()

        t0 = time.perf_counter()
        hist = fit(config, data=(train, val), callback=on_progress)
        last = hist.epochs[-1] if hist.epochs else {}
        trial.set_user_attr("diverged", bool(hist.diverged))
        trial.set_user_attr("epochs_run", len(hist.epochs))
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        trial.set_user_attr("stopped_by_budget", bool(hist.stopped_early))
        trial.set_user_attr("final_train_loss", _finite_or_none(last.get("train_loss")))
        value = hist.best_val_accuracy
        return value if math.isfinite(value) else 0.0

    def report(study, trial) -> None:
        if log:
            log(format_trial(result_of(trial)))

    remaining = _remaining(study, c)
    if remaining > 0:
        if log:
            log(
                f"study {c.study_name()!r} in {c.shown_storage()}: running {remaining} trial(s), "
                f"{len(study.trials)} already recorded"
            )
        study.optimize(objective, n_trials=remaining, callbacks=[report], catch=(RuntimeError,))
    elif log:
        log(f"study {c.study_name()!r}: all {len(study.trials)} trial(s) already done")
    return [result_of(t) for t in study.trials]


def _remaining(study, c: SweepConfig) -> int:
    finished = [t for t in study.trials if t.state.is_finished()]
    if c.sampler == "grid":
        done = {tuple(t.params.get(p) for p in PARAMS) for t in finished}
        todo = set(itertools.product(*c.grid().values()))
        left = len(todo - done)
        return min(left, c.trials) if c.trials else left
    return max((c.trials or 20) - len(finished), 0)


def _finite_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def result_of(trial) -> TrialResult:
    """A trial (frozen or live) as a :class:`TrialResult`."""
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    state = trial.state
    if attrs.get("diverged"):
        status = "diverged"
    else:
        status = {
            TrialState.COMPLETE: "complete",
            TrialState.PRUNED: "pruned",
            TrialState.FAIL: "failed",
        }.get(state, "running")
    value = trial.value
    if value is None and trial.intermediate_values:  # pruned: its last reported accuracy
        value = trial.intermediate_values[max(trial.intermediate_values)]
    seconds = attrs.get("seconds")
    if seconds is None and trial.datetime_start and trial.datetime_complete:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    p = trial.params
    return TrialResult(
        number=trial.number,
        lr=float(p.get("lr", math.nan)),
        batch_size=int(p.get("batch_size", 0)),
        optimizer=str(p.get("optimizer", "")),
        epochs=int(p.get("epochs", 0)),
        val_accuracy=value,
        status=status,
        epochs_run=int(attrs.get("epochs_run", len(trial.intermediate_values))),
        seconds=float(seconds or 0.0),
        stopped_by_budget=bool(attrs.get("stopped_by_budget")),
    )


def format_trial(r: TrialResult) -> str:
    acc = f"{r.val_accuracy:.4f}" if r.val_accuracy is not None else "  -   "
    budget = " (time budget hit)" if r.stopped_by_budget else ""
    return (
        f"trial {r.number:>3}: lr {r.lr:<8.2g} batch {r.batch_size:<4} {r.optimizer:<4} "
        f"epochs {r.epochs}  val acc {acc}  {r.status}{budget}  {r.seconds:.0f}s"
    )


def results_markdown(results: list[TrialResult], c: SweepConfig) -> str:
    """The results as a Markdown table, best first; diverged and pruned runs included."""
    order = sorted(results, key=lambda r: -(r.val_accuracy if r.val_accuracy is not None else -1))
    lines = [
        f"Sweep `{c.study_name()}`: {c.arch} on {c.dataset}, {c.sampler} sampler, "
        f"time budget {c.time_budget:g} s per run, storage `{c.shown_storage()}`.",
        "",
        "| trial | lr | batch size | optimizer | epochs | val accuracy | status | epochs run "
        "| time |",
        "|---:|---:|---:|---|---:|---:|---|---:|---:|",
    ]
    for r in order:
        acc = f"{r.val_accuracy:.2%}" if r.val_accuracy is not None else "-"
        status = f"**{r.status}**" if r.status in ("diverged", "failed") else r.status
        if r.status == "complete" and r.val_accuracy is not None and r.val_accuracy < 0.2:
            status += ", **chance level** (it did not learn)"
        if r.stopped_by_budget:
            status += " (time budget)"
        lines.append(
            f"| {r.number} | {r.lr:.3g} | {r.batch_size} | {r.optimizer} | {r.epochs} | {acc} | "
            f"{status} | {r.epochs_run} | {r.seconds:.0f} s |"
        )
    return "\n".join(lines) + "\n"


STATUS_STYLE = {
    "complete": ("o", "#1f77b4", "complete"),
    "pruned": ("s", "#9a9a9a", "pruned (last reported accuracy)"),
    "diverged": ("X", "#d62728", "diverged (loss became NaN/inf)"),
    "failed": ("X", "#d62728", "failed"),
    "running": ("o", "#cccccc", "running"),
}


def results_figure(results: list[TrialResult], c: SweepConfig):
    """Validation accuracy against each setting, one panel per hyperparameter."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 4, figsize=(14, 4.2), sharey=True, layout="constrained")
    rng = np.random.default_rng(0)
    for ax, p in zip(axes, PARAMS, strict=True):
        values = [getattr(r, p) for r in results]
        categorical = p in ("optimizer",) or (p != "lr" and len(set(values)) <= 8)
        cats = sorted(set(values), key=str) if categorical else None
        for status, (marker, color, label) in STATUS_STYLE.items():
            sel = [r for r in results if r.status == status and r.val_accuracy is not None]
            if not sel:
                continue
            if categorical:
                x = [cats.index(getattr(r, p)) + rng.uniform(-0.12, 0.12) for r in sel]
            else:
                x = [getattr(r, p) for r in sel]
            ax.scatter(
                x,
                [r.val_accuracy for r in sel],
                marker=marker,
                color=color,
                s=55,
                label=label,
                alpha=0.85,
                edgecolor="white",
                linewidth=0.5,
            )
        if categorical:
            ax.set_xticks(range(len(cats)), [str(v) for v in cats])
            ax.set_xlim(-0.6, len(cats) - 0.4)
        elif p == "lr":
            ax.set_xscale("log")
        ax.set_xlabel({"lr": "learning rate", "batch_size": "batch size"}.get(p, p), fontsize=11)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy", fontsize=11)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=10)
    done = [r for r in results if r.val_accuracy is not None]
    best = max(done, key=lambda r: r.val_accuracy) if done else None
    best_text = (
        f" · best {best.val_accuracy:.2%} (lr {best.lr:.3g}, batch {best.batch_size}, "
        f"{best.optimizer}, {best.epochs} epochs)"
        if best
        else ""
    )
    fig.suptitle(f"Sweep {c.study_name()}: {len(results)} runs of {c.arch}{best_text}", fontsize=13)
    return fig


def write_results(results: list[TrialResult], c: SweepConfig) -> list[Path]:
    """``<study>.md``, ``<study>.json`` and ``<study>.png`` beside the study's database."""
    from explainer.io import save_figure

    folder = c.out_dir()
    name = c.study_name()
    payload = {"config": asdict(c), "trials": [asdict(r) for r in results]}
    return [
        write_text_atomic(folder / f"{name}.md", results_markdown(results, c)),
        write_text_atomic(folder / f"{name}.json", json.dumps(payload, indent=2) + "\n"),
        save_figure(results_figure(results, c), folder / f"{name}.png"),
    ]


def parse_list(text: str, kind: type) -> list:
    """``"1e-3,3e-3"`` -> ``[0.001, 0.003]`` (for the command line)."""
    try:
        return [kind(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ExplainerError(
            f"expected comma-separated {kind.__name__} values, got {text!r}"
        ) from None
