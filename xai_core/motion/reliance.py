"""Counterfactual motion reliance: how much of a model's score needs frame order, change, or neither.

    r = motion_reliance(model, clip)              # clip: a Clip, or normalised (C, T, H, W) / (1, C, T, H, W)
    r.parts     # {"order": s - s_rev, "motion": s_rev - s_static, "appearance": s_static - chance}
    r.shares    # the positive parts over Z = sum |parts|; r.remainder: the negative ones' magnitude / Z
    r.kind      # "order" | "change" | "appearance" (| "none"): what the score rests on (rule below)
    r.to_dict() # JSON-ready (the CLI writes it as reliance.json)
    rs = reliance_batch(model, videos, targets)   # N clips, one forward pass per counterfactual

Black box: forward passes only (no gradients, no hooks but the OOD detector's), any model that
maps (N, C, T, H, W) to logits (N, K).

The definition. s is the softmax probability of the target class on the clip (a probability in
[0, 1]); s_rev on the clip played backwards (`counterfactual.reverse`); s_static on the static
clip (`counterfactual.static`: every frame the per-pixel temporal median); chance = 1 / K. The path

    clip  --reverse-->  reversed  --remove all change-->  static  --remove what is left-->  chance

splits s - chance into three parts that telescope exactly (they sum to s - chance, float64):

    order       s - s_rev          what undoing the order of the frames takes away (the frames, and
                                   the amount of change between them, are kept)
    motion      s_rev - s_static   what removing all change over time takes away, order no longer
                                   counting (the reversed and the original clip have the same median)
    appearance  s_static - chance  what the still content scores above guessing

Shares: Z = |order| + |motion| + |appearance|; each positive part's share is part / Z, and
`remainder` = (sum of the negative parts' magnitudes) / Z, so order + motion + appearance +
remainder = 1. A negative part means the score *rose* when that was removed (a model that finds a
reversed clip more typical of the class than the clip itself): it is stated, never hidden. A part
below TOLERANCE (1e-6, the resolution of a float32 probability near 1: 2^-23 ~ 1.2e-7, times a few
summation-order differences) counts as 0, so an order-blind model has order reliance exactly 0.
Z == 0 (the model scores every counterfactual as the clip, at chance): all shares 0, remainder 1,
kind "none", with a note.

Why these choices (the measured alternatives are in docs/ground_truth.md, "Motion reliance"):
- probabilities, not logits: a probability's differences add up to a quantity with a fixed range
  (s - chance), comparable between models and clips; a logit difference is unbounded and shifts
  with every other class's logit.
- the median as the static counterpart: it keeps what stays in place sharp (a held ball, the
  background) where a temporal mean leaves ghosts; it is the same for a clip and its reversal, so
  the path is well defined. The smoothing family on the reversed clip (sigma 1, 2, 4 frames) is run
  too and reported among the counterfactuals: the score's fall as change is blurred away gradually,
  between s_rev and s_static.

The kind rule (KIND_RULE): "order" if the order share >= ORDER_SHARE; else "change" if order +
motion share >= CHANGE_SHARE; else "appearance"; "none" when no part is positive (the score is at
or below chance on the clip). The thresholds were chosen on seed 6, never used in training nor in
the reported ground-truth figures (seed 4): see benchmarks/motion_reliance.py --choose.

What it measures: how the model's score for one class responds to three edits of the clip, each
a clip the model can be run on; so it holds for that model, clip and class, with no assumption on
the architecture. What it does not measure:
- order beyond reversal: reversal is one permutation; a model could use an order that reversal
  keeps (a palindromic pattern). The order part is what reversal reveals, a lower bound.
- the appearance of moving things: something that moves across the frame (a walking figure)
  vanishes from the median, so what it looks like is credited to motion, not appearance.
- whether the counterfactuals stay in the model's world: a static or smoothed clip may be unlike
  any training clip (less sensor noise, no motion blur), and a score may fall for that reason alone.
  Each counterfactual's own prediction and, for a calibrated model, its OOD verdict are reported
  so that a reader can see when a counterfactual left the data's world.
- interactions between parts are assigned by the path's order (order first): another path would
  assign them differently.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ModelSpecError
from ..ood import watch
from ..ood.result import OODResult
from .counterfactual import SIGMAS, reverse, smooth, static

TOLERANCE = 1e-6                    # probability differences below this count as 0 (see above)
PARTS = ("order", "motion", "appearance")
KINDS = ("order", "change", "appearance", "none")
# Chosen on seed 6 (benchmarks/motion_reliance.py --choose): the middle of the plateau of
# thresholds (0.05 grid) that maximise the mean balanced accuracy of c3d_small and r2plus1d_small:
# order share 0.15..0.75 all equal, change share 0.20..0.30 (r2plus1d_small recognises a still
# raised arm as wave about half the time, so its wave clips rest on change by a third to a half).
ORDER_SHARE = 0.45
CHANGE_SHARE = 0.25
KIND_RULE = (f'"order" if share(order) >= {ORDER_SHARE}; else "change" if share(order) + share(motion) '
             f'>= {CHANGE_SHARE}; else "appearance"; "none" if no part is positive')
# The counterfactuals, in the order they are run: the path's two steps and, between them, the
# reversed clip smoothed in time (smoothing commutes with reversal: the same as the smoothed clip
# reversed).
COUNTERFACTUALS = ("reversed",) + tuple(f"reversed, smoothed σ={s:g}" for s in SIGMAS) + ("static",)


@dataclass(frozen=True)
class Counterfactual:
    """What the model says on one counterfactual clip.

    name                one of COUNTERFACTUALS
    label, probability  its predicted class there, and that class's probability
    target_probability  the target class's probability there
    logit_change        max over classes of |logits(clip) - logits(counterfactual)|: 0 (up to
                        float) when the model's output does not change at all
    ood                 the OOD check of the counterfactual (calibrated False: no detector)
    """

    name: str
    label: str
    probability: float
    target_probability: float
    logit_change: float = float("nan")
    ood: OODResult | None = None

    @property
    def out_of_distribution(self) -> bool | None:
        """True when the model's detector calls the counterfactual unlike its training data;
        None without a calibrated detector."""
        return None if self.ood is None else self.ood.out_of_distribution

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "probability": self.probability,
                "target_probability": self.target_probability, "logit_change": self.logit_change,
                "out_of_distribution": self.out_of_distribution,
                "ood": None if self.ood is None else self.ood.to_dict()}


@dataclass
class Reliance:
    """How one model's score for one class on one clip splits into order, motion and appearance.

    target, target_label  the class explained (index into the model's classes, and its name)
    score                 s: its softmax probability on the clip, in [0, 1]
    chance                1 / K
    parts                 {"order", "motion", "appearance"}: probability differences (see the
                          module); they sum to score - chance
    shares                {part: positive part / Z}, Z = sum of |parts|; 0 for a negative part
    remainder             sum of the negative parts' magnitudes / Z; shares + remainder = 1
    counterfactuals       [Counterfactual] in COUNTERFACTUALS order
    kind                  "order" | "change" | "appearance" | "none" (KIND_RULE)
    label, probability    the model's prediction on the clip itself
    ood                   the clip's own OOD check (calibrated False: no detector)
    notes                 plain sentences: a negative part, Z == 0, counterfactuals out of the world
    """

    target: int
    target_label: str
    score: float
    chance: float
    parts: dict
    shares: dict
    remainder: float
    counterfactuals: list
    kind: str
    label: str = ""
    probability: float = float("nan")
    ood: OODResult | None = None
    notes: list = field(default_factory=list)

    def counterfactual(self, name: str) -> Counterfactual:
        for c in self.counterfactuals:
            if c.name == name:
                return c
        raise KeyError(f"no counterfactual {name!r} (have: {', '.join(c.name for c in self.counterfactuals)})")

    def to_dict(self) -> dict:
        """Strict-JSON-ready (plain floats, strings, lists, dicts; no NaN)."""
        return {"target": self.target, "target_label": self.target_label, "score": self.score,
                "chance": self.chance, "parts": dict(self.parts), "shares": dict(self.shares),
                "remainder": self.remainder, "kind": self.kind, "kind_rule": KIND_RULE,
                "tolerance": TOLERANCE, "prediction": {"label": self.label, "probability": self.probability},
                "ood": None if self.ood is None else self.ood.to_dict(),
                "counterfactuals": [c.to_dict() for c in self.counterfactuals],
                "notes": list(self.notes)}


# ------------------------------------------------------------------------------ the numbers


def decompose(score: float, reversed_score: float, static_score: float, chance: float,
              tolerance: float = TOLERANCE) -> tuple[dict, dict, float]:
    """(parts, shares, remainder) from the three target probabilities and chance (floats in [0, 1]).

    The levels on the path are snapped before differencing: s_rev := s when |s - s_rev| <
    tolerance, s_static := s_rev likewise, and s_static := chance likewise, so a difference below
    the tolerance is exactly 0 while the parts still telescope (sum = score - chance).
    """
    s, r, z, c = (float(v) for v in (score, reversed_score, static_score, chance))
    if abs(r - s) < tolerance:
        r = s
    if abs(z - r) < tolerance:
        z = r
    if abs(z - c) < tolerance:
        z = c
    parts = {"order": s - r, "motion": r - z, "appearance": z - c}
    total = sum(abs(v) for v in parts.values())
    if total == 0:
        return parts, {k: 0.0 for k in PARTS}, 1.0
    shares = {k: max(v, 0.0) / total for k, v in parts.items()}
    remainder = sum(-v for v in parts.values() if v < 0) / total
    return parts, shares, remainder


def kind_of(shares: dict, order_share: float = ORDER_SHARE, change_share: float = CHANGE_SHARE) -> str:
    """The kind of evidence the score rests on, by KIND_RULE (thresholds overridable for choosing them)."""
    if not any(v > 0 for v in shares.values()):
        return "none"
    if shares["order"] >= order_share:
        return "order"
    if shares["order"] + shares["motion"] >= change_share:
        return "change"
    return "appearance"


# ------------------------------------------------------------------------------ running


def counterfactual_clips(videos: torch.Tensor) -> dict[str, torch.Tensor]:
    """{name: (N, C, T, H, W)} for COUNTERFACTUALS, from normalised clips (N, C, T, H, W)."""
    rev = reverse(videos)
    out = {"reversed": rev}
    for s in SIGMAS:
        out[f"reversed, smoothed σ={s:g}"] = smooth(rev, s)
    out["static"] = static(videos)
    return out


def counterfactual_frames(frames: np.ndarray) -> dict[str, np.ndarray]:
    """{name: (T, h, w, 3) uint8} for COUNTERFACTUALS, from display frames (T, h, w, 3) uint8: the
    same counterfactuals the model was shown, at the display's size, for people to look at (the
    transforms act along time only, so they commute with resizing and normalising)."""
    f = np.asarray(frames)
    if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
        raise ValueError(f"counterfactual_frames: expected (T, h, w, 3) uint8 frames, got {f.shape} {f.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(f)).permute(3, 0, 1, 2)[None].float()   # (1, 3, T, h, w)
    return {name: v[0].permute(1, 2, 3, 0).round().clamp(0, 255).to(torch.uint8).numpy()
            for name, v in counterfactual_clips(x).items()}


def motion_reliance(model, clip, target: int | str | None = None) -> Reliance:
    """Counterfactual motion reliance of one clip (one forward pass of 1 + 5 clips).

    model   a VideoModel, or any nn.Module mapping (N, C, T, H, W) to logits (N, K)
    clip    a Clip (its normalised tensor), or a normalised tensor (C, T, H, W) / (1, C, T, H, W)
    target  class index or name; None: the model's prediction on the clip
    """
    video = _one_clip(clip)
    _check_fits(model, video)
    video = video.float()
    variants = counterfactual_clips(video)
    batch = torch.cat([video, *variants.values()])                     # (6, C, T, H, W)
    logits, oods = predict(model, batch)                              # (6, K), [6 x OODResult]
    index = int(logits[0].argmax()) if target is None else _target_index(model, target, logits.shape[1])
    return _reliance(model, logits, oods, index)


def reliance_batch(model, videos: torch.Tensor, targets=None) -> list[Reliance]:
    """motion_reliance for N clips: one forward pass of N clips per clip kind (the clips, then each
    counterfactual), so 6 passes in all.

    videos   normalised clips (N, C, T, H, W)
    targets  N class indices (a sequence or a tensor (N,)); None: each clip's prediction
    """
    videos = torch.as_tensor(videos)
    if videos.dim() != 5 or videos.shape[0] < 1:
        raise ValueError(f"reliance_batch: videos must be (N, C, T, H, W) with N >= 1, got {tuple(videos.shape)}")
    _check_fits(model, videos)
    videos = videos.float()
    runs = [predict(model, videos)]
    runs += [predict(model, v) for v in counterfactual_clips(videos).values()]
    n, k = videos.shape[0], runs[0][0].shape[1]
    if targets is None:
        index = runs[0][0].argmax(1).tolist()
    else:
        index = list(targets.tolist() if torch.is_tensor(targets) else targets)
        if len(index) != n:
            raise ValueError(f"reliance_batch: {n} clips but {len(index)} targets")
        index = [_target_index(model, t, k) for t in index]
    out = []
    for i in range(n):
        logits = np.stack([r[0][i] for r in runs])                     # (6, K)
        out.append(_reliance(model, logits, [r[1][i] for r in runs], index[i]))
    return out


def _reliance(model, logits: np.ndarray, oods: list, target: int) -> Reliance:
    """logits (1 + len(COUNTERFACTUALS), K) float64: the clip, then COUNTERFACTUALS."""
    names = _class_names(model, logits.shape[1])
    p = _softmax(logits)                                                # (6, K) float64
    chance = 1.0 / p.shape[1]
    probs = dict(zip(COUNTERFACTUALS, p[1:]))
    score = float(p[0, target])
    parts, shares, remainder = decompose(score, probs["reversed"][target], probs["static"][target], chance)
    change = np.abs(logits[1:] - logits[0]).max(1)                      # (5,)
    cfs = [Counterfactual(name, names[int(q.argmax())], float(q.max()), float(q[target]), float(d), ood)
           for (name, q), d, ood in zip(probs.items(), change, oods[1:])]
    notes = []
    if sum(abs(v) for v in parts.values()) == 0:
        notes.append("the model scores the clip, its reversal and its static version alike, at chance: "
                     "no reliance on anything can be measured (all shares 0, remainder 1)")
    removed = {"order": "played backwards", "motion": "with all change over time removed (static)"}
    for part, v in parts.items():
        if v < 0 and part in removed:
            notes.append(f"{part} part negative ({v:+.3f}): the {names[target]} score rose on the clip "
                         f"{removed[part]}")
        elif v < 0:
            notes.append(f"appearance part negative ({v:+.3f}): the static clip scores {names[target]} "
                         f"below chance ({chance:.3f})")
    left = [c.name for c in cfs if c.out_of_distribution]
    if left:
        notes.append(f"out of the model's training world: {', '.join(left)} (its score there may fall "
                     "for that reason, not only for what was removed)")
    kind = kind_of(shares)
    return Reliance(target, names[target], score, chance, parts, shares, remainder, cfs, kind,
                    names[int(p[0].argmax())], float(p[0].max()), oods[0], notes)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def predict(model, videos: torch.Tensor) -> tuple[np.ndarray, list]:
    """One forward pass of normalised clips (N, C, T, H, W), without gradients, under the model's
    lock: (logits (N, K) float64 on the CPU, [N x OODResult] from the same pass). The one way
    reliance and the order check (relevance.compare.order_check) run a model on counterfactuals."""
    device = _device(model)
    with getattr(model, "lock", nullcontext()), torch.no_grad(), watch(model) as seen:
        logits = model(videos.to(device))
    if logits.dim() != 2 or logits.shape[0] != videos.shape[0]:
        raise ModelSpecError(f"{_name(model)}: expected logits (N, K) for {videos.shape[0]} clips, "
                             f"got shape {tuple(logits.shape)}")
    out = logits.detach().double().cpu().numpy()
    if not np.isfinite(out).all():
        raise ModelSpecError(f"{_name(model)}: its scores are not finite on some of the clips "
                             f"(or their counterfactuals); check its weights")
    return out, seen.results(videos.shape[0])


def _one_clip(clip) -> torch.Tensor:
    video = clip.tensor if hasattr(clip, "tensor") and not torch.is_tensor(clip) else clip
    if not torch.is_tensor(video):
        raise ValueError(f"motion_reliance: clip must be a Clip or a tensor (C, T, H, W), got {type(clip).__name__}")
    if video.dim() == 4:
        video = video.unsqueeze(0)
    if video.dim() != 5 or video.shape[0] != 1:
        raise ValueError(f"motion_reliance: one clip (C, T, H, W) or (1, C, T, H, W), got {tuple(video.shape)}; "
                         "use reliance_batch for several")
    return video


def _check_fits(model, videos: torch.Tensor) -> None:
    """Clear errors for clips that cannot be played backwards or do not fit the model's spec."""
    if not torch.is_floating_point(videos):
        raise ValueError(f"clips must be normalised float tensors, got {videos.dtype}")
    if videos.shape[2] < 2:
        raise ValueError(f"a clip of {videos.shape[2]} frame(s) has no order or motion to remove: need T >= 2")
    if not torch.isfinite(videos).all():
        raise ValueError("clips hold NaN or infinite values")
    spec = getattr(model, "spec", None)
    if spec is not None:
        want = (len(spec.mean), spec.frames, spec.height, spec.width)
        if tuple(videos.shape[1:]) != want:
            raise ValueError(f"{_name(model)} takes clips (C, T, H, W) = {want}, got {tuple(videos.shape[1:])}")


def _target_index(model, target, classes: int) -> int:
    if hasattr(model, "target_index"):
        return model.target_index(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= int(target) < classes:
        return int(target)
    raise ValueError(f"target must be a class index in [0, {classes}), got {target!r}")


def _class_names(model, classes: int) -> list[str]:
    names = getattr(model, "class_names", None)
    return list(names) if names is not None and len(names) == classes else [str(i) for i in range(classes)]


def _device(model) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _name(model) -> str:
    return getattr(model, "name", type(model).__name__)


__all__ = ["CHANGE_SHARE", "COUNTERFACTUALS", "Counterfactual", "KINDS", "KIND_RULE", "ORDER_SHARE", "PARTS",
           "Reliance", "TOLERANCE", "counterfactual_clips", "decompose", "kind_of", "motion_reliance", "predict",
           "reliance_batch"]
