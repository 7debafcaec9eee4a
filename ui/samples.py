"""The clips a user can pick without uploading: synthetic demo clips (with ground truth) and real ones."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"


@dataclass(frozen=True)
class Sample:
    label: str
    path: Path
    truth: str | None = None      # the class, for synthetic clips
    kind: str | None = None       # "motion" | "appearance", for synthetic clips
    seed: int | None = None
    index: int | None = None


def list_samples() -> list[Sample]:
    """Synthetic demo clips first (they carry ground truth), then the real clips."""
    out = []
    manifest = SAMPLES / "synthetic" / "manifest.json"
    if manifest.exists():
        for name, m in json.loads(manifest.read_text()).items():
            out.append(Sample(f"synthetic · {m['class']}", SAMPLES / "synthetic" / name, m["class"],
                              m["kind"], m["seed"], m["index"]))
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix.lower() in {".mp4", ".mkv", ".webm", ".avi", ".gif", ".mov"}:
            out.append(Sample(f"real · {path.stem}", path))
    return out


def evidence_mask(sample: Sample):
    """The ground-truth evidence mask (T, H, W) bool of a synthetic sample, else None."""
    if sample.seed is None:
        return None
    from xai_core.data.synthetic import make_dataset

    return make_dataset(sample.index + 1, sample.seed).masks[sample.index]


REAL_MODEL = "i3d_k400"        # a real model of real footage (Kinetics-400), when its package is installed
DEMO_MODEL = "c3d_small"       # the bundled 3D CNN: the synthetic clips' ground-truth story


def default_model(sample: Sample | None, names: list[str], installed=lambda name: True) -> str | None:
    """The model a clip is explained with until the user picks one: I3D for a real sample clip
    (when installed), the bundled c3d_small for a synthetic one; None for an upload (no change)."""
    if sample is None:
        return None
    if sample.truth is None and REAL_MODEL in names and installed(REAL_MODEL):
        return REAL_MODEL
    return DEMO_MODEL if DEMO_MODEL in names else (names[0] if names else None)
