"""Calibrate a real (packaged) model's detector on real footage, a proxy for its training data.

    python -m xai_core calibrate-ood --model i3d_k400 --real assets/samples --real /data/real

i3d_k400 was trained on Kinetics-400 (YouTube clips of human actions), which is not here. What is
here is a handful of real videos; they stand in for "natural video" as I3D knows it. The
detector is fitted on them and judged *by video*: every number below comes from leave-one-video-
out (the detector refitted, its z scale and threshold re-derived, on the other videos; the left-
out video's clips and the out-of-distribution clips scored by it), never from windows of one
video on both sides.

Clips (all at the dashboard's input, T = 32 frames of 224 x 224): every real video whole (as
Explain reads it) and up to WINDOWS windows of 32 and 64 source frames (as Live reads it); out of
distribution: the shipped procedural demo clips (the clips the bundled models know), fresh
procedural clips at 64 x 64 (resized, as the dashboard resizes them) and rendered at 224 x 224,
i.i.d. noise, blank clips, and real windows heavily corrupted (Gaussian noise sigma 50, 16 x 16
pixelation, colour inversion, Gaussian blur sigma 8); still frames (one real frame repeated) are
scored and reported but left out of the AUROC (Kinetics has near-still clips too).

The statistic (measured against alternatives, docs/models.md): the squared Mahalanobis distance
of the clip's mean Mixed_4f activation per channel (832 channels, pooled over time and space)
to the real clips, with a *diagonal* covariance (the Ledoit-Wolf diagonal: ~100 clips of 7
videos cannot fill an 832 x 832 covariance); its log is standardised with the median and spread
of the leave-one-video-out log distances, and the threshold is the 99th percentile of those z
scores (scores of videos the Gaussian had not seen, so the threshold allows for a new scene).
The noise floor and first-block statistics that serve the bundled models, a full-covariance
Gaussian, the penultimate features and the energy score were measured the same way. Tried while
choosing, not rerun here: the distance of each layer's channel mean and spread to I3D's own
BatchNorm running statistics (a reference made from Kinetics itself): per-video AUROC up to 0.945
and 94% of procedural clips flagged, but 28-43% of held-out real clips too (all of the high-angle
surveillance video, part of the low-light cleanroom one, which lie further from those statistics
than the procedural clips do); its quietest variant (3-5% false alarms) caught a third of them.

Clips are scored at T = 32, the frames every page gives I3D: the channel means are pooled over time,
but I3D's "SAME" temporal padding weighs twice as much at T = 16, so a cheaper T would be another
input, not the same statistic.
"""
from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelSpecError, VideoError
from .calibrate import TermSpec, auroc, features, video_files
from .check import packaged_calibration_path, weights_digest
from .detector import Detector, Term
from .energy import energy
from .gaussian import Gaussians, fit_diagonal, fit_gaussians

LAYER = {"i3d_k400": "Mixed_4f"}            # the layer whose channel means the detector compares
FIRST_BLOCK = {"i3d_k400": "Conv3d_1a_7x7"}  # measured for comparison (the bundled models' term)
PENULTIMATE_LAYER = {"i3d_k400": "Mixed_5c"}  # its channel means feed the classifier (avg pool)
WINDOWS = ((32, 12), (64, 8))               # (source frames, at most this many windows) per video
WINDOW_STEP = 4                             # window starts are multiples of this, spread evenly
OOD_GROUPS = {"synthetic": ("synthetic_shipped", "synthetic_64", "synthetic_224"),
              "noise": ("noise_uniform", "noise_gauss"), "blank": ("blank", "blank_noisy"),
              "corrupted real": ("corrupt_noise50", "corrupt_pixelate16", "corrupt_invert", "corrupt_blur8")}
REPORTED_ONLY = ("still_frame",)            # scored and reported, not counted as out of distribution


@dataclass
class Config:
    percentile: float = 99.0      # threshold: this percentile of leave-one-video-out z scores
    batch_size: int = 2
    n_synthetic_64: int = 24      # fresh procedural clips at 64 x 64 (seed SYNTHETIC_SEEDS[0])
    n_synthetic_224: int = 8      # fresh procedural clips rendered at 224 x 224 (SYNTHETIC_SEEDS[1])
    n_noise: int = 6              # of each kind
    seed: int = 0                 # noise, blank colours, corruptions


