"""A small on-disk cache of slow results, so the app's pages open at once on the next launch.

A result is stored under its key: the checkpoint file's hash (:attr:`Checkpoint.sha256`), the
digits it was computed on (dataset name, count and a hash of the pixels and labels), the
function's name and parameters, and a hash of the library's source code. One key is one
``.npz`` file in ``<cache folder>/<checkpoint hash>/``, holding the arrays and, as JSON text
arrays, the key itself and the result's plain values. So a retrained checkpoint (a new hash),
another test set or an edited library never reads an old result.

- The folder: ``EXPLAINER_CACHE_DIR``, default ``~/.cache/mnist-explainer/results``; created
  readable by its owner only. It holds one file per result: storing a result removes its
  copies made by other versions of the library, so editing the code does not make it grow.
- Writes are atomic (:func:`explainer.io.atomic_write`): a reader never sees half a file.
- Reads are bounded (:func:`explainer.safe_npz.open_bounded_npz`: sizes checked before
  anything is read, nothing unpickled); a file that is damaged, foreign, or forged (each
  kind's check: every array's type, shape and finite values, every plain value's type and
  range, an evaluation's report against its own predictions) is ignored, recomputed and
  replaced. A folder that cannot be written only means no
  disk cache: the result is still returned.
- One computation per key at a time in a process: a page asking for what the warm-up is
  computing waits for it instead of doing the work twice.

:func:`cached` caches any function returning arrays; the typed wrappers for the app's slow
results (evaluation, top-activating digits, embeddings) are :mod:`explainer.analysis.results`.
A checkpoint without a file (trained in the app) is computed and not stored.

**Shipped reports.** A second, read-only root, :func:`reports_dir` (``models/reports/``, in the
wheel as ``explainer/models/reports/``), holds the results of the shipped models on the full
test sets, written once by ``make reports`` (``scripts/make_reports.py``) and consulted before
the user's cache. A report's key is the same :class:`CacheKey` with ``code`` =
:data:`REPORT_CODE` instead of the library's source hash, so an edit elsewhere in the library
does not throw the reports away; what keeps a report from being stale is, for each kind, the
version in its function name (``"evaluate.v2"``, ``"top_activating.v2"``, ``"embedding.v2"``):
**bump it when a change alters what that function computes or stores** (``make reports`` then
writes the new files, and the old ones miss). ``tests/test_reports.py`` recomputes a shipped
report and compares, so a change that forgets to bump goes red. A report is read only when
every part of its key matches: the checkpoint file's sha256 (a retrained model misses), the
digits' hash (a user without the official test set evaluates on the bundled sample and
misses), the function, its parameters; a damaged report is ignored like any cache file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from explainer.errors import ExplainerError
from explainer.io import atomic_write

if TYPE_CHECKING:
    from explainer.nets.checkpoints import Checkpoint

ENV_VAR = "EXPLAINER_CACHE_DIR"
FORMAT = 1  # bump when the file layout changes: every old file then misses
REPORT_CODE = "report1"  # a shipped report's code version: bump when the report layout changes
KEY_FIELD, META_FIELD = "__key__", "__meta__"
MAX_JSON_BYTES = 4 * 2**20

log = logging.getLogger(__name__)
Arrays = dict[str, np.ndarray]


def cache_dir() -> Path:
    """The cache folder: ``$EXPLAINER_CACHE_DIR``, else ``results/`` in the user cache folder
    (``~/.cache/mnist-explainer/results``; ``$XDG_CACHE_HOME`` moves it)."""
    from explainer.data import default_data_dir

    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else default_data_dir() / "results"


def reports_dir() -> Path:
    """The shipped reports folder: ``reports/`` beside the shipped checkpoints
    (:func:`explainer.nets.checkpoints.models_dir`), one sub-folder per checkpoint sha256."""
    from explainer.nets.checkpoints import models_dir

    return models_dir() / "reports"


# --- keys ------------------------------------------------------------------------------------

_fingerprints: dict[int, tuple[weakref.ref, str, str]] = {}
_fp_lock = threading.Lock()


def _digest_of(obj: np.ndarray | torch.Tensor, dtype: Any = None) -> str:
    arr = obj.detach().cpu().numpy() if isinstance(obj, torch.Tensor) else np.asarray(obj)
    arr = arr if dtype is None else arr.astype(dtype, copy=False)
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def _frozen(obj: Any) -> bool:
    """Whether ``obj``'s bytes cannot change: a read-only ndarray over read-only memory all
    the way down (a read-only view of a writable array, or a tensor, can still change)."""
    while isinstance(obj, np.ndarray):
        if obj.flags.writeable:
            return False
        obj = obj.base
    return obj is None or isinstance(obj, bytes)


def fingerprint(obj: np.ndarray | torch.Tensor, dtype: Any = None) -> str:
    """A short hash of an array's dtype, shape and bytes (after conversion to ``dtype`` when
    given). Remembered per array object when its bytes cannot change (:func:`_frozen`: the
    app's shared read-only arrays); anything writable is hashed every time (the 10,000 test
    digits take a few ms), so a changed array never keeps its old hash."""
    with _fp_lock:
        hit = _fingerprints.get(id(obj))
        if hit is not None and hit[0]() is obj and hit[2] == str(dtype):
            return hit[1]
    digest = _digest_of(obj, dtype)
    if not _frozen(obj):
        return digest
    try:
        ref = weakref.ref(obj)
    except TypeError:  # not weak-referenceable: hash every time
        return digest
    with _fp_lock:
        _fingerprints[id(obj)] = (ref, digest, str(dtype))
        if len(_fingerprints) > 256:
            for k in [k for k, (r, *_) in _fingerprints.items() if r() is None]:
                del _fingerprints[k]
    return digest


def data_key(dataset: str, images: Any, labels: Any = None) -> str:
    """``"<dataset>:<count>:<hash of images>:<hash of labels>"``: which digits a result is of
    (labels hashed as int64, so the same labels in another integer type give the same key)."""
    lab = "-" if labels is None else fingerprint(labels, np.int64)
    return f"{dataset}:{len(images)}:{fingerprint(images)}:{lab}"


VIEWS = ("animate", "app", "commands", "scenes")  # no cached result depends on these


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the library's source (every ``explainer/**/*.py`` except the :data:`VIEWS`):
    results computed by another version of the code are not read (one edit anywhere
    recomputes; correct before fast). ``$EXPLAINER_CACHE_CODE`` pins it, for a benchmark's
    processes in a checkout being edited."""
    if pinned := os.environ.get("EXPLAINER_CACHE_CODE", "").strip():
        return pinned
    root = Path(__file__).resolve().parents[1]
    h = hashlib.blake2b(digest_size=6)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in VIEWS:
            continue
        h.update(rel.as_posix().encode())
        with contextlib.suppress(OSError):
            h.update(path.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """What a result depends on. ``checkpoint`` is the file's sha256 (never empty here);
    ``code`` the library's :func:`code_version`."""

    checkpoint: str
    data: str
    function: str
    params: Mapping[str, Any] = field(default_factory=dict)
    code: str = field(default_factory=code_version)

    def text(self, code: bool = True) -> str:
        body = {
            "format": FORMAT,
            "checkpoint": self.checkpoint,
            "data": self.data,
            "function": self.function,
            "params": dict(self.params),
        }
        if code:
            body["code"] = self.code
        return json.dumps(body, sort_keys=True, default=str)

    def stem(self) -> str:
        """The file name without the code version: the same result of any library version."""
        digest = hashlib.sha256(self.text(code=False).encode()).hexdigest()[:20]
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.function)[:40]
        return f"{safe}-{digest}"

    def filename(self) -> str:
        code = "".join(c for c in self.code if c.isalnum())[:16] or "none"
        return f"{self.stem()}-{code}.npz"

    def as_report(self) -> CacheKey:
        """The same key for a shipped report: :data:`REPORT_CODE` in place of the source hash."""
        return dataclasses.replace(self, code=REPORT_CODE)


