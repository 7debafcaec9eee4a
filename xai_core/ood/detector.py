"""The calibrated detector: Gaussians per term, each term's held-out scale, one threshold; as a file.

A term is one summary of the clip (`statistics.py`) with Gaussians fitted on the training clips
(`gaussian.py`). Its squared Mahalanobis distance d is turned into a z score with the centre
(median) and spread (standard deviation) of log d over held-out in-distribution clips, so terms
of different dimension are comparable; the clip's score is the largest z over the terms, and it
is out of distribution above `threshold` (a percentile of held-out scores; the file says which).

The file `<weights stem>.ood.safetensors` holds, per term i, `{i}.means` (K, D) and
`{i}.precision` (D, D) float64 (or (D,): a diagonal precision), and JSON metadata: the terms, the
threshold and its rule, the calibration set, the measured AUROC, the weights' digest, and
reference scores for a recheck.
It is read with safetensors only (no pickle).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelSpecError
from .gaussian import Gaussians

FORMAT = 1
SOURCES = ("input", "layer", "penultimate")   # the model's input, a layer's output, the head's input


@dataclass
class Term:
    """One summary of the clip and its Gaussians: `name` keys the features, `source` says where
    they come from ("input": noise_floor; "layer": channel_stats of `layer`'s output;
    "penultimate": the input of the final linear layer)."""

    name: str
    source: str
    layer: str | None
    gaussians: Gaussians
    center: float = 0.0      # median of log distance over held-out in-distribution clips
    scale: float = 1.0       # standard deviation of the same

    def log_distance(self, X: np.ndarray) -> np.ndarray:
        """(N, D) -> (N,) log squared Mahalanobis distance (a zero distance stays finite)."""
        return np.log(np.maximum(self.gaussians.distance(X), 1e-12))

    def z(self, X: np.ndarray) -> np.ndarray:
        """(N, D) -> (N,) z score of the log distance against held-out training-like clips."""
        return (self.log_distance(X) - self.center) / self.scale


@dataclass
class Detector:
    """Terms, the threshold on max z, and what the calibration recorded (`meta`)."""

    terms: list[Term]
    threshold: float
    meta: dict = field(default_factory=dict)

    @property
    def statistic(self) -> str:
        return self.meta.get("statistic") or "max z of log Mahalanobis distances over " + \
            ", ".join(t.name for t in self.terms)

    def term_scores(self, features: dict) -> dict[str, np.ndarray]:
        """{term: (N,) z} from {term name: (N, D) features}; KeyError names a missing term."""
        return {t.name: t.z(features[t.name]) for t in self.terms}

    def score(self, features: dict) -> np.ndarray:
        """(N,) the clip's score: the largest z over the terms (NaN features give NaN)."""
        return np.max(np.stack(list(self.term_scores(features).values())), 0)

    # ------------------------------------------------------------------------- file

    def save(self, path: Path) -> Path:
        from safetensors.numpy import save_file

        tensors, terms = {}, []
        for i, t in enumerate(self.terms):
            tensors[f"{i}.means"] = np.ascontiguousarray(t.gaussians.means, np.float64)
            tensors[f"{i}.precision"] = np.ascontiguousarray(t.gaussians.precision, np.float64)
            terms.append({"name": t.name, "source": t.source, "layer": t.layer, "center": t.center,
                          "scale": t.scale, "shrinkage": t.gaussians.shrinkage,
                          "classes": int(t.gaussians.means.shape[0]), "dim": int(t.gaussians.means.shape[1])})
        meta = {"format": FORMAT, "terms": terms, "threshold": self.threshold, **self.meta}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={k: json.dumps(v, allow_nan=False) for k, v in meta.items()})
        return path


def load_detector(path: Path) -> Detector:
    """Read a detector file; ModelSpecError naming the file and the part at fault."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "np") as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
        meta = {k: json.loads(v) for k, v in raw.items()}
    except Exception as e:  # noqa: BLE001 - safetensors and json raise their own types for a damaged file
        raise ModelSpecError(f"{path}: not a readable calibration file ({e})") from None
    if meta.get("format") != FORMAT:
        raise ModelSpecError(f"{path}: calibration format {meta.get('format')!r}, expected {FORMAT}")
    terms = []
    for i, spec in enumerate(meta.get("terms") or []):
        try:
            g = Gaussians(np.asarray(tensors[f"{i}.means"], np.float64),
                          np.asarray(tensors[f"{i}.precision"], np.float64), float(spec["shrinkage"]))
            term = Term(spec["name"], spec["source"], spec.get("layer"), g, float(spec["center"]),
                        float(spec["scale"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelSpecError(f"{path}: term {i} is incomplete ({e})") from None
        D = g.means.shape[1] if g.means.ndim == 2 else 0
        if term.source not in SOURCES or g.precision.shape not in ((D, D), (D,)) or D == 0 or not term.scale > 0 \
                or not (np.isfinite(g.means).all() and np.isfinite(g.precision).all()):
            raise ModelSpecError(f"{path}: term {i} ({spec.get('name')}) has inconsistent shapes or values")
        terms.append(term)
    threshold = meta.pop("threshold", None)
    if not terms or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ModelSpecError(f"{path}: no terms or no finite threshold")
    meta.pop("terms")
    return Detector(terms, float(threshold), meta)
