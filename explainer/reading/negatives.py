"""Training pictures for the "not a digit" detector (:mod:`explainer.nets.not_a_digit`, trained
by :mod:`explainer.reading.not_a_digit_train`), made offline by seeded generators, every one
already MNIST-style ``(28, 28)`` float32 in [0, 1] exactly as
:func:`explainer.reading.preprocess.preprocess` would hand it to a model (crop to the ink,
stroke width brought to MNIST's, fitted into the 20×20 box, centred by mass).

Negatives (outlier exposure, Hendrycks et al. 2019), :func:`negatives`:

- ``fashion``: Fashion-MNIST training items (given by the caller);
- ``strokes``: pen strokes: tangled scribbles, zigzags, waves, spirals with many turns, hash
  grids, polygons, stars, crosses with arms, arrows;
- ``glyphs``: glyph-like combinations of 3-6 random strokes (lines and arcs);
- ``blots``: filled blots, coloured-in patches, and noise;
- ``fonts``: letters that are no digit's shape and symbols (``# @ & % ? ! * + = < > $``),
  rendered with the machine's regular TrueType fonts (DejaVu, Liberation): never Debian's
  handwriting ``fonts-*`` packages, which the independent check keeps for itself.

Positives, :func:`positives`: MNIST training digits as they are, re-read by the
preprocessing, drawn with a thick brush (strokes grown, then normalised back as the app does),
as canvas strokes (binarised, with soft edges), slanted and squeezed, and digits typed in the
regular (not bold) fonts, so that "typed" alone never means "not a digit". Plain circles,
single straight strokes and ovals are never negatives: a drawn circle *is* a 0 and a straight
stroke a 1.

Even strokes, :func:`restyled_positives` and :func:`restyled_negatives`: the centre lines of
MNIST training digits traced again by a round pen of one width (a marker, a canvas brush, a
fine pen) and digits typed in a regular font made bold by growing their strokes; and, as
negatives, letters and symbols traced by the same pen, so that an even stroke alone never
means "a digit" either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from explainer.reading.geometry import (
    BOX,
    FIELD,
    box_stroke_width,
    fit_box,
    ink_bbox,
    normalise_stroke,
    paste_centred,
)
from explainer.reading.testsets import (
    NOT_DIGIT_LETTERS,
    big_ink,
    plain_fonts,
    restroke,
    text_ink,
    thin_line,
)

WORK = 112  # side (px) of the field every negative is drawn on
SYMBOLS = "#@&%?!*+=<>$"
FONT_CHARS = NOT_DIGIT_LETTERS + SYMBOLS
KINDS = ("strokes", "glyphs", "blots", "fonts")


def mnist_style(ink: np.ndarray) -> np.ndarray:
    """What the preprocessing makes of white-on-black ``ink`` ``(H, W)`` in [0, 1]: cropped,
    stroke normalised, fitted into the 20×20 box and centred by mass in ``(28, 28)`` float32.
    A field without ink gives zeros."""
    ink = np.clip(np.asarray(ink, np.float32), 0.0, 1.0)
    if not (ink > 0.05).any():
        return np.zeros((FIELD, FIELD), np.float32)
    t, left, b, r = ink_bbox(ink)
    crop = ink[t:b, left:r]
    crop = normalise_stroke(crop, box_stroke_width(crop))
    return paste_centred(fit_box(crop, BOX), FIELD)


def _draw(paths: list[np.ndarray], width: int, closed: bool = False) -> np.ndarray:
    """Polylines (points in the unit square) drawn with a round pen on a WORK×WORK field."""
    im = Image.new("L", (WORK, WORK), 0)
    d = ImageDraw.Draw(im)
    for p in paths:
        xy = [(8 + (WORK - 16) * x, 8 + (WORK - 16) * y) for x, y in p]
        if closed:
            xy.append(xy[0])
        d.line(xy, fill=255, width=width, joint="curve")
        for x, y in (xy[0], xy[-1]):
            d.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(im, np.float32) / 255.0


def _walk(rng: np.random.Generator, n: int, turn: float) -> np.ndarray:
    """``(n, 2)`` points of a random smooth walk, scaled into the unit square."""
    turns = np.cumsum(rng.normal(0, turn, n)) + rng.uniform(0, 2 * np.pi)
    pts = np.cumsum(np.stack([np.cos(turns), np.sin(turns)], 1), 0)
    pts -= pts.min(0)
    return pts / max(float(pts.max()), 1e-6)


def _polygon(rng: np.random.Generator, k: int, star: bool) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, 2 * k if star else k, endpoint=False) + rng.uniform(0, 6.3)
    r = np.where(np.arange(len(a)) % 2, rng.uniform(0.3, 0.5), 1.0) if star else np.ones(len(a))
    r = r * rng.uniform(0.85, 1.15, len(a))
    pts = np.stack([np.cos(a) * r, np.sin(a) * r * rng.uniform(0.6, 1.4)], 1)
    return np.vstack([pts, pts[:1]]) * 0.5 + 0.5


def _stroke_shape(rng: np.random.Generator) -> list[np.ndarray]:
    """One stroke drawing that is no digit's shape."""
    kind = int(rng.integers(8))
    t = np.linspace(0, 1, 120)
    if kind == 0:  # tangled scribble
        return [_walk(rng, int(rng.integers(150, 500)), float(rng.uniform(0.2, 0.5)))]
    if kind == 1:  # zigzag or wave across
        f = rng.uniform(2.5, 6)
        y = np.abs((t * f) % 1 - 0.5) * 2 if rng.integers(2) else 0.5 + 0.5 * np.sin(t * f * 6.3)
        return [np.stack([t, 0.3 + 0.4 * y], 1)]
    if kind == 2:  # spiral with 2-4 turns
        a = t * 2 * np.pi * rng.uniform(2, 4)
        return [np.stack([0.5 + 0.5 * t * np.cos(a), 0.5 + 0.5 * t * np.sin(a)], 1)]
    if kind == 3:  # hash grid: 2-4 lines each way
        m = int(rng.integers(2, 5))
        pos = np.linspace(0.15, 0.85, m)
        v = [np.array([[p + rng.normal(0, 0.03), 0], [p + rng.normal(0, 0.03), 1]]) for p in pos]
        h = [np.array([[0, p + rng.normal(0, 0.03)], [1, p + rng.normal(0, 0.03)]]) for p in pos]
        return v + h
    if kind in (4, 5):  # polygon (3-6 corners) or star
        return [_polygon(rng, int(rng.integers(3, 7)), star=kind == 5)]
    if kind == 6:  # asterisk: 3-4 crossing strokes
        a = rng.uniform(0, np.pi) + np.arange(int(rng.integers(3, 5))) * np.pi / 4
        return [np.array([[0.5 - 0.5 * np.cos(b), 0.5 - 0.5 * np.sin(b)],
                          [0.5 + 0.5 * np.cos(b), 0.5 + 0.5 * np.sin(b)]]) for b in a]  # fmt: skip
    # arrow: a shaft and a head
    head = rng.uniform(0.2, 0.35)
    return [np.array([[0, 0.5], [1, 0.5]]), np.array([[1 - head, 0.5 - head], [1, 0.5],
                                                      [1 - head, 0.5 + head]])]  # fmt: skip


