"""The command line: python -m xai_core models|methods|explain|train|calibrate-ood.

Bad input exits with code 2 and one line `error: ...` on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .errors import XaiError


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
            parser.print_help()
            return 2
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

    m = sub.add_parser("models", help="list the bundled models")
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
                   help="a method option, e.g. --option n_steps=32 (repeatable)")
    e.add_argument("--device", default="cpu", help="cpu or cuda")
    e.add_argument("--format", choices=("webm", "mp4"), default="webm", help="overlay video format")
    e.set_defaults(run=_explain)

    t = sub.add_parser("train", help="train a bundled model on the procedural data set")
    t.add_argument("--model", required=True, help="bundled model name")
    t.add_argument("--epochs", type=int, help="override the model's training plan")
    t.add_argument("--n-train", type=int, help="number of training clips")
    t.add_argument("--max-minutes", type=float, help="stop after this many minutes")
    t.add_argument("--out", default=None, help="weights directory (default: assets/weights)")
    t.add_argument("--report", default="docs/models.md", help="markdown report to update ('' for none)")
    t.add_argument("--smoke", action="store_true", help="one tiny batch: checks the pipeline, not accuracy")
    t.set_defaults(run=_train)

    from .ood import calibrate as ood_calibrate
    o = sub.add_parser("calibrate-ood", help="calibrate a bundled model's out-of-distribution warning")
    ood_calibrate.add_arguments(o)
    o.set_defaults(run=ood_calibrate.run)
    return p


def _models(args) -> int:
    from .models.loader import list_models

    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        acc = f"{r['test_accuracy']:.1%}" if r.get("test_accuracy") is not None else "untrained"
        print(f"{r['name']:<16} {r['family']:<9} {acc:>9}  {r['description']}")
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
    return 0


def _parse_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise XaiError(f"--option needs KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            options[key] = json.loads(value)       # numbers, booleans, lists
        except json.JSONDecodeError:
            options[key] = value                   # plain strings
        if isinstance(options[key], list):
            options[key] = tuple(options[key])
    return options


def _explain(args) -> int:
    from . import explain, load_model, load_video
    from .relevance.export import result_json
    from .render import write_outputs

    t_start = time.perf_counter()
    options = _parse_options(args.option)
    model = load_model(args.model, device=args.device)
    t0 = time.perf_counter()
    clip = load_video(args.video, model.spec)
    decode_ms = (time.perf_counter() - t0) * 1000
    exp = explain(model, clip, args.method, target=args.target, **options)
    t0 = time.perf_counter()
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise XaiError(f"cannot create output directory {out}: {e.strerror}") from None
    np.save(out / "relevance.npy", exp.relevance.astype(np.float32))
    paths = write_outputs(exp, out, video=f".{args.format}")
    render_ms = (time.perf_counter() - t0) * 1000
    result = result_json(exp, clip)
    result["timings_ms"] = {"decode": round(decode_ms, 1),
                            "forward": round(exp.timings_ms["forward"], 1),
                            "explain": round(exp.timings_ms["explain"], 1),
                            "render": round(render_ms, 1),
                            "total": round((time.perf_counter() - t_start) * 1000, 1)}
    result["files"] = {"relevance": "relevance.npy", **{k: Path(v).name for k, v in paths.items()}}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(f"{exp.predicted_label} ({exp.probabilities[exp.predicted]:.0%}); "
          f"explained {exp.target_label} with {exp.method} -> {out}")
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
