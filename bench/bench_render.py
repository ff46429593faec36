"""How fast is the ``forward`` animation, and how small is its GIF? Ratios measured in one run.

Goals (issue 5), at 800×450 on the machine's cores:
- ours renders at >= 100 frames/s end to end (build the frames + write the GIF);
- ours is >= 5x the frames/s of matplotlib's ``FuncAnimation.save`` with ``PillowWriter``;
- our GIF is <= 1/3 the size of PillowWriter's GIF.

The baseline is the usual way to make such a GIF: one figure with an ``imshow`` axes per
channel (as many as the widest layer has), the input digit and the softmax bars; every frame
updates the panels' data, colour maps and title following our animation's own frame schedule
(the same layer-by-layer reveal, frame count, fps and size), and ``PillowWriter`` writes it.
Both runs start after a warm-up, in the same process.

Usage: ``python bench/bench_render.py [--checkpoint mnist_bn_cnn] [--fps 15] [--seconds 12]``
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")


def pick_trace(name: str | None):
    """A Trace of the first bundled test digit through the best shipped checkpoint available."""
    from explainer.data import load_sample
    from explainer.errors import ExplainerError
    from explainer.nets.checkpoints import load_checkpoint, models_dir
    from explainer.tracing.capture import capture_checkpoint

    names = (
        [name] if name else ["mnist_bn_cnn", "mnist_cnn3_fc3", "mnist_tinyvgg", "mnist_fast_cnn"]
    )
    for n in names:
        path = models_dir() / f"{n}.pt"
        try:
            ck = load_checkpoint(path)
        except ExplainerError as exc:
            print(f"  (skipping {n}: {exc})")
            continue
        s = load_sample(ck.dataset)
        image = s.images[0].numpy().astype(np.float32) / 255.0
        return capture_checkpoint(ck, image, label=int(s.labels[0]), source="test digit")
    raise SystemExit("no usable checkpoint in models/ (make models)")


def ours(trace, path: Path, fps: float, seconds: float) -> tuple[float, int]:
    from explainer.animate import render_animation

    t = time.perf_counter()
    render_animation("forward", trace, path, fps=fps, seconds=seconds, size=(800, 450))
    return time.perf_counter() - t, round(fps * seconds)


def baseline(trace, path: Path, fps: float, seconds: float) -> tuple[float, int]:
    """FuncAnimation + PillowWriter replaying our frame schedule: the same panels (one
    ``imshow`` per channel), the same reveal, the same bars, frame for frame."""
    from matplotlib import animation
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from explainer.animate import build_animation
    from explainer.animate.canvas import as_tiles

    reel = build_animation("forward", trace, fps=fps, seconds=seconds, size=(800, 450))
    stages, schedule = reel.meta["stages"], reel.meta["schedule"]
    panels = max(st.values.shape[0] if st.spatial else 1 for st in stages)
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax_in = fig.add_axes([0.02, 0.45, 0.14, 0.3])
    ax_in.imshow(trace.image, cmap="gray", vmin=0, vmax=1)
    ax_in.set_title("input", fontsize=9)
    ax_in.axis("off")
    cols = int(np.ceil(np.sqrt(panels * 1.4)))
    rows = int(np.ceil(panels / cols))
    w, h = 0.56 / cols, 0.72 / rows
    grid = []
    for i in range(panels):
        r, c = divmod(i, cols)
        ax = fig.add_axes([0.2 + c * w, 0.82 - (r + 1) * h, w * 0.92, h * 0.92])
        ax.axis("off")
        grid.append(ax.imshow(np.zeros((2, 2)), vmin=0, vmax=1, interpolation="nearest"))
    title = fig.text(0.2, 0.93, "", fontsize=10, weight="bold")
    ax_bar = fig.add_axes([0.83, 0.15, 0.15, 0.7])
    bars = ax_bar.barh(range(len(trace.probs)), np.zeros(len(trace.probs)), color="0.5")
    ax_bar.set_xlim(0, 1)
    ax_bar.set_ylim(len(trace.probs) - 0.5, -0.5)
    ax_bar.set_yticks(range(len(trace.probs)))

    def update(i: int):
        k, revealed, total = schedule[i]
        if 0 <= k < len(stages):
            st = stages[k]
            title.set_text(f"{st.name}: {'×'.join(map(str, st.values.shape))}")
            maps = st.values if st.spatial else as_tiles(st.values)[None]
            n = len(maps) if st.spatial else 1
            show = revealed if st.spatial else int(revealed >= 1)
            for j, im in enumerate(grid):
                im.set_visible(j < show)
                if j < show:
                    im.set_data(maps[j])
                    im.set_cmap(st.scale.cmap)
                    im.set_clim(st.scale.vmin, st.scale.vmax)
            del n
        elif k == len(stages):
            for b, p in zip(bars, trace.probs, strict=True):
                b.set_width(float(p) * revealed / max(1, total))
        return [*grid, title, *bars]

    anim = animation.FuncAnimation(fig, update, frames=reel.n_frames, blit=False)
    t = time.perf_counter()
    anim.save(str(path), writer=animation.PillowWriter(fps=fps))
    return time.perf_counter() - t, reel.n_frames


def same_pixels(trace, path: Path, fps: float, seconds: float) -> tuple[float, int]:
    """FuncAnimation + PillowWriter of our exact frames (one full-figure ``imshow``): identical
    pictures, so identical legibility; only the encoding differs."""
    from matplotlib import animation
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from explainer.animate import build_animation

    reel = build_animation("forward", trace, fps=fps, seconds=seconds, size=(800, 450))
    frames = [f.copy() for f in reel.frames()]
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    im = ax.imshow(frames[0], interpolation="nearest")

    def update(i: int):
        im.set_data(frames[i])
        return [im]

    anim = animation.FuncAnimation(fig, update, frames=len(frames), blit=False)
    t = time.perf_counter()
    anim.save(str(path), writer=animation.PillowWriter(fps=fps))
    return time.perf_counter() - t, len(frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="shipped model name (default: the best one available)")
    ap.add_argument("--fps", type=float, default=15)
    ap.add_argument("--seconds", type=float, default=12)
    args = ap.parse_args()
    print(f"bench_render: forward animation at 800x450, {os.cpu_count()} cores")
    trace = pick_trace(args.checkpoint)
    print(f"  trace: {trace.checkpoint} ({trace.architecture}), {len(trace.layers)} layers")
    with tempfile.TemporaryDirectory() as tmp:
        ours(trace, Path(tmp) / "warm.gif", args.fps, args.seconds)  # warm-up: imports, fonts
        t_ours, n = ours(trace, Path(tmp) / "ours.gif", args.fps, args.seconds)
        t_same, _ = same_pixels(trace, Path(tmp) / "same.gif", args.fps, args.seconds)
        t_base, _ = baseline(trace, Path(tmp) / "base.gif", args.fps, args.seconds)
        s_ours, s_same, s_base = (
            (Path(tmp) / f).stat().st_size for f in ("ours.gif", "same.gif", "base.gif")
        )
    fps_ours, fps_base, fps_same = n / t_ours, n / t_base, n / t_same
    rows = [
        ("ours", n, t_ours, s_ours),
        ("matplotlib, panel axes", n, t_base, s_base),
        ("matplotlib, our pixels", n, t_same, s_same),
    ]
    for name, frames, secs, size in rows:
        rate = frames / secs
        print(
            f"  {name:<24} {frames} frames in {secs:6.2f} s = {rate:5.1f} frames/s, "
            f"GIF {size / 1e6:.2f} MB"
        )
    print(f"  (size vs the panel-axes GIF, smaller panels and no labels: {s_ours / s_base:.2f})")
    goals = [
        (f"ours >= 100 frames/s: {fps_ours:.0f}", fps_ours >= 100),
        (f"speed vs panel axes >= 5x: {fps_ours / fps_base:.1f}x", fps_ours / fps_base >= 5),
        (f"speed vs our pixels >= 5x: {fps_ours / fps_same:.1f}x", fps_ours / fps_same >= 5),
        (f"size vs the same frames <= 1/3: {s_ours / s_same:.3f}", s_ours / s_same <= 1 / 3),
    ]
    for text, ok in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
