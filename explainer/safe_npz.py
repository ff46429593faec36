"""Read a ``.npz`` with bounded memory: every size is checked before anything is read.

``numpy.load`` trusts the file: an array header declaring 4 TB is a ``MemoryError``, and a
2 MB member that inflates to 2 GB is read in full. :func:`open_bounded_npz` checks, in order,
the file size, the zip's central directory size, each member's declared uncompressed size and
its ``.npy`` header (shape and dtype, object dtypes refused) against limits sized for a Trace of
one 28×28 digit, then reads at most the declared bytes of each member. Nothing is unpickled.

The biggest legitimate trace, every layer of ``mnist_basic_cnn`` with weights, holds one
4.7 MB array (``fc1``'s 9216×128 weights) and about 5 MB in all, so the limits below leave a
wide margin while keeping the worst case to a few hundred MB.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import numpy as np

from explainer.errors import ExplainerError
from explainer.io import require_file

MAX_ARRAY_BYTES = 64 * 2**20  # one array (the biggest real one is 4.7 MB)
MAX_TOTAL_BYTES = 256 * 2**20  # all arrays together, uncompressed
MAX_FILE_BYTES = MAX_TOTAL_BYTES  # the .npz on disk
MAX_ARRAYS = 4096  # members (a trace has 3 per layer at most, plus a few)
MAX_DIRECTORY_BYTES = 2 * 2**20  # the zip's central directory
MAX_NDIM = 8

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"
EOCD = b"PK\x05\x06"
ZIP64_LOCATOR = b"PK\x06\x07"  # sizes that need zip64 are far beyond any trace


class NpzError(ExplainerError):
    """A file that is not a ``.npz`` within the limits."""


class NpzArrays(dict):
    """The arrays by name; ``files`` lists the names, as ``numpy.lib.npyio.NpzFile`` does."""

    @property
    def files(self) -> list[str]:
        return list(self)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n < 2**40 else f"{n / 2**40:,.1f} TB"


def _check_container(path: Path, fail: Callable[[str], NoReturn]) -> None:
    """File size, zip magic and central directory size, before zipfile parses anything."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        fail(f"the file is {_mb(size)}, more than the {_mb(MAX_FILE_BYTES)} a trace can need")
    with open(path, "rb") as fh:
        head = fh.read(8)
        if head.startswith(NPY_MAGIC):
            fail("it is a plain .npy array, not a .npz archive")
        if head[:4] not in ZIP_MAGIC:
            fail("it is not a .npz archive (no zip signature)")
        tail_len = min(size, 22 + 65535)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
    at = tail.rfind(EOCD)
    if at < 0 or len(tail) - at < 22:
        fail("the .npz archive is damaged (no zip directory; truncated?)")
    entries, cd_size = struct.unpack("<HI", tail[at + 10 : at + 16])
    zip64 = at >= 20 and tail[at - 20 : at - 16] == ZIP64_LOCATOR
    if zip64 or entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_size > MAX_DIRECTORY_BYTES:
        fail(f"it declares more arrays than a trace can have (limit {MAX_ARRAYS})")


def _read_header(fh, name: str, fail) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            fail(f"array {name!r} has an unknown .npy version {version}")
    except (ValueError, TypeError, SyntaxError, EOFError) as exc:
        fail(f"array {name!r} has a damaged header ({str(exc).splitlines()[0][:80]})")
    if dtype.hasobject:
        fail(f"array {name!r} holds Python objects; a trace holds numbers and text only")
    if len(shape) > MAX_NDIM or any(not isinstance(d, int) or d < 0 for d in shape):
        fail(f"array {name!r} has an impossible shape {shape!r:.60}")
    return shape, fortran, dtype


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, fail) -> np.ndarray:
    name = info.filename[:-4]
    with zf.open(info) as fh:
        shape, fortran, dtype = _read_header(fh, name, fail)
        nbytes = math.prod(shape) * max(dtype.itemsize, 1)
        if nbytes > MAX_ARRAY_BYTES:
            fail(
                f"array {name!r} declares {_mb(nbytes)} (shape {shape}, {dtype}); a trace of "
                f"one 28×28 digit needs at most {_mb(MAX_ARRAY_BYTES)} per array"
            )
        if nbytes > info.file_size:
            fail(f"array {name!r} is cut short (truncated file?)")
        nbytes = math.prod(shape) * dtype.itemsize
        buf = bytearray(nbytes)
        if fh.readinto(memoryview(buf)) != nbytes or fh.read(1):
            fail(f"array {name!r} does not match its header (damaged file?)")
    arr = np.frombuffer(buf, dtype=dtype)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def open_bounded_npz(
    path: str | os.PathLike, *, error: type[ExplainerError] = NpzError
) -> NpzArrays:
    """All arrays of the ``.npz`` at ``path`` by name (without ``.npy``), read only after
    every limit of this module was checked; a one-line ``error`` (default :class:`NpzError`)
    for anything else. The arrays are writable and own their memory."""
    path = Path(path)

    def fail(why: str) -> NoReturn:
        raise error(
            f"{path} is not a readable mnist-explainer trace: {why}; make one with "
            "`explainer capture ... --out FILE.npz`"
        )

    require_file(path, error, hint="make one with `explainer capture ... --out FILE.npz`")
    try:
        _check_container(path, fail)
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ARRAYS:
                fail(f"it holds {len(infos)} members, more than a trace can have")
            total = sum(i.file_size for i in infos)
            for info in infos:
                if not info.filename.endswith(".npy") or info.is_dir():
                    fail(f"it holds {info.filename[:60]!r}, which is not a .npy array")
                if info.file_size > MAX_ARRAY_BYTES + 4096:
                    fail(f"member {info.filename[:60]!r} inflates to {_mb(info.file_size)}")
            if total > MAX_TOTAL_BYTES:
                fail(f"it inflates to {_mb(total)}; a trace needs at most {_mb(MAX_TOTAL_BYTES)}")
            return NpzArrays((info.filename[:-4], _read_member(zf, info, fail)) for info in infos)
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        why = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        fail(f"reading it failed ({why})")
    raise AssertionError("unreachable")
