"""The influence index: per reference clip, what TracIn and the similarity fallback need, built
once and cached on disk (safetensors; no pickle).

    features (N, D) float32   the last layer's input (penultimate features, final weights)
    labels   (N,)   int64     each clip's label (index into the model's classes)
    logits   (N, C) float32   the final model's logits (what it predicts for each clip)
    grads    (K, N, C) float32  dL/dlogits at each of the K checkpoints, with the clip's own label
                               (absent when the model has no checkpoints file)
    lrs      (K,)   float64   the checkpoints' learning rates

Cached as `<cache>/influence/<model>-<key>.safetensors`, `<cache>` being $XAI_CACHE_DIR, else
$XDG_CACHE_HOME/xai_core, else ~/.cache/xai_core (as the packaged models' converted weights),
never inside the repository. The key is a SHA-256 of the model's weights (every state-dict
tensor: a changed file or an in-memory change both count), the checkpoints file's bytes, the
layer, classes and input spec, and the reference set's identity (`reference.ReferenceSet.identity`).
A file that does not parse, carries another key, or whose arrays disagree with the key's model
and reference set is rebuilt, never trusted. Loaded indexes are kept in memory (a few, by file
and modification time), so a second query reads nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InfluenceError
from ..ood.check import weights_digest  # the OOD detector's: the same weights, the same digest
from .head import forward_head, logits_follow_layer
from .tracin import loss_gradients

INDEX_VERSION = 1
MEMORY = 8                      # indexes kept in memory
Progress = Callable[[float, str], None]


@dataclass
class InfluenceIndex:
    """The arrays of one model over one reference set (see the module's docstring for shapes)."""

    key: str
    layer: str
    features: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    grads: np.ndarray | None
    lrs: np.ndarray
    build_seconds: float = 0.0
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    no_tracin: str = ""             # why the checkpoints could not be used (grads is None then)

    def __len__(self) -> int:
        return len(self.labels)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"features": self.features, "labels": self.labels, "logits": self.logits, "lrs": self.lrs}
        return out if self.grads is None else {**out, "grads": self.grads}


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where indexes live: `cache_dir`, else <the project's cache>/influence."""
    if cache_dir is not None:
        return Path(cache_dir)
    from ..models.i3d_weights import cache_dir as project_cache

    return project_cache() / "influence"


def index_key(model, reference, checkpoints, layer: str) -> str:
    """The cache key: model weights + checkpoints file + layer + classes + spec + reference set."""
    material = {"version": INDEX_VERSION, "weights": weights_digest(model.net),
                "checkpoints": checkpoints.digest if checkpoints is not None else None, "layer": layer,
                "classes": list(model.class_names), "spec": model.spec.to_dict(),
                "reference": reference.identity()}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def index_path(model, key: str, cache_dir=None) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", model.name)[:60] or "model"
    return cache_root(cache_dir) / f"{name}-{key[:24]}.safetensors"


# ------------------------------------------------------------------------------------ building


def build_index(model, reference, checkpoints, layer: str, key: str = "", progress: Progress | None = None,
                batch_size: int = 32) -> InfluenceIndex:
    """Run the model over every reference clip once; `progress(fraction, message)` after each batch.

    With checkpoints, first checks on one clip that the logits follow the layer's output; when
    they do not, fast TracIn would be wrong for this model: the index keeps no gradients and
    says why (`no_tracin`), and serves the similarity method only.
    """
    from ..video.clip import to_tensor

    say = progress or (lambda f, m: None)
    device = next(model.parameters()).device
    N = len(reference)
    feats, logits_all, grads, labels = [], [], [], []
    no_tracin = ""
    t0 = time.perf_counter()
    say(0.0, f"indexing {N} reference clips")
    for start, frames, y in reference.batches(batch_size):
        video = torch.stack([to_tensor(f, model.spec) for f in frames]).to(device)   # (B, C, T, H, W)
        with model.lock:                                                # hooks: one user of the model at a time
            if start == 0 and checkpoints is not None and not logits_follow_layer(model, video[:1], layer):
                no_tracin = (f"model {model.name}: its logits are not the output of {layer!r} plus terms that "
                             "layer does not touch, so fast TracIn does not apply; use method='similarity'")
                checkpoints = None
            f, out, logits = forward_head(model, video, layer)          # (B, D), (B, C), (B, C)
        feats.append(f.numpy())
        logits_all.append(logits.numpy())
        labels.append(np.asarray(y, np.int64))
        if checkpoints is not None:
            _check_shapes(checkpoints, f, out, model.name)
            grads.append(loss_gradients(f.double(), out.double(), logits.double(), checkpoints.weights,
                                        checkpoints.biases, torch.from_numpy(labels[-1])).numpy())
        done = start + len(y)
        say(done / N, f"indexed {done}/{N} reference clips")
    index = InfluenceIndex(
        key, layer, np.concatenate(feats).astype(np.float32), np.concatenate(labels),
        np.concatenate(logits_all).astype(np.float32),
        np.concatenate(grads, axis=1).astype(np.float32) if checkpoints is not None else None,
        checkpoints.lrs.astype(np.float64) if checkpoints is not None else np.zeros(0),
        build_seconds=time.perf_counter() - t0, no_tracin=no_tracin)
    return index


