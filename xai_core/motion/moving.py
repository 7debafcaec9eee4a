"""Relevance on moving pixels: how much of an explanation sits where the clip moves, for any model.

    moving_share(relevance, flow_or_motion, threshold=THRESHOLD, window=WINDOW) -> float in [0, 1], or nan
    moving_mask(relevance_shape, flow_or_motion, threshold=THRESHOLD, window=WINDOW) -> (T, H, W) bool
    field_motion(flow, window=WINDOW)  -> (T-1, H, W): steady motion per flow field, px/frame
    moving_speed(flow)                 -> (T-1, H, W): each field's speed where it moves, else 0

A voxel moves when its steady motion is above `threshold` pixels per frame on the relevance's
(the model's) grid: the flow averaged over WINDOW consecutive fields at its pixel (steady_flow),
then per frame the larger of the lengths into and out of it (xai_core.motion.flow.frame_motion).
The share is the positive relevance on moving voxels over all positive relevance:
sum(clip(R, 0) * moving) / sum(clip(R, 0)).

The defaults, WINDOW = 3 fields and THRESHOLD = 0.65 px/frame, are chosen by
benchmarks/moving_threshold.py on 96 clips of a seed no other figure uses (docs/ground_truth.md,
"What counts as a moving pixel"): for each window, the lowest threshold at which at most 4% of
the voxels of still clips (each clip's temporal median with fresh sensor noise, sigma 2-9 grey
levels as the generator draws it) count as moving; then the window that finds most of the six
motion classes' evidence voxels. Sensor noise has a new direction in each field, so averaging
three fields shrinks it (still-clip median 0.38 -> 0.18 px/frame) while a limb that keeps its
direction keeps its speed. Measured: the flow itself (window 1) needs 1.00 px/frame for 3.9%
false alarms and finds 30-33% of sit_down / stand_up's slow evidence (62% over the six classes);
window 3 at 0.65 has 3.1% false alarms and finds 54-56% (68%).
"""
from __future__ import annotations

import cv2
import numpy as np

from .flow import frame_motion

THRESHOLD = 0.65         # pixels per frame on the model's grid (see the module docstring)
WINDOW = 3               # flow fields averaged per pixel before the threshold (1: none)
RULE = f"moving: the flow averaged over {WINDOW} fields above {THRESHOLD:g} px/frame"   # for captions


def steady_flow(flow: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """(T-1, H, W, 2) flow -> the same, each vector the mean of `window` consecutive fields at its pixel.

    The window is centred on the field (odd `window`) and cut short at the ends (the mean of the
    fields there are). Steady motion keeps its length; sensor noise, whose DIS flow has a random
    direction in each field, shrinks (by about sqrt(window)). window = 1 returns the flow as is.
    Raises ValueError for an even or non-positive window.
    """
    if not (isinstance(window, (int, np.integer)) and window >= 1 and window % 2 == 1):
        raise ValueError(f"moving_share: window must be an odd number of flow fields >= 1, got {window!r}")
    f = np.asarray(flow, np.float32)
    if window == 1 or f.shape[0] < 2:
        return f
    k = window // 2
    c = np.concatenate([np.zeros_like(f[:1]), np.cumsum(f, 0, dtype=np.float64)])   # (T, H, W, 2)
    n = f.shape[0]
    lo = np.clip(np.arange(n) - k, 0, n)
    hi = np.clip(np.arange(n) + k + 1, 0, n)
    return ((c[hi] - c[lo]) / (hi - lo)[:, None, None, None]).astype(np.float32)


def field_motion(flow: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """(T-1, H, W, 2) flow -> (T-1, H, W) float32: the length of steady_flow, pixels per frame."""
    f = steady_flow(flow, window)
    return np.hypot(f[..., 0], f[..., 1])


def moving_speed(flow: np.ndarray, threshold: float = THRESHOLD, window: int = WINDOW) -> np.ndarray:
    """(T-1, H, W, 2) flow -> (T-1, H, W) float32: each field's speed (px/frame) where it moves, else 0.

    "Where it moves": the field's steady motion (field_motion, `window` fields) is above
    `threshold`; what is drawn is the field's own speed there. For pictures of the moving flow.
    """
    f = np.asarray(flow, np.float32)
    speed = np.hypot(f[..., 0], f[..., 1])
    return np.where(field_motion(f, window) > threshold, speed, 0).astype(np.float32)


def _array(x, where: str) -> np.ndarray:
    if hasattr(x, "detach"):                                  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a numeric array, got {type(x).__name__}") from None


def motion_on_grid(flow_or_motion, shape: tuple[int, int, int], window: int = WINDOW) -> np.ndarray:
    """Flow (T-1, h, w, 2) or motion (T, h, w), px/frame -> motion (T, H, W) on the grid `shape`.

    A map of another size is resized per frame (bilinear) and its magnitudes converted to pixels
    of the new grid: flow components by W/w and H/h, a motion map by the mean of the two ratios.
    NaN motion counts as no motion. Raises ValueError when the frame counts disagree.
    """
    T, H, W = shape
    m = _array(flow_or_motion, "moving_share: flow or motion")
    if m.ndim == 4 and m.shape[-1] == 2:                      # flow (T-1, h, w, 2)
        h, w = m.shape[1:3]
        m = frame_motion(steady_flow(m * np.array([W / w, H / h], np.float32), window))   # (T, h, w)
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


def moving_mask(shape: tuple[int, int, int], flow_or_motion, threshold: float = THRESHOLD,
                window: int = WINDOW) -> np.ndarray:
    """(T, H, W) bool: the voxels whose motion is above `threshold` px/frame on the grid `shape`."""
    if not (isinstance(threshold, (int, float)) and np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"moving_share: threshold must be a finite number >= 0 (px/frame), got {threshold!r}")
    return motion_on_grid(flow_or_motion, shape, window) > threshold


def moving_share(relevance, flow_or_motion, threshold: float = THRESHOLD, window: int = WINDOW) -> float:
    """The share of positive relevance on moving voxels, in [0, 1]; nan if there is no positive relevance.

    `relevance`: (T, H, W) on the model's grid (any sign; only clip(R, 0) counts; NaN counts as 0).
    `flow_or_motion`: DIS flow (T-1, h, w, 2) or a motion map (T, h, w), pixels per frame, resized
    onto the relevance's grid if its size differs (see motion_on_grid); a flow is averaged over
    `window` fields first (steady_flow), a motion map is used as it is. `threshold`: px/frame on
    the relevance's grid (THRESHOLD = 0.65 at WINDOW = 3, measured: the module docstring).
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
    return float(positive[moving_mask(R.shape, flow_or_motion, threshold, window)].sum() / total)
