"""``compare()``: every shipped MNIST architecture side by side.

For each ``models/mnist_*.pt`` (resume files and snapshots are skipped): parameters, test
accuracy and error count, training time, evaluation speed (images/s, measured here), file size
and per-class accuracy. :func:`write_comparison` writes ``compare.md`` (a Markdown table for the
README), ``compare.png`` (bar charts and a per-class heat map) and ``compare.json``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from explainer import style
from explainer.data import Split, load_sample, load_test_or_sample
from explainer.errors import ExplainerError
from explainer.io import write_text_atomic
from explainer.nets.architectures import count_parameters, describe
from explainer.nets.checkpoints import (
    CheckpointError,
    load_checkpoint,
    resolve_checkpoint,
    shipped_checkpoints,
)
from explainer.nets.inference import predict_logits

DEFAULT_OUT = Path("reports") / "compare"


@dataclass
class ModelRow:
    """One model's line of the comparison (``per_class_accuracy``: 10 floats)."""

    name: str
    architecture: str
    title: str
    parameters: int
    test_accuracy: float
    test_errors: int
    test_images: int
    train_seconds: float
    epochs: int
    eval_images_per_second: float
    file_bytes: int
    per_class_accuracy: list[float]


def measure_speed(model: torch.nn.Module, x: torch.Tensor, min_seconds: float = 0.5) -> float:
    """Images per second of batched evaluation (batches of 1000) after one warm-up batch; passes
    over ``x`` are repeated (at least two) until ``min_seconds`` have gone by."""
    predict_logits(model, x[:100], batch_size=1000)
    seen, t0 = 0, time.perf_counter()
    while seen < 2 * len(x) or time.perf_counter() - t0 < min_seconds:
        predict_logits(model, x, batch_size=1000)
        seen += len(x)
    return seen / max(time.perf_counter() - t0, 1e-9)


@dataclass
class Comparison:
    """``rows`` sorted by accuracy, the test split used, and the files that could not be read."""

    rows: list[ModelRow]
    split: Split
    official: bool
    skipped: list[str]

    @property
    def test_set(self) -> str:
        if self.official:
            return f"the official MNIST test set ({len(self.split)} images)"
        return f"the bundled sample of {len(self.split)} MNIST test images"


def compare(
    models: list[str] | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    sample_only: bool = False,
    code: str | None = None,
) -> Comparison:
    """Rows for ``models`` (paths or shipped names; default: every shipped MNIST model, where
    unreadable files are skipped and listed), measured on the official test set when on disk,
    else the bundled sample."""
    paths = [resolve_checkpoint(m) for m in models] if models else shipped_checkpoints("mnist")
    if not paths:
        raise ExplainerError("no MNIST checkpoints in models/ to compare; train some (make models)")
    split, official = (
        (load_sample("mnist"), False) if sample_only else load_test_or_sample("mnist", data_dir)
    )
    x, y = split.floats(), split.labels
    rows, skipped = [], []
    for path in paths:
        try:
            ckpt = load_checkpoint(path, code=code)
        except CheckpointError as exc:
            if models:
                raise
            skipped.append(str(exc))
            continue
        if ckpt.dataset != "mnist":
            raise ExplainerError(f"{path} is a {ckpt.dataset} model; compare takes MNIST models")
        logits = predict_logits(ckpt.model, x)
        pred = logits.argmax(1)
        per_class = [float((pred[y == k] == k).float().mean()) for k in range(10)]
        rows.append(
            ModelRow(
                name=ckpt.name,
                architecture=ckpt.architecture,
                title=ckpt.architecture  # a user's own class: its name
                if ckpt.model_class
                else describe(ckpt.architecture).title,
                parameters=count_parameters(ckpt.model),
                test_accuracy=float((pred == y).float().mean()),
                test_errors=int((pred != y).sum()),
                test_images=len(y),
                train_seconds=float(ckpt.train_seconds),
                epochs=len(ckpt.history),
                eval_images_per_second=measure_speed(ckpt.model, x),
                file_bytes=Path(path).stat().st_size,
                per_class_accuracy=per_class,
            )
        )
    if not rows:
        raise ExplainerError("no readable MNIST checkpoint to compare: " + "; ".join(skipped))
    rows.sort(key=lambda r: -r.test_accuracy)
    return Comparison(rows, split, official, skipped)


