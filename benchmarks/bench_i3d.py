"""Every registered method on I3D (i3d_k400) at T = 32 at its I3D defaults: time, peak memory, captum.

    python benchmarks/bench_i3d.py                      # CPU (writes docs/benchmarks.md)
    python benchmarks/bench_i3d.py --device cuda        # on a GPU
    python benchmarks/bench_i3d.py --methods grad_cam saliency --no-write

One real clip, the first sample (assets/samples/intel_asl_thanks.mkv) at I3D's input spec,
(1, 3, 32, 224, 224); the target is the prediction. Every method and its captum equivalent
runs in a fresh Python process of its own (model loaded, one warm-up forward), so that each one's
peak memory is its own:
- "forward": a no_grad forward pass, the median of 3 taken just before the method and 2 just
  after it in the same process; "× forward" is the method over that figure (the ratio survives
  a busy machine better than either time, not fully: two threads on one free core slow a batch-1
  forward pass more than the batch-2 passes most methods make);
- "s": the method's wall time, once (cheap methods: the median of 3), through `run_method` with
  the options `explain()` uses on I3D (`method_defaults` of i3d_k400, packaged.py), its CPU
  time (all threads) and the cores it got (CPU time over wall time: about 1 on a 2-core machine
  means other jobs held a core; such a measurement is taken again, up to --retries times);
- "peak MiB": on the CPU, the process's peak resident set (`ru_maxrss`) at the end minus
  its value with the model and clip loaded, before any forward pass: the memory the method needs
  on top of the loaded model; on CUDA, `torch.cuda.max_memory_allocated` minus the memory
  allocated before the method (the same for the forward row).
Writes the "bench:i3d" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_methods import DOC, captum_equivalents, machine  # noqa: E402
from benchmarks.sections import replace_between  # noqa: E402

MODEL = "i3d_k400"
CLIP = ROOT / "assets" / "samples" / "intel_asl_thanks.mkv"
BEGIN, END = "<!-- bench:i3d -->", "<!-- /bench:i3d -->"
REPEATS = {"cheap": 3, "moderate": 1, "expensive": 1}


# ---------------------------------------------------------------- one measurement, in its own process

def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _rss_mib() -> float:
    """This process's peak resident set so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(what: str, impl: str, device: str) -> dict:
    """Measure `what` (a method's name, or "forward") done by `impl` ("ours" or "captum")."""
    import xai_core
    from xai_core.methods import get_method, run_method
    from xai_core.metrics.faithfulness import completeness_gap

    warnings.filterwarnings("ignore", module="captum")
    model = xai_core.load_model(MODEL, device)
    clip = xai_core.load_video(CLIP, model.spec)
    x = clip.tensor.unsqueeze(0).to(device)                               # (1, 3, 32, 224, 224)
    start_rss = _rss_mib()

    def forward():
        with torch.no_grad():
            return model(x)

    def clock(fn) -> tuple[float, float]:
        """(wall s, CPU s) of fn()."""
        _sync(device)
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        return time.perf_counter() - w0, time.process_time() - c0

    target = forward().argmax(1)                                          # warm-up; explain the prediction
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        start_cuda = torch.cuda.memory_allocated()
    forwards = [clock(forward) for _ in range(3)]
    out = dict(what=what, impl=impl, target=model.class_names[int(target)])
    if what == "forward":
        forwards += [clock(forward) for _ in range(2)]
        wall = cpu = None
    else:
        info = get_method(what)
        options = model.info.defaults_for(what)                           # as explain() merges them
        out["options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
        result = {}
        if impl == "ours":
            def call():
                result["relevance"] = run_method(what, model, x, target, **options)
        else:
            theirs = captum_equivalents(model, x, target, {what: options})
            if what not in theirs:
                return {**out, "error": "no captum equivalent"}

            def call():
                result["relevance"] = theirs[what]()
        if device == "cuda":
            call()                                                        # kernel selection, allocator
        runs = [clock(call) for _ in range(REPEATS[info.cost])]
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        forwards += [clock(forward) for _ in range(2)]
        if info.complete:
            out["gap"] = completeness_gap(model, x, int(target), result["relevance"][0],
                                          options.get("baseline", info.options.get("baseline", 0.0)))
    out.update(forward_s=statistics.median(f[0] for f in forwards),
               forward_cpu_s=statistics.median(f[1] for f in forwards), s=wall, cpu_s=cpu)
    if device == "cuda":
        out["peak_mib"] = (torch.cuda.max_memory_allocated() - start_cuda) / 2 ** 20
    else:
        out["peak_mib"] = _rss_mib() - start_rss
    return out


# ---------------------------------------------------------------- the run: one process per measurement

def busy(row: dict, device: str) -> bool:
    """Whether other jobs held a core during the measurement: its CPU time over wall time (the
    method's, and the forward passes' around it) below 1.5 with 2 or more torch threads."""
    if device != "cpu" or torch.get_num_threads() < 2 or "error" in row:
        return False
    pairs = [(row["forward_cpu_s"], row["forward_s"])] + ([(row["cpu_s"], row["s"])] if row.get("s") else [])
    return any(cpu / wall < 1.5 for cpu, wall in pairs)


def measure(what: str, impl: str, args) -> dict:
    """One measurement in a fresh process; on a busy CPU taken again, up to --retries times."""
    command = [sys.executable, __file__, "--child", what, "--impl", impl, "--device", args.device]
    if args.threads:
        command += ["--threads", str(args.threads)]
    for attempt in range(args.retries + 1):
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            error = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            return dict(what=what, impl=impl, error=error[:100])
        row = json.loads(lines[-1])
        row["attempts"] = attempt + 1
        print(f"  {what} ({impl}): {row.get('s') or row['forward_s']:.2f} s, forward {row['forward_s']:.2f} s, "
              f"peak {row['peak_mib']:,.0f} MiB{' (busy)' if busy(row, args.device) else ''}",
              file=sys.stderr, flush=True)
        if not busy(row, args.device):
            break
    return row


def fmt_s(value) -> str:
    return "" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def show_options(options: dict) -> str:
    return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v}" for k, v in options.items())


