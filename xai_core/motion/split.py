"""Space or time: a relevance map split, voxel by voxel, into a spatial and a temporal part.

    s = split_relevance("selective", exp.relevance)                      # post-processing only
    s = split_relevance("counterfactual", exp.relevance, model=model, video=clip.tensor[None],
                        method="integrated_gradients", target=exp.target)
    s.spatial + s.temporal == s.total        # exactly, voxel by voxel (float64)
    s.temporal_share                         # clip level, [0, 1]: share of |relevance| that is temporal
    s.voxel_share()                          # (T, H, W) in [0, 1]; 0.5 where there is no relevance

A split is a post-processing of a relevance map R (T, H, W) (any method's, any sign) into
spatial S and temporal M parts with S + M == R. Variants are registered (`@register_split`), like
methods, and listed by `list_splits()`:

- `selective` (Hiley et al. 2020, "Explaining motion relevance for activity recognition in video
  deep learning models", arXiv:2003.14285, "selective relevance"): the temporal derivative of
  the map, dR/dt, by a 3-D Sobel filter (central difference along T, [1, 2, 1] smoothing along H
  and W, edges replicated); voxels where |dR/dt| > k * std(dR/dt) are temporal, the rest
  spatial. It measures WHERE RELEVANCE CHANGES OVER TIME, i.e. relevance that sits on things that
  move (or appear, or vanish); it does NOT measure whether the model USES motion: an
  order-blind model (frame2d_pool) that looks at a walking figure's appearance puts relevance on
  a moving figure and scores "temporal", and because the threshold is relative (k standard
  deviations of the clip's own derivative) some voxels always pass, so the share never nears 0
  unless the map is exactly constant in time. Needs no model; costs nothing.
- `counterfactual`: R(x) minus the relevance of the clip's static counterpart
  (`counterfactual.static`: every frame the per-pixel temporal median): S = R(static(x)),
  M = R(x) - R(static(x)), with the same method, target and options (run through
  `methods.registry.run_method`). It asks the model: what does the explanation lose when the
  motion is taken out while what stays in place is kept? For a complete method (integrated
  gradients, zero baseline b), sum(R(x)) = f(x) - f(b) and sum(R(static x)) = f(static x) - f(b), so
  sum(M) = f(x) - f(static x): the part of the target's score that MOTION ADDS (up to the
  method's integration error). Costs one more explanation. A static clip gives M == 0 exactly.
  Caveat (measured, docs/ground_truth.md "motion-split"): the median also removes content that
  moves (a walking figure vanishes from the static clip), so an order-blind model's relevance on
  the figure's APPEARANCE counts as temporal too: M is relevance that depends on content that
  moves, mostly motion for a model that sees time, but not proof of it.
- `reversed`: R(x) minus the relevance of the clip played backwards, put back in the clip's frame
  order: S = flip_T(R(reverse x)), M = R(x) - S. An order-blind model gives M = 0 (up to float
  rounding of its pooling, ~1e-8 of the map); for integrated gradients sum(M) = f(x) - f(reverse x),
  the score the ORDER of frames adds. It tests use of the direction of time and misses motion
  that reads the same backwards (a wave, a jump).

The clip-level `temporal_share` is sum|M| / (sum|S| + sum|M|): a share of relevance MAGNITUDE,
not of positive relevance, because half the methods here are unsigned (saliency, Grad-CAM) and
for signed ones the counterfactual's parts can cancel (relevance that moves from one place to
another between x and static(x) is negative in M at one place and positive at the other: both
are relevance that depends on motion). For `selective` the denominator is sum|R| (the parts
never overlap). 0.0 when the map is all zeros (nothing to split; `has_relevance` says so).
Measured on the procedural data's motion vs appearance clips: docs/ground_truth.md, section
"motion-split" (benchmarks/motion_split.py).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import MethodError
from . import counterfactual


@dataclass(frozen=True)
class SplitInfo:
    name: str
    label: str
    fn: Callable = field(repr=False, compare=False)
    needs_model: bool = False        # runs the model (needs model, video and method)
    description: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "needs_model": self.needs_model,
                "description": self.description}


_SPLITS: dict[str, SplitInfo] = {}


@dataclass(frozen=True)
class Context:
    """What a model-running variant needs: the model, the clip (1, C, T, H, W) it explained, the
    method, its target (None: the prediction) and options."""

    model: object = None
    video: torch.Tensor | None = None
    method: str | None = None
    target: object = None
    options: dict = field(default_factory=dict)


def register_split(name: str, label: str, needs_model: bool = False):
    """Decorator: register a split variant `fn(relevance (T, H, W) float64, context: Context,
    *, <its params>) -> (spatial part (T, H, W), params used: dict)`; the temporal part is what
    the spatial part leaves (Split.from_parts makes S + M == R exact). Its keyword-only
    parameters are the params split_relevance accepts for it."""
    def wrap(fn):
        doc = (fn.__doc__ or "").strip()
        _SPLITS[name] = SplitInfo(name, label, fn, needs_model, doc.splitlines()[0] if doc else "")
        return fn
    return wrap


def list_splits() -> list[SplitInfo]:
    return list(_SPLITS.values())


def get_split(name: str) -> SplitInfo:
    if name not in _SPLITS:
        raise MethodError(f"unknown split variant {name!r}; variants: {', '.join(_SPLITS)}")
    return _SPLITS[name]


# ------------------------------------------------------------------------------------ Split


def exact_parts(total: np.ndarray, spatial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(spatial', temporal) float64 with spatial' + temporal == total EXACTLY, voxel by voxel.

    temporal = total - spatial; where rounding breaks the identity, spatial' = total - temporal
    (one rounding step); where even that fails, the voxel goes whole to the larger part (the
    smaller error). For float32 maps (every method's output) nothing is ever changed unless the
    two values' magnitudes differ by more than 2^28: the float64 difference of two float32
    values is exact below that, and above it the smaller value is under 4e-9 of the larger. For
    float64 input a spatial part far larger than the map (cancelling with the temporal part)
    may not fit float64 next to it; such a voxel is changed by up to its spatial part."""
    total = np.asarray(total, np.float64)
    spatial = np.asarray(spatial, np.float64).copy()
    temporal = total - spatial
    bad = spatial + temporal != total
    if bad.any():
        spatial[bad] = total[bad] - temporal[bad]
        bad = spatial + temporal != total
    if bad.any():
        to_spatial = bad & (np.abs(spatial) >= np.abs(temporal))
        to_temporal = bad & ~to_spatial
        spatial[to_spatial], temporal[to_spatial] = total[to_spatial], 0.0
        spatial[to_temporal], temporal[to_temporal] = 0.0, total[to_temporal]
    return spatial, temporal


