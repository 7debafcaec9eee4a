"""The staggered-frame tube: the clip as a stack of sheared frames, relevance on each, and the
path of attention drawn through the stack (after Saliency Tubes, Stergiou et al. 2019).

    image = tube_image(frames, relevance)                     # (H, W, 3) uint8
    tube = render_tube(frames, relevance, key_frames=[3, 9])  # .image .indices .path .corners

Frames are laid left to right in time, each sheared into a parallelogram like a page in a
stack; by default later frames lie in front, and the relevance of the frames behind shows
faintly through them ("ghosts"), so the tube of attention stays visible where pages overlap.
A long clip is subsampled (key frames always kept; `Tube.indices` says which frames are
shown): as many frames as fit at a legible height, so wide frames get fewer, further apart.
Frames with little relevance fade, key frames get a teal border and a bold number, and a
smooth line joins the centre of relevance of successive frames, dashed through frames with
little relevance. A map with no evidence for the class is drawn as its evidence against, on
its own scale, and the tube says so above the stack.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..relevance.evidence import curve_mode, short_note, shown_mode
from ..relevance.temporal import temporal_curve
from . import draw
from .colormap import colorbar, colorize, magnitude, normalise, robust_scale
from .curve import default_key_frames
from .overlay import blend, heat_alpha
from .resample import check_pair, resize_frames, resize_volume
from .text import Label, draw_labels, text_width

BAR_TEXT = {"positive": ("low", "high relevance"), "absolute": ("low", "high |relevance|"),
            "signed": ("against", "for the class"), "against": ("low", "high evidence against")}
MARGIN, HEADER, FOOTER = 18, 40, 50      # pixels around the stack
NOTE_LINE = 20                           # the header grows by a line for a note
NOTE = (176, 78, 0)                      # a note's colour: a dark orange no colour map uses


@dataclass
class Tube:
    """A rendered tube and its geometry, in the image's pixel coordinates."""

    image: np.ndarray          # (H, W, 3) uint8 RGB
    indices: list[int]         # the clip frames shown, in time order
    key_frames: list[int]      # the key frames (clip indices) among them
    corners: np.ndarray        # (n, 4, 2) float: each shown frame's corners tl, tr, br, bl
    path: np.ndarray           # (n, 2) float: the path point on each shown frame (NaN: none,
                               # for frames with no or almost no relevance: the line bridges them)
    faint: np.ndarray          # (n,) bool: frames with little relevance (the path is dashed there)
    mode: str = "positive"     # the colour mode drawn ("against" when nothing was for the class)
    note: str | None = None    # the words above the stack (e.g. that there is no evidence for)


@dataclass(frozen=True)
class _Geometry:
    """Tile pixel (x, y) of shown frame i lands at origins[i] + (x, y - slope * x)."""

    tile: tuple[int, int]      # (h, w) of a frame tile, already squeezed, before shearing
    origins: np.ndarray        # (n, 2) canvas position of each tile's top-left corner
    slope: float               # the top edge rises `slope` pixels per pixel to the right
    size: tuple[int, int]      # canvas (H, W)

    def matrix(self, i: int) -> np.ndarray:
        """2x3 affine map from tile pixels to canvas pixels for shown frame i."""
        ox, oy = self.origins[i]
        return np.array([[1.0, 0.0, ox], [-self.slope, 1.0, oy]])

    def to_canvas(self, i: int, xy: np.ndarray) -> np.ndarray:
        """(..., 2) tile points (x, y) -> canvas points."""
        m = self.matrix(i)
        return np.asarray(xy, np.float64) @ m[:, :2].T + m[:, 2]

    def corners(self) -> np.ndarray:
        """(n, 4, 2) canvas corners tl, tr, br, bl of every shown frame."""
        h, w = self.tile
        box = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
        return np.stack([self.to_canvas(i, box) for i in range(len(self.origins))])


def _layout(n: int, aspect: float, width: int, squeeze: float, slope: float, spread: float,
            top: int, max_height: int) -> _Geometry:
    """Size the tiles so that n sheared frames, `spread` of each showing, fill `width` pixels."""
    usable = width - 2 * MARGIN
    tw = usable / (1 + (n - 1) * spread)            # squeezed tile width
    th = min(tw / squeeze / aspect, max_height)     # a short clip: cap the height, centre it
    tw = th * aspect * squeeze
    dx = spread * tw
    x0 = MARGIN + (usable - (tw + (n - 1) * dx)) / 2
    y0 = top + max(slope, 0.0) * tw                 # the highest corner touches `top`
    origins = np.array([[x0 + i * dx, y0] for i in range(n)])
    height = int(np.ceil(top + abs(slope) * tw + th + FOOTER))
    return _Geometry((int(round(th)), max(2, int(round(tw)))), origins, slope, (height, width))


