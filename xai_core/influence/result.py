"""What an influence query returns: the proponents and opponents of one decision, JSON-ready."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Example:
    """One reference clip in the answer.

    rank        1 = the strongest of its side
    index       the clip's position in the reference set
    label       its label (a class of the model)
    score       its score (TracIn: summed lr x gradient products, in loss units; similarity: [-1, 1])
    same_class  whether its label is the class the model predicted for the query
    predicted   what the model predicts for the reference clip itself
    source      where it comes from ("training clip 17 (seed 1)", a file in the reference folder)
    """

    rank: int
    index: int
    label: str
    score: float
    same_class: bool
    predicted: str
    source: str
    reference: object = field(default=None, repr=False, compare=False)

    def clip(self):
        """The reference clip back as a `video.Clip` (frames on the model grid and for display)."""
        return self.reference.clip(self.index)

    def frames(self) -> np.ndarray:
        """Its frames on the model's grid: (T, H, W, 3) uint8 RGB."""
        return self.reference.frames(self.index)

    def to_dict(self) -> dict:
        return {"rank": self.rank, "index": self.index, "label": self.label, "score": float(self.score),
                "same_class": self.same_class, "predicted": self.predicted, "source": self.source}


@dataclass
class InfluenceResult:
    """The reference clips that most supported (proponents) and most opposed (opponents) the
    model's answer `target` on one clip, by `method` ("tracin" or "similarity")."""

    model: str
    method: str
    target: dict                   # {"index", "label"}
    predicted: dict                # {"index", "label", "probability"}
    proponents: list[Example]
    opponents: list[Example]
    reference: dict                # {"kind", "description", "n", "identity" (training: seed and n)}
    layer: str
    checkpoints: dict | None       # {"file", "count", "lrs"} for TracIn
    index: dict = field(default_factory=dict)      # {"key", "file", "built", "build_seconds"}: the index used
    notes: list[str] = field(default_factory=list)
    timings_ms: dict = field(default_factory=dict)
    scores: np.ndarray | None = field(default=None, repr=False)   # (N,) every reference clip's score

    def to_dict(self) -> dict:
        """Plain JSON types only (no arrays): what `influence.json` holds."""
        return {"model": self.model, "method": self.method, "target": dict(self.target),
                "predicted": dict(self.predicted), "layer": self.layer, "reference": dict(self.reference),
                "checkpoints": dict(self.checkpoints) if self.checkpoints else None, "index": dict(self.index),
                "proponents": [e.to_dict() for e in self.proponents],
                "opponents": [e.to_dict() for e in self.opponents],
                "notes": list(self.notes), "timings_ms": dict(self.timings_ms)}
