"""Compare: one video, several models and methods side by side, on one time axis and colour scale.

    exps = compare(["c3d_small", "frame2d_pool"], "clip.mp4", ["grad_cam"])
    rows = comparison_table(exps, truth="stand_up")      # one row per model x method
    curves = shared_curves(exps)                         # {label: curve on common_frames(exps)}
    scales = column_scales(exps)                         # one colour scale per column, shared

Each model sees the same video sampled to its own input spec (a user model at 112 x 112 and 8
frames next to a bundled one at 64 x 64 and 16), so the source frame number is the common
axis: curves are put onto it and the "when" of every row is written in it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import MethodError, ModelSpecError, VideoError
from ..methods.registry import get_method
from ..video.clip import Clip
from .evidence import evidence
from .explanation import Explanation, explain
from .summary import reliance_headline, where
from .temporal import peak_span


# ----------------------------------------------------------------------------- computing


def clips_for(models, video, *, display_size: int | None = 256) -> dict[str, Clip]:
    """The same video sampled once per model's input spec: {model name: Clip}.

    video  a file path, source frames (T, H, W, 3) uint8, or a Clip; a Clip serves the models
           with its spec, the others are sampled again from its source file (if it has one).
    Models with equal specs share one clip.
    """
    from ..video.sample import clip_from_array, load_video

    by_spec: dict = {}
    if isinstance(video, Clip):
        by_spec[video.spec] = video
    out = {}
    for model in models:
        if model.spec not in by_spec:
            if isinstance(video, Clip):
                if not (video.source and Path(video.source).is_file()):
                    raise VideoError(f"model {model.name!r} needs {_spec_text(model.spec)} but the clip was "
                                     f"sampled for {_spec_text(video.spec)} and its source "
                                     f"{video.source!r} is not a file: pass the video path or its frames")
                by_spec[model.spec] = load_video(video.source, model.spec, display_size=display_size)
            elif isinstance(video, np.ndarray):
                by_spec[model.spec] = clip_from_array(video, model.spec, display_size=display_size)
            elif isinstance(video, (str, os.PathLike)):
                by_spec[model.spec] = load_video(video, model.spec, display_size=display_size)
            else:
                raise VideoError(f"compare: video must be a path, frames (T, H, W, 3) or a Clip, "
                                 f"got {type(video).__name__}")
        out[model.name] = by_spec[model.spec]
    return out


def _spec_text(spec) -> str:
    return f"{spec.frames} frames at {spec.height}x{spec.width}"


def method_options(methods: list[str], options: dict) -> dict[str, dict]:
    """Share options out among methods: each gets the ones it declares; one nobody takes is an error."""
    declared = {m: set(get_method(m).options) for m in methods}
    unused = sorted(set(options) - set().union(*declared.values()))
    if unused:
        raise MethodError(f"option(s) {unused} fit none of the methods {', '.join(methods)}")
    return {m: {k: v for k, v in options.items() if k in declared[m]} for m in methods}


def compare(models, video, methods, target: int | str | None = None, *, explain_fn=None,
            progress=None, display_size: int | None = 256, **options) -> list[Explanation]:
    """Explain every model x method pair on the same video, in that order (models outer).

    models      VideoModels, or anything load_model takes (bundled names, spec files, dicts)
    video       a path, source frames (T, H, W, 3) uint8, a Clip, or {model name: Clip}
    methods     one method name or several
    target      None: each model explains its own prediction; a label: that class for all
    explain_fn  explain(model, clip, method, target, **options) -> Explanation (e.g. a cached one)
    progress    called as progress(step, total, model_name, method) before each pair
    options     method options; each method gets those it declares
    """
    from ..models.loader import load_model

    models = [m if isinstance(m, torch.nn.Module) else load_model(m) for m in models]
    methods = [methods] if isinstance(methods, str) else list(methods)
    if not models or not methods:
        raise MethodError("compare needs at least one model and one method")
    per_method = method_options(methods, options)
    clips = dict(video) if isinstance(video, Mapping) else clips_for(models, video, display_size=display_size)
    explain_fn = explain_fn or explain
    total, out = len(models) * len(methods), []
    for model in models:
        if model.name not in clips:
            raise VideoError(f"compare: no clip for model {model.name!r} (clips for: {', '.join(clips)})")
        index = None if target is None else _target_for(model, target)
        for method in methods:
            if progress is not None:
                progress(len(out), total, model.name, method)
            out.append(explain_fn(model, clips[model.name], method, index, **per_method[method]))
    return out


def _target_for(model, target) -> int:
    """The class index of `target` for this model; the error names the model."""
    try:
        return model.target_index(target)
    except ModelSpecError as e:
        raise ModelSpecError(f"model {model.name!r}: {e}") from None


@dataclass(frozen=True)
class OrderCheck:
    """What a model says on a clip and on the same clip played backwards.

    The reversed clip is motion.counterfactual.reverse's, run by motion.reliance.predict (the same
    counterfactual and pass that motion reliance's "order" part rests on); `reversed_ood` is the
    model's OOD verdict on it (calibrated False without a detector; None from a bare constructor).
    """

    label: str
    probability: float
    reversed_label: str
    reversed_probability: float
    logit_change: float            # max |logits(clip) - logits(reversed clip)|
    reversed_ood: object = None    # OODResult | None

    @property
    def same(self) -> bool:
        return self.label == self.reversed_label

    @classmethod
    def from_reliance(cls, reliance) -> OrderCheck:
        """The order check a motion reliance (motion.reliance.Reliance) already holds."""
        rev = reliance.counterfactual("reversed")
        return cls(reliance.label, reliance.probability, rev.label, rev.probability, rev.logit_change, rev.ood)


def order_check(model, clip: Clip) -> OrderCheck:
    """Run the model on the clip and on its frames in reverse order (one forward pass of both)."""
    from ..motion.counterfactual import reverse
    from ..motion.reliance import predict

    video = clip.tensor.unsqueeze(0)                                    # (1, C, T, H, W)
    logits, oods = predict(model, torch.cat([video, reverse(video)]))   # (2, K) float64: clip, reversed
    e = np.exp(logits - logits.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    a, b = int(p[0].argmax()), int(p[1].argmax())
    return OrderCheck(model.class_names[a], float(p[0, a]), model.class_names[b], float(p[1, b]),
                      float(np.abs(logits[0] - logits[1]).max()), oods[1])


# ------------------------------------------------------------------------------ reading


def frame_numbers_of(exp: Explanation) -> list[int]:
    """The source frame number of each of the explanation's T frames (0..T-1 without a clip)."""
    T = exp.relevance.shape[0]
    if exp.clip is None or len(exp.clip.source_indices) != T:
        return list(range(T))
    return [int(i) for i in exp.clip.source_indices]


