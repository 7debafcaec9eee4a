"""Time every registered method against a forward pass, a forward + backward, and captum.

    python benchmarks/bench_methods.py                  # CPU, all bundled architectures
    python benchmarks/bench_methods.py --device cuda    # on a GPU
    python benchmarks/bench_methods.py --archs c3d_small --no-write
    python benchmarks/bench_methods.py --targets        # issue 11's speed targets, met or not

One clip (1, 3, 16, 64, 64), default options. Each figure is the median wall time of a few runs
(fewer for expensive methods) after one warm-up forward. A bundled model with trained weights
in assets/weights is loaded; otherwise it is randomly initialised (the table says which).
The table is printed and written into docs/benchmarks.md between the "bench:methods" markers.

--targets measures the speed targets instead (targets(): each a ratio of two calls timed in one
run, same model, input and device, with whether it is met) on c3d_small, a torchvision r3d_18
(random weights, batch norm calibrated as in tests/test_methods.calibrate, 16 x 112 x 112) and
I3D (its defaults, T = 32), and writes the "bench:methods:targets" part.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import re
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import replace_between  # noqa: E402
from xai_core.data.synthetic import CLASSES, make_dataset  # noqa: E402
from xai_core.methods import list_methods, run_method  # noqa: E402
from xai_core.methods.gradients import target_scores  # noqa: E402
from xai_core.methods.hooks import rnn_without_cudnn  # noqa: E402
from xai_core.metrics.faithfulness import completeness_gap  # noqa: E402
from xai_core.models.base import ModelInfo, VideoModel  # noqa: E402
from xai_core.models.registry import DEFAULT_SPEC, bundled, bundled_names  # noqa: E402
from xai_core.video.clip import to_tensor  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:methods -->", "<!-- /bench:methods -->"
REPEATS = {"cheap": 5, "moderate": 2, "expensive": 1}


def load(arch: str, device: str) -> tuple[VideoModel, str]:
    """The bundled model with its trained weights if they exist, else randomly initialised."""
    if bundled(arch).weights.exists():
        from xai_core.models.loader import load_model
        return load_model(arch, device), "trained"
    torch.manual_seed(0)
    net = bundled(arch).factory(len(CLASSES))
    info = ModelInfo(arch, list(CLASSES), DEFAULT_SPEC, cam_layer=net.cam_layer)
    return VideoModel(net, info).eval().to(device), "random"


def median_time(fn, repeats: int, device: str) -> float:
    """Median wall time of `fn()` in milliseconds."""
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def timed(fn, cost: str, device: str) -> tuple[float, str]:
    """(median ms, "") or (nan, the error's first line): one failing method does not stop the run.

    On a GPU one untimed call first (kernel selection, allocator); on the CPU the warm-up
    forward is enough, and expensive methods run once.
    """
    try:
        if device == "cuda":
            fn()
        return median_time(fn, REPEATS[cost], device), ""
    except Exception as e:  # noqa: BLE001 - reported in the table
        return float("nan"), f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"


def captum_equivalents(model, x, target, options: dict | None = None) -> dict:
    """captum's call for each method that has one, on the same options, as (N, T, H, W).

    `options` {method: {option: value}} overrides the methods' own defaults (I3D's defaults in
    bench_i3d.py); the options captum has no counterpart for (seed, steps, tolerance, max_steps)
    are left out: integrated gradients runs captum's defaults (50 Gauss-Legendre points), the
    call ours is measured against (ours stops once complete within its tolerance).
    """
    from captum.attr import (IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel,
                             Occlusion, Saliency)

    from xai_core.methods import get_method
    from xai_core.methods.gradients import baseline_like

    def opts(name: str) -> dict:
        return {**get_method(name).options, **(options or {}).get(name, {})}

    def triple(v):
        return (v,) * 3 if isinstance(v, int) else tuple(v)

    def base(v):                                              # a number as is, "black" as a clip
        return float(v) if not isinstance(v, str) else baseline_like(model, x, v)

    N, C, T, H, W = x.shape                                   # batch, channels, time, height, width
    spread = float(x.max() - x.min())
    sg, ig, occ, tocc = (opts(n) for n in ("smoothgrad", "integrated_gradients", "occlusion",
                                           "temporal_occlusion"))
    return {
        "saliency": lambda: Saliency(model).attribute(x, target=target, abs=True).amax(1),
        "smoothgrad": lambda: NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=sg["samples"], nt_samples_batch_size=sg["batch_size"],
            stdevs=sg["stdev"] * spread, target=target, abs=True).amax(1),
        "integrated_gradients": lambda: IntegratedGradients(model).attribute(
            x, baselines=base(ig["baseline"]), target=target,
            internal_batch_size=ig["batch_size"]).sum(1),
        "grad_cam": lambda: LayerAttribution.interpolate(
            LayerGradCam(model, model.cam_layer).attribute(x, target=target),
            (T, H, W), interpolate_mode="trilinear")[:, 0],
        "occlusion": lambda: Occlusion(model).attribute(
            x, sliding_window_shapes=(C, *triple(occ["window"])), strides=(C, *triple(occ["stride"])),
            baselines=base(occ["baseline"]), target=target,
            perturbations_per_eval=occ["batch_size"])[:, 0],
        "temporal_occlusion": lambda: Occlusion(model).attribute(
            x, sliding_window_shapes=(C, tocc["segment"], H, W), strides=(C, tocc["segment"], H, W),
            baselines=0.0, target=target, perturbations_per_eval=tocc["batch_size"])[:, 0],
    }


def bench_arch(arch: str, device: str, x: torch.Tensor) -> list[dict]:
    model, weights = load(arch, device)
    with torch.no_grad():
        target = model(x).argmax(1)                           # (1,): explain the prediction
    rows = []

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        leaf = x.clone().requires_grad_(True)
        with rnn_without_cudnn(model):                        # as the methods do (cuDNN's RNN
            torch.autograd.grad(target_scores(model, leaf, target).sum(), leaf)  # backward needs train mode)

    forward()                                                 # warm-up
    t_fwd = median_time(forward, 5, device)
    rows.append(dict(arch=arch, weights=weights, what="forward", ms=t_fwd))
    t_fwd_bwd, error = timed(forward_backward, "cheap", device)
    rows.append(dict(arch=arch, weights=weights, what="forward + backward to input", ms=t_fwd_bwd,
                     note=f"error: {error}" if error else ""))
    theirs = captum_equivalents(model, x, target)
    for info in list_methods():
        row = dict(arch=arch, weights=weights, what=info.name)
        result = {}

        def ours():
            result["relevance"] = run_method(info.name, model, x, target)

        row["ms"], error = timed(ours, info.cost, device)
        if error:
            row["note"] = f"error: {error}"
        elif info.complete:
            gap = completeness_gap(model, x, int(target), result["relevance"][0])
            row["note"] = f"completeness gap {100 * gap:.2f}%"
        if info.name in theirs:
            def captum(call=theirs[info.name]):
                with rnn_without_cudnn(model):
                    result["captum"] = call()
            row["captum_ms"], error = timed(captum, info.cost, device)
            if error:
                row["note"] = f"{row.get('note', '')} captum error: {error}".strip()
            elif info.complete:
                gap = completeness_gap(model, x, int(target), result["captum"][0])
                row["note"] += f" (captum: {100 * gap:.2f}%)"
        rows.append(row)
    for row in rows:
        row["x_forward"] = row["ms"] / t_fwd
    return rows


def machine(device: str) -> str:
    if device == "cuda":
        chip = torch.cuda.get_device_name()
    else:
        chip = platform.processor() or ""
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
            chip = re.search(r"Model name:\s*(.+)", out).group(1).strip()
        except (OSError, AttributeError, subprocess.SubprocessError):
            pass
    threads = torch.get_num_threads()
    return (f"{chip} ({device}), {threads} torch thread{'s' * (threads != 1)}, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table(rows: list[dict]) -> str:
    lines = ["| architecture | weights | what | ms | × forward | captum ms | ours / captum | note |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        captum = r.get("captum_ms")
        theirs, ratio = ("", "") if captum is None else (ms(captum), f"{r['ms'] / captum:.2f}")
        lines.append(f"| {r['arch']} | {r['weights']} | {r['what']} | {ms(r['ms'])} | "
                     f"{r['x_forward']:.1f} | {theirs} | {ratio} | {r.get('note', '')} |")
    return "\n".join(lines)


HEADER = ("## Methods\n\n"
          "One clip (1, 3, 16, 64, 64), default options, median wall time (cheap methods 5 runs, "
          "moderate 2, expensive 1). \"× forward\": the method's time over one forward pass; "
          "\"ours / captum\": over captum's equivalent call (Saliency, NoiseTunnel, "
          "IntegratedGradients at its defaults, 50 Gauss-Legendre points (ours is adaptive: 8 "
          "intervals, refined until complete within 1%; a table measured before 2026-12-01 compares "
          "captum at 64 points with ours at 64 Gauss-Legendre points, refined by doubling), LayerGradCam + interpolate, Occlusion with "
          "perturbations_per_eval 16). Written by `benchmarks/bench_methods.py`, one table per device.")


def write_section(device: str, text: str) -> None:
    """Rewrite this device's table inside the "bench:methods" part of docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    doc = DOC.read_text() if DOC.exists() else (
        "# Benchmarks\n\nMeasured figures. Each section is rewritten by the script it names; "
        "edit the scripts, not the tables.\n")
    section = doc[doc.index(BEGIN) + len(BEGIN):doc.index(END)].strip("\n") \
        if BEGIN in doc and END in doc else HEADER
    if "<!-- bench:methods:" in section:                     # the header is the script's, like the tables
        section = HEADER + "\n\n" + section[section.index("<!-- bench:methods:"):]
    section = replace_between(section, f"<!-- bench:methods:{device} -->",
                              f"<!-- /bench:methods:{device} -->", text)
    DOC.write_text(replace_between(doc, BEGIN, END, section))


