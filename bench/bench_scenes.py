"""Speed of the Manim scenes: wall-clock render seconds per second of video.

Goal (issue 20): at low quality (``-ql``: 854×480, 15 fps) every scene renders in at most half
its video's length (ratio ≤ 0.5); at high quality (1920×1080, 60 fps) within 3× real time
(issue 6). The load average is printed with every scene.

    .venv/bin/python bench/bench_scenes.py              # low quality, every scene
    .venv/bin/python bench/bench_scenes.py --high       # also high quality (slow)
    .venv/bin/python bench/bench_scenes.py --scenes forward convolution
    .venv/bin/python bench/bench_scenes.py --pace class readme   # both paces

Each scene draws the default Trace (a bundled digit through the shipped model); the ratio
includes building the scene, rendering every frame and encoding the MP4, not Python start-up.
Exit status 1 when a scene misses its goal.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"low": 0.5, "medium": 2.0, "high": 3.0}


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def video_seconds(path: Path) -> float:
    import imageio.v3 as iio

    meta = iio.immeta(path, plugin="pyav")
    return float(meta["duration"])


def camera_speedup(width: int = 1920, height: int = 1080, repeats: int = 5) -> tuple[float, float]:
    """Seconds per frame of Manim's camera and of ``FastImageCamera`` drawing one typical
    forward-pass view (3 stacks of 8 feature maps and 12 labels) at ``width``×``height``."""
    import numpy as np
    from manim import DOWN, RIGHT, MovingCamera, tempconfig

    from explainer.scenes.common import FastImageCamera
    from explainer.scenes.mobjects import FeatureMapStack, label

    rng = np.random.default_rng(0)
    times = []
    with tempconfig({"pixel_width": width, "pixel_height": height}):
        mobs = [
            FeatureMapStack(rng.random((16, s, s)), map_height=0.65, title=f"layer {i}").shift(
                RIGHT * (4 * i - 4)
            )
            for i, s in enumerate((28, 14, 7))
        ]
        mobs += [label(f"caption number {i}").shift(DOWN * 3 + RIGHT * (i - 6)) for i in range(12)]
        for cls in (MovingCamera, FastImageCamera):
            cam = cls()
            t0 = time.perf_counter()
            for _ in range(repeats):
                cam.reset()
                cam.capture_mobjects(mobs)
            times.append((time.perf_counter() - t0) / repeats)
    return times[0], times[1]


def main(argv: list[str] | None = None) -> int:
    from explainer.scenes.inputs import default_trace
    from explainer.scenes.render import SCENES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    parser.add_argument("--high", action="store_true", help="also measure high quality")
    parser.add_argument("--camera-only", action="store_true", help="only the camera comparison")
    parser.add_argument(
        "--pace",
        nargs="+",
        default=["readme"],
        choices=["class", "readme"],
        help="readme (default): short holds, so the ratio is about drawing, not still frames; "
        "class: the default of `explainer render`, each caption held to be read out loud",
    )
    args = parser.parse_args(argv)

    for w, h in ((854, 480), (1920, 1080)):
        stock, fast = camera_speedup(w, h)
        print(
            f"one frame of 24 maps + 12 labels at {w}×{h}: Manim camera {1000 * stock:.0f} ms, "
            f"FastImageCamera {1000 * fast:.0f} ms ({stock / fast:.1f}× faster)",
            flush=True,
        )
    if args.camera_only:
        return 0
    qualities = ["low", "high"] if args.high else ["low"]

    trace = default_trace()
    print(f"model {trace.checkpoint}, {trace.source}")
    print(
        f"{'scene':<12} {'quality':<8} {'pace':<7} {'video s':>8} {'wall s':>8} {'ratio':>6}  "
        "goal        load (1, 5, 15 min) before"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for quality in qualities:
            for pace in args.pace:
                for kind in args.scenes:
                    ok &= measure(kind, trace, Path(tmp), quality, pace)
    print(f"load after: {load()}")
    print("all scenes within goal" if ok else "some scenes missed the goal (see above)")
    return 0 if ok else 1


def measure(kind: str, trace, tmp: Path, quality: str, pace: str) -> bool:
    """Render one scene, print its line; whether it met its goal."""
    from explainer.scenes.render import render_manim

    out = tmp / f"{kind}_{quality}_{pace}.mp4"
    before = load()
    t0 = time.perf_counter()
    render_manim(kind, trace, out, quality=quality, pace=pace)
    wall = time.perf_counter() - t0
    video = video_seconds(out)
    ratio = wall / video
    good = ratio <= GOALS[quality]
    print(
        f"{kind:<12} {quality:<8} {pace:<7} {video:8.1f} {wall:8.1f} {ratio:6.2f}  "
        f"≤ {GOALS[quality]:<4g} {'ok' if good else 'MISSED':<6} {before}",
        flush=True,
    )
    return good


if __name__ == "__main__":
    sys.exit(main())