# --- the store -------------------------------------------------------------------------------


class CacheMiss(ExplainerError):
    """A cache file that is absent, damaged, or not the result asked for (then recomputed)."""


def _text_array(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode(), dtype=np.uint8).copy()


def _from_text_array(arr: np.ndarray) -> Any:
    if arr.dtype != np.uint8 or arr.ndim != 1 or arr.size > MAX_JSON_BYTES:
        raise CacheMiss("a text field is not a short byte string")
    try:
        return json.loads(arr.tobytes().decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise CacheMiss(f"a text field is not JSON ({exc})") from None


_SHIPPED = object()  # ResultCache's default for ``reports``: the shipped reports folder


class ResultCache:
    """Arrays and plain values by :class:`CacheKey`, as ``.npz`` files under ``root``.

    ``reports`` is the read-only folder of shipped reports looked in first (default
    :func:`reports_dir`; None: none). ``writes_reports=True`` makes this cache the writer
    of such a folder (``make reports``): its keys are report keys
    (:meth:`CacheKey.as_report`), its files compressed, and it has no second folder.

    ``hits``, ``misses`` and ``computed`` count what happened (for tests and benchmarks);
    ``report_hits`` counts the hits read from ``reports``; ``touched`` holds the files of
    ``root`` read or written (``make reports`` removes the others)."""

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        reports: Any = _SHIPPED,
        writes_reports: bool = False,
    ) -> None:
        self.root = Path(root) if root is not None else cache_dir()
        self.writes_reports = writes_reports
        if writes_reports or reports is None:
            self.reports: Path | None = None
        else:
            self.reports = reports_dir() if reports is _SHIPPED else Path(reports)
        self.hits = self.misses = self.computed = self.report_hits = 0
        self.touched: set[Path] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._write_failed = False

    def _own(self, key: CacheKey) -> CacheKey:
        return key.as_report() if self.writes_reports else key

    def path(self, key: CacheKey) -> Path:
        key = self._own(key)
        return self.root / key.checkpoint / key.filename()

    def report_path(self, key: CacheKey) -> Path | None:
        """Where the shipped report of ``key`` would be (None: no reports folder)."""
        if self.reports is None:
            return None
        key = key.as_report()
        return self.reports / key.checkpoint / key.filename()

    def load(self, key: CacheKey) -> tuple[Arrays, dict] | None:
        """The arrays and plain values stored under ``key`` in ``root``, or None (absent or
        unusable)."""
        return _read(self.path(key), self._own(key))

    def store(self, key: CacheKey, arrays: Mapping[str, np.ndarray], meta: Mapping) -> bool:
        """Write one result atomically; False (logged once) when the folder is not writable."""
        path = self.path(key)
        key = self._own(key)
        payload = {n: np.ascontiguousarray(a) for n, a in arrays.items()}
        if any(a.dtype.hasobject for a in payload.values()):
            raise ExplainerError(f"{key.function}: only numeric and text arrays can be cached")
        payload[KEY_FIELD] = _text_array(json.loads(key.text()))
        payload[META_FIELD] = _text_array(dict(meta))
        save = np.savez_compressed if self.writes_reports else np.savez
        try:
            for folder in (self.root, path.parent):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with atomic_write(path) as tmp, open(tmp, "wb") as fh:
                save(fh, **payload)
        except (ExplainerError, OSError) as exc:
            if not self._write_failed:
                log.warning("results are not kept on disk: %s", str(exc)[:200])
            self._write_failed = True
            return False
        for old in path.parent.glob(f"{key.stem()}-*.npz"):  # other library versions' copies
            if old.name != path.name:
                with contextlib.suppress(OSError):
                    old.unlink()
        return True

    def _lock(self, key: CacheKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key.filename(), threading.Lock())

    def get_or_compute(
        self,
        key: CacheKey,
        compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping]],
        check: Callable[[Arrays, dict], None] | None = None,
    ) -> tuple[Arrays, dict]:
        """The shipped report of ``key``, else its stored result, else ``compute()`` (stored,
        then returned). ``check`` raises :class:`CacheMiss` (or KeyError/ValueError) for a
        stored result it cannot use; it is then ignored (a cache file: recomputed and
        replaced)."""
        with self._lock(key):
            report = self.report_path(key)
            if report is not None:
                got = _checked(_read(report, key.as_report()), report, check)
                if got is not None:
                    self.hits += 1
                    self.report_hits += 1
                    return got
            got = _checked(self.load(key), self.path(key), check)
            if got is not None:
                self.hits += 1
                self.touched.add(self.path(key))
                return got
            self.misses += 1
            arrays, meta = compute()
            self.computed += 1
            if self.store(key, arrays, meta):
                self.touched.add(self.path(key))
            return {n: np.asarray(a) for n, a in arrays.items()}, dict(meta)

    def has(self, key: CacheKey) -> bool:
        """Whether a file exists for ``key``, a shipped report or a stored result (without
        checking its contents)."""
        report = self.report_path(key)
        return (report is not None and report.is_file()) or self.path(key).is_file()