# ---------------------------------------------------------------- the speed targets (issue 11)

IG_RATIO, IG_GAP = 0.5, 0.01          # ours in <= 0.5x captum's time at its defaults, gap <= 1%


def r3d_18_random(device: str) -> VideoModel:
    """torchvision's r3d_18, random weights, batch norm given real statistics and random biases.

    At initialisation every batch norm is the identity and the convolutions have no bias, so the
    net is positively homogeneous and integrated gradients from a zero baseline are exact with any
    rule: the calibration (as a trained net has, tests/test_methods.calibrate) makes the path kinked.
    """
    from torchvision.models.video import r3d_18

    from tests.test_methods import calibrate
    from xai_core.spec import InputSpec
    torch.manual_seed(0)
    net = r3d_18(num_classes=len(CLASSES))
    spec = InputSpec(16, 112, 112, DEFAULT_SPEC.mean, DEFAULT_SPEC.std)
    clips = torch.stack([to_tensor(c, spec) for c in make_dataset(4, seed=0, frames=16, size=112).clips])
    calibrate(net, clips)
    info = ModelInfo("r3d_18", list(CLASSES), spec, cam_layer="layer4")
    return VideoModel(net.eval(), info).to(device)


def _clock(fn, device: str) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, fn's result) of one call."""
    if device == "cuda":
        torch.cuda.synchronize()
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - w0, time.process_time() - c0, out


