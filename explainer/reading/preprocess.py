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
   markers and brushes thinned; see :func:`~explainer.reading.geometry.normalise_stroke`);
6. ``scaled``: the longest side scaled to 20 px, keeping the aspect ratio;
7. ``centred``: pasted into 28×28 with the centre of mass at the centre: what the model sees.

Each step after the first can be switched off (``preprocess(picture, off={"stroke"})``) to
see what it does; :func:`plain_resize` is the naive baseline (the whole picture in 28×28).

This module runs the recipe; the steps live by idea in :mod:`~explainer.reading.images`
(reading, step 1), :mod:`~explainer.reading.cleaning` (the background, steps 2-3) and
:mod:`~explainer.reading.geometry` (crop, stroke width, fit and centre, steps 4-7).

Bad input raises an :class:`~explainer.errors.ExplainerError` subclass with a one-line message:
:class:`UnreadableImageError`, :class:`ImageTooLargeError` (checked from the header, before the
pixels are decoded) and :class:`NoInkError` (blank paper, an empty canvas).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from explainer.reading.cleaning import MIN_CONTRAST, background_is_light, clean_background
from explainer.reading.geometry import (
    BOX,
    FIELD,
    box_stroke_width,
    fit_box,
    ink_bbox,
    normalise_stroke,
    paste_centred,
)
from explainer.reading.images import (
    ImageLike,
    ImageTooLargeError,
    PreprocessError,
    UnreadableImageError,
    describe_source,
    to_gray,
)

__all__ = [
    "STEP_NAMES",
    "STEP_TITLES",
    "SWITCHABLE",
    "ImageTooLargeError",
    "NoInkError",
    "PreprocessError",
    "Preprocessed",
    "UnreadableImageError",
    "plain_resize",
    "preprocess",
]


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


def preprocess(source: ImageLike, off: Collection[str] = ()) -> Preprocessed:
    """Turn a picture of one digit into an MNIST-style ``(28, 28)`` float32 image in [0, 1].

    ``source``: a path, bytes, a PIL image, or an array ``(H, W)`` / ``(H, W, 3)`` /
    ``(H, W, 4)`` (the drawing canvas: white strokes on a transparent or black background).
    ``off``: steps to skip, for the lesson "why preprocessing matters" (names from
    :data:`SWITCHABLE`; a skipped step still appears, showing its input unchanged).
    Raises :class:`NoInkError` when nothing stands out from the background.

    Example:

    >>> import numpy as np
    >>> from explainer import load_sample, preprocess
    >>> digit = load_sample().images[3].numpy()                  # (28, 28) uint8, white on black
    >>> photo = 255 - np.kron(digit, np.ones((8, 8), np.uint8))  # 224×224, dark ink on white
    >>> result = preprocess(photo)
    >>> result.image.shape, result.image.dtype, result.inverted
    ((28, 28), dtype('float32'), True)
    """
    name = describe_source(source) if not isinstance(source, bytes) else "uploaded bytes"
    unknown = set(off) - set(SWITCHABLE)
    if unknown:
        raise PreprocessError(f"no step {sorted(unknown)} to switch off; choose from {SWITCHABLE}")
    gray = to_gray(source)
    steps: list[tuple[str, np.ndarray]] = [("original", gray)]
    if float(gray.max() - gray.min()) < 2 * MIN_CONTRAST:
        raise NoInkError(f"{name}: no ink found (the picture is blank); draw or photograph a digit")
    inverted = background_is_light(gray) and "inverted" not in off
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


def plain_resize(source: ImageLike) -> np.ndarray:
    """The naive baseline: the whole picture in grey, inverted when its background is light,
    squeezed to 28×28 (no cleaning, cropping, stroke width or centring). ``(28, 28)`` float32."""
    gray = to_gray(source)
    ink = 1.0 - gray if background_is_light(gray) else gray
    im = Image.fromarray(ink.astype(np.float32), mode="F").resize((FIELD, FIELD), Image.BOX)
    return np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
