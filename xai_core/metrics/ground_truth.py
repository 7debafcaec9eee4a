"""Scores against the procedural data set's ground truth: is the relevance where the evidence is?"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a (T, H, W) mask by `pixels` in space (not in time)."""
    if pixels <= 0:
        return mask.astype(bool)
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) for m in mask]).astype(bool)


def pointing_tolerance(height: int) -> int:
    """The pointing game's usual 15 px tolerance at 224 px (Zhang et al. 2016), scaled to `height`."""
    return max(1, round(15 * height / 224))


@dataclass(frozen=True)
class Pointing:
    """One clip's pointing game: hit (True), miss (False) or n/a (None), and why when not a hit.

    `score` is the number a rate averages: 1.0, 0.0, or NaN for n/a (left out of rates).
    """

    hit: bool | None
    reason: str = ""

    @property
    def score(self) -> float:
        return float("nan") if self.hit is None else float(self.hit)


def pointing_game(relevance: np.ndarray, mask: np.ndarray, tolerance: int | None = None) -> Pointing:
    """Pointing game (Zhang et al. 2018, IJCV; ECCV 2016): does the most relevant voxel fall in the evidence?

    relevance (T, H, W) and mask (T, H, W) bool on the same grid; the mask is grown in space by
    `tolerance` px, by default the usual 15 px at 224 px scaled to the frame (4 px at 64 px).
    n/a (hit None, with the reason) when the map's maximum is not a point, so that the answer
    would rest on where argmax happens to look first (pixel (t, 0, 0) of a flat frame):
    - every frame is constant (a temporal map, as temporal occlusion gives), or the peak frame is;
    - the maximum is shared by several voxels, some in the (grown) evidence and some not.
    A maximum shared only by voxels in the evidence is a hit, only outside it a miss. A flat map
    (an all-zero Grad-CAM) or one with no positive relevance points nowhere and misses: the
    method found nothing, and a rate must count that.
    """
    if tolerance is None:
        tolerance = pointing_tolerance(relevance.shape[1])
    r = np.asarray(relevance, np.float64)                                   # (T, H, W)
    per_frame = r.reshape(len(r), -1)                                       # (T, H*W)
    if r.max() == r.min():
        return Pointing(False, "the map is constant: it points nowhere")
    if (per_frame.max(1) == per_frame.min(1)).all():
        return Pointing(None, "the map is constant within every frame (it says when, not where)")
    if r.max() <= 0:
        return Pointing(False, "no positive relevance: it points nowhere")
    peaks = np.argwhere(r == r.max())                                       # (P, 3): t, y, x
    if any(r[t].max() == r[t].min() for t in set(peaks[:, 0].tolist())):
        return Pointing(None, "the peak frame is constant: the maximum is not a point")
    grown = {int(t): dilate(mask[t:t + 1], tolerance)[0] for t in set(peaks[:, 0].tolist())}
    inside = np.array([grown[int(t)][y, x] for t, y, x in peaks])
    if inside.all():
        return Pointing(True)
    if not inside.any():
        return Pointing(False, "the peak lies outside the evidence" if len(peaks) == 1 else
                        f"the maximum, shared by {len(peaks)} voxels, lies outside the evidence")
    return Pointing(None, f"the maximum is shared by {len(peaks)} voxels, {int(inside.sum())} in the evidence "
                          "and the rest not: it is not a point")


def pointing_hit(relevance: np.ndarray, mask: np.ndarray, tolerance: int | None = None) -> bool | None:
    """Pointing game as True (hit), False (miss) or None ("n/a"); `pointing_game` says why."""
    return pointing_game(relevance, mask, tolerance).hit


def pointing_text(hit: bool | None) -> str:
    """A pointing-game result in words: "hit", "miss" or "n/a"."""
    return "n/a" if hit is None else "hit" if hit else "miss"


def pointing_rate(hits) -> float | None:
    """The share of hits among the clips where the pointing game applies (None if it applies
    to none): results that are None ("n/a") are left out, not counted as misses."""
    scored = [bool(h) for h in hits if h is not None]
    return float(np.mean(scored)) if scored else None


def energy_inside(relevance: np.ndarray, mask: np.ndarray) -> float:
    """Share of the positive relevance that lies inside the evidence mask (0 when there is none)."""
    r = np.clip(np.asarray(relevance, np.float64), 0, None)
    total = r.sum()
    return float(r[mask].sum() / total) if total > 0 else 0.0


def temporal_hit(relevance: np.ndarray, mask: np.ndarray) -> bool:
    """Does the frame with the most positive relevance hold evidence?"""
    per_frame = np.clip(np.asarray(relevance, np.float64), 0, None).reshape(len(relevance), -1).sum(1)
    if per_frame.max() <= 0:
        return False
    return bool(mask[int(np.argmax(per_frame))].any())


def mask_on_grid(mask: np.ndarray, source_indices, shape: tuple[int, int, int]) -> np.ndarray:
    """A mask over a video's frames (T0, H0, W0) put onto a clip's grid (T, H, W): the clip's
    source frames, resized (nearest) to its size."""
    mask = np.asarray(mask, bool)
    numbers = [int(n) for n in source_indices]
    if max(numbers) >= len(mask):
        raise ValueError(f"evidence mask has {len(mask)} frames; the clip uses source frame {max(numbers)}")
    T, H, W = shape
    return np.stack([cv2.resize(mask[n].astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
                     for n in numbers]).astype(bool)                    # (T, H, W)