# ------------------------------------------------------------------------------------ path


def relevance_path(relevance: np.ndarray, mode: str = "positive", how: str = "centroid",
                   top: float = 0.5) -> np.ndarray:
    """Where relevance concentrates in each frame: (T, 2) float (x, y) in relevance pixels.

    how "centroid": centre of mass of the frame's top region (values >= top * frame max);
    how "peak": centre of the frame's maximum. NaN for frames without relevance.
    Pixel (row j, column i) has its centre at (i + 0.5, j + 0.5): points lie in [0, W] x [0, H].
    """
    if how not in ("centroid", "peak"):
        raise ValueError(f"path must be 'centroid' or 'peak' (got {how!r})")
    m = magnitude(relevance, mode)                                   # (T, H, W)
    T, H, W = m.shape
    ys, xs = np.mgrid[0:H, 0:W] + 0.5                               # pixel centres
    out = np.full((T, 2), np.nan)
    for t in range(T):
        peak = float(m[t].max())
        if not peak > 0:
            continue
        if how == "peak":
            j, i = np.unravel_index(int(np.argmax(m[t])), (H, W))
            out[t] = (i + 0.5, j + 0.5)
            continue
        w = np.clip(m[t] - top * peak, 0, None)
        w = w if w.sum() > 0 else (m[t] >= peak).astype(np.float32)       # top >= 1: the maxima
        out[t] = ((w * xs).sum() / w.sum(), (w * ys).sum() / w.sum())
    return out


def smooth_polyline(points: np.ndarray, steps: int = 12) -> np.ndarray:
    """A Catmull-Rom curve through (n, 2) points: (m, 2), passing through every point."""
    if len(points) < 3:
        return points
    p = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])  # (n + 2, 2)
    s = np.linspace(0, 1, steps, endpoint=False)[:, None]                          # (steps, 1)
    pieces = []
    for k in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[k - 1], p[k], p[k + 1], p[k + 2]
        pieces.append(0.5 * (2 * p1 + (p2 - p0) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s ** 2
                             + (3 * p1 - p0 - 3 * p2 + p3) * s ** 3))
    return np.vstack(pieces + [points[-1:]])


def default_spread(n: int) -> float:
    """The visible share of each of n frames behind the next: more of each when there are few."""
    return float(np.clip(2.6 / n + 0.2, 0.38, 1.08))


def fit_frames(T: int, aspect: float, width: int, max_frames: int = 16, squeeze: float = 0.62,
               min_height: float | None = None) -> int:
    """How many of T frames a tube `width` pixels wide shows: the most (up to max_frames) whose
    tiles are still `min_height` tall (default: 16% of the width), at least min(T, 4).

    aspect is the frame's width / height: wide frames get fewer frames, each showing more."""
    min_height = 0.16 * width if min_height is None else min_height
    usable = width - 2 * MARGIN
    for n in range(min(T, max_frames), 1, -1):
        tw = usable / (1 + (n - 1) * default_spread(n))            # squeezed tile width
        if tw / squeeze / aspect >= min_height or n <= min(T, 4):
            return n
    return min(T, max(1, max_frames))


def choose_frames(T: int, max_frames: int, keep: list[int]) -> list[int]:
    """At most max_frames clip indices spread evenly over T frames, always including `keep`."""
    if T <= max_frames:
        return list(range(T))
    picked = [int(i) for i in np.round(np.linspace(0, T - 1, max_frames))]
    for k in sorted(set(keep))[:max_frames]:
        if k not in picked:
            free = [i for i in range(len(picked)) if picked[i] not in keep]
            picked[min(free, key=lambda i: abs(picked[i] - k))] = k
    return sorted(set(picked))


# ----------------------------------------------------------------------------------- render


