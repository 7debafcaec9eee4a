"""Deletion and insertion curves of a relevance map over a clip (Petsiuk et al. 2018, RISE), in 5-D.

Sources: Petsiuk, Das & Saenko 2018, "RISE: Randomized input sampling for explanation of black-box
models" (deletion and insertion, AUC of the class probability); Samek et al. 2017, "Evaluating the
visualization of what a deep neural network has learned" (region perturbation in the most-relevant-
first order, compared against a random order: the same curve, summarised there as AOPC).

Deletion removes the most relevant voxels first and follows the target class's score as they go:
a faithful map makes it fall fast (a low area under the curve). Insertion starts from a clip with
everything removed and puts the most relevant voxels back first: a faithful map makes the score
rise fast (a high area). "Removed" means replaced by a fill (fill.py; default temporal_mean, the
only fill that removes motion).

    c = deletion(model, video, target, relevance)            # voxel order, temporal_mean fill
    c.fractions   # (S + 1,) fraction of voxels (or frames) removed: 0 .. 1
    c.scores      # (N, S + 1) the target class's softmax probability after removing that fraction
    c.random      # (N, S + 1) the same for random orders: the mean over >= 3 seeded orders
    c.auc, c.random_auc, c.relative_auc                      # (N,) trapezoid AUCs and their ratio

Orders:
    voxel   voxels (all channels of a pixel in a frame together) by relevance, most relevant first,
            in S steps of 1/S of the clip (default S = 20: 5 % a step); ties broken by a seeded
            random permutation, never by position in memory
    frame   whole frames by their summed relevance, most relevant frame first: T steps, the
            temporal curve (S is ignored)

The score is the softmax probability of the target class, not its logit: bounded in [0, 1], so
areas are comparable between clips, classes and models (the logit of a removed clip is unbounded).
The random baseline is computed in the same run from the same clips, fill and steps; it does not
depend on the map, so `random_curve` can compute it once and share it among methods (`random=`).
Each method's curve is relative to it: relative_auc < 1 for deletion, > 1 for insertion, beats
chance order; deletion above 1 is worse than deleting at random.

Forward passes are batched (`batch_size` perturbed clips a pass, no gradients, under the model's
lock); `progress(fraction, message)` hears each pass and may raise methods.progress.Cancelled
to stop there.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ..methods.progress import Progress, part
from .fill import DEFAULT_FILL, fill_like

KINDS = ("deletion", "insertion")
ORDERS = ("voxel", "frame")
STEPS = 20                      # voxel order: 5 % of the clip a step
MIN_RANDOM_ORDERS = 3


@dataclass
class Curve:
    """A deletion or insertion curve for N clips, with the random-order baseline.

    kind       "deletion" | "insertion";  order  "voxel" | "frame";  fill  a fills.FILLS name
    fractions  (S + 1,) share of voxels (frame order: of frames) removed, 0 .. 1
    scores     (N, S + 1) the target's softmax probability at each fraction
    random     (N, S + 1) the mean over `random_orders` random orders
    """

    kind: str
    order: str
    fill: str
    fractions: np.ndarray
    scores: np.ndarray
    random: np.ndarray
    random_orders: int

    @property
    def auc(self) -> np.ndarray:
        """(N,) area under each clip's curve (trapezoid rule over the fraction), in [0, 1]."""
        return np.trapezoid(self.scores, self.fractions, axis=1)

    @property
    def random_auc(self) -> np.ndarray:
        """(N,) area under the random-order curve."""
        return np.trapezoid(self.random, self.fractions, axis=1)

    @property
    def relative_auc(self) -> np.ndarray:
        """(N,) auc / random_auc: deletion < 1 and insertion > 1 beat a random order (NaN for 0 / 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.auc / self.random_auc

    def to_dict(self) -> dict:
        """JSON-ready: the mean curves over clips, the mean AUCs and their ratio (the ratio of the
        means, steadier than the mean of per-clip ratios when a clip's random AUC is near 0)."""
        return {"kind": self.kind, "order": self.order, "fill": self.fill, "clips": len(self.scores),
                "random_orders": self.random_orders, "fractions": self.fractions.tolist(),
                "scores": self.scores.mean(0).tolist(), "random": self.random.mean(0).tolist(),
                "auc": float(self.auc.mean()), "random_auc": float(self.random_auc.mean()),
                "relative_auc": float(self.auc.mean() / self.random_auc.mean())
                if self.random_auc.mean() > 0 else None}


def deletion(model, video, target, relevance, **kw) -> Curve:
    """The deletion curve: most relevant voxels (or frames) removed first. Options as `curve`."""
    return curve(model, video, target, relevance, kind="deletion", **kw)


def insertion(model, video, target, relevance, **kw) -> Curve:
    """The insertion curve: from the fill, most relevant voxels (or frames) put back first."""
    return curve(model, video, target, relevance, kind="insertion", **kw)


def curve(model, video: torch.Tensor, target, relevance, *, kind: str = "deletion", order: str = "voxel",
          fill: str = DEFAULT_FILL, steps: int = STEPS, random_orders: int = MIN_RANDOM_ORDERS, seed: int = 0,
          batch_size: int = 16, random: np.ndarray | None = None, progress: Progress | None = None) -> Curve:
    """Deletion or insertion of `relevance` (N, T, H, W) over normalised clips `video` (N, C, T, H, W).

    target  (N,) class indices;  seed  breaks ties in the map's order and draws the random orders
    random  a baseline from `random_curve` with the same settings, or None to compute it here
    Costs (S + 1) x (1 + random_orders) forward passes per clip (S = T for frame order), fewer
    with `random` given. Raises ValueError for a bad kind, order, step count or shapes.
    """
    video, target, relevance = _check(video, target, relevance, kind, order, steps, random_orders)
    fractions, counts = _steps(video.shape, order, steps)
    base = fill_like(video, fill, getattr(model, "spec", None))
    ranks = torch.from_numpy(np.stack([map_ranks(r, order, seed) for r in relevance]))
    runs = 1 if random is not None else 1 + random_orders                 # perturbed_scores runs, equal work
    scores = perturbed_scores(model, video, target, ranks, base, kind, counts, batch_size,
                              part(progress, 0, 1 / runs))
    if random is None:
        random = _random(model, video, target, base, kind, order, counts, random_orders, seed, batch_size,
                         part(progress, 1 / runs, 1 - 1 / runs))
    elif np.shape(random) != scores.shape:
        raise ValueError(f"curve: random baseline of shape {np.shape(random)}, expected {scores.shape}")
    return Curve(kind, order, fill, fractions, scores, np.asarray(random, np.float64), random_orders)


def random_curve(model, video: torch.Tensor, target, *, kind: str = "deletion", order: str = "voxel",
                 fill: str = DEFAULT_FILL, steps: int = STEPS, random_orders: int = MIN_RANDOM_ORDERS,
                 seed: int = 0, batch_size: int = 16, progress: Progress | None = None) -> np.ndarray:
    """(N, S + 1) the mean curve over `random_orders` seeded random orders (order r of clip i is
    drawn from numpy's default_rng([seed, r, i])): the baseline `curve(..., random=)` takes."""
    video, target, _ = _check(video, target, None, kind, order, steps, random_orders)
    _, counts = _steps(video.shape, order, steps)
    base = fill_like(video, fill, getattr(model, "spec", None))
    return _random(model, video, target, base, kind, order, counts, random_orders, seed, batch_size, progress)


def _random(model, video, target, base, kind, order, counts, orders, seed, batch_size, progress) -> np.ndarray:
    N, C, T, H, W = video.shape                                    # batch, channels, time, height, width
    runs = []
    for r in range(orders):
        ranks = torch.from_numpy(np.stack([random_ranks((T, H, W), order, np.random.default_rng([seed, r, i]))
                                           for i in range(N)]))    # (N, T, H, W)
        runs.append(perturbed_scores(model, video, target, ranks, base, kind, counts, batch_size,
                                     part(progress, r / orders, 1 / orders, "random order: ")))
    return np.mean(runs, axis=0)                                   # (N, S + 1)


def map_ranks(relevance: np.ndarray, order: str = "voxel", seed: int = 0) -> np.ndarray:
    """(T, H, W) int64: each voxel's place in the removal order of one map, 0 = removed first.

    voxel: by relevance, highest first; equal values in a random order (default_rng(seed)).
    frame: each frame's place by its summed relevance (ties: earlier frame first), on every pixel.
    """
    r = np.asarray(relevance, np.float64)
    T, H, W = r.shape
    if order == "frame":
        frames = np.argsort(-r.reshape(T, -1).sum(1), kind="stable")        # (T,) most relevant first
        place = np.empty(T, np.int64)
        place[frames] = np.arange(T)
        return np.broadcast_to(place[:, None, None], (T, H, W)).copy()
    flat = r.reshape(-1)
    shuffle = np.random.default_rng(seed).permutation(flat.size)             # ties: a random order
    first = shuffle[np.argsort(-flat[shuffle], kind="stable")]               # voxel indices, removal order
    place = np.empty(flat.size, np.int64)
    place[first] = np.arange(flat.size)
    return place.reshape(T, H, W)


def random_ranks(shape: tuple[int, int, int], order: str, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W) int64: a random removal order of voxels, or of whole frames."""
    T, H, W = shape
    if order == "frame":
        return np.broadcast_to(rng.permutation(T)[:, None, None], (T, H, W)).astype(np.int64)
    return rng.permutation(T * H * W).reshape(T, H, W).astype(np.int64)


@torch.no_grad()
def perturbed_scores(model, video: torch.Tensor, target: torch.Tensor, ranks: torch.Tensor,
                     base: torch.Tensor, kind: str, counts: list[int], batch_size: int = 16,
                     progress: Progress | None = None) -> np.ndarray:
    """(N, len(counts)) the target's softmax probability with the `counts[k]` first voxels of each
    clip's order (`ranks` (N, T, H, W), 0 first) removed (deletion) or the only ones kept (insertion),
    the rest taken from `base` (N, C, T, H, W). Batches of `batch_size` perturbed clips."""
    N, S = video.shape[0], len(counts)
    pairs = [(n, k) for n in range(N) for k in range(S)]
    ranks = ranks.to(video.device)
    out = np.empty((N, S))
    lock = getattr(model, "lock", None) or nullcontext()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        n = torch.tensor([p[0] for p in chunk], device=video.device)
        count = torch.tensor([counts[p[1]] for p in chunk], device=video.device).view(-1, 1, 1, 1)
        first = (ranks[n] < count).unsqueeze(1)                            # (B, 1, T, H, W): the first `count`
        keep = ~first if kind == "deletion" else first
        x = torch.where(keep, video[n], base[n])                           # (B, C, T, H, W)
        with lock:
            logits = model(x)                                              # (B, K)
        p = logits.double().softmax(1).gather(1, target[n].view(-1, 1))[:, 0]
        for (i, k), v in zip(chunk, p.cpu().numpy()):
            out[i, k] = v
        if progress is not None:
            done = start + len(chunk)
            progress(done / len(pairs), f"{kind}: {done} of {len(pairs)} perturbed clips")
    return out


def _steps(shape, order: str, steps: int) -> tuple[np.ndarray, list[int]]:
    """(fractions (S + 1,), how many of the order's first places are removed at each step): S =
    `steps` of the voxels, or the T frames (a frame order's ranks are frame places, 0 .. T - 1)."""
    N, C, T, H, W = shape
    if order == "frame":
        return np.arange(T + 1) / T, list(range(T + 1))
    voxels = T * H * W
    return np.arange(steps + 1) / steps, [round(k * voxels / steps) for k in range(steps + 1)]


def _check(video, target, relevance, kind, order, steps, random_orders):
    if kind not in KINDS:
        raise ValueError(f"curve: kind must be one of {KINDS}, got {kind!r}")
    if order not in ORDERS:
        raise ValueError(f"curve: order must be one of {ORDERS}, got {order!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"curve: steps must be an integer >= 1, got {steps!r}")
    if random_orders < MIN_RANDOM_ORDERS:
        raise ValueError(f"curve: the random baseline is the mean of at least {MIN_RANDOM_ORDERS} orders, "
                         f"got random_orders={random_orders}")
    if not torch.is_tensor(video) or video.dim() != 5:
        raise ValueError(f"curve: video must be a tensor (N, C, T, H, W), got {getattr(video, 'shape', video)!r}")
    N, C, T, H, W = video.shape
    target = torch.as_tensor(target, device=video.device).long().reshape(-1)
    if target.numel() != N:
        raise ValueError(f"curve: {N} clips but {target.numel()} targets")
    if relevance is not None:
        relevance = relevance.detach().cpu().numpy() if torch.is_tensor(relevance) else np.asarray(relevance)
        if relevance.shape != (N, T, H, W):
            raise ValueError(f"curve: relevance of shape {relevance.shape}, expected (N, T, H, W) = {(N, T, H, W)}")
        if not np.isfinite(relevance).all():
            raise ValueError("curve: the relevance holds NaN or infinite values")
    return video.detach(), target, relevance
