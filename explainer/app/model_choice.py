"""Which models the app offers and which one is chosen.

The shipped checkpoints of the current dataset (looked up at most every 5 seconds, so models
appear while the trainer runs), the models trained live on the Training page (``live_models``
in ``st.session_state``), the checkpoints uploaded in the sidebar, and ``EXPLAINER_APP_MODEL``.
``st.session_state["dataset"]`` and ``["model"]`` hold the sidebar's choice. Models are cached
with ``st.cache_resource`` (one copy per process, never mutated); an upload's weights are shared
by every session that uploaded the same bytes (:func:`shared_model`) and freed with the last;
:func:`model_key` is the plain string every cached result of a model is keyed by; :func:`predictor`
keeps one Predictor (calibration, not-a-digit detector) with each checkpoint.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
import torch

from explainer.data import DATASETS
from explainer.errors import ExplainerError
from explainer.nets.checkpoints import Checkpoint, load_checkpoint, models_dir, shipped_checkpoints
from explainer.nets.not_a_digit import companion_path
from explainer.nets.user_code import one_line
from explainer.paths import PREFERRED_ARCHITECTURES

if TYPE_CHECKING:
    from explainer.reading.predict import Predictor

# Torch's default (one thread per core) spins idle threads against each other on a small or busy
# machine: 2 threads ran the 500 sample digits through bn_cnn 10x slower than 1 thread on the
# 2-core development box. Half the cores, at most 4, unless EXPLAINER_TORCH_THREADS says so.
torch.set_num_threads(
    int(os.environ.get("EXPLAINER_TORCH_THREADS") or max(1, min(4, (os.cpu_count() or 2) // 2)))
)

# as the server's maxUploadSize (explainer app, .streamlit/config.toml), so that the bound holds
# when that setting is raised; the largest shipped model is ~5 MB
MAX_CHECKPOINT_BYTES = 10 * 1024 * 1024
MAX_UPLOADS = 3  # uploaded models one session keeps (the oldest is dropped for a fourth)
MAX_EPOCHS = 100_000  # epochs and history rows an upload may record
TENSOR_FIELDS = ("state_dict", "best_state_dict", "optimizer_state", "scheduler_state")
RATES = ("test_accuracy", "val_accuracy", "per_class_accuracy")  # fractions in [0, 1]


@st.cache_resource(show_spinner=False)
def _load_shipped(path: str, mtime: float) -> Checkpoint | None:
    try:
        return load_checkpoint(path)
    except ExplainerError:
        return None  # still being written by the trainer, or broken: simply not offered


@st.cache_data(show_spinner=False, ttl=5)
def _shipped_files(dataset: str) -> list[tuple[str, float]]:
    """``(path, mtime)`` of the shipped checkpoints, looked up at most every 5 seconds (new
    models appear while the trainer runs, without a stat of every file on every rerun)."""
    return [(str(p), p.stat().st_mtime) for p in shipped_checkpoints(dataset)]


def shipped_models(dataset: str) -> dict[str, Checkpoint]:
    """Readable shipped checkpoints of ``dataset``, by name, the preferred teaching model first."""
    found = {}
    for path, mtime in _shipped_files(dataset):
        ckpt = _load_shipped(path, mtime)
        if ckpt is not None:
            found[Path(path).stem] = ckpt
    order = {a: i for i, a in enumerate(PREFERRED_ARCHITECTURES)}
    return dict(sorted(found.items(), key=lambda kv: order.get(kv[1].architecture, 99)))


def live_models() -> dict[str, Checkpoint]:
    """Models trained on the Training page in this browser session."""
    return st.session_state.setdefault("live_models", {})


def uploaded_models() -> dict[str, Checkpoint]:
    """Checkpoints uploaded in the sidebar in this browser session."""
    return st.session_state.setdefault("uploaded_models", {})


@dataclass
class NamedCheckpoint(Checkpoint):
    """A checkpoint shown under a name of its own (an upload: its file is gone)."""

    label: str = "model"

    @property
    def name(self) -> str:
        return self.label


def check_classes(ckpt: Checkpoint, name: str) -> None:
    """Raise one line unless the model has one output for each class of its dataset at
    least (a 3-class subset model cannot be shown the 10 digits; more outputs are fine)."""
    from explainer.data import dataset_info

    try:
        want = len(dataset_info(ckpt.dataset).class_names)
    except ExplainerError as exc:  # a dataset the app does not know
        raise ExplainerError(f"{name}: {exc}") from None
    try:
        with torch.no_grad():
            out = ckpt.model(torch.zeros(1, 1, 28, 28))
    except Exception as exc:  # the user's own code: one line
        raise ExplainerError(f"{name} fails on a 28×28 digit: {one_line(exc)}") from None
    k = out.shape[-1] if isinstance(out, torch.Tensor) and out.ndim == 2 else 0
    if ckpt.class_names and len(ckpt.class_names) != k:
        raise ExplainerError(
            f"{name} names {len(ckpt.class_names)} classes but has {k} outputs; save it with "
            "one class name per output"
        )
    if k < want:
        raise ExplainerError(
            f"{name} has {k} outputs but {ckpt.dataset} has {want} classes; the app shows "
            f"models with one output per class ({want} or more)"
        )


@st.cache_resource(show_spinner=False)
def _load_path(path: str, mtime: float, code: str) -> Checkpoint | str:
    try:
        ckpt = load_checkpoint(path, code=code or None)
        check_classes(ckpt, Path(path).name)
        return ckpt
    except ExplainerError as exc:
        return str(exc)


def env_model() -> dict[str, Checkpoint]:
    """``EXPLAINER_APP_MODEL`` when it is a checkpoint file (not a shipped name): that model,
    read with ``weights_only``. A model of the user's own class needs ``EXPLAINER_APP_CODE``
    (``my_net.py:MyNet``): the person starting the app agreeing to import that code."""
    wanted = os.environ.get("EXPLAINER_APP_MODEL", "")
    if not wanted.endswith(".pt"):
        return {}
    path = Path(wanted).expanduser()
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    got = _load_path(str(path), mtime, os.environ.get("EXPLAINER_APP_CODE", ""))
    if isinstance(got, str):
        st.session_state["_model_error"] = f"EXPLAINER_APP_MODEL: {got}"
        return {}
    return {got.name: got}


def all_models(dataset: str) -> dict[str, Checkpoint]:
    extra = env_model() | uploaded_models() | live_models()
    return shipped_models(dataset) | {k: v for k, v in extra.items() if v.dataset == dataset}


def datasets_with_models() -> list[str]:
    extra = env_model() | uploaded_models() | live_models()
    return [
        d for d in DATASETS if shipped_checkpoints(d) or any(c.dataset == d for c in extra.values())
    ]


def _number(v: object, *, finite: bool = True) -> bool:
    """A number a page can turn into a float (and a table into a 64-bit integer)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if isinstance(v, int):
        return abs(v) < 2**53
    return math.isfinite(v) or not finite


