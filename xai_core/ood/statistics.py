"""Per-clip summary vectors the detector compares with the training clips: cheap, from one pass.

Two kinds, both (N, D) float64 on the CPU:

- `noise_floor(video, spec)`: the sensor-noise floor of the model's input, in grey levels:
  a robust version of Immerkaer's spatial estimate (J. Immerkaer 1996, "Fast noise variance
  estimation", CVIU 64(2): the 3x3 Laplacian-difference kernel, median instead of mean so that
  edges do not count) in luma and in chroma, and the median luma change between frames. Every
  procedural training clip carries i.i.d. noise of sigma 2-9 grey levels in each colour
  channel; footage shrunk from a camera's resolution to the model's grid carries far less, and
  its chroma less still (4:2:0 subsampling, denoising).
- `channel_stats(output, n)`: mean and standard deviation of each channel of a layer's output
  over time and space, (N, 2C) - Lee et al. 2018 pool a layer's output per channel the same way
  (they use the mean; the spread adds texture, which separates footage far better here).
"""
from __future__ import annotations

import math

import numpy as np
import torch

NOISE_OFFSET = 0.1   # grey levels added before the log: a perfectly still, clean clip stays finite
NOISE_NAMES = ("luma_spatial", "chroma_spatial", "luma_temporal")


def grey_levels(video: torch.Tensor, spec) -> torch.Tensor:
    """(N, C, T, H, W) normalised input -> the same in 0..255 levels (the spec's mean/std undone)."""
    C = video.shape[1]
    mean = torch.tensor(spec.mean, dtype=video.dtype, device=video.device).view(1, C, 1, 1, 1)
    std = torch.tensor(spec.std, dtype=video.dtype, device=video.device).view(1, C, 1, 1, 1)
    return (video * std + mean) * 255


def _lower_median(x: torch.Tensor) -> np.ndarray:
    """The lower median along the last axis, (..., n) -> (...,) float64 (as torch.median; numpy's
    partition selects it in linear time, several times faster than torch's sort on a CPU)."""
    a = x.detach().cpu().double().numpy()
    k = (a.shape[-1] - 1) // 2
    return np.partition(a, k, axis=-1)[..., k]


def _laplacian_sigma(g: torch.Tensor) -> np.ndarray:
    """(..., T, H, W) -> (...,) Immerkaer's noise sigma per frame (median |3x3 Laplacian
    difference| * sqrt(pi/2) / 6), averaged over the frames (finer than one median of quantised
    levels)."""
    lap = (g[..., :-2, :-2] - 2 * g[..., :-2, 1:-1] + g[..., :-2, 2:]
           - 2 * g[..., 1:-1, :-2] + 4 * g[..., 1:-1, 1:-1] - 2 * g[..., 1:-1, 2:]
           + g[..., 2:, :-2] - 2 * g[..., 2:, 1:-1] + g[..., 2:, 2:])          # (..., T, H-2, W-2)
    per_frame = _lower_median(lap.abs().flatten(-2))                        # (..., T)
    return per_frame.mean(-1) * (math.sqrt(math.pi / 2) / 6)


def noise_floor(video: torch.Tensor, spec) -> np.ndarray:
    """(N, 3) float64: log(offset + x) of the luma noise, the chroma noise (R-G and B-G, averaged;
    0 for a model without three channels) and the median luma change between frames, in grey levels.

    video: the model's input (N, C, T, H, W), normalised with `spec` (mean, std); needs
    H, W >= 3. The procedural clips' noise is independent per colour channel, so it shows in
    chroma as much as in luma; a camera's chroma is subsampled and smoothed.
    """
    x = grey_levels(video.detach().float(), spec)                   # (N, C, T, H, W) levels
    C, T = x.shape[1:3]                                             # (N, C, T, H, W): channels, time
    luma = x.mean(1)                                                # (N, T, H, W)
    if C == 3:
        planes = torch.stack([luma, x[:, 0] - x[:, 1], x[:, 2] - x[:, 1]], 1)   # (N, 3, T, H, W)
        sigma = _laplacian_sigma(planes)                                        # (N, 3)
        luma_s, chroma_s = sigma[:, 0], (sigma[:, 1] + sigma[:, 2]) / 2
    else:
        luma_s = _laplacian_sigma(luma)
        chroma_s = np.zeros_like(luma_s)
    if T > 1:
        luma_t = _lower_median((luma[:, 1:] - luma[:, :-1]).abs().flatten(-2)).mean(1)   # (N,)
    else:
        luma_t = np.zeros_like(luma_s)
    return np.log(NOISE_OFFSET + np.stack([luma_s, chroma_s, luma_t], 1))             # (N, 3)


def channel_stats(output: torch.Tensor, n: int) -> np.ndarray:
    """A layer's output -> (N, 2C) float64: per channel, the mean and the standard deviation
    over time and space.

    output: (N, C, T, H, W) for a video layer, or (N*T, C, H, W) for a per-frame 2D layer
    (frames of one clip next to each other, as FrameEncoder lays them out); n = N.
    """
    if output.shape[0] % n:
        raise ValueError(f"layer output {tuple(output.shape)} does not split into {n} clips")
    C = output.shape[1]
    x = output.detach().float().reshape(n, output.shape[0] // n, C, -1)   # (N, frames or 1, C, rest)
    x = x.transpose(1, 2).reshape(n, C, -1)                                 # (N, C, everything else)
    stats = torch.cat([x.mean(-1), x.std(-1, correction=0)], 1)            # (N, 2C)
    return stats.double().cpu().numpy()
