"""Resizing for display: relevance onto the frames' grid, frames to a size a viewer can see."""
from __future__ import annotations

import cv2
import numpy as np

# cv2.resize handles at most this many channels in one call.
_CV_MAX_CHANNELS = 512


def check_pair(frames: np.ndarray, relevance: np.ndarray) -> None:
    """Frames (T, h, w, 3) uint8 and relevance (T, H, W) must agree on T."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, h, w, 3) RGB (got shape {frames.shape})")
    if relevance.ndim != 3:
        raise ValueError(f"relevance must be (T, H, W) (got shape {relevance.shape})")
    if frames.shape[0] != relevance.shape[0]:
        raise ValueError(f"frames have T={frames.shape[0]} but relevance has T={relevance.shape[0]}")


def resize_volume(volume: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W) float -> (T, h, w) float32, bilinear, same field of view (no crop); size = (h, w)."""
    T, H, W = volume.shape
    h, w = size
    v = np.asarray(volume, np.float32)
    if (H, W) == (h, w):
        return v.copy()
    out = np.empty((T, h, w), np.float32)
    for start in range(0, T, _CV_MAX_CHANNELS):
        chunk = np.ascontiguousarray(v[start:start + _CV_MAX_CHANNELS].transpose(1, 2, 0))  # (H, W, t)
        r = cv2.resize(chunk, (w, h), interpolation=cv2.INTER_LINEAR)
        out[start:start + _CV_MAX_CHANNELS] = r.reshape(h, w, -1).transpose(2, 0, 1)     # (t, h, w)
    return out


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, h, w, 3) uint8 -> (T, h', w', 3): area when shrinking, bilinear when growing."""
    h, w = frames.shape[1:3]
    if (h, w) == tuple(size):
        return frames
    shrink = size[0] * size[1] < h * w
    mode = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=mode) for f in frames])


def fit_size(h: int, w: int, min_side: int = 0, max_side: int = 0) -> tuple[int, int]:
    """(h, w) scaled (aspect kept) so the short side >= min_side and the long side <= max_side."""
    scale = 1.0
    if min_side and min(h, w) < min_side:
        scale = min_side / min(h, w)
    if max_side and max(h, w) * scale > max_side:
        scale = max_side / max(h, w)
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))
