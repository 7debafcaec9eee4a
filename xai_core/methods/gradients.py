"""Gradient methods: saliency, SmoothGrad, integrated gradients (image methods applied to a clip).

Each reads the gradient of the target's logit with respect to the input clip. None of them
touches the caller's model (mode, parameters, hooks) or the input tensor: gradients are taken
with `torch.autograd.grad` on a detached copy, so no `.grad` is written anywhere.
"""
from __future__ import annotations

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
    """Passes per clip of integrated_gradients: f(x), f(baseline), then every round of path points."""
    total = 2 + steps
    while steps < max_steps:                                   # a clip refined up to max_steps
        steps = min(2 * steps, max_steps)
        total += steps
    return total


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


@register_method("integrated_gradients", "Integrated gradients", cost="expensive", complete=True,
                 bounds={"baseline": BASELINE, "steps": (1, 1024), "tolerance": (0.0, 1.0),
                         "max_steps": (1, 1024), "batch_size": BATCH},
                 work=_ig_passes)
def integrated_gradients(model, video, target, *, baseline: float | Literal["black"] = 0.0, steps: int = 64,
                         tolerance: float = 0.01, max_steps: int = 512, batch_size: int = 16):
    """Gradients summed along a path from a baseline clip: the relevance adds up to the score's change.

    `baseline` is a constant in normalised space (0.0 = the data set's mean colour) or "black".
    Relevance is summed over colour channels, keeping the sign, so that
    relevance.sum() = f(x) - f(baseline) up to the integration error. A clip whose error is above
    `tolerance` (relative to the score's change) is integrated again with twice the steps, up to
    `max_steps`: ReLU nets have kinks along the path, and a fixed step count that is complete on
    one clip is not on another. Measured: the trained c3d_small needs 64 steps on 7 clips of 8
    (gaps <= 0.18%); random nets with trained-like batch norm need 64 to 512. Gauss-Legendre
    steps, captum's IntegratedGradients, `batch_size` path points per forward pass. Steps are
    at most 1024: numpy's Gauss-Legendre nodes cost O(steps^3) (56 s for 4096 points, 0.7 s for
    1024), and no net measured needed more than 512.
    """
    x = video.detach()
    base = baseline_like(model, x, baseline)                      # (N, C, T, H, W)
    with torch.no_grad():
        change = target_scores(model, x, target) - target_scores(model, base, target)  # (N,)
    relevance = _integrate(model, x, base, target, steps, batch_size)                  # (N, T, H, W)
    todo = _incomplete(relevance, change, tolerance)
    while todo.any() and steps < max_steps:
        steps = min(2 * steps, max_steps)
        relevance[todo] = _integrate(model, x[todo], base[todo], target[todo], steps, batch_size)
        todo &= _incomplete(relevance, change, tolerance)
    return relevance


def _integrate(model, x, base, target, steps: int, batch_size: int) -> torch.Tensor:
    """Integrated gradients with `steps` Gauss-Legendre points, summed over channels: (N, T, H, W)."""
    from captum.attr import IntegratedGradients

    with torch.enable_grad(), rnn_without_cudnn(model):
        attributions = IntegratedGradients(model, multiply_by_inputs=True).attribute(
            x, baselines=base, target=target, n_steps=steps, method="gausslegendre",
            internal_batch_size=max(batch_size, x.shape[0]))   # (N, C, T, H, W)
    return attributions.detach().sum(1)


def _incomplete(relevance: torch.Tensor, change: torch.Tensor, tolerance: float) -> torch.Tensor:
    """Which clips' relevance misses f(x) - f(baseline) by more than `tolerance` of it: (N,) bool.

    A change below 1e-4 (in logit units) is treated as 1e-4, so a clip the baseline does not
    change cannot demand endless refinement. The relevance is summed in float64, as
    metrics.completeness_gap does when given float64 relevance: in float32 the order of a sum of
    ~2e5 voxels moves the gap by more than the margin a clip can pass with.
    """
    error = (relevance.flatten(1).double().sum(1) - change.double()).abs()
    return error > tolerance * change.double().abs().clamp_min(1e-4)
