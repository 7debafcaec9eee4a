"""Heat-map overlays: relevance blended onto the frames, opaque only where relevance is high.

The opacity of the heat grows with |relevance| (zero below `floor`), so an operator still sees
the frame clearly wherever the model did not look.
"""
from __future__ import annotations

import cv2
import numpy as np

from .colormap import colorize, normalise
from .resample import check_pair, resize_volume
from .text import Label, draw_labels, text_width


def heat_alpha(values: np.ndarray, alpha: float = 0.65, floor: float = 0.1) -> np.ndarray:
    """Per-pixel opacity (...,) float32 in [0, alpha] from normalised values: 0 up to `floor`."""
    m = np.abs(np.asarray(values, np.float32))
    ramp = np.clip((m - floor) / max(1e-6, 1.0 - floor), 0.0, 1.0)
    return (alpha * ramp).astype(np.float32)


def blend(frames: np.ndarray, values: np.ndarray, mode: str = "positive", alpha: float = 0.65,
          floor: float = 0.1, cmap: str | None = None) -> np.ndarray:
    """Frames (..., h, w, 3) uint8 and normalised values (..., h, w) on the same grid -> uint8."""
    a = heat_alpha(values, alpha, floor)[..., None]                       # (..., h, w, 1)
    heat = colorize(values, mode, cmap).astype(np.float32)                # (..., h, w, 3)
    f = frames.astype(np.float32)
    return np.clip(f + a * (heat - f) + 0.5, 0, 255).astype(np.uint8)


def draw_contours(frames: np.ndarray, values: np.ndarray, level: float,
                  colour: tuple = (255, 255, 255), thickness: int | None = None) -> np.ndarray:
    """Frames with the outline of the region where |values| >= level drawn on each (a copy)."""
    out = frames.copy()
    T, h, w = values.shape
    thick = thickness or max(1, round(min(h, w) / 180))
    for t in range(T):
        mask = (np.abs(values[t]) >= level).astype(np.uint8)              # (h, w)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out[t], contours, -1, colour, thick, cv2.LINE_AA)
    return out


def overlay(frames: np.ndarray, relevance: np.ndarray, alpha: float = 0.65, mode: str = "positive",
            scale: float | None = None, percentile: float = 99.5, cmap: str | None = None,
            floor: float = 0.1, contour: float | None = None) -> np.ndarray:
    """Relevance drawn over the frames as a light heat map: (T, h, w, 3) uint8.

    frames     (T, h, w, 3) uint8 RGB at any resolution; relevance (T, H, W) is resized onto it
    alpha      opacity of the heat at full relevance (it fades to 0 at `floor`)
    mode       "positive" (evidence for), "signed" (red for, blue against) or "absolute"
    scale      the relevance that maps to full colour (shared_scale() to compare explanations)
    contour    if set, outline the region whose normalised |relevance| >= contour (e.g. 0.5)
    """
    frames = np.asarray(frames)
    check_pair(frames, np.asarray(relevance))
    T, h, w, _ = frames.shape
    values = resize_volume(normalise(relevance, mode, scale, percentile), (h, w))   # (T, h, w)
    out = blend(frames, values, mode, alpha, floor, cmap)
    return out if contour is None else draw_contours(out, values, contour)


def wrap_text(text: str, width: float, size: int, bold: bool = False) -> list[str]:
    """Words of `text` in lines no wider than `width` pixels at font `size` (a long word alone)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", size, bold) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def caption_frames(frames: np.ndarray, text: str, size: int | None = None,
                   colour: tuple = (176, 78, 0), background: tuple = (255, 255, 255)) -> np.ndarray:
    """Frames (T, h, w, 3) uint8 with `text` in a band below each, wrapped to the frame's width:
    (T, h + band, w, 3). For words a video must carry, e.g. that it shows evidence against."""
    T, h, w, _ = frames.shape
    size = size or max(10, round(w / 26))
    pad, line = max(4, size // 2), round(size * 1.3)
    lines = wrap_text(text, w - 2 * pad, size, True)
    band = np.empty((2 * pad + line * len(lines), w, 3), np.uint8)
    band[:] = background
    band = draw_labels(band, [Label(pad, pad + line * (i + 1) - round(0.3 * size), t, size, colour, "lb", True)
                              for i, t in enumerate(lines)])
    return np.concatenate([frames, np.broadcast_to(band, (T, *band.shape))], axis=1)


OVERLAY_STYLES = {
    "light": {"alpha": 0.45, "floor": 0.35, "contour": 0.6},   # the picture stays readable
    "full": {"alpha": 0.65, "floor": 0.1, "contour": None},
}


def overlay_style(name: str) -> dict:
    """Overlay options for a named style: "light" (operators) or "full"."""
    if name not in OVERLAY_STYLES:
        raise ValueError(f"unknown overlay style {name!r}; styles: {', '.join(OVERLAY_STYLES)}")
    return dict(OVERLAY_STYLES[name])
