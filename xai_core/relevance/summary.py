"""A plain-language sentence about an explanation: what, how sure, when and where the evidence is."""
from __future__ import annotations

import numpy as np

from .temporal import peak_span, temporal_curve


def where(relevance: np.ndarray, frames: tuple[int, int] | None = None) -> str:
    """Where in the frame the positive relevance sits: 'lower left', 'centre', ..."""
    r = np.clip(np.asarray(relevance, np.float64), 0, None)      # (T, H, W)
    if frames is not None:
        r = r[frames[0]:frames[1] + 1]
    heat = r.sum(0)                                               # (H, W)
    if heat.sum() <= 0:
        return "nowhere in particular"
    H, W = heat.shape
    y = (heat.sum(1) * np.arange(H)).sum() / heat.sum() / H      # centroid in [0, 1)
    x = (heat.sum(0) * np.arange(W)).sum() / heat.sum() / W
    row = "upper" if y < 0.4 else "lower" if y > 0.6 else "middle"
    col = "left" if x < 0.4 else "right" if x > 0.6 else "centre"
    return "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"


def when(relevance: np.ndarray, share: float = 0.5) -> tuple[int, int]:
    """The shortest run of frames holding `share` of the positive relevance."""
    return peak_span(temporal_curve(relevance), share)


def summarise(exp, frame_numbers: list[int] | None = None) -> str:
    """'walk_left (94%): evidence peaks in frames 6–11, lower centre'."""
    p = float(exp.probabilities[exp.target])
    if np.clip(exp.relevance, 0, None).sum() <= 0:
        return f"{exp.target_label} ({p:.0%}): the method found no evidence for this class"
    start, end = when(exp.relevance)
    span = (start, end)
    if frame_numbers is not None:
        start, end = frame_numbers[start], frame_numbers[end]
    frames = f"frame {start}" if start == end else f"frames {start}–{end}"
    return f"{exp.target_label} ({p:.0%}): evidence peaks in {frames}, {where(exp.relevance, span)}"
