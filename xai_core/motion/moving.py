"""Relevance on moving pixels: how much of an explanation sits where the clip moves, for any model.

    moving_share(relevance, flow_or_motion, threshold=THRESHOLD) -> float in [0, 1], or nan
    moving_mask(relevance_shape, flow_or_motion, threshold=THRESHOLD) -> (T, H, W) bool

A voxel moves when its motion (xai_core.motion.flow.frame_motion: the larger of the flow
magnitudes into and out of its frame) is above `threshold` pixels per frame on the relevance's
(the model's) grid. The share is the positive relevance on moving voxels over all positive
relevance: sum(clip(R, 0) * moving) / sum(clip(R, 0)).

The default threshold, THRESHOLD = 1.0 px/frame, is measured on the procedural data set (96
clips of a seed never used in training, DIS flow as dis_flow computes it, 64 x 64):
- sensor noise: each clip's temporal median (nothing moves) with fresh i.i.d. noise of
  sigma 2-9 grey levels, as the generator draws it: DIS reads 0.39 px/frame at the median voxel,
  0.80 at the 90th percentile, 1.60 at the 99th; 3.9% of the voxels are above 1.0;
- the moving figure (the evidence mask of walk and sit/stand clips): 1.61 px/frame at the median
  voxel; 76% of its voxels are above 1.0 (85% above 0.75, where 13% of the noise is).
1.0 keeps most of the figure and lets less than 4% of a still clip's voxels count as moving.
"""
from __future__ import annotations

import cv2
import numpy as np

from .flow import frame_motion

THRESHOLD = 1.0          # pixels per frame on the model's grid (see the module docstring)


def _array(x, where: str) -> np.ndarray:
    if hasattr(x, "detach"):                                  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a numeric array, got {type(x).__name__}") from None


def motion_on_grid(flow_or_motion, shape: tuple[int, int, int]) -> np.ndarray:
    """Flow (T-1, h, w, 2) or motion (T, h, w), px/frame -> motion (T, H, W) on the grid `shape`.

    A map of another size is resized per frame (bilinear) and its magnitudes converted to pixels
    of the new grid: flow components by W/w and H/h, a motion map by the mean of the two ratios.
    NaN motion counts as no motion. Raises ValueError when the frame counts disagree.
    """
    T, H, W = shape
    m = _array(flow_or_motion, "moving_share: flow or motion")
    if m.ndim == 4 and m.shape[-1] == 2:                      # flow (T-1, h, w, 2)
        h, w = m.shape[1:3]
        m = frame_motion(m * np.array([W / w, H / h], np.float32))   # (T, h, w), new grid's pixels
    elif m.ndim == 3:                                         # motion (T, h, w)
        h, w = m.shape[1:]
        m = m * np.float32((W / w + H / h) / 2)
    else:
        raise ValueError(f"moving_share: expected flow (T-1, h, w, 2) or motion (T, h, w), got shape {m.shape}")
    if m.shape[0] != T:
        raise ValueError(f"moving_share: motion has {m.shape[0]} frames, relevance {T} "
                         "(flow between T frames has T-1 fields)")
    m = np.nan_to_num(m, nan=0.0)
    if (h, w) != (H, W):
        m = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in m])
    return m                                                  # (T, H, W)


def moving_mask(shape: tuple[int, int, int], flow_or_motion, threshold: float = THRESHOLD) -> np.ndarray:
    """(T, H, W) bool: the voxels whose motion is above `threshold` px/frame on the grid `shape`."""
    if not (isinstance(threshold, (int, float)) and np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"moving_share: threshold must be a finite number >= 0 (px/frame), got {threshold!r}")
    return motion_on_grid(flow_or_motion, shape) > threshold


def moving_share(relevance, flow_or_motion, threshold: float = THRESHOLD) -> float:
    """The share of positive relevance on moving voxels, in [0, 1]; nan if there is no positive relevance.

    `relevance`: (T, H, W) on the model's grid (any sign; only clip(R, 0) counts; NaN counts as 0).
    `flow_or_motion`: DIS flow (T-1, h, w, 2) or a motion map (T, h, w), pixels per frame, resized
    onto the relevance's grid if its size differs (see motion_on_grid). `threshold`: px/frame on
    the relevance's grid (THRESHOLD = 1.0, measured: the module docstring).
    nan means "undefined": a map with no positive relevance says nothing about where its evidence
    lies (0 would claim it all lies on still pixels). Raises ValueError for shapes that disagree.
    """
    R = _array(relevance, "moving_share: relevance")
    if R.ndim != 3:
        raise ValueError(f"moving_share: expected relevance (T, H, W), got shape {R.shape}")
    positive = np.clip(np.nan_to_num(R, nan=0.0), 0.0, None).astype(np.float64)
    total = positive.sum()
    if not total > 0 or not np.isfinite(total):
        return float("nan")
    return float(positive[moving_mask(R.shape, flow_or_motion, threshold)].sum() / total)
