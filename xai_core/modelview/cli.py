"""python -m xai_core global: the model's own view, headless.

    python -m xai_core global --model c3d_small --out out/ [--classes walk_left,sit_down]
           [--steps 96] [--seeds 2] [--video clip.mp4 [--layer block3]] [--quiet]

Writes into --out:
  kernels_<layer>.png + kernels.json   the first 3D layers' kernels as time slices, filters ordered by
                                       temporal selectivity, at most 64 drawn (kernels.json: every filter's value, the
                                       definition, every conv layer); a 2D-only model gets a kernels.json
                                       saying it has none, and a note on stdout
  max_<class>.webm                     the class-maximising clip (seed 0), played three times
  max_<class>_tube.png                 the same as a staggered-frame tube, coloured where it changes
  max_<class>_seeds.png                with --seeds K > 1: the K clips side by side
  max_<class>.json                     probability reached, steps, seeds, stability, regulariser, timing
  activations_<layer>.png + activations.json   with --video: the layer's energy per frame and its
                                       top channels as tubes (default layer: the model's CAM layer)
  global.json                          what was written, per class the probability and seconds

Bad input (an unknown model, class, layer or kernel layer, a video that cannot be read, a bad
count, an output folder that cannot be written) exits with code 2 and one line `error: ...`,
before any work. A progress bar goes to stderr (off with --quiet).
"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

MAX_STEPS, MAX_SEEDS = 10_000, 16   # as maximise.MAX_STEPS / MAX_SEEDS (not imported: the parser stays light)
MAX_CLASSES_BY_DEFAULT = 16       # more classes than this (I3D: 400) must be picked with --classes
MAX_FILTERS_DRAWN = 64            # a kernel grid shows the most selective 64 (I3D's second layer has 192)


def _count(lo: int, hi: int):
    """An argparse type: a whole number from lo to hi."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {lo} to {hi}")
        return value
    parse.__name__ = "int"
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `global` subcommand's options."""
    p.add_argument("--model", required=True, help="bundled model name or a model spec .yaml")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--classes", help="comma-separated class labels (or indices) to maximise "
                                     f"(default: all, for models with at most {MAX_CLASSES_BY_DEFAULT})")
    p.add_argument("--steps", type=_count(1, MAX_STEPS), default=96,
                   help="optimisation steps per class-maximising clip (default 96)")
    p.add_argument("--seeds", type=_count(1, MAX_SEEDS), default=2,
                   help="clips per class from different random starts, for stability (default 2)")
    p.add_argument("--video", help="a clip to show the layer activations on (any video OpenCV can read)")
    p.add_argument("--layer", help="the layer whose activations to show (needs --video; default: the "
                                   "model's CAM layer)")
    p.add_argument("--kernel-layers", help="comma-separated 3D conv layers (or spatial+temporal pairs) to "
                                           "draw (default: the first two with a temporal extent)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or xpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.add_argument("--trust-module", action="append", default=[], metavar="MODULE",
                   help="let a model spec's factory come from MODULE (see: explain --help)")


