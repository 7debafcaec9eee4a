"""How long influence examples take: building the index once, then a query.

    python benchmarks/bench_influence.py [--build c3d_small] [--models c3d_small,...] [--queries 10]

Build: `--build` model's index over its whole training set (6,000 clips), made from scratch in a
temporary cache folder: regenerating the clips, one forward pass each, the loss gradients at
every checkpoint (xai_core.influence.index.build_index), and writing the file.
Query: for each of `--models` (indexes from the user cache, built there first if missing), the
median over `--queries` fresh clips (seed 4) of influence(model, clip, top=8):
- cold: the index read from disk (the in-memory copy dropped first), as in a new process
- warm: the index already in memory (a second query in the same process)
and, of the warm time, the model's forward pass alone. Target: a query over 5,000 reference
clips within 1 s on the 2-core CPU once the index exists.
Writes the "influence" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402
from xai_core.influence import find_checkpoints, influence, reference_for  # noqa: E402
from xai_core.influence import index as index_module  # noqa: E402
from xai_core.influence.head import forward_head  # noqa: E402
from xai_core.influence.reference import training_clip  # noqa: E402
from xai_core.models.loader import load_model  # noqa: E402
from xai_core.video.clip import from_frames, to_tensor  # noqa: E402

MODELS = ("c3d_small", "r2plus1d_small", "frame2d_pool", "cnn_lstm", "two_stream")


def build(name: str) -> dict:
    model = load_model(name)
    ref = reference_for(model, None, find_checkpoints(model))
    clip = from_frames(training_clip(4, 0)[0], model.spec)
    with tempfile.TemporaryDirectory(prefix="bench-influence-") as tmp:
        t0 = time.perf_counter()
        r = influence(model, clip, ref, cache_dir=tmp)
        seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).glob("*.safetensors"))
    assert r.index["built"]
    print(f"{name}: index over {len(ref)} clips built in {seconds:.0f} s ({size / 2**20:.1f} MiB)", flush=True)
    return {"n": len(ref), "seconds": seconds, "mib": size / 2 ** 20}


def queries(name: str, n: int) -> dict:
    model = load_model(name)
    ref = reference_for(model, None, find_checkpoints(model))
    clips = [from_frames(training_clip(4, i)[0], model.spec) for i in range(n)]
    first = influence(model, clips[0], ref)            # builds the index if the cache has none
    cold, warm, forward = [], [], []
    for clip in clips:
        index_module._MEMORY.clear()
        t0 = time.perf_counter()
        influence(model, clip, ref)
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        influence(model, clip, ref)
        warm.append(time.perf_counter() - t0)
        video = to_tensor(clip.frames, model.spec).unsqueeze(0)
        t0 = time.perf_counter()
        forward_head(model, video, first.layer)
        forward.append(time.perf_counter() - t0)
    out = {"n": len(ref), "cold": float(np.median(cold)), "warm": float(np.median(warm)),
           "forward": float(np.median(forward)), "built_now": first.index["built"]}
    print(f"{name}: query over {len(ref)} clips: cold {out['cold'] * 1000:.0f} ms, warm {out['warm'] * 1000:.0f} ms "
          f"(forward {out['forward'] * 1000:.0f} ms)", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="c3d_small", help="model whose index is built from scratch ('' for none)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    built = {a.build: build(a.build)} if a.build else {}
    rows = {name: queries(name, a.queries) for name in a.models.split(",") if name}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Influence examples", "",
        f"`python benchmarks/bench_influence.py` on {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{a.threads} threads, load average {load:.1f} (the cores are shared with other jobs). Target: a "
        "query over 5,000 reference clips within 1 s once the index exists.", ""]
    for name, b in built.items():
        lines += [f"Building {name}'s index over its {b['n']:,} training clips from scratch (regenerating "
                  f"each clip, one forward pass, the loss gradients at every checkpoint): {b['seconds']:.0f} s "
                  f"({1000 * b['seconds'] / b['n']:.0f} ms per clip), a {b['mib']:.1f} MiB file. It is built "
                  "once per model, weights and reference set, with a progress bar, and cached.", ""]
    lines += [f"A query (`influence(model, clip, top=8)`, median of {a.queries} fresh clips): cold reads the "
              "index from disk, warm finds it in memory; the forward pass is part of both.", "",
              "| model | reference clips | cold query, ms | warm query, ms | of which the forward pass, ms |",
              "|---|---:|---:|---:|---:|"]
    for name, q in rows.items():
        lines.append(f"| {name} | {q['n']:,} | {q['cold'] * 1000:.0f} | {q['warm'] * 1000:.0f} | "
                     f"{q['forward'] * 1000:.0f} |")
    lines.append("")
    body = "\n".join(lines)
    print(body)
    write_section(ROOT / "docs" / "benchmarks.md", body, key="influence")


if __name__ == "__main__":
    main()
