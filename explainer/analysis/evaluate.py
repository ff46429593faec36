"""``evaluate(checkpoint)``: a checkpoint run over the test set, as an :class:`Evaluation`.

The test set is the official one when it is on disk, else the bundled 500-digit sample, and
the evaluation says which. An :class:`Evaluation` holds the logits and the calibrated
probabilities, the confusion matrix and scikit-learn's per-class report, and gives
:meth:`~Evaluation.metrics` and :meth:`~Evaluation.mistakes`; :func:`summary_lines` says it in
a few terminal lines and :func:`mistake_report` gives the most confident mistakes as the
mistakes animation draws them.
The report folder (figures, JSON, ``report.md``) is written by
:func:`explainer.analysis.report.write_report`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explainer.data import Split, dataset_info, load_sample, load_test_or_sample
from explainer.errors import ExplainerError
from explainer.nets.calibration import softmax_t, temperature_of
from explainer.nets.calibration import summary_line as calibration_summary
from explainer.nets.checkpoints import Checkpoint, load_checkpoint, resolve_checkpoint

MAX_MISTAKES_SHOWN = 48


@dataclass
class Evaluation:
    """Everything computed on the test set. ``logits``: ``(N, classes)``, and ``probs`` from
    them with the checkpoint's ``temperature`` (the one calibrated probability every view
    shows); ``labels``, ``predicted``: ``(N,)``; ``confusion``: ``(classes, classes)`` counts,
    rows = true class."""

    checkpoint: Checkpoint
    split: Split
    official: bool
    logits: np.ndarray
    temperature: float
    labels: np.ndarray
    predicted: np.ndarray
    loss: float
    confusion: np.ndarray
    report: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    folder: Path | None = None

    @functools.cached_property
    def probs(self) -> np.ndarray:
        """``(N, classes)``: ``softmax(logits / temperature)``."""
        return softmax_t(self.logits, self.temperature)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean()) if len(self.labels) else float("nan")

    @property
    def class_names(self) -> list[str]:
        return self.checkpoint.class_names or [str(i) for i in range(self.probs.shape[1])]

    @property
    def test_set(self) -> str:
        title = dataset_info(self.checkpoint.dataset).title
        if self.official:
            return f"the official {title} test set ({len(self.labels)} images)"
        return f"the bundled {title} sample ({len(self.labels)} test images; full set not found)"

    def test_ids(self) -> np.ndarray:
        """Index of every evaluated image in the official test set."""
        ids = getattr(self.split, "indices", None)
        return np.arange(len(self.labels)) if ids is None else np.asarray(ids)

    def mistakes(self) -> list[dict[str, Any]]:
        """Misclassified images, most confident mistakes first: ``position`` in the evaluated
        set, ``index`` in the official test set, ``true``, ``predicted``, ``confidence``."""
        wrong = np.flatnonzero(self.predicted != self.labels)
        conf = self.probs[wrong, self.predicted[wrong]]
        order = wrong[np.argsort(-conf, kind="stable")]
        ids = self.test_ids()
        names = self.class_names
        return [
            {
                "position": int(i),
                "index": int(ids[i]),
                "true": names[int(self.labels[i])],
                "predicted": names[int(self.predicted[i])],
                "confidence": round(float(self.probs[i, self.predicted[i]]), 6),
            }
            for i in order
        ]

    def metrics(self) -> dict[str, Any]:
        """The JSON summary: ``{"accuracy", "per_class": {name: {precision, recall, f1, support}},
        ...}``."""
        names = self.class_names
        per_class = {
            n: {
                "precision": self.report[n]["precision"],
                "recall": self.report[n]["recall"],
                "f1": self.report[n]["f1-score"],
                "support": int(self.report[n]["support"]),
            }
            for n in names
        }
        avg = {
            k.replace(" ", "_"): {
                "precision": self.report[k]["precision"],
                "recall": self.report[k]["recall"],
                "f1": self.report[k]["f1-score"],
            }
            for k in ("macro avg", "weighted avg")
        }
        return {
            "checkpoint": self.checkpoint.name,
            "architecture": self.checkpoint.architecture,
            "dataset": self.checkpoint.dataset,
            "test_set": "official" if self.official else "bundled_sample",
            "images": len(self.labels),
            "accuracy": self.accuracy,
            "errors": int((self.predicted != self.labels).sum()),
            "loss": self.loss,
            "per_class": per_class,
            **avg,
            "sha256": self.checkpoint.sha256,
        }


def evaluate(
    checkpoint: str | os.PathLike | Checkpoint,
    *,
    data_dir: str | os.PathLike | None = None,
    sample_only: bool = False,
    batch_size: int = 1000,
) -> Evaluation:
    """Run the checkpoint over the test set (official if on disk, else the bundled sample),
    ``batch_size`` digits at a time (a batch's activations are what the pass holds: ~300 MB
    for 1,000 digits through ``mnist_bn_cnn``).

    Example:

    >>> from explainer import evaluate, load_checkpoint
    >>> result = evaluate(load_checkpoint("mnist_fast_cnn"), sample_only=True)
    >>> len(result.labels), result.official, result.accuracy > 0.95
    (500, False, True)
    """
    from sklearn.metrics import classification_report, confusion_matrix

    from explainer.nets.inference import predict_logits

    ckpt = (
        checkpoint
        if isinstance(checkpoint, Checkpoint)
        else load_checkpoint(resolve_checkpoint(checkpoint))
    )
    if sample_only:
        split, official = load_sample(ckpt.dataset), False
    else:
        split, official = load_test_or_sample(ckpt.dataset, data_dir)
    logits = predict_logits(ckpt.model, split.floats(), batch_size=batch_size)
    labels = split.labels
    if ckpt.class_names and len(ckpt.class_names) != logits.shape[1]:
        raise ExplainerError(
            f"{ckpt.name} names {len(ckpt.class_names)} classes but has {logits.shape[1]} "
            "outputs; save it with one class name per output"
        )
    if len(labels) and int(labels.max()) >= logits.shape[1]:
        raise ExplainerError(
            f"{ckpt.name} has {logits.shape[1]} outputs but the {ckpt.dataset} test digits have "
            f"labels 0 to {int(labels.max())}: evaluate a model with one output per class"
        )
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    y, pred = labels.numpy(), logits.argmax(1).numpy()
    k = logits.shape[1]
    names = ckpt.class_names or [str(i) for i in range(k)]
    report = classification_report(
        y, pred, labels=list(range(k)), target_names=names, output_dict=True, zero_division=0
    )
    cm = confusion_matrix(y, pred, labels=list(range(k)))
    temperature = temperature_of(ckpt.raw or {})
    return Evaluation(ckpt, split, official, logits.numpy(), temperature, y, pred, loss, cm, report)


def summary_lines(ev: Evaluation) -> list[str]:
    """A few lines for the terminal: accuracy, the weakest class, the most common confusion."""
    m = ev.metrics()
    lines = [
        f"{ev.checkpoint.name} on {ev.test_set}",
        f"accuracy {m['accuracy']:.2%} ({m['errors']} errors), loss {m['loss']:.4f}",
    ]
    worst = min(m["per_class"].items(), key=lambda kv: kv[1]["f1"])
    lines.append(
        f"weakest class: {worst[0]} (F1 {worst[1]['f1']:.4f}, recall {worst[1]['recall']:.2%})"
    )
    off = ev.confusion.copy()
    np.fill_diagonal(off, 0)
    if off.sum():
        i, j = np.unravel_index(int(off.argmax()), off.shape)
        names = ev.class_names
        lines.append(f"most common mistake: {names[i]} read as {names[j]} ({off[i, j]} times)")
    lines.append(calibration_summary(ev))
    return lines


@dataclass
class Mistake:
    """One misclassified image: ``image`` ``(28, 28)`` in [0, 1], its index in the official
    test set, the true label and the probabilities ``(K,)``."""

    image: np.ndarray
    index: int
    label: int
    probs: np.ndarray

    @property
    def top2(self) -> list[int]:
        """The two most likely classes, most likely first."""
        return [int(i) for i in np.argsort(-self.probs, kind="stable")[:2]]


@dataclass
class MistakeReport:
    """The most confident mistakes of one model (``mistakes``, most confident first, at most
    ``limit`` of them), out of ``errors`` mistakes on ``checked`` images."""

    model: str
    class_names: list[str]
    mistakes: list[Mistake]
    errors: int
    checked: int
    official: bool

    @property
    def accuracy(self) -> float:
        return 1 - self.errors / self.checked if self.checked else float("nan")


def mistake_report(ev: Evaluation, limit: int | None = MAX_MISTAKES_SHOWN) -> MistakeReport:
    """The :class:`MistakeReport` of an :class:`Evaluation`: its images, true labels and
    probabilities, in the order of :meth:`Evaluation.mistakes`."""
    listed = ev.mistakes()
    shown = listed if limit is None else listed[:limit]
    images = ev.split.images
    out = []
    for m in shown:
        img = images[m["position"]].numpy()
        img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
        out.append(Mistake(img, m["index"], int(ev.labels[m["position"]]), ev.probs[m["position"]]))
    return MistakeReport(
        ev.checkpoint.name, ev.class_names, out, len(listed), len(ev.labels), ev.official
    )
