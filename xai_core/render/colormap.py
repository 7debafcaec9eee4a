"""Relevance to colour: normalise onto a robust scale (relevance/scale.py), colour LUTs.

    v = normalise(relevance, "positive")            # [0, 1]; 1 at the 99.5th percentile and above
    s = shared_scale([r1, r2, r3], "signed")       # one scale for a side-by-side comparison
    v1 = normalise(r1, "signed", scale=s)           # [-1, 1]
    rgb = colorize(v1, "signed")                    # (..., 3) uint8
    v2 = normalise(r2, "against")                   # [0, 1]: the evidence against, -relevance
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..relevance.scale import MODES, magnitude, robust_scale, shared_scale
from ..relevance.scale import check_mode as _check_mode

# The numbers (magnitude, robust_scale, shared_scale) live in relevance/scale.py; imported here so
# that render.colormap and render keep offering them.
# Perceptual sequential map for evidence, diverging blue-(white)-red for signed relevance, each
# with the part of the map used (start, stop): the sequential map skips its black end (faint
# relevance shows purple on a frame), the diverging map its darkest ends and, by default, its
# white middle (SIGNED_GAP): overlays fade weak relevance out by opacity, so its colour stays a
# light blue or red instead of a white fog. The evidence against ("against": -relevance, drawn
# when there is no evidence for the class) is blue, as in the signed map, from light to deep.
DEFAULT_CMAP = {"positive": ("inferno", 0.18, 1.0), "absolute": ("inferno", 0.18, 1.0),
                "signed": ("RdBu_r", 0.06, 0.94), "against": ("Blues", 0.35, 1.0)}
SIGNED_GAP = 0.26


def normalise(relevance: np.ndarray, mode: str = "positive", scale: float | None = None,
              percentile: float = 99.5) -> np.ndarray:
    """Relevance on a robust colour scale: [0, 1] ("positive", "absolute", "against") or [-1, 1]
    ("signed"); "against" maps -relevance, the evidence against the class.

    scale  the value that maps to 1 (pass shared_scale(...) to compare explanations);
           default: the `percentile` of the clip's own non-zero magnitudes.
    """
    _check_mode(mode)
    r = np.nan_to_num(np.asarray(relevance, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    s = robust_scale(r, mode, percentile) if scale is None else float(scale)
    if not s > 0:  # no relevance at all (or a zero scale): nothing to colour
        return np.zeros_like(r)
    if mode == "signed":
        return np.clip(r / s, -1.0, 1.0)
    return np.clip(magnitude(r, mode) / s, 0.0, 1.0)


@lru_cache(maxsize=32)
def lut(mode: str = "positive", cmap: str | None = None) -> np.ndarray:
    """(256, 3) uint8 RGB lookup table for the mode's colour map (read-only)."""
    _check_mode(mode)
    import matplotlib

    name, start, stop = (cmap, 0.0, 1.0) if cmap else DEFAULT_CMAP[mode]
    if name not in matplotlib.colormaps:
        raise ValueError(f"unknown colour map {name!r} (any matplotlib colormap name)")
    where = np.linspace(start, stop, 256)                                   # (256,) map positions
    if mode == "signed" and cmap is None:                                   # skip the white middle
        u = np.linspace(-1.0, 1.0, 256)
        where = 0.5 + np.sign(u) * (SIGNED_GAP / 2 + np.abs(u) * (stop - 0.5 - SIGNED_GAP / 2))
    rgba = matplotlib.colormaps[name](where)                                # (256, 4) float
    table = np.round(rgba[:, :3] * 255).astype(np.uint8)                    # (256, 3)
    table.setflags(write=False)
    return table


def lut_index(values: np.ndarray, mode: str) -> np.ndarray:
    """Normalised values ([0, 1], or [-1, 1] when signed) -> LUT indices 0..255."""
    v = np.asarray(values, np.float32)
    if mode == "signed":
        v = (v + 1.0) * 0.5                                                   # [-1, 1] -> [0, 1]
    return np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)


def colorize(values: np.ndarray, mode: str = "positive", cmap: str | None = None) -> np.ndarray:
    """Normalised values (...,) -> RGB (..., 3) uint8 through the mode's colour map."""
    return lut(mode, cmap)[lut_index(values, mode)]


def colorbar(width: int, height: int, mode: str = "positive", cmap: str | None = None) -> np.ndarray:
    """A horizontal colour bar (height, width, 3) uint8, low on the left."""
    lo = -1.0 if mode == "signed" else 0.0
    ramp = np.linspace(lo, 1.0, max(1, width), dtype=np.float32)             # (width,)
    row = colorize(ramp, mode, cmap)                                            # (width, 3)
    return np.ascontiguousarray(np.broadcast_to(row, (max(1, height), *row.shape)))