def _metrics_problem(ckpt: Checkpoint) -> str:
    for key, value in ckpt.metrics.items():
        values = value if isinstance(value, list) else [value]
        if not all(_number(v) for v in values):
            return f"metric {key[:40]!r} holds a value that is not a finite number"
        if key in RATES and not all(0 <= v <= 1 for v in values):
            return f"metric {key!r} must be fractions between 0 and 1"
    per_class = ckpt.metrics.get("per_class_accuracy")
    if isinstance(per_class, list) and len(per_class) != len(ckpt.class_names):
        return (
            f"metric 'per_class_accuracy' has {len(per_class)} values for "
            f"{len(ckpt.class_names)} classes"
        )
    return ""


def _history_problem(ckpt: Checkpoint) -> str:
    if len(ckpt.history) > MAX_EPOCHS:
        return f"its history has {len(ckpt.history):,} rows (at most {MAX_EPOCHS:,})"
    for row in ckpt.history:
        if not 0 <= row.get("epoch", 0) <= MAX_EPOCHS:
            return f"its history names epoch {str(row['epoch'])[:20]} (at most {MAX_EPOCHS:,})"
        if not all(_number(v, finite=False) for v in row.values()):
            return "its history holds a number too large to draw"
    return ""


def metadata_problem(ckpt: Checkpoint) -> str:
    """What in a loaded checkpoint's metadata the app's pages cannot show ('' when nothing):
    the load checks each field's type; the pages also need numbers a float holds, accuracies
    between 0 and 1, one per-class accuracy per class and a bounded number of epochs."""
    for field in ("epoch", "best_epoch"):
        value = ckpt.raw.get(field, 0) if ckpt.raw else getattr(ckpt, field, 0)
        if isinstance(value, (int, float)) and not 0 <= value <= MAX_EPOCHS:
            return f"field {field!r} is {str(value)[:20]} (at most {MAX_EPOCHS:,} epochs)"
    return _metrics_problem(ckpt) or _history_problem(ckpt) or _calibration_problem(ckpt)


def _calibration_problem(ckpt: Checkpoint) -> str:
    from explainer.nets.calibration import temperature_of

    try:
        temperature_of(ckpt.raw or {})
    except ExplainerError as exc:
        return str(exc).split(";")[0]
    except OverflowError:  # an integer past a float's range
        return "the checkpoint's calibration.temperature is not a number in (0.01, 100)"
    return ""


