"""The last-layer snapshots saved during training, for TracIn-CP (Pruthi et al., NeurIPS 2020).

`models.train` keeps, at `checkpoints` points of training, the weight (C, D) and bias (C,) of the
model's last nn.Linear and the learning rate in force at that step, in
`<weights>.checkpoints.safetensors` next to the weights file:

    ckpt{k}.weight (C, D), ckpt{k}.bias (C,)          k = 0..K-1
    metadata: layer (JSON: the module's dotted name), lrs (JSON list of K floats),
              train_seed, n_train (JSON ints: which procedural clips it was trained on)

A user's model may ship the same file next to its weights. Read with safetensors only (no pickle).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InfluenceError


@dataclass(frozen=True)
class Checkpoints:
    """K snapshots of one linear layer: weights (K, C, D), biases (K, C), learning rates (K,)."""

    path: Path
    layer: str
    weights: np.ndarray
    biases: np.ndarray
    lrs: np.ndarray
    digest: str                       # SHA-256 of the file's bytes
    train_seed: int | None = None
    n_train: int | None = None

    def __len__(self) -> int:
        return len(self.lrs)


def checkpoints_path(model) -> Path | None:
    """NAME.checkpoints.safetensors next to the model's weights NAME.safetensors (None: no weights file)."""
    weights = Path(model.info.weights) if model.info.weights else None
    if weights is None:
        return None
    return weights.with_name(weights.stem + ".checkpoints.safetensors")


def find_checkpoints(model) -> Checkpoints | None:
    """The model's checkpoints file read and checked, or None when it has none."""
    path = checkpoints_path(model)
    return read_checkpoints(path) if path is not None and path.is_file() else None


def read_checkpoints(path: Path) -> Checkpoints:
    """Read a checkpoints file; InfluenceError naming the file for anything malformed."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        data = path.read_bytes()
        tensors = load(data)
        meta = _metadata(data)
        layer = json.loads(meta["layer"])
        lrs = [float(v) for v in json.loads(meta["lrs"])]
    except OSError as e:
        raise InfluenceError(f"checkpoints file {path}: cannot be read ({e.strerror or e})") from None
    except (SafetensorError, KeyError, ValueError, TypeError) as e:
        raise InfluenceError(f"checkpoints file {path}: not a valid checkpoints file ({e})") from None
    K = len(lrs)
    names = {f"ckpt{k}.{p}" for k in range(K) for p in ("weight", "bias")}
    if not K or set(tensors) != names or not isinstance(layer, str):
        raise InfluenceError(f"checkpoints file {path}: expected {K or 'one or more'} snapshots "
                             f"ckpt{{k}}.weight / .bias and a layer name, found {sorted(tensors)[:6]}")
    weights = np.stack([tensors[f"ckpt{k}.weight"] for k in range(K)]).astype(np.float32)  # (K, C, D)
    biases = np.stack([tensors[f"ckpt{k}.bias"] for k in range(K)]).astype(np.float32)     # (K, C)
    if weights.ndim != 3 or biases.shape != weights.shape[:2] or not all(map(math.isfinite, lrs)) \
            or not np.isfinite(weights).all() or not np.isfinite(biases).all():
        raise InfluenceError(f"checkpoints file {path}: snapshots of mismatched shapes or non-finite values")
    return Checkpoints(path, layer, weights, biases, np.asarray(lrs, np.float64),
                       hashlib.sha256(data).hexdigest(), _int(meta.get("train_seed")), _int(meta.get("n_train")))


def _metadata(data: bytes) -> dict:
    """The safetensors header's __metadata__ (read from the bytes already in memory)."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]).get("__metadata__") or {}


def _int(text: str | None) -> int | None:
    try:
        return int(json.loads(text)) if text is not None else None
    except (ValueError, TypeError):
        return None
