"""Checking a checkpoint's dict before anything is built from it: every field's type, and
weights that are finite and really held by the file.

Each check raises :class:`CheckpointError` with one line naming the file and the field, so a
malformed or crafted file never ends in a ``KeyError`` / ``TypeError`` traceback, and a small
file cannot make the program allocate more memory than its own tensors hold.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from explainer.errors import ExplainerError
from explainer.nesting import nesting

FORMAT = "mnist-explainer/checkpoint"
VERSION = 1


class CheckpointError(ExplainerError):
    """The file is missing, truncated, malformed, or not a mnist-explainer checkpoint."""


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_history(v: Any) -> bool:
    """Per-epoch rows: a whole-number ``epoch`` and numbers (NaN for a diverged run)."""
    return isinstance(v, list) and all(
        isinstance(r, dict)
        and _is_int(r.get("epoch"))
        and r["epoch"] >= 0
        and all(isinstance(k, str) and _is_number(x) for k, x in r.items())
        for r in v
    )


def _is_metrics(v: Any) -> bool:
    """Named numbers, or lists of numbers (``per_class_accuracy``)."""
    return isinstance(v, dict) and all(
        isinstance(k, str)
        and (_is_number(x) or (isinstance(x, list) and all(_is_number(y) for y in x)))
        for k, x in v.items()
    )


# the training recipe's settings that are read back as numbers (the lesson's learning rate...)
CONFIG_NUMBERS = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "step_size", "gamma",
                  "patience", "rotation", "shift", "scale", "thicken", "label_smoothing",
                  "val_fraction", "seed")  # fmt: skip


def _is_config(v: Any) -> bool:
    return isinstance(v, dict) and all(
        _is_number(v[k]) and math.isfinite(v[k]) for k in CONFIG_NUMBERS if k in v
    )


MAX_DEPTH = 32  # nesting of lists and dicts in any field (a recipe needs 3 or 4)


# field -> (check, what it must be); fields not listed are kept as they are
FIELDS: dict[str, tuple[Any, str]] = {
    "version": (_is_int, "an integer"),
    "architecture": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "model_class": (lambda v: isinstance(v, str), "a string"),
    "arch_kwargs": (lambda v: isinstance(v, dict), "a dict"),
    "dataset": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "normalization": (lambda v: isinstance(v, dict), "a dict"),
    "class_names": (
        lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
        "a list of strings",
    ),
    "history": (
        _is_history,
        "a list of per-epoch dicts, each with a whole-number 'epoch' and numbers",
    ),
    "metrics": (_is_metrics, "a dict of numbers (or lists of numbers)"),
    "config": (_is_config, f"a dict whose {', '.join(CONFIG_NUMBERS[:3])}... are numbers"),
    "epoch": (lambda v: _is_int(v) and v >= 0, "a whole number of epochs"),
    "best_epoch": (lambda v: _is_int(v) and v >= 0, "a whole number of epochs"),
    "train_seconds": (lambda v: _is_number(v) and 0 <= v < math.inf, "a number of seconds"),
    "optimizer_state": (lambda v: isinstance(v, dict), "a dict"),
    "scheduler_state": (lambda v: isinstance(v, dict), "a dict"),
}
STATE_FIELDS = ("state_dict", "best_state_dict")


def validate_payload(payload: Any, where: str) -> dict[str, Any]:
    """Return ``payload`` when it is a well-formed checkpoint dict, else raise a one-line
    :class:`CheckpointError` naming ``where`` and the first bad field."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{where} is not a mnist-explainer checkpoint (train one with `explainer train`)"
        )
    for name in ("architecture", "state_dict"):
        if name not in payload:
            raise CheckpointError(f"{where} has no field {name!r}: not a usable model")
    for name, value in payload.items():
        if nesting(value, MAX_DEPTH) > MAX_DEPTH:
            raise CheckpointError(
                f"{where}: field {str(name)[:40]!r} nests lists or dicts more than {MAX_DEPTH} "
                "deep; not a mnist-explainer checkpoint"
            )
    for name, (check, must) in FIELDS.items():
        if name in payload and not check(payload[name]):
            raise CheckpointError(
                f"{where}: field {name!r} must be {must}, got {_show(payload[name])}"
            )
    if payload.get("version", VERSION) > VERSION:
        raise CheckpointError(f"{where} was written by a newer mnist-explainer; upgrade to read it")
    _check_arch_kwargs(payload.get("arch_kwargs", {}), where)
    _check_normalization(payload.get("normalization", {}), where)
    for name in STATE_FIELDS:
        if name in payload:
            check_state_dict(payload[name], where, name)
    return payload


def _check_arch_kwargs(kwargs: dict, where: str) -> None:
    from explainer.nets.user_code import check_plain

    try:
        check_plain(kwargs, "arch_kwargs")
    except ExplainerError as exc:
        raise CheckpointError(f"{where}: field {exc}") from None


def _check_normalization(norm: dict, where: str) -> None:
    for key in ("mean", "std"):
        if key not in norm:
            continue
        v = norm[key]
        if not (_is_number(v) and math.isfinite(v)) or (key == "std" and v <= 0):
            raise CheckpointError(
                f"{where}: field 'normalization' has a bad {key}: {_show(v)} "
                "(a finite number, std above 0)"
            )


def check_state_dict(state: Any, where: str, field: str = "state_dict") -> None:
    """Names are strings, values plain dense tensors that the file really holds (no view that
    declares more elements than its storage), every float finite."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: field {field!r} must be a dict, got {_show(state)}")
    declared, held = 0, {}
    for name, t in state.items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            raise CheckpointError(
                f"{where}: {field} entry {name!r} must map a name to a tensor, got {_show(t)}"
            )
        if t.layout != torch.strided or t.device.type != "cpu":
            raise CheckpointError(f"{where}: tensor {name!r} is not a plain dense tensor")
        storage = t.untyped_storage()
        held[storage.data_ptr()] = storage.nbytes()
        declared += t.numel() * t.element_size()
    if declared > sum(held.values()):
        raise CheckpointError(
            f"{where}: its {field} declares {declared:,} bytes of weights but holds "
            f"{sum(held.values()):,} (tensors that repeat their data): refused"
        )
    for name, t in state.items():  # only now: isfinite allocates as much as the tensor declares
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            raise CheckpointError(
                f"{where}: tensor {name!r} holds NaN or infinite values (a diverged training "
                "run?); it is not a usable model"
            )
