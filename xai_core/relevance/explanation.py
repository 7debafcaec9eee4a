"""explain(): one clip, one model, one method -> an Explanation with probabilities and timings."""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ModelSpecError
from ..methods.cost import observe
from ..methods.options import expected_passes, validate_options
from ..methods.progress import Progress, track
from ..methods.registry import get_method, run_method
from ..ood import watch
from ..video.clip import Clip
from .temporal import key_frames, temporal_curve


@dataclass
class Explanation:
    """Relevance (T, H, W) float32 on the model's input grid, signed: > 0 is evidence for target."""

    relevance: np.ndarray
    target: int
    probabilities: np.ndarray            # (K,) softmax over the model's classes
    class_names: list[str]
    method: str
    model: str
    options: dict = field(default_factory=dict)
    timings_ms: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)   # e.g. completeness_gap for complete methods
    clip: Clip | None = field(default=None, repr=False)
    ood: object = None           # ood.OODResult: is the clip like the model's training data?
    reliance: object = None      # motion.reliance.Reliance, when measured: order / motion / appearance

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def target_label(self) -> str:
        return self.class_names[self.target]

    @property
    def predicted_label(self) -> str:
        return self.class_names[self.predicted]

    @property
    def curve(self) -> np.ndarray:
        """Per-frame share of the positive relevance, (T,)."""
        return temporal_curve(self.relevance)

    def key_frames(self, k: int = 3) -> list[int]:
        return key_frames(self.curve, k)


def explain(model, clip: Clip, method: str, target: int | str | None = None, *,
            progress: Progress | None = None, **options) -> Explanation:
    """Explain `model`'s decision on `clip` with `method`; target defaults to the prediction.

    Options not given take the model's defaults for the method (`ModelInfo.method_defaults`,
    sized for a big model such as I3D), then the method's own. `progress(fraction, message)` is
    told after every forward pass of the method and may raise `Cancelled` to stop it.
    """
    info = get_method(method)
    model_info = getattr(model, "info", None)
    if model_info is not None:
        options = {**model_info.defaults_for(method), **options}
    device = next(model.parameters()).device
    video = clip.tensor.unsqueeze(0).to(device)                   # (1, C, T, H, W)
    timings = {}
    with getattr(model, "lock", nullcontext()):   # a VideoModel's lock: hooks never interleave
        t0 = time.perf_counter()
        with torch.no_grad(), watch(model) as seen:               # + the OOD detector's features
            logits = model(video)                                 # (1, K)
        ood = seen.result()
        probabilities = torch.softmax(logits.float(), 1)[0].cpu().numpy()
        if not np.isfinite(probabilities).all():
            raise ModelSpecError(f"model {getattr(model, 'name', type(model).__name__)!r}: its scores "
                                 f"on this clip are not finite ({_nonfinite(logits)}); check its weights")
        timings["forward"] = (time.perf_counter() - t0) * 1000
        index = int(probabilities.argmax()) if target is None else model.target_index(target)
        t0 = time.perf_counter()
        passes, most = expected_passes(info, validate_options(info, options, tuple(video.shape)),
                                       tuple(video.shape))
        with track(model, passes, progress or _quiet, most) as counted:
            relevance = run_method(method, model, video, torch.tensor([index], device=device), **options)
        timings["explain"] = (time.perf_counter() - t0) * 1000
        observe(model, method, counted[0], timings["explain"] / 1000)   # refines cost.estimate_seconds
    extras = {}
    if info.complete:
        from ..metrics.faithfulness import completeness_gap
        extras["completeness_gap"] = completeness_gap(model, video, index, relevance[0],
                                                      options.get("baseline", 0.0))
        extras["path_points"] = int(counted[0])           # adaptive: the points the integral took
    return Explanation(relevance[0].detach().float().cpu().numpy(), index, probabilities,
                       list(model.class_names), method, model.name, dict(options), timings, extras, clip, ood)


def _quiet(fraction: float, message: str) -> None:
    """No one is listening; the passes are still counted (for cost.observe)."""


def _nonfinite(logits: torch.Tensor) -> str:
    """'2 NaN, 1 inf of 8 logits'."""
    nan, inf = int(torch.isnan(logits).sum()), int(torch.isinf(logits).sum())
    return f"{nan} NaN, {inf} infinite of {logits.numel()} logits"