def _read_upload(name: str, data: bytes) -> Checkpoint:
    """The checkpoint in ``data``, read from a private temporary file; every refusal is one
    line naming ``name``, never the server's temporary path."""
    fd, tmp = tempfile.mkstemp(suffix=".pt")  # mode 0600: only this user reads it
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return load_checkpoint(tmp)  # no code=: a user's own class is refused, never imported
    except ExplainerError as exc:
        text = str(exc)
        if "your own class" in text:
            text = (
                f"{name} holds a model of its own class; the app never imports code from an "
                "upload. Upload a checkpoint of a registered architecture, or start the app "
                "with EXPLAINER_APP_MODEL=file.pt EXPLAINER_APP_CODE=my_net.py:MyNet"
            )
        raise ExplainerError(_hide_path(text, tmp, name)) from None
    except Exception as exc:  # what the load's checks did not foresee: still one line
        text = f"{name} is not a usable checkpoint ({one_line(exc, 160)})"
        raise ExplainerError(_hide_path(text, tmp, name)) from None
    finally:
        os.unlink(tmp)


def _hide_path(text: str, tmp: str, name: str) -> str:
    for form in (str(Path(tmp).resolve()), tmp, str(Path(tmp).parent)):
        text = text.replace(form, name)
    return text


_UPLOADED_WEIGHTS: weakref.WeakValueDictionary[str, torch.nn.Module] = weakref.WeakValueDictionary()
_weights_lock = threading.Lock()


def shared_model(sha256: str, model: torch.nn.Module) -> torch.nn.Module:
    """The model of the upload whose bytes hash to ``sha256``: the one already in memory when
    another session holds it (the same file uploaded by twenty learners is one copy of the
    weights), else ``model``. Held weakly: freed with the last session that uses it."""
    with _weights_lock:
        return _UPLOADED_WEIGHTS.setdefault(sha256, model)


def forget_uploads() -> None:
    """Drop every model uploaded in this session (the uploader was cleared)."""
    st.session_state.pop("uploaded_models", None)
    st.session_state.pop("_uploaded", None)


def add_uploaded_checkpoint(name: str, data: bytes) -> str:
    """Load an uploaded checkpoint of a registry architecture and add it to the model list;
    returns its name. Read with ``weights_only`` from a private temporary file: nothing is
    unpickled and no code is imported (a checkpoint of the user's own class is refused)."""
    if not data:
        raise ExplainerError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise ExplainerError(
            f"{name} is {len(data) / 2**20:.1f} MB; the app takes checkpoints up to "
            f"{MAX_CHECKPOINT_BYTES / 2**20:.0f} MB"
        )
    sha = hashlib.sha256(data).hexdigest()
    digest = sha[:12]
    label = f"{Path(name).stem} (uploaded)"
    models = uploaded_models()
    if label in models and models[label].__dict__.get("_app_key") == f"upload:{digest}":
        return label
    ckpt = _read_upload(name, data)
    if problem := metadata_problem(ckpt):
        raise ExplainerError(f"{name}: {problem}; the app cannot show this checkpoint")
    check_classes(ckpt, name)
    fields = {f: getattr(ckpt, f) for f in Checkpoint.__dataclass_fields__}
    raw = {k: v for k, v in ckpt.raw.items() if k not in TENSOR_FIELDS}  # the model has them
    model = shared_model(sha, ckpt.model)
    named = NamedCheckpoint(**(fields | {"path": None, "raw": raw, "model": model}), label=label)
    named.__dict__["_app_key"] = f"upload:{digest}"
    models.pop(label, None)
    while len(models) >= MAX_UPLOADS:  # the oldest upload goes: memory stays bounded
        models.pop(next(iter(models)))
    models[label] = named
    return label


def current_dataset() -> str:
    return st.session_state.get("dataset", "mnist")


def current_model() -> Checkpoint:
    """The checkpoint chosen in the sidebar (stops the page with a message when none exists)."""
    models = all_models(current_dataset())
    if not models:
        st.error("No trained model found in `models/`. Run `make models` (or `explainer train`).")
        st.stop()
    name = st.session_state.get("model")
    return models[name] if name in models else next(iter(models.values()))


def select_model(name: str) -> None:
    """Make ``name`` the sidebar's model from the next run on."""
    st.session_state["_next_model"] = name


