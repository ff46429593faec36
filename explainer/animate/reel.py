"""A :class:`Reel`: an animation composed in numpy from a few pre-rendered pictures.

Matplotlib draws the expensive parts once, as full-size *sheets* (``(H, W, 3)`` uint8 RGB):
the background, the finished state of each stage, a highlighted version... A frame is then the
previous frame with a few rectangles copied from those sheets (:class:`Paste`), so making a
frame costs a handful of array copies, and a GIF only has to store the rectangles that changed.

Frames exist in two spaces built from the same script: exact RGB (what tests compare against
the Trace, what MP4 and PNG get), and palette indices after one shared palette is fitted to all
sheets (what the GIF writer gets, with no per-frame quantisation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 in pixels, top-left origin, end exclusive


@dataclass(frozen=True)
class Paste:
    """Copy ``sheets[sheet][y0:y1, x0:x1]`` onto the frame at ``at`` (default: the same place)."""

    sheet: int
    box: Box
    at: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", tuple(int(v) for v in self.box))
        if self.at is not None:
            object.__setattr__(self, "at", (int(self.at[0]), int(self.at[1])))


@dataclass
class _Step:
    reset: bool
    pastes: list[Paste] = field(default_factory=list)


class Reel:
    """An animation of ``size = (width, height)`` pixels at ``fps`` frames per second.

    Build it with :meth:`add_sheet` and :meth:`frame` / :meth:`hold`, read it with
    :meth:`frames` (RGB ``(H, W, 3)`` uint8) or :meth:`indexed_frames` (``(H, W)`` uint8 into
    :meth:`palette`).
    """

    def __init__(self, base: np.ndarray, fps: float, title: str = "") -> None:
        base = np.ascontiguousarray(base[..., :3], dtype=np.uint8)
        self.height, self.width = base.shape[:2]
        self.fps = float(fps)
        self.title = title
        self.sheets: list[np.ndarray] = [base]
        self._steps: list[_Step] = []
        self._palette: np.ndarray | None = None
        self._indexed: list[np.ndarray] = []

    # --- building -------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.width, self.height

    def add_sheet(self, rgb: np.ndarray) -> int:
        """Register a picture to paste from (full frame size or a small sprite); its id."""
        self.sheets.append(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
        self._palette = None
        return len(self.sheets) - 1

    def frame(self, pastes: Sequence[Paste] = (), reset: bool = False) -> None:
        """Append one frame: the previous one (or the base sheet when ``reset``) plus ``pastes``."""
        self._steps.append(_Step(reset or not self._steps, list(pastes)))

    def hold(self, n: int) -> None:
        """Append ``n`` frames identical to the last one."""
        for _ in range(max(0, int(n))):
            self.frame()

    @property
    def n_frames(self) -> int:
        return len(self._steps)

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.n_frames / self.fps

    def changes(self) -> list[bool]:
        """For each frame, whether it can differ from the previous one."""
        return [s.reset or bool(s.pastes) for s in self._steps]

    # --- reading --------------------------------------------------------------------------

    def _run(self, sheets: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
        canvas = sheets[0].copy()
        H, W = canvas.shape[:2]
        for step in self._steps:
            if step.reset:
                canvas[...] = sheets[0]
            for p in step.pastes:
                y0, y1, x0, x1 = p.box
                ty, tx = (y0, x0) if p.at is None else p.at
                # clip to the frame (a highlight may reach past an edge)
                cy0, cx0 = max(0, -ty), max(0, -tx)
                cy1 = min(y1 - y0, H - ty)
                cx1 = min(x1 - x0, W - tx)
                if cy1 > cy0 and cx1 > cx0:
                    canvas[ty + cy0 : ty + cy1, tx + cx0 : tx + cx1] = sheets[p.sheet][
                        y0 + cy0 : y0 + cy1, x0 + cx0 : x0 + cx1
                    ]
            yield canvas

    def frames(self) -> Iterator[np.ndarray]:
        """Exact RGB frames ``(H, W, 3)`` uint8. The same buffer is reused: copy to keep one."""
        return self._run(self.sheets)

    def frame_at(self, i: int) -> np.ndarray:
        """A copy of RGB frame ``i`` (negative counts from the end)."""
        i = range(self.n_frames)[i]
        for k, f in enumerate(self.frames()):
            if k == i:
                return f.copy()
        raise IndexError(i)

    def palette(self, colors: int = 255) -> np.ndarray:
        """One palette ``(colors, 3)`` fitted to every sheet; the GIF writer keeps index 255
        free for "unchanged" (transparent) pixels."""
        if self._palette is None:
            from PIL import Image

            # Fit on every pixel of small sheets and every 4th of big ones: same colours, 4x faster.
            sample = [s[::2, ::2] if s.shape[0] * s.shape[1] > 100_000 else s for s in self.sheets]
            stack = np.concatenate([s.reshape(-1, 3) for s in sample])[:, None, :]
            # the style's own colours (backgrounds, text, frames, highlights) are kept exact
            reserved = _style_colours()
            fitted = Image.fromarray(stack).quantize(
                colors - len(reserved), method=Image.Quantize.FASTOCTREE
            )
            n_fit = colors - len(reserved)
            pal = np.array(fitted.getpalette()[: 3 * n_fit], dtype=np.uint8).reshape(-1, 3)
            pal = np.concatenate([pal, np.zeros((n_fit - len(pal), 3), np.uint8), reserved])
            pal_img = Image.new("P", (1, 1))
            pal_img.putpalette(pal.flatten().tolist())
            self._indexed = [_quantize(s, pal_img, pal[n_fit:], n_fit) for s in self.sheets]
            self._palette = pal
        return self._palette

    def indexed_frames(self) -> Iterator[np.ndarray]:
        """Frames as ``(H, W)`` uint8 indices into :meth:`palette` (buffer reused)."""
        self.palette()
        return self._run(self._indexed)


def _style_colours() -> np.ndarray:
    """``(n, 3)`` uint8: every fixed colour of :mod:`explainer.style` (both themes)."""
    from explainer import style

    names = [
        c
        for t in style.THEMES.values()
        for c in (t.background, t.foreground, t.muted, t.panel, t.accent)
    ]
    names += [*style.CLASS_COLORS, *style.KIND_COLORS.values(), style.HIGHLIGHT_COLOR]
    names += [style.CORRECT_COLOR, style.WRONG_COLOR, "#000000", "#ffffff"]
    return np.unique(np.array([style.hex_to_rgb(c) for c in names], dtype=np.uint8), axis=0)


def _quantize(rgb: np.ndarray, pal_img, reserved: np.ndarray, first: int) -> np.ndarray:
    """Palette indices of ``rgb``: Pillow's nearest colour, then pixels that are exactly one of
    the ``reserved`` colours (palette entries from ``first`` on) get that entry."""
    from PIL import Image

    idx = np.asarray(
        Image.fromarray(rgb).quantize(palette=pal_img, dither=Image.Dither.NONE)
    ).copy()
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    rkey = (
        (reserved[:, 0].astype(np.int32) << 16)
        | (reserved[:, 1].astype(np.int32) << 8)
        | reserved[:, 2]
    )
    order = np.argsort(rkey)
    pos = np.clip(np.searchsorted(rkey[order], key), 0, len(rkey) - 1)
    hit = rkey[order][pos] == key
    idx[hit] = (first + order[pos[hit]]).astype(np.uint8)
    return idx