def _safe(name: str) -> str:
    """A class label or layer name as part of a file name."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("._") or "x"


def _file_names(labels: list[str]) -> dict[str, str]:
    """{label: file stem}, unique even when two labels clean to the same text."""
    out, used = {}, set()
    for i, label in enumerate(labels):
        stem = _safe(label)
        stem = stem if stem not in used else f"{stem}_{i}"
        used.add(stem)
        out[label] = stem
    return out


def _classes(model, text: str | None) -> list[int]:
    from ..errors import XaiError

    K = len(model.class_names)
    if text is None:
        if K > MAX_CLASSES_BY_DEFAULT:
            raise XaiError(f"model {model.name} has {K} classes; pick some with --classes (labels or indices, "
                           "comma-separated)")
        return list(range(K))
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise XaiError(f"--classes {text!r}: an empty name; give labels or indices separated by commas")
    indices = [model.target_index(t) for t in items]             # ModelSpecError names an unknown one
    if len(set(indices)) != len(indices):
        raise XaiError(f"--classes {text!r}: a class is given twice")
    return indices


def _check_inputs(args, model):
    """Everything that can be wrong with the request, checked before any work: (classes, clip, layer, kernel layers)."""
    from ..errors import XaiError
    from .activations import layer_choices
    from .kernels import conv_layers, kernel_layer_names

    classes = _classes(model, args.classes)
    if model.spec.channels not in ("RGB", "BGR", "gray"):
        raise XaiError(f"model {model.name}: its input is {model.spec.channels!r}, not frames")
    kernel_layers = None
    if args.kernel_layers is not None:
        kernel_layers = [t.strip() for t in args.kernel_layers.split(",") if t.strip()]
        names = kernel_layer_names(model)
        if not any(c.kind != "2d" for c in conv_layers(model)):
            raise XaiError(f"--kernel-layers: model {model.name} has no 3D convolution kernels")
        bad = [n for n in kernel_layers if n not in names] or ([] if kernel_layers else ["(none)"])
        if bad:
            raise XaiError(f"--kernel-layers: model {model.name} has no 3D convolution {bad[0]!r}; "
                           f"choose from: {', '.join(names)}")
    if args.layer is not None and args.video is None:
        raise XaiError("--layer needs --video: the activations are shown on a clip")
    clip, layer = None, None
    if args.video is not None:
        layer = args.layer or model.info.cam_layer
        choices = [c.name for c in layer_choices(model)]
        if layer not in choices:
            raise XaiError(f"--layer {layer!r}: model {model.name} has no such layer with a time axis; choose "
                           f"from: {', '.join(choices[:30])}{' ...' if len(choices) > 30 else ''}")
        from ..video import load_video
        clip = load_video(args.video, model.spec)                  # VideoError: unreadable, empty, cut
    return classes, clip, layer, kernel_layers


def run(args) -> int:
    """The `global` subcommand: kernels, class-maximising clips and layer activations into --out."""
    from ..cli import check_device, check_out_dir
    from ..errors import XaiError
    from ..models.loader import load_model

    t_start = time.perf_counter()
    device = check_device(args.device)
    out = Path(args.out)
    check_out_dir(out, ["global.json", "kernels.json"])
    model = load_model(args.model, device=device, trust=tuple(args.trust_module))
    for note in model.info.notes:
        print(f"note: {model.name}: {note}")
    classes, clip, layer, kernel_layers = _check_inputs(args, model)
    stems = _file_names([model.label(i) for i in classes])
    check_out_dir(out, [f"max_{s}{x}" for s in stems.values() for x in (".webm", ".json", "_tube.png", "_seeds.png")])
    from ..progress_bar import ProgressBar, quiet

    bar = quiet if args.quiet else ProgressBar()
    try:
        out.mkdir(parents=True, exist_ok=True)
        summary = {"model": model.name, "files": {}}
        summary["kernels"] = _write_kernels(model, out, kernel_layers, summary["files"])
        summary["classes"] = _write_maxima(model, out, classes, stems, args, bar, summary["files"])
        if clip is not None:
            summary["activations"] = _write_activations(model, clip, layer, out, summary["files"])
        summary["seconds"] = round(time.perf_counter() - t_start, 2)
        (out / "global.json").write_text(json.dumps(summary, indent=2))
    except OSError as e:
        raise XaiError(f"--out {out}: writing failed ({e.strerror or e})") from None
    finally:
        if isinstance(bar, ProgressBar):
            bar.close()
    for c in summary["classes"]:
        print(f"{c['label']}: p = {c['probability']:.3f} ({c['steps']} steps, {c['seeds']} seed"
              f"{'s' * (c['seeds'] > 1)}, {c['seconds']:.1f} s)")
    print(f"{model.name}: model view written to {out}")
    return 0


def _write_kernels(model, out: Path, names: list[str] | None, files: dict) -> dict:
    from ..render.png import save_png
    from .kernels import NoTemporalKernels, conv_layers, kernel_grid, kernel_views, temporal_selectivity

    body = {"model": model.name, "definition": " ".join(temporal_selectivity.__doc__.split()),
            "conv_layers": [c.to_dict() for c in conv_layers(model)], "views": [], "message": None}
    try:
        views = kernel_views(model, names)
    except NoTemporalKernels as e:
        body["message"] = str(e)
        print(f"note: {e}")
        views = []
    for v in views:
        name = f"kernels_{_safe(v.name)}.png"
        save_png(out / name, kernel_grid(v, max_filters=MAX_FILTERS_DRAWN))
        body["views"].append({**v.to_dict(), "image": name})
        files[f"kernels:{v.name}"] = name
    (out / "kernels.json").write_text(json.dumps(body, indent=2))
    files["kernels"] = "kernels.json"
    return {"views": [v.name for v in views], "most_selective": [
        {"layer": v.name, "filter": int(v.order[0]), "selectivity": float(v.selectivity[v.order[0]])} for v in views],
        "message": body["message"]}


def _write_maxima(model, out: Path, classes: list[int], stems: dict, args, bar, files: dict) -> list[dict]:
    from ..render.png import save_png
    from .maximise import Regulariser, max_clip_tube, maximise_seeds, seeds_image, write_loop

    reg = Regulariser()
    rows = []
    n = len(classes)
    for i, index in enumerate(classes):
        label = model.label(index)
        stem = stems[label]
        t0 = time.perf_counter()
        run = maximise_seeds(model, index, args.seeds, args.steps, reg,
                             progress=lambda f, m, i=i: bar((i + f) / n, f"class {i + 1}/{n} {m}"))
        seconds = time.perf_counter() - t0
        best = run.clips[0]
        names = {"video": f"max_{stem}.webm", "tube": f"max_{stem}_tube.png", "json": f"max_{stem}.json"}
        write_loop(out / names["video"], best)
        save_png(out / names["tube"], max_clip_tube(best))
        if len(run.clips) > 1:
            names["seeds"] = f"max_{stem}_seeds.png"
            save_png(out / names["seeds"], seeds_image(run))
        body = {"model": model.name, "target": {"index": index, "label": label},
                "probability": best.probability, "logit": best.logit, "predicted": best.predicted,
                "steps": args.steps, "seeds": [c.to_dict() for c in run.clips], "stability": run.stability,
                "regulariser": reg.to_dict(), "seconds": round(seconds, 3),
                "method": "activation maximisation of the class logit, Fourier + decorrelated-colour "
                          "parameterisation, jitter, blur, total variation in space and time "
                          "(Olah et al. 2017, Feature Visualization; Deep Draw, Øygard 2015)",
                "files": names}
        (out / names["json"]).write_text(json.dumps(body, indent=2))
        files[f"max:{label}"] = names
        rows.append({"label": label, "probability": best.probability, "steps": args.steps,
                     "seeds": len(run.clips), "seconds": round(seconds, 2),
                     "feature_correlation": run.stability["feature_correlation"]})
    return rows


def _write_activations(model, clip, layer: str, out: Path, files: dict) -> dict:
    from ..render.png import save_png
    from .activations import activation_figure, layer_activations

    act = layer_activations(model, clip, layer)
    name = f"activations_{_safe(layer)}.png"
    save_png(out / name, activation_figure(act, clip.display, list(map(int, clip.source_indices))))
    body = {"model": model.name, "video": clip.source, "source_indices": list(map(int, clip.source_indices)),
            **act.to_dict(), "image": name}
    (out / "activations.json").write_text(json.dumps(body, indent=2))
    files["activations"] = {"json": "activations.json", "image": name}
    return {"layer": layer, "peak_frame": int(clip.source_indices[int(act.energy_per_frame.argmax())])}
