"""OODResult: whether a clip looks like the model's training data, in numbers and in words."""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OODResult:
    """The out-of-distribution check of one clip for one model.

    calibrated           False when the model has no calibration file (then every number is None)
    score                the detector's statistic for this clip (higher: less like training)
    threshold            the calibrated threshold: above it the clip is out of distribution
    out_of_distribution  score > threshold (None when not calibrated)
    statistic            what `score` is, e.g. "max z of Mahalanobis distances (input noise, stem)"
    message              one plain sentence for the user
    terms                per-term z scores behind `score` ({} when not calibrated)
    """

    model: str
    calibrated: bool
    score: float | None = None
    threshold: float | None = None
    out_of_distribution: bool | None = None
    statistic: str | None = None
    message: str = ""
    terms: dict = field(default_factory=dict)
    false_positive_rate: float | None = None    # measured on held-out in-distribution clips (synthetic
                                                # test clips; held-out real videos for a packaged model)

    def to_dict(self) -> dict:
        """Strict-JSON-safe dict (no NaN or inf: a non-finite number becomes None)."""
        return {"calibrated": self.calibrated, "out_of_distribution": self.out_of_distribution,
                "score": _finite(self.score), "threshold": _finite(self.threshold),
                "statistic": self.statistic, "message": self.message,
                "terms": {k: _finite(v) for k, v in self.terms.items()},
                "false_positive_rate": _finite(self.false_positive_rate)}


def _finite(v):
    return None if v is None or not math.isfinite(v) else float(v)


def not_calibrated(model: str, reason: str) -> OODResult:
    """The result for a model the detector has no calibration for: says so, measures nothing."""
    return OODResult(model, False, message=f"not calibrated: {reason}")


def verdict(model: str, score: float, threshold: float, statistic: str, terms: dict,
            false_positive_rate: float | None = None) -> OODResult:
    """The result for a calibrated model: out of distribution when score > threshold."""
    if not math.isfinite(score):     # a NaN/inf input makes the features non-finite: not like training
        out, shown = True, "not finite"
    else:
        out, shown = score > threshold, f"{score:.1f}"
    if out:
        message = (f"This clip looks unlike anything {model} was trained on (score {shown}, threshold "
                   f"{threshold:.1f}): treat its answer with caution.")
    else:
        message = f"This clip looks like {model}'s training data (score {shown}, threshold {threshold:.1f})."
    return OODResult(model, True, score, threshold, bool(out), statistic, message, dict(terms),
                     false_positive_rate)
