"""Stability of a stochastic method: do two runs with different seeds give the same map?

    s = stability(model, video, target, "smoothgrad", seeds=(0, 1, 2))
    s.spearman    # (pairs, N) Spearman rank correlation of the maps of each pair of seeds, per clip
    s.value       # its mean: 1 = the same ranking of voxels whatever the seed

A method is stochastic when it takes a `seed` option (SmoothGrad's noise; LIME's and KernelSHAP's
samples): `is_stochastic` reads the registry's option specs, so a newly registered method is
covered by declaring one. A method without a seed is run len(seeds) times as it is; a
deterministic one scores exactly 1 (identical maps count as 1 even when constant, where a rank
correlation is undefined). The signed maps are compared: a voxel that changes sides between seeds
is unstable.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch

from ..methods.progress import Progress, part
from ..methods.registry import get_method
from .maps import method_name, relevance_maps
from .rank import spearman

SEEDS = (0, 1, 2)


def is_stochastic(method) -> bool:
    """Does `method` draw random numbers from a `seed` option (the registry's option specs; for a
    function, its signature)?"""
    if callable(method):
        return "seed" in inspect.signature(method).parameters
    return "seed" in get_method(method).option_specs


@dataclass
class Stability:
    """Spearman between the maps of every pair of seeds (see the module)."""

    method: str
    seeds: tuple[int, ...]
    spearman: np.ndarray           # (pairs, N)

    @property
    def value(self) -> float:
        """The mean over pairs and clips (NaN when no pair has a ranking)."""
        v = self.spearman
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    def to_dict(self) -> dict:
        return {"method": self.method, "seeds": list(self.seeds),
                "spearman": None if np.isnan(self.value) else self.value}


def stability(model, video: torch.Tensor, target, method, options: dict | None = None, *,
              seeds=SEEDS, clips_per_call: int = 8, progress: Progress | None = None,
              known: dict | None = None) -> Stability:
    """Run `method` once per seed on clips `video` (N, C, T, H, W), targets (N,), and compare the maps.

    `options` must not hold "seed" (the seeds are this function's). Costs len(seeds) runs of the
    method, less those in `known` ({seed: the maps of these clips with that seed}, as
    relevance_maps returns them: evaluate() has the method's own seed from the deletion curves).
    Raises ValueError for fewer than 2 seeds or a seed in options.
    """
    seeds = tuple(int(s) for s in seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"stability: need at least 2 different seeds, got {seeds}")
    options = dict(options or {})
    if "seed" in options:
        raise ValueError("stability: give the seeds as `seeds`, not as the option 'seed'")
    stochastic = is_stochastic(method)
    known = {int(k): v for k, v in (known or {}).items()} if stochastic else {}
    if any(len(v) != len(video) for v in known.values()):
        raise ValueError(f"stability: known maps must be one per clip ({len(video)})")
    runs, todo = [], [s for s in seeds if s not in known]
    for seed in seeds:
        if seed in known:
            runs.append(known[seed])
            continue
        i = todo.index(seed)
        say = part(progress, i / len(todo), 1 / len(todo), f"stability, seed {seed}: ")
        runs.append(relevance_maps(model, method, video, target,
                                   {**options, "seed": seed} if stochastic else options, clips_per_call, say))
    pairs = [[_agreement(a, b) for a, b in zip(runs[i], runs[j])] for i, j in combinations(range(len(runs)), 2)]
    return Stability(method_name(method), seeds, np.array(pairs, np.float64))


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 if np.array_equal(a, b) else spearman(a, b)
