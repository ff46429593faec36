"""Turn any picture of a digit into a 28×28 MNIST-style image, the way MNIST itself was made.

MNIST digits are white ink on black, scaled to fit a 20×20 box (keeping the aspect ratio),
anti-aliased, and pasted into a 28×28 field so that their centre of mass sits in the middle.
A photo of a digit on paper is none of that, so :func:`preprocess` does each step explicitly
and keeps every intermediate picture for display (``Preprocessed.steps``):

1. ``original``: the picture as grey levels in [0, 1] (transparent parts composited over a
   background that contrasts with the strokes; every picture, 8-bit, 16-bit, 32-bit or float,
   shrunk to at most 256 px on the long side before any work; NaN pixels take the median);
2. ``inverted``: light paper becomes black, dark ink becomes white (skipped when the background
   is already dark, e.g. the app's drawing canvas);
3. ``cleaned``: the background removed: an even one (canvas, scan) is not flattened at all,
   uneven lighting is estimated from the paper alone (never from the strokes, so no stroke is
   hollowed); noise thresholded away (Otsu), specks, stray dots and ruled lines removed, the
   ink stretched so its strokes reach full intensity;
4. ``cropped``: cut to the ink's bounding box;
5. ``stroke``: the stroke width brought into MNIST's range both ways (fine pens widened,
   markers and brushes thinned; see :func:`normalise_stroke`);
6. ``scaled``: the longest side scaled to 20 px, keeping the aspect ratio;
7. ``centred``: pasted into 28×28 with the centre of mass at the centre: what the model sees.

Each step after the first can be switched off (``preprocess(picture, off={"stroke"})``) to
see what it does; :func:`plain_resize` is the naive baseline (the whole picture in 28×28).

Bad input raises an :class:`~explainer.errors.ExplainerError` subclass with a one-line message:
:class:`UnreadableImageError`, :class:`ImageTooLargeError` (checked from the header, before the
pixels are decoded) and :class:`NoInkError` (blank paper, an empty canvas).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explainer.errors import ExplainerError

MAX_PIXELS = 50_000_000  # larger pictures are refused before decoding (a 20000×20000 PNG: 400 M)
WORK_SIZE = 256  # long side of the working copy: plenty for one digit, fast on a CPU
BOX = 20  # MNIST: the digit fits a 20×20 box ...
FIELD = 28  # ... inside a 28×28 field
MIN_CONTRAST = 0.08  # ink must differ from the paper by at least this much (of full scale)
TARGET_STROKE = 2.5  # MNIST strokes are about 2-3 px wide in the 20×20 box ...
STROKE_RANGE = (1.5, 4.0)  # ... and widths in this range are left alone (see normalise_stroke)
STROKE_WORK = 80  # long side (px) of the crop while its strokes are widened or thinned

ImageLike = Any  # str | os.PathLike | bytes | PIL.Image.Image | np.ndarray


class PreprocessError(ExplainerError):
    """The picture could not be turned into a digit."""


class UnreadableImageError(PreprocessError):
    """Not an image, or a truncated / corrupt one."""


class ImageTooLargeError(PreprocessError):
    """More pixels than :data:`MAX_PIXELS` (refused before decoding)."""


class NoInkError(PreprocessError):
    """A blank picture: no strokes stand out from the background."""


@dataclass
class Preprocessed:
    """The result of :func:`preprocess`.

    ``image``: ``(28, 28)`` float32 in [0, 1], white ink on black like MNIST, NOT normalised
    (every model normalises inside). ``steps``: ``[(name, (H, W) float32 in [0, 1]), ...]`` from
    the raw picture to ``image``, for display. ``inverted``: whether the colours were flipped.
    ``bbox``: the ink's box ``(top, left, bottom, right)`` in the ``original`` step's pixels.
    ``stroke``: the strokes' width before normalisation, in pixels of the 20×20 box (MNIST: about
    2-3; a blob or a dot: as wide as the box).
    """

    image: np.ndarray
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)
    inverted: bool = False
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)
    source: str = ""
    stroke: float = 0.0

    def tensor(self):
        """The image as a ``(1, 1, 28, 28)`` float32 torch tensor, ready for any model."""
        import torch

        return torch.from_numpy(self.image).reshape(1, 1, FIELD, FIELD)

    def step(self, name: str) -> np.ndarray:
        """The picture of one step by name (see :data:`STEP_NAMES`)."""
        for n, img in self.steps:
            if n == name:
                return img
        raise KeyError(f"no step {name!r}; steps: {[n for n, _ in self.steps]}")


STEP_NAMES = ("original", "inverted", "cleaned", "cropped", "stroke", "scaled", "centred")
SWITCHABLE = STEP_NAMES[1:]  # every step after reading can be switched off (the lesson page)
STEP_TITLES = {
    "original": "your picture (grey)",
    "inverted": "inverted: ink is white",
    "cleaned": "background removed",
    "cropped": "cropped to the ink",
    "stroke": "stroke width like MNIST",
    "scaled": "scaled to fit 20×20",
    "centred": "28×28, centred on mass",
}


# --- reading --------------------------------------------------------------------------------


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
    """Open a file (PNG, JPEG, BMP, WebP, GIF: its first frame, ...) or bytes, refuse huge
    ones from the header, decode (JPEGs straight at a reduced size) and apply EXIF rotation."""
    if isinstance(source, Image.Image):
        im = source
        _check_size(im.size, describe_source(source))
        return im
    name = describe_source(source) if not isinstance(source, bytes) else "uploaded bytes"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UnreadableImageError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise UnreadableImageError(f"{path}: the file is empty")
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fp)
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
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        why = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        why = why.split(" <", 1)[0]  # PIL names the stream: "<_io.BytesIO object at 0x7f...>"
        raise UnreadableImageError(
            f"{name}: not a readable image ({why}); use PNG, JPEG, BMP, WebP or GIF"
        ) from None
    with contextlib.suppress(Exception):  # a broken EXIF block is no reason to refuse it
        ImageOps.exif_transpose(im, in_place=True)
    return im


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


# --- the MNIST recipe -----------------------------------------------------------------------


def preprocess(source: ImageLike, off: Collection[str] = ()) -> Preprocessed:
    """Turn a picture of one digit into an MNIST-style ``(28, 28)`` float32 image in [0, 1].

    ``source``: a path, bytes, a PIL image, or an array ``(H, W)`` / ``(H, W, 3)`` /
    ``(H, W, 4)`` (the drawing canvas: white strokes on a transparent or black background).
    ``off``: steps to skip, for the lesson "why preprocessing matters" (names from
    :data:`SWITCHABLE`; a skipped step still appears, showing its input unchanged).
    Raises :class:`NoInkError` when nothing stands out from the background."""
    name = describe_source(source) if not isinstance(source, bytes) else "uploaded bytes"
    unknown = set(off) - set(SWITCHABLE)
    if unknown:
        raise PreprocessError(f"no step {sorted(unknown)} to switch off; choose from {SWITCHABLE}")
    gray = to_gray(source)
    steps: list[tuple[str, np.ndarray]] = [("original", gray)]
    if float(gray.max() - gray.min()) < 2 * MIN_CONTRAST:
        raise NoInkError(f"{name}: no ink found (the picture is blank); draw or photograph a digit")
    inverted = _background_is_light(gray) and "inverted" not in off
    ink = 1.0 - gray if inverted else gray
    steps.append(("inverted", ink))

    cleaned = ink if "cleaned" in off else clean_background(ink)
    if not (cleaned > 0.05).any():
        raise NoInkError(f"{name}: no ink found (nothing stands out from the background)")
    steps.append(("cleaned", cleaned))

    box = (0, 0, *cleaned.shape) if "cropped" in off else ink_bbox(cleaned)
    crop = cleaned[box[0] : box[2], box[1] : box[3]]
    steps.append(("cropped", crop))

    width = box_stroke_width(crop)
    stroked = crop if "stroke" in off else normalise_stroke(crop, width)
    steps.append(("stroke", stroked))

    scaled = fit_box(stroked, FIELD if "scaled" in off else BOX)
    steps.append(("scaled", scaled))

    final = paste_centred(scaled, FIELD, by_mass="centred" not in off)
    steps.append(("centred", final))
    return Preprocessed(final, steps, inverted, box, name, width)


def _background_is_light(gray: np.ndarray) -> bool:
    """The paper is whatever most pixels are, in the whole picture and in its central part (a
    dark table around the page, or a thick digit, cannot both tip the balance)."""
    h, w = gray.shape
    centre = gray[h // 5 : h - h // 5, w // 5 : w - w // 5]
    return 0.5 * (float(np.median(gray[::2, ::2])) + float(np.median(centre))) > 0.5


def clean_background(ink: np.ndarray) -> np.ndarray:
    """``(H, W)`` light-on-dark in [0, 1] to the same with the background set to exactly 0:
    lighting flattened (only when the paper is uneven), noise cut by an Otsu threshold, specks
    and ruled lines dropped, strokes stretched to 1. No stroke is ever hollowed: the paper's
    level is estimated from the paper alone (see :func:`background_level`)."""
    from scipy import ndimage

    h, w = ink.shape
    flat = ink - background_level(ink)
    if min(h, w) >= 32:  # denoise photos; MNIST-sized pictures are clean already
        flat = ndimage.gaussian_filter(flat, sigma=max(h, w) / 400.0 + 0.3)
    sub = flat[::2, ::2]
    paper = float(np.median(sub))
    # robust std of the paper's grain, from differences of pixels 2 apart (smooth shading and
    # a left-over table edge cancel out; the grain does not)
    step = flat[:, 2:] - flat[:, :-2] if w > 2 else sub - paper
    noise = 1.4826 * float(np.median(np.abs(step[::2, ::2]))) / np.sqrt(2.0)
    flat = np.clip(flat, 0.0, 1.0)
    hi = float(flat.max())
    if hi - paper < max(MIN_CONTRAST, 6.0 * noise):
        return np.zeros_like(flat)
    t = otsu_threshold(flat)
    mask = _drop_lines(flat > t)
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(flat)
    if n > 1:
        mask = _drop_specks_and_edges(mask, labels, n)
    peak = float(np.percentile(flat[mask], 90)) if mask.any() else hi
    if peak - paper < max(MIN_CONTRAST, 6.0 * noise):  # the "strokes" are just grain
        return np.zeros_like(flat)
    low = 0.5 * t
    stretched = np.clip((flat - low) / max(peak - low, 1e-6), 0.0, 1.0)
    near = ndimage.binary_dilation(mask, iterations=1)  # keep the anti-aliased edge
    return (stretched * near).astype(np.float32)


def _drop_lines(mask: np.ndarray) -> np.ndarray:
    """Remove ruled and squared-paper lines: thin rows (columns) of ink that run across at
    least 3/4 of the picture. Where a stroke crosses the line, the line's pixels are kept, so
    the stroke is not cut."""
    from scipy import ndimage

    h, w = mask.shape
    if min(h, w) < 48:
        return mask
    rows = mask.mean(axis=1) >= 0.75
    cols = mask.mean(axis=0) >= 0.75
    if not rows.any() and not cols.any():
        return mask
    row_line = np.zeros_like(mask)
    row_line[rows, :] = True
    col_line = np.zeros_like(mask)
    col_line[:, cols] = True
    rest = mask & ~row_line & ~col_line
    if not rest.any():
        return mask
    # where a stroke crosses a line, it has ink just above and below it: keep the crossing
    near_v = ndimage.binary_dilation(rest, structure=np.ones((9, 1), bool))
    near_h = ndimage.binary_dilation(rest, structure=np.ones((1, 9), bool))
    return rest | (mask & ((row_line & near_v) | (col_line & near_h)))


def _drop_specks_and_edges(mask: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Keep the strokes: drop specks (much smaller than the largest part, or small and far from
    it: a stray dot) and bands that lie along the picture's edge (a table or the page's shadow
    around the paper), unless nothing else would be left."""
    from scipy import ndimage

    h, w = mask.shape
    band = np.ones_like(mask)
    dy, dx = max(1, h // 8), max(1, w // 8)
    band[dy:-dy, dx:-dx] = False
    index = np.arange(1, n + 1)
    sizes = ndimage.sum(mask, labels, index=index)
    in_band = ndimage.sum(band, labels, index=index) / np.maximum(sizes, 1)
    big = sizes >= max(0.05 * sizes.max(), 2)
    strokes = index[big & (in_band < 0.7)]
    keep = strokes if len(strokes) else index[big]
    keep = _drop_far_dots(labels, keep, sizes)
    return np.isin(labels, keep)


def _drop_far_dots(labels: np.ndarray, keep: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Of the kept parts, drop compact small ones (under a fifth of the largest) that lie
    further from the largest part than its own size: a pen dot beside the digit."""
    from scipy import ndimage

    if len(keep) < 2:
        return keep
    main = int(keep[np.argmax(sizes[keep - 1])])
    boxes = ndimage.find_objects(labels)
    t, b = boxes[main - 1][0].start, boxes[main - 1][0].stop
    le, r = boxes[main - 1][1].start, boxes[main - 1][1].stop
    reach = max(b - t, r - le)
    out = []
    for k in keep:
        sy, sx = boxes[k - 1]
        gap_y = max(t - sy.stop, sy.start - b, 0)
        gap_x = max(le - sx.stop, sx.start - r, 0)
        extent = max(sy.stop - sy.start, sx.stop - sx.start)
        small = sizes[k - 1] < 0.2 * sizes[main - 1] and extent < 0.3 * reach
        if k == main or not small or max(gap_y, gap_x) < 0.25 * reach:
            out.append(k)
    return np.asarray(out)


def background_level(ink: np.ndarray) -> np.ndarray | float:
    """The paper's brightness: one number when the paper is even (canvas exports, scans,
    MNIST: nothing is flattened), else a smooth map of shadows and vignetting.

    The map is a normalised convolution of the paper alone: a rough ink mask (Otsu above a
    low-percentile background, holes filled, widened) is left out, and the paper around it is
    averaged in. Strokes, however wide, never enter the estimate, so they are never
    subtracted from themselves."""
    from scipy import ndimage

    h, w = ink.shape
    if max(h, w) < 64:
        return float(np.median(ink))
    small = _resize(ink, 32, 32)
    rough = ndimage.percentile_filter(small, 10, size=9, mode="nearest")
    rough = ndimage.uniform_filter(rough, size=5, mode="nearest")
    resid = small - rough
    mask = resid > max(otsu_threshold(np.clip(resid, 0, 1)), MIN_CONTRAST / 2)
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=2))
    paper = ~ndimage.binary_dilation(mask, iterations=1)
    if paper.mean() < 0.2:
        return float(np.percentile(small, 10))
    num = ndimage.gaussian_filter(small * paper, 4.0, mode="nearest")
    den = ndimage.gaussian_filter(paper.astype(np.float32), 4.0, mode="nearest")
    level = num / np.maximum(den, 1e-3)
    level = np.where(den > 1e-3, level, float(np.median(small[paper])))
    if float(np.percentile(level, 99) - np.percentile(level, 1)) < 0.04:
        return float(np.median(small[paper]))  # even paper: subtract one number, flatten nothing
    return _resize(level.astype(np.float32), h, w, Image.Resampling.BILINEAR)


def _resize(img: np.ndarray, h: int, w: int, method=Image.Resampling.BOX) -> np.ndarray:
    im = Image.fromarray(img.astype(np.float32), mode="F")
    return np.asarray(im.resize((w, h), method), dtype=np.float32)


def otsu_threshold(values: np.ndarray, bins: int = 128) -> float:
    """The grey level that best splits ``values`` into two classes (Otsu 1979)."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * (1.0 - w0))
    between = np.nan_to_num(between[:-1])
    return float(edges[int(np.argmax(between)) + 1])


def ink_bbox(img: np.ndarray, level: float = 0.05) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` (bottom/right exclusive) of pixels above ``level``."""
    rows = np.flatnonzero((img > level).any(axis=1))
    cols = np.flatnonzero((img > level).any(axis=0))
    if len(rows) == 0:
        return 0, 0, img.shape[0], img.shape[1]
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def stroke_width(img: np.ndarray, level: float = 0.5) -> float:
    """Typical stroke width in pixels: twice the distance from the strokes' centre lines (the
    ridge of the distance map) to the paper, median over the ridge. A blob is as wide as it is
    big; a hairline is 1 px. Small pictures are measured enlarged, for sub-pixel widths."""
    from scipy import ndimage

    up = max(1, -(-STROKE_WORK // max(img.shape)))
    if up > 1:
        img = _resize(img, img.shape[0] * up, img.shape[1] * up, Image.Resampling.BILINEAR)
    mask = img > level
    if not mask.any():
        return 0.0
    d = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    ridge = mask & (d >= ndimage.maximum_filter(d, size=3) - 0.5)
    return float(2.0 * np.median(d[ridge]) - 1.0) / up


def _ridge(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    d = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return mask & (d >= ndimage.maximum_filter(d, size=3) - 0.5)


def box_stroke_width(crop: np.ndarray) -> float:
    """Stroke width of a cropped digit in pixels of the 20×20 box, measured on the crop scaled
    into the box, exactly as on an MNIST digit (whose widths define :data:`STROKE_RANGE`)."""
    return stroke_width(fit_box(crop, BOX))


def normalise_stroke(crop: np.ndarray, width: float | None = None) -> np.ndarray:
    """Bring the strokes of a cropped digit to MNIST's width, :data:`TARGET_STROKE` px in the
    20×20 box, both ways: fine pens are widened, markers and fat brushes thinned. Widths inside
    MNIST's own range (:data:`STROKE_RANGE`) are left alone.

    The work is done with the crop's long side at :data:`STROKE_WORK` px (4× the box), by a
    grey dilation or erosion with a disk. Thinning keeps every stroke's centre line at the
    target width, so a stroke narrower than the eraser is thinned, never erased or broken."""
    from scipy import ndimage

    width = box_stroke_width(crop) if width is None else width
    lo, hi = STROKE_RANGE
    if width <= 0 or lo <= width <= hi:
        return crop
    scale = STROKE_WORK / max(crop.shape)
    h, w = (max(1, round(n * scale)) for n in crop.shape)
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    work = np.clip(_resize(crop, h, w, method), 0.0, 1.0)
    per_px = STROKE_WORK / BOX  # work pixels per box pixel
    change = (TARGET_STROKE - width) * per_px / 2.0  # radius to add (+) or remove (-)
    r = max(1, round(abs(change)))
    work = np.pad(work, r)
    if change > 0:
        return ndimage.grey_dilation(work, footprint=_disk(r)).astype(np.float32)
    core = ndimage.grey_erosion(work, footprint=_disk(r))
    keep = round(TARGET_STROKE * per_px / 2.0)
    spine = ndimage.binary_dilation(_ridge(work > 0.5), structure=_disk(keep)) & (work > 0.5)
    spine = ndimage.gaussian_filter(spine.astype(np.float32), 0.7)
    return np.clip(np.maximum(core, spine), 0.0, 1.0).astype(np.float32)


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r + r


def fit_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale ``crop`` so its longer side is ``box`` px, keeping the aspect ratio (anti-aliased,
    as MNIST's own normalisation); the ink's peak is brought back to 1."""
    h, w = crop.shape
    s = box / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    im = Image.fromarray(crop.astype(np.float32), mode="F")
    out = np.asarray(im.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    out = np.clip(out, 0.0, None)
    peak = float(out.max())
    return np.clip(out / peak, 0.0, 1.0) if peak > 0 else out


def paste_centred(patch: np.ndarray, size: int = FIELD, by_mass: bool = True) -> np.ndarray:
    """Paste ``patch`` into a ``(size, size)`` black field so that its centre of mass (or, with
    ``by_mass=False``, its middle) lands on the field's centre (kept fully inside the field)."""
    from scipy import ndimage

    h, w = patch.shape
    if by_mass and patch.sum() > 0:
        cy, cx = ndimage.center_of_mass(patch)
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    top = int(np.clip(round(size / 2 - cy), 0, size - h))
    left = int(np.clip(round(size / 2 - cx), 0, size - w))
    out = np.zeros((size, size), dtype=np.float32)
    out[top : top + h, left : left + w] = patch
    return out


def plain_resize(source: ImageLike) -> np.ndarray:
    """The naive baseline: the whole picture in grey, inverted when its background is light,
    squeezed to 28×28 (no cleaning, cropping, stroke width or centring). ``(28, 28)`` float32."""
    gray = to_gray(source)
    ink = 1.0 - gray if _background_is_light(gray) else gray
    im = Image.fromarray(ink.astype(np.float32), mode="F").resize((FIELD, FIELD), Image.BOX)
    return np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