def _size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _count(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(int(n))


def markdown_table(rows: list[ModelRow], test_set: str) -> str:
    """Two Markdown tables: the overview and the per-class accuracy (weakest class in bold)."""
    lines = [
        f"Measured on {test_set}; evaluation speed on this machine's CPU, batches of 1000.",
        "",
        "| model | architecture | parameters | test accuracy | errors | training time | "
        "eval images/s | file size |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        plural = "" if r.epochs == 1 else "s"
        lines.append(
            f"| `{r.name}` | {r.title} | {_count(r.parameters)} | {r.test_accuracy:.2%} | "
            f"{r.test_errors} | {r.train_seconds:.0f} s ({r.epochs} epoch{plural}) | "
            f"{r.eval_images_per_second:,.0f} | {_size(r.file_bytes)} |"
        )
    lines += ["", "Per-class accuracy (the weakest class of each model in bold):", ""]
    lines.append("| model | " + " | ".join(str(k) for k in range(10)) + " |")
    lines.append("|---|" + "---:|" * 10)
    for r in rows:
        worst = int(np.argmin(r.per_class_accuracy))
        cells = [
            f"**{a:.1%}**" if k == worst else f"{a:.1%}" for k, a in enumerate(r.per_class_accuracy)
        ]
        lines.append(f"| `{r.name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_figure(rows: list[ModelRow], test_set: str):
    """Error rate, parameters and speed as horizontal bars, and per-class accuracy as a heat map."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm
    from matplotlib.ticker import FuncFormatter, NullFormatter

    names = [r.name.removeprefix("mnist_") for r in rows]
    y = np.arange(len(rows))
    fig = plt.figure(figsize=(13, 4.2 + 0.45 * len(rows)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.05])
    axes = top.subplots(1, 3, sharey=True)
    colors = [style.CLASS_COLORS[i % 10] for i in range(len(rows))]
    panels = [
        (
            axes[0],
            [100 * (1 - r.test_accuracy) for r in rows],
            "test error (%), lower is better",
            lambda v: f"{v:.2f}%",
            False,
        ),
        (axes[1], [r.parameters for r in rows], "learnable parameters (log scale)", _count, True),
        (
            axes[2],
            [r.eval_images_per_second for r in rows],
            "evaluation speed (images/s, CPU)",
            _count,
            False,
        ),
    ]
    for ax, values, title, fmt, log in panels:
        ax.barh(y, values, color=colors)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        if fmt is _count:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(v) if v else "0"))
        for yi, v in zip(y, values, strict=True):
            ax.text(v, yi, " " + fmt(v), va="center", fontsize=9.5)
        ax.set_xlabel(title, fontsize=11)
        ax.margins(x=0.28)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=11)
    axes[0].invert_yaxis()
    top.suptitle(f"Shipped MNIST models on {test_set}", fontsize=13)

    ax = bottom.subplots()
    acc = np.array([r.per_class_accuracy for r in rows])
    # a square-root scale: a 1% error stays visible beside a class the model never gets right
    norm = PowerNorm(0.5, vmin=0, vmax=max(100 * (1 - acc).max(), 1e-6))
    im = ax.imshow(100 * (1 - acc), cmap="Reds", norm=norm, aspect="auto")
    for i in range(acc.shape[0]):
        for j in range(10):
            err = 100 * (1 - acc[i, j])
            dark = norm(err) > 0.6
            ax.text(
                j,
                i,
                f"{acc[i, j]:.1%}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "#1a1a1a",
            )
    ax.set_xticks(range(10), [str(k) for k in range(10)], fontsize=11)
    ax.set_yticks(range(len(rows)), names, fontsize=11)
    ax.set_xlabel("true class (digit)", fontsize=11)
    ax.set_title(
        "per-class accuracy (colour: error rate on a square-root scale, darker = more mistakes)",
        fontsize=12,
    )
    bottom.colorbar(im, ax=ax, shrink=0.9).set_label("error rate (%)")
    return fig


def write_comparison(
    rows: list[ModelRow], test_set: str, out: str | os.PathLike | None = None
) -> list[Path]:
    """``compare.md``, ``compare.png`` and ``compare.json`` in ``out`` (``reports/compare/``)."""
    from explainer.io import save_figure

    folder = Path(out) if out else DEFAULT_OUT
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"test_set": test_set, "models": [asdict(r) for r in rows]}
    return [
        write_text_atomic(folder / "compare.md", markdown_table(rows, test_set)),
        save_figure(comparison_figure(rows, test_set), folder / "compare.png"),
        write_text_atomic(folder / "compare.json", json.dumps(payload, indent=2) + "\n"),
    ]
