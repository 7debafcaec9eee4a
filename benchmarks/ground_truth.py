"""Ground-truth scores of every method x bundled model on fresh procedural clips.

    python benchmarks/ground_truth.py [--n 100] [--models c3d_small ...] [--methods grad_cam ...]

For each clip the method explains the TRUE class; the score asks whether the relevance sits in the
clip's evidence mask (the voxels that decide the class):
- pointing: the most relevant voxel lies in the mask (grown in space by the usual 15 px at 224 px,
  scaled to the frame: 4 px at 64 px); n/a where the map does not point at a place (its peak
  frame is constant, as every temporal occlusion map is): such clips are left out of the rate
- energy: share of positive relevance inside the mask (a uniform map scores the mask's volume share)
- when: the frame with the most positive relevance holds evidence
Writes docs/ground_truth.md (between markers) and prints the table.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402
from xai_core.data.synthetic import make_dataset  # noqa: E402
from xai_core.methods.registry import list_methods, run_method  # noqa: E402
from xai_core.metrics.ground_truth import (energy_inside, pointing_hit, pointing_rate,  # noqa: E402
                                          pointing_tolerance, temporal_hit)
from xai_core.models.loader import load_model  # noqa: E402
from xai_core.models.registry import bundled_names  # noqa: E402
from xai_core.models.train import GT_SEED, batches  # noqa: E402


def score(model, method: str, data, batch: int) -> dict:
    hits, energy, when, seconds = [], [], [], 0.0
    for start, (x, y) in zip(range(0, len(data.labels), batch),
                             batches(data.clips, data.labels, batch, np.random.default_rng(0), augment=False)):
        device = next(model.parameters()).device
        t0 = time.perf_counter()
        rel = run_method(method, model, x.to(device), y.to(device)).detach().cpu().numpy()  # (n, T, H, W)
        seconds += time.perf_counter() - t0
        for r, m in zip(rel, data.masks[start:start + len(y)]):
            hits.append(pointing_hit(r, m))
            energy.append(energy_inside(r, m))
            when.append(temporal_hit(r, m))
    kinds = list(data.kinds)
    out = {"pointing": pointing_rate(hits), "energy": np.mean(energy), "when": np.mean(when),
           "ms_per_clip": 1000 * seconds / len(data.labels)}
    for kind in ("motion", "appearance"):
        out[f"pointing_{kind}"] = pointing_rate([h for h, k in zip(hits, kinds) if k == kind])
    return out


def pct(v) -> str:
    """A rate as a percentage, or "n/a" where it does not apply."""
    return "n/a" if v is None else f"{v:.0%}"


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--models", nargs="*", default=bundled_names())
    ap.add_argument("--methods", nargs="*", default=[m.name for m in list_methods()])
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "docs" / "ground_truth.md"))
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the scores do not depend on it)")
    a = ap.parse_args()
    torch.manual_seed(0)
    data = make_dataset(a.n, GT_SEED)
    uniform = float(np.mean([m.mean() for m in data.masks]))
    rows = []
    for name in a.models:
        model = load_model(name, device=a.device)
        for method in a.methods:
            s = score(model, method, data, a.batch)
            rows.append((name, method, s))
            print(f"{name:<16} {method:<22} pointing {pct(s['pointing'])}  energy {s['energy']:.0%}  "
                  f"when {s['when']:.0%}  {s['ms_per_clip']:.0f} ms/clip", flush=True)
    table = ["| model | method | pointing game | · motion | · appearance | energy in mask | peak frame in evidence | ms / clip |",
             "|---|---|---|---|---|---|---|---|"]
    for name, method, s in rows:
        table.append(f"| {name} | {method} | {pct(s['pointing'])} | {pct(s['pointing_motion'])} | "
                     f"{pct(s['pointing_appearance'])} | {s['energy']:.0%} | {s['when']:.0%} | "
                     f"{s['ms_per_clip']:.0f} |")
    body = "\n".join([
        f"Measured {datetime.date.today()} on {a.n} fresh clips (seed {GT_SEED}, never used in training), "
        f"{device_name(a.device)}, torch {torch.__version__}. "
        "Each method explains the true class at its default options.", "",
        f"A uniform map would put {uniform:.1%} of its energy in the mask (the evidence's share of the clip);"
        f" the pointing game grows the mask by {pointing_tolerance(data.masks.shape[2])} px in space (the usual"
        " 15 px at 224 px, scaled to the frame); it is n/a for a map that does not point at a place"
        " (temporal occlusion's maps are constant within each frame), and such clips are left out"
        " of a rate.", "", *table, ""])
    write_section(Path(a.out), body, "ground-truth", HEADER)


HEADER = """# Ground truth: is the relevance where the evidence is?

Written by `python benchmarks/ground_truth.py`. The procedural data set knows, for every clip,
which voxels decide its class (the evidence mask) and whether that evidence is motion or
appearance; these scores check each method against it.
"""

if __name__ == "__main__":
    main()
