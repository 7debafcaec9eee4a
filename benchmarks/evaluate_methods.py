"""Which explanations to trust: every bundled model x registered method through xai_core.metrics.evaluate.

    python benchmarks/evaluate_methods.py [--n 8] [--models c3d_small ...] [--methods grad_cam ...]

Per model x method, on n procedural clips of seed 4 (never used in training), each method explaining
the true class:
- sanity: the cascading-randomisation check (Adebayo et al. 2018): Spearman of |relevance| between
  the trained and the fully randomised model, mean over the first --sanity-clips clips; passes < 0.5
- deletion / insertion: AUC of the true class's softmax probability, voxel order, temporal_mean fill,
  and the same over 3 random orders in the same run (x random: < 1 beats chance for deletion, > 1
  for insertion); "frames": deletion in frame order (the temporal curve)
- pointing game (n/a clips left out) and the share of positive relevance in the evidence mask
- stability: Spearman across seeds 0, 1, 2 for a method with a `seed` option

Writes the section `<!-- bench:evaluate -->` of docs/ground_truth.md and assets/verdicts.json (the
figures and warnings per model x method that the method pickers read). Both are rebuilt from
verdicts.json, so a run over some models or methods updates their entries and keeps the others;
entries of models or methods no longer registered are dropped. Results are cached
($XAI_CACHE_DIR/evaluate), so a second run only computes what is new.

Methods run at their defaults except where CHEAP says otherwise (stated in the table): the sanity
check recomputes a method's map after several layer steps on several clips, which at the defaults of
the expensive methods would take hours on a CPU. A method added to the registry is covered with its
defaults; give it an entry in CHEAP if those are too dear.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ground_truth import device_name  # noqa: E402
from benchmarks.sections import write_section  # noqa: E402
from xai_core.errors import XaiError  # noqa: E402
from xai_core.methods.registry import get_method, list_methods  # noqa: E402
from xai_core.metrics.evaluate import Settings, evaluate  # noqa: E402
from xai_core.metrics.sanity import THRESHOLD  # noqa: E402
from xai_core.metrics.verdicts import (STABLE, VERDICTS_FILE, figures, load_verdicts, near,  # noqa: E402
                                      options_text, warnings, weights_digest)
from xai_core.models.loader import load_model  # noqa: E402
from xai_core.models.registry import bundled_names  # noqa: E402
from xai_core.relevance.export import strict_dumps  # noqa: E402

# Options that keep one map within about 70 forward passes a clip (filtered to the options a method has;
# integrated gradients runs its defaults: adaptive, 9-30 passes on the bundled nets, 65 on two_stream);
# the supervoxel surrogates cannot be that cheap (fewer samples are noise): a quarter of their default
# (their stability at the default budget: docs/ground_truth.md "supervoxels").
CHEAP = {
    "occlusion": {"window": (4, 16, 16), "stride": (4, 16, 16)},          # 64 windows instead of 343
    "kernel_shap": {"n_samples": 1000},          # a quarter of the default 4000 (24 maps a model: ~4 min each)
    "lime": {"n_samples": 1000},
}


def cheap_options(method: str) -> dict:
    """CHEAP's options for `method`, those it does not have left out."""
    specs = get_method(method).option_specs
    return {k: v for k, v in CHEAP.get(method, {}).items() if k in specs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8, help="clips per model (default 8: one per class)")
    ap.add_argument("--sanity-clips", type=int, default=8,
                    help="clips of the sanity check (default 8: on one or two clips Grad-CAM on c3d_small "
                         "measured anywhere from -0.05 to 0.68 by the re-initialisation seed)")
    ap.add_argument("--sanity-steps", type=int, default=1,
                    help="layer steps measured, the last (full randomisation) always (default 1: the verdict; "
                         "python -m xai_core evaluate gives every step)")
    ap.add_argument("--steps", type=int, default=10, help="voxel-order steps of deletion and insertion (default 10)")
    ap.add_argument("--models", nargs="*", default=bundled_names())
    ap.add_argument("--methods", nargs="*", default=None, help="default: every registered method")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "ground_truth.md"))
    ap.add_argument("--verdicts", default=str(VERDICTS_FILE))
    ap.add_argument("--no-write", action="store_true", help="print only (a smoke run)")
    a = ap.parse_args()
    methods = a.methods or [m.name for m in list_methods()]
    settings = Settings(n=a.n, steps=a.steps, sanity_clips=a.sanity_clips, sanity_steps=a.sanity_steps,
                        stability_clips=4)
    body = load_verdicts(a.verdicts) or {}
    models = body.get("models", {})
    t_all = time.perf_counter()
    for name in a.models:
        model = load_model(name, device=a.device)
        t0 = time.perf_counter()
        if models.get(name, {}).get("weights_sha256") not in (None, weights_digest(name)):
            print(f"{name}: retrained since the last run; its earlier figures are dropped", flush=True)
            models[name] = {"methods": {}}
        entry = models.setdefault(name, {}).setdefault("methods", {})
        kinds = None
        for m in methods:                        # one at a time: a method refusing a model is recorded, not fatal
            try:
                e = evaluate(model, {m: cheap_options(m)}, settings)
            except XaiError as error:
                entry[m] = {"error": str(error), "options": cheap_options(m)}
                print(f"{name:<15} {m:<22} refused: {error}", flush=True)
                continue
            row, kinds = e.rows[m], e.model_part["evidence_kind"]["accuracy"]
            entry[m] = {**_rounded(figures(row)), "options": row["options"], "warnings": warnings(row),
                        "seconds": row["seconds"], "n": settings.n, "sanity_clips": settings.sanity_clips}
            f = entry[m]
            print(f"{name:<15} {m:<22} sanity {_num(f['sanity_spearman'])}  deletion x{_num(f['deletion_relative'])}"
                  f"  insertion x{_num(f['insertion_relative'])}  pointing {_pct(f['pointing'])}  "
                  f"stability {_num(f['stability'])}  {row['seconds']:.0f} s{' (cached)' if row['cached'] else ''}",
                  flush=True)
        if kinds is not None:
            models[name]["evidence_kind_accuracy"] = kinds
        models[name]["weights_sha256"] = weights_digest(name)     # figures of other weights are never shown
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    known = {m.name for m in list_methods()}
    models = {k: {**d, "methods": {m: v for m, v in d.get("methods", {}).items() if m in known}}
              for k, d in models.items() if k in bundled_names()}
    body = {"written_by": "benchmarks/evaluate_methods.py", "measured": str(datetime.date.today()),
            "device": device_name(a.device), "torch": torch.__version__,
            "settings": {"n": settings.n, "seed": settings.seed, "fill": settings.fill, "steps": settings.steps,
                         "random_orders": settings.random_orders, "sanity_clips": settings.sanity_clips,
                         "sanity_steps": settings.sanity_steps, "stability_seeds": list(settings.stability_seeds),
                         "stability_clips": settings.stability_clips},
            "thresholds": {"sanity_spearman": THRESHOLD, "stability": STABLE}, "models": models}
    print(f"all: {time.perf_counter() - t_all:.0f} s")
    if a.no_write:
        return
    Path(a.verdicts).write_text(strict_dumps(body, indent=1) + "\n")
    write_section(Path(a.doc), section(body), "evaluate")


