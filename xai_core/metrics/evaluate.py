"""Evaluate attribution methods on one model: every metric of this package on procedural clips.

    e = evaluate(model, ["grad_cam", "smoothgrad"], n=8, seed=4)
    e.rows["grad_cam"]["deletion"]["voxel"]["relative_auc"]    # AUC / random-order AUC
    e.rows["grad_cam"]["sanity"]["passed"]
    print(table(e))

The clips are the procedural data set's (data.synthetic.make_dataset(n, seed), seed 4 = GT_SEED by
default: never used in training), which knows where each clip's evidence is and what kind it is;
each method explains the true class. Per method, on all n clips: deletion and insertion curves in
voxel and frame order (deletion.py; the random-order baseline is computed once per model and shared
by the methods), the pointing game and the energy in the evidence mask (ground_truth.py); on the
first `sanity_clips`: the cascading-randomisation sanity check (sanity.py); for a method with a
`seed` option, on the first `stability_clips`: Spearman across seeds (stability.py). Per model:
evidence-kind accuracy (evidence_kind.py).

Results are JSON-ready dicts, cached on disk (cache.py) per model part and per method, keyed by
the model's weights digest, the method and its options, the clips (n, seed) and the settings.
`progress(fraction, message)` hears the whole run, weighted by forward passes, and may raise
methods.progress.Cancelled to stop it; what finished before is cached.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..errors import ModelSpecError
from ..methods.options import expected_passes
from ..methods.progress import Progress, part
from ..methods.registry import get_method
from . import cache
from .deletion import KINDS, ORDERS, STEPS, curve, random_curve
from .evidence_kind import evidence_kind
from .fill import DEFAULT_FILL, FILLS
from .ground_truth import energy_inside, pointing_game
from .maps import method_options, relevance_maps
from .sanity import THRESHOLD, cascade_layers, sanity_check
from .stability import SEEDS, is_stochastic, stability

VERSION = 1                     # bump when a metric's definition changes: old cache entries are ignored


@dataclass(frozen=True)
class Settings:
    """What an evaluation measures with (all part of the cache key).

    n, seed          the procedural clips: make_dataset(n, seed)
    fill             deletion / insertion fill (fill.FILLS)
    steps            voxel-order steps (20: 5 % a step); frame order takes the clip's T frames
    random_orders    random orders averaged into the baseline (>= 3)
    sanity_clips     clips of the sanity check (the first ones)
    sanity_steps     measured layer steps, spread evenly, the last always (None: every layer)
    stability_seeds  seeds compared for a stochastic method
    stability_clips  clips of the stability check
    batch_size       perturbed clips per forward pass of the curves
    """

    n: int = 8
    seed: int = 4
    fill: str = DEFAULT_FILL
    steps: int = STEPS
    random_orders: int = 3
    sanity_clips: int = 4
    sanity_steps: int | None = None
    stability_seeds: tuple = SEEDS
    stability_clips: int = 4
    batch_size: int = 16

    def __post_init__(self):
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {self.fill!r}")
        for name in ("n", "steps", "sanity_clips", "stability_clips", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class Evaluation:
    """One model's evaluation: the model part (evidence kind, baseline AUCs) and a row per method."""

    model: str
    weights_digest: str
    settings: Settings
    model_part: dict
    rows: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"model": self.model, "weights_digest": self.weights_digest,
                "settings": asdict(self.settings), **self.model_part, "methods": list(self.rows.values())}


def procedural_clips(model, n: int, seed: int):
    """(video (n, C, T, H, W) normalised, labels (n,), masks (n, T, H, W), fine kinds) for `model`.

    Raises ModelSpecError for a model whose classes are not the procedural data set's, or whose
    input is not square frames of at least 32 px (the data set's own grid).
    """
    from ..data.synthetic import CLASSES, make_dataset
    from ..video.clip import to_tensor

    names = list(getattr(model, "class_names", []))
    if names != list(CLASSES):
        raise ModelSpecError(f"model {getattr(model, 'name', '?')}: evaluate needs a model of the procedural "
                             f"data set's {len(CLASSES)} classes ({', '.join(CLASSES)}), whose clips know "
                             f"their evidence; this one has {len(names)} classes")
    spec = model.spec
    if spec.height != spec.width or spec.height < 32:
        raise ModelSpecError(f"model {model.name}: evaluate makes square procedural clips of at least 32 px; "
                             f"the model takes {spec.height} x {spec.width}")
    data = make_dataset(n, seed, frames=spec.frames, size=spec.height)
    device = next(model.parameters()).device
    video = torch.stack([to_tensor(c, spec) for c in data.clips]).to(device)   # (n, C, T, H, W)
    return video, data.labels, data.masks, list(data.fine_kinds)


