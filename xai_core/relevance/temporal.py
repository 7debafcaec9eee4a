"""Relevance over time: the per-frame curve and its key frames."""
from __future__ import annotations

import numpy as np


def temporal_curve(relevance: np.ndarray, mode: str = "positive") -> np.ndarray:
    """Per-frame share of the relevance, (T,) summing to 1 (all zeros if there is none).

    mode "positive" counts evidence for the target, "against" the evidence against it
    (-relevance where it is negative), "absolute" counts |relevance|.
    """
    if mode not in ("positive", "against", "absolute"):
        raise ValueError(f"mode must be 'positive', 'against' or 'absolute' (got {mode!r})")
    r = np.asarray(relevance, np.float64)                      # (T, H, W)
    r = np.clip(r if mode == "positive" else -r, 0, None) if mode != "absolute" else np.abs(r)
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
    """The shortest run of frames [start, end] that contains the curve's peak frame and holds at
    least `share` of the curve; of equally short runs, the one holding the most.

    The peak is the first frame with the curve's maximum. Without the peak condition the
    shortest run can miss it (a broad shoulder holds half the relevance in fewer frames than any
    run through a sharp peak at the end), and a band marked "half the relevance" beside the
    curve's highest point misleads. A curve without relevance spans every frame.
    """
    c = np.asarray(curve, np.float64)
    T = len(c)
    if not c.sum() > 0:
        return 0, T - 1
    need = share * c.sum() * (1 - 1e-9)                        # float sums: 0.5 is 0.5
    peak = int(np.argmax(c))
    cum = np.concatenate([[0.0], np.cumsum(c)])                # cum[b + 1] - cum[a]: frames a..b
    best, best_key = (0, T - 1), (T, 0.0)
    for start in range(peak + 1):
        held = cum[peak + 1:] - cum[start]                     # (T - peak,) runs start..peak+k
        hit = np.nonzero(held >= need)[0]
        if hit.size:
            end = peak + int(hit[0])
            key = (end - start, -float(held[hit[0]]))          # shorter first, then holding more
            if key < best_key:
                best, best_key = (start, end), key
    return best
