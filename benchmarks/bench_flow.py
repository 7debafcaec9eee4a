"""How fast and how exact the optical flow is: DIS per frame pair at 64² and 112², 1 and 2 threads.

    python benchmarks/bench_flow.py [--clips 8] [--repeats 5]

Speed: procedural clips (16 frames) made at each size, dis_flow without the cache, the median
over `repeats` runs of the milliseconds per frame pair; cv2.setNumThreads sets OpenCV's threads.
Error: a smooth texture shifted by known sub-pixel amounts, the median flow over the interior
against the shift (the same measure as tests/test_flow.py), for each DIS preset.
Writes the "Optical flow" section of docs/benchmarks.md.
"""
import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402
from xai_core.data.synthetic import make_dataset  # noqa: E402
from xai_core.motion import flow as flowmod  # noqa: E402
from xai_core.motion.flow import dis_flow, finest_scale  # noqa: E402

SIZES = (64, 112)
SHIFTS = ((1.5, -0.75), (3.0, 2.0), (0.3, 0.2), (-2.25, 0.5))


def texture(size: int, shift, seed: int = 1) -> np.ndarray:
    """tests/test_flow.texture: plane waves sampled at x - dx, y - dy (exact sub-pixel shifts)."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(-0.08, 0.08, (40, 2))
    phase, amp = rng.uniform(0, 2 * np.pi, 40), rng.uniform(0.5, 1.0, 40)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = x - shift[0], y - shift[1]
    img = sum(a * np.cos(2 * np.pi * (f[0] * x + f[1] * y) + p) for f, p, a in zip(freq, phase, amp))
    img /= np.sqrt((amp ** 2).sum() / 2)
    return np.clip(128 + 40 * img, 0, 255).round().astype(np.uint8)


def ms_per_pair(clips: np.ndarray, preset: str, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in clips:
            dis_flow(c, preset=preset, cache=False)
        runs.append((time.perf_counter() - t0) * 1000 / (len(clips) * (clips.shape[1] - 1)))
    return float(np.median(runs))


def translation_error(size: int, preset: str) -> float:
    worst = 0.0
    for s in SHIFTS:
        clip = np.stack([texture(size, (k * s[0], k * s[1])) for k in range(2)])
        flow = dis_flow(clip, preset=preset, cache=False)[0, 8:-8, 8:-8].reshape(-1, 2)
        worst = max(worst, float(np.abs(np.median(flow, 0) - s).max()))
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    clips = {s: make_dataset(a.clips, seed=0, size=s).clips for s in SIZES}
    rows = []
    for preset in flowmod.PRESETS:
        for size in SIZES:
            times = []
            for threads in (1, 2):
                cv2.setNumThreads(threads)
                times.append(ms_per_pair(clips[size], preset, a.repeats))
            rows.append(f"| {preset}{' (default)' if preset == flowmod.PRESET else ''} | {size}² | "
                        f"{finest_scale(size, size)} | {times[0]:.2f} | {times[1]:.2f} | "
                        f"{translation_error(size, preset):.3f} |")
    cv2.setNumThreads(-1)
    clip = clips[64][0]
    dis_flow(clip)
    t0 = time.perf_counter()
    for _ in range(100):
        dis_flow(clip)
    hit_us = (time.perf_counter() - t0) * 1e4
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = "\n".join([
        "## Optical flow", "",
        f"`python benchmarks/bench_flow.py` on {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OpenCV {cv2.__version__}, "
        f"load average {load:.1f}: DIS (`xai_core.motion.flow.dis_flow`) on {a.clips} procedural clips "
        f"of 16 frames per size, milliseconds per frame pair (the median of {a.repeats} runs), and "
        "the worst error of the median flow over the interior on a texture shifted by "
        f"{', '.join(str(s) for s in SHIFTS)} px. Target: at most 1 ms per pair at 112².", "",
        "| preset | size | finest scale | ms / pair, 1 thread | 2 threads | translation error, px |",
        "|---|---:|---:|---:|---:|---:|", *rows, "",
        f"A cached clip (16 frames, 64²) comes back in {hit_us:.0f} µs (hashing its bytes). The "
        "default preset is the fastest of the three and about as exact.", ""])
    print(body)
    write_section(ROOT / "docs" / "benchmarks.md", body, key="flow")


if __name__ == "__main__":
    main()