def evaluate(model, methods, settings: Settings | None = None, *, use_cache: bool = True,
             cache_dir=None, progress: Progress | None = None) -> Evaluation:
    """Evaluate `methods` (names, or {name: options}) on `model` (see the module).

    Raises MethodError for an unknown method or bad options (before any work), ModelSpecError for
    a model the procedural clips do not fit.
    """
    from ..ood.check import weights_digest

    s = settings or Settings()
    wanted = {m: {} for m in methods} if not isinstance(methods, dict) else dict(methods)
    options = {m: method_options(model, m, o) for m, o in wanted.items()}     # errors before any work
    video, labels, masks, fine = procedural_clips(model, s.n, s.seed)
    digest = weights_digest(model.net if hasattr(model, "net") else model)
    root = cache.cache_root(cache_dir)
    base = {"version": VERSION, "weights": digest, "classes": list(model.class_names),
            "spec": model.spec.to_dict(), "n": s.n, "seed": s.seed, "fill": s.fill, "steps": s.steps,
            "random_orders": s.random_orders}
    plan = _Plan(progress)
    model_key = cache.key_of(base)
    model_path = cache.path_for(root, model.name, model_key)
    model_part = cache.load(model_path, model_key) if use_cache else None
    todo = {}
    for m in wanted:
        key = cache.key_of({**base, **_method_material(s), "method": m, "options": options[m]})
        path = cache.path_for(root, f"{model.name}-{m}", key)
        row = cache.load(path, key) if use_cache else None
        todo[m] = (key, path, row)
    layers = cascade_layers(model, video[:1])
    if model_part is None:
        plan.add("baseline", _baseline_passes(video.shape, s) + 6 * s.n)
    for m, (_, _, row) in todo.items():
        if row is None:
            plan.add(m, sum(_method_split(m, options[m], video.shape, s, len(layers))))
    target = torch.as_tensor(labels, device=video.device)
    if model_part is None:
        randoms = _baseline(model, video, target, s, plan.part("baseline"))
        model_part = {"evidence_kind": evidence_kind(model, video, fine, target).to_dict(),
                      "baseline": {f"{kind}_{order}": randoms[kind, order].tolist()
                                   for kind in KINDS for order in ORDERS}}
        if use_cache:
            cache.store(model_path, model_key, model_part)
    randoms = {(kind, order): np.asarray(model_part["baseline"][f"{kind}_{order}"])
               for kind in KINDS for order in ORDERS}
    rows = {}
    for m, (key, path, row) in todo.items():
        cached = row is not None
        if not cached:
            row = _evaluate_method(model, m, options[m], video, target, masks, s, randoms, layers, plan.part(m))
            if use_cache:
                cache.store(path, key, row)
        rows[m] = {**row, "cached": cached}
    return Evaluation(model.name, digest, s, _summary_of(model_part), rows)


def _evaluate_method(model, method: str, options: dict, video, target, masks, s: Settings, randoms,
                     layers: list[str], progress) -> dict:
    info = get_method(method)
    t0 = time.perf_counter()
    say = _Steps(progress, ["maps", "curves", "sanity", "stability"],
                 _method_split(method, options, video.shape, s, len(layers)))
    maps = relevance_maps(model, method, video, target, options, progress=say.part("maps"))
    curves = {}
    for i, (kind, order) in enumerate((k, o) for k in KINDS for o in ORDERS):
        c = curve(model, video, target, maps, kind=kind, order=order, fill=s.fill, steps=s.steps,
                  random_orders=s.random_orders, seed=s.seed, batch_size=s.batch_size,
                  random=randoms[kind, order], progress=part(say.part("curves"), i / 4, 1 / 4))
        curves.setdefault(kind, {})[order] = c.to_dict()
    points = [pointing_game(r, m) for r, m in zip(maps, masks)]
    energy = [energy_inside(r, m) for r, m in zip(maps, masks)]
    k = min(s.sanity_clips, len(video))
    steps = None if s.sanity_steps is None else _spread(len(layers), s.sanity_steps)
    sanity = sanity_check(model, video[:k], target[:k], method, options, steps=steps, seed=s.seed,
                          progress=say.part("sanity"), trained=maps[:k])           # the maps above, not again
    stable = None
    if is_stochastic(method):
        k = min(s.stability_clips, len(video))
        own = {**info.options, **options}.get("seed")                      # the seed the maps above used
        stable = stability(model, video[:k], target[:k], method,
                           {o: v for o, v in options.items() if o != "seed"}, seeds=s.stability_seeds,
                           progress=say.part("stability"),
                           known={own: maps[:k]} if own is not None else None).to_dict()
    scored = [p.hit for p in points if p.hit is not None]
    reasons = {}
    for p in points:
        if p.hit is None:
            reasons[p.reason] = reasons.get(p.reason, 0) + 1
    return {"method": method, "label": info.label, "options": _plain(options), "stochastic": is_stochastic(method),
            "deletion": curves["deletion"], "insertion": curves["insertion"],
            "pointing": {"rate": float(np.mean(scored)) if scored else None, "hits": int(sum(scored)),
                         "misses": len(scored) - int(sum(scored)), "not_applicable": len(points) - len(scored),
                         "reasons": reasons},
            "energy_in_mask": float(np.mean(energy)), "sanity": sanity.to_dict(), "stability": stable,
            "seconds": round(time.perf_counter() - t0, 2)}