def section(body: dict) -> str:
    s = body["settings"]
    seconds = sum(f.get("seconds", 0) for e in body["models"].values() for f in e["methods"].values())
    lines = [
        "## Which explanation to trust: sanity, deletion, insertion, pointing, stability", "",
        f"Measured {body['measured']} by `python benchmarks/evaluate_methods.py` ({body['device']}, torch "
        f"{body['torch']}; {seconds / 60:.0f} min of computing for the methods, column s, plus each model's random "
        f"baseline, on a machine shared with other jobs) on {s['n']} procedural clips "
        f"(seed {s['seed']}, never used in training), each method explaining the true class. The same "
        "figures, with the warnings the method pickers show, are in `assets/verdicts.json`.", "",
        f"- **sanity**: cascading randomisation (Adebayo et al. 2018), layers re-initialised from the logits "
        f"down; Spearman of |relevance| between the trained and the fully randomised model on the first "
        f"{s['sanity_clips']} clips. A method **passes** below "
        f"{body['thresholds']['sanity_spearman']}: its map depends on what the model learned.",
        f"- **deletion / insertion**: area under the true class's softmax probability as the most relevant "
        f"voxels are removed (put back), {s['steps']} steps of {100 // s['steps']} %, fill `{s['fill']}` (each "
        f"pixel's mean over time: removes motion); in brackets, relative to the mean of {s['random_orders']} "
        "random orders on the same clips (deletion below 1x and insertion above 1x beat chance). "
        "**frames**: deletion of whole frames, most relevant first (the temporal curve).",
        "- **pointing**: the pointing game (Zhang et al. 2018; 4 px tolerance); n/a where the map's maximum is "
        "not a point (a frame-constant map, or a maximum shared by voxels in and out of the evidence, as "
        "occlusion's blocks often are), left out of the rate and counted; "
        "**energy**: share of positive relevance in the evidence mask.",
        f"- **stability**: Spearman between the maps of seeds {', '.join(map(str, s['stability_seeds']))} on "
        f"{s['stability_clips']} clips, for methods that take a seed (stable from "
        f"{body['thresholds']['stability']}); - for deterministic methods.",
        "- **two_stream**: its flow is computed inside the forward pass without gradients, so gradient methods, "
        "LRP and Grad-CAM explain its RGB stream only, while deletion removes voxels from the whole model's "
        "input (the flow stream sees the motion they carry): their deletion there measures how well the RGB "
        "stream's evidence ranks what the two streams together rest on. Occlusion perturbs both streams. The "
        "flow stream on its own: \"Motion: does the flow stream look at what moves?\" above.", "",
        "| model | method | options | sanity ρ | deletion AUC | frames | insertion AUC | pointing | energy "
        "| stability | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, entry in body["models"].items():
        if entry.get("weights_sha256") not in (None, weights_digest(model)):
            lines.append(f"| {model} | all | | measured on earlier weights (retrained since): not shown in the "
                         "pickers; re-run this script | | | | | | | |")
            continue
        for m, f in entry["methods"].items():
            if "error" in f:
                lines.append(f"| {model} | {m} | | refused: {f['error']} | | | | | | | |")
                continue
            verdict = {True: "pass", False: "**fail**", None: "n/a"}[f["sanity_passed"]]
            options = options_text(f["options"])
            lines.append(
                f"| {model} | {m} | {options} | {_sanity(f['sanity_spearman'])} {verdict} | "
                f"{_num(f['deletion_auc'])} ({_num(f['deletion_relative'])}x) | {_num(f['deletion_frame_relative'])}x | "
                f"{_num(f['insertion_auc'])} ({_num(f['insertion_relative'])}x) | {_pointing(f, s['n'])} | "
                f"{_pct(f['energy_in_mask'])} | {_num(f['stability']) if f['stability'] is not None else '-'} | "
                f"{f['seconds']:.0f} |")
    kinds = ", ".join(f"{k} {_pct(v.get('evidence_kind_accuracy'))}" for k, v in body["models"].items())
    lines += ["", f"Evidence-kind accuracy (motion reliance's kind vs the clip's finer kind, per model; the "
                  f"same for every method): {kinds}.", ""]
    return "\n".join(lines)


def _pointing(f: dict, n: int) -> str:
    """The pointing rate over the clips where it applies, and how many it did not apply to."""
    na = f.get("pointing_not_applicable", 0)
    return _pct(f["pointing"]) + (f" ({na} of {n} n/a)" if na else "")


def _rounded(f: dict) -> dict:
    """Figures to 4 decimals (the file stays small and its diffs readable)."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in f.items()}


def _sanity(v) -> str:
    return "n/a" if v is None else near(v, THRESHOLD)


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.0%}"


if __name__ == "__main__":
    main()
