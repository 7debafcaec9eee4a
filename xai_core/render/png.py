"""PNG images from RGB arrays: bytes for the UI, files for exports."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import XaiError


def to_png(image: np.ndarray) -> bytes:
    """An RGB (H, W, 3) or grey (H, W) uint8 image as PNG bytes."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W[, 3]) uint8 (got {image.dtype} {image.shape})")
    bgr = image[..., ::-1] if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        raise XaiError("could not encode the image as PNG")
    return buf.tobytes()


def save_png(path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image to `path` as PNG; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_png(image))
    return path
