"""Labelled grids of small images (kernel slices, frames of a clip) with a header and a legend.

    image = labelled_grid(rows, ["t=0", "t=1"], "title", "subtitle", legend_rgb())

Every picture of the model's own view is one of these: rows of equally sized cells, a label on
the left of each row, an optional value in [0, 1] drawn as a bar on the right, column labels on
top; long lists wrap into blocks side by side.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..render.colormap import colorize
from ..render.draw import ACCENT, INK, MUTED
from ..render.overlay import wrap_text
from ..render.text import Label, draw_labels, text_width

BACKGROUND = (255, 255, 255)
GAP, PAD = 4, 14                  # pixels between cells, around the picture
BAR_W = 64                        # the value bar's width
KERNEL_MAP = "RdBu_r"             # diverging, white at 0: blue negative, red positive


@dataclass
class Cell:
    """One row of a grid: its cells (h, w, 3) uint8, a label, a value in [0, 1] (None: no bar), a note."""

    cells: list
    label: str
    value: float | None = None
    note: str = ""


def diverging(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] (...,) -> RGB (..., 3) uint8 on a diverging map, white at 0."""
    return colorize(np.clip(values, -1, 1), "signed", KERNEL_MAP)


def _canvas(h: int, w: int) -> np.ndarray:
    c = np.empty((h, w, 3), np.uint8)
    c[:] = BACKGROUND
    return c


def _text_block(lines: list[tuple[str, int, tuple, bool]], width: int) -> tuple[np.ndarray, int]:
    """Lines (text, size, colour, bold), each wrapped to `width`: an image and its height."""
    wrapped = [(t, s, c, b) for text, s, c, b in lines for t in wrap_text(text, width, s, b)]
    h = sum(round(s * 1.45) for _, s, _, _ in wrapped) + 4
    canvas, y, labels = _canvas(h, width), 0, []
    for t, s, c, b in wrapped:
        y += round(s * 1.45)
        labels.append(Label(0, y - round(0.35 * s), t, s, c, "lb", b))
    return draw_labels(canvas, labels), h


def stack(parts: list[np.ndarray], gap: int = 8, pad: int = PAD) -> np.ndarray:
    """Images stacked top to bottom, left-aligned, on a white canvas with a margin."""
    W = max(p.shape[1] for p in parts) + 2 * pad
    H = sum(p.shape[0] for p in parts) + gap * (len(parts) - 1) + 2 * pad
    canvas, y = _canvas(H, W), pad
    for p in parts:
        canvas[y:y + p.shape[0], pad:pad + p.shape[1]] = p
        y += p.shape[0] + gap
    return canvas


