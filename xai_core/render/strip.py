"""A frame strip for reports: a row of frames with their overlay, numbered, key frames marked."""
from __future__ import annotations

import numpy as np

from ..relevance.evidence import curve_mode
from ..relevance.temporal import temporal_curve
from . import draw
from .colormap import normalise, robust_scale
from .curve import default_key_frames
from .overlay import blend
from .resample import check_pair, resize_frames, resize_volume
from .text import Label, draw_labels
from .tube import choose_frames


def frame_strip(frames: np.ndarray, relevance: np.ndarray, indices: list[int] | None = None, *,
                height: int = 150, gap: int = 8, mode: str = "positive", scale: float | None = None,
                percentile: float = 99.5, cmap: str | None = None, alpha: float = 0.65,
                floor: float = 0.1, key_frames: list[int] | None = None,
                frame_numbers: list[int] | None = None, count: int = 6,
                background: tuple = (255, 255, 255)) -> np.ndarray:
    """A row of frames with relevance overlaid, each labelled with its number and share of
    the relevance: (H, W, 3) uint8. Default frames: `count` spread over the clip, key frames kept."""
    frames, relevance = np.asarray(frames), np.asarray(relevance, np.float32)
    check_pair(frames, relevance)
    T, h, w, _ = frames.shape
    curve = temporal_curve(relevance, curve_mode(mode))                                # (T,)
    keys = default_key_frames(curve) if key_frames is None else [int(k) for k in key_frames]
    shown = choose_frames(T, count, keys) if indices is None else [int(i) for i in indices]
    if not shown or min(shown) < 0 or max(shown) >= T:
        raise ValueError(f"indices must be frame numbers in 0..{T - 1} (got {shown})")
    tw = max(1, round(height * w / h))
    scale = robust_scale(relevance, mode, percentile) if scale is None else scale
    values = resize_volume(normalise(relevance[shown], mode, scale), (height, tw))  # (n, height, tw)
    tiles = blend(resize_frames(frames[shown], (height, tw)), values, mode, alpha, floor, cmap)
    pad, label_h = 6, 22
    canvas = np.empty((height + 2 * pad + label_h, len(shown) * (tw + gap) - gap + 2 * pad, 3), np.uint8)
    canvas[:] = background
    numbers = list(range(T)) if frame_numbers is None else [int(v) for v in frame_numbers]
    labels = []
    for n, t in enumerate(shown):
        x0 = pad + n * (tw + gap)
        canvas[pad:pad + height, x0:x0 + tw] = tiles[n]
        key = t in keys
        box = np.array([[x0, pad], [x0 + tw, pad], [x0 + tw, pad + height], [x0, pad + height]]) - 0.5
        draw.polyline(canvas, box, draw.ACCENT if key else draw.EDGE, 3 if key else 1, closed=True)
        labels.append(Label(x0 + tw / 2, pad + height + 17, f"frame {numbers[t]} · {curve[t]:.0%}",
                            11, draw.ACCENT if key else draw.MUTED, "mb", key))
    return draw_labels(canvas, labels)
