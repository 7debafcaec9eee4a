"""What the measured figures say about a method on a model: warnings in words, the readable table,
and assets/verdicts.json (written by benchmarks/evaluate_methods.py) that the pickers read.

    warnings(row)                  ["fails the sanity check on this model (...)", ...] from an evaluate row
    verdicts_for("c3d_small")      {method: {"warnings": [...], figures...}} from assets/verdicts.json
    brief(verdicts_for(m)[method]) the warnings in a few words, for the method pickers' labels
    verdict_line(model, method)    one sentence for a report (warnings, "no warning" or "not measured")
    stale("two_stream")            whether the file's figures were measured on other weights (then not shown)
    table(evaluation)              the CLI's table, one line per method

Thresholds: the sanity check's 0.5 (sanity.THRESHOLD); deletion worse than random when its AUC is
above the random order's (relative > 1), insertion when below (< 1); unstable when Spearman across
seeds is below 0.9 (the level issue 10 sets for LIME and KernelSHAP's defaults).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .sanity import THRESHOLD

STABLE = 0.9
VERDICTS_FILE = Path(__file__).resolve().parents[2] / "assets" / "verdicts.json"


def figures(row: dict) -> dict:
    """The headline figures of one evaluate row (None where not measured or n/a)."""
    stab = row.get("stability") or {}
    return {"sanity_spearman": row["sanity"]["final_spearman"], "sanity_passed": row["sanity"]["passed"],
            "deletion_relative": row["deletion"]["voxel"]["relative_auc"],
            "deletion_frame_relative": row["deletion"]["frame"]["relative_auc"],
            "deletion_auc": row["deletion"]["voxel"]["auc"],
            "insertion_relative": row["insertion"]["voxel"]["relative_auc"],
            "insertion_auc": row["insertion"]["voxel"]["auc"],
            "pointing": row["pointing"]["rate"], "pointing_not_applicable": row["pointing"]["not_applicable"],
            "energy_in_mask": row["energy_in_mask"],
            "stability": stab.get("spearman")}


def near(value: float, threshold: float) -> str:
    """`value` to 2 decimals, or 3 where 2 would round it onto `threshold` (0.504 is not "0.50 < 0.5")."""
    return f"{value:.3f}" if round(value, 2) == threshold else f"{value:.2f}"


def warnings(row: dict) -> list[str]:
    """Plain sentences for what a careful user must know before trusting this method on this model."""
    return [long for _, long in _checks(figures(row))]


def brief(entry: dict) -> list[str]:
    """The same warnings in a few words each, for a picker's label, from a verdicts_for() entry
    (["fails the sanity check (Spearman 0.74)"]; [] when none)."""
    return [short for short, _ in _checks(entry)]


def _checks(f: dict) -> list[tuple[str, str]]:
    """(short, long) per warning, from the headline figures (figures() or a verdicts-file entry)."""
    out = []
    if f.get("sanity_passed") is False:
        rho = near(f["sanity_spearman"], THRESHOLD)
        out.append((f"fails the sanity check (Spearman {rho})",
                    f"fails the sanity check on this model: its map barely changes when the model's weights "
                    f"are randomised (Spearman {rho} at full randomisation, pass below {THRESHOLD})"))
    if f.get("deletion_relative") is not None and f["deletion_relative"] > 1:
        out.append((f"deletion worse than random ({f['deletion_relative']:.2f}x)",
                    f"deletion worse than random: removing its most relevant voxels first lowers the score "
                    f"less than a random order (AUC {f['deletion_relative']:.2f}x random)"))
    if f.get("insertion_relative") is not None and f["insertion_relative"] < 1:
        out.append((f"insertion worse than random ({f['insertion_relative']:.2f}x)",
                    f"insertion worse than random (AUC {f['insertion_relative']:.2f}x random)"))
    if f.get("stability") is not None and f["stability"] < STABLE:
        out.append((f"unstable across seeds (Spearman {f['stability']:.2f})",
                    f"unstable across seeds: Spearman {f['stability']:.2f} between runs (stable from {STABLE})"))
    return out


def verdict_line(model: str, method: str, label: str | None = None, path: Path | str = VERDICTS_FILE) -> str:
    """One sentence on what was measured of `method` on `model`, for a report: its warnings, "no
    warning", or "not measured", with the settings it was measured under."""
    body = load_verdicts(path)
    entry = body.get("models", {}).get(model, {}).get("methods", {}).get(method)
    name = f"{label or method} on {model}"
    if entry is not None and stale(model, path):
        return (f"{name}: not measured on these weights (assets/verdicts.json was measured on an earlier "
                "training of the model; re-run benchmarks/evaluate_methods.py)")
    if entry is None:
        return f"{name}: not measured (no entry in assets/verdicts.json)"
    s = body.get("settings", {})
    used = measured_with(entry)
    how = (f"measured on {entry.get('n', s.get('n'))} procedural clips, seed {s.get('seed')}, "
           f"fill {s.get('fill')}{f', {used}' if used else ''}, "
           f"{body.get('measured', 'date unknown')}")
    said = "; ".join(entry.get("warnings") or []) or (
        f"no warning (sanity Spearman {near(entry['sanity_spearman'], THRESHOLD)}, deletion "
        f"{entry['deletion_relative']:.2f}x random)" if entry.get("sanity_spearman") is not None
        and entry.get("deletion_relative") is not None else "no warning")
    return f"{name}: {said} ({how})"