def side_by_side(parts: list[np.ndarray], gap: int = 24) -> np.ndarray:
    """Images left to right, top-aligned."""
    H = max(p.shape[0] for p in parts)
    W = sum(p.shape[1] for p in parts) + gap * (len(parts) - 1)
    canvas, x = _canvas(H, W), 0
    for p in parts:
        canvas[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return canvas


def _block(rows: list[Cell], columns: list[str], label_w: int, bars: bool) -> np.ndarray:
    """One block of rows: labels | cells | value bars, column labels on top."""
    ch, cw = rows[0].cells[0].shape[:2]
    n = len(rows[0].cells)
    top = 20
    row_h = max(ch, 30) + (GAP if ch <= 60 else 3 * GAP)     # tall cells (several channels): rows apart
    W = label_w + n * (cw + GAP) + (BAR_W + 44 if bars else 0)
    canvas = _canvas(top + len(rows) * row_h, W)
    labels = [Label(label_w + j * (cw + GAP) + cw / 2, top - 6, name, 11, MUTED, "mb")
              for j, name in enumerate(columns)]
    for i, row in enumerate(rows):
        y = top + i * row_h
        for j, cell in enumerate(row.cells):
            x = label_w + j * (cw + GAP)
            canvas[y:y + ch, x:x + cw] = cell
        mid = y + ch / 2
        labels.append(Label(label_w - 8, mid - (5 if row.note else -4), row.label, 12, INK, "rm" if row.note else "rs"))
        if row.note:
            labels.append(Label(label_w - 8, mid + 9, row.note, 10, MUTED, "rm"))
        if bars and row.value is not None:
            x0 = label_w + n * (cw + GAP) + 6
            canvas[int(mid) - 5:int(mid) + 5, x0:x0 + BAR_W] = (228, 228, 232)
            canvas[int(mid) - 5:int(mid) + 5, x0:x0 + max(1, round(BAR_W * min(max(row.value, 0), 1)))] = ACCENT
            labels.append(Label(x0 + BAR_W + 5, mid + 4, f"{row.value:.2f}", 11, INK, "ls"))
    return draw_labels(canvas, labels)


def labelled_grid(rows: list[Cell], columns: list[str], title: str, subtitle: str = "",
                  legend: np.ndarray | None = None, rows_per_block: int = 16,
                  notes: list[str] | None = None) -> np.ndarray:
    """Rows of cells as one picture (H, W, 3) uint8: title, subtitle and notes on top, the rows in
    blocks of `rows_per_block` side by side (reading down, then right), the legend below."""
    if not rows:
        raise ValueError("a grid needs at least one row")
    label_w = int(max(text_width(r.label, 12) for r in rows)) + 16
    bars = any(r.value is not None for r in rows)
    blocks = [_block(rows[i:i + rows_per_block], columns, label_w, bars)
              for i in range(0, len(rows), rows_per_block)]
    body = side_by_side(blocks)
    width = max(body.shape[1], 560 if legend is None else legend.shape[1])
    head, _ = _text_block([(title, 15, INK, True), (subtitle, 11, MUTED, False)]
                          + [(n, 11, MUTED, False) for n in notes or []], width)
    return stack([head, body] + ([legend] if legend is not None else []))


def _ramp(colours: np.ndarray, width: int, height: int) -> np.ndarray:
    """(n, 3) colours as a horizontal bar (height, width, 3)."""
    idx = np.linspace(0, len(colours) - 1, width).round().astype(int)
    return np.ascontiguousarray(np.broadcast_to(colours[idx], (height, width, 3)))


def legend_rgb(width: int = 560) -> np.ndarray:
    """How to read colour kernels: a ramp per input channel from -max through grey (0) to +max."""
    v = np.linspace(-1, 1, 129)
    rows = []
    for c, name in enumerate(("red", "green", "blue")):
        rgb = np.full((len(v), 3), 0.5)
        rgb[:, c] = 0.5 + 0.5 * v
        rows.append((name, _ramp(np.round(rgb * 255).astype(np.uint8), 200, 12)))
    return _legend(rows, width, "Colour: each kernel pixel's red, green and blue weights (on the normalised "
                                "input) as its colour; grey = 0, symmetric around it, each filter scaled to "
                                "its largest |weight| (all its time slices on one scale)")


def legend_diverging(text: str, width: int = 560) -> np.ndarray:
    """How to read a diverging kernel map: blue negative, white 0, red positive."""
    ramp = _ramp(diverging(np.linspace(-1, 1, 129)), 200, 12)
    return _legend([("weight", ramp)], width, f"Colour: {text}")


def _legend(rows: list[tuple[str, np.ndarray]], width: int, text: str) -> np.ndarray:
    """Ramps labelled on the left with -max / 0 / +max under them, and the words above."""
    words, h = _text_block([(text, 11, MUTED, False)], width)
    label_w, row_h = 56, 18
    canvas = _canvas(len(rows) * row_h + 16, width)
    labels = []
    for i, (name, ramp) in enumerate(rows):
        y = i * row_h
        canvas[y + 3:y + 3 + ramp.shape[0], label_w:label_w + ramp.shape[1]] = ramp
        labels.append(Label(label_w - 6, y + 13, name, 11, INK, "rs"))
    y = len(rows) * row_h + 12
    rw = rows[0][1].shape[1]
    labels += [Label(label_w, y, "−max", 10, MUTED, "ls"), Label(label_w + rw / 2, y, "0", 10, MUTED, "ms"),
               Label(label_w + rw, y, "+max", 10, MUTED, "rs")]
    return stack([words, draw_labels(canvas, labels)], gap=2, pad=0)
