"""Evidence-kind accuracy: does the kind of evidence the model's score rests on, as motion reliance
calls it (order / change / appearance), match the kind that decides the clip's class in the
procedural data set (data.synthetic.FINE_KIND)?

It scores the model and the reliance measurement together, not an attribution method: it is the
same for every method. "none" (the score at or below chance) counts as wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.synthetic import FINE_KINDS
from ..motion.reliance import reliance_batch


@dataclass
class EvidenceKind:
    """called (N,) the kinds reliance calls; truth (N,) the data set's finer kinds."""

    called: list[str]
    truth: list[str]

    @property
    def accuracy(self) -> float:
        return float(np.mean([c == t for c, t in zip(self.called, self.truth)])) if self.truth else float("nan")

    def per_kind(self) -> dict[str, float | None]:
        """{fine kind: accuracy on the clips of that kind} (None for a kind with no clip)."""
        out = {}
        for kind in FINE_KINDS:
            hits = [c == t for c, t in zip(self.called, self.truth) if t == kind]
            out[kind] = float(np.mean(hits)) if hits else None
        return out

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "per_kind": self.per_kind(), "clips": len(self.truth)}


def evidence_kind(model, video: torch.Tensor, fine_kinds, targets=None) -> EvidenceKind:
    """Reliance's kind for clips `video` (N, C, T, H, W) and `targets` (N,; None: the predictions)
    against `fine_kinds` (N,) from the data set. Six forward passes of N clips (reliance_batch)."""
    truth = list(fine_kinds)
    if len(truth) != video.shape[0]:
        raise ValueError(f"evidence_kind: {video.shape[0]} clips but {len(truth)} kinds")
    return EvidenceKind([r.kind for r in reliance_batch(model, video, targets)], truth)