def _read(path: Path, key: CacheKey) -> tuple[Arrays, dict] | None:
    """The arrays and plain values of the file at ``path`` written for ``key``, or None
    (absent, damaged, or another key's)."""
    from explainer.safe_npz import open_bounded_npz

    if not path.is_file():
        return None
    try:
        arrays = dict(open_bounded_npz(path, error=CacheMiss))
        if _from_text_array(arrays.pop(KEY_FIELD, np.zeros(0, np.uint8))) != json.loads(key.text()):
            raise CacheMiss("it was written for another key")
        meta = _from_text_array(arrays.pop(META_FIELD, _text_array({})))
        if not isinstance(meta, dict):
            raise CacheMiss("its plain values are not a JSON object")
    except (CacheMiss, OSError) as exc:
        log.warning("ignoring cache file %s: %s", path, str(exc)[:200])
        return None
    return arrays, meta


def _checked(
    got: tuple[Arrays, dict] | None, path: Path, check: Callable[[Arrays, dict], None] | None
) -> tuple[Arrays, dict] | None:
    """``got`` when ``check`` accepts it (or there is no check), else None (logged)."""
    if got is None or check is None:
        return got
    try:
        check(*got)
    except (CacheMiss, KeyError, ValueError, TypeError, IndexError) as exc:
        log.warning("ignoring cache file %s: %s", path, str(exc)[:200])
        return None
    return got


