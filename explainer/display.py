"""Renders that play inline in Jupyter, Colab and VS Code notebooks.

(How a Trace itself shows in a notebook is :mod:`explainer.tracing.notebook`.)

- :func:`animate` renders one of :mod:`explainer.animate`'s animations and returns a
  :class:`Media` that plays inline; :func:`manim` does the same with a Manim scene.
  ``Media.save(path)`` keeps a copy.

Nothing here writes a file the caller did not ask for: renders go to a temporary folder that is
removed once the bytes are read.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explainer.errors import ExplainerError
from explainer.io import atomic_write
from explainer.tracing.notebook import show_in_notebook

if TYPE_CHECKING:
    from explainer.tracing.trace import Trace

MIME = {".gif": "image/gif", ".png": "image/png", ".mp4": "video/mp4"}
MAX_EMBED_BYTES = 64 * 2**20  # a notebook holds its outputs; bigger files are linked instead


class Media:
    """A rendered GIF, MP4 or PNG held in memory; a notebook cell shows it inline."""

    def __init__(self, data: bytes, suffix: str, name: str = "", width: int | None = None):
        suffix = suffix.lower()
        if suffix not in MIME:
            raise ExplainerError(f"cannot show {suffix or 'this'} files; use .gif, .mp4 or .png")
        self.data = bytes(data)
        self.suffix = suffix
        self.name = name or f"animation{suffix}"
        self.width = width

    @classmethod
    def from_file(cls, path: str | os.PathLike, width: int | None = None) -> Media:
        """Read ``path`` (``.gif``, ``.mp4`` or ``.png``) into memory."""
        path = Path(path)
        if not path.is_file():
            raise ExplainerError(f"{path} not found")
        size = path.stat().st_size
        if size > MAX_EMBED_BYTES:
            raise ExplainerError(
                f"{path} is {size / 2**20:.0f} MB, too big to show in a notebook "
                f"(limit {MAX_EMBED_BYTES // 2**20} MB); open the file instead"
            )
        return cls(path.read_bytes(), path.suffix, path.name, width)

    @property
    def mime(self) -> str:
        return MIME[self.suffix]

    def _repr_html_(self) -> str:
        src = f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"
        style = f' style="max-width:100%;width:{self.width}px"' if self.width else ""
        alt = html.escape(self.name, quote=True)
        if self.suffix == ".mp4":
            return f'<video controls autoplay loop muted playsinline src="{src}"{style}></video>'
        return f'<img src="{src}" alt="{alt}"{style}>'

    def _repr_png_(self) -> bytes | None:
        return self.data if self.suffix == ".png" else None

    def show(self) -> None:
        """Display inline (in a notebook); elsewhere, say how to keep it."""
        if not show_in_notebook(self):
            print(f"{self.name}: {len(self.data):,} bytes; keep it with .save('{self.name}')")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bytes to ``path`` atomically; returns the path."""
        path = Path(path)
        if path.suffix.lower() != self.suffix:
            raise ExplainerError(f"this is a {self.suffix} file; save it as *{self.suffix}")
        with atomic_write(path) as tmp:
            Path(tmp).write_bytes(self.data)
        return path

    def __repr__(self) -> str:
        return f"<Media {self.name}: {len(self.data):,} bytes>"


def animate(
    kind: str,
    trace: Trace | None = None,
    out: str | os.PathLike | None = None,
    *,
    width: int | None = None,
    **options: Any,
) -> Media:
    """:func:`explainer.animate.render_animation` as an inline :class:`Media`.

    ``out`` also keeps the file there (its extension picks the format; default: a GIF in a
    temporary folder). ``options`` are render_animation's (``fps``, ``seconds``, ``size``,
    ``theme``, ``layer``, ``channel``, ``checkpoint``, ``snapshots``...).
    """
    from explainer.animate import render_animation

    if out is not None:
        return Media.from_file(render_animation(kind, trace, out, **options), width)
    with tempfile.TemporaryDirectory(prefix="explainer-show-") as tmp:
        return Media.from_file(render_animation(kind, trace, Path(tmp) / f"{kind}.gif", **options))


def manim(
    kind: str,
    trace: Trace | Any = None,
    out: str | os.PathLike | None = None,
    *,
    quality: str = "low",
    width: int | None = None,
) -> Media:
    """:func:`explainer.scenes.render.render_manim` as an inline :class:`Media` (MP4 default)."""
    from explainer.scenes.render import render_manim

    if out is not None:
        return Media.from_file(render_manim(kind, trace, out, quality=quality), width)
    with tempfile.TemporaryDirectory(prefix="explainer-show-") as tmp:
        video = render_manim(kind, trace, Path(tmp) / f"{kind}.mp4", quality=quality)
        return Media.from_file(video, width or 640)
