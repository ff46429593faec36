"""One ``.pt`` file per model: weights plus everything needed to rebuild and describe it.

The file is a dict of plain types (str, int, float, list, dict, tensors) so
``torch.load(path, weights_only=True)`` reads it and nothing is ever unpickled:

``format``, ``version``, ``architecture``, ``arch_kwargs``, ``dataset``, ``normalization``
(``mean``, ``std``), ``class_names``, ``state_dict``, ``history`` (a list of per-epoch dicts),
``metrics`` (test accuracy and friends), ``config`` (the training recipe), ``epoch``,
``train_seconds``, ``created``, and for resumable "last" files ``optimizer_state``,
``scheduler_state``, ``best_state_dict`` and ``best_epoch``. A model of the user's own class
also has ``model_class`` (``pkg.mod:Class`` or ``file.py:Class``); ``arch_kwargs`` then holds
its constructor arguments. Every field's type is checked on load
(:mod:`explainer.nets.checkpoint_fields`), and the model is built on the meta device and compared
with the weights before anything big is allocated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explainer.errors import ExplainerError
from explainer.io import atomic_write, require_file
from explainer.nets import user_code
from explainer.nets.architectures import Network, Normalize, available, build
from explainer.nets.checkpoint_fields import (
    FORMAT,
    VERSION,
    CheckpointError,
    check_state_dict,
    validate_payload,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "check_rebuilds",
    "check_state_dict",
    "checkpoint_of",
    "load_checkpoint",
    "make_payload",
    "model_from_payload",
    "read_payload",
    "resolve_checkpoint",
    "save_checkpoint",
    "shape_mismatch",
    "shipped_checkpoints",
]


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model in eval mode and its metadata. ``model_class`` is
    the spec of a user's own class (``pkg.mod:Class`` / ``file.py:Class``), empty for the
    registry's architectures.

    Example:

    >>> from explainer import load_checkpoint
    >>> ckpt = load_checkpoint("mnist_fast_cnn")
    >>> ckpt.architecture, ckpt.dataset, ckpt.class_names[:3], ckpt.model.training
    ('fast_cnn', 'mnist', ['0', '1', '2'], False)
    """

    model: nn.Module
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
    model_class: str = ""
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


# --- saving ----------------------------------------------------------------------------------


