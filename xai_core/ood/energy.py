"""The energy score of a classifier's logits (Liu, Wang, Owens & Li 2020, "Energy-based
Out-of-distribution Detection", NeurIPS): E(x) = -T logsumexp(f(x) / T); higher is less like the
training data. Measured next to the Mahalanobis terms by `calibrate` (docs/models.md)."""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(N, K) logits -> (N,) float64 energy, -T logsumexp(logits / T)."""
    logits = np.asarray(logits, np.float64)
    return -temperature * logsumexp(logits / temperature, axis=1)
