"""Reusable Manim mobjects built from numpy arrays: labels, feature maps, kernels, colour bars
(the vectors, neurons and probability bars: :mod:`explainer.scenes.vectors`).

Every picture of values goes through :mod:`explainer.style` (``layer_scale`` + ``colorize``), so a
feature map looks the same in a Manim video, a GIF and the app. A feature map is ONE
``ImageMobject`` (nearest-neighbour resampling), never a grid of squares. Each class offers
``make_*_animation(...)`` methods that *return* an Animation (to compose with ``Succession``
or ``AnimationGroup``); none of them plays anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RESAMPLING_ALGORITHMS,
    RIGHT,
    UP,
    Animation,
    AnimationGroup,
    FadeIn,
    Group,
    ImageMobject,
    LaggedStart,
    Rectangle,
    Square,
    Transform,
    VGroup,
)

from explainer.analysis.arith import MINUS, fmt
from explainer.style import (
    HIGHLIGHT_COLOR,
    THEMES,
    Scale,
    colorize,
    hex_to_rgb,
    layer_scale,
    scale_for,
)
from explainer.text import clip_text

THEME = THEMES["dark"]
FONT_SIZE = 22
SMALL_FONT_SIZE = 16
MAX_LABEL_CHARS = 160  # longer texts (a name from a file) are cut there, an ellipsis ends them


FONT_FILE = "DejaVuSans.ttf"
MIN_PIXELS_PER_UNIT = 90  # text is rasterised at least this sharp (and twice the output's)


class Label(ImageMobject):
    """One line of text, rasterised once with Pillow (DejaVu Sans) into an image.

    Manim's ``Text`` is a vector glyph per character: building one takes ~0.2 s and every
    animation copies all its curves, which made the scenes render slower than real time. A
    raster label is built in a millisecond, copies for free, and at twice the output
    resolution looks the same. ``size`` is a font size in points, as for ``Text``.
    """

    def __init__(self, text: str, size: float = FONT_SIZE, color: str | None = None) -> None:
        from manim import config

        text = clip_text(text, MAX_LABEL_CHARS)  # names from files: one line, bounded
        self.text = text
        self.size = size
        self.text_color = color or THEME.foreground
        ppu = max(MIN_PIXELS_PER_UNIT, 2 * config.pixel_height / config.frame_height)
        em = size / 72  # scene units per em: font size 72 is one unit
        px = max(8, round(em * ppu))
        super().__init__(_text_pixels(text, px, self.text_color))
        self.set_resampling_algorithm(RESAMPLING_ALGORITHMS["bilinear"])
        self.height = self.pixel_array.shape[0] / px * em

    def recolored(self, color: str) -> Label:
        """The same text in another colour, at the same place."""
        return Label(self.text, self.size, color).scale_to_fit_height(self.height).move_to(self)


@lru_cache(maxsize=1024)
def _text_pixels(text: str, px: int, color: str) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype(FONT_FILE, px)
    except OSError:  # no DejaVu: Pillow's own scalable font
        font = ImageFont.load_default(px)
    ascent, descent = font.getmetrics()
    pad = max(2, px // 8)
    width = int(np.ceil(font.getlength(text))) + 2 * pad
    img = Image.new("RGBA", (max(width, 1), ascent + descent + 2 * pad), (*hex_to_rgb(color), 0))
    ImageDraw.Draw(img).text((pad, pad), text, font=font, fill=(*hex_to_rgb(color), 255))
    return np.asarray(img)


def label(text: str, size: float = FONT_SIZE, color: str | None = None) -> Label:
    """A caption-style :class:`Label` in the theme's foreground colour."""
    return Label(text, size, color)


def pixel_image(pixels: np.ndarray, height: float) -> ImageMobject:
    """``(H, W, 3)`` uint8 RGB as an ``ImageMobject`` of ``height`` scene units, drawn with
    nearest-neighbour resampling so every value stays a crisp square."""
    rgba = np.concatenate([pixels, np.full((*pixels.shape[:2], 1), 255, np.uint8)], axis=-1)
    img = ImageMobject(rgba)
    img.set_resampling_algorithm(RESAMPLING_ALGORITHMS["nearest"])
    img.height = height
    return img