_default: ResultCache | None = None
_default_lock = threading.Lock()


def default_cache() -> ResultCache:
    """The process's cache in :func:`cache_dir` (made again when the setting changes)."""
    global _default
    with _default_lock:
        if _default is None or _default.root != cache_dir():
            _default = ResultCache()
        return _default


def cached(
    ckpt: Checkpoint,
    data: str,
    function: str,
    params: Mapping[str, Any],
    compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping]],
    check: Callable[[Arrays, dict], None] | None = None,
    cache: ResultCache | None = None,
) -> tuple[Arrays, dict]:
    """``compute()`` through the cache, keyed by ``ckpt``'s hash, ``data``, ``function`` and
    ``params``; computed and not stored when the checkpoint has no file (no hash)."""
    sha = ckpt.sha256 if getattr(ckpt, "path", None) is not None else ""
    if not sha:
        arrays, meta = compute()
        return {n: np.asarray(a) for n, a in arrays.items()}, dict(meta)
    key = CacheKey(sha, data, function, dict(params))
    return (cache or default_cache()).get_or_compute(key, compute, check)


def need(cond: bool, why: str) -> None:
    """Raise :class:`CacheMiss` with ``why`` unless ``cond``: a check of a stored result."""
    if not cond:
        raise CacheMiss(why)


def array_field(arrays: Arrays, name: str, kinds: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """``arrays[name]`` when its dtype kind is one of ``kinds`` (``"i"`` integers, ``"f"``
    floats, ``"b"`` bools), its shape ``shape`` (``None``: any length) and every float finite;
    else a :class:`CacheMiss` naming it."""
    a = arrays.get(name)
    need(isinstance(a, np.ndarray) and a.dtype.kind in kinds, f"{name}: wrong type")
    ok = a.ndim == len(shape) and all(
        w is None or w == n for w, n in zip(shape, a.shape, strict=True)
    )
    need(ok, f"{name}: shape {a.shape}, expected {shape}")
    need(a.dtype.kind != "f" or bool(np.isfinite(a).all()), f"{name}: NaN or infinite values")
    return a


def number_field(meta: dict, name: str, low: float = -np.inf, high: float = np.inf) -> float:
    """``meta[name]`` when it is a finite number in ``[low, high]`` (not a bool, not text)."""
    v = meta.get(name)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    need(ok and bool(np.isfinite(float(v))) and low <= v <= high, f"{name}: not a number")
    return float(v)
