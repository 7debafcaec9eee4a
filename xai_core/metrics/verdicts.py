"""What the measured figures say about a method on a model: warnings in words, the readable table,
and assets/verdicts.json (written by benchmarks/evaluate_methods.py) that the pickers read.

    warnings(row)                  ["fails the sanity check on this model (...)", ...] from an evaluate row
    verdicts_for("c3d_small")      {method: {"warnings": [...], figures...}} from assets/verdicts.json
    table(evaluation)              the CLI's table, one line per method

Thresholds: the sanity check's 0.5 (sanity.THRESHOLD); deletion worse than random when its AUC is
above the random order's (relative > 1), insertion when below (< 1); unstable when Spearman across
seeds is below 0.9 (the level issue 10 sets for LIME and KernelSHAP's defaults).
"""
from __future__ import annotations

import json
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
    f, out = figures(row), []
    if f["sanity_passed"] is False:
        out.append(f"fails the sanity check on this model: its map barely changes when the model's weights "
                   f"are randomised (Spearman {near(f['sanity_spearman'], THRESHOLD)} at full randomisation, "
                   f"pass below {THRESHOLD})")
    if f["deletion_relative"] is not None and f["deletion_relative"] > 1:
        out.append(f"deletion worse than random: removing its most relevant voxels first lowers the score "
                   f"less than a random order (AUC {f['deletion_relative']:.2f}x random)")
    if f["insertion_relative"] is not None and f["insertion_relative"] < 1:
        out.append(f"insertion worse than random (AUC {f['insertion_relative']:.2f}x random)")
    if f["stability"] is not None and f["stability"] < STABLE:
        out.append(f"unstable across seeds: Spearman {f['stability']:.2f} between runs (stable from {STABLE})")
    return out


def load_verdicts(path: Path | str = VERDICTS_FILE) -> dict:
    """The verdicts file ({"models": {model: {"methods": {method: {...}}, "evidence_kind_accuracy": x}},
    "settings": ..., "measured": date}); {} when there is none or it is unreadable."""
    try:
        body = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def verdicts_for(model: str, path: Path | str = VERDICTS_FILE) -> dict:
    """{method: {figures..., "warnings": [...]}} measured for `model` ({} when not measured)."""
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
