"""Pixel-exact drawing helpers shared by the animators.

Layouts are computed in pixels (top-left origin, boxes ``(y0, y1, x0, x1)``); matplotlib draws
text, frames, colour bars and charts at those places once, and array pictures (feature maps,
kernels, digits) are blitted into the rendered buffer with whole-pixel nearest-neighbour
scaling, so each cell is a crisp square whose colour is exactly ``style.colorize`` of its value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from explainer import style
from explainer.animate.reel import Box
from explainer.text import clip_text

MAX_TEXT_CHARS = 200
"""Longest text drawn on a frame: names from files are cut there (an ellipsis ends them) and
drawn on one line, so a 4,000-character or multi-line name costs no more than a short one."""


class Canvas:
    """A matplotlib figure of ``size = (width, height)`` pixels addressed in pixel coordinates."""

    def __init__(self, size: tuple[int, int], theme: str = "light") -> None:
        import matplotlib  # no matplotlib.use(): it would switch a notebook's inline backend off
        from matplotlib.figure import Figure

        self.width, self.height = int(size[0]), int(size[1])
        self.theme = style.theme(theme)
        self.rc = style.mpl_rc(theme)
        with matplotlib.rc_context(self.rc):
            self.fig = Figure(figsize=(self.width / 100, self.height / 100), dpi=100)
            self.fig.patch.set_facecolor(self.theme.background)
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(self.fig)

    # --- coordinates ----------------------------------------------------------------------

    def fx(self, x: float) -> float:
        return x / self.width

    def fy(self, y: float) -> float:
        return 1.0 - y / self.height

    def rect_of(self, box: Box) -> list[float]:
        """Figure-fraction ``[left, bottom, width, height]`` of a pixel box."""
        y0, y1, x0, x1 = box
        return [
            x0 / self.width,
            1 - y1 / self.height,
            (x1 - x0) / self.width,
            (y1 - y0) / self.height,
        ]

    # --- drawing --------------------------------------------------------------------------

    def text(self, x: float, y: float, s: str, **kw):
        """Text anchored at pixel ``(x, y)`` (default: left, vertically centred)."""
        import matplotlib

        kw.setdefault("va", "center")
        kw.setdefault("color", self.theme.foreground)
        with matplotlib.rc_context(self.rc):
            return self.fig.text(self.fx(x), self.fy(y), s, **kw)

    def box(self, box: Box, *, face: str = "none", edge: str | None = None, lw: float = 1.0, **kw):
        """A rectangle drawn just outside the pixel box (so it never covers blitted pixels)."""
        from matplotlib.patches import FancyBboxPatch, Rectangle

        y0, y1, x0, x1 = box
        pad = lw / 2 + 0.5 if face == "none" else 0
        left, bottom = self.fx(x0 - pad), self.fy(y1 + pad)
        w, h = (x1 - x0 + 2 * pad) / self.width, (y1 - y0 + 2 * pad) / self.height
        edge = self.theme.muted if edge is None else edge
        if kw.pop("rounded", False):
            patch = FancyBboxPatch(
                (left, bottom), w, h, boxstyle="round,pad=0,rounding_size=0.006",
                transform=self.fig.transFigure, facecolor=face, edgecolor=edge, linewidth=lw, **kw,
            )  # fmt: skip
        else:
            patch = Rectangle(
                (left, bottom), w, h, transform=self.fig.transFigure, facecolor=face,
                edgecolor=edge, linewidth=lw, **kw,
            )  # fmt: skip
        self.fig.add_artist(patch)
        return patch

    def arrow(
        self,
        start: tuple[float, float],
        end: tuple[float, float],
        color: str | None = None,
        lw: float = 1.5,
    ):
        from matplotlib.patches import FancyArrowPatch

        a = FancyArrowPatch(
            (self.fx(start[0]), self.fy(start[1])), (self.fx(end[0]), self.fy(end[1])),
            transform=self.fig.transFigure, arrowstyle="-|>", mutation_scale=12,
            color=color or self.theme.muted, linewidth=lw,
        )  # fmt: skip
        self.fig.add_artist(a)
        return a

    def axes(self, box: Box, **kw):
        import matplotlib

        with matplotlib.rc_context(self.rc):
            return self.fig.add_axes(self.rect_of(box), **kw)

    def colorbar(
        self,
        box: Box,
        scale: style.Scale,
        label: str = "",
        orientation: str = "vertical",
        ticks: int | Sequence[float] = 5,
        fontsize: float = 8,
    ):
        """A colour bar for ``scale`` in the pixel box (ticks and label beside it); ``ticks``:
        how many (about), or the tick values."""
        import matplotlib
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        with matplotlib.rc_context(self.rc):
            cax = self.fig.add_axes(self.rect_of(box))
            sm = ScalarMappable(Normalize(scale.vmin, scale.vmax), scale.cmap)
            cb = self.fig.colorbar(sm, cax=cax, orientation=orientation)
            cb.outline.set_edgecolor(self.theme.muted)
            if isinstance(ticks, int):
                cb.locator = matplotlib.ticker.MaxNLocator(ticks)
                cb.update_ticks()
            else:
                cb.set_ticks(list(ticks), labels=[f"{v:g}".replace("-", "−") for v in ticks])
            cax.tick_params(labelsize=fontsize, length=2)
            if label:
                cb.set_label(label, fontsize=fontsize)
        return cb

    def render(self) -> np.ndarray:
        """The figure as ``(H, W, 3)`` uint8 RGB."""
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        """Nothing to free explicitly: the figure is not registered with pyplot."""


# --- pixel pictures ------------------------------------------------------------------------


NOTE_COLOR = "#d62728"  # a warning written on a picture (a diverged layer)


def upscale(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour ``factor``× enlargement of ``(h, w, 3)``."""
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def blit(target: np.ndarray, box: Box, rgb: np.ndarray) -> None:
    """Write ``rgb`` ``(h, w, 3)`` into ``target`` at ``box``, scaled by whole pixels; the box
    must be an exact multiple of the picture (as :func:`grid_boxes` makes them)."""
    y0, y1, x0, x1 = box
    factor = (y1 - y0) // rgb.shape[0]
    target[y0:y1, x0:x1] = upscale(rgb, factor) if factor > 1 else rgb