def make_payload(
    model: nn.Module,
    *,
    dataset: str = "mnist",
    class_names: list[str] | None = None,
    arch_kwargs: dict[str, Any] | None = None,
    model_kwargs: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    epoch: int = 0,
    train_seconds: float = 0.0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plain-typed dict that :func:`save_checkpoint` writes, for any ``nn.Module``.

    A registry network records its name; any other module records its class
    (:func:`explainer.nets.user_code.class_spec`) and constructor arguments: ``model_kwargs``
    (``arch_kwargs`` is the same thing), else the model's own ``model_kwargs`` attribute.
    ``save_checkpoint(path, model, ...)`` also checks that they rebuild the model.
    """
    kwargs = _constructor_kwargs(model, arch_kwargs, model_kwargs)
    architecture, model_class = _architecture(model)
    if class_names is None:
        from explainer.data import dataset_info

        class_names = dataset_info(dataset).class_names
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": architecture,
        "arch_kwargs": kwargs,
        "dataset": dataset,
        "normalization": _normalization(model),
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
    if model_class:
        payload["model_class"] = model_class
    payload.update(extra or {})
    return payload


def _constructor_kwargs(model: nn.Module, arch_kwargs: Any, model_kwargs: Any) -> dict[str, Any]:
    if arch_kwargs and model_kwargs and dict(arch_kwargs) != dict(model_kwargs):
        raise CheckpointError("give the constructor arguments once: model_kwargs or arch_kwargs")
    kwargs = model_kwargs or arch_kwargs or getattr(model, "model_kwargs", None) or {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"model_kwargs must be a dict, got {type(kwargs).__name__}")
    user_code.check_plain(kwargs, "model_kwargs")
    return json.loads(json.dumps(kwargs))  # a copy, in plain types only


def _architecture(model: nn.Module) -> tuple[str, str]:
    """``(name, "")`` for a registry network, ``(class name, class spec)`` for anything else."""
    if type(model) is Network and model.arch_name in available():
        return model.arch_name, ""
    return type(model).__name__, user_code.class_spec(type(model))


def _normalization(model: nn.Module) -> dict[str, float]:
    """The model's own :class:`Normalize` step, if it has one (a user's model may have none)."""
    norm = next((m for m in model.modules() if isinstance(m, Normalize)), None)
    return {"mean": float(norm.mean), "std": float(norm.std)} if norm is not None else {}


def check_rebuilds(model: nn.Module, kwargs: dict[str, Any]) -> None:
    """Raise unless ``type(model)(**kwargs)`` has the model's tensor names and shapes (checked
    on the meta device; skipped for code that cannot run there)."""
    cls = type(model)
    user_code.check_arguments(cls, kwargs)
    try:
        with torch.device("meta"):
            skeleton = cls(**kwargs)
    except Exception:  # code that cannot run on the meta device: the load checks the real build
        return
    problem = shape_mismatch(model.state_dict(), skeleton.state_dict(), "this model")
    if problem:
        raise CheckpointError(
            f"{cls.__name__}(**{json.dumps(kwargs)}) would not rebuild this model ({problem}): "
            "pass its constructor arguments, e.g. save_checkpoint(path, model, "
            "model_kwargs={...})"
        )


def save_checkpoint(
    path: str | os.PathLike, payload: dict[str, Any] | nn.Module, **make_kwargs: Any
) -> Path:
    """Write a checkpoint atomically (temp file + rename): a crash never leaves half a file.

    ``payload`` is a dict from :func:`make_payload`, or a model (then ``make_kwargs`` go to
    :func:`make_payload`, e.g. ``save_checkpoint("my.pt", net, model_kwargs={"hidden": 64})``,
    and a model of the user's own class must be rebuilt by its class and those arguments).
    What :func:`load_checkpoint` would refuse (NaN weights, malformed fields) is never written.
    """
    if isinstance(payload, nn.Module):
        model, payload = payload, make_payload(payload, **make_kwargs)
        if payload.get("model_class"):
            check_rebuilds(model, payload["arch_kwargs"])
    elif make_kwargs:
        raise ExplainerError("save_checkpoint: options such as model_kwargs need a model")
    validate_payload(payload, str(path))
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


# --- loading ---------------------------------------------------------------------------------


def read_payload(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a checkpoint's dict (``weights_only=True``); one-line errors for bad,
    foreign or malformed files. Nothing is imported and nothing is unpickled."""
    path = require_file(
        path, CheckpointError, what="checkpoint", hint="see `ls models/` for shipped ones"
    )
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for foreign or cut files
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or not made by torch.save: "
            f"{user_code.one_line(exc, 160)})"
        ) from None
    return validate_payload(payload, str(path))


def _check_archive(path: Path) -> None:
    """torch.save writes an uncompressed zip: anything else (a cut file, a legacy pickle, a zip
    whose entries would inflate) is refused before torch reads a byte of it."""
    try:
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
    except Exception:  # BadZipFile and friends: not a zip, or cut
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, or not made by torch.save)"
        ) from None
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        raise CheckpointError(
            f"{path} is not a readable checkpoint (compressed entries: not made by torch.save)"
        )


def shape_mismatch(
    have: dict[str, torch.Tensor], want: dict[str, torch.Tensor], label: str = "the file"
) -> str:
    """The first difference between two state dicts' names and shapes ('' when they fit)."""
    missing = [k for k in want if k not in have]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return f"{label} has no tensor {missing[0]!r}{more}"
    extra = [k for k in have if k not in want]
    if extra:
        return f"{label} has a tensor {extra[0]!r} the model does not have"
    for k, w in want.items():
        if tuple(have[k].shape) != tuple(w.shape):
            return f"{k!r} is {list(have[k].shape)} in {label} but {list(w.shape)} in the model"
    return ""


def model_from_payload(
    payload: dict[str, Any],
    *,
    code: str | None = None,
    allow_import: bool = False,
    where: str = "the checkpoint",
) -> nn.Module:
    """Rebuild the model (eval mode, CPU) of a validated payload.

    The architecture is first built on the meta device (no memory) and its tensor names and
    shapes compared with the file's; only a model that fits is built for real. A user's own
    class is imported only with consent: ``code`` (a spec, used instead of the recorded one)
    or ``allow_import=True`` (import the class the file names).
    """
    make, user = _maker(payload, code, allow_import, where)
    state = payload["state_dict"]
    skeleton = _build(make, where, meta=True, user=user)
    name = payload["architecture"]
    if skeleton is not None:
        problem = shape_mismatch(state, skeleton.state_dict())
        if problem:
            raise CheckpointError(f"{where}: the weights do not fit {name}: {problem}")
    model = _build(make, where, meta=False, user=user)
    try:
        model.load_state_dict(state)
    except Exception as exc:  # what the shape check could not see (a user class off meta)
        raise CheckpointError(
            f"{where}: the weights do not fit {name}: {user_code.one_line(exc, 160)}"
        ) from None
    return model.eval()


