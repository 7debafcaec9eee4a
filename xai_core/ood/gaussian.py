"""Class-conditional Gaussians with one shared covariance, and the Mahalanobis distance to them.

Lee, Lee, Lee & Shin (2018), "A Simple Unified Framework for Detecting Out-of-Distribution
Samples and Adversarial Attacks" (NeurIPS): fit one mean per class and one covariance shared by
all classes on the training set's features; a sample's score is its squared Mahalanobis
distance to the closest class mean. The covariance is Ledoit-Wolf shrunk (`shrinkage.py`), so
channels that never vary (dead ReLUs) do not make it singular.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shrinkage import ledoit_wolf


@dataclass
class Gaussians:
    """means (K, D) float64 (K = 1 for one class-agnostic Gaussian), precision (D, D) float64, or
    (D,) for a diagonal one (a fixed reference such as a network's BatchNorm statistics)."""

    means: np.ndarray
    precision: np.ndarray
    shrinkage: float = 0.0

    def distance(self, X: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N,) squared Mahalanobis distance to the nearest mean, float64."""
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[1] != self.means.shape[1]:
            raise ValueError(f"features of shape {X.shape}, expected (N, {self.means.shape[1]})")
        d = X[:, None, :] - self.means[None]                                # (N, K, D)
        if self.precision.ndim == 1:                                        # diagonal
            return np.einsum("nkd,d,nkd->nk", d, self.precision, d).min(1)  # (N,)
        return np.einsum("nkd,de,nke->nk", d, self.precision, d).min(1)     # (N,)


def fit_gaussians(X: np.ndarray, labels: np.ndarray | None = None) -> Gaussians:
    """Fit on features X (n, D): a mean per label (all one class when labels is None) and the
    Ledoit-Wolf covariance of the residuals from those means, inverted. ValueError for a label
    with no sample or for too few samples."""
    X = np.asarray(X, np.float64)
    labels = np.zeros(len(X), np.int64) if labels is None else np.asarray(labels, np.int64)
    if len(labels) != len(X):
        raise ValueError(f"{len(X)} samples but {len(labels)} labels")
    K = int(labels.max()) + 1 if len(labels) else 0
    counts = np.bincount(labels, minlength=K)
    if K == 0 or (counts == 0).any():
        raise ValueError(f"every class needs samples; counts per class: {counts.tolist()}")
    means = np.stack([X[labels == k].mean(0) for k in range(K)])           # (K, D)
    cov, shrinkage = ledoit_wolf(X - means[labels])                        # (D, D)
    precision = np.linalg.inv(cov)
    return Gaussians(means, (precision + precision.T) / 2, shrinkage)      # symmetric to the last bit


def fit_diagonal(X: np.ndarray) -> Gaussians:
    """One Gaussian with a diagonal covariance on features X (n, D): the mean, and the diagonal of
    the Ledoit-Wolf covariance (each variance pulled towards the mean variance by the shrinkage,
    so a channel that barely varied in the fit set cannot dominate the distance); precision (D,)."""
    X = np.asarray(X, np.float64)
    cov, shrinkage = ledoit_wolf(X)
    return Gaussians(X.mean(0, keepdims=True), 1.0 / np.diag(cov), shrinkage)
