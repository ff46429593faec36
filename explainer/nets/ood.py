""" "This does not look like a digit": an out-of-distribution score beside the forced answer.

A classifier always picks one of its ten classes, even for a letter, a scribble or an ink
blot. The flag says when the picture is unlike the digits it was trained on, from two cues:

1. **Energy** (Liu et al. 2020): ``-logsumexp(logits)``. Digits the network knows get large
   logits, so a low (very negative) energy; pictures unlike any class get a higher one. The
   threshold is the :data:`QUANTILE` quantile of the energies of the validation split (seeded,
   :func:`explainer.data.load_train_val`), so about 0.5% of real digits lie above it.
2. **Ink statistics** from preprocessing: a "stroke" wider than :data:`BLOT_STROKE` px in the
   20×20 box (MNIST's strokes are 1.5-4 px, a fat marker 5) is a blot, a dot or a smudge; and
   the share of the 28×28 field covered by ink must lie within the validation digits' range
   (``ink_range``: their 0.05% and 99.95% quantiles), which a tangled scribble exceeds.

Stored in the checkpoint under ``calibration.ood`` (``score``, ``threshold``, ``quantile``,
``ink_range``); :meth:`OodRule.from_raw` reads it back. Measured rates are in the README
(section evaluate): post-hoc scores like these catch blots, dots and smudges reliably but
only part of the letters and scribbles at a 1% false-alarm budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from explainer.nets.calibration import KEY, CalibrationError

QUANTILE = 0.995
INK_QUANTILES = (0.0005, 0.9995)
BLOT_STROKE = 8.0


def energy(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """``-logsumexp(logits)`` per row: higher means less like the training digits."""
    x = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return (-torch.logsumexp(x, dim=-1)).numpy()


def ink_share(images: np.ndarray) -> np.ndarray:
    """Share of the 28×28 field that is ink (pixels above 0.5), per image ``(N, 28, 28)``."""
    return (np.asarray(images).reshape(len(images), -1) > 0.5).mean(1)


@dataclass
class OodRule:
    """The calibrated thresholds: energy above ``threshold``, ink share outside ``ink_range``
    or strokes of :data:`BLOT_STROKE` px and wider mean "does not look like a digit"."""

    threshold: float
    ink_range: tuple[float, float]
    quantile: float = QUANTILE

    def reasons(
        self, logits: np.ndarray, images: np.ndarray, strokes: np.ndarray, use_energy: bool = True
    ) -> list[str]:
        """One string per picture: why it does not look like a digit, "" when it does.
        ``use_energy=False``: the ink cues only (a not-a-digit detector takes the energy's
        place, :mod:`explainer.nets.not_a_digit`)."""
        e, ink = energy(logits), ink_share(images)
        out = []
        for ei, si, wi in zip(e, ink, np.asarray(strokes, dtype=float), strict=True):
            if wi >= BLOT_STROKE:
                out.append("a blot or a dot, not pen strokes")
            elif not self.ink_range[0] <= si <= self.ink_range[1]:
                out.append("far more (or less) ink than any digit")
            elif use_energy and ei > self.threshold:
                out.append("unlike every digit the model learned")
            else:
                out.append("")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": "energy",
            "threshold": float(self.threshold),
            "quantile": float(self.quantile),
            "ink_range": [float(v) for v in self.ink_range],
            "blot_stroke": BLOT_STROKE,
        }

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> OodRule | None:
        """The rule stored in a checkpoint dict, ``None`` when it has none; a one-line
        :class:`CalibrationError` when it is malformed."""
        entry = raw.get(KEY, {})
        ood = entry.get("ood") if isinstance(entry, dict) else None
        if ood is None:
            return None
        try:
            thr = ood["threshold"]
            lo, hi = ood["ink_range"]
            q = ood.get("quantile", QUANTILE)
            values = [thr, lo, hi, q]
            ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            ok = ok and all(np.isfinite(values)) and 0.0 <= lo <= hi <= 1.0
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise CalibrationError(
                "the checkpoint's calibration.ood entry is malformed; refit it with "
                "`python scripts/calibrate_models.py`"
            )
        return cls(float(thr), (float(lo), float(hi)), float(q))


def fit_rule(
    val_logits: torch.Tensor, val_images: np.ndarray, quantile: float = QUANTILE
) -> OodRule:
    """Calibrate on the validation split: the energy threshold at ``quantile`` and the ink
    share's range at :data:`INK_QUANTILES`."""
    thr = float(np.quantile(energy(val_logits), quantile))
    lo, hi = np.quantile(ink_share(val_images), INK_QUANTILES)
    return OodRule(thr, (float(lo), float(hi)), quantile)
