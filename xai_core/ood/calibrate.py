"""Calibrate a bundled model's detector on its training data; measure it against real footage.

    python -m xai_core calibrate-ood --model c3d_small --real assets/samples --real /data/real

(A packaged real model, i3d_k400, has no training data here: `calibrate_real` fits its detector
on the --real footage instead; `--model i3d_k400` and `--model all` run it from here.)

Fit: the model's own training clips, regenerated from the training seed (`models.train`:
TRAIN_SEED), each twice - as generated, and after the H.264 round trip the shipped demo clips
went through (`render.write_video` .mp4, then `video.load_video`), since the dashboard always
reads clips from video files and the codec lowers the noise floor. Threshold: the 99th
percentile of the scores of held-out clips (VAL_SEED, never used in training), both forms.
Measured: the false-positive rate on test clips (TEST_SEED), and the AUROC of test clips against
real footage: every real video given, whole (as Explain samples it) and as sliding windows of
16, 32 and 64 frames every 8 (as Live does); once more with synthetic-style sensor noise added
to the real clips (so the noise floor cannot tell them apart). The penultimate-feature
Mahalanobis distance and the energy score are measured the same way, for comparison.

Why these terms (measured for every bundled model, docs/models.md): the models meet real footage
with confident, typical penultimate features, so neither the Mahalanobis distance on them (Lee
et al. 2018) nor the energy score (Liu et al. 2020) reaches an AUROC of 0.95 for every model
(for frame2d_pool real clips even lie *closer* to the class means than synthetic ones). What
sets real footage apart is low-level: the noise floor of the input (every training clip carries
sigma 2-9 grey levels of independent noise per colour channel) and the texture statistics of the
first block's channels. The detector takes the larger of those two z scores; each is a
Mahalanobis distance to Gaussians fitted on the training clips.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.synthetic import make_dataset
from ..errors import ModelSpecError, VideoError
from ..video.clip import to_tensor
from .capture import observe, stack
from .check import calibration_path, weights_digest
from .detector import Detector, Term
from .energy import energy
from .gaussian import fit_gaussians

# The first block of each bundled architecture: its output's channel statistics are one term.
FIRST_BLOCK = {"c3d_small": "stem", "r2plus1d_small": "stem", "frame2d_pool": "encoder.cnn.0",
               "cnn_lstm": "encoder.cnn.0", "two_stream": "rgb.encoder.cnn.0"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".gif", ".mpg", ".mpeg", ".m4v"}
WINDOWS = (16, 32, 64)          # Live-style windows over each real video, source frames
WINDOW_STRIDE = 8


@dataclass(frozen=True)
class TermSpec:
    """A term before fitting: its name, where its features come from, and whether it has a mean
    per class (Lee et al.) or one mean for all clips."""

    name: str
    source: str
    layer: str | None = None
    per_class: bool = True


@dataclass
class Config:
    n_fit: int = 1200              # training clips (each in two forms: raw and H.264)
    n_val: int = 800               # held-out clips for the z scales and the threshold
    n_test: int = 800              # test clips for the false-positive rate and the AUROC
    percentile: float = 99.0       # threshold: this percentile of held-out scores
    batch_size: int = 50
    check_n: int = 8               # reference scores stored for a recheck (tests)
    noisy_seed: int = 0            # the synthetic-style noise added to real clips


@dataclass
class SyntheticSet:
    """Clips of one seed in both forms, uint8 (n, T, H, W, 3) each, and their labels."""

    seed: int
    raw: np.ndarray
    h264: np.ndarray
    labels: np.ndarray

    def both(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([self.raw, self.h264]), np.concatenate([self.labels, self.labels])


@dataclass
class RealSet:
    """Real clips, uint8 (n, T, H, W, 3), with the video each came from and how it was cut."""

    frames: np.ndarray
    videos: list[str]
    cuts: list[str]             # "whole" or "window L@start"
    notes: list[str] = field(default_factory=list)


def detector_terms(name: str) -> list[TermSpec]:
    """The terms the shipped detector uses for bundled model `name`."""
    if name not in FIRST_BLOCK:
        raise ModelSpecError(f"no calibration recipe for {name!r}; known: {', '.join(FIRST_BLOCK)}")
    return [TermSpec("input_noise", "input", None, per_class=False),
            TermSpec("first_block", "layer", FIRST_BLOCK[name], per_class=True)]


PENULTIMATE = TermSpec("penultimate", "penultimate", None, per_class=True)


# ----------------------------------------------------------------------------- data


def synthetic_set(n: int, seed: int, spec, progress: Callable[[str], None] = lambda s: None) -> SyntheticSet:
    """n procedural clips of `seed`, as generated and after an H.264 round trip (write_video .mp4
    at 8 fps, as scripts/make_samples.py, then load_video)."""
    from ..render.video import write_video
    from ..video.sample import load_video

    data = make_dataset(n, seed)
    h264 = np.empty_like(data.clips)
    with tempfile.TemporaryDirectory(prefix="ood-calibration-") as tmp:
        for i, clip in enumerate(data.clips):
            path = write_video(Path(tmp) / "clip.mp4", clip, fps=8)
            h264[i] = load_video(path, spec).frames
            if (i + 1) % 200 == 0:
                progress(f"  seed {seed}: {i + 1}/{n} clips through H.264")
    return SyntheticSet(seed, data.clips, h264, data.labels)


def video_files(paths) -> list[Path]:
    """Video files named directly or found in folders (not recursive), each content once."""
    found, seen = [], set()
    for p in map(Path, paths):
        candidates = sorted(p.iterdir()) if p.is_dir() else [p]
        for f in candidates:
            if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES:
                digest = hashlib.sha256(f.read_bytes()).hexdigest()
                if digest not in seen:
                    seen.add(digest)
                    found.append(f)
    return found


def real_set(paths, spec) -> RealSet:
    """Every real video whole (spread over its length, as Explain reads it) and as windows of
    WINDOWS frames every WINDOW_STRIDE frames (as Live reads it)."""
    from ..video.sample import load_video
    from ..video.windows import iter_windows

    frames, videos, cuts, notes = [], [], [], []
    for f in video_files(paths):
        try:
            frames.append(load_video(f, spec).frames)
            videos.append(f.name)
            cuts.append("whole")
            for length in WINDOWS:
                for clip in iter_windows(f, spec, length=length, stride=WINDOW_STRIDE, display_size=None):
                    frames.append(clip.frames)
                    videos.append(f.name)
                    cuts.append(f"window {length}@{clip.source_indices[0]}")
        except VideoError as e:
            notes.append(f"skipped {f.name}: {e}")
    if not frames:
        raise VideoError(f"no readable real video in {', '.join(map(str, paths))}")
    return RealSet(np.stack(frames), videos, cuts, notes)


def with_sensor_noise(frames: np.ndarray, seed: int) -> np.ndarray:
    """The procedural data set's sensor noise added to clips (n, T, H, W, 3) uint8: i.i.d.
    Gaussian per voxel, sigma uniform in 2..9 grey levels per clip (as data/synthetic.py)."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(frames)
    for i, clip in enumerate(frames):
        sigma = rng.uniform(2.0, 9.0)
        out[i] = np.clip(clip + rng.normal(0.0, sigma, clip.shape), 0, 255).astype(np.uint8)
    return out


