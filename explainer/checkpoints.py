"""One ``.pt`` file per model: weights plus everything needed to rebuild and describe it.

The file is a dict of plain types (str, int, float, list, dict, tensors) so
``torch.load(path, weights_only=True)`` reads it and nothing is ever unpickled:

``format``, ``version``, ``architecture``, ``arch_kwargs``, ``dataset``, ``normalization``
(``mean``, ``std``), ``class_names``, ``state_dict``, ``history`` (a list of per-epoch dicts),
``metrics`` (test accuracy and friends), ``config`` (the training recipe), ``epoch``,
``train_seconds``, ``created``, and for resumable "last" files ``optimizer_state`` and
``scheduler_state``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from explainer.architectures import Network, build
from explainer.errors import ExplainerError
from explainer.io import atomic_write

FORMAT = "mnist-explainer/checkpoint"
VERSION = 1


class CheckpointError(ExplainerError):
    """The file is missing, truncated, or not a mnist-explainer checkpoint."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model in eval mode and its metadata."""

    model: Network
    architecture: str
    dataset: str
    class_names: list[str]
    path: Path | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    normalization: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    train_seconds: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.stem if self.path else f"{self.dataset}_{self.architecture}"

    @property
    def sha256(self) -> str:
        """Short hash of the file's bytes, computed once per file version (empty when the
        checkpoint was not loaded from a file or the file is gone)."""
        if not self.path or not self.path.exists():
            return ""
        st = self.path.stat()
        return _hash_cached(str(self.path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _hash_cached(path: str, mtime_ns: int, size: int) -> str:
    return file_hash(path)


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def make_payload(
    model: Network,
    *,
    dataset: str,
    class_names: list[str],
    arch_kwargs: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    epoch: int = 0,
    train_seconds: float = 0.0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plain-typed dict that :func:`save_checkpoint` writes."""
    import datetime as dt

    norm = model.normalize
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": getattr(model, "arch_name", "custom"),
        "arch_kwargs": dict(arch_kwargs or {}),
        "dataset": dataset,
        "normalization": {"mean": float(norm.mean), "std": float(norm.std)},
        "class_names": list(class_names),
        "state_dict": {
            k: v.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
            for k, v in model.state_dict().items()
        },
        "history": list(history or []),
        "metrics": dict(metrics or {}),
        "config": dict(config or {}),
        "epoch": int(epoch),
        "train_seconds": float(train_seconds),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
    }
    payload.update(extra or {})
    return payload


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temp file + rename): a crash never leaves half a file."""
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_payload(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint's dict with ``weights_only=True``; one-line errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (see `ls models/` for shipped ones)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for foreign or cut files
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or not made by torch.save: {first})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a mnist-explainer checkpoint (train one with `explainer train`)"
        )
    if int(payload.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path} was written by a newer mnist-explainer; upgrade to read it")
    return payload


def model_from_payload(payload: dict[str, Any]) -> Network:
    norm = payload.get("normalization", {})
    model = build(
        payload["architecture"],
        mean=norm.get("mean", 0.1307),
        std=norm.get("std", 0.3081),
        **payload.get("arch_kwargs", {}),
    )
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights do not fit architecture {payload['architecture']!r}: "
            f"{str(exc).splitlines()[0][:160]}"
        ) from None
    return model.eval()


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint and rebuild its model (in eval mode, on the CPU)."""
    payload = read_payload(path)
    return Checkpoint(
        model=model_from_payload(payload),
        architecture=payload["architecture"],
        dataset=payload.get("dataset", "mnist"),
        class_names=list(payload.get("class_names", [])),
        path=Path(path),
        arch_kwargs=dict(payload.get("arch_kwargs", {})),
        normalization=dict(payload.get("normalization", {})),
        history=list(payload.get("history", [])),
        metrics=dict(payload.get("metrics", {})),
        config=dict(payload.get("config", {})),
        epoch=int(payload.get("epoch", 0)),
        train_seconds=float(payload.get("train_seconds", 0.0)),
        raw=payload,
    )


def models_dir() -> Path:
    """The shipped models' folder: ``models/`` in a checkout, inside the package when installed
    (``EXPLAINER_MODELS_DIR`` overrides it); see :mod:`explainer.paths`."""
    from explainer.paths import models_dir as where

    return where()


def shipped_checkpoints(dataset: str | None = None) -> list[Path]:
    """The shipped ``models/<dataset>_<arch>.pt`` files (snapshots and resume files excluded)."""
    paths = sorted(p for p in models_dir().glob("*.pt") if not p.name.endswith(".last.pt"))
    return [p for p in paths if dataset is None or p.stem.startswith(f"{dataset}_")]


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """Accept a path, or a shipped model's short name such as ``mnist_bn_cnn``."""
    p = Path(name_or_path)
    if p.exists() or p.suffix == ".pt":
        return p
    shipped = models_dir() / f"{p.name}.pt"
    if shipped.exists():
        return shipped
    names = ", ".join(q.stem for q in shipped_checkpoints()) or "none"
    raise CheckpointError(f"no checkpoint {name_or_path!r}; shipped models: {names}")
