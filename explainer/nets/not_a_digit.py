""" "This does not look like a digit": a small companion detector trained with outlier exposure.

Post-hoc scores of the classifier itself (the energy of :mod:`explainer.nets.ood`) catch
blots and dots but only about a third of letters and doodles at a 1% false-alarm budget: a
classifier trained on digits alone has never been told what a non-digit is. The
:class:`DetectorNet` (two conv blocks and a small dense layer, about 40,000 weights) has: it was
trained on MNIST training digits (plus thick-brush, canvas-style, slanted, typed and even-pen
versions of them) against negatives made offline by seeded generators (Fashion-MNIST items, pen
strokes, glyph-like stroke combinations, blots and noise, letters and symbols from regular
fonts, typed and traced by the same even pen; see
:mod:`explainer.reading.negatives` and :mod:`explainer.reading.not_a_digit_train`). Its output is
one logit: higher means less like a digit.

The threshold is fitted on a classifier's validation split (:func:`fit_detector`): the
:data:`QUANTILE` quantile of the detector's scores on those digits, so that together with the
energy and ink cues of the checkpoint's :class:`~explainer.nets.ood.OodRule` at most about 1% of
real digits are flagged. ``explainer train`` fits it for every MNIST model and stores it in the
checkpoint under ``calibration.not_a_digit`` (``threshold``, ``quantile``, ``val_flagged``,
``images``, ``weights``); the shipped checkpoints, whose weights and reports stay as they are,
take theirs from the companion file ``models/not_a_digit.npz`` (:func:`companion_path`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from explainer.nets.calibration import KEY, CalibrationError
from explainer.nets.ood import energy

QUANTILE = 0.997  # the rule flags 0.3% of validation digits (plus the ink cues)
ENERGY_WEIGHT = 1.0  # score = detector logit + ENERGY_WEIGHT * the classifier's energy
ENTRY = "not_a_digit"
COMPANION = "not_a_digit.npz"
REASON = "unlike every digit: it looks like letters, doodles or other things"


class DetectorNet(nn.Module):
    """``(N, 1, 28, 28)`` MNIST-style images in [0, 1] -> ``(N,)`` not-a-digit logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(12, 24, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(24 * 7 * 7, 32), nn.ReLU(),
                                  nn.Linear(32, 1))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


@dataclass
class Detector:
    """The trained net and its fitted threshold: a score above ``threshold`` means
    "does not look like a digit". The score is the net's logit plus ``energy_weight`` times the
    classifier's energy ``-logsumexp(logits)`` (0: the net alone, for any model)."""

    net: DetectorNet
    threshold: float
    quantile: float = QUANTILE
    val_flagged: float = float("nan")
    energy_weight: float = 0.0

    @torch.inference_mode()
    def scores(
        self, images: np.ndarray | torch.Tensor, logits: np.ndarray | None = None,
        batch: int = 4096,
    ) -> np.ndarray:  # fmt: skip
        """Not-a-digit scores ``(N,)`` of MNIST-style images ``(N, 28, 28)`` in [0, 1];
        ``logits`` ``(N, classes)``: the classifier's, needed when ``energy_weight`` is set."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
        self.net.eval()
        parts = [self.net(x[i : i + batch]) for i in range(0, len(x), batch)]
        s = torch.cat(parts).double().numpy() if parts else np.zeros(0)
        if self.energy_weight:
            if logits is None:
                raise ValueError("this detector adds the classifier's energy: pass its logits")
            s = s + self.energy_weight * energy(logits).astype(np.float64)
        return s

    def flags(self, images: np.ndarray | torch.Tensor, logits: np.ndarray | None = None):
        """``(N,)`` bool: the score lies above the threshold."""
        return self.scores(images, logits) > self.threshold

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint entry: the fit and the weights (tensors, read with weights_only)."""
        return {
            "score": "detector",
            "threshold": float(self.threshold),
            "quantile": float(self.quantile),
            "val_flagged": float(self.val_flagged),
            "energy_weight": float(self.energy_weight),
            "weights": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
        }

    @classmethod
    def from_entry(cls, entry: dict[str, Any], where: str = "the checkpoint") -> Detector:
        """A detector from its stored entry; a one-line :class:`CalibrationError` when the
        entry is malformed (missing weights, a threshold that is not a finite number)."""
        thr = entry.get("threshold") if isinstance(entry, dict) else None
        if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not np.isfinite(thr):
            raise CalibrationError(
                f"{where}'s not_a_digit threshold is {thr!r}, not a number; retrain it with "
                "`explainer train` or refit it with `python scripts/calibrate_models.py`"
            )
        net = DetectorNet()
        try:
            weights = {k: torch.as_tensor(np.asarray(v)) for k, v in entry["weights"].items()}
            net.load_state_dict(weights)
        except (KeyError, AttributeError, TypeError, RuntimeError, ValueError):
            raise CalibrationError(
                f"{where}'s not_a_digit weights are missing or do not fit the detector; "
                "retrain with `explainer train` or refit with `python scripts/calibrate_models.py`"
            ) from None
        q = float(entry.get("quantile", QUANTILE))
        flagged, w = float(entry.get("val_flagged", float("nan"))), entry.get("energy_weight", 0)
        return cls(net.eval(), float(thr), q, flagged, float(w))


