"""A clip: frames sampled from a video, ready for display and for the model."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..spec import InputSpec


@dataclass
class Clip:
    """T frames on the model's input grid, the normalised tensor, and where they came from.

    frames   (T, H, W, 3) uint8 RGB on the model's input grid (what the model sees)
    display  (T, h, w, 3) uint8 RGB at display resolution, same field of view (for rendering)
    source_indices  the frame index in the source video of each of the T frames
    notes    what sampling had to do (looped a short video, padded, rotated, ...)
    """

    frames: np.ndarray
    display: np.ndarray
    spec: InputSpec
    source_indices: list[int]
    fps: float | None = None
    source: str = ""
    digest: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def tensor(self) -> torch.Tensor:
        """(C, T, H, W) float32, normalised with the spec's mean and std."""
        return to_tensor(self.frames, self.spec)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def to_tensor(frames: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (C, T, H, W) float32 normalised by the spec."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)  # (T, H, W, C)
    mean = torch.tensor(spec.mean).view(1, 1, 1, 3)
    std = torch.tensor(spec.std).view(1, 1, 1, 3)
    return ((x - mean) / std).permute(3, 0, 1, 2).contiguous()  # (C, T, H, W)


def from_frames(frames: np.ndarray, spec: InputSpec, source: str = "array", fps: float | None = None,
                display: np.ndarray | None = None) -> Clip:
    """Wrap frames already on the model's grid (e.g. a synthetic clip) as a Clip."""
    import hashlib

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    T = frames.shape[0]
    digest = hashlib.sha1(frames.tobytes()).hexdigest()[:16]
    return Clip(frames=frames, display=frames if display is None else display, spec=spec,
                source_indices=list(range(T)), fps=fps, source=source, digest=digest)
