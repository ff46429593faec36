"""Render a Manim scene of a Trace to ``.mp4`` or ``.gif``, in-process.

``render_manim("forward", trace, "x.mp4", quality="low")`` is what
``explainer render forward --engine manim`` calls. The scene renders into a temporary media
folder under ``tempconfig`` (nothing is left in ``media/``), and the finished file is moved
onto ``out`` atomically.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from explainer.errors import ExplainerError
from explainer.extras import require
from explainer.io import atomic_write
from explainer.tracing.trace import Trace

# kind -> (module in explainer.scenes, scene class)
SCENES = {
    "forward": ("forward_pass", "ForwardPassScene"),
    "convolution": ("convolution", "ConvolutionScene"),
    "dataflow": ("data_flow", "DataFlowScene"),
    "comparison": ("comparison", "ArchitectureComparisonScene"),
}
QUALITIES = {
    "low": "low_quality",  # 854×480, 15 fps
    "medium": "medium_quality",  # 1280×720, 30 fps
    "high": "high_quality",  # 1920×1080, 60 fps
}
FORMATS = (".mp4", ".gif")


def scene_class(kind: str) -> type:
    """The Manim scene class for ``kind`` (one of :data:`SCENES`)."""
    if kind not in SCENES:
        raise ExplainerError(f"no Manim scene {kind!r}; choose one of: {', '.join(SCENES)}")
    module_name, class_name = SCENES[kind]
    try:
        module = importlib.import_module(f"explainer.scenes.{module_name}")
    except ModuleNotFoundError as exc:
        raise ExplainerError(
            f"cannot load the Manim scenes ({exc}); reinstall mnist-explainer"
        ) from None
    return getattr(module, class_name)


def render_manim(
    kind: str,
    trace: Trace | Sequence[Trace] | None,
    out: str | os.PathLike,
    quality: str = "low",
    fps: int | None = None,
    resolution: tuple[int, int] | None = None,
    pace: str | None = None,
) -> Path:
    """Render scene ``kind`` of ``trace`` to ``out`` (``.mp4`` or ``.gif``) and return its path.

    ``trace`` may be ``None`` (the scene's default: a bundled digit through the shipped model)
    and, for ``"comparison"``, a pair of Traces. ``quality`` is low (854×480, 15 fps), medium
    (1280×720, 30 fps) or high (1920×1080, 60 fps); ``fps`` and ``resolution`` (width, height)
    override it. ``pace`` is ``"class"`` (each caption held long enough to read it out loud;
    the default, or ``EXPLAINER_PACE``) or ``"readme"`` (a short loop).

    Example (a low-quality video of the default digit; takes a minute)::

        from explainer import render_manim

        render_manim("convolution", None, "convolution.mp4", quality="low", pace="readme")
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ExplainerError(f"cannot write {out.name}: Manim renders .mp4 or .gif")
    if quality not in QUALITIES:
        raise ExplainerError(f"unknown quality {quality!r}; choose one of: {', '.join(QUALITIES)}")
    require("manim", "render_manim")
    cls = scene_class(kind)
    kwargs = _scene_kwargs(kind, trace)
    from explainer.scenes.common import pace_name

    kwargs["pace"] = pace_name(pace)  # a one-line error before anything renders

    from manim import config, tempconfig

    with tempfile.TemporaryDirectory(prefix="explainer-manim-") as media:
        options = {
            "quality": QUALITIES[quality],
            "media_dir": media,
            "format": "mp4",  # a GIF is made from it with an adaptive palette (see below)
            "output_file": "scene",
            "disable_caching": True,
            "progress_bar": "none",
            "verbosity": "WARNING",
            "write_to_movie": True,
            "save_last_frame": False,
            "preview": False,
            **encoding_options(config),
        }
        if fps:
            options["frame_rate"] = fps
        if resolution:
            options["pixel_width"], options["pixel_height"] = resolution
        with tempconfig(options):
            scene = cls(**kwargs)
            scene.render()
            produced = Path(scene.renderer.file_writer.movie_file_path)
            frame_rate = float(scene.camera.frame_rate)
        if not produced.is_file():
            raise ExplainerError(f"Manim did not write a video for {kind!r} (see its log above)")
        if out.suffix.lower() == ".gif":
            # Manim's own GIFs use a fixed 8-bit colour cube with dithering, which turns the
            # dark background into noise; Pillow picks a palette per frame instead.
            return mp4_to_gif(produced, out, width=None, fps=round(frame_rate))
        with atomic_write(out) as tmp:
            shutil.copyfile(produced, tmp)
    return out


def encoding_options(config: Any) -> dict[str, Any]:
    """The Manim settings :func:`render_manim` adds to ``config`` (Manim's configuration):
    each animation's clip is encoded while the next one is drawn (at least two clips in
    flight), so drawing does not wait for the encoder, and x264 uses its veryfast preset
    unless the configuration names one (the same quality at CRF 23, a file about 3% larger,
    a seventh less CPU). Empty for a Manim without these settings."""
    if "max_inflight_encoders" not in config or "video_encoder_options" not in config:
        return {}
    options = {"preset": "veryfast", **config["video_encoder_options"]}
    return {
        "max_inflight_encoders": max(2, config["max_inflight_encoders"]),
        "video_encoder_options": options,
    }


def _scene_kwargs(kind: str, trace: Trace | Sequence[Trace] | None) -> dict:
    if trace is None:
        return {}
    if isinstance(trace, Trace):
        return {"trace": trace}
    traces = list(trace)
    if kind == "comparison" and len(traces) == 2:
        return {"trace": traces[0], "trace_b": traces[1]}
    if len(traces) == 1:
        return {"trace": traces[0]}
    raise ExplainerError(
        f"the {kind} scene draws one trace ({len(traces)} given); comparison takes two"
    )


def mp4_to_gif(
    video: str | os.PathLike, out: str | os.PathLike, width: int = 480, fps: int = 6
) -> Path:
    """A light README copy of a rendered video: every frame at ``fps`` frames per second,
    ``width`` pixels wide, looping, written atomically."""
    import imageio.v3 as iio
    from PIL import Image

    meta = iio.immeta(video, plugin="pyav")
    step = max(1, round(float(meta.get("fps", 15)) / fps))
    frames = []
    for i, frame in enumerate(iio.imiter(video, plugin="pyav")):
        if i % step == 0:
            img = Image.fromarray(frame[..., :3])
            if width and width != img.width:
                img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
            frames.append(img)
    if not frames:
        raise ExplainerError(f"{video} has no frames")
    # One palette for the whole GIF (from a collage of frames across the video): unchanged
    # pixels then stay byte-identical, so each frame stores only the rectangle that changed.
    picks = frames[:: max(1, len(frames) // 12)][:12]
    collage = Image.new("RGB", (frames[0].width, frames[0].height * len(picks)))
    for k, img in enumerate(picks):
        collage.paste(img, (0, k * img.height))
    palette = collage.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    indexed = [img.quantize(palette=palette, dither=Image.Dither.NONE) for img in frames]
    out = Path(out)
    with atomic_write(out) as tmp:
        indexed[0].save(
            tmp, save_all=True, append_images=indexed[1:], duration=round(1000 / fps), loop=0
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m explainer.scenes.render [KIND ...] --out animations``: the gallery videos."""
    parser = argparse.ArgumentParser(
        prog="python -m explainer.scenes.render",
        description="Render the Manim scenes of the default Trace (EXPLAINER_TRACE, else a "
        "bundled digit through the shipped model) to MP4, plus a small GIF of each.",
    )
    parser.add_argument("kinds", nargs="*", help=f"scenes to render (default: {' '.join(SCENES)})")
    parser.add_argument("--out", default="animations", help="folder (default: animations)")
    parser.add_argument("--quality", default="low", choices=list(QUALITIES))
    parser.add_argument("--gif-width", type=int, default=440)
    parser.add_argument("--gif-fps", type=int, default=4)
    parser.add_argument(
        "--pace",
        default="class",
        choices=["class", "readme"],
        help="class: each caption held long enough to read it out loud (default); "
        "readme: a short loop",
    )
    args = parser.parse_args(argv)
    try:
        for kind in args.kinds or list(SCENES):
            video = render_manim(
                kind,
                None,
                Path(args.out) / f"manim_{kind}.mp4",
                quality=args.quality,
                pace=args.pace,
            )
            gif = mp4_to_gif(video, video.with_suffix(".gif"), args.gif_width, args.gif_fps)
            print(f"wrote {video} and {gif}", flush=True)
    except ExplainerError as exc:
        print(f"explainer: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
