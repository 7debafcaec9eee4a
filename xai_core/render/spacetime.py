"""One picture for space and time: a split relevance map (xai_core.motion.split) drawn with its hue
saying WHETHER relevance is temporal (motion) or spatial (appearance) and its opacity saying HOW
MUCH relevance there is.

    rgb, alpha = spacetime_colors(split)                 # (T, H, W, 3) uint8, (T, H, W) [0, 1]
    frames_out = spacetime_overlay(clip.display, split)  # (T, h, w, 3) uint8
    image = spacetime_tube(clip.display, split)          # the staggered-frame tube, same colours
    spacetime_video("split.webm", clip.display, split)   # the overlay as a browser-playable video
    legend = spacetime_legend(260, 150)                  # x: temporal share, y: magnitude

Hue: the voxel's temporal share |M| / (|S| + |M|) (Split.voxel_share) on a line in CIELAB from
APPEARANCE blue (share 0: all spatial) to MOTION orange (share 1: all temporal); mixed voxels get
the colours between (a muted mauve-beige at 0.5). Blue and orange after the Okabe & Ito (2008)
pair (the orange is theirs, the blue a lighter one that still shows on dark frames): they differ
along the blue-yellow axis that protanopes and deuteranopes keep, and in lightness (L* 56 vs 71),
so they stay apart for colour-blind viewers (CIEDE2000 58 protanopia, 64 deuteranopia, 62
tritanopia, 56 normal vision; tests/test_spacetime.py simulates each with Machado et al. 2009).
Magnitude: |relevance| of the whole map on the robust scale of colormap.normalise (1 at the
99.5th percentile of the clip's non-zero |relevance|, or at `scale`), as opacity: 0 up to
`floor`, rising linearly to full at 1; zero relevance leaves the frame as it is.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .colormap import normalise
from .colorvision import lab_to_srgb, srgb_to_lab
from .resample import check_pair, resize_volume
from .text import Label, draw_labels, text_width
from .tube import render_tube
from .video import write_video

APPEARANCE = (30, 136, 229)     # share 0: spatial / appearance (a blue, L* 56; Okabe-Ito's, L* 46,
                                # is lost on dark frames)
MOTION = (230, 159, 0)          # share 1: temporal / motion (Okabe-Ito orange)
LABELS = ("appearance (static)", "motion (temporal)")
INK, MUTED = (38, 38, 44), (120, 120, 128)


@lru_cache(maxsize=1)
def share_lut() -> np.ndarray:
    """(256, 3) uint8: temporal share 0..1 -> colour, a straight line in CIELAB from APPEARANCE to
    MOTION (equal steps of share are equal steps of colour difference, CIE76). Read-only."""
    a, b = srgb_to_lab(np.array(APPEARANCE, np.uint8)), srgb_to_lab(np.array(MOTION, np.uint8))
    u = np.linspace(0.0, 1.0, 256)[:, None]
    table = lab_to_srgb(a + u * (b - a))
    table.setflags(write=False)
    return table


def share_colours(share: np.ndarray) -> np.ndarray:
    """Temporal shares (...,) in [0, 1] -> (..., 3) uint8 (NaN and values outside are clipped)."""
    s = np.nan_to_num(np.asarray(share, np.float64), nan=0.5)
    return share_lut()[np.clip(np.rint(s * 255), 0, 255).astype(np.intp)]


def magnitude_alpha(values: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """Normalised magnitudes (...,) in [0, 1] -> opacity (...,) float32 in [0, 1]: 0 up to
    `floor`, linear to 1 at 1."""
    m = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    return np.clip((m - floor) / max(1e-6, 1.0 - floor), 0.0, 1.0).astype(np.float32)


def _check_split(split) -> None:
    for name in ("total", "spatial", "temporal"):
        if not hasattr(split, name):
            raise TypeError(f"expected a motion.split.Split (with total, spatial, temporal), got {type(split).__name__}")


def spacetime_colors(split, scale: float | None = None, percentile: float = 99.5,
                     floor: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel colour and opacity on the split's grid: (rgb (T, H, W, 3) uint8, alpha (T, H, W)
    float32 in [0, 1]). rgb from Split.voxel_share (hue), alpha from |total| on the robust scale
    (`scale`: the |relevance| that maps to full opacity, e.g. colormap.shared_scale([...],
    "absolute") to compare clips; default: the `percentile` of this map's non-zero |relevance|)."""
    _check_split(split)
    magnitude = normalise(split.total, "absolute", scale, percentile)         # (T, H, W) [0, 1]
    return share_colours(split.voxel_share()), magnitude_alpha(magnitude, floor)


def _colours_on(split, size: tuple[int, int], scale, percentile, floor):
    """rgb (T, h, w, 3) float32 and alpha (T, h, w) resized onto a (h, w) grid: the share and the
    magnitude are resized (bilinear), then coloured, so edges stay smooth and hues stay on the line."""
    magnitude = resize_volume(normalise(split.total, "absolute", scale, percentile), size)
    share = resize_volume(split.voxel_share(), size)
    return share_colours(share).astype(np.float32), magnitude_alpha(magnitude, floor)


