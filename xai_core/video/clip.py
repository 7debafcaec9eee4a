"""A clip: frames sampled from a video, ready for display and for the model."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import VideoError
from ..spec import InputSpec


@dataclass
class Clip:
    """T frames on the model's input grid, the normalised tensor, and where they came from.

    frames   (T, H, W, 3) uint8 RGB on the model's input grid (what the model sees)
    display  (T, h, w, 3) uint8 RGB at display resolution, same field of view (for rendering)
    source_indices  the frame index in the source video of each of the T frames
    notes    what sampling had to do (looped a short video, padded, rotated, ...)
    sampling how the frames were picked: "spread" (evenly over the clip) or "fps" (at the model's
             frame rate, spec.fps); see video.sample
    """

    frames: np.ndarray
    display: np.ndarray
    spec: InputSpec
    source_indices: list[int]
    fps: float | None = None
    source: str = ""
    digest: str = ""
    notes: list[str] = field(default_factory=list)
    sampling: str = "spread"

    @property
    def tensor(self) -> torch.Tensor:
        """(C, T, H, W) float32 in the spec's channels, normalised with its mean and std."""
        return to_tensor(self.frames, self.spec)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def sampling_info(self) -> dict:
        """How the frames were picked and the span of the source they come from (for result.json).

        mode            "spread" or "fps"
        model_fps       the model's frame rate (spec.fps), None when it declares none
        source_fps      the video's frame rate, None when unknown
        source_frames   [first, last] source frame sampled
        seconds         [start of the first, end of the last] in seconds, None without source_fps
        """
        first, last = (min(self.source_indices), max(self.source_indices)) if self.source_indices else (0, -1)
        seconds = [round(first / self.fps, 4), round((last + 1) / self.fps, 4)] if self.fps else None
        return {"mode": self.sampling, "model_fps": self.spec.fps, "source_fps": self.fps,
                "source_frames": [int(first), int(last)], "seconds": seconds}


def to_tensor(frames: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (C, T, H, W) float32 in the spec's channels, normalised by its mean/std.

    C = 3 for "RGB" (or "BGR": channels reversed), C = 1 for "gray" (ITU-R BT.601 luma,
    0.299 R + 0.587 G + 0.114 B, as OpenCV's RGB2GRAY).
    """
    if spec.channels not in ("RGB", "BGR", "gray"):
        raise VideoError(f"input spec: {spec.channels!r} input is computed from frames by the core "
                         "(xai_core.motion.streams), not made from a video")
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)  # (T, H, W, 3)
    if spec.channels == "gray":
        x = (x @ torch.tensor([0.299, 0.587, 0.114])).unsqueeze(-1)       # (T, H, W, 1)
    elif spec.channels == "BGR":
        x = x.flip(-1)                                                     # (T, H, W, 3) B, G, R
    C = x.shape[-1]
    mean = torch.tensor(spec.mean).view(1, 1, 1, C)
    std = torch.tensor(spec.std).view(1, 1, 1, C)
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