@dataclass
class Split:
    """A relevance map and its spatial and temporal parts, (T, H, W) float64 each, with
    spatial + temporal == total exactly. Units are the map's (e.g. logit units for integrated
    gradients)."""

    total: np.ndarray
    spatial: np.ndarray
    temporal: np.ndarray
    variant: str
    params: dict = field(default_factory=dict)

    @classmethod
    def from_parts(cls, total: np.ndarray, spatial: np.ndarray, variant: str, params: dict | None = None) -> Split:
        """The split whose spatial part is (as close as float64 allows to) `spatial`; see exact_parts."""
        total = _check_map(total, "relevance")
        spatial = _check_map(spatial, "spatial part")
        if spatial.shape != total.shape:
            raise MethodError(f"spatial part {spatial.shape} and relevance {total.shape} differ in shape")
        s, m = exact_parts(total, spatial)
        return cls(np.asarray(total, np.float64), s, m, variant, dict(params or {}))

    @property
    def has_relevance(self) -> bool:
        return bool(np.any(self.total != 0))

    @property
    def temporal_share(self) -> float:
        """sum|temporal| / (sum|spatial| + sum|temporal|) in [0, 1]; 0.0 for an all-zero map."""
        t, s = float(np.abs(self.temporal).sum()), float(np.abs(self.spatial).sum())
        return t / (s + t) if s + t > 0 else 0.0

    def voxel_share(self) -> np.ndarray:
        """(T, H, W) float64 in [0, 1]: |temporal| / (|spatial| + |temporal|) per voxel; 0.5
        ("undecided") where both parts are 0. NaN-free. The renderings draw such voxels with
        zero opacity, so the 0.5 is never seen on its own."""
        t, s = np.abs(self.temporal), np.abs(self.spatial)
        d = s + t
        out = np.full(d.shape, 0.5)
        np.divide(t, d, out=out, where=d > 0)
        return out

    def to_dict(self) -> dict:
        """JSON-ready summary (no arrays): variant, params, shares and sums."""
        def plain(v):
            return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
        return {"variant": self.variant, "params": {k: plain(v) for k, v in self.params.items()},
                "shape": list(self.total.shape), "temporal_share": self.temporal_share,
                "sum_total": float(self.total.sum()), "sum_spatial": float(self.spatial.sum()),
                "sum_temporal": float(self.temporal.sum()),
                "abs_total": float(np.abs(self.total).sum()),
                "temporal_voxels": int(np.count_nonzero(self.temporal))}


