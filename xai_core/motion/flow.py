"""Dense optical flow of a clip: OpenCV's DIS (Kroeger et al., ECCV 2016), cached per clip.

    dis_flow(frames)      (T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray -> (T-1, H, W, 2) float32:
                          the displacement (dx, dy) in pixels per frame from frame t to t+1
    flow_magnitude(flow)  (T-1, H, W) float32, pixels per frame
    frame_motion(flow)    (T, H, W) float32: per frame, the larger of the magnitudes of the flow
                          into it and out of it, on the grid relevance (T, H, W) lives on
    CACHE                 the per-clip cache dis_flow uses (bounded LRU, thread-safe)

Parameters, chosen by measurement (docs/benchmarks.md, "Optical flow"; benchmarks/bench_flow.py):
DIS "ultrafast" (8 x 8 patches every 4 pixels, 12 gradient-descent iterations, no variational
refinement), with the finest pyramid scale chosen so that the finest grid is at least 48 pixels
on its short side: scale 0 at 64 x 64 (the bundled models' grid), 1 at 112 x 112, 2 at 224 x 224.
On a smooth texture shifted by known amounts ((1.5, -0.75), (3, 2), (0.3, 0.2), (-2.25, 0.5) px)
the median flow over the interior is off by at most 0.004 px at 64², 0.018 px at 112² and
0.074 px at 224²; one frame pair takes 0.6 ms at 64² and 0.5 ms at 112² on one CPU thread
(0.4 and 0.35 ms on two; docs/benchmarks.md). The "fast" and "medium" presets are 2-3 times
slower at the same or worse accuracy here, and separate the synthetic figure's moving pixels
from sensor noise no better (see xai_core.motion.moving).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import cv2
import numpy as np

PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
PRESET = "ultrafast"
FINEST_GRID = 48          # pixels: the finest pyramid level is the coarsest one still this large
MIN_SIZE = 16             # pixels per side: DIS's 8 x 8 patches need room on its coarsest level


def finest_scale(height: int, width: int) -> int:
    """The DIS pyramid level flow is computed on: the largest s with min(H, W) / 2**s >= FINEST_GRID."""
    s, short = 0, min(height, width)
    while short / 2 ** (s + 1) >= FINEST_GRID:
        s += 1
    return s


class FlowCache:
    """A bounded LRU of flow fields keyed by (digest of the frames' bytes, shape, parameters).

    Holds at most `max_bytes` of flow (64 MiB: about 250 clips of 16 x 64 x 64); the least
    recently used field goes first. Thread-safe (one lock around every lookup and insertion).
    The arrays it returns are read-only: callers share them.
    """

    def __init__(self, max_bytes: int = 64 * 2 ** 20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            flow = self._items.get(key)
            if flow is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return flow

    def put(self, key: tuple, flow: np.ndarray) -> np.ndarray:
        """Store `flow` under `key` (made read-only) and return the stored array."""
        flow.setflags(write=False)
        with self._lock:
            if key in self._items:
                return self._items[key]
            if flow.nbytes > self.max_bytes:
                return flow
            self._items[key] = flow
            self._bytes += flow.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
            return flow

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


CACHE = FlowCache()


def check_frames(frames: np.ndarray) -> None:
    """Raise ValueError unless `frames` is (T, H, W, 3) or (T, H, W) uint8 with T >= 2, H, W >= MIN_SIZE."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"optical flow needs a numpy array of frames, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ValueError(f"optical flow needs uint8 frames (0-255), got dtype {frames.dtype}")
    if not (frames.ndim == 3 or (frames.ndim == 4 and frames.shape[-1] == 3)):
        raise ValueError(f"optical flow needs frames (T, H, W, 3) RGB or (T, H, W) gray, got shape {frames.shape}")
    T, H, W = frames.shape[:3]
    if T < 2:
        raise ValueError(f"optical flow needs at least 2 frames, got {T}")
    if min(H, W) < MIN_SIZE:
        raise ValueError(f"optical flow needs frames of at least {MIN_SIZE} x {MIN_SIZE} pixels, got {H} x {W}")


def as_gray_frames(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray -> (T, H, W) C-contiguous uint8 gray (BT.601).

    Raises ValueError for anything else (see check_frames).
    """
    check_frames(frames)
    if frames.ndim == 4:
        return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])
    return np.ascontiguousarray(frames)


def dis_flow(frames: np.ndarray, *, preset: str = PRESET, cache: bool = True) -> np.ndarray:
    """Dense optical flow between consecutive frames: (T-1, H, W, 2) float32, pixels per frame.

    `frames`: (T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray, T >= 2. Entry [t, y, x] is the
    displacement (dx, dy) of pixel (x, y) from frame t to frame t+1 (x to the right, y down).
    DIS optical flow (Kroeger, Timofte, Dai & Van Gool, "Fast Optical Flow using Dense Inverse
    Search", ECCV 2016) as OpenCV implements it (cv2.DISOpticalFlow), with the preset and
    pyramid level of the module docstring. With `cache`, a clip seen before (same bytes, shape
    and parameters) returns the stored, read-only array without recomputing it.
    Raises ValueError for frames of another dtype or shape, or fewer than two.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; presets: {', '.join(PRESETS)}")
    check_frames(frames)
    key = None
    if cache:
        digest = hashlib.blake2b(np.ascontiguousarray(frames).data, digest_size=16).hexdigest()
        key = (digest, frames.shape, str(frames.dtype), preset)
        hit = CACHE.get(key)
        if hit is not None:
            return hit
    gray = as_gray_frames(frames)                                    # (T, H, W) uint8
    T, H, W = gray.shape
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])                 # one per call: not shared across threads
    dis.setFinestScale(finest_scale(H, W))
    flow = np.empty((T - 1, H, W, 2), np.float32)
    for t in range(T - 1):
        flow[t] = dis.calc(gray[t], gray[t + 1], None)               # (H, W, 2): (dx, dy)
    return CACHE.put(key, flow) if cache else flow


def _check_flow(flow: np.ndarray, where: str) -> np.ndarray:
    flow = np.asarray(flow)
    if flow.ndim != 4 or flow.shape[-1] != 2 or flow.shape[0] < 1:
        raise ValueError(f"{where}: expected flow (T-1, H, W, 2), got shape {flow.shape}")
    return flow


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """(T-1, H, W, 2) flow -> (T-1, H, W) float32 magnitude sqrt(dx² + dy²), pixels per frame."""
    flow = _check_flow(flow, "flow_magnitude").astype(np.float32, copy=False)
    return np.hypot(flow[..., 0], flow[..., 1])


def frame_motion(flow: np.ndarray) -> np.ndarray:
    """(T-1, H, W, 2) flow -> (T, H, W) float32 motion per frame, pixels per frame.

    Frame t gets the larger of the magnitudes of the flows t-1 -> t and t -> t+1 (the first and
    last frames have one of them), so a pixel that moves into or out of frame t counts as moving
    in it: the motion map lies on the same (T, H, W) grid as relevance.
    """
    mag = flow_magnitude(flow)                                       # (T-1, H, W)
    out = np.empty((mag.shape[0] + 1, *mag.shape[1:]), np.float32)  # (T, H, W)
    out[0], out[-1] = mag[0], mag[-1]
    np.maximum(mag[:-1], mag[1:], out=out[1:-1])
    return out
