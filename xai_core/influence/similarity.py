"""The fallback for models without last-layer checkpoints: feature similarity signed by label.

    score_i = (1 + cos(f_i, f)) / 2 * (+1 if label_i == target else -1)

f are the penultimate features (the last layer's input, final weights). Proponents are the
reference clips the model sees most alike that carry the target's label; opponents the most
alike that carry another label (the clips "arguing" for a different answer). The magnitude
is the cosine mapped onto [0, 1], so the sign is the label agreement alone: every clip of the
target's class is a proponent, every other clip an opponent, each ordered by similarity. This is a
similarity-based explanation by example (case-based explanation, Caruana et al. 1999; such
measures are compared in Hanawa et al., "Evaluation of similarity-based explanations", ICLR
2021), not an estimate of influence on training: it needs no training history. An exact copy of a
reference clip scores 1, the most any clip can.
"""
from __future__ import annotations

import numpy as np


def scores(ref_features: np.ndarray, ref_labels: np.ndarray, features: np.ndarray, target: int) -> np.ndarray:
    """Similarity of every reference clip to the query, signed by label: (N,) float64 in [-1, 1].

    ref_features (N, D), ref_labels (N,) int; the query's features (D,); target: a class index.
    A zero feature vector (a dead layer) has cosine 0 with everything.
    """
    F = ref_features.astype(np.float64)
    q = features.astype(np.float64)
    norms = np.linalg.norm(F, axis=1) * np.linalg.norm(q)                   # (N,)
    cos = np.divide(F @ q, norms, out=np.zeros(len(F)), where=norms > 0)      # (N,)
    return np.where(ref_labels == target, 1.0, -1.0) * (1.0 + cos) / 2
