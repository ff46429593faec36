"""Write a :class:`~explainer.animate.reel.Reel` to ``.gif``, ``.mp4`` or ``.png``, atomically.

- GIF: one palette fitted to all frames, frames given to Pillow as palette indices, only the
  changed rectangle of each frame stored (unchanged pixels transparent), looping forever;
  runs of identical frames become one frame shown longer (total duration is kept exactly, to
  the GIF's 10 ms resolution).
- MP4: H.264 (``libx264``, ``yuv420p``) through imageio-ffmpeg.
- PNG: the last frame.

A writer is any object with ``write(reel, path) -> Path``; :class:`CountingWriter` only counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from explainer.animate.reel import Reel
from explainer.errors import ExplainerError
from explainer.io import atomic_write

EXTENSIONS = (".gif", ".mp4", ".png")


def check_extension(path: str | os.PathLike) -> str:
    """The lower-case extension of ``path``, or a one-line error naming the choices."""
    ext = Path(path).suffix.lower()
    if ext not in EXTENSIONS:
        raise ExplainerError(
            f"cannot write {str(path)!r}: the output must end in {', '.join(EXTENSIONS)} "
            "(GIF for slides and READMEs, MP4 for video, PNG for the final frame)"
        )
    return ext


def gif_durations(changes: list[bool], fps: float) -> list[int]:
    """Milliseconds for each run of identical frames (``changes[i]``: frame ``i`` differs from
    frame ``i - 1``), multiples of 10 (GIF's resolution), rounded cumulatively so they add up
    to the reel's length."""
    starts = [i for i, c in enumerate(changes) if c or i == 0] + [len(changes)]
    out, shown = [], 0
    for b in starts[1:]:
        end = round(b * 100.0 / fps) * 10
        out.append(max(10, end - shown))
        shown += out[-1]
    return out


def distinct_frames(reel: Reel) -> int:
    """How many frames a GIF of ``reel`` stores: runs of identical frames count once."""
    count, previous = 0, None
    for idx in reel.indexed_frames():
        if previous is None or not np.array_equal(idx, previous):
            count += 1
            previous = idx.copy()
    return count


TRANSPARENT = 255  # the palette index left free by Reel.palette(): "pixel unchanged"


class GifWriter:
    """Palette-optimised, looping GIF (Pillow): one palette for all frames, each frame stored
    as the rectangle that changed, with unchanged pixels inside it transparent."""

    def write(self, reel: Reel, path: str | os.PathLike) -> Path:
        from PIL import Image

        palette = reel.palette()
        flat = np.zeros((256, 3), dtype=np.uint8)
        flat[: len(palette)] = palette
        flat_list = flat.flatten().tolist()
        pasted = reel.changes()
        changes, images, previous = [], [], None
        for i, idx in enumerate(reel.indexed_frames()):
            # a frame whose pastes changed nothing is shown longer, not stored again
            changed = previous is None or (pasted[i] and not np.array_equal(idx, previous))
            changes.append(changed)
            if changed:
                stored = idx.copy()
                if previous is not None:
                    stored[idx == previous] = TRANSPARENT  # unchanged: keep what is shown
                im = Image.fromarray(stored, mode="P")
                im.putpalette(flat_list)
                images.append(im)
                previous = idx.copy()
        durations = gif_durations(changes, reel.fps)
        with atomic_write(path) as tmp:
            images[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                duration=durations if len(images) > 1 else durations[0],
                loop=0,
                disposal=1,
                optimize=False,
                transparency=TRANSPARENT,
            )
        return Path(path)


class Mp4Writer:
    """H.264 MP4 through imageio-ffmpeg (frames padded to even sizes for ``yuv420p``)."""

    def __init__(self, quality: int = 8) -> None:
        self.quality = quality

    def write(self, reel: Reel, path: str | os.PathLike) -> Path:
        import imageio.v2 as imageio

        h, w = reel.height + reel.height % 2, reel.width + reel.width % 2
        with atomic_write(path) as tmp:
            writer = imageio.get_writer(
                tmp, format="FFMPEG", fps=reel.fps, codec="libx264", quality=self.quality,
                pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
            )  # fmt: skip
            try:
                for frame in reel.frames():
                    if frame.shape[:2] != (h, w):
                        frame = np.pad(
                            frame,
                            ((0, h - frame.shape[0]), (0, w - frame.shape[1]), (0, 0)),
                            mode="edge",
                        )
                    writer.append_data(frame)
            finally:
                writer.close()
        return Path(path)


class PngWriter:
    """The last frame as a PNG."""

    def write(self, reel: Reel, path: str | os.PathLike) -> Path:
        from PIL import Image

        with atomic_write(path) as tmp:
            Image.fromarray(reel.frame_at(-1)).save(tmp, format="PNG", optimize=True)
        return Path(path)


class CountingWriter:
    """Writes nothing; counts the frames it is given and remembers their shape (for tests)."""

    def __init__(self) -> None:
        self.frames = 0
        self.shape: tuple[int, ...] | None = None
        self.path: Path | None = None

    def write(self, reel: Reel, path: str | os.PathLike) -> Path:
        for frame in reel.frames():
            self.frames += 1
            self.shape = frame.shape
        self.path = Path(path)
        return self.path


def writer_for(path: str | os.PathLike):
    """The writer the extension of ``path`` asks for."""
    return {".gif": GifWriter, ".mp4": Mp4Writer, ".png": PngWriter}[check_extension(path)]()


def save(reel: Reel, path: str | os.PathLike, writer=None) -> Path:
    """Write ``reel`` to ``path`` with ``writer`` (default: chosen by the extension)."""
    if writer is None:
        writer = writer_for(path)
    return writer.write(reel, path)
