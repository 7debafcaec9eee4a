"""Relevance maps of one method over several clips, as the metrics need them: with the model's own
defaults for the method, progress per forward pass, and cancellation."""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from ..methods.options import expected_passes, validate_options
from ..methods.progress import Progress, track
from ..methods.registry import get_method, run_method


def method_options(model, method: str, options: dict | None = None) -> dict:
    """The options `method` runs with on `model`: the model's defaults for it (ModelInfo.method_defaults,
    sized for a big model), then `options`; checked (types and bounds), canonical (tuples, floats)."""
    info = get_method(method)
    model_info = getattr(model, "info", None)
    merged = {**(model_info.defaults_for(method) if model_info is not None else {}), **(options or {})}
    return validate_options(info, merged)


def relevance_maps(model, method, video: torch.Tensor, target, options: dict | None = None,
                   clips_per_call: int = 8, progress: Progress | None = None) -> np.ndarray:
    """(N, T, H, W) float32 maps of `method` for normalised clips `video` (N, C, T, H, W), targets (N,).

    `method` is a registered name, or a function `fn(model, video, target, **options)` returning
    (n, T, H, W) (a method not registered yet: not validated, progress counted per call). Runs
    `clips_per_call` clips per call (the method's own batch_size batches within), under the
    model's lock; `progress(fraction, message)` hears every forward pass and may raise
    Cancelled. Raises MethodError as run_method does (unknown method, bad option, too much work).
    """
    N = video.shape[0]
    target = torch.as_tensor(target, device=video.device).long().reshape(-1)
    if callable(method):
        run, passes, most = (lambda v, t: method(model, v, t, **(options or {}))), 1, 1
    else:
        info = get_method(method)
        options = method_options(model, method, options)
        passes, most = expected_passes(info, validate_options(info, options, (1, *video.shape[1:])),
                                       (1, *video.shape[1:]))
        run = lambda v, t: run_method(method, model, v, t, **options)          # noqa: E731
    out = []
    with getattr(model, "lock", None) or nullcontext(), track(model, passes * N, progress, most * N):
        for start in range(0, N, clips_per_call):
            part = slice(start, start + clips_per_call)
            out.append(run(video[part], target[part]).detach().float().cpu().numpy())
    if progress is not None:
        progress(1.0, f"{N} maps of {method_name(method)}")      # also when fewer passes ran than expected
    return np.concatenate(out)


def method_name(method) -> str:
    """A registered method's name, or a function's."""
    return method if isinstance(method, str) else getattr(method, "__name__", type(method).__name__)
