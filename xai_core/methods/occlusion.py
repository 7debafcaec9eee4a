"""Occlusion: black-box score drops when part of the clip is hidden (Zeiler & Fergus 2014, in space-time).

Both methods only run the model forward, `batch_size` perturbed clips at a time, under
`torch.no_grad()`. Hand-written rather than captum's Occlusion (perturbations_per_eval): the same
numbers where the windows tile the clip, 10-25% faster on CPU and GPU (docs/benchmarks.md,
"Methods"), batched across clips as well as windows, and where they do not tile it the last
window sits flush with the edge, so every box hides the same volume (captum truncates it).
On nets with an incremental plan (xai_core.methods.incremental) occlusion recomputes only the part
of each layer a box changes (Nakandala et al. 2019): the same drops up to float32 rounding.
"""
from __future__ import annotations

import math
from typing import Literal

import torch

from ..errors import MethodError
from .gradients import BASELINE, BATCH, baseline_like, target_scores
from .registry import register_method

AXIS = (1, 4096)              # frames or pixels along one axis (more than the axis means all of it)


def _triple(value: int | tuple[int, int, int]) -> tuple[int, int, int]:
    """An int or (t, h, w) -> (t, h, w); run_method has checked the values."""
    return (value,) * 3 if isinstance(value, int) else tuple(value)


