"""Supervoxels: a clip cut into tens to hundreds of space-time regions of similar colour (3-D SLIC).

    slic_supervoxels(frames, n_segments)   (T, H, W, C) float -> (T, H, W) labels 0..M-1, cached
    clip_supervoxels(model, clip, n)       the same from a normalised (C, T, H, W) model input
    alignment(labels, mask)                how well supervoxels can draw a mask (IoU of the best union)

SLIC (Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods", TPAMI
2012) by scikit-image on the whole clip as one volume, with colour in CIELAB: each supervoxel is
a connected tube of similar colour, so the removal methods (surrogates.py) hide whole objects
over a few frames rather than boxes.

Parameters, chosen on the procedural data's ground-truth evidence masks (32 clips of seed 6; the
benchmark reports seed 4: benchmarks/supervoxels.py, docs/ground_truth.md "supervoxels"). A
supervoxel set can draw the evidence at best as the union of the supervoxels mostly inside it;
the IoU of that union with the mask (`alignment`) is the ceiling for any supervoxel explanation.
- TIME_SPACING = 2: one frame counts as 2 pixels in SLIC's distance, so supervoxels last fewer
  frames (about 12 of 16 at 50 supervoxels and 8 at 100, where spacing 1 gives 12). At the methods'
  default of 50 supervoxels it drew the masks best on seed 6, IoU 0.22 against 0.18-0.20 at 0.5,
  1 and 3 (compactness 30), but on seed 4 (the benchmark) 0.5-4 all score 0.12-0.13: at 50 the
  spacing hardly matters. At 100 supervoxels it does: 1.5-3 score 0.50-0.53, 1 0.50, 0.5 0.38.
  (SLIC seeds a grid whose rows in time follow n_segments, not the spacing: at 75, with two
  rows of seeds in time, smaller spacings did better, 0.44 at 0.5 against 0.30 at 2.)
- COMPACTNESS = 30 (CIELAB units per grid step): at 100 supervoxels 0.50-0.55 at 20-30, 0.28-0.36
  at 100 (near cubes: colour ignored), 0.13-0.26 at 1-3 (a few huge colour regions); a plain
  4 x 8 x 8 grid of boxes scores 0.26 with 256 cells.
The evidence is small (2.8% of a clip, a thin figure), so 50 supervoxels of ~2,000 voxels draw it
poorly (IoU ~0.2) and 100 much better (~0.5); the methods default to 50 because their attributions
are not stable across seeds at 100 within a minute of forward passes (surrogates.py).
SLIC takes about 90 ms per 16 x 64 x 64 clip on one CPU thread; the labels are cached per clip
(a bounded LRU keyed by the pixels' digest), so KernelSHAP, LIME and their seeds share one
segmentation.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import torch

from ..errors import MethodError

TIME_SPACING = 2.0        # SLIC distance of one frame, in pixels (see the module docstring)
COMPACTNESS = 30.0        # SLIC's colour vs space balance, CIELAB units per grid step
CACHE_BYTES = 64 * 2 ** 20  # labels kept (int16): 256 clips of 16 x 64 x 64, 20 of 32 x 224 x 224
MAX_SEGMENTS = 4096       # labels are stored as int16


class _LabelCache:
    """A bounded, thread-safe LRU of read-only label arrays, keyed by (digest, shape, parameters)."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes, self._bytes = max_bytes, 0
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: tuple, labels: np.ndarray) -> np.ndarray:
        labels.setflags(write=False)
        with self._lock:
            if key not in self._items and labels.nbytes <= self.max_bytes:
                self._items[key] = labels
                self._bytes += labels.nbytes
                while self._bytes > self.max_bytes:
                    self._bytes -= self._items.popitem(last=False)[1].nbytes
        return labels

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


CACHE = _LabelCache()