def render_tube(frames: np.ndarray, relevance: np.ndarray, *, mode: str = "positive",
                scale: float | None = None, percentile: float = 99.5, cmap: str | None = None,
                key_frames: list[int] | None = None, max_frames: int = 16, width: int = 900,
                front: str = "last", alpha: float = 0.75, floor: float = 0.1, dim: float = 0.3,
                ghost: float = 0.5, path: str | None = "centroid", path_min: float = 0.35,
                path_floor: float = 0.05,
                frame_numbers: list[int] | None = None, title: str | None = None,
                note: str | None = None, legend: bool = True, squeeze: float = 0.62,
                slope: float = 0.32, spread: float | None = None,
                background: tuple = (255, 255, 255), rgba: np.ndarray | None = None) -> Tube:
    """The clip as a staggered stack of frames, relevance on each and its path through time.

    frames         (T, h, w, 3) uint8 RGB (any resolution); relevance (T, H, W) float
    mode, scale    colour scale as in normalise() (pass shared_scale() to compare tubes); a
                   "positive" or "signed" map with no evidence for the class is drawn as
                   "against" on its own scale (scale and key_frames ignored) with a note
    key_frames     clip indices to highlight (default: the peaks of the temporal curve)
    max_frames     show at most this many frames (evenly spread, key frames always shown;
                   fewer when wide frames would get too small: see fit_frames)
    front          "last": later frames in front (time reads left to right), "first": earlier
    dim            how much frames with little temporal relevance fade (0: none)
    ghost          opacity of relevance seen through the frames in front of it (0: hidden)
    path           "centroid", "peak" or None: the line through the stack
    path_min       frames with less than this share of the peak frame's relevance get a small
                   point, and the path runs dashed through them
    path_floor     frames with less than this share get no point (their centre is noise): the
                   path bridges them, dashed
    frame_numbers  labels for the T frames (e.g. the source video's frame indices)
    note           a line of words under the title (default: says when nothing is for the class)
    squeeze        horizontal foreshortening of each frame; slope: shear of its top edge
    spread         visible share of a frame behind the next (default: fits the frame count)
    rgba           precomputed colour and opacity per voxel, (T, H, W, 4) float in [0, 1] on the
                   relevance grid (e.g. render.spacetime), drawn instead of the colour map (on
                   tiles and ghosts; opacity times `alpha`); the relevance still decides the curve,
                   key frames, fading and path. legend: True (the mode's colour bar), False, or
                   (bar (h, w, 3) uint8, low text, high text) for such colours
    """
    frames, relevance = np.asarray(frames), np.asarray(relevance, np.float32)
    check_pair(frames, relevance)
    if front not in ("last", "first"):
        raise ValueError(f"front must be 'last' or 'first' (got {front!r})")
    T, h, w, _ = frames.shape
    drawn = shown_mode(relevance, mode)
    if drawn != mode:                                  # nothing for the class: the evidence against
        mode, scale, key_frames = drawn, None, None
    note = short_note(relevance) if note is None else note
    along = curve_mode(mode)                                           # what curve and path follow
    curve = temporal_curve(relevance, along)                           # (T,)
    keys = sorted({int(k) for k in (default_key_frames(curve) if key_frames is None else key_frames)
                   if 0 <= int(k) < T})
    shown = choose_frames(T, fit_frames(T, w / h, width, max_frames, squeeze), keys)
    n = len(shown)
    weight = curve[shown] / max(float(curve.max()), 1e-12)            # (n,) share of the top frame
    is_key = np.array([t in keys for t in shown])

    spread = default_spread(n) if spread is None else spread
    top = (HEADER if (title or legend) else MARGIN) + (NOTE_LINE if note else 0)
    geo = _layout(n, w / h, width, squeeze, slope if front == "last" else -slope, spread,
                  top=top, max_height=int(width * 0.34))
    scale = robust_scale(relevance, mode, percentile) if scale is None else scale
    values = resize_volume(normalise(relevance[shown], mode, scale), geo.tile)   # (n, th, tw)
    canvas = np.empty((*geo.size, 3), np.uint8)
    canvas[:] = background
    order = list(range(n)) if front == "last" else list(range(n - 1, -1, -1))   # back to front
    colours = None if rgba is None else _rgba_on(rgba, relevance.shape, shown, geo.tile)
    if colours is None:             # no heat drawn on a frame (all under `floor` of the scale): no key frame,
        seen = np.abs(values).reshape(n, -1).max(1) > floor               # no path point (a part near 0 on a
        is_key &= seen                                                    # scale shared with larger parts)
        keys = [k for k, ok in zip(shown, seen) if ok and k in keys]
    else:
        seen = np.ones(n, bool)
    tiles = _tiles(resize_frames(frames[shown], geo.tile), values, weight, canvas[0, 0],
                   mode, cmap, alpha, floor, dim, colours)
    covers = _stack(canvas, geo, tiles, is_key, order)
    if ghost > 0:
        _ghosts(canvas, geo, values, covers, order, mode, cmap, floor, ghost, colours=colours)
    points = np.full((n, 2), np.nan)
    faint = weight < path_min
    if path:
        grid = relevance_path(relevance[shown], along, path)              # (n, 2) relevance pixels
        H, W = relevance.shape[1:]
        for i in np.flatnonzero(~np.isnan(grid[:, 0]) & (weight >= path_floor) & seen):
            points[i] = geo.to_canvas(i, grid[i] * [geo.tile[1] / W, geo.tile[0] / H])
        _draw_path(canvas, points, weight, is_key, faint)
    numbers = list(range(T)) if frame_numbers is None else [int(v) for v in frame_numbers]
    labels = _time_axis(canvas, geo, shown, numbers, is_key, T)
    labels += _header(canvas, title, legend, mode, cmap, note)
    return Tube(draw_labels(canvas, labels), shown, [k for k in keys if k in shown],
                geo.corners(), points, faint, mode, note)