class FeatureMap(Group):
    """One ``(H, W)`` array as a coloured image with a thin frame.

    ``scale`` fixes the colours (default :func:`explainer.style.layer_scale` of ``values`` and
    ``kind``, as the GIFs colour a layer: a record of any kind holding a value below zero, e.g.
    a normalised input, gets the diverging map with 0 at its centre); ``height`` is the height
    in scene units; the width follows the aspect ratio unless ``width`` is given.
    """

    def __init__(
        self,
        values: np.ndarray,
        scale: Scale | None = None,
        *,
        kind: str = "auto",
        height: float = 1.0,
        width: float | None = None,
        frame_color: str | None = None,
        frame_width: float = 1.5,
    ) -> None:
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"FeatureMap needs an (H, W) array, got shape {values.shape}")
        self.values = values
        self.value_scale = scale or layer_scale(values, kind)
        self.pixels = colorize(values, self.value_scale)
        self.image = pixel_image(self.pixels, height)
        if width is not None:
            self.image.stretch_to_fit_width(width)
        self.frame = Rectangle(
            width=self.image.width,
            height=self.image.height,
            stroke_color=frame_color or THEME.muted,
            stroke_width=frame_width,
        ).move_to(self.image)
        super().__init__(self.image, self.frame)

    @property
    def rows(self) -> int:
        return self.values.shape[0]

    @property
    def cols(self) -> int:
        return self.values.shape[1]

    @property
    def cell_size(self) -> float:
        """Height of one value's cell, in scene units."""
        return self.image.height / self.rows

    def pixel_center(self, row: int, col: int) -> np.ndarray:
        """Scene point at the centre of value ``(row, col)`` (row 0 at the top)."""
        top_left = self.image.get_corner(UP + LEFT)
        w = self.image.width / self.cols
        return top_left + RIGHT * (col + 0.5) * w + DOWN * (row + 0.5) * self.cell_size

    def make_highlight(
        self, row: int, col: int, size: int | tuple[int, int] = 1, color: str = HIGHLIGHT_COLOR
    ) -> Rectangle:
        """A frame around the ``size`` × ``size`` patch whose top-left value is ``(row, col)``;
        rows/cols may lie outside the map (zero padding)."""
        h, w = (size, size) if isinstance(size, int) else size
        s = self.cell_size
        rect = Rectangle(width=w * s, height=h * s, stroke_color=color, stroke_width=3)
        centre = self.pixel_center(row, col) + RIGHT * (w - 1) * s / 2 + DOWN * (h - 1) * s / 2
        return rect.move_to(centre)

    def make_reveal_animation(self, run_time: float = 1.0) -> Animation:
        """Fade the map in."""
        return FadeIn(self, run_time=run_time)

    def make_fill_animation(
        self, run_time: float = 2.0, background: str | None = None
    ) -> Animation:
        """Fill the image in reading order (row by row, left to right), the way a kernel
        sliding over the input produces it. Starts from a blank (background) map."""
        return _FillIn(self, background or THEME.background, run_time=run_time)


class _FillIn(Animation):
    """Reveal a :class:`FeatureMap`'s pixels in reading order."""

    def __init__(self, fmap: FeatureMap, background: str, **kwargs) -> None:
        self.fmap = fmap
        self.full = fmap.image.pixel_array.copy()
        rgb = np.array([int(background.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)], np.uint8)
        self.blank = self.full.copy()
        self.blank[..., :3] = rgb
        super().__init__(fmap, **kwargs)

    def begin(self) -> None:
        self.fmap.image.pixel_array = self.blank.copy()
        super().begin()

    def interpolate_mobject(self, alpha: float) -> None:
        rows, cols = self.fmap.rows, self.fmap.cols
        shown = round(alpha * rows * cols)
        arr = self.blank.copy()
        r, c = divmod(shown, cols)
        ph, pw = self.full.shape[0] // rows, self.full.shape[1] // cols  # source pixels per value
        arr[: r * ph] = self.full[: r * ph]
        arr[r * ph : (r + 1) * ph, : c * pw] = self.full[r * ph : (r + 1) * ph, : c * pw]
        self.fmap.image.pixel_array = arr


class FeatureMapStack(Group):
    """Several channels of one ``(C, H, W)`` layer output, one :class:`FeatureMap` each, all on
    ONE colour scale (the layer's), laid out as a grid (``rows`` high) or a ``"cascade"``.

    ``channels`` picks which channels to draw (default: the ``max_maps`` most active, by mean
    absolute value). ``title`` and the shape text are written underneath.
    """

    def __init__(
        self,
        values: np.ndarray,
        *,
        kind: str = "auto",
        channels: Sequence[int] | None = None,
        max_maps: int = 8,
        rows: int = 4,
        map_height: float = 0.8,
        gap: float = 0.08,
        layout: str = "grid",
        title: str | None = None,
        scale: Scale | None = None,
    ) -> None:
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 3:
            raise ValueError(f"FeatureMapStack needs a (C, H, W) array, got shape {values.shape}")
        self.values = values
        self.channels = list(channels) if channels is not None else top_channels(values, max_maps)
        self.value_scale = scale or layer_scale(values, kind)
        self.maps = [
            FeatureMap(values[c], self.value_scale, height=map_height) for c in self.channels
        ]
        self.body = Group(*self.maps)
        if layout == "cascade":
            for i, m in enumerate(self.maps):
                m.shift((RIGHT + UP) * i * map_height * 0.18)
            for i, m in enumerate(self.maps):  # the first channel is drawn on top
                m.set_z_index(len(self.maps) - i)
        else:
            self.body.arrange_in_grid(rows=min(rows, len(self.maps)), buff=gap, flow_order="dr")
        parts: list = [self.body]
        c, h, w = values.shape
        shown = f"  ({len(self.channels)} shown)" if len(self.channels) < c else ""
        self.shape_label = label(f"{c}×{h}×{w}{shown}", SMALL_FONT_SIZE, THEME.muted)
        texts = [self.shape_label]
        if title:
            self.title = label(title, SMALL_FONT_SIZE + 2)
            texts.insert(0, self.title)
        self.caption = Group(*texts).arrange(DOWN, buff=0.06).next_to(self.body, DOWN, buff=0.15)
        parts.append(self.caption)
        super().__init__(*parts)

    def make_build_animation(self, run_time: float = 1.5) -> Animation:
        """The maps appear one after the other, then the caption."""
        return AnimationGroup(
            LaggedStart(*[FadeIn(m, scale=0.8) for m in self.maps], lag_ratio=0.15),
            FadeIn(self.caption),
            run_time=run_time,
        )


