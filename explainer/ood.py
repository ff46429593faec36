""""This does not look like a digit": an out-of-distribution score beside the forced answer.

A classifier always picks one of its ten classes, even for a letter, a scribble or an ink
blot. The flag says when the picture is unlike anything it was trained on, from two cues:

1. **Feature distance** (Lee et al. 2018, "Mahalanobis"): the input of the network's first
   dense layer (the conv trunk's output; see :func:`feature_layer`), compared with those of the training digits. Each
   class's mean and one shared covariance are fitted on 10,000 training-split digits; the
   score is the squared Mahalanobis distance to the nearest class mean, computed on the
   covariance's top :data:`COMPONENTS` principal directions plus the rest as one isotropic
   term, so the checkpoint stays small. The threshold is the
   :data:`QUANTILE` quantile of the scores of the validation split (seeded,
   :func:`explainer.data.load_train_val`): about 0.5% of real digits are above it.
2. **Ink statistics** from preprocessing: a "stroke" wider than :data:`BLOT_STROKE` px in the
   20×20 box (MNIST's strokes are 1.5-4 px, a fat marker 5) is a blot, a dot or a smudge.

Stored in the checkpoint under ``calibration.ood`` (``layer``, ``means``, ``components``,
``variances``, ``residual``, ``threshold``, ``quantile``); :func:`OodModel.from_raw` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from explainer.calibration import KEY, CalibrationError

COMPONENTS = 32
QUANTILE = 0.995
BLOT_STROKE = 8.0


MAX_FEATURES = 2048


def feature_layer(model: nn.Module, name: str | None = None) -> tuple[str, nn.Linear]:
    """The dense layer whose input is the feature vector (name, module): ``name`` when given,
    else the one with the widest input of at most :data:`MAX_FEATURES` numbers (the conv
    trunk's flattened output in the CNNs: earlier, richer features than the last layer's)."""
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if name is not None:
        found = [(n, m) for n, m in found if n == name]
    fits = [(n, m) for n, m in found if m.in_features <= MAX_FEATURES]
    if not fits:
        raise CalibrationError(f"the model has no dense layer {name or ''} to read features from")
    return max(fits, key=lambda nm: nm[1].in_features)


@torch.inference_mode()
def logits_and_features(
    model: nn.Module, images: torch.Tensor | np.ndarray, layer: str | None = None, batch: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(N, K)`` and last-dense-layer inputs ``(N, D)`` for images ``(N, 28, 28)`` or
    ``(N, 1, 28, 28)`` float in [0, 1], in one forward pass."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
    _, dense = feature_layer(model, layer)
    grabbed: list[torch.Tensor] = []
    hook = dense.register_forward_hook(lambda _m, inp, _o: grabbed.append(inp[0].flatten(1)))
    was_training = model.training
    model.eval()
    try:
        logits = [model(x[i : i + batch]).float() for i in range(0, len(x), batch)]
    finally:
        hook.remove()
        model.train(was_training)
    if not logits:
        return torch.empty(0, 10), torch.empty(0, dense.in_features)
    return torch.cat(logits), torch.cat(grabbed).float()


@dataclass
class OodModel:
    """Class means and a low-rank shared covariance of the features, and the threshold."""

    means: torch.Tensor  # (K, D)
    components: torch.Tensor  # (D, k) orthonormal directions
    variances: torch.Tensor  # (k,)
    residual: float  # mean variance off those directions
    threshold: float

    def scores(self, feats: torch.Tensor) -> np.ndarray:
        """Squared Mahalanobis distance of each row of ``feats`` ``(N, D)`` to its nearest
        class mean."""
        out = []
        for part in feats.float().split(512):
            diff = part[:, None, :] - self.means[None]  # (n, K, D)
            proj = diff @ self.components  # (n, K, k)
            inside = (proj**2 / self.variances).sum(-1)
            rest = (diff**2).sum(-1) - (proj**2).sum(-1)
            out.append((inside + rest.clamp_min(0) / self.residual).min(1).values)
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def to_dict(self, quantile: float, layer: str) -> dict[str, Any]:
        return {
            "layer": layer,
            "means": self.means.contiguous(),
            "components": self.components.contiguous(),
            "variances": self.variances.contiguous(),
            "residual": float(self.residual),
            "threshold": float(self.threshold),
            "quantile": float(quantile),
        }

    @classmethod
    def from_raw(cls, raw: dict[str, Any], classes: int, dim: int) -> OodModel | None:
        """The model stored in a checkpoint dict, ``None`` when it has none; one-line
        :class:`CalibrationError` when it is malformed (wrong types, shapes or values)."""
        entry = raw.get(KEY, {})
        ood = entry.get("ood") if isinstance(entry, dict) else None
        if ood is None:
            return None
        try:
            m, c, v = ood["means"], ood["components"], ood["variances"]
            ok = all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in (m, c, v))
            ok = ok and m.shape == (classes, dim) and c.dim() == 2 and c.shape[0] == dim
            ok = ok and v.shape == (c.shape[1],) and bool((v > 0).all())
            ok = ok and all(bool(torch.isfinite(t).all()) for t in (m, c, v))
            res, thr = float(ood["residual"]), float(ood["threshold"])
            ok = ok and res > 0 and np.isfinite(res) and thr > 0 and np.isfinite(thr)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise CalibrationError(
                "the checkpoint's calibration.ood entry is malformed; refit it with "
                "`python scripts/calibrate_models.py`"
            )
        return cls(m.float(), c.float(), v.float(), res, thr)


def fit(feats: torch.Tensor, labels: torch.Tensor, classes: int) -> OodModel:
    """Class means and the shared covariance's top :data:`COMPONENTS` directions from
    training features (threshold left at 0: set it with :func:`calibrate`)."""
    feats = feats.double()
    means = torch.stack([feats[labels == c].mean(0) for c in range(classes)])
    centred = feats - means[labels]
    cov = centred.T @ centred / max(len(feats) - classes, 1)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    k = min(COMPONENTS, feats.shape[1])
    floor = max(float(evals[-1]) * 1e-6, 1e-9)
    top = evals[-k:].clamp_min(floor)
    rest = evals[:-k].clamp_min(0)
    residual = float(rest.mean()) if len(rest) else floor
    return OodModel(
        means.float(), evecs[:, -k:].float(), top.float(), max(residual, floor), threshold=0.0
    )


def calibrate(model: OodModel, val_feats: torch.Tensor, quantile: float = QUANTILE) -> OodModel:
    """Set the threshold to the ``quantile`` of the validation digits' scores."""
    model.threshold = float(np.quantile(model.scores(val_feats), quantile))
    return model


def is_blot(stroke: float) -> bool:
    """Preprocessing's cue: strokes this wide (in 20×20-box pixels) are a blot, not a digit."""
    return stroke >= BLOT_STROKE
