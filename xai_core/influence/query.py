"""influence(): the reference clips that most supported and most opposed a model's decision."""
from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import InfluenceError
from . import similarity, tracin
from .checkpoints import find_checkpoints
from .head import forward_head, head_layer, other_heads
from .index import Progress, index_for, index_key, index_path
from .reference import ReferenceSet, reference_for
from .result import Example, InfluenceResult

METHODS = ("auto", "tracin", "tracin_cosine", "similarity")
MAX_TOP = 100


def influence(model, clip, reference: ReferenceSet | str | None = None, top: int = 8, target=None,
              method: str = "auto", progress: Progress | None = None, cache_dir=None,
              batch_size: int = 32) -> InfluenceResult:
    """Explanation by example: the `top` reference clips that most supported (proponents) and most
    opposed (opponents) the model's answer on `clip`.

    model       a VideoModel (`load_model`)
    clip        a `video.Clip` on the model's grid (`load_video(path, model.spec)`), or its frames
                (T, H, W, 3) uint8
    reference   None: the model's training set, regenerated from its seed (bundled models only); a
                folder `DIR/<label>/*.mp4` (labels: the model's classes); or a ReferenceSet
    top         how many of each (1..100)
    target      the class explained, index or label (default: the model's prediction)
    method      "tracin": TracIn-CP over the last layer's training checkpoints (Pruthi et al. 2020,
                see `tracin`); "similarity": penultimate-feature cosine signed by label (see
                `similarity`); "tracin_cosine": TracIn's gradients normalised, their cosine
                (`tracin.cosine_scores`); "auto": tracin_cosine when the model has a checkpoints
                file, else similarity. Raw TracIn puts the same few clips with large gradients
                first for most queries and never ranks an exact copy's original first; the cosine
                does (docs/ground_truth.md, "influence")
    progress    progress(fraction, message) while the index is built (once per model, weights and
                reference set; then read from the cache: `index`)
    cache_dir   the folder of cached indexes (default: `index.cache_root()`, outside the repository)
    batch_size  clips per forward pass while the index is built

    Returns an InfluenceResult: proponents and opponents (Example: reference index, label, score,
    same class as the prediction, clip() for thumbnails), the prediction, the target, and `scores`
    (N,) float64 for every reference clip. Scores: raw TracIn in loss-gradient products x learning
    rate; tracin_cosine and similarity in [-1, 1].

    Proponents have positive scores, opponents negative ones, each sorted by magnitude (fewer
    than `top` when fewer clips score on that side). Raises InfluenceError (bad reference set,
    checkpoints file, method or top), ModelSpecError (unknown target), VideoError.
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise InfluenceError(f"unknown influence method {method!r}; methods: {', '.join(METHODS)}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= MAX_TOP:
        raise InfluenceError(f"top must be a whole number in 1..{MAX_TOP}, got {top!r}")
    checkpoints = find_checkpoints(model)
    chosen = method
    if method == "auto":
        method = "tracin_cosine" if checkpoints is not None else "similarity"
    if method.startswith("tracin") and checkpoints is None:
        raise InfluenceError(f"model {model.name} has no checkpoints file (NAME.checkpoints.safetensors next "
                             "to its weights), so TracIn cannot run; use method='similarity'")
    layer = checkpoints.layer if checkpoints is not None else head_layer(model.net, len(model.class_names))
    _check_layer(model, layer, checkpoints)
    target_index = None if target is None else model.target_index(target)
    frames = _frames(clip, model)
    ref = reference_for(model, reference, checkpoints)

    index, built = index_for(model, ref, checkpoints, layer, cache_dir, progress, batch_size)
    notes = list(index.notes)
    if method.startswith("tracin") and index.grads is None:
        if chosen != "auto":
            raise InfluenceError(index.no_tracin)
        method = "similarity"
        notes.append(index.no_tracin)
    t1 = time.perf_counter()
    f, out, logits = _forward(model, frames, layer)                     # (D,), (C,), (C,)
    probs = logits.double().softmax(0).numpy()                          # (C,)
    predicted = int(probs.argmax())
    target_index = predicted if target_index is None else target_index
    scores = _scores(method, index, checkpoints, f, out, logits, target_index)   # (N,)
    t2 = time.perf_counter()

    pros, cons = _ranked(scores, top)
    ref_pred = index.logits.argmax(1)                                   # (N,) what the model says of each

    def example(rank: int, i: int) -> Example:
        return Example(rank, int(i), model.label(int(index.labels[i])), float(scores[i]),
                       bool(index.labels[i] == predicted), model.label(int(ref_pred[i])), ref.source(int(i)), ref)

    seed = getattr(ref, "seed", None)
    return InfluenceResult(
        model.name, method, {"index": target_index, "label": model.label(target_index)},
        {"index": predicted, "label": model.label(predicted), "probability": float(probs[predicted])},
        [example(r + 1, i) for r, i in enumerate(pros)], [example(r + 1, i) for r, i in enumerate(cons)],
        {"kind": ref.kind, "description": ref.describe(), "n": len(ref),
         **({"seed": seed} if seed is not None else {})},
        layer,
        {"file": checkpoints.path.name, "count": len(checkpoints), "lrs": [float(v) for v in checkpoints.lrs]}
        if method.startswith("tracin") else None,
        {"key": index.key[:24], "file": index.path.name if index.path else None, "built": built,
         "build_seconds": round(index.build_seconds, 1)},
        notes + _notes(model, layer, method, checkpoints),
        {"index": round((t1 - t0) * 1000, 1), "query": round((t2 - t1) * 1000, 1)}, scores)


def _forward(model, frames: np.ndarray, layer: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The query clip through the model: its features (D,), the layer's output (C,) and logits (C,)."""
    from ..video.clip import to_tensor

    video = to_tensor(frames, model.spec).unsqueeze(0).to(next(model.parameters()).device)  # (1, C, T, H, W)
    with model.lock:
        f, out, logits = forward_head(model, video, layer)                   # (1, D), (1, C), (1, C)
    return f[0], out[0], logits[0]