def fit_grid(
    n: int, cell_hw: tuple[int, int], area: Box, gap: int = 3, max_px: int = 10_000
) -> tuple[int, int, int]:
    """``(rows, cols, factor)`` placing ``n`` pictures of ``cell_hw`` pixels in ``area`` with the
    biggest whole-pixel enlargement ``factor`` (at least 1) that keeps each picture's longer side
    within ``max_px``."""
    h, w = cell_hw
    cap = max(1, max_px // max(h, w))
    ah, aw = area[1] - area[0], area[3] - area[2]
    best = (1, n, 0)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        f = min((aw - gap * (cols - 1)) // (cols * w), (ah - gap * (rows - 1)) // (rows * h), cap)
        if f > best[2] or (f == best[2] and f > 0 and abs(rows - cols) < abs(best[0] - best[1])):
            best = (rows, cols, f)
    return best[0], best[1], max(best[2], 1)


def grid_boxes(
    n: int, cell_hw: tuple[int, int], area: Box, gap: int = 3, max_px: int = 10_000
) -> list[Box]:
    """Boxes for ``n`` pictures of ``cell_hw`` pixels in a grid centred in ``area``, in reading
    order, each an exact whole-pixel enlargement (longer side at most ``max_px``)."""
    rows, cols, f = fit_grid(n, cell_hw, area, gap, max_px)
    h, w = cell_hw[0] * f, cell_hw[1] * f
    total_h, total_w = rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap
    top = area[0] + (area[1] - area[0] - total_h) // 2
    left = area[2] + (area[3] - area[2] - total_w) // 2
    return [
        (
            top + r * (h + gap),
            top + r * (h + gap) + h,
            left + c * (w + gap),
            left + c * (w + gap) + w,
        )
        for r, c in ((i // cols, i % cols) for i in range(n))
    ]


def vector_shape(n: int) -> tuple[int, int]:
    """A near-square ``(rows, cols)`` tiling for a vector of ``n`` values (one cell each)."""
    if n <= 16:
        return 1, n
    cols = math.ceil(math.sqrt(n * 2))
    return math.ceil(n / cols), cols


def as_tiles(values: np.ndarray) -> np.ndarray:
    """A vector ``(n,)`` as a 2-D ``(rows, cols)`` array, padded with NaN."""
    rows, cols = vector_shape(values.size)
    out = np.full(rows * cols, np.nan, dtype=np.float64)
    out[: values.size] = values.ravel()
    return out.reshape(rows, cols)


def colorize_tiles(values: np.ndarray, scale: style.Scale, empty: Sequence[int]) -> np.ndarray:
    """:func:`style.colorize` that paints NaN cells in the ``empty`` colour."""
    rgb = style.colorize(np.nan_to_num(values), scale)
    rgb[np.isnan(values)] = empty
    return rgb


# --- fast drawing for the parts that change (Pillow, same DejaVu fonts as matplotlib) -------


def _font(px: float, bold: bool = False):
    return _font_cached(round(px), bool(bold))


@lru_cache(maxsize=32)
def _font_cached(px: int, bold: bool):
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), px)


def text_width(s: str, pt: float = 9, bold: bool = False) -> float:
    """Pixel width of ``s`` at ``pt`` points (100 dpi, DejaVu Sans: as matplotlib draws it),
    as drawn: on one line, cut at :data:`MAX_TEXT_CHARS`."""
    return float(_font(pt * 100 / 72, bold).getlength(clip_text(s, MAX_TEXT_CHARS)))


def fit_text(s: str, pt: float, width: float, bold: bool = False, least: float = 0.7):
    """``(text, pt)`` that fits ``width`` pixels: ``s`` at ``pt`` points, else at a smaller
    size down to ``least`` × ``pt``, else shortened with "…" at that size (one line, at most
    :data:`MAX_TEXT_CHARS` characters, found by bisection)."""
    s = clip_text(s, MAX_TEXT_CHARS)
    for k in np.linspace(1.0, least, 7):
        if text_width(s, pt * k, bold) <= width:
            return s, pt * k
    small = pt * least
    lo, hi = 1, len(s)  # the longest prefix whose "…" version fits (1 character at least)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(s[:mid].rstrip() + "…", small, bold) <= width:
            lo = mid
        else:
            hi = mid - 1
    return s[:lo].rstrip() + "…", small


def nice_ticks(vmin: float, vmax: float, n: int = 5) -> list[float]:
    """Round tick values inside ``[vmin, vmax]`` (matplotlib's ``MaxNLocator``)."""
    from matplotlib.ticker import MaxNLocator

    eps = 1e-9 * max(abs(vmin), abs(vmax), 1)
    return [
        float(v) for v in MaxNLocator(n).tick_values(vmin, vmax) if vmin - eps <= v <= vmax + eps
    ]


def tick_text(v: float) -> str:
    """A colour-bar number as short as it reads: ``"0.5"``, ``"6e−5"`` (never ``"6e-05"``),
    ``"1.2e+04"`` as ``"1.2e4"``; a true minus sign."""
    text = f"{v:.3g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text.replace("-", "−")


def colorbar_room(scale: style.Scale, pt: float, ticks: int = 5) -> float:
    """Pixels right of a :meth:`Sketch.colorbar` that its tick labels take (tick and text)."""
    values = nice_ticks(scale.vmin, scale.vmax, ticks) if scale.vmax > scale.vmin else []
    return 6 + max((text_width(tick_text(v), pt) for v in values), default=0.0)


LINE_SPACING = 1.25  # a wrapped line's distance from the one before, in font pixel sizes


def wrap_text(s: str, pt: float, width: float, lines: int = 2, bold: bool = False) -> list[str]:
    """``s`` cut at spaces into at most ``lines`` lines of ``width`` pixels at ``pt`` points;
    what still does not fit is left to :func:`fit_text` on the last line."""
    words = clip_text(s, MAX_TEXT_CHARS).split(" ")
    out: list[str] = []
    while words and len(out) < lines - 1:
        n = 1
        while n < len(words) and text_width(" ".join(words[: n + 1]), pt, bold) <= width:
            n += 1
        out.append(" ".join(words[:n]))
        words = words[n:]
    if words:
        out.append(" ".join(words))
    return out


class Sketch:
    """A Pillow drawing of ``size = (width, height)`` pixels for pictures rebuilt many times
    (one per layer or per step): about 50× cheaper than a matplotlib figure, same fonts.
    Font sizes are in points at matplotlib's 100 dpi, so both look alike."""

    def __init__(
        self, size: tuple[int, int], theme: str = "light", background: str | None = None
    ) -> None:
        from PIL import Image, ImageDraw

        self.theme = style.theme(theme)
        self.width, self.height = int(size[0]), int(size[1])
        self.image = Image.new(
            "RGB", (self.width, self.height), background or self.theme.background
        )
        self.draw = ImageDraw.Draw(self.image)

    @classmethod
    def on(cls, rgb: np.ndarray, theme: str = "light") -> Sketch:
        """A sketch starting from a copy of an existing ``(H, W, 3)`` picture."""
        from PIL import Image, ImageDraw

        sk = cls((rgb.shape[1], rgb.shape[0]), theme)
        sk.image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
        sk.draw = ImageDraw.Draw(sk.image)
        return sk

    def text(
        self,
        x: float,
        y: float,
        s: str,
        pt: float = 9,
        *,
        bold: bool = False,
        color: str | None = None,
        anchor: str = "lm",
    ) -> None:
        """Text at pixel ``(x, y)``; ``anchor`` as in Pillow (``"lm"`` left-middle, ``"mm"``...)."""
        self.draw.text(
            (x, y),
            clip_text(s, MAX_TEXT_CHARS),
            fill=color or self.theme.foreground,
            font=_font(pt * 100 / 72, bold),
            anchor=anchor,
        )

    def text_width(self, s: str, pt: float = 9, bold: bool = False) -> float:
        return self.draw.textlength(clip_text(s, MAX_TEXT_CHARS), font=_font(pt * 100 / 72, bold))

    def fitted(
        self,
        x: float,
        y: float,
        s: str,
        pt: float,
        width: float,
        *,
        bold: bool = False,
        color: str | None = None,
        anchor: str = "lm",
    ) -> float:
        """:meth:`text` made to fit ``width`` pixels (:func:`fit_text`); its width."""
        s, pt = fit_text(s, pt, width, bold)
        self.text(x, y, s, pt, bold=bold, color=color, anchor=anchor)
        return self.text_width(s, pt, bold)

    def box(
        self, box: Box, *, edge: str | None = None, face: str | None = None, lw: int = 1
    ) -> None:
        """A rectangle drawn just outside the pixel box (never covering blitted pixels)."""
        y0, y1, x0, x1 = box
        self.draw.rectangle(
            (x0 - lw, y0 - lw, x1 + lw - 1, y1 + lw - 1),
            outline=edge or self.theme.muted,
            fill=None,
            width=lw,
        )
        if face:
            self.draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=face)

    def line(
        self, points: Sequence[tuple[float, float]], color: str | None = None, width: int = 1
    ) -> None:
        self.draw.line([tuple(p) for p in points], fill=color or self.theme.muted, width=width)

    def colorbar(self, box: Box, scale: style.Scale, ticks: int = 5, pt: float = 7.5) -> None:
        """A vertical colour bar for ``scale`` in ``box`` with tick labels on its right
        (:func:`tick_text`; :func:`colorbar_room` is the width they need)."""
        y0, y1, x0, x1 = box
        values = np.linspace(scale.vmax, scale.vmin, y1 - y0)[:, None].repeat(x1 - x0, 1)
        self.paste(box, style.colorize(values, scale))
        self.box(box)
        for v in nice_ticks(scale.vmin, scale.vmax, ticks):
            y = y0 + (scale.vmax - v) / (scale.vmax - scale.vmin) * (y1 - y0 - 1)
            self.line([(x1, y), (x1 + 3, y)])
            self.text(x1 + 5, y, tick_text(v), pt, color=self.theme.foreground)
        if scale.note:  # NaN or infinite values: said above the bar, not a blank map alone
            self.text(x1, y0 - 3, scale.note, pt, color=NOTE_COLOR, anchor="rd")

    def paste(self, box: Box, rgb: np.ndarray) -> None:
        """Blit an ``(h, w, 3)`` picture (see :func:`blit`)."""
        from PIL import Image

        y0, y1, x0, _ = (int(v) for v in box)
        f = (y1 - y0) // rgb.shape[0]
        self.image.paste(
            Image.fromarray(upscale(rgb, f) if f > 1 else np.ascontiguousarray(rgb)), (x0, y0)
        )

    def array(self) -> np.ndarray:
        """``(H, W, 3)`` uint8."""
        return np.asarray(self.image).copy()
