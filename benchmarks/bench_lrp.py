"""Our LRP call against zennit's own: the same composite on the same model and clip.

    python benchmarks/bench_lrp.py [--repeats 7] [--device cpu] [--no-write]

Ours: `run_method("lrp", ...)` (option checks, the project's canonizers, the call-count check,
the channel sum). Zennit's: `zennit.attribution.Gradient` with the same composite and zennit's
built-in canonizers where they apply (SequentialMergeBatchNorm; on r3d_18 its ResNetCanonizer,
whose blocks are the image ResNet's, so it merges batch norm only), the output relevance
one-hot x logit, summed over channels. Models: c3d_small (its trained weights if present)
on a 16 x 64 x 64 procedural clip; torchvision's r3d_18 (random weights, eval mode) on a random
16 x 112 x 112 clip. Each figure is the median wall (and CPU) time of `repeats` runs (after one untimed
run of each), ours and zennit's in turns (which goes first alternates) so that a busy moment
hits both. The table also
gives sum R / f(x) for both: zennit's r3d_18 relevance is inflated by its residual additions.
Writes the "lrp" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402
from xai_core.data.synthetic import CLASSES, make_dataset  # noqa: E402
from xai_core.methods import run_method  # noqa: E402
from xai_core.methods.lrp import COMPOSITES, box_bounds  # noqa: E402
from xai_core.models.base import ModelInfo, VideoModel  # noqa: E402
from xai_core.models.registry import DEFAULT_SPEC, bundled  # noqa: E402
from xai_core.spec import InputSpec  # noqa: E402
from xai_core.video.clip import to_tensor  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
KINETICS = InputSpec(16, 112, 112, (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))


def c3d_small(device: str):
    """(model, clip (1, 3, 16, 64, 64), weights, zennit's canonizers)."""
    from zennit.canonizers import SequentialMergeBatchNorm

    if bundled("c3d_small").weights.exists():
        from xai_core.models.loader import load_model
        model, weights = load_model("c3d_small", device), "trained"
    else:
        torch.manual_seed(0)
        net = bundled("c3d_small").factory(len(CLASSES))
        model, weights = VideoModel(net, ModelInfo("c3d_small", list(CLASSES), DEFAULT_SPEC)).eval(), "random"
    clip = make_dataset(1, seed=0, frames=16, size=64).clips[0]
    return model.to(device), to_tensor(clip, DEFAULT_SPEC)[None].to(device), weights, SequentialMergeBatchNorm


def r3d_18(device: str):
    """(model, clip (1, 3, 16, 112, 112), weights, zennit's canonizers)."""
    from torchvision.models.video import r3d_18 as factory
    from zennit.torchvision import ResNetCanonizer

    torch.manual_seed(0)
    model = VideoModel(factory(num_classes=400), ModelInfo("r3d_18", [str(k) for k in range(400)], KINETICS))
    x = torch.randn(1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(1))
    return model.eval().to(device), x.to(device), "random", ResNetCanonizer


def zennit_call(model, x, target, composite: str, canonizer):
    """zennit's own call: Gradient with the composite and its canonizer; (relevance (N, T, H, W))."""
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat

    if composite == "epsilon_plus_flat":
        rules = EpsilonPlusFlat(canonizers=[canonizer()])
    else:
        low, high = box_bounds(model, x)
        rules = EpsilonGammaBox(low.view(1, -1, 1, 1, 1), high.view(1, -1, 1, 1, 1), canonizers=[canonizer()])
    with Gradient(model, rules) as attributor:
        _, relevance = attributor(x.detach().clone(), lambda out: out * _one_hot(out, target))
    return relevance.sum(1)


def _one_hot(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(out).scatter(1, target.view(-1, 1), 1.0)


def timed_pair(ours, theirs, repeats: int, device: str) -> dict:
    """{"wall": (ours, zennit), "cpu": (ours, zennit)}: median ms of each after one untimed run of each,
    run in turns (which goes first alternates, so neither always runs on a heap the other just
    freed). "cpu" is the process's CPU time (time.process_time, all its threads; None on a GPU):
    on a machine shared with other jobs the wall time of a run depends on theirs, the CPU time much
    less."""
    def once(fn):
        if device == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000

    ours(), theirs()
    times = {ours: [], theirs: []}
    for k in range(repeats):
        for fn in ((ours, theirs) if k % 2 == 0 else (theirs, ours)):
            times[fn].append(once(fn))
    median = lambda fn, i: statistics.median(t[i] for t in times[fn])              # noqa: E731
    return {"wall": (median(ours, 0), median(theirs, 0)),
            "cpu": (median(ours, 1), median(theirs, 1)) if device == "cpu" else None}


def machine(device: str) -> str:
    """The chip, the thread count and the versions, in words."""
    chip = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    if device == "cpu" and Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        chip = names[0] if names else chip
    threads = torch.get_num_threads()
    return (f"{chip} ({device}), {threads} torch thread{'s' * (threads != 1)}, torch {torch.__version__}, "
            f"Python {platform.python_version()}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    rows = []
    for build in (c3d_small, r3d_18):
        model, x, weights, canonizer = build(args.device)
        with torch.no_grad():
            logits = model(x)
        target = logits.argmax(1)
        f = float(logits[0, target])
        for composite in COMPOSITES:
            def ours_fn(model=model, x=x, target=target, composite=composite):
                return run_method("lrp", model, x, target, composite=composite)

            def theirs_fn(model=model, x=x, target=target, composite=composite, canonizer=canonizer):
                return zennit_call(model, x, target, composite, canonizer)

            times = timed_pair(ours_fn, theirs_fn, args.repeats, args.device)
            ratio_ours = float(ours_fn().double().sum()) / f
            ratio_theirs = float(theirs_fn().double().sum()) / f
            rows.append((model.name, tuple(x.shape[2:]), weights, composite, canonizer.__name__, times,
                         ratio_ours, ratio_theirs))
            print(*rows[-1], flush=True)
    cpu = args.device == "cpu"
    table = ["| model | clip T x H x W | weights | composite | zennit's canonizer | ours ms | zennit ms | "
             "ours / zennit |" + (" ours CPU ms | zennit CPU ms | ours / zennit, CPU |" if cpu else "")
             + " sum R / f(x), ours | sum R / f(x), zennit |",
             "| --- | --- | --- | --- | --- | ---: | ---: | ---: |" + (" ---: | ---: | ---: |" if cpu else "")
             + " ---: | ---: |"]
    for name, shape, weights, composite, canon, times, ra, rb in rows:
        cells = [f"{times['wall'][0]:.0f}", f"{times['wall'][1]:.0f}", f"{times['wall'][0] / times['wall'][1]:.2f}"]
        if cpu:
            cells += [f"{times['cpu'][0]:.0f}", f"{times['cpu'][1]:.0f}", f"{times['cpu'][0] / times['cpu'][1]:.2f}"]
        table.append(f"| {name} | {' x '.join(map(str, shape))} | {weights} | {composite} | {canon} | "
                     + " | ".join(cells) + f" | {ra:.3f} | {rb:.3f} |")
    body = "\n".join([
        "## LRP: ours against zennit's own call",
        "",
        f"`python benchmarks/bench_lrp.py --device {args.device} --repeats {args.repeats}` on "
        f"{datetime.date.today().isoformat()}: {machine(args.device)}. One clip, the predicted class; "
        f"median of {args.repeats} runs each, ours and zennit's in turns. Ours: `run_method(\"lrp\")` "
        "with the project's canonizers; zennit: `Gradient` with the same composite and its built-in "
        "canonizer. ms: wall time; CPU ms: the process's CPU time (the steadier figure on a machine "
        "shared with other jobs). sum R / f(x): the relevance over the logit (biases absorb part of "
        "it; above 1: inflated by residual additions zennit's image-ResNet canonizer does not see).",
        "",
        *table,
    ])
    print(body)
    if not args.no_write:
        write_section(DOC, body, "lrp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
