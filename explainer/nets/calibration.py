"""Honest confidence: temperature scaling and the expected calibration error (ECE).

A network's softmax is often over-sure: "99%" answers are right less than 99% of the time.
Temperature scaling (Guo et al. 2017) divides every logit by one number ``T`` fitted on the
validation split (the seeded split of :func:`explainer.data.load_train_val`) so that the
probabilities match how often the model is right there. It never changes which class wins.

``T`` is stored in the checkpoint under ``calibration`` (``temperature``, ``ece_before``,
``ece_after``, ``bins``, ``images``, ``split``) beside the out-of-distribution statistics of
:mod:`explainer.nets.ood`; :func:`temperature_of` reads it back (1.0 when absent).

"Sure" in the app and in ``explainer predict`` is this calibrated probability: a share of the
ten forced choices, not a promise that the picture is a digit at all (see
:mod:`explainer.nets.ood`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from explainer.errors import ExplainerError

ECE_BINS = 15
KEY = "calibration"


class CalibrationError(ExplainerError):
    """A checkpoint's ``calibration`` entry is malformed."""


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins
    and weighted by how many answers fall in each (0 = perfectly calibrated)."""
    conf, right = reliability(probs, labels, bins)[2:]
    counts = reliability(probs, labels, bins)[1]
    n = max(int(counts.sum()), 1)
    return float(sum(c * abs(a - f) for c, a, f in zip(counts, right, conf, strict=True)) / n)


def reliability(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin: ``edges`` (bins + 1), ``counts``, mean ``confidence`` and
    ``accuracy`` (0 for empty bins) of the arg-max answers."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(1)
    right = (probs.argmax(1) == np.asarray(labels)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins).astype(np.float64)
    safe = np.maximum(counts, 1)
    mean_conf = np.bincount(which, weights=conf, minlength=bins) / safe
    acc = np.bincount(which, weights=right, minlength=bins) / safe
    return edges, counts, mean_conf, acc


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The ``T > 0`` minimising the cross-entropy of ``softmax(logits / T)`` (L-BFGS on
    ``log T``, so it stays positive)."""
    logits = logits.detach().double()
    labels = labels.long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp().item())
    return t if math.isfinite(t) and 0.01 < t < 100 else 1.0


def softmax_t(logits: torch.Tensor | np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / T)`` as a float32 numpy array: THE probability every view shows
    (a Trace's ``probs``, an Evaluation's, a Predictor's), so a picture gets one "sure".

    >>> softmax_t(np.array([2.0, 0.0]), temperature=2.0).round(3)
    array([0.731, 0.269], dtype=float32)
    """
    x = torch.as_tensor(np.asarray(logits, dtype=np.float32)) / float(temperature)
    return torch.softmax(x, dim=-1).numpy()


def confidence_text(p: float) -> str:
    """A probability as a learner should read it: "> 99.9%" rather than a rounded "100.0%",
    "< 0.1%" rather than "0.0%"."""
    if p > 0.999:
        return "> 99.9%"
    if 0 < p < 0.001:
        return "< 0.1%"
    return f"{100 * p:.1f}%"


def calibration_entry(
    val_logits: torch.Tensor, val_labels: torch.Tensor, split: str
) -> dict[str, Any]:
    """Fit ``T`` on validation logits; the dict stored in the checkpoint under ``calibration``.
    When the fitted ``T`` (lowest cross-entropy) would raise the ECE, ``T = 1`` is kept."""
    y = val_labels.numpy()
    fitted = fit_temperature(val_logits, val_labels)
    before = expected_calibration_error(softmax_t(val_logits, 1.0), y)
    after = expected_calibration_error(softmax_t(val_logits, fitted), y)
    t = fitted if after <= before else 1.0  # never make the ECE worse (the dense toy models)
    return {
        "temperature": t,
        "fitted_temperature": fitted,
        "ece_before": before,
        "ece_after": min(after, before),
        "bins": ECE_BINS,
        "images": len(y),
        "split": split,
    }


def temperature_of(raw: dict[str, Any]) -> float:
    """The fitted temperature stored in a checkpoint's dict (``Checkpoint.raw``), else 1.0."""
    entry = raw.get(KEY)
    if entry is None:
        return 1.0
    t = entry.get("temperature") if isinstance(entry, dict) else None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0.01 < float(t) < 100):
        raise CalibrationError(
            f"the checkpoint's calibration.temperature is {t!r}, not a number in (0.01, 100); "
            "refit it with `python scripts/calibrate_models.py`"
        )
    return float(t)


def reliability_figure(
    probs_before: np.ndarray, probs_after: np.ndarray, labels: np.ndarray, title: str = ""
):
    """The reliability diagram: accuracy against confidence per bin, before and after
    temperature scaling (a calibrated model follows the diagonal), with the ECE of each."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.2), layout="constrained", sharey=True)
    for ax, probs, name in zip(axes, (probs_before, probs_after), ("before", "after"), strict=True):
        edges, counts, conf, acc = reliability(probs, labels)
        mid = 0.5 * (edges[1:] + edges[:-1])
        used = counts > 0
        ax.bar(mid[used], acc[used], width=edges[1] - edges[0], color="#9db7d5",
               edgecolor="#345", label="accuracy in the bin")  # fmt: skip
        ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        ax.plot(conf[used], acc[used], "o", color="#c0392b", ms=4, label="mean confidence")
        ece = expected_calibration_error(probs, labels)
        ax.set_title(f"{name} temperature scaling: ECE {ece:.2%}", fontsize=10.5)
        ax.set_xlabel("confidence (probability of the answer)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("how often the answer is right")
    axes[0].legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def evaluation_calibration(logits: np.ndarray, labels: np.ndarray, raw: dict[str, Any]) -> dict:
    """ECE on an evaluated set (``logits``: ``(N, K)``) before and after the checkpoint's
    temperature, and the probabilities before and after."""
    t = temperature_of(raw)
    before, after = softmax_t(logits, 1.0), softmax_t(logits, t)
    return {
        "temperature": t,
        "fitted": KEY in raw,
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "probs_before": before,
        "probs_after": after,
    }


def write_calibration(ev, folder) -> list:
    """For ``explainer evaluate``: ``reliability.png`` (before / after temperature scaling) and
    ``calibration.json`` in ``folder``; returns the files written. ``ev``: an Evaluation."""
    import json
    from pathlib import Path

    from explainer.io import save_figure, write_text_atomic

    c = evaluation_calibration(ev.logits, ev.labels, ev.checkpoint.raw or {})
    title = f"{ev.checkpoint.name}: temperature T = {c['temperature']:.3f}"
    fig = reliability_figure(c.pop("probs_before"), c.pop("probs_after"), ev.labels, title)
    body = json.dumps({**c, "bins": ECE_BINS, "images": len(ev.labels)}, indent=2) + "\n"
    return [
        save_figure(fig, Path(folder) / "reliability.png"),
        write_text_atomic(Path(folder) / "calibration.json", body),
    ]


def summary_line(ev) -> str:
    """One line for the terminal: the ECE before and after temperature scaling."""
    c = evaluation_calibration(ev.logits, ev.labels, ev.checkpoint.raw or {})
    if not c["fitted"]:
        return "calibration: no temperature fitted (python scripts/calibrate_models.py)"
    return (
        f"calibration error (ECE) {c['ece_before']:.2%} -> {c['ece_after']:.2%} "
        f"after temperature scaling (T = {c['temperature']:.3f})"
    )