def _check_map(relevance, what: str) -> np.ndarray:
    if isinstance(relevance, torch.Tensor):
        relevance = relevance.detach().cpu().numpy()
    r = np.asarray(relevance)
    if r.ndim != 3 or 0 in r.shape:
        raise MethodError(f"{what} must be a (T, H, W) map, got shape {r.shape}")
    if not np.issubdtype(r.dtype, np.number) or np.issubdtype(r.dtype, np.complexfloating):
        raise MethodError(f"{what} must be real numbers, got {r.dtype}")
    if not np.isfinite(r).all():
        raise MethodError(f"{what} is not finite ({int(np.isnan(r).sum())} NaN of {r.size})")
    return r


def split_relevance(name: str, relevance, *, model=None, video=None, method: str | None = None,
                    target=None, options: dict | None = None, **params) -> Split:
    """Split a relevance map (T, H, W) with variant `name`: a Split (parts sum to it exactly).

    model, video  the model and the clip it explained, (1, C, T, H, W) normalised (as the model
                  takes it; a (C, T, H, W) clip is accepted): needed by variants that run the
                  model (`counterfactual`, `reversed`), ignored by the others
    method, target, options  the method that made `relevance`, its target class (index or label;
                  default: the model's prediction on the clip) and its options, reused as they are
    params        the variant's own (selective: k)
    Raises MethodError: an unknown variant or parameter, a map that is not (T, H, W) finite
    numbers, a model-running variant without model / video / method, a video that does not match
    the map, and whatever run_method raises (an unknown method, a bad option).
    """
    total = _check_map(relevance, "relevance")
    if video is not None:
        video = torch.as_tensor(video)
        video = video.unsqueeze(0) if video.dim() == 4 else video
    if target is not None:
        target = [target]
    return split_batch(name, total[None], model=model, video=video, method=method, target=target,
                       options=options, **params)[0]