# ------------------------------------------------------------------------- features


@torch.no_grad()
def features(model, frames: np.ndarray, terms, batch_size: int = 50) -> tuple[dict, np.ndarray]:
    """uint8 clips (n, T, H, W, 3) -> ({term: (n, D)}, logits (n, K)), from one forward pass per batch."""
    device = next(model.parameters()).device
    seens, logits = [], []
    for start in range(0, len(frames), batch_size):
        video = torch.stack([to_tensor(f, model.spec) for f in frames[start:start + batch_size]])  # (N, C, T, H, W)
        with observe(model, terms) as seen:
            logits.append(model(video.to(device)).double().cpu().numpy())
        seens.append(seen)
    return stack(seens), np.concatenate(logits)


def fit_detector(specs: list[TermSpec], fit: dict, labels: np.ndarray, held_out: dict,
                 percentile: float) -> tuple[Detector, np.ndarray]:
    """Gaussians per term on `fit` features, z scales and the threshold on `held_out` ones.
    Returns the detector and the held-out scores."""
    terms = []
    for s in specs:
        g = fit_gaussians(fit[s.name], labels if s.per_class else None)
        term = Term(s.name, s.source, s.layer, g)
        d = term.log_distance(held_out[s.name])
        term.center, term.scale = float(np.median(d)), float(np.std(d))
        terms.append(term)
    detector = Detector(terms, 0.0)
    scores = detector.score(held_out)
    detector.threshold = float(np.percentile(scores, percentile))
    return detector, scores


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve, positives (out of distribution) scoring higher: the
    Mann-Whitney U statistic / (n_pos n_neg) (scipy.stats.mannwhitneyu; ties count half)."""
    from scipy.stats import mannwhitneyu

    negatives, positives = np.asarray(negatives, float), np.asarray(positives, float)
    return float(mannwhitneyu(positives, negatives).statistic / (len(positives) * len(negatives)))


def separation(test: np.ndarray, real: np.ndarray, videos: list[str], threshold: float) -> dict:
    """AUROC pooled over all real clips and averaged per video, TPR at the threshold, per video."""
    per_video = {}
    for v in dict.fromkeys(videos):
        s = real[[i for i, name in enumerate(videos) if name == v]]
        per_video[v] = {"n": len(s), "auroc": round(auroc(test, s), 4),
                        "tpr": round(float(np.mean(s > threshold)), 4)}
    return {"auroc": round(auroc(test, real), 4),
            "auroc_per_video_mean": round(float(np.mean([p["auroc"] for p in per_video.values()])), 4),
            "tpr": round(float(np.mean(real > threshold)), 4),
            "worst_video_tpr": min(p["tpr"] for p in per_video.values()), "per_video": per_video}


# ----------------------------------------------------------------------- calibrate


def calibrate(name: str, real_paths=(), config: Config | None = None, out: Path | None = None,
              progress: Callable[[str], None] = lambda s: None, data: dict | None = None) -> dict:
    """Fit, threshold and measure the detector of bundled model `name`; write its
    .ood.safetensors next to the weights (or into `out`). Returns the measured record.

    data: synthetic and real sets already made for another model ({"fit", "val", "test", "real"}),
    reused as they are (all bundled models share one input spec)."""
    from ..models.loader import load_bundled
    from ..models.registry import bundled
    from ..models.train import TEST_SEED, TRAIN_SEED, VAL_SEED

    cfg = config or Config()
    entry = bundled(name)
    model = load_bundled(name)
    specs = detector_terms(name)
    data = {} if data is None else data
    t0 = time.perf_counter()
    for key, n, seed in (("fit", cfg.n_fit, TRAIN_SEED), ("val", cfg.n_val, VAL_SEED), ("test", cfg.n_test, TEST_SEED)):
        if key not in data or len(data[key].raw) < n:
            progress(f"{n} clips of seed {seed} ({key}), as generated and through H.264")
            data[key] = synthetic_set(n, seed, model.spec, progress)
    data["minutes"] = data.get("minutes", 0.0) + (time.perf_counter() - t0) / 60
    data_minutes = data["minutes"]              # making the clips, shared by the models of one run

    t1 = time.perf_counter()
    all_specs = specs + [PENULTIMATE]
    feats, logits = {}, {}
    for key in ("fit", "val", "test"):
        clips, labels = data[key].both()
        feats[key], logits[key] = features(model, clips, all_specs, cfg.batch_size)
    labels = data["fit"].both()[1]
    detector, val_scores = fit_detector(specs, feats["fit"], labels, feats["val"], cfg.percentile)
    fit_minutes = (time.perf_counter() - t1) / 60
    progress(f"{name}: fitted in {fit_minutes:.1f} min (+ {data_minutes:.1f} min making clips); "
             f"threshold {detector.threshold:.3f}")

    n_test = cfg.n_test
    test_scores = detector.score(feats["test"])
    measured = {"test": {"seed": TEST_SEED, "n": n_test, "forms": ["raw", "h264"]},
                "fpr_synthetic_test": round(float(np.mean(test_scores > detector.threshold)), 4),
                "fpr_raw": round(float(np.mean(test_scores[:n_test] > detector.threshold)), 4),
                "fpr_h264": round(float(np.mean(test_scores[n_test:] > detector.threshold)), 4),
                "fpr_held_out": round(float(np.mean(val_scores > detector.threshold)), 4)}
    if real_paths:
        if "real" not in data:
            progress("reading the real videos")
            data["real"] = real_set(real_paths, model.spec)
        measured.update(_measure_real(model, detector, specs, cfg, feats, logits, labels, data["real"], progress))

    check_n = min(cfg.check_n, n_test)
    check_feats = {k: v[:check_n] for k, v in feats["test"].items()}
    meta = {
        "statistic": "max over terms of the z score of the log squared Mahalanobis distance "
                     "(input noise floor; first block's channel mean and spread)",
        "model": {"name": name, "weights": entry.weights.name, "weights_digest": weights_digest(model.net),
                  "spec": model.spec.to_dict(), "classes": list(model.class_names)},
        "calibration": {"fit": {"seed": TRAIN_SEED, "n": cfg.n_fit, "forms": ["raw", "h264 (.mp4, crf 20)"]},
                        "held_out": {"seed": VAL_SEED, "n": cfg.n_val, "forms": ["raw", "h264"]},
                        "threshold_rule": f"{cfg.percentile:g}th percentile of held-out scores",
                        "fit_minutes": round(fit_minutes, 2), "data_minutes": round(data_minutes, 2),
                        "date": datetime.date.today().isoformat(), "torch": torch.__version__,
                        "threads": torch.get_num_threads()},
        "measured": measured,
        "check": {"seed": TEST_SEED, "n": check_n, "form": "raw",
                  "scores": [float(v) for v in detector.score(check_feats)]},
    }
    detector.meta = meta
    path = (Path(out) / calibration_path(entry.weights).name) if out else calibration_path(entry.weights)
    detector.save(path)
    progress(f"{name}: wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return {"path": str(path), "threshold": detector.threshold, **meta}


def _measure_real(model, detector, specs, cfg, feats, logits, labels, real: RealSet, progress) -> dict:
    """The separation of test clips from real ones, for the detector and each alternative."""
    progress(f"{model.name}: scoring {len(real.frames)} real clips, and again with sensor noise added")
    all_specs = specs + [PENULTIMATE]
    real_feats, real_logits = features(model, real.frames, all_specs, cfg.batch_size)
    noisy = with_sensor_noise(real.frames, cfg.noisy_seed)
    noisy_feats, noisy_logits = features(model, noisy, all_specs, cfg.batch_size)
    whole = [i for i, c in enumerate(real.cuts) if c == "whole"]

    def report(score_fn, threshold: float) -> dict:
        test, r, rn = score_fn("test"), score_fn("real"), score_fn("noisy")
        out = separation(test, r, real.videos, threshold)
        out["fpr"] = round(float(np.mean(test > threshold)), 4)
        out["whole_flagged"] = int(np.sum(r[whole] > threshold))
        noisy_sep = separation(test, rn, real.videos, threshold)
        out["with_sensor_noise"] = {k: noisy_sep[k] for k in ("auroc", "auroc_per_video_mean", "tpr")}
        return out

    sets = {"test": feats["test"], "real": real_feats, "noisy": noisy_feats}
    logit_sets = {"test": logits["test"], "real": real_logits, "noisy": noisy_logits}
    result = {"real": {"videos": list(dict.fromkeys(real.videos)), "clips": len(real.frames),
                       "whole_clips": len(whole), "windows": [f"{w} frames every {WINDOW_STRIDE}" for w in WINDOWS],
                       "notes": real.notes},
              "detector": report(lambda k: detector.score(sets[k]), detector.threshold)}
    alternatives = {}
    for spec in specs + [PENULTIMATE]:   # each term alone, and the penultimate Mahalanobis (Lee et al.)
        alone, _ = fit_detector([spec], feats["fit"], labels, feats["val"], cfg.percentile)
        alternatives[spec.name] = report(lambda k, d=alone: d.score(sets[k]), alone.threshold)
    e_val = energy(logits["val"])
    alternatives["energy"] = report(lambda k: energy(logit_sets[k]), float(np.percentile(e_val, cfg.percentile)))
    result["alternatives"] = alternatives
    return result


# -------------------------------------------------------------------------- report

_BEGIN, _END = "<!-- ood -->", "<!-- /ood -->"


def write_report(path: Path, weights_dir: Path | None = None) -> None:
    """Rewrite the out-of-distribution section of docs/models.md from the stored calibration files."""
    from ..models.packaged import packaged_names
    from ..models.registry import WEIGHTS, bundled_names
    from . import calibrate_real
    from .detector import load_detector

    weights_dir = weights_dir or WEIGHTS
    records, real_records = {}, {}
    for names, into in ((bundled_names(), records), (packaged_names(), real_records)):
        for name in names:
            f = weights_dir / f"{name}.ood.safetensors"     # a packaged model's ships here too (check.py)
            if f.is_file():
                d = load_detector(f)
                into[name] = {"threshold": d.threshold, **d.meta}
    real_part = "\n".join(calibrate_real.report_markdown(real_records)).lstrip("\n")
    text = path.read_text() if path.exists() else ""
    section = f"{_BEGIN}\n{report_markdown(records)}{real_part}{_END}"
    if _BEGIN in text and _END in text:
        text = text[:text.index(_BEGIN)] + section + text[text.index(_END) + len(_END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def _join(*parts: str) -> str:
    return "".join(parts)


def report_markdown(records: dict) -> str:
    """The section's markdown from {model: calibration record} (numbers as measured, none typed in)."""
    lines = ["## Out of its world: the out-of-distribution warning", "", _join(
        "Every page that shows a prediction warns when the clip is unlike the model's training data ",
        "(`xai_core/ood/`). Written by `python -m xai_core calibrate-ood --model all --real ",
        "assets/samples --real DIR`; the numbers come from the run that wrote the shipped ",
        "`assets/weights/NAME.ood.safetensors`."), ""]
    if not records:
        return "\n".join([*lines, "No model is calibrated yet.", ""])
    first = next(iter(records.values()))
    cal, measured = first["calibration"], first["measured"]
    real = measured.get("real", {})
    if real:
        test_text = _join(
            f"{len(real['videos'])} videos ({', '.join(real['videos'])}), each whole (as Explain reads ",
            f"it) and as windows of {', '.join(str(w) for w in WINDOWS)} frames every {WINDOW_STRIDE} ",
            f"frames (as Live reads it): {real['clips']} real clips. *Real + noise*: the same clips with ",
            "the data set's sensor noise added (sigma 2-9 grey levels per colour channel), which the ",
            "noise term cannot see.")
    else:
        test_text = "no real footage given."
    lines += [
        _join("- **Statistic:** the larger of two z scores, each the log squared Mahalanobis distance ",
              "to Gaussians fitted on the training clips (Lee et al. 2018; Ledoit-Wolf shrunk ",
              "covariance), standardised on held-out clips: (1) the *noise floor* of the model's input ",
              "(luma and chroma noise by Immerkaer's 1996 Laplacian estimate, the median luma change ",
              "between frames; one Gaussian) and (2) the mean and spread of each channel of the model's ",
              "*first block* (one mean per class). Both come from the prediction's own forward pass."),
        _join(f"- **Calibration set:** {cal['fit']['n']} training clips (seed {cal['fit']['seed']}, ",
              "the training seed), each as generated and after the H.264 round trip the demo clips ",
              f"went through; z scales and threshold from {cal['held_out']['n']} held-out clips (seed ",
              f"{cal['held_out']['seed']}) in both forms."),
        f"- **Threshold:** the {cal['threshold_rule']}.",
        _join(f"- **Test:** {measured['test']['n']} clips of seed {measured['test']['seed']} (never ",
              "used in training) in both forms, against real footage: ", test_text),
        _penultimate_sentence(records), "",
        _join("| model | threshold | FPR synthetic test (raw / H.264) | AUROC real | AUROC per video ",
              "(mean) | TPR real | whole videos flagged | AUROC real + noise | calibration time |"),
        "|---|---|---|---|---|---|---|---|---|"]
    for name, r in records.items():
        m, c = r["measured"], r["calibration"]
        d = m.get("detector")
        row = [name, f"{r['threshold']:.2f}",
               f"{m['fpr_synthetic_test']:.1%} ({m['fpr_raw']:.1%} / {m['fpr_h264']:.1%})"]
        if d:
            row += [f"{d['auroc']:.3f}", f"{d['auroc_per_video_mean']:.3f}", f"{d['tpr']:.1%}",
                    f"{d['whole_flagged']} of {m['real']['whole_clips']}", f"{d['with_sensor_noise']['auroc']:.3f}"]
        else:
            row += ["—"] * 5
        row.append(f"{c['fit_minutes']:.1f} min fit (+ {c['data_minutes']:.1f} min making the shared clips)")
        lines.append("| " + " | ".join(row) + " |")
    lines += _alternatives_table(records) + _per_video_table(records)
    lines += ["", _join(
        "Limits: only a handful of distinct real videos exist here (their windows overlap), and the ",
        "statistics were chosen after looking at them. The noise term flags any clip without the data ",
        "set's sensor noise (real footage shrunk to the model's grid, heavily compressed video); real ",
        "footage that happens to carry such noise is left to the first-block term (the *real + noise* ",
        "column)."), ""]
    return "\n".join(lines)


