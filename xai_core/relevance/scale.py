"""How large relevance is, as numbers: the magnitude a mode measures and robust (percentile) scales.

No drawing here: `render.colormap` turns these scales into colours, and `relevance.compare`
shares them between the columns of a comparison.

    magnitude(r, "positive")            # the evidence for the class, >= 0
    robust_scale(r, "signed")           # the 99.5th percentile of |r| over its non-zero voxels
    shared_scale([r1, r2], "positive")  # one scale for several maps: equal values, equal colour
"""
from __future__ import annotations

import numpy as np

MODES = ("positive", "signed", "absolute", "against")


def check_mode(mode: str) -> None:
    """A ValueError naming the modes for anything else."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")


def magnitude(relevance: np.ndarray, mode: str) -> np.ndarray:
    """What the colour scale measures: the positive part ("positive"), the negative part as a
    magnitude ("against"), or |relevance| (otherwise)."""
    check_mode(mode)
    r = np.asarray(relevance, np.float32)
    if mode == "positive":
        return np.clip(r, 0, None)
    return np.clip(-r, 0, None) if mode == "against" else np.abs(r)


def robust_scale(relevance: np.ndarray, mode: str = "positive", percentile: float = 99.5) -> float:
    """The value that maps to full colour: a percentile of the non-zero magnitudes (0 if none)."""
    return shared_scale([relevance], mode, percentile)


def shared_scale(relevances, mode: str = "positive", percentile: float = 99.5) -> float:
    """One colour scale for several explanations, so that equal colours mean equal relevance."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100] (got {percentile})")
    values = [magnitude(r, mode).ravel() for r in relevances]
    values = np.concatenate(values) if values else np.zeros(0, np.float32)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.percentile(values, percentile)) if values.size else 0.0


__all__ = ["MODES", "check_mode", "magnitude", "robust_scale", "shared_scale"]