def slic_supervoxels(frames: np.ndarray, n_segments: int, *, compactness: float = COMPACTNESS,
                     time_spacing: float = TIME_SPACING, rgb: bool = True) -> np.ndarray:
    """Supervoxels of a clip: (T, H, W, C) float pixels -> (T, H, W) int16 labels 0..M-1, read-only.

    3-D SLIC over (T, H, W) (`skimage.segmentation.slic`, channel_axis=-1): colour in CIELAB when
    `rgb` (C = 3, RGB order), else the channels as they are; SLIC rescales the clip to [0, 1]
    first, so the pixels' scale does not matter. About `n_segments` supervoxels (SLIC places
    that many seeds on a grid; M is usually 80-100% of it), each one connected, every voxel in
    exactly one, labels consecutive from 0. Deterministic; cached per clip and parameters.
    Raises MethodError for frames that are not (T, H, W, C) or not finite.
    """
    from skimage.segmentation import slic

    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if frames.ndim != 4 or not np.isfinite(frames).all():
        raise MethodError(f"supervoxels: need finite frames (T, H, W, C), got shape {frames.shape}")
    if not 1 <= n_segments <= MAX_SEGMENTS:
        raise MethodError(f"supervoxels: n_segments must be from 1 to {MAX_SEGMENTS}, got {n_segments}")
    rgb = rgb and frames.shape[-1] == 3
    key = (hashlib.blake2b(frames.data, digest_size=16).hexdigest(), frames.shape, int(n_segments),
           float(compactness), float(time_spacing), rgb)
    hit = CACHE.get(key)
    if hit is not None:
        return hit
    labels = slic(frames, n_segments=int(n_segments), compactness=compactness, channel_axis=-1,
                  spacing=(time_spacing, 1.0, 1.0), convert2lab=rgb, start_label=0)  # (T, H, W)
    _, labels = np.unique(labels, return_inverse=True)            # consecutive 0..M-1
    return CACHE.put(key, labels.reshape(frames.shape[:3]).astype(np.int16))


def model_pixels(model, clip: torch.Tensor) -> tuple[np.ndarray, bool]:
    """A normalised model input (C, T, H, W) back in pixels: ((T, H, W, C) float32, is RGB).

    With the model's input spec (a VideoModel's `spec`): x * std + mean, BGR turned to RGB;
    gray and flow inputs are segmented on their own values. Without a spec the values are used
    as they are (SLIC rescales them to [0, 1]) and three channels are read as RGB.
    """
    x = clip.detach().float().cpu()                                  # (C, T, H, W)
    spec, C = getattr(model, "spec", None), clip.shape[0]
    rgb = C == 3
    if spec is not None and len(spec.mean) == C:
        mean = torch.tensor(spec.mean).view(C, 1, 1, 1)
        std = torch.tensor(spec.std).view(C, 1, 1, 1)
        x = x * std + mean
        rgb = spec.channels in ("RGB", "BGR")
        if spec.channels == "BGR":
            x = x.flip(0)
    return x.permute(1, 2, 3, 0).contiguous().numpy(), rgb            # (T, H, W, C)


def clip_supervoxels(model, clip: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Supervoxels of one model input (C, T, H, W): (T, H, W) int64 labels 0..M-1 on its device."""
    frames, rgb = model_pixels(model, clip)
    labels = slic_supervoxels(frames, n_segments, rgb=rgb)
    return torch.from_numpy(labels.astype(np.int64)).to(clip.device)


def spread(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each supervoxel's value shared evenly by its voxels: (M,), (T, H, W) -> (T, H, W).

    A voxel gets value / size of its supervoxel, so the map sums to values.sum() and any region's
    sum is the attribution of the supervoxels in it (a big supervoxel is not drawn stronger).
    """
    sizes = torch.bincount(labels.reshape(-1), minlength=values.numel()).to(values.dtype)  # (M,)
    return (values / sizes)[labels]                                   # (T, H, W)


def alignment(labels: np.ndarray, mask: np.ndarray) -> float:
    """How well supervoxels can draw `mask`: IoU of the mask with the union of the supervoxels
    that lie mostly (>= 50% of their voxels) inside it. labels (T, H, W) 0..M-1, mask (T, H, W)
    bool; 1.0: the mask is a union of supervoxels; NaN for an empty mask."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return float("nan")
    flat = np.asarray(labels).reshape(-1).astype(np.int64)
    inside = np.bincount(flat, mask.reshape(-1), flat.max() + 1)      # (M,) mask voxels per supervoxel
    size = np.bincount(flat, minlength=flat.max() + 1)                # (M,)
    drawn = ((inside / np.maximum(size, 1)) >= 0.5)[flat].reshape(mask.shape)
    return float((drawn & mask).sum() / (drawn | mask).sum())