def spacetime_overlay(frames: np.ndarray, split, *, opacity: float = 0.7, floor: float = 0.1,
                      scale: float | None = None, percentile: float = 99.5) -> np.ndarray:
    """The split drawn over the frames: (T, h, w, 3) uint8.

    frames   (T, h, w, 3) uint8 RGB at any resolution (the split's (T, H, W) is resized onto it)
    opacity  the colour's opacity at full magnitude; it fades to 0 at `floor` (normalised |relevance|)
    Zero relevance leaves a pixel exactly as it was."""
    _check_split(split)
    frames = np.asarray(frames)
    check_pair(frames, split.total)
    rgb, alpha = _colours_on(split, frames.shape[1:3], scale, percentile, floor)
    a = (opacity * alpha)[..., None]
    f = frames.astype(np.float32)
    return np.clip(f + a * (rgb - f) + 0.5, 0, 255).astype(np.uint8)


def spacetime_video(path, frames: np.ndarray, split, fps: float = 8.0, **overlay_options) -> Path:
    """Write spacetime_overlay(frames, split, ...) as a browser-playable .webm / .mp4 (video.write_video)."""
    return write_video(path, spacetime_overlay(frames, split, **overlay_options), fps)


def share_bar(width: int, height: int) -> np.ndarray:
    """A horizontal bar (height, width, 3) uint8 of the share hues at full magnitude, 0 on the left."""
    row = share_colours(np.linspace(0.0, 1.0, max(1, width)))
    return np.ascontiguousarray(np.broadcast_to(row, (max(1, height), *row.shape)))


def spacetime_tube(frames: np.ndarray, split, *, scale: float | None = None, percentile: float = 99.5,
                   floor: float = 0.1, title: str | None = None, **tube_options) -> np.ndarray:
    """The staggered-frame tube (render.tube.render_tube) of the split: tiles coloured by
    spacetime_colors (hue: share, opacity: magnitude), the path and key frames following |total|,
    a share bar as the legend. (H, W, 3) uint8; tube_options as render_tube's (width, max_frames, ...)."""
    _check_split(split)
    rgb, alpha = spacetime_colors(split, scale, percentile, floor)
    rgba = np.concatenate([rgb.astype(np.float32) / 255.0, alpha[..., None]], -1)      # (T, H, W, 4)
    tube_options.setdefault("legend", (share_bar(130, 9), "appearance", "motion"))
    return render_tube(frames, np.abs(split.total).astype(np.float32), mode="positive", scale=scale,
                       percentile=percentile, floor=floor, rgba=rgba, title=title, **tube_options).image


def spacetime_field(width: int, height: int, background: tuple = (255, 255, 255),
                    opacity: float = 1.0, floor: float = 0.1) -> np.ndarray:
    """The legend's colour field (height, width, 3) uint8 without text: column x has temporal share
    x / (width - 1) (left: appearance, right: motion), row y normalised magnitude
    1 - y / (height - 1) (top: full), each colour at its opacity over `background`."""
    share = np.linspace(0.0, 1.0, max(2, width))
    magnitude = np.linspace(1.0, 0.0, max(2, height))
    colour = share_colours(share)[None].astype(np.float32)                          # (1, w, 3)
    a = (opacity * magnitude_alpha(magnitude, floor))[:, None, None]                # (h, 1, 1)
    bg = np.asarray(background, np.float32)
    return np.clip(bg + a * (colour - bg) + 0.5, 0, 255).astype(np.uint8)[:max(1, height), :max(1, width)]


def spacetime_legend(width: int = 260, height: int = 150, background: tuple = (255, 255, 255)) -> np.ndarray:
    """The 2-D legend (height, width, 3) uint8: x the temporal share (appearance/static to
    motion/temporal), y the magnitude (|relevance|, low to high), labelled."""
    if width < 120 or height < 80:
        raise ValueError(f"legend must be at least 120 x 80 pixels (got {width} x {height})")
    size = 11 if width < 220 else 12
    left, right, top, bottom = size + 10, 8, 8, 2 * size + 16
    image = np.empty((height, width, 3), np.uint8)
    image[:] = background
    w, h = width - left - right, height - top - bottom
    image[top:top + h, left:left + w] = spacetime_field(w, h, background)
    image[top - 1, left - 1:left + w + 1] = image[top + h, left - 1:left + w + 1] = MUTED
    image[top - 1:top + h + 1, left - 1] = image[top - 1:top + h + 1, left + w] = MUTED
    lo, hi = LABELS if text_width(LABELS[0], size) + text_width(LABELS[1], size) + 12 < w else ("appearance", "motion")
    labels = [Label(left, top + h + size + 5, lo, size, INK, "lb"),
              Label(left + w, top + h + size + 5, hi, size, INK, "rb"),
              Label(left + w / 2, height - 4, "temporal share →", size - 1, MUTED, "mb")]
    image = np.array(draw_labels(image, labels))
    # the y axis label, drawn sideways: set it on a strip, rotate the strip
    strip = np.empty((size + 6, h, 3), np.uint8)
    strip[:] = background
    strip = draw_labels(strip, [Label(h / 2, size + 1, "|relevance| →", size - 1, MUTED, "mb")])
    image[top:top + h, 2:2 + size + 6] = np.rot90(strip)
    return image