def _penultimate_sentence(records: dict) -> str:
    """What the penultimate-feature statistics achieved, from the measurements."""
    short, enough = [], []
    for name, r in records.items():
        alts = r["measured"].get("alternatives", {})
        for key, label in (("penultimate", "Mahalanobis"), ("energy", "energy")):
            if key in alts:
                a = alts[key]
                text = f"{name} {label} {a['auroc']:.2f} (per video {a['auroc_per_video_mean']:.2f})"
                (short if min(a["auroc"], a["auroc_per_video_mean"]) < 0.95 else enough).append(text)
    if not short:
        return "- **Penultimate features:** measured below for comparison."
    return _join("- **Why not the penultimate features alone (as first planned):** the models meet real ",
                 "footage with confident, typical penultimate features; pooled or per video, these stay ",
                 f"under an AUROC of 0.95: {', '.join(short)}",
                 f" (enough only for {', '.join(enough)})." if enough else ".")


def _alternatives_table(records: dict) -> list[str]:
    rows = [(n, r["measured"]["alternatives"]) for n, r in records.items() if "alternatives" in r["measured"]]
    if not rows:
        return []
    lines = ["", _join("Each statistic alone (threshold: the same percentile of held-out scores): AUROC ",
                       "real / per-video mean / real + noise, and the TPR on real clips:"), "",
             "| model | input noise | first block | penultimate Mahalanobis | energy |", "|---|---|---|---|---|"]
    for name, alts in rows:
        cells = [f"{a['auroc']:.3f} / {a['auroc_per_video_mean']:.3f} / {a['with_sensor_noise']['auroc']:.3f}, "
                 f"TPR {a['tpr']:.0%}" for a in (alts[k] for k in ("input_noise", "first_block", "penultimate", "energy"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _per_video_table(records: dict) -> list[str]:
    rows = [(n, r["measured"]["detector"]["per_video"]) for n, r in records.items() if "detector" in r["measured"]]
    if not rows:
        return []
    videos = list(rows[0][1])
    lines = ["", "Share of each video's clips flagged (TPR at the threshold; clips per video in brackets):", "",
             "| model | " + " | ".join(f"{v} ({rows[0][1][v]['n']})" for v in videos) + " |",
             "|---" * (len(videos) + 1) + "|"]
    for name, per_video in rows:
        lines.append(f"| {name} | " + " | ".join(f"{per_video[v]['tpr']:.0%}" for v in videos) + " |")
    return lines


def main_run(names: list[str], real_paths, config: Config, out: Path | None, report: Path | None,
             progress: Callable[[str], None]) -> list[dict]:
    """Calibrate several models (bundled ones sharing the clips; packaged ones on the real footage,
    `calibrate_real`); then rewrite the report section."""
    from ..models.packaged import packaged_names
    from . import calibrate_real

    data: dict = {}
    records = []
    for n in names:
        if n in packaged_names():
            records.append(calibrate_real.calibrate(n, real_paths, calibrate_real.Config(percentile=config.percentile),
                                                    out, progress))
        else:
            records.append(calibrate(n, real_paths, config, out, progress, data))
    if report is not None:
        write_report(report, Path(out) if out else None)
    return records


def summary_line(record: dict) -> str:
    m = record["measured"]
    if record["calibration"].get("kind") == "real footage":
        d = m["detector"]
        return (f"{record['model']['name']}: threshold {record['threshold']:.2f}, leave-one-video-out FPR "
                f"{d['fpr']:.1%}, AUROC {d['auroc_mean']:.3f} per held-out video (worst {d['auroc_min']:.3f}), "
                f"TPR {d['tpr']:.1%} -> {record['path']}")
    d = m.get("detector")
    real = (f", AUROC {d['auroc']:.3f} (per video {d['auroc_per_video_mean']:.3f}), TPR {d['tpr']:.1%}"
            if d else "")
    return (f"{record['model']['name']}: threshold {record['threshold']:.2f}, FPR on synthetic test "
            f"{m['fpr_synthetic_test']:.1%}{real} -> {record['path']}")


def to_json(record: dict) -> str:
    return json.dumps(record, indent=2, allow_nan=False)


# ----------------------------------------------------------------------------- CLI


def add_arguments(p) -> None:
    """The options of `python -m xai_core calibrate-ood`."""
    p.add_argument("--model", required=True,
                   help="bundled model name, a packaged one (i3d_k400: fitted on the --real footage), or 'all'")
    p.add_argument("--real", action="append", default=[], metavar="PATH",
                   help="real video file or folder: the AUROC's real footage for a bundled model, the fit set "
                        "for a packaged one (repeatable)")
    p.add_argument("--out", default=None, help="folder for NAME.ood.safetensors (default: next to the weights; "
                                               "assets/weights for a packaged model)")
    p.add_argument("--report", default="docs/models.md", help="markdown report to update ('' for none)")
    for key in ("n_fit", "n_val", "n_test"):
        p.add_argument(f"--{key.replace('_', '-')}", type=int, default=getattr(Config, key),
                       help=f"clips (default {getattr(Config, key)})")
    p.add_argument("--percentile", type=float, default=Config.percentile,
                   help="threshold: this percentile of held-out scores")


def run(args) -> int:
    """`python -m xai_core calibrate-ood`: calibrate, write the files and the report."""
    from ..errors import XaiError
    from ..models.packaged import packaged, packaged_names
    from ..models.registry import bundled, bundled_names
    from .calibrate_real import recipe_names

    if args.model == "all":
        names = bundled_names()
        for n in (n for n in packaged_names() if n in recipe_names()):
            if not packaged(n).installed:
                print(f"skipped {n}: not installed ({packaged(n).install})")
            elif not args.real:
                print(f"skipped {n}: it is calibrated on real footage; give --real")
            else:
                names.append(n)
    elif args.model in packaged_names():
        names = [args.model]
    else:
        names = [bundled(args.model).name]
    for key in ("n_fit", "n_val", "n_test"):
        if getattr(args, key) < 16:
            raise XaiError(f"--{key.replace('_', '-')} must be at least 16 (got {getattr(args, key)})")
    if not 50 <= args.percentile < 100:
        raise XaiError(f"--percentile must be in [50, 100) (got {args.percentile})")
    for p in args.real:
        if not Path(p).exists():
            raise XaiError(f"--real {p}: no such file or folder")
    config = Config(args.n_fit, args.n_val, args.n_test, args.percentile)
    records = main_run(names, args.real, config, Path(args.out) if args.out else None,
                       Path(args.report) if args.report else None, lambda s: print(s, flush=True))
    for r in records:
        print(summary_line(r))
    return 0
