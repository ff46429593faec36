"""Synthetic test families: digits the way learners really bring them, and things that are not
digits at all.

Every digit family starts from an MNIST test digit (or a digit rendered with a font installed on
the machine) and turns it into a picture a learner could bring: a phone photo of paper, a thick
canvas drawing, a fine pen, a digit drawn small in a corner, touching the edge, slanted, with a
stray dot or a ruled line, pencil on squared paper, low contrast, a phone photo stored sideways
with an EXIF rotation, a bold font. The label is the MNIST label (or the rendered digit), never
anything read from the picture. The not-a-digit kinds (letters, scribbles, blobs, dots, smudges)
test the "this does not look like a digit" flag.

>>> pics = make_family("thick", digits, labels, seed=0)   # doctest: +SKIP
>>> [(picture, label), ...]                               # a picture is an array or file bytes

All generators are seeded: the same call gives the same pictures.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Picture = np.ndarray | bytes
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")
NOT_DIGIT_LETTERS = "ACEFHKMNPRTUVWXYacdefhkmnprtuvwxy"  # letters that are no digit's shape
# left out on purpose: O o D Q (a 0), I l i j (a 1), Z z (a 2), S s (a 5), G b (a 6), B (an 8),
# g q (a 9): no score can tell them from the digit they look like.


# --- building blocks ------------------------------------------------------------------------


def big_ink(digit: np.ndarray, size: int) -> np.ndarray:
    """An MNIST digit ``(28, 28)`` uint8 scaled to ``(size, size)`` float32 ink in [0, 1]."""
    im = Image.fromarray(np.asarray(digit, np.uint8)).resize((size, size), Image.BICUBIC)
    return np.clip(np.asarray(im, np.float32) / 255.0, 0.0, 1.0)


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r + r


def restroke(ink: np.ndarray, radius: int) -> np.ndarray:
    """Binarise ``ink`` and grow (``radius`` > 0) or shrink (< 0) its strokes by ``radius`` px:
    a brush or a pen of another width, drawn along the same path."""
    from scipy import ndimage

    mask = ink > 0.5
    if radius > 0:
        mask = ndimage.binary_dilation(mask, structure=_disk(radius))
    elif radius < 0:
        core = ndimage.binary_erosion(mask, structure=_disk(-radius))
        mask = core | _thin_core(mask, -radius)
    soft = ndimage.gaussian_filter(mask.astype(np.float32), 0.7)
    return np.clip(soft, 0.0, 1.0)


def thin_line(ink: np.ndarray, radius: int) -> np.ndarray:
    """The centre line of ``ink``'s strokes drawn with a pen ``2 * radius + 1`` px wide."""
    from scipy import ndimage

    ridge = _thin_core(ink > 0.5, 1)
    mask = ndimage.binary_dilation(ridge, structure=_disk(radius))
    return np.clip(ndimage.gaussian_filter(mask.astype(np.float32), 0.6), 0.0, 1.0)


def _thin_core(mask: np.ndarray, r: int) -> np.ndarray:
    """The ridge of ``mask`` (its distance map's local maxima), so thinning never erases a
    stroke narrower than the eraser."""
    from scipy import ndimage

    d = ndimage.distance_transform_edt(mask)
    peak = ndimage.maximum_filter(d, size=3)
    return mask & (d >= peak - 0.5) & (d >= 1)


def place(ink: np.ndarray, shape: tuple[int, int], top: int, left: int) -> np.ndarray:
    """Paste ``ink`` into an empty ``shape`` field at ``(top, left)`` (clipped at the edges)."""
    out = np.zeros(shape, np.float32)
    h, w = ink.shape
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + h, shape[0]), min(left + w, shape[1])
    if t1 > t0 and l1 > l0:
        out[t0:t1, l0:l1] = ink[t0 - top : t1 - top, l0 - left : l1 - left]
    return out


def on_paper(
    ink: np.ndarray,
    rng: np.random.Generator,
    *,
    contrast: float = 0.8,
    shade: float = 0.25,
    noise: float = 0.03,
    paper: np.ndarray | None = None,
) -> np.ndarray:
    """Dark ink on light, unevenly lit, tinted, noisy paper: ``(H, W, 3)`` uint8."""
    h, w = ink.shape
    if paper is None:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (
            np.cos(angle) * np.linspace(-0.5, 0.5, w)[None, :]
            + np.sin(angle) * np.linspace(-0.5, 0.5, h)[:, None]
        )
        paper = 0.9 - shade * (ramp + 0.5)
    dark = paper * (1.0 - contrast)
    gray = paper * (1.0 - ink) + dark * ink + rng.normal(0, noise, (h, w))
    tint = rng.uniform(0.85, 1.0, 3)
    rgb = np.clip(gray[..., None] * tint[None, None, :], 0, 1)
    return (rgb * 255).astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int = 85, orientation: int = 0) -> bytes:
    """JPEG file bytes, with an EXIF orientation tag when ``orientation`` is given."""
    buf = io.BytesIO()
    im = Image.fromarray(rgb)
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(buf, "JPEG", quality=quality, exif=exif)
    else:
        im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def canvas(ink: np.ndarray, transparent: bool = True) -> np.ndarray:
    """A drawing canvas export: white strokes, transparent (RGBA) or black (RGB) background."""
    a = (np.clip(ink, 0, 1) * 255).astype(np.uint8)
    if transparent:
        out = np.zeros((*ink.shape, 4), np.uint8)
        out[..., :3] = 255
        out[..., 3] = a
        return out
    return np.repeat(a[..., None], 3, axis=2)