def split_batch(name: str, relevance, *, model=None, video=None, method: str | None = None,
                target=None, options: dict | None = None, **params) -> list[Split]:
    """split_relevance for N clips at once: relevance (N, T, H, W), video (N, C, T, H, W), target
    N indices or labels (or None: the predictions) -> N Splits; a model-running variant explains
    the N counterparts in one run_method call."""
    info = get_split(name)
    if isinstance(relevance, torch.Tensor):
        relevance = relevance.detach().cpu().numpy()
    relevance = np.asarray(relevance)
    if relevance.ndim != 4:
        raise MethodError(f"relevance must be N (T, H, W) maps, (N, T, H, W), got shape {relevance.shape}")
    total = np.stack([_check_map(r, "relevance") for r in relevance]).astype(np.float64)
    accepted = [p.name for p in inspect.signature(info.fn).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise MethodError(f"split {name!r}: unknown parameter(s) {', '.join(unknown)}; "
                          f"it takes {', '.join(accepted) or 'none'}")
    if info.needs_model:
        if model is None or video is None or method is None:
            raise MethodError(f"split {name!r} runs the model: give model=, video= (1, C, T, H, W) and method=")
        video = torch.as_tensor(video)
        if video.dim() != 5 or video.shape[0] != len(total) or tuple(video.shape[2:]) != total.shape[1:]:
            raise MethodError(f"split {name!r}: video must be ({len(total)}, C, T, H, W) with (T, H, W) = "
                              f"{total.shape[1:]} (the relevance map's), got {tuple(video.shape)}")
        if target is not None and len(target) != len(total):
            raise MethodError(f"split {name!r}: need one target per map ({len(total)}), got {len(target)}")
    context = Context(model, video, method, None if target is None else list(target), dict(options or {}))
    spatial, used = info.fn(total, context, **params)
    per_clip = used.pop("target", None)
    return [Split.from_parts(total[i], spatial[i], name,
                             used if per_clip is None else {**used, "target": per_clip[i]})
            for i in range(len(total))]


# ----------------------------------------------------------------------------------- variants


def sobel_t(volume: np.ndarray) -> np.ndarray:
    """3-D Sobel derivative along time of (..., T, H, W): central difference (x[t+1] - x[t-1]) / 2
    along T, [1, 2, 1] / 4 smoothing along H and W, edges replicated. Units: the map's per frame;
    a map constant in time gives exactly 0."""
    v = np.asarray(volume, np.float64)
    v = np.pad(v, [(0, 0)] * (v.ndim - 3) + [(1, 1)] * 3, mode="edge")    # (..., T+2, H+2, W+2)
    d = (v[..., 2:, :, :] - v[..., :-2, :, :]) / 2.0                         # (..., T, H+2, W+2)
    d = (d[..., :-2, :] + 2 * d[..., 1:-1, :] + d[..., 2:, :]) / 4.0          # (..., T, H, W+2)
    return (d[..., :-2] + 2 * d[..., 1:-1] + d[..., 2:]) / 4.0               # (..., T, H, W)


@register_split("selective", "Selective relevance (temporal derivative, Hiley et al. 2020)")
def selective(total, context: Context, *, k: float = 1.0):
    """Where relevance changes over time (relevance on moving things), not whether the model uses motion.

    Temporal voxels: |Sobel_t(R)| > k * std(Sobel_t(R)) (std over each clip's voxels). k >= 0; a
    map constant in time has no temporal voxel (the test is strict and the derivative is 0)."""
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not np.isfinite(k) or k < 0:
        raise MethodError(f"split 'selective': k must be a finite number >= 0 (got {k!r})")
    d = np.abs(sobel_t(total))                                              # (N, T, H, W)
    sd = d.std(axis=(1, 2, 3), keepdims=True)
    moving = (d > k * sd) & (d > 0)
    return np.where(moving, 0.0, total), {"k": float(k)}


def _targets(model, video: torch.Tensor, target) -> torch.Tensor:
    """(N,) class indices: the given ones (indices or labels) or the model's predictions."""
    if target is None:
        with torch.no_grad():
            return model(video).argmax(1)
    out = []
    for t in target:
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            out.append(int(t))
        elif hasattr(model, "target_index"):
            out.append(model.target_index(t))
        else:
            raise MethodError(f"target {t!r}: give a class index (this model has no class names)")
    return torch.tensor(out, device=video.device)


def counterpart_split(total, context: Context, transform, back=lambda r: r):
    """Spatial part = the relevance of each clip's counterpart transform(x), mapped back onto the
    clip's frames by `back`, same method, target and options; returns (spatial (N, T, H, W), params)."""
    from ..methods.registry import run_method

    model = context.model
    device = next(model.parameters()).device
    video = context.video.to(device)
    target = _targets(model, video, context.target)
    r = run_method(context.method, model, transform(video), target, **context.options)   # (N, T, H, W)
    return back(r).detach().double().cpu().numpy(), {"method": context.method,
                                                     "target": [int(t) for t in target], **context.options}


@register_split("counterfactual", "Counterfactual (relevance lost without motion)", needs_model=True)
def counterfactual_split(total, context: Context):
    """What the explanation loses when the motion is removed: R(x) - R(static x); sums to f(x) - f(static x) for integrated gradients."""
    return counterpart_split(total, context, counterfactual.static)


@register_split("reversed", "Reversed (relevance that depends on the frame order)", needs_model=True)
def reversed_split(total, context: Context):
    """What depends on the order of frames: R(x) - R(reversed x) played back; 0 for an order-blind model.

    Spatial part: the relevance of the reversed clip, its frames put back in the clip's order
    (frame t of the map is frame T-1-t of the reversed clip's map). A model that cannot see the
    order (per-frame features pooled) gives the same map either way: M = 0 up to float rounding
    of its pooling. For integrated gradients, sum(M) = f(x) - f(reverse x): the score the ORDER
    adds. Motion that reads the same backwards (a wave, a jump) is not counted: it measures
    reliance on direction of time, a part of reliance on motion."""
    return counterpart_split(total, context, counterfactual.reverse, lambda r: r.flip(-3))