def tube_image(frames: np.ndarray, relevance: np.ndarray, **options) -> np.ndarray:
    """The staggered-frame tube as an (H, W, 3) uint8 RGB image (options: see render_tube)."""
    return render_tube(frames, relevance, **options).image


def _rgba_on(rgba, shape, shown, tile) -> np.ndarray:
    """Precomputed colours (T, H, W, 4) in [0, 1] of the shown frames, resized onto the tile:
    (n, th, tw, 4) float32."""
    rgba = np.asarray(rgba, np.float32)
    if rgba.shape != (*shape, 4) or not np.isfinite(rgba).all():
        raise ValueError(f"rgba must be finite (T, H, W, 4) = {(*shape, 4)} (got {rgba.shape})")
    rgba = np.clip(rgba[shown], 0.0, 1.0)
    return np.stack([resize_volume(rgba[..., c], tile) for c in range(4)], -1)


def _tiles(frames, values, weight, background, mode, cmap, alpha, floor, dim, colours=None) -> np.ndarray:
    """Frames faded towards the background by (1 - temporal weight), heat (or `colours`, RGBA in
    [0, 1]) blended on."""
    fade = (dim * (1.0 - weight))[:, None, None, None]                   # (n, 1, 1, 1)
    faded = frames * (1 - fade) + background.astype(np.float32) * fade
    if colours is None:
        return blend(faded.astype(np.uint8), values, mode, alpha, floor, cmap)   # (n, th, tw, 3)
    f = faded.astype(np.uint8).astype(np.float32)
    a = alpha * colours[..., 3:]
    return np.clip(f + a * (colours[..., :3] * 255.0 - f) + 0.5, 0, 255).astype(np.uint8)


def _stack(canvas, geo: _Geometry, tiles, is_key, order) -> list:
    """Paste the tiles back to front, each with a shadow and a border (teal for key frames);
    returns where each landed (see draw.paste)."""
    corners = geo.corners()
    covers = [None] * len(tiles)
    for i in order:
        covers[i] = draw.paste(canvas, tiles[i], geo.matrix(i), shadow=0.28)
        draw.polyline(canvas, corners[i], draw.ACCENT if is_key[i] else draw.EDGE,
                      3 if is_key[i] else 1, closed=True)
    return covers


def _ghosts(canvas, geo: _Geometry, values, covers, order, mode, cmap, floor, strength: float,
            decay: float = 0.6, colours=None) -> None:
    """Each frame's heat, faint, where frames in front hide it; fainter behind each page."""
    if colours is None:
        heat = colorize(values, mode, cmap)                               # (n, th, tw, 3)
        a = (heat_alpha(values, 1.0, floor) * 255).astype(np.uint8)[..., None]
    else:
        heat = np.clip(np.rint(colours[..., :3] * 255), 0, 255).astype(np.uint8)
        a = np.clip(np.rint(colours[..., 3:] * 255), 0, 255).astype(np.uint8)
    rgba = np.concatenate([heat, a], -1)                                  # (n, th, tw, 4)
    depth = np.zeros(canvas.shape[:2], np.float32)                        # frames in front, per pixel
    for i in reversed(order):                                             # front to back
        x0, y0, warped = draw.warp(rgba[i], geo.matrix(i), canvas.shape[:2])
        bh, bw = warped.shape[:2]
        d = depth[y0:y0 + bh, x0:x0 + bw]
        if d.any():
            hidden = np.where(d > 0, decay ** np.maximum(d - 1, 0), 0.0)
            draw.composite(canvas, x0, y0, warped[..., :3], warped[..., 3] / 255.0 * strength * hidden)
        x0, y0, cover = covers[i]
        depth[y0:y0 + cover.shape[0], x0:x0 + cover.shape[1]] += cover


