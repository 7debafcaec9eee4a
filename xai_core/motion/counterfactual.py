"""Counterfactual clips that remove motion but keep what the frames show.

All functions take and return normalised model input (N, C, T, H, W) (or one clip (C, T, H, W))
and work in that space, so a counterfactual is fed to the model exactly like the clip itself.

    reverse(x)           frames in reverse order: the same content and the same amount of change,
                         the order of frames undone (a walk_left clip becomes a walk_right clip)
    smooth(x, sigma)     each frame replaced by a Gaussian-weighted average of its neighbours in
                         time (sigma in frames; weights truncated at the clip's ends and
                         renormalised, so a static clip is left unchanged): motion is blurred away
                         gradually as sigma grows, appearance that persists stays
    static(x)            every frame replaced by the per-pixel temporal median: no motion at all,
                         what stays in place (background, a held object) kept sharp
    FAMILY               the documented family, mildest first: reverse, smooth 1, 2, 4, static

Smoothing commutes with reversal (the kernel is symmetric) and the median ignores the order, so
for a model that cannot see the order of frames reverse(x) scores exactly like x, and
smooth(reverse(x)) like smooth(x) - the property the reliance decomposition rests on.
"""
from __future__ import annotations

import torch

SIGMAS = (1.0, 2.0, 4.0)          # frames; the smoothing strengths of the family
FAMILY = ("reversed",) + tuple(f"smoothed σ={s:g}" for s in SIGMAS) + ("static",)


def _batched(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.dim() == 4:
        return x.unsqueeze(0), True
    if x.dim() != 5:
        raise ValueError(f"expected a clip (C, T, H, W) or clips (N, C, T, H, W), got shape {tuple(x.shape)}")
    return x, False


def reverse(x: torch.Tensor) -> torch.Tensor:
    """The frames in reverse order (time is axis -3)."""
    return x.flip(-3)


def smoothing_weights(frames: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """(T, T) row-stochastic Gaussian weights: row s averages the frames around frame s."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 frames (got {sigma})")
    t = torch.arange(frames, device=device, dtype=torch.float64)
    w = torch.exp(-0.5 * ((t[:, None] - t[None, :]) / float(sigma)) ** 2)
    return (w / w.sum(1, keepdim=True)).to(dtype)


def smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each frame replaced by the Gaussian-weighted mean of the clip's frames around it (sigma in frames)."""
    v, single = _batched(x)
    w = smoothing_weights(v.shape[2], sigma, v.device, v.dtype)            # (T, T)
    out = torch.einsum("st,ncthw->ncshw", w, v)
    return out[0] if single else out


def static(x: torch.Tensor) -> torch.Tensor:
    """Every frame the per-pixel temporal median of the clip: (N, C, T, H, W), constant in time."""
    v, single = _batched(x)
    out = v.median(dim=2, keepdim=True).values.expand_as(v).contiguous()
    return out[0] if single else out


def family(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """{name: counterfactual} for the names in FAMILY, each shaped like x."""
    out = {"reversed": reverse(x)}
    for s in SIGMAS:
        out[f"smoothed σ={s:g}"] = smooth(x, s)
    out["static"] = static(x)
    return out