def fit_detector(
    detector: Detector, val_images: np.ndarray, base_flags: np.ndarray | None = None,
    quantile: float = QUANTILE, logits: np.ndarray | None = None,
) -> Detector:  # fmt: skip
    """The detector with its threshold at ``quantile`` of its scores on validation digits
    ``(N, 28, 28)`` in [0, 1]; with the classifier's ``logits`` ``(N, classes)`` the score adds
    :data:`ENERGY_WEIGHT` times their energy. ``val_flagged``: the share flagged by the score or
    by ``base_flags`` ``(N,)`` (the ink cues), what the whole rule costs real digits."""
    weight = ENERGY_WEIGHT if logits is not None else 0.0
    d = replace(detector, energy_weight=weight)
    s = d.scores(val_images, logits)
    thr = float(np.quantile(s, quantile))
    flagged = s > thr
    if base_flags is not None:
        flagged = flagged | np.asarray(base_flags, bool)
    return replace(d, threshold=thr, quantile=quantile, val_flagged=float(flagged.mean()))


def companion_path(models: Path) -> Path:
    """The shipped detector beside the shipped checkpoints in ``models``."""
    return Path(models) / COMPANION


def save_companion(detector: Detector, path: Path, fits: dict[str, Detector] | None = None) -> Path:
    """Write the detector as a plain ``.npz`` (weights and fit, nothing pickled), with the fits
    of named models (``fits``: checkpoint stem -> the detector fitted for it)."""
    from explainer.io import atomic_write

    arrays = {f"w.{k}": v.numpy() for k, v in detector.net.state_dict().items()}
    meta = np.array([detector.threshold, detector.quantile, detector.val_flagged], np.float64)
    for name, d in (fits or {}).items():
        arrays[f"fit.{name}"] = np.array(
            [d.threshold, d.quantile, d.val_flagged, d.energy_weight], np.float64
        )
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, meta=meta, **arrays)
    return Path(path)


def load_companion(path: Path, name: str = "") -> Detector:
    """Read a detector written by :func:`save_companion` (no pickles allowed), with the fit of
    the checkpoint named ``name`` when the file holds one, else the detector's own."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        row = arrays.get(f"fit.{name}", np.r_[arrays["meta"], 0.0]) if name else arrays["meta"]
        entry = {
            "threshold": float(row[0]),
            "quantile": float(row[1]),
            "val_flagged": float(row[2]),
            "energy_weight": float(np.r_[row, 0.0][3]),
        }
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise CalibrationError(
            f"{path} is not a readable not-a-digit detector ({type(exc).__name__}); "
            "rebuild it with `python -m explainer.reading.not_a_digit_train`"
        ) from None
    entry["weights"] = {k[2:]: v for k, v in arrays.items() if k.startswith("w.")}
    return Detector.from_entry(entry, str(path))


def detector_of(
    raw: dict[str, Any], dataset: str, models: Path | None, name: str = ""
) -> Detector | None:
    """The checkpoint's detector (``calibration.not_a_digit``), else for an MNIST model the
    shipped companion in ``models`` (with the fit of the shipped checkpoint ``name`` when it
    has one), else ``None``."""
    entry = raw.get(KEY, {})
    own = entry.get(ENTRY) if isinstance(entry, dict) else None
    if own is not None:
        return Detector.from_entry(own)
    if dataset != "mnist" or models is None or not companion_path(models).exists():
        return None
    return load_companion(companion_path(models), name)


def detector_for(ckpt: Any) -> Detector | None:
    """A loaded checkpoint's detector, as :func:`detector_of` finds it; a shipped model (a file
    in the models folder) gets its own fit from the companion, by its file name."""
    from explainer.paths import models_dir

    raw = getattr(ckpt, "raw", None) or {}
    path = getattr(ckpt, "path", None)
    shipped = path is not None and Path(path).resolve().parent == models_dir().resolve()
    name = Path(path).stem if shipped else ""
    return detector_of(raw, getattr(ckpt, "dataset", "mnist"), models_dir(), name)