def column_labels(explanations: list[Explanation]) -> list[str]:
    """A short unique label per explanation: the model, the method, or both where both vary."""
    models = {e.model for e in explanations}
    methods = {e.method for e in explanations}
    labels = []
    for e in explanations:
        method = get_method(e.method).label
        if len(methods) == 1 and len(models) > 1:
            label = e.model
        elif len(models) == 1 and len(methods) > 1:
            label = method
        else:
            label = f"{e.model} · {method}"
        labels.append(label if label not in labels else f"{label} ({labels.count(label) + 1})")
    return labels


def column_scales(explanations: list[Explanation], mode: str = "positive",
                  max_ratio: float | None = None) -> list[float]:
    """One colour scale per explanation, shared by every explanation of the same method.

    With one method that is one scale for all columns, so equal colours mean equal relevance;
    different methods measure in different units, so each method keeps its own scale.
    `max_ratio`: a method whose explanations' own scales differ more than this factor (Grad-CAM
    of I3D and of a small bundled net: a 30-fold difference, the smaller map would be drawn
    blank) gives each of them its own scale (see `unshared_methods`).
    """
    from .scale import shared_scale

    split = set(unshared_methods(explanations, mode, max_ratio)) if max_ratio else set()
    by_method = {m: shared_scale([e.relevance for e in explanations if e.method == m], mode)
                 for m in {e.method for e in explanations}}
    return [shared_scale([e.relevance], mode) if e.method in split else by_method[e.method]
            for e in explanations]