def table(forward: dict, rows: list[tuple[dict, dict | None]]) -> str:
    lines = ["| what | I3D defaults | s | × forward | CPU s | cores | peak MiB | captum s | captum × forward "
             "| ours / captum | captum peak MiB | note |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
             f"| forward (no_grad) | | {fmt_s(forward['forward_s'])} | 1.0 | "
             f"{fmt_s(forward['forward_cpu_s'])} | {forward['forward_cpu_s'] / forward['forward_s']:.1f} | "
             f"{forward['peak_mib']:,.0f} | | | | | median of 5 |"]
    for ours, theirs in rows:
        if "error" in ours:
            lines.append(f"| {ours['what']} | | | | | | | | | | | error: {ours['error']} |")
            continue
        notes = [f"completeness gap {100 * ours['gap']:.2f}%"
                 + (f" (captum: {100 * theirs['gap']:.2f}%)" if theirs and "gap" in theirs else "")] \
            if "gap" in ours else []
        cap = ["", "", "", ""]
        if theirs and "error" not in theirs:
            cap = [fmt_s(theirs["s"]), f"{theirs['s'] / theirs['forward_s']:.1f}",
                   f"{(ours['s'] / ours['forward_s']) / (theirs['s'] / theirs['forward_s']):.2f}",
                   f"{theirs['peak_mib']:,.0f}"]
        elif theirs:
            notes.append(f"captum: {theirs['error']}")
        for who, row in (("ours", ours), ("captum", theirs)):
            if row and row.get("attempts", 1) > 1:
                notes.append(f"{who} taken {row['attempts']} times (busy machine)")
        note = "; ".join(notes)
        lines.append(f"| {ours['what']} | {show_options(ours['options'])} | {fmt_s(ours['s'])} | "
                     f"{ours['s'] / ours['forward_s']:.1f} | {fmt_s(ours['cpu_s'])} | "
                     f"{ours['cpu_s'] / ours['s']:.1f} | {ours['peak_mib']:,.0f} | {' | '.join(cap)} | {note} |")
    return "\n".join(lines)


