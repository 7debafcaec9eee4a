"""Ledoit-Wolf shrinkage: a well-conditioned covariance from few samples in many dimensions.

Ledoit & Wolf (2004), "A well-conditioned estimator for large-dimensional covariance matrices",
J. Multivariate Analysis 88(2): the sample covariance S is pulled towards mu * I (mu = the mean
eigenvalue, tr(S) / p) by the amount that minimises the expected Frobenius loss,

    shrinkage = min(beta^2, delta^2) / delta^2
    delta^2 = ||S - mu I||_F^2 / p
    beta^2  = (1 / n^2) sum_k ||x_k x_k^T - S||_F^2 / p

This is the formula of scikit-learn's `ledoit_wolf` (not installed here); it is a few lines, so
it lives here rather than as a dependency.
"""
from __future__ import annotations

import numpy as np


def ledoit_wolf(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrunk covariance (p, p) float64 of samples X (n, p), and the shrinkage in [0, 1].

    X is centred here (its column means subtracted). Raises ValueError for fewer than 2 samples
    or non-finite values.
    """
    X = np.asarray(X, np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"ledoit_wolf: need samples shaped (n >= 2, p), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("ledoit_wolf: the samples hold NaN or inf")
    n, p = X.shape                                   # samples, dimensions
    Xc = X - X.mean(0)
    S = Xc.T @ Xc / n                                # (p, p) sample covariance (biased, as in the paper)
    mu = np.trace(S) / p
    delta2 = ((S - mu * np.eye(p)) ** 2).sum() / p
    X2 = Xc ** 2
    # sum_k ||x_k x_k^T - S||_F^2 = sum_k ||x_k||^4 - n ||S||_F^2, and sum_k ||x_k||^4 = sum(X2^T X2)
    beta2 = ((X2.T @ X2).sum() / n - (S ** 2).sum()) / (n * p)
    shrinkage = 0.0 if delta2 <= 0 else float(min(max(beta2, 0.0), delta2) / delta2)
    return (1 - shrinkage) * S + shrinkage * mu * np.eye(p), shrinkage