def _draw_path(canvas, points: np.ndarray, weight: np.ndarray, is_key: np.ndarray, faint: np.ndarray,
               steps: int = 12) -> None:
    """The path: one haloed smooth line through every frame with a point, solid between frames
    with relevance and dashed where either end has little (faint); a dot per frame, sized by its
    weight, hollow and small on faint frames. Frames without any relevance are passed over."""
    ok = np.flatnonzero(~np.isnan(points[:, 0]))
    if len(ok) >= 2:
        line = smooth_polyline(points[ok], steps)                          # (steps (m - 1) + 1, 2)
        if len(ok) < 3:
            line = np.linspace(points[ok[0]], points[ok[1]], steps + 1)
        for k in range(len(ok) - 1):
            piece = line[k * steps:(k + 1) * steps + 1]
            if faint[ok[k]] or faint[ok[k + 1]] or ok[k + 1] - ok[k] > 1:
                draw.dashed(canvas, piece, draw.WHITE, 5, dash=7.0, gap=5.0)
                draw.dashed(canvas, piece, draw.INK, 2, dash=7.0, gap=5.0)
            else:
                draw.polyline(canvas, piece, draw.WHITE, 5)
                draw.polyline(canvas, piece, draw.INK, 2)
    for i in ok:
        if faint[i]:
            draw.dot(canvas, points[i], 1.8, draw.WHITE, draw.INK, 1.0)
        else:
            draw.dot(canvas, points[i], 2.5 + 3.5 * float(weight[i]), draw.ACCENT if is_key[i] else draw.WHITE,
                     draw.INK)


def _time_axis(canvas, geo: _Geometry, shown, numbers, is_key, T) -> list[Label]:
    """A tick and number under each frame's visible bottom corner, and a time arrow below."""
    corners = geo.corners()
    corner = corners[:, 3] if geo.slope > 0 else corners[:, 2]           # the visible bottom corner
    base = float(corners[:, 2:, 1].max())
    labels = []
    for i, t in enumerate(shown):
        x = float(corner[i, 0])
        draw.polyline(canvas, np.array([[x, base + 3], [x, base + 7]]), draw.MUTED)
        labels.append(Label(x, base + 20, str(numbers[t]), 12 if is_key[i] else 11,
                            draw.ACCENT if is_key[i] else draw.MUTED, "mb", bool(is_key[i])))
    x0, x1 = float(corners[..., 0].min()), float(corners[..., 0].max())
    draw.arrow(canvas, (x0, base + 33), (x1, base + 33), draw.MUTED)
    caption = "time (frame)" if len(shown) == T else f"time (frame; {len(shown)} of {T} shown)"
    return labels + [Label(x0, base + 46, caption, 11, draw.MUTED, "lb")]


def _header(canvas, title, legend, mode, cmap, note=None) -> list[Label]:
    """The title on the left, a colour bar with its meaning on the right, a note under them."""
    labels = [Label(MARGIN, 24, title, 15, draw.INK, "lb", True)] if title else []
    if note:
        labels.append(Label(MARGIN, (24 if title or legend else 6) + NOTE_LINE, note, 13, NOTE, "lb", True))
    if legend:
        bar, lo, hi = legend if isinstance(legend, tuple) else (None, *BAR_TEXT[mode])
        bar_w, bar_h, y0 = 130, 9, 14
        x0 = int(round(canvas.shape[1] - MARGIN - text_width(hi, 11) - 8 - bar_w))
        canvas[y0:y0 + bar_h, x0:x0 + bar_w] = (colorbar(bar_w, bar_h, mode, cmap) if bar is None else
                                                resize_frames(np.asarray(bar, np.uint8)[None], (bar_h, bar_w))[0])
        draw.polyline(canvas, np.array([[x0, y0], [x0 + bar_w, y0], [x0 + bar_w, y0 + bar_h],
                                        [x0, y0 + bar_h]], np.float64) - 0.5, (150, 150, 156), closed=True)
        labels += [Label(x0 - 7, y0 + bar_h - 0.5, lo, 11, draw.MUTED, "rb"),
                   Label(x0 + bar_w + 7, y0 + bar_h - 0.5, hi, 11, draw.MUTED, "lb")]
    return labels
