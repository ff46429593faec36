"""Safe file output: check a destination before the work, then write it atomically.

- :func:`check_writable` says in one line why a file or folder cannot be written (read-only
  folder, a file where a folder should be, ``/proc``...), so a command fails before it renders
  or evaluates anything.
- :func:`atomic_write` writes to a hidden temporary file beside the target, flushes it to disk
  and renames it onto the target: a reader never sees half a file, an existing file keeps its
  permission bits, and the temporary file is removed on any error, on Ctrl-C and on SIGTERM;
  a full disk is a one-line :class:`OutputError`.
- :func:`file_problem` and :func:`folder_problem` say in a few words why an input cannot be
  read (a FIFO or device, a folder, no permission, a name longer than the system allows),
  without opening it (a FIFO is never read, so nothing blocks); :func:`os_error_text` turns any
  other fault of the machine into one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from explainer.errors import ExplainerError
from explainer.text import clip_text

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class OutputError(ExplainerError):
    """A file or folder that cannot be written."""


_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_HINTS = {
    errno.ENOSPC: "no space left on the device; free some space or choose another folder",
    errno.ENAMETOOLONG: "a file name longer than the system allows; use a shorter name",
    errno.EACCES: "permission denied; check its permissions or choose another path",
    errno.EPERM: "not permitted; check its permissions or choose another path",
    errno.EROFS: "a read-only file system; choose another folder",
    errno.EFBIG: "the file would be too large for this file system; choose another folder",
}


def os_error_text(exc: OSError) -> str:
    """One line for a fault of the machine: the file (clipped, escaped) and what to do.

    >>> import errno
    >>> os_error_text(OSError(errno.ENOSPC, "No space left on device", "/tmp/t.npz"))
    '/tmp/t.npz: no space left on the device; free some space or choose another folder'
    """
    code = errno.ENOSPC if exc.errno in _FULL else exc.errno
    why = _HINTS.get(code) or (exc.strerror or type(exc).__name__).lower()
    name = exc.filename if exc.filename is not None else ""
    return f"{clip_text(name, 120)}: {why}" if name != "" else why


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _mode_or_problem(path: str | os.PathLike, missing: str) -> int | str:
    """``path``'s stat mode, or why it cannot be looked at (``missing`` when it does not exist)."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return missing
    except OSError as exc:
        return _HINTS.get(exc.errno) or (exc.strerror or "cannot be read").lower()


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as an input file, in a few words, or ``None`` when it is a
    regular file this process may read. Nothing is opened (a FIFO is never read)."""
    mode = _mode_or_problem(path, "no such file")
    if isinstance(mode, str):
        return mode
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"{_kind(mode)}, not a regular file; give a file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied); check its permissions"
    return None


def require_file(
    path: str | os.PathLike, error: type[Exception], *, what: str = "", hint: str = ""
) -> Path:
    """``path`` as a :class:`~pathlib.Path` when :func:`file_problem` finds nothing wrong; else
    ``error`` with one line: ``"<what> not found: <path> (<hint>)"`` for a missing file,
    ``"<what> <path>: <problem>"`` otherwise (without ``what``: ``"<path>: no such file
    (<hint>)"`` and ``"<path>: <problem>"``)."""
    path = Path(path)
    problem = file_problem(path)
    if problem is None:
        return path
    named = f"{what} {path}" if what else str(path)
    if problem == "no such file":
        missing = f"{what} not found: {path}" if what else f"{path}: no such file"
        raise error(f"{missing} ({hint})" if hint else missing)
    raise error(f"{named}: {problem}")


def folder_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be listed as a folder, in a few words, or ``None`` when it can."""
    mode = _mode_or_problem(path, "no such folder")
    if isinstance(mode, str):
        return mode
    if not stat.S_ISDIR(mode):
        return "not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return "cannot be read (permission denied); check its permissions"
    return None


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


def _no_space(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < 1 << 20  # under 1 MB left


@contextlib.contextmanager
def _disk_faults(path: Path) -> Iterator[None]:
    """A full disk while writing ``path`` (an ``OSError`` from Python, or a ``RuntimeError``
    from a library such as torch's "file write failed") as one :class:`OutputError`."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _FULL | {errno.EFBIG, errno.EIO}:
            raise
        exc.filename = str(path)
        raise OutputError(f"cannot write {os_error_text(exc)}") from None
    except RuntimeError:
        if not _no_space(path.parent):
            raise
        raise OutputError(f"cannot write {path}: {_HINTS[errno.ENOSPC]}") from None


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
            with _disk_faults(path):
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
