"""Bench: one photo of a digit, preprocessed and predicted, in at most 20 ms (median, CPU).

A 1280×960 JPEG "photo" (an MNIST test digit, dark ink on unevenly lit, noisy paper) goes
through ``Predictor.predict`` (decode, grey, invert, clean, crop, scale, centre, forward pass)
again and again on one CPU thread. Prints the median, the goal, and their ratio.

    .venv/bin/python bench/bench_predict.py [--model mnist_bn_cnn] [--repeats 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

GOAL_MS = 20.0


def make_photo(path: Path, width: int = 1280, height: int = 960) -> None:
    from explainer.data import load_sample

    digit = load_sample().images[7].numpy()
    size = int(height * 0.6)
    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.BICUBIC), np.float32) / 255
    ink = np.zeros((height, width), np.float32)
    ink[height // 5 : height // 5 + size, width // 3 : width // 3 + size] = big
    rng = np.random.default_rng(0)
    paper = 0.9 - 0.25 * np.linspace(0, 1, width)[None, :]
    gray = paper * (1 - ink) + 0.12 * ink + rng.normal(0, 0.03, (height, width))
    rgb = np.stack([gray, gray * 0.95, gray * 0.85], axis=-1)
    Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(path, quality=90)


def main() -> None:
    from explainer.nets.checkpoints import shipped_checkpoints
    from explainer.reading.predict import Predictor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: mnist_bn_cnn, else any shipped)")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [p.stem for p in shipped_checkpoints("mnist")]
    model = args.model or ("mnist_bn_cnn" if "mnist_bn_cnn" in names else names[0])
    predictor = Predictor(model)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        make_photo(photo)
        for _ in range(5):  # warm-up
            predictor.predict(photo)
        times, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.thread_time()
            pred = predictor.predict(photo)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
        pre_times = []
        from explainer.reading.preprocess import preprocess

        for _ in range(args.repeats):
            t0 = time.perf_counter()
            preprocess(photo)
            pre_times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    print(f"bench_predict: model {model}, 1280x960 JPEG photo, 1 thread, {args.repeats} runs")
    print(f"  predicted {pred.class_name} ({pred.confidence:.1%})")
    print(f"  preprocess only: median {statistics.median(pre_times):.1f} ms")
    print(
        f"  preprocess + predict: median {med:.1f} ms, p90 {np.percentile(times, 90):.1f} ms"
        f" (CPU time of this thread: median {statistics.median(cpu):.1f} ms; the wall time"
        f" grows when other processes share the cores, load average {os.getloadavg()[0]:.1f})"
    )
    cpu_med = statistics.median(cpu)
    print(
        f"  goal {GOAL_MS:.0f} ms: ratio median/goal = {med / GOAL_MS:.2f} wall clock, "
        f"{cpu_med / GOAL_MS:.2f} CPU time ({'met' if med <= GOAL_MS else 'MISSED'} in wall "
        f"clock, {'met' if cpu_med <= GOAL_MS else 'MISSED'} in CPU time)"
    )


def _cost_in_child(path: Path) -> tuple[float, float]:
    """Seconds and peak resident MB of ``preprocess(path)`` in a fresh Python process (Linux)."""
    import json
    import subprocess
    import sys

    code = (
        "import json, time; from explainer.reading.preprocess import preprocess; "
        f"t = time.perf_counter(); preprocess({str(path)!r}); t = time.perf_counter() - t; "
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]; "
        "print(json.dumps([t, int(hwm.split()[1]) / 1024]))"  # VmHWM: not inherited at exec
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def wide_pixels(size: int = 7000) -> None:
    """A 16-bit size×size PNG against the same picture in 8 bits: both must be shrunk before
    any work, so the ratios of time and memory should be close to 1 (before: ~12 s, ~1 GB)."""
    with tempfile.TemporaryDirectory() as tmp:
        a = np.full((size, size), 60000, np.uint16)
        a[size // 4 : 3 * size // 4, size // 2 - size // 20 : size // 2 + size // 20] = 3000
        p16, p8 = Path(tmp) / "wide16.png", Path(tmp) / "plain8.png"
        Image.fromarray(a).save(p16)
        Image.fromarray((a >> 8).astype(np.uint8)).save(p8)
        t16, m16 = _cost_in_child(p16)
        t8, m8 = _cost_in_child(p8)
    print(
        f"  {size}x{size} 16-bit PNG: {t16:.2f} s, peak {m16:.0f} MB; the same in 8 bits: "
        f"{t8:.2f} s, {m8:.0f} MB; ratios 16-bit/8-bit: time {t16 / t8:.2f}, memory "
        f"{m16 / m8:.2f} (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
    wide_pixels()