def load_verdicts(path: Path | str = VERDICTS_FILE) -> dict:
    """The verdicts file ({"models": {model: {"methods": {method: {...}}, "evidence_kind_accuracy": x}},
    "settings": ..., "measured": date}); {} when there is none or it is unreadable."""
    try:
        body = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def weights_digest(model: str) -> str | None:
    """sha256 of a bundled model's weights file (None for other models, or when it is missing):
    the verdicts file records it per model, so figures measured on other weights are never shown."""
    from ..models.registry import bundled_names, bundled

    if model not in bundled_names():
        return None
    path = bundled(model).weights
    try:
        st = path.stat()
    except OSError:
        return None
    return _digest(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stale(model: str, path: Path | str = VERDICTS_FILE) -> bool:
    """Whether the file's figures for `model` were measured on other weights than the model has now
    (False when the file records no digest for it, or the model is not bundled)."""
    recorded = load_verdicts(path).get("models", {}).get(model, {}).get("weights_sha256")
    now = weights_digest(model) if recorded else None
    return bool(recorded and now and recorded != now)


def verdicts_for(model: str, path: Path | str = VERDICTS_FILE) -> dict:
    """{method: {figures..., "warnings": [...]}} measured for `model` ({} when not measured, or when
    measured on other weights than the bundled model has now: see stale())."""
    if stale(model, path):
        return {}
    return dict(load_verdicts(path).get("models", {}).get(model, {}).get("methods", {}))


def _num(v, fmt: str = "{:.2f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def table(evaluation) -> str:
    """A readable table of an Evaluation (one line per method) with the model's own figures."""
    e = evaluation.to_dict() if hasattr(evaluation, "to_dict") else evaluation
    s = e["settings"]
    lines = [f"{e['model']}: {s['n']} procedural clips (seed {s['seed']}), fill {s['fill']}; deletion and "
             "insertion: AUC of the target's probability (x random order); sanity: Spearman at full "
             f"randomisation (pass < {THRESHOLD})",
             f"{'method':<22} {'sanity':>13} {'deletion':>14} {'· frames':>14} {'insertion':>14} "
             f"{'pointing':>9} {'energy':>7} {'stability':>9}"]
    for row in e["methods"]:
        f = figures(row)
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[f["sanity_passed"]]
        frames = row["deletion"]["frame"]
        sanity = "n/a" if f["sanity_spearman"] is None else near(f["sanity_spearman"], THRESHOLD)
        lines.append(
            f"{row['method']:<22} {sanity:>6} {verdict:>6} "
            f"{_num(f['deletion_auc']):>5} ({_num(f['deletion_relative'])}x) "
            f"{_num(frames['auc']):>5} ({_num(f['deletion_frame_relative'])}x) "
            f"{_num(f['insertion_auc']):>5} ({_num(f['insertion_relative'])}x) "
            f"{_num(f['pointing'], '{:.0%}'):>9} {_num(f['energy_in_mask'], '{:.0%}'):>7} "
            f"{_num(f['stability']):>9}" + ("  (cached)" if row.get("cached") else ""))
    kinds = e["evidence_kind"]
    lines.append(f"evidence kind (motion reliance vs the clips' kinds): {kinds['accuracy']:.0%} of "
                 f"{kinds['clips']} clips; random-order deletion AUC "
                 f"{_mean_auc(e['random_baseline']['deletion_voxel']):.2f}")
    return "\n".join(lines)


def _mean_auc(curve: list[float]) -> float:
    import numpy as np

    return float(np.trapezoid(curve, np.linspace(0, 1, len(curve))))


MEASURES = {   # column -> what it measures, in plain words (the Evaluate page's column help)
    "Sanity ρ": "Spearman correlation between the method's map on the trained model and on the model with "
                "every layer's weights randomised (Adebayo et al. 2018). A map that explains the model must "
                f"change: it passes below {THRESHOLD}; near 1 it shows the input, not what the model learned.",
    "Sanity": f"pass when the Spearman at full randomisation is below {THRESHOLD}, FAIL otherwise.",
    "Deletion": "× random: the area under the class's probability as the most relevant voxels are removed first "
                "(each filled with its pixel's mean over time), over the same for a random order. Below 1: "
                "the map found what the score rests on; above 1: worse than random.",
    "Frame deletion": "× random: the same removing whole frames in the map's order: does it rank the frames "
                      "that matter?",
    "Insertion": "× random: the reverse, the most relevant voxels put back first into an emptied clip. Above 1: "
                 "better than random; below 1: worse.",
    "Pointing": "share of clips whose most relevant voxel lies inside the evidence the procedural clip was drawn "
                "with (clips where that is undefined, e.g. a flat map, left out).",
    "Stability": f"for a method with a random seed: Spearman between its maps from different seeds (stable from "
                 f"{STABLE}).",
}


def table_rows(model: str, methods: dict[str, str], path: Path | str = VERDICTS_FILE) -> list[dict]:
    """One row per method ({name: label}) for `model` with the MEASURES columns from the verdicts
    file; a method the file lacks is "not measured" (its figures None), never estimated."""
    measured = verdicts_for(model, path)
    why = ("not measured on these weights (the figures are of an earlier training of the model; re-run "
           "benchmarks/evaluate_methods.py)" if stale(model, path) else "not measured on this model")
    rows = []
    for name, label in methods.items():
        f = measured.get(name)
        if f is None:
            rows.append({"Method": label, "Measured with": None, **{c: None for c in MEASURES},
                         "Sanity": "not measured", "Warnings": why})
            continue
        rows.append({"Method": label, "Measured with": options_text(f.get("options") or {}),
                     "Sanity ρ": f["sanity_spearman"],
                     "Sanity": {True: "pass", False: "FAIL", None: "n/a"}[f["sanity_passed"]],
                     "Deletion": f["deletion_relative"],
                     "Frame deletion": f["deletion_frame_relative"],
                     "Insertion": f["insertion_relative"], "Pointing": f["pointing"], "Stability": f["stability"],
                     "Warnings": "; ".join(brief(f)) or "none"})
    return rows


def measured_with(entry: dict) -> str:
    """'with n_samples=1000' when a verdicts entry was measured with options other than the
    method's defaults, else '' (the pickers' help, their caption and the report say so)."""
    used = options_text(entry.get("options") or {})
    return "" if used == "defaults" else f"with {used}"


def options_text(options: dict) -> str:
    """The options a method was measured with, 'defaults' when none: 'n_samples=1000'."""
    def show(v):
        return "(" + ", ".join(map(str, v)) + ")" if isinstance(v, (list, tuple)) else str(v)
    return ", ".join(f"{k}={show(v)}" for k, v in options.items()) or "defaults"


def settings_line(path: Path | str = VERDICTS_FILE) -> str | None:
    """How the verdicts file was measured, in words (None when there is no file)."""
    body = load_verdicts(path)
    if not body:
        return None
    s = body.get("settings", {})
    return (f"Measured on {s.get('n')} procedural clips (seed {s.get('seed')}; the sanity check on "
            f"{s.get('sanity_clips')}, stability on {s.get('stability_clips')} with seeds "
            f"{', '.join(map(str, s.get('stability_seeds', [])))}), deletion and insertion filled with "
            f"{s.get('fill')} in {s.get('steps')} steps against {s.get('random_orders')} random orders; "
            f"{body.get('measured', 'date unknown')} on {body.get('device', 'an unknown machine')} "
            f"(torch {body.get('torch', '?')}), by {body.get('written_by', '?')}.")
