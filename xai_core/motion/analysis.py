"""Motion or appearance for one explained clip: reliance, split, flow and (two-stream) flow stream.

    m = analyse_motion(model, clip, exp)              # exp = explain(model, clip, method, ...)
    m.reliance          Reliance (motion.reliance): order / motion / appearance shares, the kind
    m.split             Split (motion.split) of exp.relevance, variant `split` (default counterfactual)
    m.flow              (T-1, H, W, 2) float32 DIS flow on the model's grid, px/frame (motion.flow)
    m.moving_share      share of exp's positive relevance on moving voxels (motion.moving.RULE)
    m.flow_stream       FlowExplanation of a two-stream model's flow stream (motion.streams), else None
    m.to_dict()         JSON-ready (no arrays): what reliance.json and the pages carry

One call gathers what the CLI's --split and the pages' motion view show, so both say the same.
The default split variant is `counterfactual` (R(x) - R(static x)): the best separation of motion
from appearance clips on the ground truth (docs/ground_truth.md, "motion-split": AUROC 1.00 with
Grad-CAM on c3d_small and r2plus1d_small), at the cost of one more explanation; `selective`
(Hiley et al. 2020) costs nothing but measures relevance ON moving things, not use of motion.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .flow import dis_flow
from .moving import THRESHOLD, WINDOW, moving_share
from .reliance import Reliance, motion_reliance
from .split import Split, split_relevance
from .streams import is_two_stream

DEFAULT_SPLIT = "counterfactual"


@dataclass
class MotionAnalysis:
    reliance: Reliance
    split: Split | None
    flow: np.ndarray                        # (T-1, H, W, 2) float32, px/frame, model grid
    moving_share: float                     # [0, 1] or nan (no positive relevance)
    flow_stream: object | None = None       # motion.streams.FlowExplanation for a two-stream model
    timings_ms: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """reliance.json's content: the reliance, the split's shares and sums, relevance on moving
        pixels (with its threshold), the flow stream's own numbers, and what each step cost."""
        share = None if math.isnan(self.moving_share) else self.moving_share
        out = {"reliance": self.reliance.to_dict(),
               "split": None if self.split is None else self.split.to_dict(),
               "moving_share": {"value": share, "threshold_px_per_frame": THRESHOLD, "window_fields": WINDOW,
                                "flow": "OpenCV DIS (ultrafast) on the model's grid"},
               "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()}}
        if self.flow_stream is not None:
            fs = self.flow_stream
            fs_share = fs.moving_share()
            out["flow_stream"] = {
                "method": fs.method, "target": fs.target, "label": fs.label,
                "moving_share": None if math.isnan(fs_share) else fs_share,
                "stream_probability": {k: float(v[fs.target]) for k, v in fs.stream_probabilities.items()}}
        return out


def analyse_motion(model, clip, exp, split: str | None = DEFAULT_SPLIT, flow_method: str | None = None,
                   **split_params) -> MotionAnalysis:
    """Reliance, split, flow and flow stream for `exp`, an Explanation of `clip` by `model`.

    model   a loaded VideoModel; clip: the Clip exp explained (its frames on the model's grid);
    exp     the Explanation (relevance (T, H, W), method, target, options); its `reliance` is set
            to the measured one, so its plain-language summary says what the score rests on
    split   a registered split variant (motion.split.list_splits) or None for none
    flow_method  the method for a two-stream model's flow stream (default: exp's method, with its
            defaults; Grad-CAM uses the flow stream's own layer)
    Raises MethodError (an unknown split or parameter) and what the method raises.
    Cost: one batched forward of 6 clips (reliance), one more explanation (counterfactual or
    reversed split), DIS flow (~1 ms per frame pair), one flow-stream explanation (two-stream).
    """
    timings = {}
    t0 = time.perf_counter()
    reliance = motion_reliance(model, clip, target=exp.target)
    timings["reliance"] = (time.perf_counter() - t0) * 1000
    exp.reliance = reliance

    result_split = None
    if split is not None:
        t0 = time.perf_counter()
        result_split = split_relevance(split, exp.relevance, model=model, video=clip.tensor[None],
                                       method=exp.method, target=exp.target,
                                       options=dict(getattr(exp, "options", {}) or {}), **split_params)
        timings["split"] = (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    flow = dis_flow(np.ascontiguousarray(clip.frames))                 # (T-1, H, W, 2)
    share = moving_share(exp.relevance, flow)
    timings["flow"] = (time.perf_counter() - t0) * 1000

    stream = None
    if is_two_stream(model):
        from .streams import explain_flow_stream
        method = flow_method or exp.method
        t0 = time.perf_counter()
        stream = explain_flow_stream(model, clip, method, target=exp.target)
        timings["flow_stream"] = (time.perf_counter() - t0) * 1000
    return MotionAnalysis(reliance, result_split, flow, share, stream, timings)

