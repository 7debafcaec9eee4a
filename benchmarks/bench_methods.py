"""Time every registered method against a forward pass, a forward + backward, and captum.

    python benchmarks/bench_methods.py                  # CPU, all bundled architectures
    python benchmarks/bench_methods.py --device cuda    # on a GPU
    python benchmarks/bench_methods.py --archs c3d_small --no-write

One clip (1, 3, 16, 64, 64), default options. Each figure is the median wall time of a few runs
(fewer for expensive methods) after one warm-up forward. A bundled model with trained weights
in assets/weights is loaded; otherwise it is randomly initialised (the table says which).
The table is printed and written into docs/benchmarks.md between the "bench:methods" markers.
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
    bench_i3d.py); the options captum has no counterpart for (seed, tolerance, max_steps) are
    left out: integrated gradients runs captum's fixed `steps`.
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
            x, baselines=base(ig["baseline"]), target=target, n_steps=ig["steps"],
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
          "IntegratedGradients at 64 steps (ours refines past 64 steps until complete within 1%, "
          "so it can cost more), LayerGradCam + interpolate, Occlusion with "
          "perturbations_per_eval 16). Written by `benchmarks/bench_methods.py`, one table per device.")


def write_section(device: str, text: str) -> None:
    """Rewrite this device's table inside the "bench:methods" part of docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    doc = DOC.read_text() if DOC.exists() else (
        "# Benchmarks\n\nMeasured figures. Each section is rewritten by the script it names; "
        "edit the scripts, not the tables.\n")
    section = doc[doc.index(BEGIN) + len(BEGIN):doc.index(END)].strip("\n") \
        if BEGIN in doc and END in doc else HEADER
    section = replace_between(section, f"<!-- bench:methods:{device} -->",
                              f"<!-- /bench:methods:{device} -->", text)
    DOC.write_text(replace_between(doc, BEGIN, END, section))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--archs", nargs="*", default=bundled_names())
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); 1 on a shared, busy machine")
    parser.add_argument("--note", default="", help="a line about the machine (e.g. shared, busy)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="captum")     # "Input Tensor 0 did not already require ..."
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
