"""`python -m xai_core evaluate --model M --methods a,b --n N --seed S [--json] [--fill F] [--quiet]`

Evaluates attribution methods on a model of the procedural data set (metrics.evaluate): deletion
and insertion against a random order, pointing game, energy in the evidence, the sanity check,
stability across seeds, evidence-kind accuracy. Prints a table (or JSON with --json) on stdout and
a progress bar on stderr (off with --quiet); results are cached under $XAI_CACHE_DIR/evaluate
(default ~/.cache/xai_core/evaluate). Everything is checked before any work; bad input is one line
`error: ...` and exit code 2 (xai_core.cli).
"""
from __future__ import annotations

from ..errors import XaiError

MAX_CLIPS = 1000


def add_arguments(p) -> None:
    """The options of `python -m xai_core evaluate`."""
    from .fill import DEFAULT_FILL, FILLS

    p.add_argument("--model", required=True, help="bundled model name or a model spec .yaml (its classes must be "
                                                  "the procedural data set's)")
    p.add_argument("--methods", default=None, help="comma-separated method names (default: every registered method)")
    p.add_argument("--n", type=int, default=8, help=f"procedural clips (1..{MAX_CLIPS}; default 8, one per class)")
    p.add_argument("--seed", type=int, default=4, help="the clips' seed (default 4, never used in training)")
    p.add_argument("--fill", choices=FILLS, default=DEFAULT_FILL,
                   help="what deletion and insertion put in place of a voxel: temporal_mean (default: each "
                        "pixel's mean over time, removes motion), grey, or blur (space and time)")
    p.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="a method option, e.g. --option occlusion.stride=[4,16,16] (repeatable)")
    p.add_argument("--steps", type=int, default=20, help="voxel-order steps of deletion and insertion (default 20)")
    p.add_argument("--sanity-clips", type=int, default=4, help="clips of the sanity check (default 4)")
    p.add_argument("--sanity-steps", type=int, default=None,
                   help="layer steps at which the sanity check recomputes the map (default: every layer)")
    p.add_argument("--stability-clips", type=int, default=4, help="clips of the stability check (default 4)")
    p.add_argument("--batch-size", type=int, default=16, help="perturbed clips per forward pass (default 16)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or xpu")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-cache", action="store_true", help="compute everything again (and do not store it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.add_argument("--trust-module", action="append", default=[], metavar="MODULE",
                   help="let a model spec's factory come from MODULE (see: explain --help)")


def method_options(pairs: list[str], methods: list[str]) -> dict[str, dict]:
    """--option METHOD.KEY=VALUE pairs -> {method: {key: value}}; the method must be one evaluated."""
    from ..cli import parse_options

    out: dict[str, list[str]] = {m: [] for m in methods}
    for pair in pairs:
        method, dot, rest = pair.partition(".")
        if not dot or "=" not in rest or "=" in method:
            raise XaiError(f"--option needs METHOD.KEY=VALUE, got {pair!r}")
        if method not in out:
            raise XaiError(f"--option {pair}: {method!r} is not among the methods evaluated ({', '.join(methods)})")
        out[method].append(rest)
    return {m: parse_options(p) for m, p in out.items()}


def run(args) -> int:
    """`python -m xai_core evaluate`: check the input, evaluate, print the table or JSON."""
    from .. import load_model
    from ..cli import check_device
    from ..methods.options import validate_options
    from ..methods.registry import get_method, list_methods
    from ..relevance.export import strict_dumps
    from ..progress_bar import ProgressBar
    from .evaluate import Settings, evaluate, procedural_clips
    from .verdicts import table

    methods = [m.strip() for m in args.methods.split(",")] if args.methods else [m.name for m in list_methods()]
    if not all(methods):
        raise XaiError(f"--methods {args.methods!r}: an empty method name")
    if len(set(methods)) != len(methods):
        raise XaiError(f"--methods {args.methods!r}: a method is named twice")
    for m in methods:
        get_method(m)                                        # an unknown method before any work
    options = method_options(args.option, methods)
    for m, o in options.items():
        validate_options(get_method(m), o)                   # types and bounds before loading anything
    if not 1 <= args.n <= MAX_CLIPS:
        raise XaiError(f"--n must be in 1..{MAX_CLIPS} (got {args.n})")
    if args.seed < 0:
        raise XaiError(f"--seed must be >= 0 (got {args.seed})")
    for name in ("steps", "sanity_clips", "stability_clips", "batch_size"):
        if getattr(args, name) < 1:
            raise XaiError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    if args.sanity_steps is not None and args.sanity_steps < 1:
        raise XaiError(f"--sanity-steps must be at least 1 (got {args.sanity_steps})")
    device = check_device(args.device)
    model = load_model(args.model, device=device, trust=tuple(args.trust_module))
    procedural_clips(model, 1, args.seed)                   # a model the clips do not fit, before any work
    settings = Settings(n=args.n, seed=args.seed, fill=args.fill, steps=args.steps, sanity_clips=args.sanity_clips,
                        sanity_steps=args.sanity_steps, stability_clips=args.stability_clips,
                        batch_size=args.batch_size)
    bar = None if args.quiet else ProgressBar()
    try:
        result = evaluate(model, options, settings, use_cache=not args.no_cache, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    print(strict_dumps(result.to_dict(), indent=2) if args.json else table(result))
    return 0
