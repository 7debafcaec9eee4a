"""Rank correlation of two relevance maps (Spearman), ties given their average rank."""
from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a flat array, tied values sharing their mean rank (as scipy.stats.rankdata)."""
    v = np.asarray(values, np.float64).reshape(-1)
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])     # first index of each tie group
    ends = np.r_[starts[1:], len(v)]                                         # one past its last
    mean_rank = (starts + ends + 1) / 2.0                                    # ranks start+1 .. end, averaged
    ranks = np.empty(len(v))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of any shape (flattened; the same number of values).

    The Pearson correlation of their average ranks, in [-1, 1]. A constant map has no ranking:
    both constant gives NaN (nothing to compare); one constant gives 0 (the other's ranking is
    not reproduced at all: no monotonic relation to a constant). Raises ValueError for maps of
    different sizes or non-finite values.
    """
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.size != b.size:
        raise ValueError(f"spearman: maps of {a.size} and {b.size} values")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("spearman: the maps hold NaN or infinite values")
    flat_a, flat_b = a.min() == a.max(), b.min() == b.max()
    if flat_a and flat_b:
        return float("nan")
    if flat_a or flat_b:
        return 0.0
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    return float(np.clip(ra @ rb / np.sqrt((ra @ ra) * (rb @ rb)), -1.0, 1.0))
