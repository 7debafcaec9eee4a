"""Anti-aliased labels on RGB images (Pillow with matplotlib's bundled DejaVu fonts)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class Label:
    """Text at (x, y); anchor is Pillow's two letters (e.g. "lb" left-baseline, "mm" centre)."""

    x: float
    y: float
    text: str
    size: int = 13
    colour: tuple = (40, 40, 40)
    anchor: str = "lb"
    bold: bool = False


@lru_cache(maxsize=16)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at `size` px (Pillow's default font where matplotlib's is missing)."""
    from matplotlib import font_manager

    try:
        path = font_manager.findfont(font_manager.FontProperties(
            family="DejaVu Sans", weight="bold" if bold else "normal"), fallback_to_default=True)
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default(size)


def text_width(text: str, size: int, bold: bool = False) -> float:
    """Width in pixels of `text` set at `size`."""
    return font(size, bold).getlength(text)


def draw_labels(image: np.ndarray, labels: list[Label]) -> np.ndarray:
    """A copy of `image` (H, W, 3) uint8 with the labels drawn, in order."""
    if not labels:
        return image
    pil = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(pil)
    for lab in labels:
        draw.text((lab.x, lab.y), lab.text, fill=tuple(lab.colour), font=font(lab.size, lab.bold),
                  anchor=lab.anchor)
    return np.asarray(pil)
