"""Relevance over time: the per-frame curve and its key frames."""
from __future__ import annotations

import numpy as np


def temporal_curve(relevance: np.ndarray, mode: str = "positive") -> np.ndarray:
    """Per-frame share of the relevance, (T,) summing to 1 (all zeros if there is none).

    mode "positive" counts evidence for the target, "absolute" counts |relevance|.
    """
    r = np.asarray(relevance, np.float64)                      # (T, H, W)
    r = np.clip(r, 0, None) if mode == "positive" else np.abs(r)
    per_frame = r.reshape(r.shape[0], -1).sum(1)               # (T,)
    total = per_frame.sum()
    return (per_frame / total if total > 0 else per_frame).astype(np.float32)


def key_frames(curve: np.ndarray, k: int = 3, min_gap: int = 2, share: float = 0.5,
               lift: float = 1.05) -> list[int]:
    """Up to k frames where the curve peaks and stands out, at least `min_gap` apart, in time order.

    A peak stands out when it reaches `share` of the top frame and `lift` times the mean, so a
    flat curve has no key frames.
    """
    c = np.asarray(curve, np.float64)
    if not c.size:
        return []
    floor = max(share * float(c.max()), lift * float(c.mean()), np.finfo(float).tiny)
    picked: list[int] = []
    for t in np.argsort(-c, kind="stable"):
        if c[t] < floor or len(picked) == k:
            break
        if all(abs(int(t) - p) >= min_gap for p in picked):
            picked.append(int(t))
    return sorted(picked)


def peak_span(curve: np.ndarray, share: float = 0.5) -> tuple[int, int]:
    """The shortest run of frames [start, end] holding at least `share` of the curve."""
    c = np.asarray(curve, np.float64)
    T = len(c)
    if c.sum() <= 0:
        return 0, T - 1
    need = share * c.sum()
    best = (0, T - 1)
    for start in range(T):
        acc = np.cumsum(c[start:])
        hit = np.nonzero(acc >= need - 1e-12)[0]
        if hit.size and hit[0] < best[1] - best[0]:
            best = (start, start + int(hit[0]))
    return best