# --- digit families -------------------------------------------------------------------------


def photo(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """A phone photo of the digit on paper: 480×640, shading, noise, tint, JPEG."""
    size = int(rng.integers(150, 300))
    ink = place(big_ink(digit, size), (480, 640), rng.integers(20, 460 - size),
                rng.integers(20, 620 - size))  # fmt: skip
    return jpeg(on_paper(ink, rng, shade=rng.uniform(0.05, 0.35)))


def photo_exif(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """The same photo stored sideways with an EXIF tag that turns it upright (orientation 6,
    8 or 3, as phones write them)."""
    size = int(rng.integers(150, 280))
    ink = place(big_ink(digit, size), (480, 640), rng.integers(20, 460 - size),
                rng.integers(20, 620 - size))  # fmt: skip
    rgb = on_paper(ink, rng)
    orientation = int(rng.choice([3, 6, 8]))
    stored = {3: Image.ROTATE_180, 6: Image.ROTATE_90, 8: Image.ROTATE_270}[orientation]
    raw = np.asarray(Image.fromarray(rgb).transpose(stored))
    return jpeg(raw, orientation=orientation)


def thick(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """A thick brush on a 280×280 canvas (strokes 26-48 px wide, MNIST's are ~18 at this
    scale), exported with a transparent or a black background."""
    size = int(rng.integers(170, 230))
    ink = restroke(big_ink(digit, size), int(rng.integers(4, 16)))
    ink = place(ink, (280, 280), rng.integers(0, 281 - size), rng.integers(0, 281 - size))
    return canvas(ink, transparent=bool(rng.integers(2)))


def thin(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """A fine pen: the same path 2-4 px wide in a 400-px digit, dark on white paper."""
    size = int(rng.integers(280, 400))
    ink = thin_line(big_ink(digit, size), int(rng.integers(1, 3)))
    ink = place(ink, (480, 480), rng.integers(0, 481 - size), rng.integers(0, 481 - size))
    return png(on_paper(ink, rng, shade=0.05, noise=0.01))


def corner(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """A small digit (60-90 px) in a corner of a 640×480 photo."""
    size = int(rng.integers(60, 90))
    top = int(rng.choice([8, 480 - size - 8]))
    left = int(rng.choice([8, 640 - size - 8]))
    ink = place(big_ink(digit, size), (480, 640), top, left)
    return jpeg(on_paper(ink, rng, shade=0.15, noise=0.02))


def edge(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """The ink touches the picture's edge (a tight crop), on a scan-white background."""
    ink = big_ink(digit, 200)
    rows, cols = np.flatnonzero(ink.max(1) > 0.3), np.flatnonzero(ink.max(0) > 0.3)
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    pad = [int(rng.integers(10, 60)) for _ in range(4)]
    pad[int(rng.integers(4))] = 0  # one side flush with the edge
    ink = np.pad(ink, ((pad[0], pad[1]), (pad[2], pad[3])))
    return png(on_paper(ink, rng, shade=0.0, noise=0.01))


def slanted(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """Handwriting slanted right or left (a shear of 0.25-0.45), dark ink on paper."""
    ink = big_ink(digit, 220)
    k = float(rng.uniform(0.25, 0.45)) * (1 if rng.integers(4) else -1)
    im = Image.fromarray(ink).transform(
        (320, 220), Image.AFFINE, (1, k, -50 - k * 110, 0, 1, 0), Image.BILINEAR
    )
    ink = place(np.asarray(im, np.float32), (360, 420), 70, 50)
    return png(on_paper(ink, rng, shade=0.1, noise=0.02))


def stray_dot(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """A photo with a pen dot beside the digit."""
    size = int(rng.integers(180, 240))
    ink = place(big_ink(digit, size), (480, 640), 120, 120)
    y, x = int(rng.integers(30, 450)), int(rng.choice([rng.integers(30, 100),
                                                         rng.integers(400, 610)]))  # fmt: skip
    r = int(rng.integers(5, 10))
    yy, xx = np.ogrid[:480, :640]
    ink = np.maximum(ink, ((yy - y) ** 2 + (xx - x) ** 2 <= r * r).astype(np.float32))
    return jpeg(on_paper(ink, rng, shade=0.1))


def ruled(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """Lined paper: thin grey-blue lines every 60-80 px across the page, one under the digit."""
    size = int(rng.integers(200, 260))
    top = 100
    ink = place(big_ink(digit, size), (480, 640), top, int(rng.integers(80, 560 - size)))
    gap = int(rng.integers(60, 80))
    lines = np.zeros_like(ink)
    base = top + size - int(size * 0.12)  # the digit sits on a line
    for y in range(base % gap, 480, gap):
        lines[y : y + 2] = 0.45
    rgb = on_paper(np.maximum(ink, lines), rng, shade=0.1, noise=0.02)
    return jpeg(rgb)


def squared(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """Pencil (grey, soft) on squared paper: a 5-mm grid of light lines."""
    size = int(rng.integers(200, 260))
    ink = place(big_ink(digit, size), (480, 640), 110, int(rng.integers(80, 560 - size)))
    grid = np.zeros_like(ink)
    step = int(rng.integers(24, 34))
    grid[::step] = 0.3
    grid[:, ::step] = 0.3
    grid = np.maximum(grid, np.roll(grid, 1, axis=0) * (grid == 0))
    pencil = ink * float(rng.uniform(0.55, 0.75))
    return jpeg(on_paper(np.maximum(pencil, grid * (pencil < 0.2)), rng, contrast=0.9,
                         shade=0.1, noise=0.02))  # fmt: skip


def low_contrast(digit: np.ndarray, rng: np.random.Generator) -> Picture:
    """Faint ink: the strokes only 12-20% darker than the paper."""
    size = int(rng.integers(180, 260))
    ink = place(big_ink(digit, size), (480, 640), 100, 150)
    return jpeg(on_paper(ink, rng, contrast=float(rng.uniform(0.12, 0.2)), shade=0.08,
                         noise=0.012))  # fmt: skip


@lru_cache(maxsize=1)
def bold_fonts() -> tuple[str, ...]:
    """Bold TrueType fonts installed on this machine (DejaVu, Liberation, ...), sorted."""
    found: list[str] = []
    for d in FONT_DIRS:
        if Path(d).is_dir():
            found += [str(p) for p in Path(d).rglob("*.ttf") if "Bold" in p.name]
    return tuple(sorted(found))


@lru_cache(maxsize=1)
def plain_fonts() -> tuple[str, ...]:
    """Upright sans and serif fonts, not monospaced, not bold."""
    found: list[str] = []
    for d in FONT_DIRS:
        if Path(d).is_dir():
            found += [
                str(p)
                for p in Path(d).rglob("*.ttf")
                if p.stem.endswith(("Sans", "Serif", "-Regular", "Sans-Bold", "Serif-Bold"))
                and "Mono" not in p.name
                and "Math" not in p.name
            ]
    return tuple(sorted(found))


def text_ink(text: str, font_path: str, px: int, shear: float = 0.0) -> np.ndarray:
    """``text`` rendered white on black with a TrueType font, cut to its ink plus a margin."""
    font = ImageFont.truetype(font_path, px)
    im = Image.new("L", (px * 2, px * 2), 0)
    ImageDraw.Draw(im).text((px // 2, px // 4), text, fill=255, font=font)
    if shear:
        im = im.transform(im.size, Image.AFFINE, (1, shear, -shear * px, 0, 1, 0), Image.BILINEAR)
    a = np.asarray(im, np.float32) / 255.0
    rows, cols = np.flatnonzero(a.max(1) > 0.2), np.flatnonzero(a.max(0) > 0.2)
    if len(rows) == 0:
        return np.zeros((px, px), np.float32)
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def font_digit(label: int, rng: np.random.Generator) -> Picture:
    """The digit ``label`` in a bold font, dark on a photo of white paper."""
    fonts = bold_fonts()
    ink = text_ink(str(label), fonts[int(rng.integers(len(fonts)))], int(rng.integers(140, 220)))
    h, w = ink.shape
    ink = place(ink, (h + 160, w + 200), int(rng.integers(40, 120)), int(rng.integers(40, 160)))
    return png(on_paper(ink, rng, shade=0.1, noise=0.02))


DigitMaker = Callable[[np.ndarray, np.random.Generator], Picture]
FAMILIES: dict[str, DigitMaker] = {
    "photo": photo,
    "photo_exif": photo_exif,
    "thick": thick,
    "thin": thin,
    "corner": corner,
    "edge": edge,
    "slanted": slanted,
    "stray_dot": stray_dot,
    "ruled": ruled,
    "squared": squared,
    "low_contrast": low_contrast,
}
FONT_FAMILY = "bold_font"
ALL_FAMILIES = (*FAMILIES, FONT_FAMILY)


def make_family(
    name: str, digits: np.ndarray, labels: np.ndarray, seed: int = 0
) -> list[tuple[Picture, int]]:
    """``(picture, label)`` for every digit ``(N, 28, 28)`` uint8 of ``digits`` (for the font
    family only the labels are used: each one is rendered in a bold font)."""
    rng = np.random.default_rng([seed, ALL_FAMILIES.index(name)])
    if name == FONT_FAMILY:
        return [(font_digit(int(y), rng), int(y)) for y in labels]
    make = FAMILIES[name]
    return [(make(d, rng), int(y)) for d, y in zip(digits, labels, strict=True)]


# --- not digits -----------------------------------------------------------------------------


def letter(rng: np.random.Generator) -> Picture:
    """A letter that is no digit's shape, in a random font, dark on white paper."""
    fonts = plain_fonts()
    ch = NOT_DIGIT_LETTERS[int(rng.integers(len(NOT_DIGIT_LETTERS)))]
    ink = text_ink(ch, fonts[int(rng.integers(len(fonts)))], int(rng.integers(140, 220)),
                   shear=float(rng.uniform(-0.2, 0.2)))  # fmt: skip
    h, w = ink.shape
    ink = place(ink, (h + 160, w + 200), int(rng.integers(40, 120)), int(rng.integers(40, 160)))
    return png(on_paper(ink, rng, shade=0.1, noise=0.02))


def _smooth_path(rng: np.random.Generator, n: int, turn: float) -> np.ndarray:
    """``(n, 2)`` points of a random smooth walk inside the unit square."""
    heading = rng.uniform(0, 2 * np.pi)
    turns = np.cumsum(rng.normal(0, turn, n))
    step = np.stack([np.cos(heading + turns), np.sin(heading + turns)], 1)
    pts = np.cumsum(step, 0)
    pts -= pts.min(0)
    return pts / max(float(pts.max()), 1e-6)


def scribble(rng: np.random.Generator) -> Picture:
    """A tangled scribble: a long random pen walk that crosses itself many times."""
    pts = _smooth_path(rng, int(rng.integers(300, 700)), float(rng.uniform(0.15, 0.4)))
    im = Image.new("L", (280, 280), 0)
    xy = [(20 + 240 * x, 20 + 240 * y) for x, y in pts]
    ImageDraw.Draw(im).line(xy, fill=255, width=int(rng.integers(10, 24)), joint="curve")
    return canvas(np.asarray(im, np.float32) / 255.0, transparent=bool(rng.integers(2)))


def blob(rng: np.random.Generator) -> Picture:
    """A filled, irregular blot of ink (a spill, a coloured-in patch)."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.normal(0, 1, (96, 96)), 10)
    yy, xx = np.mgrid[-1:1:96j, -1:1:96j]
    r = float(rng.uniform(0.4, 0.8))
    mask = (field * 8 + 1 - (yy**2 + xx**2) / r**2) > 0
    ink = np.asarray(Image.fromarray(mask.astype(np.float32)).resize((240, 240), Image.BILINEAR))
    ink = place(ink, (360, 420), 60, 90)
    return jpeg(on_paper(ink, rng, shade=0.15))


def dot(rng: np.random.Generator) -> Picture:
    """One pen dot on a sheet of paper."""
    yy, xx = np.ogrid[:480, :640]
    y, x, r = int(rng.integers(100, 380)), int(rng.integers(100, 540)), int(rng.integers(6, 20))
    ink = ((yy - y) ** 2 + (xx - x) ** 2 <= r * r).astype(np.float32)
    return jpeg(on_paper(ink, rng, shade=0.1))


def smudge(rng: np.random.Generator) -> Picture:
    """An empty-looking sheet with a soft grey smudge (a rubbed-out mark, a thumbprint)."""
    from scipy import ndimage

    ink = np.zeros((480, 640), np.float32)
    y, x = int(rng.integers(120, 360)), int(rng.integers(150, 490))
    ink[y, x] = 1.0
    ink = ndimage.gaussian_filter(ink, float(rng.uniform(25, 50)))
    ink *= float(rng.uniform(0.35, 0.6)) / ink.max()
    return jpeg(on_paper(ink, rng, shade=0.1, noise=0.015))


NOT_DIGITS: dict[str, Callable[[np.random.Generator], Picture]] = {
    "letter": letter,
    "scribble": scribble,
    "blob": blob,
    "dot": dot,
    "smudge": smudge,
}


def make_not_digits(kind: str, n: int, seed: int = 0) -> list[Picture]:
    """``n`` seeded pictures of one not-a-digit kind (see :data:`NOT_DIGITS`)."""
    rng = np.random.default_rng([seed, 100 + list(NOT_DIGITS).index(kind)])
    return [NOT_DIGITS[kind](rng) for _ in range(n)]
