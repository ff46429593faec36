"""Everything ``explainer train`` fits after training, on the run's validation split: the
temperature (:mod:`explainer.nets.calibration`), the energy and ink cues
(:mod:`explainer.nets.ood`) and, for an MNIST model, the threshold of the not-a-digit detector
(:mod:`explainer.nets.not_a_digit`) with its weights: one dict stored in the checkpoint under
``calibration``. ``scripts/calibrate_models.py`` calls the same function for a finished file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from explainer.nets.calibration import calibration_entry
from explainer.nets.inference import predict_logits
from explainer.nets.not_a_digit import ENTRY, Detector, detector_of, fit_detector
from explainer.nets.ood import OodRule, fit_rule

MIN_IMAGES = 200  # fewer validation digits cannot place a 0.4% quantile: nothing is fitted


def calibrate(
    model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, dataset: str, split: str
) -> dict[str, Any] | None:
    """The ``calibration`` entry of a trained ``model`` from its validation images ``x_val``
    ``(N, 1, 28, 28)`` in [0, 1] and labels ``y_val`` ``(N,)``; ``None`` when the split holds
    fewer than :data:`MIN_IMAGES` images (a dry run, a toy split)."""
    if len(y_val) < MIN_IMAGES:
        return None
    from explainer.nets.checkpoints import models_dir

    logits = predict_logits(model, x_val)
    entry = calibration_entry(logits, y_val, split)
    images = x_val.reshape(-1, 28, 28).numpy()
    rule = fit_rule(logits, images)
    entry["ood"] = rule.to_dict()
    detector = detector_of({}, dataset, models_dir())
    if detector is not None:
        entry[ENTRY] = fit_with_ink(detector, images, logits.numpy(), rule).to_dict()
    return entry


def fit_with_ink(
    detector: Detector, images: np.ndarray, logits: np.ndarray, rule: OodRule
) -> Detector:
    """The detector fitted on one model's validation digits ``images`` ``(N, 28, 28)`` and
    their ``logits`` ``(N, classes)``; ``val_flagged`` counts the ink cues of ``rule`` too."""
    strokes = np.zeros(len(images))  # the blot cue needs pictures; these are no blots
    ink = rule.reasons(logits, images, strokes, use_energy=False)
    return fit_detector(detector, images, np.array([bool(r) for r in ink]), logits=logits)