def ig_target(name: str, model, x: torch.Tensor, device: str, options: dict) -> dict:
    """Adaptive integrated gradients (defaults + `options`) against captum's IntegratedGradients at
    its defaults (50 Gauss-Legendre points; internal_batch_size = ours, so both fit in memory)."""
    from captum.attr import IntegratedGradients

    from xai_core.methods import get_method
    from xai_core.methods.gradients import path_integral

    with torch.no_grad():
        target = model(x).argmax(1)
    opts = {**get_method("integrated_gradients").options, **options}
    wall, cpu, ours = _clock(lambda: path_integral(model, x, target, **opts), device)

    def captum():
        with rnn_without_cudnn(model):
            return IntegratedGradients(model).attribute(x, baselines=0.0, target=target,
                                                        internal_batch_size=opts["batch_size"]).sum(1)
    c_wall, c_cpu, theirs = _clock(captum, device)
    gap = completeness_gap(model, x, int(target), ours.relevance[0].double())
    c_gap = completeness_gap(model, x, int(target), theirs[0].double())
    ratio = wall / c_wall
    return dict(model=name, target="integrated gradients", ours=wall, ours_cpu=cpu, captum=c_wall,
                captum_cpu=c_cpu, ratio=ratio, cpu_ratio=cpu / c_cpu,
                met=max(ratio, cpu / c_cpu) <= IG_RATIO and gap <= IG_GAP,          # in wall and CPU time
                bar=f"<= {IG_RATIO}x captum, gap <= {IG_GAP:.0%}",
                note=f"{ours.points[0]} path points, gap {100 * gap:.2f}% (captum: 50 points, "
                     f"gap {100 * c_gap:.2f}%)")


