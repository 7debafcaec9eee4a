"""Does the flow stream look at what moves? Relevance on moving pixels, on fresh order clips.

    python benchmarks/motion_flow.py [--n 100] [--seed 5]

Clips: `n` fresh procedural clips of `seed` (5: not a seed training, evaluation or the ground-truth
scores use; see xai_core/models/train.py), of which the order clips (walk_left, walk_right,
sit_down, stand_up: classes that differ only in the order of frames) are scored. Each method
explains the clip's true class.

- two_stream's flow stream (xai_core.motion.streams.explain_flow_stream) with grad_cam, saliency
  and integrated_gradients: the share of its positive relevance on flow fields moving above
  THRESHOLD px/frame (xai_core.motion.moving.moving_share on the flow the stream saw)
- for reference, every bundled model's Grad-CAM on the RGB clip (for two_stream: its RGB stream),
  scored on the per-frame motion (frame_motion of the clip's DIS flow), and a uniform map (the
  moving voxels' share of the clip: what a map blind to motion would score)

Bar: the best flow-stream method puts >= 0.8 of its relevance on moving pixels, on average.
Writes the "motion-flow" section of docs/ground_truth.md.
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
from xai_core.data.synthetic import CLASSES, make_dataset  # noqa: E402
from xai_core.methods import run_method  # noqa: E402
from xai_core.models.loader import load_model  # noqa: E402
from xai_core.models.registry import bundled_names  # noqa: E402
from xai_core.models.train import batches  # noqa: E402
from xai_core.motion.flow import dis_flow  # noqa: E402
from xai_core.motion.moving import RULE, moving_share  # noqa: E402
from xai_core.motion.streams import explain_flow_stream  # noqa: E402

ORDER = ("walk_left", "walk_right", "sit_down", "stand_up")
FLOW_METHODS = ("grad_cam", "saliency", "integrated_gradients", "occlusion")
OPTIONS = {"occlusion": {"window": (3, 8, 8), "stride": (3, 8, 8)}}      # windows of 3 fields x 8 x 8 px
BAR = 0.8


def summary(shares: list[float], seconds: float) -> dict:
    s = np.array(shares, np.float64)
    ok = s[np.isfinite(s)]
    return {"mean": float(ok.mean()) if ok.size else float("nan"), "at_bar": float((ok >= BAR).mean()),
            "undefined": int((~np.isfinite(s)).sum()), "n": len(s), "ms": 1000 * seconds / max(1, len(s))}


def row(model: str, stream: str, method: str, r: dict) -> str:
    undefined = f" ({r['undefined']} with no positive relevance)" if r["undefined"] else ""
    return (f"| {model} | {stream} | {method} | {r['mean']:.2f} | {r['at_bar']:.0%}{undefined} | "
            f"{r['ms']:.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    torch.manual_seed(0)
    data = make_dataset(a.n, a.seed)
    order = np.isin(data.labels, [CLASSES.index(c) for c in ORDER])
    clips, labels = data.clips[order], data.labels[order]
    x_all = torch.cat([x for x, _ in batches(clips, labels, 50, np.random.default_rng(0), augment=False)])
    motion = [dis_flow(c) for c in clips]                                  # (T-1, H, W, 2) each
    rows, results = [], {}

    model = load_model("two_stream")
    per_class = {}
    for method in FLOW_METHODS:
        shares, t0 = [], time.perf_counter()
        for x, y in zip(x_all, labels):
            exp = explain_flow_stream(model, x, method, target=int(y), **OPTIONS.get(method, {}))
            shares.append(exp.moving_share())
        results[method] = summary(shares, time.perf_counter() - t0)
        per_class[method] = {c: float(np.nanmean([s for s, k in zip(shares, labels) if CLASSES[k] == c]))
                             for c in ORDER}
        rows.append(row("two_stream", "flow", method, results[method]))
        print(rows[-1], flush=True)

    for name in bundled_names():
        m = load_model(name)
        shares, t0 = [], time.perf_counter()
        for x, y, f in zip(x_all, labels, motion):
            rel = run_method("grad_cam", m, x[None], torch.tensor([int(y)]))[0]   # (T, H, W)
            shares.append(moving_share(rel, f))
        stream = "RGB stream" if name == "two_stream" else "RGB clip"
        rows.append(row(name, stream, "grad_cam", summary(shares, time.perf_counter() - t0)))
        print(rows[-1], flush=True)
    uniform = summary([moving_share(np.ones(c.shape[:3], np.float32), f) for c, f in zip(clips, motion)], 0.0)
    uniform_flow = summary([moving_share(np.ones(f.shape[:3], np.float32), np.hypot(f[..., 0], f[..., 1]))
                            for f in motion], 0.0)
    best = max(FLOW_METHODS, key=lambda k: results[k]["mean"])
    verdict = "meets" if results[best]["mean"] >= BAR else "misses"
    body = "\n".join([
        "## Motion: does the flow stream look at what moves?", "",
        f"`python benchmarks/motion_flow.py` on {datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}: the {len(clips)} order clips ({', '.join(ORDER)}) of {a.n} fresh "
        f"clips (seed {a.seed}, never used in training or the scores above), each method explaining "
        "the true class. Moving share: the share of positive relevance on moving voxels "
        f"({RULE}; `xai_core.motion.moving`, the rule chosen in \"What counts as a moving pixel\"; the "
        "flow stream's relevance lies on the T-1 flow fields and is scored on their steady motion, an RGB "
        "map on the T frames on the larger of the fields into and out of each frame).", "",
        f"A uniform map scores {uniform['mean']:.2f} on the frames ({uniform_flow['mean']:.2f} on the "
        "flow fields): the moving voxels' share of the clip.", "",
        f"The flow stream starts with a noise floor on steady motion (`FlowStream.steady`, `shrink`): each "
        f"flow vector is averaged with its neighbours over {model.net.flow.window} fields and that steady "
        f"vector's length shrunk by {model.net.flow.floor:g} px/frame, the moving-pixel rule itself. So the "
        "stream sees only flow the rule calls moving, and gradient relevance is exactly 0 on a field whose "
        "steady motion, and its neighbours' (the average reaches them), is below the rule: what the share "
        "tests for gradient methods is how much relevance sits on the still fields next to moving ones. "
        "Grad-CAM (a coarse layer upsampled) and occlusion (windows of 3 fields x 8 x 8 px, which also cover "
        "still pixels) are not constrained that way. Before (measured 2026-12-01, same architecture): trained "
        "on raw DIS flow, the stream spread its relevance over the background noise (integrated gradients "
        "0.51, saliency 0.20, Grad-CAM 0.27); with a floor of 0.6 px/frame on each raw field, noise above "
        "it in one field survived (integrated gradients 0.77, saliency 0.47, Grad-CAM 0.39).", "",
        f"| model | input | method | moving share (mean) | clips >= {BAR} | ms / clip |",
        "|---|---|---|---:|---:|---:|", *rows, "",
        "The flow stream's moving share per class (mean):", "",
        "| method | " + " | ".join(ORDER) + " |", "|---|" + "---:|" * len(ORDER),
        *[f"| {m} | " + " | ".join(f"{per_class[m][c]:.2f}" for c in ORDER) + " |" for m in FLOW_METHODS], "",
        f"Best on the flow stream: **{best}**, {results[best]['mean']:.2f} on average, "
        f"{results[best]['at_bar']:.0%} of the clips at {BAR} or more: it {verdict} the bar of {BAR}.", ""])
    print(body)
    write_section(ROOT / "docs" / "ground_truth.md", body, key="motion-flow")


if __name__ == "__main__":
    main()