HEADER = ("## I3D\n\n"
          "Every registered method on `i3d_k400` at its I3D defaults (`method_defaults` in "
          "xai_core/models/packaged.py, what `explain()` and the dashboard use), one real clip "
          "(intel_asl_thanks, (1, 3, 32, 224, 224)), each method and each captum equivalent in a fresh "
          "process. \"s\": wall time, once (saliency and grad_cam: median of 3); \"× forward\": over a "
          "no_grad forward pass timed in the same process around it (median of 5), the figure that "
          "survives a busy machine best (not fully); \"CPU s\": the method's CPU time, all threads; "
          "\"cores\": CPU s over s, the cores it got (on a 2-core machine 1.9-2.0 is an undisturbed "
          "figure, about 1 means other jobs took a core and the wall time is 2-4 times the quiet one; "
          "such a measurement is taken again, up to twice, and the note says so); "
          "\"ours / captum\": the ratio of the two × forward figures; "
          "\"peak MiB\": on the CPU the peak resident set (ru_maxrss) at the end minus its value with "
          "the model and clip loaded, on CUDA torch.cuda.max_memory_allocated over the memory allocated "
          "before. captum's equivalents take the same options, except IntegratedGradients: its defaults, 50 Gauss-Legendre "
          "points, no refinement. NoiseTunnel(Saliency); LayerGradCam + interpolate; Occlusion with "
          "perturbations_per_eval = batch_size). Written by `benchmarks/bench_i3d.py`, one table per device.")


def write_section(device: str, text: str) -> None:
    """Rewrite this device's table inside the "bench:i3d" part of docs/benchmarks.md."""
    doc = DOC.read_text()
    section = doc[doc.index(BEGIN) + len(BEGIN):doc.index(END)].strip("\n") \
        if BEGIN in doc and END in doc else HEADER
    section = replace_between(section, f"<!-- bench:i3d:{device} -->", f"<!-- /bench:i3d:{device} -->", text)
    DOC.write_text(replace_between(doc, BEGIN, END, section))


def main(argv=None) -> None:
    from xai_core.methods import list_methods

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--methods", nargs="*", default=None, help="default: every registered method")
    parser.add_argument("--no-captum", action="store_true", help="ours only")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--retries", type=int, default=2,
                        help="take a CPU measurement again when other jobs held a core (default 2)")
    parser.add_argument("--note", default="", help="a line about the machine (e.g. shared, busy)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="ours", choices=["ours", "captum"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child(args.child, args.impl, args.device)))
        return
    methods = args.methods or [m.name for m in list_methods()]
    load = [os.getloadavg()[0]]
    t0 = time.perf_counter()
    forward = measure("forward", "ours", args)
    if "error" in forward:
        sys.exit(f"bench_i3d: {forward['error']}")
    rows = []
    for name in methods:
        ours = measure(name, "ours", args)
        theirs = None if args.no_captum else measure(name, "captum", args)
        if theirs and theirs.get("error") == "no captum equivalent":
            theirs = None
        rows.append((ours, theirs))
        load.append(os.getloadavg()[0])
    text = "\n".join([
        f"### {args.device.upper()}", "",
        f"`python benchmarks/bench_i3d.py --device {args.device}"
        f"{f' --threads {args.threads}' if args.threads else ''}` on {datetime.date.today()}: "
        f"{machine(args.device)}. Target: {forward['target']}. Load average (1 min) during the run "
        f"{min(load):.1f}–{max(load):.1f} on {os.cpu_count()} cores; the run took "
        f"{(time.perf_counter() - t0) / 60:.0f} min. {args.note}".rstrip(), "",
        table(forward, rows)])
    print(text)
    if not args.no_write:
        write_section(args.device, text)


if __name__ == "__main__":
    main()
