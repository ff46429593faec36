"""MNIST's geometry of a digit: the ink's box, the stroke width, the 20×20 fit, the centring.

MNIST digits were scaled to fit a 20×20 box (keeping the aspect ratio, anti-aliased) and pasted
into a 28×28 field with their centre of mass in the middle; their strokes are about 2-3 px wide
in the box. :func:`ink_bbox` crops, :func:`normalise_stroke` brings the stroke width into that
range both ways, :func:`fit_box` scales and :func:`paste_centred` centres. All pictures are
``(H, W)`` float32 in [0, 1], light ink on black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from explainer.reading.images import resize_gray

BOX = 20  # MNIST: the digit fits a 20×20 box ...
FIELD = 28  # ... inside a 28×28 field
TARGET_STROKE = 2.5  # MNIST strokes are about 2-3 px wide in the 20×20 box ...
STROKE_RANGE = (1.5, 4.0)  # ... and widths in this range are left alone (see normalise_stroke)
STROKE_WORK = 80  # long side (px) of the crop while its strokes are widened or thinned


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
        img = resize_gray(img, img.shape[0] * up, img.shape[1] * up, Image.Resampling.BILINEAR)
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
    work = np.clip(resize_gray(crop, h, w, method), 0.0, 1.0)
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
