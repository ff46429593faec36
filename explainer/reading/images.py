"""Reading a picture of a digit: a file, bytes, a PIL image or an array to grey levels.

:func:`to_gray` turns any of them into ``(H, W)`` float32 in [0, 1]: 8-bit, 16-bit, 32-bit and
float pictures alike, transparent parts composited over a background that contrasts with the
strokes, NaN pixels set to the median, and everything shrunk to at most :data:`WORK_SIZE` px on
the long side before any work. :func:`open_image` refuses huge pictures from the header, before
their pixels are decoded. Bad input raises :class:`UnreadableImageError` or
:class:`ImageTooLargeError`, both :class:`PreprocessError`, with a one-line message.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explainer.errors import ExplainerError
from explainer.io import file_problem

RASTER_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
"""The only formats opened, told by content, never by name: PostScript, PDF, icons, PSD and the
other formats Pillow knows are refused before a plugin runs (EPS would start Ghostscript)."""
MAX_PIXELS = 50_000_000  # larger pictures are refused before decoding (a 20000×20000 PNG: 400 M)
WORK_SIZE = 256  # long side of the working copy: plenty for one digit, fast on a CPU

ImageLike = Any  # str | os.PathLike | bytes | PIL.Image.Image | np.ndarray


class PreprocessError(ExplainerError):
    """The picture could not be turned into a digit."""


class UnreadableImageError(PreprocessError):
    """Not an image, or a truncated / corrupt one."""


class ImageTooLargeError(PreprocessError):
    """More pixels than :data:`MAX_PIXELS` (refused before decoding)."""


def describe_source(source: ImageLike) -> str:
    """A short name for messages: the file path, or the kind of object."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, np.ndarray):
        return f"array {tuple(source.shape)}"
    if isinstance(source, Image.Image):
        return f"image {source.size[0]}×{source.size[1]}"
    return type(source).__name__


def open_image(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """Open a file (PNG, JPEG, BMP, WebP, GIF or TIFF: the first frame) or bytes, told by its
    content (:data:`RASTER_FORMATS`; every other format is refused unopened), refuse huge
    ones from the header, decode (JPEGs straight at a reduced size) and apply EXIF rotation."""
    if isinstance(source, Image.Image):
        im = source
        _check_size(im.size, describe_source(source))
        return im
    name = describe_source(source) if not isinstance(source, bytes) else "uploaded bytes"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        problem = file_problem(path)  # a FIFO or device is never opened: nothing blocks
        if problem:
            raise UnreadableImageError(f"{path}: {problem}")
        if path.stat().st_size == 0:
            raise UnreadableImageError(f"{path}: the file is empty")
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a plugin's warning is no message for the user
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=RASTER_FORMATS)
            _check_size(im.size, name)
            im.seek(0)  # GIF / multi-page TIFF: the first frame
            if im.format == "JPEG":
                s = WORK_SIZE / max(im.size)  # decode at 1/2, 1/4 or 1/8 scale when that is enough
                want = (max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s)))
                im.draft("RGB" if im.mode not in ("L", "1") else "L", want)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(
            f"{name}: the picture is too large to be a photo of one digit "
            f"(limit {MAX_PIXELS // 1_000_000} megapixels); shrink it first"
        ) from None
    except UnidentifiedImageError:
        kind = _kind_of(fp)
        what = f"{kind}, a format this program does not open" if kind else "not a readable image"
        raise UnreadableImageError(
            f"{name}: {what}; use PNG, JPEG, BMP, WebP, GIF or TIFF"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        why = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        why = why.split(" <", 1)[0]  # PIL names the stream: "<_io.BytesIO object at 0x7f...>"
        raise UnreadableImageError(
            f"{name}: not a readable image ({why}); use PNG, JPEG, BMP, WebP, GIF or TIFF"
        ) from None
    with contextlib.suppress(Exception):  # a broken EXIF block is no reason to refuse it
        ImageOps.exif_transpose(im, in_place=True)
    return im


def _kind_of(fp: Any) -> str:
    """What a refused file is, told from its first bytes by Pillow's prefix tests alone
    (no plugin is run): "an EPS file", or "" when none claims them."""
    try:
        if isinstance(fp, (str, os.PathLike)):
            with open(fp, "rb") as fh:
                prefix = fh.read(16)
        else:
            fp.seek(0)
            prefix = fp.read(16)
    except (OSError, AttributeError, ValueError):
        return ""
    Image.init()
    for fmt in Image.ID:
        accept = Image.OPEN[fmt][1]
        with contextlib.suppress(Exception):
            if fmt not in RASTER_FORMATS and accept is not None and accept(prefix):
                return f"an {fmt} file" if fmt[0] in "AEFHILMNORSX" else f"a {fmt} file"
    return ""


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{name}: {w}×{h} pixels is too large for a photo of one digit "
            f"(limit {MAX_PIXELS // 1_000_000} megapixels); shrink it first"
        )
    if w < 1 or h < 1:
        raise UnreadableImageError(f"{name}: the image has no pixels")