def _scores(method: str, index, checkpoints, f: torch.Tensor, out: torch.Tensor, logits: torch.Tensor,
            target: int) -> np.ndarray:
    """Every reference clip's score for the query (f, out, logits) and class `target`: (N,) float64."""
    if method == "similarity":
        return similarity.scores(index.features, index.labels, f.numpy(), target)
    g = tracin.loss_gradients(f[None].double(), out[None].double(), logits[None].double(), checkpoints.weights,
                              checkpoints.biases, torch.tensor([target]))[:, 0]     # (K, C)
    score = tracin.scores if method == "tracin" else tracin.cosine_scores
    return score(index.features, index.grads, index.lrs, f.numpy(), g.numpy())


def index_ready(model, reference: ReferenceSet | str | None = None, cache_dir=None) -> bool | None:
    """Whether influence() on `model` over `reference` would find its index on disk (True: answers in
    well under a second; False: the index is built first, one forward pass per reference clip);
    None when the model has no reference set here (no training set and no folder given)."""
    checkpoints = find_checkpoints(model)
    try:
        ref = reference_for(model, reference, checkpoints)
    except InfluenceError:
        return None
    layer = checkpoints.layer if checkpoints is not None else head_layer(model.net, len(model.class_names))
    return index_path(model, index_key(model, ref, checkpoints, layer), cache_dir).exists()


def _ranked(scores: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `top` largest positive and the `top` most negative scores (ties: lower index first)."""
    down = np.argsort(-scores, kind="stable")
    up = np.argsort(scores, kind="stable")
    return down[scores[down] > 0][:top], up[scores[up] < 0][:top]


def _frames(clip, model) -> np.ndarray:
    frames = getattr(clip, "frames", clip)
    frames = np.asarray(frames)
    spec = model.spec
    if frames.dtype != np.uint8 or frames.shape[:3] != (spec.frames, spec.height, spec.width) or frames.ndim != 4:
        raise InfluenceError(f"the clip must be {spec.frames} x {spec.height} x {spec.width} uint8 frames on "
                             f"{model.name}'s grid (load_video(path, model.spec)); got {frames.dtype} "
                             f"{tuple(frames.shape)}")
    return frames


def _check_layer(model, layer: str, checkpoints) -> None:
    try:
        model.net.get_submodule(layer)
    except AttributeError:
        where = f"checkpoints file {checkpoints.path}: " if checkpoints is not None else ""
        raise InfluenceError(f"{where}layer {layer!r} is not a module of {model.name}") from None


def _notes(model, layer: str, method: str, checkpoints) -> list[str]:
    notes = []
    others = other_heads(model.net, layer, len(model.class_names))
    if others:
        what = "its training checkpoints hold" if method.startswith("tracin") else "the features are the input of"
        notes.append(f"{model.name} adds the logits of {len(others) + 1} heads ({', '.join(others)}, {layer}); "
                     f"{what} {layer} only, so the influence is measured through that head "
                     f"({', '.join(others)} not counted)")
    if method == "similarity":
        notes.append("similarity: cosine of penultimate features signed by label agreement (no training "
                     "history" + (")" if checkpoints is None else " used)"))
    return notes