SYNTHETIC_SEEDS = (31, 37)        # unused by training (1), validation (2), test (3), tests (23)


def term_name(name: str) -> str:
    """The shipped detector's one term, as OODResult.terms names it: e.g. "mixed_4f_means"."""
    return f"{LAYER[name].lower()}_means"


def recipe_names() -> list[str]:
    return list(LAYER)


def terms_measured(name: str) -> list[TermSpec]:
    """The features one forward pass records: the detector's, and the alternatives'."""
    return [TermSpec("input_noise", "input", None, per_class=False),
            TermSpec("first_block", "layer", FIRST_BLOCK[name], per_class=False),
            TermSpec("detector_layer", "layer", LAYER[name], per_class=False),
            TermSpec("penultimate", "layer", PENULTIMATE_LAYER[name], per_class=False)]


# ----------------------------------------------------------------------------- clips


def _spread(starts: list[int], k: int) -> list[int]:
    """At most k of `starts`, evenly spread, first and last included."""
    if len(starts) <= k:
        return starts
    return [starts[i] for i in np.linspace(0, len(starts) - 1, k).round().astype(int)]


def real_videos(paths, spec) -> Iterator[tuple[str, list[np.ndarray], list[str]]]:
    """Per real video: its name, its clips uint8 (T, H, W, 3) and how each was cut: the whole
    video (as Explain reads it), then up to k windows of L source frames for (L, k) in WINDOWS
    (as Live reads it; a video shorter than L gives its one looped window)."""
    from ..video.decode import probe
    from ..video.sample import load_video
    from ..video.windows import iter_windows

    for f in video_files(paths):
        try:
            n = probe(f, count=True).frame_count
            clips, cuts = [load_video(f, spec, display_size=None).frames], ["whole"]
            for length, k in WINDOWS:
                wanted = set(_spread(list(range(0, max(n - length, 0) + 1, WINDOW_STEP)), k))
                for clip in iter_windows(f, spec, length=length, stride=WINDOW_STEP, display_size=None,
                                         cover_end=False):
                    start = clip.source_indices[0]
                    if start in wanted or n < length:
                        clips.append(clip.frames)
                        cuts.append(f"window {length}@{start}")
        except VideoError as e:
            raise VideoError(f"real footage {f.name}: {e}") from None
        yield f.name, clips, cuts


