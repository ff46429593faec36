"""Cleaning the background of a digit's picture: paper to exactly 0, strokes to full ink.

The paper's level is estimated from the paper alone (:func:`background_level`: one number for
even paper, a smooth map for shadows and vignetting), so no stroke is ever subtracted from
itself; then noise is cut by an Otsu threshold, ruled lines, specks and stray dots are dropped,
and the strokes are stretched to reach 1 (:func:`clean_background`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from explainer.reading.images import resize_gray

MIN_CONTRAST = 0.08  # ink must differ from the paper by at least this much (of full scale)


def background_is_light(gray: np.ndarray) -> bool:
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
    least 3/4 of the picture, in bands at most :func:`line_thickness` px thick (a tall stroke,
    the 1 of a thick brush, runs as far but is thicker: it stays). Where a stroke crosses the
    line, the line's pixels are kept, so the stroke is not cut."""
    from scipy import ndimage

    h, w = mask.shape
    if min(h, w) < 48:
        return mask
    most = line_thickness(h, w)
    rows = thin_runs(mask.mean(axis=1) >= 0.75, most)
    cols = thin_runs(mask.mean(axis=0) >= 0.75, most)
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


def line_thickness(h: int, w: int) -> int:
    """The thickest band (px) of an ``(h, w)`` picture that can be a ruled line: a 50th of its
    short side, at least 3 (a line of a photographed page is 1-3 px at 256 px)."""
    return max(3, min(h, w) // 50)


def thin_runs(flags: np.ndarray, most: int) -> np.ndarray:
    """``flags`` ``(N,)`` bool with every run of consecutive ``True`` longer than ``most``
    turned ``False``: only thin bands are left."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(flags, np.int8), 0]))
    out = np.asarray(flags, bool).copy()
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start > most:
            out[start:stop] = False
    return out


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
    small = resize_gray(ink, 32, 32)
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
    return resize_gray(level.astype(np.float32), h, w, Image.Resampling.BILINEAR)


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