# Widths of the app's font (Source Sans, as Chromium measures it) in em, rounded up by group;
# any other character counts 0.56 (lowercase), 0.67 (capitals) or 1 (beyond ASCII)
_EM_GROUPS = {
    0.26: " '.,:;|ijl·",
    0.32: "()[]{}f-",
    0.35: "!/\\rtI",
    0.43: '"*?sz',
    0.48: "cvxyY",
    0.51: "#$+<=>^_~0123456789aegkJLF",
    0.85: "mwMW%@&",
}
_EM = {c: em for em, chars in _EM_GROUPS.items() for c in chars}
# The model picker's room in em of its type: 207 px of 19.25 px in presenter mode's sidebar
# (190 px of 14 px otherwise; Chromium, 1280×720 and 1920×1080 alike). One label for both
# modes: Streamlit keeps showing the label a select was drawn with when only its labels change.
PICKER_EM = 10.7


def text_em(text: str) -> float:
    """An upper bound of ``text``'s width in em of the app's font."""
    return sum(_EM.get(c, 0.67 if c.isupper() else 0.56 if c.isascii() else 1.0) for c in text)


def fit_text(text: str, room_em: float) -> str:
    """``text`` whole when it fits ``room_em``, else its start and end around "…" (a long upload
    name: "fast_cnn_t…(uploaded)"), never wider than the room."""
    if text_em(text) <= room_em:
        return text
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    while text_em(f"{head}…{tail}") > room_em and (head or tail):
        if len(head) >= len(tail):
            head = head[:-1]
        else:
            tail = tail[1:]
    return f"{head}…{tail}"


def _accuracy(ckpt: Checkpoint | None) -> str:
    acc = ckpt.metrics.get("test_accuracy") if ckpt else None
    return f"{acc:.2%}" if _number(acc) and 0 < acc <= 1 else ""


def model_label(name: str, ckpt: Checkpoint | None = None) -> str:
    """What the model picker's box says of ``name``, whole in the box in either mode: the name
    and its test accuracy when both fit, else the name (shortened in the middle when even that
    is too long). What the box leaves out, :func:`model_note` says under it."""
    ckpt = ckpt or all_models(current_dataset()).get(name)
    acc = _accuracy(ckpt)
    full = f"{name} · {acc}" if acc else name
    return full if text_em(full) <= PICKER_EM else fit_text(name, PICKER_EM)


def model_origin(name: str) -> str:
    """Where a model not shipped with the app came from ("" for a shipped one, and for an
    upload, whose name says "(uploaded)")."""
    if name in live_models():
        return "trained here on the Training page"
    return "your file (EXPLAINER_APP_MODEL)" if name in env_model() else ""


def model_note(name: str, ckpt: Checkpoint | None = None, *, short: bool = False) -> str:
    """The line under the model picker: what its box (:func:`model_label`) left out of
    ``name``: the whole name; unless ``short`` (presenter mode, where the sidebar is kept for
    what a class needs) where it came from and its test accuracy. "" when there is nothing."""
    ckpt = ckpt or all_models(current_dataset()).get(name)
    shown = model_label(name, ckpt)
    parts = [name if "…" in shown and "…" not in name else ""]
    if not short:
        acc = _accuracy(ckpt)
        parts += [model_origin(name), f"{acc} right on its test set" if acc not in shown else ""]
    return " · ".join(p for p in parts if p)


def predictor(ckpt: Checkpoint) -> Predictor:
    """The :class:`~explainer.reading.predict.Predictor` of ``ckpt`` (its calibration and its
    not-a-digit detector, read from ``models/not_a_digit.npz``), built once and kept with the
    checkpoint, so it lives as long as the model: a shipped model's for the process, an
    upload's or a model trained here's until its session lets go of it (an upload's weights
    stay one copy for every session: the Predictor runs the checkpoint's own model). Built
    again when the detector file changes."""
    from explainer.reading.predict import Predictor

    stamp = _detector_stamp()
    held = ckpt.__dict__.get("_predictor")
    if held is None or held[0] != stamp:
        held = (stamp, Predictor(ckpt))
        ckpt.__dict__["_predictor"] = held
    return held[1]


def _detector_stamp() -> float:
    """The shipped not-a-digit detector file's modification time (0 when there is none)."""
    path = companion_path(models_dir())
    return path.stat().st_mtime if path.is_file() else 0.0


_live_numbers = itertools.count(1)


def model_key(ckpt: Checkpoint) -> str:
    """A plain-string cache key for a model: its file and modification time, an upload's content
    hash, or a number of its own for a model trained here."""
    key = ckpt.__dict__.get("_app_key")
    if key is None:
        if ckpt.path is not None:
            mtime = ckpt.path.stat().st_mtime if ckpt.path.exists() else 0
            key = f"{ckpt.path}@{mtime}"
        else:
            key = f"live:{next(_live_numbers)}"  # not id(): an id is reused once freed
        ckpt.__dict__["_app_key"] = key
    return key


def models_root() -> Path:
    return models_dir()