def top_channels(values: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` channels of ``(C, H, W)`` with the largest mean |value|, in
    channel order."""
    energy = np.abs(values.reshape(values.shape[0], -1)).mean(axis=1)
    return sorted(np.argsort(-energy, kind="stable")[:n].tolist())


class Kernel(Group):
    """A ``(kH, kW)`` weight grid: one square per weight on the signed scale, its value
    written inside (``decimals`` places). ``kH·kW`` squares, so only for small kernels."""

    def __init__(
        self,
        weights: np.ndarray,
        scale: Scale | None = None,
        *,
        cell: float = 0.5,
        decimals: int = 2,
        font_size: float = SMALL_FONT_SIZE,
    ) -> None:
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim != 2:
            raise ValueError(f"Kernel needs a (kH, kW) array, got shape {weights.shape}")
        self.weights = weights
        self.value_scale = scale or scale_for(weights, "kernel")
        colours = colorize(weights, self.value_scale)
        self.cells = VGroup()
        self.numbers = Group()
        for (r, c), w in np.ndenumerate(weights):
            sq = Square(side_length=cell, stroke_color=THEME.muted, stroke_width=1)
            sq.set_fill(hex_color(colours[r, c]), opacity=1)
            sq.move_to(RIGHT * c * cell + DOWN * r * cell)
            light = colours[r, c].astype(int).sum() > 3 * 150
            num = label(fmt(float(w), decimals), font_size, "#111111" if light else "#f0f0f0")
            num.scale_to_fit_width(min(num.width, cell * 0.9)).move_to(sq)
            self.cells.add(sq)
            self.numbers.add(num)
        super().__init__(self.cells, self.numbers)

    def make_slide_animation(self, target: np.ndarray, run_time: float = 0.5) -> Animation:
        """Move the kernel so its centre lands on the scene point ``target``."""
        return self.animate(run_time=run_time).move_to(target).build()


class ColorBar(Group):
    """A horizontal colour bar for ``scale``: gradient image, end values and the scale's label."""

    def __init__(
        self, scale: Scale, *, width: float = 2.0, height: float = 0.16, text: str | None = None
    ):
        ramp = np.linspace(scale.vmin, scale.vmax, 128, dtype=np.float32)[None, :].repeat(4, 0)
        self.value_scale = scale
        self.image = pixel_image(colorize(ramp, scale), height)
        self.image.stretch_to_fit_width(width)
        frame = Rectangle(width=width, height=height, stroke_color=THEME.muted, stroke_width=1)
        lo = label(tick_text(scale.vmin), SMALL_FONT_SIZE - 2, THEME.muted).next_to(
            self.image, LEFT, 0.1
        )
        hi = label(tick_text(scale.vmax), SMALL_FONT_SIZE - 2, THEME.muted).next_to(
            self.image, RIGHT, 0.1
        )
        name = label(text or scale.label, SMALL_FONT_SIZE - 2, THEME.muted).next_to(
            self.image, UP, 0.08
        )
        super().__init__(self.image, frame.move_to(self.image), lo, hi, name)


def make_morph_animation(source, target, run_time: float = 1.2) -> Animation:
    """A copy of ``source`` flies onto ``target`` (stretched to its box) and fades while
    ``target`` fades in: works between images of different sizes (a 28×28 map pooled to
    14×14, maps flattened into a column), which ``Transform`` cannot interpolate."""
    ghost = source.copy()
    landing = source.copy().replace(target, stretch=True).fade(1)
    return AnimationGroup(
        Transform(ghost, landing, remover=True), FadeIn(target), run_time=run_time
    )


def tick_text(v: float) -> str:
    """A colour-bar end value: two significant figures, a true minus sign (U+2212), which stays
    readable at 480p where a hyphen shrinks to a dot."""
    text = f"{v:.2g}" if abs(v) < 10 else f"{v:.0f}"
    if float(text) == 0:
        return "0"
    return MINUS + text[1:] if text.startswith("-") else text


def hex_color(rgb: np.ndarray) -> str:
    """``"#rrggbb"`` of an RGB(A) pixel ``(3,)`` or ``(4,)`` of 0..255 values."""
    return "#{:02x}{:02x}{:02x}".format(*(int(x) for x in rgb[:3]))
