"""Safe file output: check a destination before the work, then write it atomically.

- :func:`check_writable` says in one line why a file or folder cannot be written (read-only
  folder, a file where a folder should be, ``/proc``...), so a command fails before it renders
  or evaluates anything.
- :func:`atomic_write` writes to a hidden temporary file beside the target, flushes it to disk
  and renames it onto the target: a reader never sees half a file, an existing file keeps its
  permission bits, and the temporary file is removed on any error, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from explainer.errors import ExplainerError

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class OutputError(ExplainerError):
    """A file or folder that cannot be written."""


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:  # /proc, /sys: the folder is there but takes no new files
        return "it takes no new files"
    return (exc.strerror or type(exc).__name__).lower()


def check_writable(path: str | os.PathLike, *, folder: bool = False, option: str = "--out") -> Path:
    """Raise :class:`OutputError` unless ``path`` (a file, or a folder when ``folder``) can be
    created or replaced; returns ``path``. Missing parent folders are fine when they can be
    created. Probes with a real temporary file (removed at once), so permissions, read-only
    file systems and pseudo file systems such as ``/proc`` are all caught."""
    path = Path(path)
    if not folder and path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name inside it")
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} is a file, not a folder; choose another path")
    base = _nearest_existing(Path(os.path.abspath(path if folder else path.parent)))
    if not base.is_dir():
        raise OutputError(f"{option} {path}: {base} is a file, not a folder; choose another path")
    probe = base / f".explainer-probe-{secrets.token_hex(6)}"
    try:
        os.close(os.open(probe, _CREATE, 0o600))
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot write in {base} ({_why(exc)}); choose another folder"
        ) from None
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises ``SystemExit(143)`` (so ``finally`` blocks run) instead of
    killing the process outright; only in the main thread and only when nobody else installed
    a SIGTERM handler."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (thread-safe)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_temp(path: Path) -> Path:
    """A new empty hidden file beside ``path``, readable by its owner only until it is done."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            tmp = path.parent / f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}"
            try:
                os.close(os.open(tmp, _CREATE, 0o600))
                return tmp
            except FileExistsError:
                continue
        raise FileExistsError(f"no free temporary name beside {path}")
    except OSError as exc:
        raise OutputError(
            f"cannot write {path} ({_why(exc)}); choose another file or folder"
        ) from None


def _fsync(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some file systems cannot open folders; the data itself is synced
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    The temporary file is synced to disk before the rename. An existing ``path`` keeps its
    permission bits; a new one gets the usual ``0666`` minus the umask. On any exception,
    Ctrl-C or SIGTERM the temporary file is removed and ``path`` is left untouched, so a reader
    never sees a half-written file. The suffix is kept so writers that pick a format from the
    extension (imageio, matplotlib) still work. A folder that cannot be written is a one-line
    :class:`OutputError`.
    """
    path = Path(path)
    with _sigterm_raises():
        tmp = _new_temp(path)
        try:
            yield tmp
            try:
                mode = path.stat().st_mode & 0o7777
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
            os.chmod(tmp, mode)
            _fsync(tmp)
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(f"cannot replace {path} ({_why(exc)})") from None
            _fsync(path.parent, directory=True)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def save_figure(fig, path: Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=dpi, facecolor="white")
    plt.close(fig)
    return path
