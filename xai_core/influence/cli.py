"""`python -m xai_core influence VIDEO --model M [--reference DIR] --top 8 --out DIR [--quiet]`

Writes `influence.json` (InfluenceResult.to_dict(), each example with its thumbnail's file name)
and one looping thumbnail per example (`proponent_1.webm` ... `opponent_8.webm`). The index over
the reference set is built on first use with a progress bar on stderr (off with --quiet) and
cached (see `index`). Bad input: one line `error: ...` and exit code 2 (xai_core.cli).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import XaiError
from .query import MAX_TOP, METHODS
from .thumbnails import FORMATS


def add_arguments(p) -> None:
    """The options of `python -m xai_core influence`."""
    p.add_argument("video", help="any video file OpenCV can read")
    p.add_argument("--model", required=True, help="bundled model name or a model spec .yaml")
    p.add_argument("--reference", default=None, metavar="DIR",
                   help="labelled reference clips DIR/<label>/*.mp4 (labels: the model's classes); default: "
                        "the bundled model's training set, regenerated from its seed")
    p.add_argument("--top", type=int, default=8, help=f"proponents and opponents to show (1..{MAX_TOP}; default 8)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--target", help="class label or index to explain (default: the prediction)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="tracin: TracIn-CP over the training checkpoints (Pruthi et al. 2020); tracin_cosine: "
                        "the same, normalised (cosine of gradients); similarity: penultimate features "
                        "(models without checkpoints); auto (default): tracin_cosine with checkpoints, else similarity")
    p.add_argument("--format", choices=FORMATS, default="webm", help="thumbnail video format")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or xpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--trust-module", action="append", default=[], metavar="MODULE",
                   help="let a model spec's factory come from MODULE (see: explain --help)")


def run(args) -> int:
    """`python -m xai_core influence`: check the input, query, write influence.json and the thumbnails."""
    from .. import load_model, load_video
    from ..cli import check_device, check_out_dir
    from ..relevance.export import strict_dumps
    from .query import influence
    from .reference import reference_for
    from .thumbnails import write_thumbnails

    if not 1 <= args.top <= MAX_TOP:
        raise XaiError(f"--top must be in 1..{MAX_TOP} (got {args.top})")
    device = check_device(args.device)
    out = Path(args.out)
    names = ["influence.json"] + [f"{s}_{r}.{args.format}" for s in ("proponent", "opponent")
                                 for r in range(1, args.top + 1)]
    check_out_dir(out, names)
    model = load_model(args.model, device=device, trust=tuple(args.trust_module))
    if args.target is not None:
        model.target_index(args.target)                 # an unknown class before any work
    if args.reference is not None:
        reference = reference_for(model, args.reference)   # a bad folder before decoding the video
    else:
        reference = None
    clip = load_video(args.video, model.spec)
    from ..progress_bar import ProgressBar

    bar = None if args.quiet else ProgressBar()
    try:
        result = influence(model, clip, reference, top=args.top, target=args.target, method=args.method,
                           progress=bar)
    finally:
        if bar is not None:
            bar.close()
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = write_thumbnails(result, out, format=args.format)
        body = result.to_dict()
        for side in ("proponents", "opponents"):
            for e in body[side]:
                e["thumbnail"] = paths[f"{side[:-1]}_{e['rank']}"].name
        body["video"] = str(args.video)
        (out / "influence.json").write_text(strict_dumps(body, indent=2))
    except OSError as e:
        raise XaiError(f"--out {out}: writing failed ({e.strerror or e})") from None
    same = sum(e.same_class for e in result.proponents)
    print(f"{result.predicted['label']} ({result.predicted['probability']:.0%}); {result.method} over "
          f"{result.reference['n']} reference clips: {len(result.proponents)} proponents ({same} of the predicted "
          f"class), {len(result.opponents)} opponents -> {out}")
    for note in result.notes:
        print(f"note: {note}")
    return 0
