"""check(): is a clip like the model's training data? From the prediction's own forward pass.

    from xai_core import ood
    result = ood.check(model, clip)          # OODResult: score, threshold, out_of_distribution, message
    with ood.watch(model) as watch:          # inside explain(): the same forward pass as the prediction
        logits = model(video)
    result = watch.result()

A model is calibrated when `<weights stem>.ood.safetensors` sits next to its weights and was made
for exactly those weights (same digest of the tensors) and input spec; otherwise the result says "not
calibrated" and holds no numbers. A packaged model (`info.source == "package"`, e.g. i3d_k400) keeps
its weights in the user's cache, so its calibration ships in the repository instead, as
`assets/weights/<name>.ood.safetensors`, matched to the converted weights by the same digest.
Calibrate with `python -m xai_core calibrate-ood --model NAME`.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelSpecError
from ..spec import InputSpec
from .capture import observe
from .detector import Detector, load_detector
from .result import OODResult, not_calibrated, verdict

SUFFIX = ".ood.safetensors"


def calibration_path(weights: str | Path) -> Path:
    """Where the detector of a weights file lives: `x.safetensors` (or `x.pt`) -> `x.ood.safetensors`."""
    weights = Path(weights)
    return weights.with_name(weights.stem + SUFFIX)


def packaged_calibration_path(name: str) -> Path:
    """Where a packaged model's detector ships: `assets/weights/<name>.ood.safetensors` (its
    weights live in the user's cache, which the repository cannot hold a file for)."""
    from ..models.registry import WEIGHTS

    return WEIGHTS / f"{name}{SUFFIX}"


def calibration_file(model) -> Path | None:
    """The detector file for a loaded model: shipped for a packaged model, else next to its
    weights; None for a model without a weights file."""
    info = getattr(model, "info", None)
    if getattr(info, "source", "") == "package":
        return packaged_calibration_path(info.name)
    weights = getattr(info, "weights", "") or ""
    return calibration_path(weights) if weights else None


def weights_digest(net) -> str:
    """SHA-256 of a network's weights: every state-dict entry's name, dtype, shape and bytes, in
    name order (the file's format and metadata do not count)."""
    h = hashlib.sha256()
    for name, value in sorted(net.state_dict().items()):
        v = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{v.dtype}|{tuple(value.shape)}|".encode())
        h.update(v.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def detector_for(model) -> tuple[Detector | None, str]:
    """The model's detector, or (None, why not). Read once per model object and file version."""
    path = calibration_file(model)
    if path is None:
        return None, f"{_name(model)} has no weights file to keep a calibration next to"
    if not path.is_file():
        where = "in assets/weights" if model.info.source == "package" else f"next to {_name(model)}'s weights"
        return None, f"no calibration file {path.name} {where}"
    stamp = (str(path), path.stat().st_mtime_ns)
    cached = model.__dict__.get("_ood_detector")
    if cached is not None and cached[0] == stamp:
        return cached[1], cached[2]
    detector, reason = _load_checked(model, path)
    model.__dict__["_ood_detector"] = (stamp, detector, reason)
    return detector, reason


def _load_checked(model, path: Path) -> tuple[Detector | None, str]:
    try:
        detector = load_detector(path)
    except ModelSpecError as e:
        return None, str(e)
    made_for = detector.meta.get("model", {})
    if made_for.get("weights_digest") != weights_digest(model.net):
        return None, f"{path.name} was calibrated for other weights than {_name(model)}'s"
    try:                                                         # compared as specs: new keys keep defaults
        same_spec = InputSpec.from_dict(made_for.get("spec") or {}) == model.spec
    except ModelSpecError:
        same_spec = False
    if not same_spec or made_for.get("classes") != list(model.class_names):
        return None, f"{path.name} was calibrated for another input spec or class list"
    return detector, ""


def _name(model) -> str:
    return getattr(model, "name", type(model).__name__)


class Watch:
    """What `watch` recorded: `result()` turns it into an OODResult."""

    def __init__(self, model, detector: Detector | None, reason: str):
        self.model, self.detector, self.reason = model, detector, reason
        self.seen = None

    def result(self) -> OODResult:
        """The first clip's result (explain() runs one clip)."""
        if self.detector is None:
            return not_calibrated(_name(self.model), self.reason)
        if self.seen is None or not self.seen.features:
            raise RuntimeError("watch(): the model did not run inside the block")
        return self.results(self.seen.batch)[0]

    def results(self, n: int) -> list[OODResult]:
        """One OODResult per clip of the first pass run in the block (n clips, batch order);
        n times the "not calibrated" result for a model without a calibration."""
        if self.detector is None:
            return [not_calibrated(_name(self.model), self.reason)] * n
        if self.seen is None or not self.seen.features:
            raise RuntimeError("watch(): the model did not run inside the block")
        if self.seen.batch != n:
            raise RuntimeError(f"watch(): the first pass ran {self.seen.batch} clips, not {n}")
        z = self.detector.term_scores(self.seen.features)              # {term: (N,)}
        measured = self.detector.meta.get("measured", {})
        fpr = measured.get("fpr_synthetic_test", measured.get("fpr_held_out_videos"))
        out = []
        for i in range(n):
            zi = {k: float(v[i]) for k, v in z.items()}
            score = max(zi.values()) if all(np.isfinite(list(zi.values()))) else float("nan")
            out.append(verdict(_name(self.model), score, self.detector.threshold, self.detector.statistic,
                               zi, fpr))
        return out


@contextmanager
def watch(model):
    """Record the detector's features during the forward passes run inside the block (hooks
    removed on exit, also on error); no hooks at all for a model without a calibration.
    `result()` reads the first clip of the first pass; `results()` every clip of it."""
    detector, reason = detector_for(model)
    w = Watch(model, detector, reason)
    if detector is None:
        yield w
        return
    with observe(model, detector.terms) as seen:
        w.seen = seen
        yield w


def check(model, clip) -> OODResult:
    """One clip (a Clip, or a tensor (C, T, H, W) or (1, C, T, H, W) normalised like the
    model's input) -> OODResult. Runs one forward pass without gradients; prefer the
    OODResult that explain() already computed from its own pass (`exp.ood`)."""
    video = clip.tensor if hasattr(clip, "tensor") else torch.as_tensor(clip)
    if video.dim() == 4:
        video = video.unsqueeze(0)                                      # (1, C, T, H, W)
    if video.dim() != 5 or video.shape[0] != 1:
        raise ValueError(f"check(): one clip (C, T, H, W) or (1, C, T, H, W), got {tuple(video.shape)}")
    device = next(model.parameters()).device
    with getattr(model, "lock", nullcontext()), watch(model) as w, torch.no_grad():
        if w.detector is not None:
            model(video.to(device))
    return w.result()
