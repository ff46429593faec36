"""A held-out check of the "not a digit" flag, made with generators the detector never saw.

The detector (:mod:`explainer.nets.not_a_digit`) was trained on font letters, random pen
strokes, blots and Fashion-MNIST (:mod:`explainer.reading.negatives`). This module draws other
things, from hand-made stroke skeletons with a wobbling hand, the two ways a learner brings
them, and sends every picture through the real preprocessing:

- ``canvas``: a thick brush on the app's 280×280 canvas (RGBA or black background);
- ``paper``: a pen on a sheet of paper, photographed (shading, tint, noise, JPEG).

Kinds: :data:`LETTERS` (capital and small letters drawn as strokes, not typed), :data:`DOODLES`
(smiley, house, heart, sun, star, cloud, fish, flower, spiral, cat, lightning, tree) and, for the
false alarms, :data:`DIGITS` drawn from the same kind of skeletons: a handwriting style that is
not MNIST's (no Debian handwriting font can be installed offline here, see the README).

>>> pics = make_heldout("letters", "canvas", 5, seed=0)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from explainer.reading.testsets import canvas, jpeg, on_paper

Path = np.ndarray  # (n, 2) points in the unit square, y down


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 40) -> Path:
    """Points of an elliptic arc from angle ``a0`` to ``a1`` (degrees, 0 = right, 90 = down)."""
    a = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)


def _p(*xy: float) -> Path:
    return np.array(xy, float).reshape(-1, 2)


# fmt: off
LETTERS: dict[str, list[Path]] = {
    "A": [_p(0, 1, 0.5, 0, 1, 1), _p(0.25, 0.6, 0.75, 0.6)],
    "E": [_p(1, 0, 0, 0, 0, 1, 1, 1), _p(0, 0.5, 0.7, 0.5)],
    "F": [_p(1, 0, 0, 0, 0, 1), _p(0, 0.5, 0.7, 0.5)],
    "H": [_p(0, 0, 0, 1), _p(1, 0, 1, 1), _p(0, 0.5, 1, 0.5)],
    "K": [_p(0, 0, 0, 1), _p(0.9, 0, 0, 0.55, 1, 1)],
    "M": [_p(0, 1, 0.05, 0, 0.5, 0.65, 0.95, 0, 1, 1)],
    "N": [_p(0, 1, 0, 0, 1, 1, 1, 0)],
    "W": [_p(0, 0, 0.25, 1, 0.5, 0.35, 0.75, 1, 1, 0)],
    "X": [_p(0, 0, 1, 1), _p(1, 0, 0, 1)],
    "Y": [_p(0, 0, 0.5, 0.5, 1, 0), _p(0.5, 0.5, 0.5, 1)],
    "R": [np.vstack([_p(0, 1, 0, 0), _arc(0.35, 0.25, 0.5, 0.25, -90, 90), _p(0, 0.5)]),
          _p(0.3, 0.5, 1, 1)],
    "h": [_p(0, 0, 0, 1), np.vstack([_arc(0.5, 0.6, 0.5, 0.3, 180, 360), _p(1, 1)])],
    "k": [_p(0, 0, 0, 1), _p(0.8, 0.35, 0, 0.7, 0.9, 1)],
    "m": [_p(0, 0.3, 0, 1), np.vstack([_arc(0.25, 0.5, 0.25, 0.2, 180, 360), _p(0.5, 1)]),
          np.vstack([_arc(0.75, 0.5, 0.25, 0.2, 180, 360), _p(1, 1)])],
    "w": [_p(0, 0.2, 0.25, 1, 0.5, 0.4, 0.75, 1, 1, 0.2)],
    "x": [_p(0.1, 0.1, 0.9, 0.9), _p(0.9, 0.1, 0.1, 0.9)],
}
# fmt: on


def _heart() -> Path:
    t = np.linspace(0, 2 * np.pi, 80)
    x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t)
    return np.stack([0.5 + x / 34, 0.45 - y / 34], 1)


def _star() -> Path:
    a = np.radians(-90 + 144 * np.arange(6))
    return np.stack([0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)], 1)


def _cloud() -> Path:
    t = np.linspace(0, 2 * np.pi, 120)
    r = 0.38 + 0.08 * np.abs(np.sin(3.5 * t))
    return np.stack([0.5 + r * np.cos(t) * 1.25, 0.5 + r * np.sin(t) * 0.8], 1)


def _flower() -> list[Path]:
    centres = np.linspace(0, 2 * np.pi, 6)[:5]
    petals = [_arc(0.5 + 0.22 * np.cos(a), 0.35 + 0.22 * np.sin(a), 0.14, 0.14, 0, 360, 24)
              for a in centres]  # fmt: skip
    return [*petals, _p(0.5, 0.6, 0.5, 1), _p(0.5, 0.85, 0.7, 0.7)]


def _spiral() -> Path:
    t = np.linspace(0, 1, 150)
    a = t * 2 * np.pi * 2.5
    return np.stack([0.5 + 0.5 * t * np.cos(a), 0.5 + 0.5 * t * np.sin(a)], 1)


# fmt: off
DOODLES: dict[str, list[Path]] = {
    "smiley": [_arc(0.5, 0.5, 0.5, 0.5, 0, 360, 60), _arc(0.33, 0.38, 0.05, 0.05, 0, 360, 10),
               _arc(0.67, 0.38, 0.05, 0.05, 0, 360, 10), _arc(0.5, 0.55, 0.25, 0.2, 20, 160)],
    "house": [_p(0.1, 0.45, 0.1, 1, 0.9, 1, 0.9, 0.45, 0.1, 0.45), _p(0, 0.5, 0.5, 0, 1, 0.5),
              _p(0.4, 1, 0.4, 0.7, 0.6, 0.7, 0.6, 1)],
    "heart": [_heart()],
    "sun": [_arc(0.5, 0.5, 0.2, 0.2, 0, 360, 40)]
    + [_p(0.5 + 0.28 * np.cos(a), 0.5 + 0.28 * np.sin(a), 0.5 + 0.5 * np.cos(a),
          0.5 + 0.5 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 9)[:8]],
    "star": [_star()],
    "cloud": [_cloud()],
    "fish": [_arc(0.45, 0.5, 0.35, 0.22, 0, 360, 50), _p(0.78, 0.5, 1, 0.3, 1, 0.7, 0.78, 0.5),
             _arc(0.25, 0.45, 0.03, 0.03, 0, 360, 8)],
    "flower": _flower(),
    "spiral": [_spiral()],
    "cat": [_arc(0.5, 0.6, 0.4, 0.38, 0, 360, 50), _p(0.15, 0.4, 0.2, 0, 0.4, 0.25),
            _p(0.6, 0.25, 0.8, 0, 0.85, 0.4), _p(0.2, 0.7, 0, 0.65), _p(0.8, 0.7, 1, 0.65)],
    "lightning": [_p(0.65, 0, 0.2, 0.55, 0.55, 0.5, 0.3, 1, 0.9, 0.35, 0.55, 0.42, 0.8, 0)],
    "tree": [_p(0.42, 1, 0.42, 0.6), _p(0.58, 1, 0.58, 0.6), _arc(0.5, 0.35, 0.35, 0.32, 0, 360)],
}

DIGITS: dict[int, list[Path]] = {
    0: [_arc(0.5, 0.5, 0.35, 0.5, -80, 285, 60)],
    1: [_p(0.3, 0.25, 0.55, 0, 0.55, 1)],
    2: [np.vstack([_arc(0.5, 0.3, 0.4, 0.3, 190, 380), _p(0.05, 1, 1, 1)])],
    3: [np.vstack([_arc(0.45, 0.26, 0.4, 0.26, 200, 450), _arc(0.45, 0.74, 0.45, 0.26, 270, 520)])],
    4: [_p(0.7, 1, 0.7, 0, 0, 0.65, 1, 0.65)],
    5: [np.vstack([_p(0.9, 0, 0.2, 0, 0.15, 0.45), _arc(0.45, 0.68, 0.42, 0.32, 230, 510)])],
    6: [np.vstack([_arc(0.9, 0.65, 0.75, 0.65, 250, 180, 20),
                   _arc(0.5, 0.7, 0.35, 0.3, 180, 540)])],
    7: [_p(0, 0, 1, 0, 0.4, 1)],
    8: [np.vstack([_arc(0.5, 0.25, 0.3, 0.25, 90, 450), _arc(0.5, 0.72, 0.38, 0.28, 270, -90)])],
    9: [np.vstack([_arc(0.5, 0.3, 0.38, 0.3, 0, 360), _p(0.88, 0.3, 0.8, 1)])],
}
# fmt: on
KINDS: dict[str, dict] = {"letters": LETTERS, "doodles": DOODLES, "digits": DIGITS}
STYLES = ("canvas", "paper")


def wobble(paths: list[Path], rng: np.random.Generator) -> list[Path]:
    """A hand's version of the skeleton: a random shear, rotation and aspect for the whole
    drawing and a smooth wobble along each stroke, into the unit square again."""
    a = np.radians(rng.uniform(-12, 12))
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = m @ np.array([[rng.uniform(0.75, 1.25), rng.uniform(-0.25, 0.25)], [0, 1]])
    out = []
    for p in paths:
        dense = _resample(p, max(8, 3 * len(p)))
        drift = np.cumsum(rng.normal(0, 0.012, dense.shape), 0)
        drift -= np.linspace(0, 1, len(dense))[:, None] * drift[-1]  # ends stay near
        out.append((dense - 0.5) @ m.T + drift)
    lo = np.min([p.min(0) for p in out], 0)
    span = float(np.max([p.max(0) for p in out]) - lo.min()) or 1.0
    return [(p - lo) / span for p in out]


def _resample(p: Path, n: int) -> Path:
    seg = np.r_[0, np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))]
    t = np.linspace(0, seg[-1], n)
    return np.stack([np.interp(t, seg, p[:, 0]), np.interp(t, seg, p[:, 1])], 1)


def draw(paths: list[Path], size: tuple[int, int], box: tuple[int, int, int, int],
         width: int) -> np.ndarray:  # fmt: skip
    """Strokes drawn into ``box`` (top, left, height, width) of a black field ``size``
    ``(H, W)`` with a round pen ``width`` px wide: white ink ``(H, W)`` float32 in [0, 1]."""
    im = Image.new("L", (size[1], size[0]), 0)
    d = ImageDraw.Draw(im)
    top, left, h, w = box
    for p in paths:
        xy = [(left + w * x, top + h * y) for x, y in p]
        d.line(xy, fill=255, width=width, joint="curve")
        for x, y in (xy[0], xy[-1]):
            d.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(im, np.float32) / 255.0


def picture(paths: list[Path], style: str, rng: np.random.Generator) -> np.ndarray | bytes:
    """A canvas array (RGBA / RGB) or a paper photo's JPEG bytes of a wobbled drawing."""
    strokes = wobble(paths, rng)
    if style == "canvas":
        side = int(rng.integers(150, 230))
        top, left = (int(v) for v in rng.integers(20, 260 - side, 2))
        ink = draw(strokes, (280, 280), (top, left, side, side), int(rng.integers(14, 34)))
        return canvas(ink, transparent=bool(rng.integers(2)))
    side = int(rng.integers(160, 300))
    top, left = int(rng.integers(30, 450 - side)), int(rng.integers(30, 610 - side))
    ink = draw(strokes, (480, 640), (top, left, side, side), int(rng.integers(5, 16)))
    return jpeg(on_paper(ink, rng, shade=float(rng.uniform(0.05, 0.3))))


def make_heldout(
    kind: str, style: str, n: int, seed: int = 0
) -> list[tuple[np.ndarray | bytes, str]]:
    """``n`` seeded ``(picture, name)`` pairs of ``kind`` (letters, doodles, digits) in
    ``style`` (canvas, paper), cycling through the kind's shapes."""
    shapes: dict = KINDS[kind]
    rng = np.random.default_rng([seed, list(KINDS).index(kind), STYLES.index(style)])
    names = [str(k) for k in shapes]
    keys = list(shapes)
    return [(picture(shapes[keys[i % len(keys)]], style, rng), names[i % len(keys)])
            for i in range(n)]  # fmt: skip