def _check_shapes(checkpoints, features: torch.Tensor, output: torch.Tensor, name: str) -> None:
    K, C, D = checkpoints.weights.shape
    if features.shape[1] != D or output.shape[1] != C:
        raise InfluenceError(f"checkpoints file {checkpoints.path}: snapshots are {C} x {D} but layer "
                             f"{checkpoints.layer!r} of {name} maps {features.shape[1]} features to "
                             f"{output.shape[1]} outputs")


# ------------------------------------------------------------------------------ saving, loading


def save_index(index: InfluenceIndex, path: Path) -> None:
    """Write atomically (a temporary file renamed into place): a reader never sees half a file."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"key": index.key, "version": str(INDEX_VERSION), "layer": index.layer,
            "build_seconds": f"{index.build_seconds:.3f}", "no_tracin": index.no_tracin}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".index-", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in index.arrays().items()}, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_index(path: Path, key: str, n: int, labels: np.ndarray, num_classes: int, lrs: np.ndarray | None,
               layer: str) -> InfluenceIndex:
    """Read a cached index and check it against what the key stands for; InfluenceError (with
    why) for a file that does not parse or does not fit, so the caller rebuilds it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InfluenceError(f"cached index {path.name} is unreadable ({str(e)[:120]})") from None
    if meta.get("key") != key or meta.get("version") != str(INDEX_VERSION) or meta.get("layer") != layer:
        raise InfluenceError(f"cached index {path.name} was made for other inputs")
    feats, lab, logits = arrays.get("features"), arrays.get("labels"), arrays.get("logits")
    grads, stored_lrs = arrays.get("grads"), arrays.get("lrs")
    ok = (feats is not None and feats.ndim == 2 and feats.shape[0] == n and feats.dtype == np.float32
          and lab is not None and np.array_equal(lab, labels)
          and logits is not None and logits.shape == (n, num_classes)
          and stored_lrs is not None and stored_lrs.ndim == 1)
    no_tracin = meta.get("no_tracin", "")
    if ok and lrs is not None and not no_tracin:
        ok = (grads is not None and grads.shape == (len(lrs), n, num_classes)
              and np.array_equal(stored_lrs, lrs) and np.isfinite(grads).all())
    elif ok:
        ok = grads is None and len(stored_lrs) == 0
    if not ok or not np.isfinite(feats).all() or not np.isfinite(logits).all():
        raise InfluenceError(f"cached index {path.name} does not match its model and reference set")
    return InfluenceIndex(key, layer, feats, lab.astype(np.int64), logits, grads,
                          stored_lrs.astype(np.float64), float(meta.get("build_seconds", 0) or 0), path,
                          no_tracin=no_tracin)


_MEMORY: OrderedDict = OrderedDict()         # (path, mtime_ns, size, key) -> InfluenceIndex
_LOCK = threading.Lock()


def index_for(model, reference, checkpoints, layer: str, cache_dir=None, progress: Progress | None = None,
              batch_size: int = 32) -> tuple[InfluenceIndex, bool]:
    """(the index of `model` over `reference`, whether it was built now): from memory, from the
    disk cache, or built (and saved).

    A cached file that cannot be trusted is rebuilt; the index's `notes` say so. When the cache
    folder cannot be written the index is still returned (noted), just not kept on disk.
    """
    key = index_key(model, reference, checkpoints, layer)
    path = index_path(model, key, cache_dir)
    notes: list[str] = []
    lrs = checkpoints.lrs.astype(np.float64) if checkpoints is not None else None
    try:
        st = path.stat()
        stamp = (str(path), st.st_mtime_ns, st.st_size, key)
    except OSError:
        stamp = None
    if stamp is not None:
        with _LOCK:
            if stamp in _MEMORY:
                _MEMORY.move_to_end(stamp)
                return _MEMORY[stamp], False
        try:
            index = load_index(path, key, len(reference), reference.labels, len(model.class_names), lrs, layer)
            _remember(stamp, index)
            return index, False
        except InfluenceError as e:
            notes.append(f"{e}: rebuilt")
    index = build_index(model, reference, checkpoints, layer, key, progress, batch_size)
    index.notes = notes
    try:
        save_index(index, path)
        index.path = path
        st = path.stat()
        _remember((str(path), st.st_mtime_ns, st.st_size, key), index)
    except OSError as e:
        index.notes.append(f"the index could not be cached in {path.parent} ({e.strerror or e}); "
                           "it will be built again next time")
    return index, True


def _remember(stamp, index: InfluenceIndex) -> None:
    with _LOCK:
        _MEMORY[stamp] = index
        _MEMORY.move_to_end(stamp)
        while len(_MEMORY) > MEMORY:
            _MEMORY.popitem(last=False)
