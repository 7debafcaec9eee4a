"""Optical flow as colour, and relevance on the flow field.

    flow_to_rgb(flow, max_flow=None)         (..., H, W, 2) -> (..., H, W, 3) uint8
    flow_legend(size, max_flow=1.0)          (size, size, 3) uint8: the colour wheel
    flow_relevance_frames(flow, relevance, frames=None)   (T-1, h, w, 3) uint8
    flow_tube(flow, relevance, frames=None)  the staggered-frame tube of those frames (render.tube)

Colour coding of the Middlebury flow benchmark (Baker, Scharstein, Lewis, Roth, Black & Szeliski,
"A Database and Evaluation Methodology for Optical Flow", IJCV 2011; their colour wheel of 55
hues, RY 15, YG 6, GC 4, CB 11, BM 13, MR 6): hue is the direction (rightward red, downward
yellow-green, leftward cyan, upward blue-violet; image y points down), saturation the magnitude
relative to `max_flow` (white: still; full colour: `max_flow` px/frame or more, darkened beyond).

Relevance on the flow field: each pixel is the flow colour where the positive relevance is at the
top of its clip-wide scale, grey (the dimmed frame, or mid grey without frames) where it is zero, and a
linear mix between: what moved, which way, and only where the stream looked.
"""
from __future__ import annotations

import cv2
import numpy as np

from .colormap import robust_scale
from .resample import resize_frames


def _wheel() -> np.ndarray:
    """The 55 colours of the Middlebury wheel, (55, 3) float in [0, 255], RGB."""
    segments = [(15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)),
                (4, (0, 255, 0), (0, 255, 255)), (11, (0, 255, 255), (0, 0, 255)),
                (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0))]
    rows = []
    for n, a, b in segments:                                  # n steps from colour a towards b
        k = np.arange(n, dtype=np.float64)[:, None] / n
        rows.append(np.array(a, np.float64) * (1 - k) + np.array(b, np.float64) * k)
    return np.concatenate(rows)                               # (55, 3)


WHEEL = _wheel()


def _check_flow(flow) -> np.ndarray:
    flow = np.asarray(flow, np.float32)
    if flow.ndim < 3 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be (..., H, W, 2) (dx, dy) in pixels per frame, got shape {flow.shape}")
    return flow


def default_max_flow(flow: np.ndarray) -> float:
    """The 99th percentile of the flow's finite magnitudes (px/frame), at least 1e-6: its colour scale."""
    mag = np.hypot(flow[..., 0], flow[..., 1])
    mag = mag[np.isfinite(mag)]
    return max(float(np.percentile(mag, 99)) if mag.size else 0.0, 1e-6)


def flow_to_rgb(flow, max_flow: float | None = None) -> np.ndarray:
    """Flow (..., H, W, 2) in px/frame -> (..., H, W, 3) uint8 RGB in the Middlebury colour coding.

    `max_flow` (px/frame): the magnitude drawn in full colour (default: default_max_flow, the
    99th percentile); larger motion is darkened to 75%. NaN flow is drawn black.
    """
    flow = _check_flow(flow)
    if max_flow is None:
        max_flow = default_max_flow(flow)
    if not (np.isfinite(max_flow) and max_flow > 0):
        raise ValueError(f"max_flow must be a positive number of pixels per frame, got {max_flow!r}")
    bad = ~np.isfinite(flow).all(-1)
    u, v = np.where(bad, 0, flow[..., 0]), np.where(bad, 0, flow[..., 1])
    rad = np.hypot(u, v) / max_flow
    angle = np.arctan2(-v, -u) / np.pi                        # in [-1, 1]; rightward: +-1
    fk = (angle + 1) / 2 * (len(WHEEL) - 1)                   # position on the wheel
    k0 = np.floor(fk).astype(np.int64) % len(WHEEL)
    k1 = (k0 + 1) % len(WHEEL)
    f = (fk - np.floor(fk))[..., None]
    col = ((1 - f) * WHEEL[k0] + f * WHEEL[k1]) / 255.0       # (..., 3) in [0, 1]
    inside = (rad <= 1)[..., None]
    col = np.where(inside, 1 - rad[..., None] * (1 - col), col * 0.75)   # white at rest
    col[bad] = 0
    return np.clip(col * 255 + 0.5, 0, 255).astype(np.uint8)


