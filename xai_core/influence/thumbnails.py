"""Influence examples shown as clips: a small looping video (or a frame strip) per example.

    write_thumbnails(result, "out/")        # proponent_1.webm ... opponent_8.webm
    thumbnail_frames(example)               # (T, h, w, 3) uint8, captioned, for st.video / a GIF
    thumbnail_strip(example)                # (h, w, 3) uint8: a row of frames, for a static page

A proponent carries an orange frame, an opponent a blue one (the colours of evidence for and
against elsewhere in the dashboard), and a two-line caption of fixed height (every thumbnail of a
result has the same size): side, rank and score; the label, and whether it is the class the
model predicted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..render import draw
from ..render.resample import resize_frames
from ..render.text import Label, draw_labels, text_width
from ..render.video import write_video

FOR, AGAINST = (230, 120, 20), (40, 110, 200)     # orange: supports the answer; blue: opposes it
FORMATS = ("webm", "mp4")


def caption(example, side: str) -> tuple[str, str]:
    """Two lines for people: ('proponent 1 · +0.980', 'wave (predicted)')."""
    return (f"{side} {example.rank} · {example.score:+#.3g}",
            example.label + (" (predicted)" if example.same_class else ""))


def _band(lines: tuple[str, str], width: int, size: int, colour) -> np.ndarray:
    """A white band (h, width, 3) with two lines, each cut to fit: the same height for every example."""
    pad, line = max(3, size // 3), round(size * 1.3)
    band = np.full((2 * pad + 2 * line, width, 3), 255, np.uint8)
    labels = []
    for i, text in enumerate(lines):
        while len(text) > 1 and text_width(text, size, i == 0) > width - 2 * pad:
            text = text[:-2] + "…"
        labels.append(Label(pad, pad + line * (i + 1) - round(0.3 * size), text, size,
                            colour if i == 0 else draw.INK, "lb", i == 0))
    return draw_labels(band, labels)


def _fit(frames: np.ndarray, side: int) -> np.ndarray:
    """(T, h, w, 3) -> short side `side` (aspect kept, sizes even)."""
    T, h, w, _ = frames.shape
    k = side / min(h, w)
    return resize_frames(frames, (max(2, round(h * k / 2) * 2), max(2, round(w * k / 2) * 2)))


def thumbnail_frames(example, side: str = "proponent", size: int = 128, border: int = 4,
                     text: bool = True) -> np.ndarray:
    """The example's clip, short side `size` px, framed in its side's colour and captioned:
    (T, h, w, 3) uint8. `side`: "proponent" or "opponent"."""
    frames = _fit(np.asarray(example.clip().display), size)                  # (T, h, w, 3)
    colour = FOR if side == "proponent" else AGAINST
    framed = np.empty((frames.shape[0], frames.shape[1] + 2 * border, frames.shape[2] + 2 * border, 3), np.uint8)
    framed[:] = colour
    framed[:, border:-border or None, border:-border or None] = frames
    if not text:
        return framed
    band = _band(caption(example, side), framed.shape[2], max(9, size // 12), colour)   # (b, w, 3)
    return np.concatenate([framed, np.broadcast_to(band, (framed.shape[0], *band.shape))], axis=1)


def thumbnail_strip(example, side: str = "proponent", count: int = 4, height: int = 64, gap: int = 2) -> np.ndarray:
    """`count` frames of the example spread over its clip, side by side: (h, w, 3) uint8."""
    frames = thumbnail_frames(example, side, height, text=False)
    T = frames.shape[0]
    picks = np.linspace(0, T - 1, min(count, T)).round().astype(int)
    h, w = frames.shape[1:3]
    strip = np.full((h, len(picks) * (w + gap) - gap, 3), 255, np.uint8)
    for n, t in enumerate(picks):
        strip[:, n * (w + gap):n * (w + gap) + w] = frames[t]
    return strip


def write_thumbnail(example, path, side: str = "proponent", size: int = 128, fps: float = 8.0) -> Path:
    """One example as a small video (.webm VP9 or .mp4 H.264, by the suffix) that loops in a page."""
    return write_video(path, thumbnail_frames(example, side, size), fps=fps, min_side=size)


def write_thumbnails(result, out_dir, format: str = "webm", size: int = 128, fps: float = 8.0) -> dict[str, Path]:
    """Every proponent and opponent of an InfluenceResult as `proponent_{rank}.{format}` and
    `opponent_{rank}.{format}` in `out_dir`: {"proponent_1": path, ...}."""
    if format not in FORMATS:
        raise ValueError(f"thumbnail format must be one of {FORMATS}, got {format!r}")
    out = Path(out_dir)
    paths = {}
    for side, examples in (("proponent", result.proponents), ("opponent", result.opponents)):
        for e in examples:
            paths[f"{side}_{e.rank}"] = write_thumbnail(e, out / f"{side}_{e.rank}.{format}", side, size, fps)
    return paths