OCC_RATIO, OCC_IOU = 3.0, 0.8         # captum / ours >= 3 with the same top-10% voxels (IoU >= 0.8)
# captum's perturbations_per_eval tried (its best counts); fewer where one run takes a minute or more
OCC_PPE = {"r3d_18": (4, 16), "i3d_k400": (2,)}          # I3D: its own batch of 2 (memory)
# windows per model: the defaults, except r3d_18 at 112 x 112 (1,183 default windows: 6 minutes a run)
OCC_OPTIONS = {"r3d_18": {"window": (4, 32, 32), "stride": (4, 16, 16)}}


def top_iou(a: torch.Tensor, b: torch.Tensor, share: float = 0.1) -> float:
    """IoU of the top `share` voxels of two maps (T, H, W)."""
    k = max(1, int(share * a.numel()))
    ta = set(a.flatten().topk(k).indices.tolist())
    tb = set(b.flatten().topk(k).indices.tolist())
    return len(ta & tb) / len(ta | tb)


def occ_target(name: str, model, x: torch.Tensor, device: str, options: dict) -> dict:
    """Occlusion (incremental where the net has a plan) against captum's Occlusion at its best
    perturbations_per_eval, same windows; each timed once after one untimed call (the first call
    also builds oneDNN's kernels for each new slab shape: reported apart)."""
    from captum.attr import Occlusion

    from xai_core.methods import get_method
    from xai_core.methods.incremental import plan_for

    with torch.no_grad():
        target = model(x).argmax(1)
    opts = {**get_method("occlusion").options, **OCC_OPTIONS.get(name, {}), **options}
    (C, *_), (win, stride) = x.shape[1:], (opts["window"], opts["stride"])
    win = (win,) * 3 if isinstance(win, int) else tuple(win)
    stride = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
    first, _, _ = _clock(lambda: run_method("occlusion", model, x, target, **opts), device)
    wall, cpu, ours = _clock(lambda: run_method("occlusion", model, x, target, **opts), device)
    best = None
    for ppe in OCC_PPE.get(name, (1, 4, 16, 64)):
        def captum(ppe=ppe):
            return Occlusion(model).attribute(x, sliding_window_shapes=(C, *win), strides=(C, *stride),
                                              baselines=0.0, target=target, perturbations_per_eval=ppe)[:, 0]
        captum()
        c = _clock(captum, device)
        if best is None or c[0] < best[0]:
            best = (*c, ppe)
    c_wall, c_cpu, theirs, ppe = best
    iou = top_iou(ours[0], theirs[0])
    speed, cpu_speed = c_wall / wall, c_cpu / cpu
    return dict(model=name, target="occlusion", ours=wall, ours_cpu=cpu, captum=c_wall, captum_cpu=c_cpu,
                ratio=wall / c_wall, cpu_ratio=cpu / c_cpu,
                met=min(speed, cpu_speed) >= OCC_RATIO and iou >= OCC_IOU,      # in wall and CPU time
                bar=f">= {OCC_RATIO:g}x faster, top-10% IoU >= {OCC_IOU}",
                note=f"{'incremental' if plan_for(model) else 'plain (no plan)'}; {speed:.1f}x faster "
                     f"({cpu_speed:.1f}x in CPU time); "
                     f"first call {first:.2f} s; window {win} stride {stride}; captum's best "
                     f"perturbations_per_eval {ppe}; top-10% IoU {iou:.2f}")