def flow_legend(size: int = 96, max_flow: float = 1.0) -> np.ndarray:
    """(size, size, 3) uint8: the colour wheel; the pixel at offset (dx, dy) from the centre has the
    colour of flow (dx, dy) / radius * max_flow. White outside the disc."""
    if not (isinstance(size, int) and size >= 8):
        raise ValueError(f"flow_legend: size must be an integer >= 8 pixels, got {size!r}")
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    flow = np.stack([(x - c) / c, (y - c) / c], -1) * max_flow            # (size, size, 2)
    image = flow_to_rgb(flow, max_flow)
    image[np.hypot(x - c, y - c) > c] = 255
    return image


def flow_relevance_frames(flow, relevance, frames=None, max_flow: float | None = None,
                          dim: float = 0.5, scale: float | None = None, percentile: float = 99.5) -> np.ndarray:
    """Relevance on the flow field, one image per flow field: (T-1, h, w, 3) uint8.

    flow       (T-1, H, W, 2) px/frame; relevance (T-1, H', W') on the same fields (resized onto
               the flow's grid if its size differs; only clip(R, 0) is drawn; NaN counts as 0)
    frames     optional (T, h, w, 3) or (T-1, h, w, 3) uint8 RGB display frames: image t sits on
               frame t (where the motion starts), in grey, dimmed by `dim`; the output has their
               size. Without frames: mid grey, the flow's size.
    Each pixel mixes the background and the flow colour (flow_to_rgb) by w = min(1, R+ / scale):
    zero relevance leaves the background untouched. `scale`: the relevance drawn in full colour
    (default: the `percentile` of the clip's positive values, render.colormap.robust_scale, as
    the other renderings: a few extreme voxels do not wash the rest out).
    """
    flow = _check_flow(flow)
    R = np.nan_to_num(np.asarray(relevance, np.float32), nan=0.0)
    if flow.ndim != 4 or R.ndim != 3 or R.shape[0] != flow.shape[0]:
        raise ValueError(f"flow_relevance_frames: need flow (T-1, H, W, 2) and relevance (T-1, H, W) with the "
                         f"same T-1, got {flow.shape} and {R.shape}")
    n, H, W = flow.shape[:3]
    if R.shape[1:] != (H, W):
        R = np.stack([cv2.resize(r, (W, H), interpolation=cv2.INTER_LINEAR) for r in R])
    positive = np.clip(R, 0, None)
    top = robust_scale(positive, "positive", percentile) if scale is None else float(scale)
    weight = np.clip(positive / top, 0, 1) if top > 0 else np.zeros_like(positive)   # (T-1, H, W)
    colours = flow_to_rgb(flow, max_flow).astype(np.float32)             # (T-1, H, W, 3)
    if frames is None:
        background = np.full((n, H, W, 3), 128, np.float32)
    else:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or \
                frames.shape[0] not in (n, n + 1):
            raise ValueError(f"flow_relevance_frames: frames must be ({n + 1} or {n}, h, w, 3) uint8, "
                             f"got {frames.shape} {frames.dtype}")
        gray = frames[:n].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)   # (T-1, h, w)
        background = np.repeat((gray * (1 - dim) + 128 * dim)[..., None], 3, -1)
        size = frames.shape[1:3]
        if size != (H, W):
            colours = resize_frames(colours, size)
            weight = np.stack([cv2.resize(w, size[::-1], interpolation=cv2.INTER_LINEAR) for w in weight])
    out = background * (1 - weight[..., None]) + colours * weight[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def flow_tube(flow, relevance, frames=None, max_flow: float | None = None, **tube_options) -> np.ndarray:
    """The staggered-frame tube (render.tube.tube_image) of flow_relevance_frames: (H, W, 3) uint8.

    The pages carry the flow colours where the stream looked; the tube adds the path of
    attention through time and fades fields with little relevance (no heat map on top and no
    ghosts: `alpha` and `ghost` 0 unless given). `tube_options` go to render_tube.
    """
    from .tube import tube_image

    images = flow_relevance_frames(flow, relevance, frames, max_flow)     # (T-1, h, w, 3)
    tube_options.setdefault("alpha", 0.0)
    tube_options.setdefault("ghost", 0.0)                     # the tube's heat colours would mix with the flow's
    tube_options.setdefault("legend", False)
    return tube_image(images, np.asarray(relevance, np.float32), **tube_options)