def _maker(
    payload: dict[str, Any], code: str | None, allow_import: bool, where: str
) -> tuple[Callable[[], nn.Module], bool]:
    """A function that builds the payload's model, and whether it runs the user's code."""
    kwargs = payload.get("arch_kwargs", {})
    spec = payload.get("model_class", "")
    if not spec:
        arch = payload["architecture"]
        if arch not in available():
            raise CheckpointError(
                f"{where}: field 'architecture' is {arch!r}, not one of: {', '.join(available())}"
            )
        norm = payload.get("normalization", {})
        mean, std = norm.get("mean", 0.1307), norm.get("std", 0.3081)
        return (lambda: build(arch, mean=mean, std=std, **kwargs)), False
    if not code and not allow_import:
        raise CheckpointError(
            f"{where} holds a model of your own class {spec}; loading it imports and runs that "
            f"code, so do it only for a file you trust: pass --code {spec} "
            f"(Python: code={spec!r} or allow_import=True)"
        )
    try:
        cls = user_code.import_class(code or spec)
    except ExplainerError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    return (lambda: user_code.construct(cls, kwargs)), True


def _build(make: Callable[[], nn.Module], where: str, *, meta: bool, user: bool):
    """``make()``, on the meta device when ``meta``; a user's class that cannot run there gives
    ``None`` (it is then checked after the real build)."""
    try:
        if not meta:
            return make()
        with torch.device("meta"):
            return make()
    except Exception as exc:  # e.g. arch_kwargs asking for a negative or absurd size
        why = str(exc) if isinstance(exc, ExplainerError) else user_code.one_line(exc, 160)
        if user and isinstance(exc, ExplainerError):
            raise CheckpointError(f"{where}: {why}") from None
        if user and meta:
            return None
        raise CheckpointError(
            f"{where}: field 'arch_kwargs' does not build the model: {why}"
        ) from None


def load_checkpoint(
    path: str | os.PathLike, *, code: str | None = None, allow_import: bool = False
) -> Checkpoint:
    """Load a checkpoint (a path, or a shipped model's short name such as ``mnist_bn_cnn``) and
    rebuild its model in eval mode on the CPU. A model of the user's own class needs ``code``
    (``"my_net.py:MyNet"`` / ``"pkg.mod:MyNet"``) or ``allow_import=True``; see
    :func:`model_from_payload`.

    Example:

    >>> from explainer import load_checkpoint, load_sample
    >>> model = load_checkpoint("mnist_fast_cnn").model
    >>> model(load_sample().floats()[:4]).shape
    torch.Size([4, 10])
    """
    path = resolve_checkpoint(path)
    payload = read_payload(path)
    model = model_from_payload(payload, code=code, allow_import=allow_import, where=str(path))
    return Checkpoint(
        model=model,
        architecture=payload["architecture"],
        dataset=payload.get("dataset", "mnist"),
        class_names=list(payload.get("class_names", [])),
        path=path,
        arch_kwargs=dict(payload.get("arch_kwargs", {})),
        normalization=dict(payload.get("normalization", {})),
        history=list(payload.get("history", [])),
        metrics=dict(payload.get("metrics", {})),
        config=dict(payload.get("config", {})),
        epoch=int(payload.get("epoch", 0)),
        train_seconds=float(payload.get("train_seconds", 0.0)),
        model_class=payload.get("model_class", ""),
        raw=payload,
    )


def checkpoint_of(
    model: nn.Module, *, dataset: str = "mnist", class_names: list[str] | None = None
) -> Checkpoint:
    """A :class:`Checkpoint` around a model in memory (no file), e.g. ``Predictor(my_net)``."""
    from explainer.data import dataset_info

    arch = getattr(model, "arch_name", "") if isinstance(model, Network) else ""
    return Checkpoint(
        model=model.eval(),
        architecture=arch or type(model).__name__,
        dataset=dataset,
        class_names=list(class_names or dataset_info(dataset).class_names),
        arch_kwargs=dict(getattr(model, "model_kwargs", None) or {}),
        normalization=_normalization(model),
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
