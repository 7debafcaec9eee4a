"""What a removed voxel becomes in deletion and insertion: the fills, each a clip like the input.

    temporal_mean  each pixel's mean over time, every frame alike: removes motion and keeps what
                   stands still. The default: a grey or blurred patch on a moving thing still moves
                   (measured: greying the whole evidence mask of a walk clip leaves the class at
                   0.93-0.99 on c3d_small), so only a fill without change over time deletes motion.
    grey           mid-grey (pixel value 0.5 on every channel), normalised with the model's spec
    blur           a Gaussian blur in space and time, sigma (T/8 frames, H/16 px, W/16 px): (2, 4, 4)
                   on the bundled 16 x 64 x 64 grid; Petsiuk et al. 2018 (RISE) insert into a
                   blurred image for the same reason: a constant canvas is itself unlike any input.

All take normalised clips (N, C, T, H, W) and return a new tensor of that shape, dtype and device.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FILLS = ("temporal_mean", "grey", "blur")
DEFAULT_FILL = "temporal_mean"


def fill_like(video: torch.Tensor, kind: str = DEFAULT_FILL, spec=None) -> torch.Tensor:
    """The fill clip for `video` (N, C, T, H, W); `spec` (an InputSpec) is needed for "grey".

    Raises ValueError for an unknown kind or a video that is not 5-D.
    """
    if video.dim() != 5:
        raise ValueError(f"fill: video must be (N, C, T, H, W), got shape {tuple(video.shape)}")
    if kind == "temporal_mean":
        return temporal_mean(video)
    if kind == "grey":
        return grey(video, spec)
    if kind == "blur":
        return blur(video)
    raise ValueError(f"fill: unknown kind {kind!r}; fills: {', '.join(FILLS)}")


def temporal_mean(video: torch.Tensor) -> torch.Tensor:
    """Each pixel's mean over the clip's frames, repeated in every frame: a still clip."""
    return video.mean(2, keepdim=True).expand_as(video).clone()         # (N, C, 1, H, W) -> (N, C, T, H, W)


def grey(video: torch.Tensor, spec) -> torch.Tensor:
    """Mid-grey (pixel value 0.5) in normalised space: (0.5 - mean) / std per channel."""
    if spec is None:
        raise ValueError('fill "grey" needs the model\'s input spec (its mean and std); '
                         'use "temporal_mean" or "blur" for a model without one')
    mean = torch.tensor(spec.mean, dtype=video.dtype, device=video.device)
    std = torch.tensor(spec.std, dtype=video.dtype, device=video.device)
    if len(mean) != video.shape[1]:
        raise ValueError(f'fill "grey": the spec has {len(mean)} channels, the video {video.shape[1]}')
    return ((0.5 - mean) / std).view(1, -1, 1, 1, 1).expand_as(video).clone()


def blur_sigma(shape) -> tuple[float, float, float]:
    """The blur's sigma (frames, px, px) for a clip of shape (..., T, H, W): (T/8, H/16, W/16)."""
    T, H, W = shape[-3:]
    return T / 8, H / 16, W / 16


def blur(video: torch.Tensor, sigma: tuple[float, float, float] | None = None) -> torch.Tensor:
    """A separable Gaussian blur over (T, H, W), `sigma` in (frames, px, px) (default blur_sigma).

    The edges are mirrored half a sample out (d c b a | a b c d | d c b a), so the blur keeps each
    clip's per-channel mean exactly (up to rounding): with a symmetric, normalised kernel this is
    a circular blur of the clip mirrored to twice its length, which keeps the sum.
    """
    sigma = blur_sigma(video.shape) if sigma is None else sigma
    out = video
    for axis, s in zip((2, 3, 4), sigma):
        out = _blur_axis(out, axis, float(s))
    return out if out is not video else video.clone()


def _blur_axis(x: torch.Tensor, axis: int, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    n, radius = x.shape[axis], max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)                       # (1, 1, 2r + 1)
    j = torch.arange(-radius, n + radius, device=x.device) % (2 * n)      # mirrored, period 2n
    j = torch.where(j >= n, 2 * n - 1 - j, j)
    moved = x.index_select(axis, j).movedim(axis, -1)                     # (..., n + 2r)
    flat = moved.reshape(-1, 1, moved.shape[-1])                          # (M, 1, n + 2r)
    out = F.conv1d(flat, kernel).reshape(*moved.shape[:-1], n)            # (..., n)
    return out.movedim(-1, axis).contiguous()