def _glyph(rng: np.random.Generator) -> list[np.ndarray]:
    """3-6 random strokes, lines and arcs, crossing each other: glyph-like, not a digit."""
    out = []
    for _ in range(int(rng.integers(3, 7))):
        if rng.integers(2):
            out.append(rng.uniform(0, 1, (2, 2)))
        else:
            c, r = rng.uniform(0.2, 0.8, 2), rng.uniform(0.15, 0.45)
            a = rng.uniform(0, 2 * np.pi) + np.linspace(0, rng.uniform(1, 4), 40)
            out.append(np.clip(c + r * np.stack([np.cos(a), np.sin(a)], 1), 0, 1))
    return out


def _blot(rng: np.random.Generator) -> np.ndarray:
    """A filled blot, a coloured-in patch, or noise, on a WORK×WORK field."""
    from scipy import ndimage

    kind = int(rng.integers(3))
    if kind == 2:
        sigma = float(rng.uniform(0.5, 3))
        noise = ndimage.gaussian_filter(rng.uniform(0, 1, (WORK, WORK)), sigma)
        return ((noise - noise.mean()) / (noise.std() + 1e-6) > rng.uniform(0, 1)).astype(
            np.float32
        )
    field = ndimage.gaussian_filter(rng.normal(0, 1, (WORK, WORK)), rng.uniform(4, 12))
    yy, xx = np.mgrid[-1 : 1 : WORK * 1j, -1 : 1 : WORK * 1j]
    r = rng.uniform(0.3, 0.9, 2)
    mask = field * 8 + 1 - (yy / r[0]) ** 2 - (xx / r[1]) ** 2 > 0
    if kind == 1:  # coloured in with back-and-forth strokes: holes in the fill
        mask &= np.sin(yy * rng.uniform(20, 40) + xx * rng.uniform(-9, 9)) > -0.6
    return mask.astype(np.float32)