def targets(device: str, names: list[str]) -> list[dict]:
    from xai_core.models.packaged import packaged
    rows = []
    clip = make_dataset(1, seed=0).clips[0]
    for name in names:
        if name == "r3d_18":
            model = r3d_18_random(device)
            x = to_tensor(make_dataset(1, seed=0, frames=16, size=112).clips[0], model.spec)[None].to(device)
            options = {}
        elif name == "i3d_k400":
            from xai_core import load_model, load_video
            model = load_model(name, device)
            x = load_video(ROOT / "assets" / "samples" / "intel_asl_thanks.mkv", model.spec).tensor[None].to(device)
            options = packaged(name).method_defaults.get("integrated_gradients", {})
        else:
            model, _ = load(name, device)
            x = to_tensor(clip, DEFAULT_SPEC)[None].to(device)
            options = {}
        with torch.no_grad():
            model(x)                                          # warm-up
        rows.append(ig_target(name, model, x, device, options))
        print(target_table(rows[-1:]), flush=True)
        occ = packaged(name).method_defaults.get("occlusion", {}) if name == "i3d_k400" else {}
        rows.append(occ_target(name, model, x, device, occ))
        print(target_table(rows[-1:]), flush=True)
    return rows


def target_table(rows: list[dict]) -> str:
    lines = ["| model | target | bar | ours s (CPU s) | captum s (CPU s) | ours / captum (CPU) | met | note |",
             "| --- | --- | --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['target']} | {r['bar']} | {r['ours']:.2f} ({r['ours_cpu']:.2f}) | "
                     f"{r['captum']:.2f} ({r['captum_cpu']:.2f}) | {r['ratio']:.2f} ({r['cpu_ratio']:.2f}) | "
                     f"{'**yes**' if r['met'] else 'no'} | {r['note']} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--archs", nargs="*", default=bundled_names())
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); 1 on a shared, busy machine")
    parser.add_argument("--note", default="", help="a line about the machine (e.g. shared, busy)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    parser.add_argument("--targets", nargs="*", default=None, metavar="MODEL",
                        help="measure the speed targets instead, on these models (default: c3d_small r3d_18 "
                             "i3d_k400)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="captum")     # "Input Tensor 0 did not already require ..."
    if args.targets is not None:
        rows = targets(args.device, args.targets or ["c3d_small", "r3d_18", "i3d_k400"])
        text = "\n".join([
            f"#### Speed targets ({args.device.upper()})", "",
            f"`python benchmarks/bench_methods.py --targets --device {args.device}"
            f"{f' --threads {args.threads}' if args.threads else ''}` on {datetime.date.today()}: "
            f"{machine(args.device)}. {args.note}".rstrip(), "",
            "Each ratio: two calls timed one after the other in this run, same model, clip and device; "
            "wall time (CPU time of the process in brackets: the figure a busy machine disturbs less); a "
            "target is met when both ratios meet it. "
            "Clips: the first procedural clip (seed 0) at the model's size; for I3D intel_asl_thanks at "
            "(1, 3, 32, 224, 224) with its defaults. r3d_18: torchvision's, random weights, batch norm "
            "calibrated (`r3d_18_random`).", "",
            target_table(rows)])
        print(text)
        if not args.no_write:
            write_section(f"targets:{args.device}", text)
        return
    clip = make_dataset(1, seed=0).clips[0]                   # (T, H, W, 3) uint8
    x = to_tensor(clip, DEFAULT_SPEC).unsqueeze(0).to(args.device)  # (1, 3, 16, 64, 64)
    rows = [row for arch in args.archs for row in bench_arch(arch, args.device, x)]
    text = "\n".join([
        f"### {args.device.upper()}", "",
        f"`python benchmarks/bench_methods.py --device {args.device}"
        f"{f' --threads {args.threads}' if args.threads else ''}` on {datetime.date.today()}: "
        f"{machine(args.device)}. {args.note}".rstrip(), "",
        table(rows)])
    print(text)
    if not args.no_write:
        write_section(args.device, text)


if __name__ == "__main__":
    main()
