"""A training run's recipe and its result: :class:`TrainConfig` in, :class:`History` out.

Every field of :class:`TrainConfig` is also an ``explainer train`` option; :meth:`TrainConfig.
recipe` is the part that defines the trained weights (what the model card records and
``--resume`` checks). :class:`History` holds the per-epoch records, the outcome (best epoch,
early stop, interruption, divergence) and the trained model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from torch import nn

from explainer.data import dataset_info
from explainer.errors import ExplainerError
from explainer.nets import user_code
from explainer.nets.architectures import describe

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = ("onecycle", "plateau", "step", "none")


@dataclass
class TrainConfig:
    """A training recipe. Every field is also a ``explainer train`` option.

    Example:

    >>> from explainer import TrainConfig
    >>> config = TrainConfig(arch="fast_cnn", epochs=2, lr=0.01)
    >>> config.arch, config.epochs, config.dataset
    ('fast_cnn', 2, 'mnist')
    """

    arch: str = "bn_cnn"
    dataset: str = "mnist"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "onecycle"
    step_size: int = 5
    gamma: float = 0.5
    patience: int = 0
    augment: bool = False
    rotation: float = 10.0
    shift: float = 0.1
    scale: float = 0.1
    thicken: float = 0.0
    label_smoothing: float = 0.0
    val_fraction: float = 0.15
    seed: int = 0
    device: str = "auto"
    dry_run: bool = False
    save_every: int = 0
    snapshot_epochs: list[int] = field(default_factory=list)
    out: str | None = None
    resume: bool = False
    data_dir: str | None = None
    channels_last: bool = True
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    train_limit: int = 0
    max_seconds: float = 0.0
    evaluate_test: bool = True
    progress: bool = True

    def validate(self) -> None:
        if not isinstance(self.arch_kwargs, dict):
            raise ExplainerError("--arch-kwargs / --model-kwargs must be a JSON object, e.g. '{}'")
        user_code.check_plain(self.arch_kwargs, "--arch-kwargs")
        if self.code:  # import it now: a wrong --code fails before the data is loaded
            user_code.check_arguments(user_code.import_class(self.code), self.arch_kwargs)
        else:
            describe(self.arch)
        dataset_info(self.dataset)
        if self.optimizer not in OPTIMIZERS:
            raise ExplainerError(f"unknown optimizer {self.optimizer!r}; choose {OPTIMIZERS}")
        if self.scheduler not in SCHEDULERS:
            raise ExplainerError(f"unknown scheduler {self.scheduler!r}; choose {SCHEDULERS}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ExplainerError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.thicken <= 1:
            raise ExplainerError(f"--thicken is a share of the images, 0 to 1; got {self.thicken}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ExplainerError(f"learning rate must be a positive number, got {self.lr}")

    def recipe(self) -> dict[str, Any]:
        """The fields that define the result (not where files go or how it is displayed)."""
        skip = {"out", "resume", "data_dir", "progress", "dry_run", "device"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


@dataclass
class History:
    """What ``fit`` returns: per-epoch records, the outcome, and the trained (best) model."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = 0.0
    test_metrics: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    interrupted: bool = False
    diverged: bool = False
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None
    model: nn.Module | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self) | {"checkpoint": str(self.checkpoint) if self.checkpoint else None}
        d.pop("model")
        return d
