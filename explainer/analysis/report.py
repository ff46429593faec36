"""``write_report(evaluation)``: a report folder a learner or teacher reads after training.

Files written to ``reports/<checkpoint name>/`` (or ``out``):

- ``metrics.json``: accuracy, loss, errors, per-class precision / recall / F1 / support;
- ``classification_report.txt``: the same as scikit-learn's text table;
- ``confusion_matrix.png`` (counts and row-normalised) and ``confusion_matrix.json``;
- ``misclassified.png`` (the mistakes, most confident first) and ``misclassified.json``;
- ``training_curves.png``: loss, accuracy and learning rate per epoch (when the checkpoint
  has a history);
- ``predictions.png``: sample predictions, green titles when right, red when wrong;
- ``kernels.png``: the first conv layer's learned kernels (or the first dense layer's weights
  as 28×28 templates when the network has no convolution);
- ``class_distribution.png``: how often each class is predicted, against the truth;
- ``reliability.png`` and ``calibration.json`` (:mod:`explainer.nets.calibration`);
- ``report.md``: a page tying it together.

The figures come from :mod:`explainer.analysis.report_figures`; the numbers from an
:class:`~explainer.analysis.evaluate.Evaluation`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from explainer.analysis.evaluate import Evaluation
from explainer.analysis.report_figures import (
    confusion_figure,
    curves_figure,
    distribution_figure,
    kernels_figure,
    mistakes_figure,
    predictions_figure,
)
from explainer.io import save_figure, write_text_atomic
from explainer.nets.calibration import write_calibration
from explainer.nets.checkpoints import Checkpoint


def default_report_dir(ckpt: Checkpoint) -> Path:
    return Path("reports") / ckpt.name


def write_report(ev: Evaluation, out: str | os.PathLike | None = None) -> Path:
    """Write every file of the report into ``out`` (default ``reports/<name>/``)."""
    from sklearn.metrics import classification_report

    folder = Path(out) if out else default_report_dir(ev.checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    ev.folder, ev.files = folder, []

    def text(name: str, body: str) -> None:
        ev.files.append(write_text_atomic(folder / name, body))

    def figure(name: str, fig) -> None:
        ev.files.append(save_figure(fig, folder / name))

    names = ev.class_names
    text("metrics.json", json.dumps(ev.metrics(), indent=2) + "\n")
    text(
        "classification_report.txt",
        f"{ev.checkpoint.name} on {ev.test_set}\n\n"
        + classification_report(
            ev.labels,
            ev.predicted,
            labels=list(range(len(names))),
            target_names=names,
            digits=4,
            zero_division=0,
        ),
    )
    row_sums = ev.confusion.sum(1, keepdims=True)
    normalized = np.divide(ev.confusion, np.maximum(row_sums, 1)).round(6)
    text(
        "confusion_matrix.json",
        json.dumps(
            {
                "labels": names,
                "rows": "true class",
                "columns": "predicted class",
                "counts": ev.confusion.tolist(),
                "row_normalized": normalized.tolist(),
            },
            indent=1,
        )
        + "\n",
    )
    text("misclassified.json", json.dumps(ev.mistakes(), indent=1) + "\n")

    figure("confusion_matrix.png", confusion_figure(ev))
    figure("misclassified.png", mistakes_figure(ev))
    if ev.checkpoint.history:
        figure("training_curves.png", curves_figure(ev.checkpoint))
    figure("predictions.png", predictions_figure(ev))
    kernels = kernels_figure(ev.checkpoint)
    if kernels is not None:
        figure("kernels.png", kernels)
    figure("class_distribution.png", distribution_figure(ev))
    ev.files += write_calibration(ev, folder)  # reliability.png, calibration.json
    text("report.md", report_markdown(ev))
    return folder


def report_markdown(ev: Evaluation) -> str:
    """``report.md``: the summary, the per-class table and every figure."""
    m = ev.metrics()
    lines = [
        f"# {ev.checkpoint.name}: evaluation",
        "",
        f"Architecture `{ev.checkpoint.architecture}`, evaluated on {ev.test_set}.",
        "",
        f"**Accuracy {m['accuracy']:.2%}** ({m['errors']} errors), mean loss {m['loss']:.4f}.",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {n} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} | {v['support']} |"
            for n, v in m["per_class"].items()
        ),
        "",
    ]
    for f in ev.files:
        if f.suffix == ".png":
            lines += [f"![{f.stem}]({f.name})", ""]
    return "\n".join(lines)