def _starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis, the last one flush with the edge so that every voxel is covered."""
    window = min(window, size)
    starts = list(range(0, size - window + 1, stride))
    return starts if starts[-1] + window == size else starts + [size - window]


def _boxes(shape: tuple[int, int, int], window, stride) -> list[tuple[slice, slice, slice]]:
    """All (t, h, w) windows sliding over a (T, H, W) grid, as slices."""
    axes = [[slice(s, s + min(w, size)) for s in _starts(size, w, st)]
            for size, w, st in zip(shape, window, stride)]
    return [(t, h, w) for t in axes[0] for h in axes[1] for w in axes[2]]


def _score_drops(model, video, target, patches: list, batch_size: int,
                 full: torch.Tensor | None = None) -> torch.Tensor:
    """score(x) - score(x patched), for every clip and patch: (N, P).

    `patches[p](x, n)` patches a copy `x` (C, T, H, W) of clip `n` in place; `full` (N,): the
    clips' own scores when already known.
    """
    N, P = video.shape[0], len(patches)
    pairs = [(n, p) for n in range(N) for p in range(P)]
    drops = video.new_empty(N * P)
    with torch.no_grad():
        if full is None:
            full = target_scores(model, video, target)                   # (N,)
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            clips = torch.tensor([n for n, _ in chunk], device=video.device)
            x = video[clips].clone()                                    # (B, C, T, H, W)
            for i, (n, p) in enumerate(chunk):
                patches[p](x[i], n)
            drops[start:start + len(chunk)] = full[clips] - target_scores(model, x, target[clips])
    return drops.view(N, P)


def _occlusion_passes(shape, *, window, stride) -> int:
    """Passes per clip of occlusion: the unoccluded clip, then one per window."""
    N, C, T, H, W = shape                                               # batch, channels, time, height, width
    return 1 + math.prod(len(_starts(size, w, s)) for size, w, s in zip((T, H, W), _triple(window),
                                                                         _triple(stride)))


def _check_windows(shape, *, window, stride) -> None:
    """MethodError when a stride is longer than its window on an axis the window does not cover:
    the voxels between windows would be hidden by none (0 / 0 relevance)."""
    N, C, T, H, W = shape                                               # batch, channels, time, height, width
    gaps = [f"{axis} (window {w}, stride {s})" for axis, w, s, n in zip(("frames", "height", "width"),
                                                                        _triple(window), _triple(stride), (T, H, W))
            if w < n and s > w]
    if gaps:
        raise MethodError("occlusion: a stride longer than its window leaves voxels no window hides, "
                          f"on {', '.join(gaps)}; make each stride at most its window")


@register_method("occlusion", "Occlusion (space-time windows)", cost="expensive", needs_gradients=False,
                 box="black", native_video=True,
                 bounds={"window": AXIS, "stride": AXIS, "baseline": BASELINE, "batch_size": BATCH},
                 work=_occlusion_passes, check=_check_windows)
def occlusion(model, video, target, *, window: int | tuple[int, int, int] = (4, 16, 16),
              stride: int | tuple[int, int, int] = (2, 8, 8),
              baseline: float | Literal["black"] = 0.0, batch_size: int = 16, incremental: bool = True):
    """Score drop when a space-time box is greyed out, averaged over the boxes covering each voxel.

    `window` and `stride` are (frames, height, width), or one number for all three; `baseline` is
    the fill value in normalised space (0.0 = the data set's mean colour) or "black".
    `incremental`: on nets with a plan (xai_core.methods.incremental: the bundled nets but
    two_stream, torchvision's VideoResNet), each occluded copy recomputes only the part of each
    layer the box changes (Nakandala et al. 2019), the same drops up to float32 rounding;
    elsewhere every copy runs the whole net.
    """
    from .incremental import incremental_drops, plan_for
    from .progress import passes_made

    window, stride = _triple(window), _triple(stride)
    N, C, T, H, W = video.shape                                         # batch, channels, time, height, width
    _check_windows(video.shape, window=window, stride=stride)
    fill = baseline_like(model, video[:1], baseline)[0]                 # (C, T, H, W)
    boxes = _boxes((T, H, W), window, stride)

    def patch(box):
        def apply(x, n):
            x[(slice(None), *box)] = fill[(slice(None), *box)]
        return apply

    with torch.no_grad():
        full = target_scores(model, video, target)                     # (N,)
    plan = plan_for(model) if incremental else None
    drops = None if plan is None else incremental_drops(plan, video, target, boxes, fill, batch_size, full,
                                                         tick=lambda k: passes_made(model, k))
    if drops is None:
        drops = _score_drops(model, video, target, [patch(b) for b in boxes], batch_size, full)  # (N, P)
    total = video.new_zeros(N, T, H, W)
    count = video.new_zeros(T, H, W)
    for p, box in enumerate(boxes):
        total[(slice(None), *box)] += drops[:, p].view(N, 1, 1, 1)
        count[box] += 1
    return total / count                                                # (N, T, H, W)


@register_method("temporal_occlusion", "Temporal occlusion (frames)", cost="moderate", needs_gradients=False,
                 box="black", native_video=True, bounds={"segment": AXIS, "batch_size": BATCH},
                 work=lambda shape, *, segment: 1 + -(-shape[2] // segment))   # 1 + ceil(T / segment)
def temporal_occlusion(model, video, target, *, segment: int = 1,
                       baseline: Literal["mean", "freeze"] = "mean", batch_size: int = 16):
    """Score drop when a few frames are blanked ("mean") or frozen ("freeze": motion removed, look kept).

    Frames are taken `segment` at a time. "mean" fills them with the data set's mean colour;
    "freeze" repeats the frame before the segment (the frame after it, for the first segment),
    so the segment still shows the scene but nothing moves. Each frame's drop is spread over its
    pixels: the per-frame curve is the temporal relevance.
    """
    N, C, T, H, W = video.shape                                         # batch, channels, time, height, width
    segments = [(t0, min(t0 + segment, T)) for t0 in range(0, T, segment)]

    def patch(t0, t1):
        source = t0 - 1 if t0 > 0 else min(t1, T - 1)                   # the frame to freeze on

        def apply(x, n):                                                # x (C, T, H, W): a copy of clip n
            if baseline == "mean":
                x[:, t0:t1] = 0.0
            else:
                x[:, t0:t1] = video[n, :, source:source + 1]
        return apply

    drops = _score_drops(model, video, target, [patch(*s) for s in segments], batch_size)  # (N, S)
    frame_drops = torch.cat([drops[:, k:k + 1].expand(N, t1 - t0)
                             for k, (t0, t1) in enumerate(segments)], 1)  # (N, T)
    return frame_drops.view(N, T, 1, 1).expand(N, T, H, W).clone()       # (N, T, H, W)