def unshared_methods(explanations: list[Explanation], mode: str = "positive",
                     max_ratio: float = 10.0) -> dict[str, float]:
    """{method: factor} for the methods whose explanations' own colour scales differ more than
    `max_ratio`-fold (largest over smallest non-zero scale)."""
    from .scale import shared_scale

    out = {}
    for method in dict.fromkeys(e.method for e in explanations):
        scales = [shared_scale([e.relevance], mode) for e in explanations if e.method == method]
        scales = [x for x in scales if x > 0]
        if len(scales) > 1 and max(scales) / min(scales) > max_ratio:
            out[method] = max(scales) / min(scales)
    return out


def common_frames(explanations: list[Explanation]) -> list[int]:
    """The shared time axis: every source frame number any of the explanations sampled, sorted."""
    return sorted({n for e in explanations for n in frame_numbers_of(e)})


def curve_on(exp: Explanation, frames: list[int]) -> np.ndarray:
    """The explanation's temporal curve on the source frames `frames`, summing to 1 again.

    A frame sampled twice (a looped short video) counts once with both shares; frames the model
    did not see are interpolated between the nearest ones it did.
    """
    numbers = np.asarray(frame_numbers_of(exp))
    seen, slot = np.unique(numbers, return_inverse=True)          # (S,) sorted source frames
    share = np.bincount(slot, weights=exp.curve.astype(np.float64), minlength=len(seen))
    out = np.interp(np.asarray(frames, np.float64), seen, share)  # (F,)
    total = out.sum()
    return (out / total if total > 0 else out).astype(np.float32)


def shared_curves(explanations: list[Explanation], frames: list[int] | None = None) -> dict[str, np.ndarray]:
    """{column label: temporal curve} on one source-frame axis (default: common_frames); a column
    without evidence for its class has a zero curve, and "(no evidence for)" after its label."""
    frames = common_frames(explanations) if frames is None else frames
    labels = [label if evidence(e.relevance).positive else f"{label} (no evidence for)"
              for label, e in zip(column_labels(explanations), explanations)]
    return dict(zip(labels, (curve_on(e, frames) for e in explanations)))


def temporal_focus(curve: np.ndarray) -> float:
    """How peaked in time the relevance is: 0 spread evenly over all T frames, 1 all in one frame.

    exp(entropy of the curve) is the effective number of frames the relevance is spread over
    (T for a flat curve, 1 for a single frame); the focus is 1 - (effective - 1) / (T - 1).
    """
    c = np.clip(np.asarray(curve, np.float64), 0, None)
    if c.size < 2 or c.sum() <= 0:
        return 0.0
    p = c[c > 0] / c.sum()
    effective = float(np.exp(-(p * np.log(p)).sum()))
    return float(np.clip(1.0 - (effective - 1.0) / (c.size - 1), 0.0, 1.0))


def evidence_on_grid(exp: Explanation, mask: np.ndarray) -> np.ndarray:
    """A ground-truth mask over the source frames (T0, H0, W0) put onto the explanation's grid (T, H, W)."""
    from ..metrics.ground_truth import mask_on_grid

    return mask_on_grid(mask, frame_numbers_of(exp), exp.relevance.shape)


def evidence_share(exp: Explanation, mask: np.ndarray) -> float:
    """Share of the positive relevance inside the ground-truth evidence (mask over the source frames)."""
    from ..metrics.ground_truth import energy_inside

    return energy_inside(exp.relevance, evidence_on_grid(exp, mask))


def reversed_class(label: str | None) -> str | None:
    """The class of a synthetic clip of `label` played backwards (stand_up -> sit_down), else None."""
    from ..data.synthetic import REVERSAL_TWIN

    return REVERSAL_TWIN.get(label)


