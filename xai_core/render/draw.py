"""Anti-aliased drawing primitives on RGB uint8 canvases (sub-pixel cv2 calls, alpha pasting)."""
from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4                      # cv2 sub-pixel bits: coordinates are drawn at 1/16 pixel
_ONE = 1 << SHIFT

# The palette every rendered image shares.
INK = (38, 38, 44)             # text, borders, the tube path
MUTED = (120, 120, 128)        # secondary text, axes
EDGE = (90, 90, 98)            # frame borders
ACCENT = (0, 150, 170)         # key frames: a teal that neither relevance colour map uses
WHITE = (255, 255, 255)


def _fixed(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * _ONE).astype(np.int32)


def polyline(canvas: np.ndarray, points: np.ndarray, colour, thickness: int = 1,
             closed: bool = False) -> None:
    """An anti-aliased line through (n, 2) float points (x, y), in place."""
    cv2.polylines(canvas, [_fixed(points)], closed, colour, thickness, cv2.LINE_AA, SHIFT)


def dashed(canvas: np.ndarray, points: np.ndarray, colour, thickness: int = 1, dash: float = 6.0,
           gap: float = 4.0) -> None:
    """An anti-aliased dashed line along (n, 2) float points: `dash` pixels drawn, `gap` skipped
    (measured along the line, so dashes keep their length on curves), in place."""
    p = np.asarray(points, np.float64)
    if len(p) < 2:
        return
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])   # (n,) arc length
    period = dash + gap
    for start in np.arange(0.0, along[-1], period):
        s = np.concatenate([[start], along[(along > start) & (along < start + dash)],
                            [min(start + dash, along[-1])]])                       # dash's samples
        piece = np.stack([np.interp(s, along, p[:, 0]), np.interp(s, along, p[:, 1])], 1)
        polyline(canvas, piece, colour, thickness)


def dot(canvas: np.ndarray, centre, radius: float, fill, ring=None, ring_width: float = 1.5) -> None:
    """A filled anti-aliased disc, optionally with a ring around it, in place."""
    c = tuple(int(v) for v in _fixed(centre))
    if ring is not None:
        cv2.circle(canvas, c, int(round((radius + ring_width) * _ONE)), ring, -1, cv2.LINE_AA, SHIFT)
    cv2.circle(canvas, c, int(round(radius * _ONE)), fill, -1, cv2.LINE_AA, SHIFT)


def arrow(canvas: np.ndarray, start, end, colour, tip: float = 9.0) -> None:
    """A one-pixel arrow from start to end with a `tip`-pixel head, in place."""
    length = max(1.0, float(np.hypot(end[0] - start[0], end[1] - start[1])))
    cv2.arrowedLine(canvas, tuple(int(v) for v in _fixed(start)), tuple(int(v) for v in _fixed(end)),
                    colour, 1, cv2.LINE_AA, SHIFT, tipLength=tip / length)


def warp(tile: np.ndarray, m: np.ndarray, shape: tuple[int, int], pad: int = 12):
    """Warp a (h, w, C) tile by the 2x3 affine m onto a canvas of `shape` (H, W), cropped to the
    tile's box: (x0, y0, (bh, bw, C) uint8), outside the tile all zeros (transparent)."""
    H, W = shape
    h, w = tile.shape[:2]
    pts = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64) @ m[:, :2].T + m[:, 2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + pad, [W, H])
    shifted = m.astype(np.float64).copy()
    shifted[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(tile, shifted, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    return int(x0), int(y0), warped.reshape(int(y1 - y0), int(x1 - x0), -1)


def composite(canvas: np.ndarray, x0: int, y0: int, rgb: np.ndarray, alpha: np.ndarray) -> None:
    """Blend rgb (bh, bw, 3) with opacity alpha (bh, bw) float in [0, 1] onto canvas at (x0, y0)."""
    bh, bw = alpha.shape
    roi = canvas[y0:y0 + bh, x0:x0 + bw]                                    # a view into canvas
    a = alpha[..., None]
    roi[:] = (roi * (1 - a) + rgb * a + 0.5).astype(np.uint8)


def paste(canvas: np.ndarray, tile: np.ndarray, m: np.ndarray, shadow: float = 0.0):
    """Paste an opaque RGB tile warped by m (with a soft drop shadow) onto canvas, in place.

    Returns where it landed: (x0, y0, (bh, bw) bool coverage of its box)."""
    h, w = tile.shape[:2]
    x0, y0, warped = warp(np.dstack([tile, np.full((h, w), 255, np.uint8)]), m, canvas.shape[:2])
    a = warped[..., 3].astype(np.float32) / 255.0                           # (bh, bw)
    if shadow > 0:                                                          # light from top left
        soft = np.roll(cv2.GaussianBlur(a, (0, 0), 3.5), (3, 4), (0, 1))
        composite(canvas, x0, y0, np.zeros_like(warped[..., :3]), shadow * soft)
    composite(canvas, x0, y0, warped[..., :3], a)
    return x0, y0, a > 0.5