def to_gray(source: ImageLike) -> np.ndarray:
    """Grey levels ``(H, W)`` float32 in [0, 1] of a path, bytes, PIL image or array.

    Arrays may be ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, ``uint8`` or float (in [0, 1], or
    [0, 255] when larger values occur). A transparent background (the drawing canvas, PNG
    cut-outs) is composited over black when the visible strokes are light and over white when
    they are dark, so the strokes always stand out. Large pictures are shrunk to
    :data:`WORK_SIZE` on the long side."""
    if isinstance(source, np.ndarray):
        arr = _array_to_float(source, describe_source(source))
    else:
        im = open_image(source)
        if im.mode in WIDE_MODES:  # 16-bit, 32-bit, float: shrunk first, like 8-bit pictures
            arr = _wide_to_float(_shrink(im))
        else:
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (
                im.mode == "P" and "transparency" in im.info
            )
            if im.mode in ("L", "LA", "RGB", "RGBA"):
                im = _shrink(im)  # before converting: a huge grey PNG is never made RGB
            im = _shrink(im.convert("RGBA" if has_alpha else "RGB"))
            arr = np.asarray(im, dtype=np.float32) / 255.0
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = _composite(arr[..., :3], arr[..., 3])
        elif arr.shape[2] == 3:
            arr = _luminance(arr)
        elif arr.shape[2] == 1:
            arr = arr[..., 0]
    if max(arr.shape) > WORK_SIZE:
        arr = np.asarray(_shrink(Image.fromarray(arr.astype(np.float32), mode="F")), np.float32)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _wide_to_float(im: Image.Image) -> np.ndarray:
    """A 16-bit, 32-bit or float picture (already shrunk) as [0, 1] floats; pixels that are
    NaN or infinite take the picture's median (one bad pixel must not blank the picture)."""
    arr = np.array(im, dtype=np.float32)
    return _finite_unit(arr, integer=im.mode != "F")


def _finite_unit(arr: np.ndarray, integer: bool) -> np.ndarray:
    """Non-finite pixels set to the median of the others, then scaled into [0, 1]: integers
    by their largest value, floats left alone when already in [0, 1], else min-max."""
    bad = ~np.isfinite(arr)
    if bad.all():
        raise UnreadableImageError("the picture has no finite pixel values (all NaN or inf)")
    if bad.any():
        arr = np.where(bad, np.float32(np.median(arr[~bad])), arr)
    if integer:
        return arr / max(float(arr.max()), 1.0)
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0.0 and hi <= 1.0:
        return arr
    if lo >= 0.0 and hi <= 255.0:
        return arr / 255.0
    return (arr - lo) / max(hi - lo, 1e-12)


def _block_mean(a: np.ndarray) -> np.ndarray:
    """An array larger than :data:`WORK_SIZE` averaged over k×k blocks (no full-size float
    copy is made), so huge arrays cost no more than their own bytes."""
    k = max(1, max(a.shape[:2]) // WORK_SIZE)  # at least WORK_SIZE px remain on the long side
    h, w = (a.shape[0] // k) * k, (a.shape[1] // k) * k
    blocks = a[:h, :w].reshape(h // k, k, w // k, k, *a.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float64 if a.dtype == np.float64 else np.float32)


def _array_to_float(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise UnreadableImageError(
            f"{name}: expected an image array (H, W), (H, W, 3) or (H, W, 4), got {a.shape}"
        )
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageTooLargeError(f"{name}: too many pixels for a photo of one digit")
    if a.size == 0:
        raise UnreadableImageError(f"{name}: the array is empty")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
        top = 1.0
    elif np.issubdtype(a.dtype, np.integer):
        top = 255.0 if a.max() <= 255 else float(np.iinfo(a.dtype).max)
    elif not np.issubdtype(a.dtype, np.floating):
        raise UnreadableImageError(f"{name}: expected numbers in the image array, got {a.dtype}")
    else:
        top = 0.0
    if max(a.shape[:2]) >= 2 * WORK_SIZE:
        a = _block_mean(a)
    if top:
        return a.astype(np.float32) / top
    return _finite_unit(a.astype(np.float32), integer=False)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, as PIL's ``convert("L")``."""
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Grey levels of an RGBA picture flattened over a background that contrasts with it."""
    gray = _luminance(rgb)
    if alpha.min() >= 0.98:  # fully opaque: alpha carries nothing
        return gray
    visible = alpha > 0.5
    light_strokes = gray[visible].mean() > 0.5 if visible.any() else True
    background = 0.0 if light_strokes else 1.0
    return gray * alpha + background * (1.0 - alpha)


def _shrink(im: Image.Image) -> Image.Image:
    if max(im.size) <= WORK_SIZE:
        return im
    w, h = im.size
    s = WORK_SIZE / max(w, h)
    return im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BOX)


def resize_gray(img: np.ndarray, h: int, w: int, method=Image.Resampling.BOX) -> np.ndarray:
    """A float picture ``(H, W)`` resized to ``(h, w)`` float32 (box filter unless told)."""
    im = Image.fromarray(img.astype(np.float32), mode="F")
    return np.asarray(im.resize((w, h), method), dtype=np.float32)