def verdict(exp: Explanation, truth: str | None, check: OrderCheck | None = None,
            reversed_truth: str | None = None) -> str | None:
    """'right', 'wrong (it says sit_down)', or None when the truth is not known.

    Given what the model says on the reversed clip (check) and that clip's true class, a right
    answer becomes 'right both ways' or 'right by chance, wrong backwards'.
    """
    if truth is None:
        return None
    if exp.predicted_label != truth:
        return f"wrong (it says {exp.predicted_label})"
    if check is None or reversed_truth is None:
        return "right"
    if check.reversed_label == reversed_truth:
        return "right both ways"
    return "right by chance, wrong backwards"


def comparison_table(explanations: list[Explanation], frame_numbers=None, *, truth: str | None = None,
                     order: Mapping[str, OrderCheck] | None = None, reversed_truth: str | None = None,
                     evidence: np.ndarray | None = None) -> list[dict]:
    """One row per explanation: what it predicts, how sure, and when and where the relevance sits.

    frame_numbers  None: each explanation's own source frame numbers; else one list per row
    truth          the true class, if known: adds a "verdict" column
    order          {model name: OrderCheck}: adds what each model says on the reversed clip
    reversed_truth the true class of the reversed clip, if known: the verdict covers it too
    evidence       the ground-truth evidence mask over the source frames (T0, H0, W0), if known:
                   adds "in evidence", the share of positive relevance inside it
    The "when" is the shortest run of frames around the peak holding half the positive relevance
    (peak_span), in source frame numbers; "share in span" is the part of the relevance it holds
    (>= 50%). Without evidence for the class, "when" says so and the shares are 0.
    """
    numbers = ([frame_numbers_of(e) for e in explanations] if frame_numbers is None
               else [list(n) for n in frame_numbers])
    if len(numbers) != len(explanations):
        raise ValueError(f"frame_numbers: need one list per explanation ({len(explanations)}), "
                         f"got {len(numbers)}")
    labels = column_labels(explanations)
    rows = [_row(e, label, n, truth, order or {}, reversed_truth)
            for e, label, n in zip(explanations, labels, numbers)]
    if evidence is not None:
        for row, e in zip(rows, explanations):
            row["in evidence"] = evidence_share(e, evidence)
    return rows


def _row(e: Explanation, label: str, numbers: list[int], truth, order, reversed_truth) -> dict:
    curve = e.curve                                                 # (T,)
    a, b = peak_span(curve)
    empty = not (curve.sum() > 0 and evidence(e.relevance).positive)
    row = {"column": label, "model": e.model, "method": get_method(e.method).label,
           "prediction": e.predicted_label, "confidence": float(e.probabilities[e.predicted]),
           "target": e.target_label, "target probability": float(e.probabilities[e.target]),
           "when": "no evidence for it" if empty else
                   f"frame {numbers[a]}" if a == b else f"frames {numbers[a]}–{numbers[b]}",
           "span": (numbers[a], numbers[b]), "share in span": float(curve[a:b + 1].sum()),
           "where": where(e.relevance, (a, b)), "focus in time": temporal_focus(curve)}
    if truth is not None:
        row["verdict"] = verdict(e, truth, order.get(e.model), reversed_truth)
    if e.model in order:
        check = order[e.model]
        row["reversed clip"] = f"{check.reversed_label} ({check.reversed_probability:.0%})"
    if getattr(e, "reliance", None) is not None:                   # measured motion reliance
        row["relies on"] = reliance_headline(e.reliance)
    row.update({f"{k} ms": float(v) for k, v in e.timings_ms.items()})
    return row


__all__ = ["OrderCheck", "clips_for", "column_labels", "column_scales", "common_frames", "compare",
           "unshared_methods",
           "comparison_table", "curve_on", "evidence_on_grid", "evidence_share", "frame_numbers_of",
           "method_options", "order_check", "reversed_class", "shared_curves", "temporal_focus", "verdict"]
