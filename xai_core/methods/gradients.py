"""Gradient methods: saliency, SmoothGrad, integrated gradients (image methods applied to a clip).

Each reads the gradient of the target's logit with respect to the input clip. None of them
touches the caller's model (mode, parameters, hooks) or the input tensor: gradients are taken
with `torch.autograd.grad` on a detached copy, so no `.grad` is written anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..errors import MethodError
from .hooks import rnn_without_cudnn
from .registry import register_method


def target_scores(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The target's logit for each clip: (N, C, T, H, W), (N,) -> (N,)."""
    logits = model(x)                                          # (N, K)
    return logits.gather(1, target.view(-1, 1)).squeeze(1)     # (N,)


def input_gradient(model: nn.Module, video: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d score / d input, (N, C, T, H, W); clips are independent when the model is in eval mode."""
    x = video.detach().requires_grad_(True)                    # a new leaf sharing video's storage
    with torch.enable_grad(), rnn_without_cudnn(model):
        (grad,) = torch.autograd.grad(target_scores(model, x, target).sum(), x)
    return grad


def baseline_like(model: nn.Module, video: torch.Tensor, baseline: float | Literal["black"]) -> torch.Tensor:
    """The reference clip: a constant in normalised space (0.0 = the data set's mean colour) or "black"."""
    if baseline == "black":
        spec = getattr(model, "spec", None)
        if spec is None:
            raise MethodError('baseline "black" needs the model\'s input spec (a VideoModel); '
                              "give a number in normalised space instead, e.g. baseline=0.0")
        mean = torch.tensor(spec.mean, dtype=video.dtype, device=video.device)
        std = torch.tensor(spec.std, dtype=video.dtype, device=video.device)
        black = (-mean / std).view(1, -1, 1, 1, 1)             # (1, C, 1, 1, 1): pixel value 0
        return black.expand_as(video).clone()
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise MethodError(f'option "baseline": a number in normalised space or "black", got {baseline!r}')
    return torch.full_like(video, float(baseline))


# Bounds shared by the methods (options.py explains the work caps on top of them).
BATCH = (1, 4096)             # clips per forward pass; options.MAX_BATCH_BYTES caps their memory
BASELINE = (-1e3, 1e3)        # normalised space: pixels 0..1 map to about -2..+3 with ImageNet std;
                              # the bound only keeps a constant fill finite through the first layer


def _ig_passes(shape, *, steps: int, max_steps: int) -> int:
    """Passes per clip of integrated_gradients at most: one per path point, both ends included.

    The first round evaluates steps + 1 points; refinement adds points up to max_steps + 1."""
    return max(steps, max_steps) + 1


@register_method("saliency", "Saliency (gradient)", cost="cheap", signed=False)
def saliency(model, video, target):
    """Gradient magnitude: the pixels where a small change moves the score most (Simonyan et al. 2014)."""
    return input_gradient(model, video, target).abs().amax(1)  # (N, C, T, H, W) -> (N, T, H, W)


@register_method("smoothgrad", "SmoothGrad", cost="moderate", signed=False,
                 bounds={"samples": (1, 4096), "stdev": (0.0, 1.0), "batch_size": BATCH,
                         "seed": (0, 2 ** 63 - 1)},
                 work=lambda shape, *, samples: samples)
def smoothgrad(model, video, target, *, samples: int = 25, stdev: float = 0.15,
               batch_size: int = 16, seed: int = 0):
    """Saliency averaged over noisy copies of the clip: less grainy than one gradient (Smilkov et al. 2017).

    `stdev` is the noise's standard deviation as a fraction of the clip's value range. Every clip
    draws the same noise sequence from `seed`, so a clip's map does not depend on the batch.
    Hand-written rather than captum's NoiseTunnel(Saliency): it averages the saliency maps
    themselves (NoiseTunnel averages per-channel |gradients| before the channel max), is
    reproducible from `seed`, and runs as fast (within ±10% on CPU and GPU, docs/benchmarks.md,
    "Methods"); neither is faster, so the exact definition decides. Bounds: `stdev` up to 1
    (noise as wide as the clip's range drowns it; Smilkov et al. find 10-20% best).
    """
    N = video.shape[0]
    sigma = stdev * (video.amax(dim=(1, 2, 3, 4)) - video.amin(dim=(1, 2, 3, 4)))  # (N,)
    generators = [torch.Generator(video.device).manual_seed(seed) for _ in range(N)]
    pairs = [(n, s) for n in range(N) for s in range(samples)]  # clip-major: each generator in order
    total = video.new_zeros(video.shape[:1] + video.shape[2:])  # (N, T, H, W)
    for start in range(0, len(pairs), batch_size):
        clips = torch.tensor([n for n, _ in pairs[start:start + batch_size]], device=video.device)
        noise = torch.stack([torch.randn(video.shape[1:], generator=generators[n], dtype=video.dtype,
                                         device=video.device) for n in clips.tolist()])  # (B, C, T, H, W)
        noisy = video[clips].detach() + sigma[clips].view(-1, 1, 1, 1, 1) * noise
        total.index_add_(0, clips, saliency(model, noisy, target[clips]))
    return total / samples


@dataclass
class PathIntegral:
    """Integrated gradients of N clips with what it took.

    relevance  (N, T, H, W): summed over colour channels, sign kept
    points     (N,) int: path points evaluated per clip (both ends included; each one forward +
               backward pass)
    gap        (N,) float: |sum(relevance) - (f(x) - f(baseline))| / |f(x) - f(baseline)|, the
               completeness gap the refinement stopped at (relevance summed in float64)
    """
    relevance: torch.Tensor
    points: list
    gap: list


def _to_halve(errors: list, excess: float, change: float, room: int) -> list[float]:
    """Midpoints of the intervals to halve next: the worst first (largest |error|), until their
    errors add up to the `excess` gap (relative to |change|), at most half the intervals and `room`."""
    worst = sorted(errors, key=lambda e: -abs(e[0]))
    chosen, covered = [], 0.0
    for e, a0, a1 in worst[:min(room, max(1, len(errors) // 2))]:
        chosen.append((a0 + a1) / 2)
        covered += abs(e) / max(change, 1e-4)
        if covered >= excess:
            break
    return chosen


@register_method("integrated_gradients", "Integrated gradients", cost="moderate", complete=True,
                 bounds={"baseline": BASELINE, "steps": (1, 1024), "tolerance": (0.0, 1.0),
                         "max_steps": (1, 1024), "batch_size": BATCH},
                 work=_ig_passes)
def integrated_gradients(model, video, target, *, baseline: float | Literal["black"] = 0.0, steps: int = 8,
                         tolerance: float = 0.01, max_steps: int = 256, batch_size: int = 16):
    """Gradients summed along a path from a baseline clip: the relevance adds up to the score's change.

    Sundararajan et al. (ICML 2017), integrated adaptively (path_integral): `steps` equal
    intervals first, then the intervals whose own integration error is largest are halved, reusing
    every point already evaluated, until the relevance sums to f(x) - f(baseline) within
    `tolerance` (relative) or the clip has max_steps intervals. `baseline` is a constant in
    normalised space (0.0 = the data set's mean colour) or "black". Relevance is summed over
    colour channels, keeping the sign.
    """
    return path_integral(model, video, target, baseline=baseline, steps=steps, tolerance=tolerance,
                         max_steps=max_steps, batch_size=batch_size).relevance


def path_integral(model, video, target, *, baseline: float | Literal["black"] = 0.0, steps: int = 8,
                  tolerance: float = 0.01, max_steps: int = 256, batch_size: int = 16) -> PathIntegral:
    """Adaptive integrated gradients: video (N, C, T, H, W), target (N,) -> PathIntegral.

    Hand-written (captum's IntegratedGradients takes a fixed rule of n_steps points): along the
    straight path p(a) = b + a (x - b), each evaluated point gives both the score f(p(a)) (its
    forward pass) and the gradient g(a) = (x - b) . grad f(p(a)) (its backward pass). The
    relevance is the trapezoid rule over the points; on each interval [a0, a1] the exact integral
    of g is known, f(p(a1)) - f(p(a0)), so each interval's integration error is known too, and
    their sum is the completeness gap. Rounds: start with `steps` equal intervals; while a clip's
    gap is above `tolerance` (of |f(x) - f(b)|, at least 1e-4 logits, so a clip the baseline does
    not change cannot demand endless refinement), halve its worst intervals (largest |error| first)
    until their errors cover the excess over the tolerance, at most half of them a round, up to
    `max_steps` intervals. Points are nested: nothing is evaluated twice, and all clips' new points
    share batches of `batch_size`.

    Why: a ReLU net's score is piecewise linear along the path, so g jumps at every kink and no
    fixed rule is complete everywhere (captum's 64 Gauss-Legendre points leave a 6.3% gap on
    cnn_lstm); the kinks crowd where the score changes fastest, which the per-interval errors find.
    Measured on 6 procedural clips each: 1% is reached with 9-11 points on c3d_small, 9-18 on
    r2plus1d_small, 9-15 on frame2d_pool, 11-29 on cnn_lstm; the time against captum's default
    call is in docs/benchmarks.md, "Speed targets".

    Memory: the channel-summed gradient map of every point is kept, (points, T, H, W) float32
    per clip. Raises MethodError for a bad baseline.
    """
    x = video.detach()
    base = baseline_like(model, x, baseline)                      # (N, C, T, H, W)
    diff = x - base
    N = x.shape[0]
    alphas = [[float(a) for a in torch.linspace(0, 1, steps + 1, dtype=torch.float64)] for _ in range(N)]
    score: list[dict] = [{} for _ in range(N)]                    # clip -> {a: f(p(a))}, float64
    slope: list[dict] = [{} for _ in range(N)]                    # clip -> {a: g(a) summed}, float64
    maps: list[dict] = [{} for _ in range(N)]                     # clip -> {a: (T, H, W) map}
    todo = [(n, a) for n in range(N) for a in alphas[n]]
    gaps = [float("inf")] * N
    while todo:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            clips = torch.tensor([n for n, _ in chunk], device=x.device)
            a = torch.tensor([a for _, a in chunk], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1, 1)
            points = (base[clips] + a * diff[clips]).requires_grad_(True)
            with torch.enable_grad(), rnn_without_cudnn(model):
                s = target_scores(model, points, target[clips])
                (grad,) = torch.autograd.grad(s.sum(), points)
            s, g = s.detach(), (grad * diff[clips]).sum(1)        # (B,), (B, T, H, W)
            for i, (n, al) in enumerate(chunk):
                score[n][al] = float(s[i])
                maps[n][al] = g[i]
                slope[n][al] = float(g[i].double().sum())
        todo = []
        for n in range(N):
            grid = sorted(score[n])
            change = score[n][grid[-1]] - score[n][grid[0]]
            errors = [((a1 - a0) * (slope[n][a0] + slope[n][a1]) / 2 - (score[n][a1] - score[n][a0]), a0, a1)
                      for a0, a1 in zip(grid, grid[1:])]
            gaps[n] = abs(sum(e for e, _, _ in errors)) / max(abs(change), 1e-4)
            room = max_steps - len(errors)
            if gaps[n] > tolerance and room > 0:
                todo += [(n, a) for a in _to_halve(errors, gaps[n] - tolerance / 2, abs(change), room)]
    relevance = x.new_zeros(x.shape[:1] + x.shape[2:])            # (N, T, H, W)
    for n in range(N):
        grid = sorted(score[n])
        for i, a in enumerate(grid):                              # trapezoid weight of each point
            w = ((grid[min(i + 1, len(grid) - 1)] - grid[max(i - 1, 0)]) / 2)
            relevance[n] += w * maps[n][a]
    return PathIntegral(relevance, [len(score[n]) for n in range(N)], gaps)
