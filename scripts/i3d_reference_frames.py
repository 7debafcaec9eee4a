"""Decode the real sample clips with the project's own pipeline, for the Flax I3D reference run.

Runs in the project's Python (not the jax venv):

    python scripts/i3d_reference_frames.py                      # -> /tmp/i3d_frames/<name>_<T>.npy
    /tmp/jaxenv/bin/python scripts/i3d_reference.py --samples /tmp/i3d_frames

For each video (default: the six real clips in assets/samples/) and each T (default 32 and 64),
`load_video(path, InputSpec(frames=T, height=224, width=224, mean=(0.5,)*3, std=(0.5,)*3))`
samples T frames evenly over the whole video and resizes each to 224 x 224 (full field of view,
no crop; load_video's defaults: display_size=256, short="loop"). `clip.frames`, (T, 224, 224, 3)
uint8 RGB, is written as float32 `frames / 127.5 - 1` (in [-1, 1], what I3D takes), and
manifest.json beside the files records the source frame indices and the notes of each clip.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xai_core.spec import InputSpec  # noqa: E402
from xai_core.video.sample import load_video  # noqa: E402

SAMPLES = ["intel_asl_thanks.mkv", "intel_asl_walk.mkv", "intel_asl_yes.mkv",
           "intel_face-demographics-walking.gif", "torchcodec_nasa_13013.mp4", "worker_zone_from_gif.mp4"]


def to_i3d(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> float32 in [-1, 1]: frames / 127.5 - 1, in float32 throughout."""
    return frames.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("videos", nargs="*", type=Path,
                    default=[ROOT / "assets" / "samples" / n for n in SAMPLES])
    ap.add_argument("--frames", type=int, nargs="+", default=[32, 64], help="T values")
    ap.add_argument("--out", type=Path, default=Path("/tmp/i3d_frames"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for path in args.videos:
        for T in args.frames:
            spec = InputSpec(frames=T, height=224, width=224, mean=(0.5,) * 3, std=(0.5,) * 3)
            clip = load_video(path, spec)
            x = to_i3d(clip.frames)
            name = f"{path.stem}_{T}.npy"
            np.save(args.out / name, x)
            manifest[name] = {"source": path.name, "source_indices": clip.source_indices,
                              "source_fps": clip.fps, "notes": clip.notes}
            print(f"{args.out / name}: {x.shape}, frames {clip.source_indices[0]}..{clip.source_indices[-1]}"
                  + (f"; {'; '.join(clip.notes)}" if clip.notes else ""))
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