def corrupted(clips: dict[str, list[np.ndarray]], rng: np.random.Generator) -> list[tuple[str, str, np.ndarray]]:
    """Heavily corrupted real clips, four per video (one of each kind, from the clips kept:
    [whole, a, b, c] windows), and one still frame per video (the whole clip's middle frame, repeated)."""
    import cv2

    out = []
    for video, (whole, a, b, c) in clips.items():
        T, H, W = a.shape[:3]
        out.append(("corrupt_noise50", video, np.clip(a + rng.normal(0, 50, a.shape), 0, 255).astype(np.uint8)))
        small = [cv2.resize(f, (W // 16, H // 16), interpolation=cv2.INTER_AREA) for f in b]
        out.append(("corrupt_pixelate16", video,
                    np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_NEAREST) for f in small])))
        out.append(("corrupt_invert", video, 255 - c))
        out.append(("corrupt_blur8", video, np.stack([cv2.GaussianBlur(f, (0, 0), 8) for f in a])))
        out.append(("still_frame", video, np.repeat(whole[len(whole) // 2][None], T, 0)))
    return out


def synthetic_and_noise(spec, cfg: Config, rng: np.random.Generator) -> list[tuple[str, str, np.ndarray]]:
    """Procedural clips as the dashboard shows them to the model, noise and blank clips."""
    from ..data.synthetic import make_dataset
    from ..models.registry import ASSETS
    from ..video.sample import clip_from_array, load_video

    out = [("synthetic_shipped", p.name, load_video(p, spec).frames)
           for p in sorted((ASSETS / "samples" / "synthetic").glob("*.mp4"))]
    data = make_dataset(cfg.n_synthetic_64, SYNTHETIC_SEEDS[0], frames=spec.frames, size=64)
    out += [("synthetic_64", str(i), clip_from_array(c, spec).frames) for i, c in enumerate(data.clips)]
    data = make_dataset(cfg.n_synthetic_224, SYNTHETIC_SEEDS[1], frames=spec.frames, size=max(spec.size))
    out += [("synthetic_224", str(i), clip_from_array(c, spec).frames) for i, c in enumerate(data.clips)]
    shape = (spec.frames, *spec.size, 3)
    out += [("noise_uniform", str(i), rng.integers(0, 256, shape, dtype=np.uint8)) for i in range(cfg.n_noise)]
    for _ in range(cfg.n_noise):
        sigma = rng.uniform(20, 60)
        out.append(("noise_gauss", f"sigma {sigma:.0f}",
                    np.clip(rng.normal(128, sigma, shape), 0, 255).astype(np.uint8)))
    for colour in ((0, 0, 0), (255, 255, 255), (128, 128, 128), (200, 30, 30), (20, 90, 200), (90, 160, 60)):
        out.append(("blank", str(colour), np.broadcast_to(np.array(colour, np.uint8), shape).copy()))
    for _ in range(2):
        colour = rng.integers(0, 256, 3)
        out.append(("blank_noisy", str(colour.tolist()),
                    np.clip(colour + rng.normal(0, 3, shape), 0, 255).astype(np.uint8)))
    return out


# ----------------------------------------------------------------------------- statistics


def channel_means(stats: np.ndarray) -> np.ndarray:
    """channel_stats (N, 2C) -> the channel means (N, C)."""
    return stats[:, : stats.shape[1] // 2]


# Each candidate: (what it reads from the features, how it is fitted on real clips or None for a
# one-sided score that needs no fit). "log distance" = log squared Mahalanobis distance.
def _candidates() -> dict:
    return {
        "detector": (lambda f: channel_means(f["detector_layer"]), fit_diagonal),
        "detector_layer_full_covariance": (lambda f: channel_means(f["detector_layer"]), fit_gaussians),
        "input_noise": (lambda f: f["input_noise"], fit_gaussians),
        "first_block": (lambda f: f["first_block"], fit_gaussians),
        "penultimate": (lambda f: channel_means(f["penultimate"]), fit_diagonal),
        "energy": (lambda f: energy(f["logits"])[:, None], None),
    }


def _raw(fitted: Gaussians | None, X: np.ndarray) -> np.ndarray:
    """The raw score before standardising: log distance, or the value itself for a one-sided score."""
    if fitted is None:
        return X[:, 0]
    return np.log(np.maximum(fitted.distance(X), 1e-12))


def out_of_video(fit, X: np.ndarray, videos: np.ndarray) -> np.ndarray:
    """Each clip's raw score under a fit made without its video (leave-one-video-out)."""
    out = np.empty(len(X))
    for v in np.unique(videos):
        inside = videos == v
        out[inside] = _raw(fit(X[~inside]) if fit else None, X[inside])
    return out


@dataclass
class Fitted:
    """A fitted candidate: the fit on all its clips, the z scale and the threshold on z, both
    from leave-one-video-out scores."""

    gaussians: Gaussians | None
    center: float
    scale: float
    threshold: float
    held_out_z: np.ndarray

    def z(self, X: np.ndarray) -> np.ndarray:
        return (_raw(self.gaussians, X) - self.center) / self.scale


def fit_by_video(fit, X: np.ndarray, videos: np.ndarray, percentile: float) -> Fitted:
    """Fit on every clip; z scale and threshold from the leave-one-video-out scores."""
    raw = out_of_video(fit, X, videos)
    center, scale = float(np.median(raw)), float(np.std(raw))
    z = (raw - center) / scale
    return Fitted(fit(X) if fit else None, center, scale, float(np.percentile(z, percentile)), z)


def leave_one_video_out(fit, X: np.ndarray, videos: np.ndarray, X_ood: np.ndarray, categories: np.ndarray,
                        percentile: float) -> dict:
    """For each video: refit on the others (their own leave-one-out z scale and threshold), score
    the left-out video and every out-of-distribution clip. FPR: share of the left-out videos'
    clips flagged; AUROC: each left-out video against the out-of-distribution clips (mean and
    worst), and pooled over folds as score minus that fold's threshold; TPR per category: share
    of (fold, clip) pairs flagged."""
    counted = ~np.isin(categories, REPORTED_ONLY)
    held = np.empty(len(X))
    ood_margin, per_video = [], {}
    for v in dict.fromkeys(videos.tolist()):
        inside = videos == v
        d = fit_by_video(fit, X[~inside], videos[~inside], percentile)
        s_in, s_out = d.z(X[inside]), d.z(X_ood)
        held[inside] = s_in - d.threshold
        ood_margin.append(s_out - d.threshold)
        per_video[v] = {"n": int(inside.sum()), "fpr": round(float(np.mean(s_in > d.threshold)), 4),
                        "auroc": round(auroc(s_in, s_out[counted]), 4)}
    margin = np.array(ood_margin)                                    # (folds, n_ood)
    flagged = (margin > 0).mean(0)                                   # per clip, over folds
    per_category = {c: round(float(flagged[categories == c].mean()), 4) for c in dict.fromkeys(categories.tolist())}
    groups = {g: round(float(flagged[np.isin(categories, cs)].mean()), 4) for g, cs in OOD_GROUPS.items()}
    aurocs = [p["auroc"] for p in per_video.values()]
    return {"fpr": round(float(np.mean(held > 0)), 4),
            "fpr_video_mean": round(float(np.mean([p["fpr"] for p in per_video.values()])), 4),
            "videos_with_a_false_alarm": sum(p["fpr"] > 0 for p in per_video.values()),
            "auroc_mean": round(float(np.mean(aurocs)), 4), "auroc_min": round(float(np.min(aurocs)), 4),
            "auroc_pooled": round(auroc(held, margin[:, counted].ravel()), 4),
            "tpr": round(float(flagged[counted].mean()), 4), "tpr_groups": groups,
            "tpr_categories": per_category, "per_video": per_video}


# ----------------------------------------------------------------------------- calibrate


def calibrate(name: str, real_paths, config: Config | None = None, out: Path | None = None,
              progress: Callable[[str], None] = lambda s: None) -> dict:
    """Fit, threshold and measure packaged model `name`'s detector on real footage; write
    `assets/weights/<name>.ood.safetensors` (or into `out`). Returns the measured record."""
    from ..models.loader import load_packaged

    if name not in LAYER:
        raise ModelSpecError(f"no real-footage calibration recipe for {name!r}; known: {', '.join(LAYER)}")
    if not real_paths:
        raise ModelSpecError(f"{name} is calibrated on real footage: give it with --real (e.g. --real "
                             "assets/samples --real DIR)")
    cfg = config or Config()
    model = load_packaged(name)
    specs = terms_measured(name)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()

    def run(clips: list[np.ndarray]) -> dict:
        feats, logits = features(model, np.stack(clips), specs, cfg.batch_size)
        return {**feats, "logits": logits}

    real, videos, cuts, kept = [], [], [], {}
    for video, clips, how in real_videos(real_paths, model.spec):
        progress(f"{name}: {video}: {len(clips)} clips")
        real.append(run(clips))
        videos += [video] * len(clips)
        cuts += how
        kept[video] = [clips[0], clips[min(1, len(clips) - 1)], clips[len(clips) // 2], clips[-1]]  # to corrupt
    if len(kept) < 3:
        raise ModelSpecError(f"{name}: {len(kept)} real video(s); leave-one-video-out needs at least 3")
    ood_clips = synthetic_and_noise(model.spec, cfg, rng) + corrupted(kept, rng)
    progress(f"{name}: {len(ood_clips)} out-of-distribution clips")
    ood = [run([c for _, _, c in ood_clips[i:i + 16]]) for i in range(0, len(ood_clips), 16)]
    feature_minutes = (time.perf_counter() - t0) / 60

    real_f = {k: np.concatenate([r[k] for r in real]) for k in real[0]}
    ood_f = {k: np.concatenate([o[k] for o in ood]) for k in ood[0]}
    videos_a, categories = np.array(videos), np.array([c for c, _, _ in ood_clips])
    measured = {}
    for key, (read, fit) in _candidates().items():
        measured[key] = leave_one_video_out(fit, read(real_f), videos_a, read(ood_f), categories, cfg.percentile)
    read, fit = _candidates()["detector"]
    final = fit_by_video(fit, read(real_f), videos_a, cfg.percentile)
    detector = _detector(name, final, real_f["detector_layer"].shape[1])
    whole = [i for i, c in enumerate(cuts) if c == "whole"]
    scores = detector.score({term_name(name): real_f["detector_layer"]})
    ood_scores = detector.score({term_name(name): ood_f["detector_layer"]})
    minutes = (time.perf_counter() - t0) / 60

    d = measured["detector"]
    meta = {
        "statistic": f"z score of the log squared Mahalanobis distance (diagonal covariance) of {LAYER[name]}'s "
                     "channel means to real footage (a proxy for the training data)",
        "model": {"name": name, "weights": Path(model.info.weights).name,
                  "source_sha256": model.info.extra.get("source_sha256"),
                  "weights_digest": weights_digest(model.net), "spec": model.spec.to_dict(),
                  "classes": list(model.class_names)},
        "calibration": {"kind": "real footage", "proxy_for": "Kinetics-400 (not available here)",
                        "videos": list(dict.fromkeys(videos)), "clips": len(videos), "whole_clips": len(whole),
                        "windows": [f"up to {k} windows of {length} source frames" for length, k in WINDOWS],
                        "layer": LAYER[name], "covariance": "diagonal of the Ledoit-Wolf covariance",
                        "shrinkage": final.gaussians.shrinkage,
                        "threshold_rule": f"{cfg.percentile:g}th percentile of leave-one-video-out z scores",
                        "minutes": round(minutes, 2), "feature_minutes": round(feature_minutes, 2),
                        "date": datetime.date.today().isoformat(), "torch": torch.__version__,
                        "threads": torch.get_num_threads()},
        "measured": {"fpr_held_out_videos": d["fpr"], "evaluation": "leave one video out",
                     "ood_clips": {c: int(np.sum(categories == c)) for c in dict.fromkeys(categories.tolist())},
                     "synthetic_seeds": list(SYNTHETIC_SEEDS), "detector": d,
                     "alternatives": {k: v for k, v in measured.items() if k != "detector"},
                     "in_sample": {"real_max": round(float(scores.max()), 4),
                                   "ood_flagged": {c: int(np.sum(ood_scores[categories == c] > detector.threshold))
                                                   for c in dict.fromkeys(categories.tolist())}}},
        "check": {"whole": {videos[i]: float(scores[i]) for i in whole},
                  "ood": {f"{c}/{n}": float(s) for (c, n, _), s in zip(ood_clips, ood_scores)
                          if c in ("synthetic_shipped", "noise_uniform")}},
    }
    detector.meta = meta
    path = Path(out) / packaged_calibration_path(name).name if out else packaged_calibration_path(name)
    detector.save(path)
    progress(f"{name}: wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return {"path": str(path), "threshold": detector.threshold, **meta}


def _detector(name: str, final: Fitted, width: int) -> Detector:
    """The shipped detector: one term on the layer's channel statistics (N, 2C); the channel
    spreads get zero precision, so only the C channel means count."""
    g = final.gaussians
    C = width // 2
    means = np.concatenate([g.means, np.zeros((1, C))], 1)               # (1, 2C)
    precision = np.concatenate([g.precision, np.zeros(C)])               # (2C,) diagonal
    term = Term(term_name(name), "layer", LAYER[name], Gaussians(means, precision, g.shrinkage),
                final.center, final.scale)
    return Detector([term], final.threshold)


# ----------------------------------------------------------------------------- report


def report_markdown(records: dict) -> list[str]:
    """The packaged models' part of docs/models.md's out-of-distribution section."""
    if not records:
        return []
    lines = ["", "### Real models: calibrated on real footage", ""]
    for name, r in records.items():
        cal, m = r["calibration"], r["measured"]
        d = m["detector"]
        lines += [
            (f"**{name}** knows the world of {cal['proxy_for'].split(' (')[0]}, which is not available here; its "
             f"detector is fitted on {len(cal['videos'])} real videos ({', '.join(cal['videos'])}) as a proxy for "
             f"natural video: {cal['clips']} clips at the dashboard's input (each video whole and "
             f"{', '.join(cal['windows'])})."),
            "",
            (f"- **Statistic:** the squared Mahalanobis distance of the clip's mean `{cal['layer']}` activation "
             f"per channel to the real clips, with a diagonal covariance ({cal['covariance']}, shrinkage "
             f"{cal['shrinkage']:.3f}); its log standardised with the median and spread of the "
             "leave-one-video-out log distances. One forward pass, the prediction's own."),
            (f"- **Threshold:** {r['threshold']:.2f}, the {cal['threshold_rule']} (each video scored by a fit "
             "that never saw it, so the threshold allows for a new scene)."),
            "- **Evaluation: leave one video out.** For each video, the detector is refitted on the others (their "
            "own leave-one-out z scale and threshold) and scores that video's clips (false alarms) and every "
            "out-of-distribution clip: " + ", ".join(f"{c} ({n})" for c, n in m["ood_clips"].items()) + ". "
            "Still frames (a real frame repeated) are reported, not counted: Kinetics has near-still clips too.",
            "",
            ("| statistic | FPR held-out videos (clips) | AUROC per held-out video (mean / worst) | AUROC pooled | "
             "TPR | synthetic | noise | blank | corrupted real | still frame |"),
            "|---|---|---|---|---|---|---|---|---|---|"]
        rows = {"**detector**: " + cal["layer"] + " channel means, diagonal": d}
        labels = {"detector_layer_full_covariance": f"{cal['layer']} channel means, full covariance",
                  "input_noise": "input noise floor (bundled models' term)",
                  "first_block": "first block channel mean and spread (bundled models' term)",
                  "penultimate": "penultimate (Mixed_5c channel means), diagonal",
                  "energy": "energy score (one-sided)"}
        rows.update({labels[k]: v for k, v in m["alternatives"].items()})
        for label, a in rows.items():
            g, c = a["tpr_groups"], a["tpr_categories"]
            lines.append(f"| {label} | {a['fpr']:.1%} | {a['auroc_mean']:.3f} / {a['auroc_min']:.3f} | "
                         f"{a['auroc_pooled']:.3f} | {a['tpr']:.0%} | {g['synthetic']:.0%} | {g['noise']:.0%} | "
                         f"{g['blank']:.0%} | {g['corrupted real']:.0%} | {c.get('still_frame', 0):.0%} |")
        cats = d["tpr_categories"]
        flagged = m["in_sample"]["ood_flagged"]
        lines += [
            "",
            "TPR per kind of clip for the detector (held-out folds): " + ", ".join(
                f"{k} {v:.0%}" for k, v in cats.items()) + ". The shipped detector (fitted on all "
            f"{len(cal['videos'])} videos) flags " + ", ".join(f"{flagged[k]} of {n} {k}" for k, n in
                                                              m["ood_clips"].items()) +
            f"; its largest score on the real clips it was fitted on is {m['in_sample']['real_max']:.2f}.",
            "",
            "False alarms per held-out video: " + ", ".join(
                f"{v} {p['fpr']:.0%} of {p['n']} (AUROC {p['auroc']:.3f})" for v, p in d["per_video"].items()) + ".",
            "",
            "Limits: " + _few_videos(d) + " The in-distribution side is a handful of real videos (indoor, surveillance, sign language, a "
            "cleanroom), not Kinetics; a real clip far from all of them (another kind of scene, camera or "
            "resolution) may be flagged although I3D knows such footage. The AUROC is optimistic: the out-of-"
            "distribution clips are far from natural video by construction, the windows of one video overlap, and "
            "the statistic was chosen after looking at these same videos. Procedural clips rendered sharply at "
            "224 x 224 and colour-inverted or pixelated real footage mostly pass as natural video to this "
            "layer.",
            ""]
    return lines


def _few_videos(d: dict) -> str:
    """What the leave-one-video-out false alarms can and cannot say with so few videos."""
    n, bad = len(d["per_video"]), d["videos_with_a_false_alarm"]
    if bad:
        return f"{bad} of {n} held-out videos had a false alarm."
    return (f"none of the {n} held-out videos had a false alarm, but {n} videos are few: a share of new real "
            f"videos with false alarms up to {1 - 0.05 ** (1 / n):.0%} is not ruled out (95% confidence).")