def _font_char(rng: np.random.Generator, fonts: tuple[str, ...]) -> np.ndarray:
    ch = FONT_CHARS[int(rng.integers(len(FONT_CHARS)))]
    return text_ink(ch, fonts[int(rng.integers(len(fonts)))], int(rng.integers(60, 110)),
                    shear=float(rng.uniform(-0.25, 0.25)))  # fmt: skip


def negative(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One MNIST-style negative ``(28, 28)`` of ``kind`` (one of :data:`KINDS`)."""
    width = int(rng.integers(3, 14))
    if kind == "strokes":
        ink = _draw(_stroke_shape(rng), width)
    elif kind == "glyphs":
        ink = _draw(_glyph(rng), width)
    elif kind == "blots":
        ink = _blot(rng)
    elif kind == "fonts":
        ink = _font_char(rng, plain_fonts() or _no_fonts())
    else:
        raise ValueError(f"no negative kind {kind!r}; choose from {KINDS}")
    return mnist_style(ink)


def _no_fonts() -> tuple[str, ...]:
    raise RuntimeError("no TrueType fonts found: install fonts-dejavu-core to render letters")


def negatives(n: int, fashion: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """``n`` negatives ``(n, 28, 28)`` float32: an equal share of each kind of :data:`KINDS`,
    plus (when ``fashion``, ``(M, 28, 28)`` uint8, is given) a fifth of Fashion-MNIST items
    re-read by the preprocessing."""
    rng = np.random.default_rng([seed, 7])
    kinds: list[Callable[[], np.ndarray]] = [lambda k=k: negative(k, rng) for k in KINDS]
    if fashion is not None and len(fashion):
        kinds.append(lambda: mnist_style(fashion[int(rng.integers(len(fashion)))] / 255.0))
    return np.stack([kinds[i % len(kinds)]() for i in range(n)]).astype(np.float32)


POSITIVE_KINDS = ("reread", "thick", "canvas", "slanted", "font")
POSITIVE_SHARES = (0.4, 0.15, 0.15, 0.2, 0.1)
RESTYLED_KINDS = ("pen", "bold", "thin")  # even strokes: markers, bold type, fine pens
RESTYLED_SHARES = (0.6, 0.25, 0.15)


def _slanted(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``ink`` sheared, turned and squeezed as another hand would write it."""
    a = np.radians(rng.uniform(-15, 15))
    sx, shear = rng.uniform(0.7, 1.3), rng.uniform(-0.35, 0.35)
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array(
        [[sx, shear], [0, 1]]
    )
    inv = np.linalg.inv(m)
    c = np.array(ink.shape[::-1]) / 2
    off = c - inv @ c
    im = Image.fromarray(ink.astype(np.float32), mode="F")
    out = im.transform(im.size, Image.AFFINE, (*inv[0], off[0], *inv[1], off[1]), Image.BILINEAR)
    return np.asarray(out, np.float32)


def regular_fonts() -> tuple[str, ...]:
    """The regular (not bold) fonts of :func:`~explainer.reading.testsets.plain_fonts`: the
    bold ones stay unseen, for the bold-font family of the bench."""
    return tuple(f for f in plain_fonts() if "Bold" not in f)


def _typed_digit(rng: np.random.Generator, smallest: int) -> np.ndarray:
    """A random digit typed in a random regular font, ``smallest`` to 109 px, sheared by up to
    a quarter: its ink (:func:`~explainer.reading.testsets.text_ink`)."""
    fonts = regular_fonts() or _no_fonts()
    return text_ink(str(int(rng.integers(10))), fonts[int(rng.integers(len(fonts)))],
                    int(rng.integers(smallest, 110)), float(rng.uniform(-0.25, 0.25)))  # fmt: skip


def positive(digit: np.ndarray, rng: np.random.Generator, kind: str = "") -> np.ndarray:
    """One MNIST training digit ``(28, 28)`` uint8 drawn another way (``(28, 28)`` float32):
    re-read by the preprocessing, with a thick brush, as binarised canvas strokes, slanted and
    squeezed, or (``font``) a random digit typed in a regular font. ``kind`` is drawn with
    :data:`POSITIVE_SHARES` when not given."""
    kind = kind or str(rng.choice(POSITIVE_KINDS, p=POSITIVE_SHARES))
    if kind in RESTYLED_KINDS:
        return restyled(digit, rng, kind)
    if kind == "reread":
        return mnist_style(digit / 255.0)
    if kind == "font":
        return mnist_style(_typed_digit(rng, 60))
    ink = big_ink(digit, WORK)
    if kind == "thick":
        return mnist_style(restroke(ink, int(rng.integers(3, 12))))
    if kind == "slanted":
        return mnist_style(_slanted(ink, rng))
    from scipy import ndimage

    return mnist_style(ndimage.gaussian_filter((ink > 0.5).astype(np.float32), 1.0))


def positives(digits: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``digits`` ``(M, 28, 28)`` uint8 as floats, plus ``n`` of them drawn another way
    (:func:`positive`): ``(M + n, 28, 28)`` float32."""
    rng = np.random.default_rng([seed, 11])
    picks = rng.integers(len(digits), size=n)
    extra = [positive(digits[i], rng) for i in picks]
    base = np.asarray(digits, np.float32) / 255.0
    return np.concatenate([base, np.stack(extra)]) if n else base


def restyled(digit: np.ndarray, rng: np.random.Generator, kind: str = "") -> np.ndarray:
    """One MNIST training digit ``(28, 28)`` uint8 re-drawn with strokes of one even width
    (``(28, 28)`` float32): ``pen``, its centre line traced by a round pen or marker 5-19 px
    wide in a 112-px digit (slanted half the time), as a canvas brush or a felt pen draws;
    ``thin``, the same line 3 px wide (a fine pen); ``bold``, a random digit typed in a regular
    font with its strokes grown 2-6 px (a bold weight, made without the bold fonts the bench
    keeps unseen). ``kind`` is drawn with :data:`RESTYLED_SHARES` when not given."""
    kind = kind or str(rng.choice(RESTYLED_KINDS, p=RESTYLED_SHARES))
    if kind == "bold":
        ink = _typed_digit(rng, 70)
        return mnist_style(restroke(np.pad(ink, 8), int(rng.integers(2, 7))))
    ink = big_ink(digit, WORK)
    if kind == "pen" and rng.integers(2):
        ink = _slanted(ink, rng)
    radius = int(rng.integers(2, 10)) if kind == "pen" else 1
    return mnist_style(thin_line(ink, radius))


def restyled_positives(digits: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` of ``digits`` ``(M, 28, 28)`` uint8 re-drawn with even strokes (:func:`restyled`):
    ``(n, 28, 28)`` float32."""
    rng = np.random.default_rng([seed, 13])
    picks = rng.integers(len(digits), size=n)
    return np.stack([restyled(digits[i], rng) for i in picks]).astype(np.float32)


def restyled_negative(rng: np.random.Generator, kind: str = "fonts") -> np.ndarray:
    """A letter or symbol of :data:`FONT_CHARS` typed in a regular font (``fonts``), or a pen
    drawing of ``strokes`` or ``glyphs``, its centre line traced by an even pen as
    :func:`restyled` traces digits (5-19 px wide in a ~100-px drawing, slanted half the time):
    ``(28, 28)`` float32. The same pen on both sides, so that an even stroke alone never means
    "a digit"."""
    if kind == "fonts":
        ink = np.pad(_font_char(rng, regular_fonts() or _no_fonts()), 12)
    else:
        ink = _draw(_stroke_shape(rng) if kind == "strokes" else _glyph(rng), 3)
    if rng.integers(2):
        ink = _slanted(ink, rng)
    return mnist_style(thin_line(ink, int(rng.integers(2, 10))))


def restyled_negatives(n: int, seed: int = 0) -> np.ndarray:
    """``n`` negatives drawn with an even pen (:func:`restyled_negative`): half letters and
    symbols, then half strokes and glyphs (one each in turn), ``(n, 28, 28)`` float32."""
    letters = np.random.default_rng([seed, 17])
    shapes = np.random.default_rng([seed, 19])
    out = [restyled_negative(letters) for _ in range(n // 2)]
    out += [restyled_negative(shapes, ("strokes", "glyphs")[i % 2]) for i in range(n - n // 2)]
    return np.stack(out).astype(np.float32)
