"""Write the synthetic demo clips shipped in assets/samples/synthetic/ (one per class).

    python scripts/make_samples.py

Each clip is clip `index` of make_dataset(seed=DEMO_SEED), so its ground truth (label, evidence
mask, kind) can be regenerated exactly; manifest.json records which. The seed is never used in
training or in the accuracy bars.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xai_core.data.synthetic import CLASSES, EVIDENCE_KIND, make_dataset  # noqa: E402
from xai_core.render import write_video  # noqa: E402

DEMO_SEED = 7


def main():
    out = ROOT / "assets" / "samples" / "synthetic"
    out.mkdir(parents=True, exist_ok=True)
    data = make_dataset(len(CLASSES), DEMO_SEED)
    manifest = {}
    for index, label in enumerate(data.labels):
        name = CLASSES[label]
        path = write_video(out / f"{name}.mp4", data.clips[index], fps=8)
        manifest[path.name] = {"class": name, "kind": EVIDENCE_KIND[name], "seed": DEMO_SEED, "index": index}
        print(path, path.stat().st_size)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