def _baseline(model, video, target, s: Settings, progress) -> dict:
    """{(kind, order): (N, S + 1) random-order curve}: once per model and run, shared by the methods."""
    out, pairs = {}, [(k, o) for k in KINDS for o in ORDERS]
    for i, (kind, order) in enumerate(pairs):
        out[kind, order] = random_curve(
            model, video, target, kind=kind, order=order, fill=s.fill, steps=s.steps,
            random_orders=s.random_orders, seed=s.seed, batch_size=s.batch_size,
            progress=part(progress, i / len(pairs), 1 / len(pairs), "random baseline: "))
    return out


def _summary_of(model_part: dict) -> dict:
    """The model part as reported: evidence-kind accuracy and the random baseline's mean curves."""
    baseline = {k: np.mean(np.asarray(v), 0).tolist() for k, v in model_part["baseline"].items()}
    return {"evidence_kind": model_part["evidence_kind"], "random_baseline": baseline}


def _method_material(s: Settings) -> dict:
    return {"sanity_clips": s.sanity_clips, "sanity_steps": s.sanity_steps,
            "stability_seeds": list(s.stability_seeds), "stability_clips": s.stability_clips}


def _spread(layers: int, k: int) -> list[int]:
    """k of the steps 0 .. layers - 1, evenly spaced and ending at the last (every step if k >= layers)."""
    if k >= layers:
        return list(range(layers))
    return sorted({round(i * (layers - 1) / k) for i in range(1, k + 1)})


def _passes(method: str, options: dict, shape) -> int:
    """Forward passes (x2 for a method that also runs backward) of one clip's map."""
    info = get_method(method)
    passes, _ = expected_passes(info, options, (1, *shape[1:]))
    return passes * (2 if info.needs_gradients else 1)


def _curve_passes(shape, s: Settings) -> int:
    """Perturbed clips of one map's four curves, per clip."""
    T = shape[2]
    return 2 * ((s.steps + 1) + (T + 1))


def _baseline_passes(shape, s: Settings) -> int:
    return shape[0] * s.random_orders * _curve_passes(shape, s)


def _method_split(method, options, shape, s: Settings, layers: int) -> list[float]:
    """Forward passes of one method's stages: maps, curves, sanity check, stability."""
    N, one = shape[0], _passes(method, options, shape)
    measured = layers if s.sanity_steps is None else min(s.sanity_steps, layers)
    own = {**get_method(method).options, **options}.get("seed")
    seeds = len(s.stability_seeds) - (own in s.stability_seeds)           # the maps' own seed is reused
    stab = seeds * min(s.stability_clips, N) * one if is_stochastic(method) else 0
    return [N * one, N * _curve_passes(shape, s), measured * min(s.sanity_clips, N) * one, stab]   # trained maps reused


def _plain(options: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


class _Plan:
    """A run's parts with their weights (forward passes); part(name) reports into its share."""

    def __init__(self, progress: Progress | None):
        self.progress, self.weights, self.last = progress, {}, None

    def _say(self, fraction: float, message: str) -> None:
        """Tell the listener, once per change (track() repeats the last news before every block)."""
        if (fraction, message) != self.last:
            self.last = fraction, message
            self.progress(fraction, message)

    def add(self, name: str, weight: float) -> None:
        self.weights[name] = max(float(weight), 1.0)

    def part(self, name: str) -> Progress | None:
        if self.progress is None:
            return None
        names, total = list(self.weights), sum(self.weights.values())
        before = sum(self.weights[n] for n in names[:names.index(name)])
        return part(self._say, before / total, self.weights[name] / total, "" if name == "baseline" else f"{name}: ")


class _Steps:
    """One method's stages with their weights; part(stage) reports into the stage's share."""

    def __init__(self, progress: Progress | None, names: list[str], weights: list[float]):
        self.progress = progress
        total = sum(weights) or 1.0
        starts = np.cumsum([0.0, *weights])[:-1] / total
        self.spans = {n: (a, w / total) for n, a, w in zip(names, starts, weights)}

    def part(self, name: str) -> Progress | None:
        return part(self.progress, *self.spans[name])


__all__ = ["Evaluation", "Settings", "THRESHOLD", "evaluate", "procedural_clips"]
