"""KernelSHAP and LIME on supervoxels: what the score does when space-time regions are removed.

Both explain by removing (Covert, Lundberg & Lee, "Explaining by Removing", JMLR 2021): the clip
is cut into M supervoxels (supervoxels.py, 3-D SLIC), the model scores `n_samples` copies with
random sets of them removed, and a linear model fitted to (which supervoxels were kept -> score)
gives each one an attribution. In video this is REVEX (Gaya-Morey, Buades-Rubio, MacKenzie &
Manresa-Yee, "REVEX: A Unified Framework for Removal-Based Explainable Artificial Intelligence in
Video", arXiv 2401.11796, 2024), where Video LIME on supervoxels had the best deletion (up to
31% lower) and insertion (up to 30% higher) of six removal methods, RISE and occlusion included.

- KernelSHAP (Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS
  2017): coalitions drawn from the Shapley kernel in complementary pairs, the clip and the fully
  removed clip weighted 1e6 (captum's KernelShap); the attributions approximate Shapley values
  and sum to f(x) - f(all removed) (efficiency). On a model that is linear in its input they are
  exactly w . (x - fill) summed over each supervoxel (tests/test_supervoxels.py).
- LIME (Ribeiro, Singh & Guestrin, "Why Should I Trust You?", KDD 2016) as lime_image does it:
  each supervoxel kept with probability 1/2, samples weighted by exp(-d^2 / (2 w^2)) with d the
  cosine distance of the kept set to the full clip (w = kernel_width, 0.25), ridge regression
  (alpha 1). The attributions are local slopes, not shares of the score.

Removed means replaced by the `fill`. Measured on 32 clips of seed 6 at 100 supervoxels, removing
the supervoxels that lie mostly inside the evidence mask (and, for comparison, as many random
ones, which leave the class at 0.92-0.97):
- "temporal_mean" (default): each pixel's mean over the clip. A removed region stops moving and
  keeps roughly its look. Motion clips (6 of the 8 classes): the class falls to 0.58 (c3d_small)
  and 0.70 (r2plus1d_small), against 0.69 and 0.78 with grey, whose grey hole still moves with
  the figure (issue 10: greying a walk's whole evidence mask leaves it at 0.93-0.99). Appearance
  clips (the held ball's colour): only 0.86 and 0.96, as the ball barely moves.
- "grey": the data set's mean colour (0.0 in normalised space, occlusion's default fill): removes
  appearance (the held ball: 0.52 and 0.35) and leaves the outline's motion.
The default is the temporal mean because most of what the bundled models decide on is motion,
and it is the fill issue 10's deletion metric uses by default; choose "grey" to ask about looks.

Defaults and budget: n_segments 50 (about 33 supervoxels on 16 x 64 x 64, each about 12 frames
long) and n_samples 4000 forward passes per clip: about 40 s for c3d_small and 32 s for
r2plus1d_small on two quiet CPU cores (10 and 8 ms a pass at batch 16), minutes on a shared one.
The aim was Spearman >= 0.9 across seeds (`seed_stability`) on c3d_small. Measured (3 seeds):
- c3d_small, ~33 supervoxels, 4000 samples: LIME 0.90 (0.89 at 2000), KernelSHAP 0.83 (seed-4
  clip, docs/ground_truth.md "supervoxels"); on two seed-6 clips LIME 0.82 / 0.91;
- r2plus1d_small, same clip: LIME 0.69, KernelSHAP 0.63, flat from 500 to 4000 samples;
- fewer, coarser supervoxels reach 0.9 sooner: KernelSHAP at ~23 (n_segments 25) 0.90 / 0.92 at
  3200 samples, but each then spans ~14 of 16 frames and draws the evidence at IoU 0.06; at ~90
  (n_segments 100) 1600 samples give KernelSHAP 0.43-0.58, LIME 0.64-0.69.
So 50 and 4000 are the compromise, and 0.9 is met by LIME on c3d_small only. Spearman weighs
every rank alike, and most supervoxels of a clip hold almost nothing: their order among
themselves is the seeds' noise and does not settle with more samples (r2plus1d_small). The few
that matter are stable: at 4000 samples every seed put the same 5 supervoxels first on both
models (Stability.top_agreement = 100%).

Each clip is explained on its own with a generator seeded by `seed` (the same draws for every
clip and batch: reproducible, independent of batching), `batch_size` perturbed clips per forward
pass (captum's perturbations_per_eval). The linear fit is solved exactly in float64 on the CPU
(weighted least squares with an unpenalised intercept; the minimum-norm solution when there are
fewer samples than supervoxels), rather than by scikit-learn, which captum would need otherwise.

The relevance of a voxel is its supervoxel's attribution divided by the supervoxel's size
(supervoxels.spread): the map of a clip sums to the attributions' sum, so KernelSHAP's map sums
to about f(x) - f(fill) in logits, and the share of a region is the share of its supervoxels.
The sign is kept (evidence for and against).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from captum._utils.models.model import Model
from captum.attr import KernelShap, Lime

from ..errors import MethodError
from .gradients import BATCH
from .registry import register_method
from .supervoxels import MAX_SEGMENTS, clip_supervoxels, spread

Fill = Literal["temporal_mean", "grey"]
ESTIMATORS = ("kernel_shap", "lime")
LIME_RIDGE = 1.0                      # lime's Ridge(alpha=1): a light pull towards 0 for unseen regions
BOUNDS = {"n_segments": (2, MAX_SEGMENTS), "n_samples": (2, 2 ** 17), "batch_size": BATCH,
          "seed": (0, 2 ** 63 - 1)}


# ---- the fitted surrogate ---------------------------------------------------------------------

class WeightedLeastSquares(Model):
    """captum's interpretable model: y ~ b + z . coef by weighted least squares, float64, on the CPU.

    `ridge` adds ridge * |coef|^2 (the intercept unpenalised, sklearn's Ridge). A score that is
    not finite gives NaN coefficients (run_method then reports it), never a LAPACK error.
    """

    def __init__(self, ridge: float = 0.0):
        self.ridge = ridge
        self.coef = self.intercept = None

    def fit(self, train_data, **kwargs):
        z, y, w = (torch.cat(parts).detach().to("cpu", torch.float64)
                   for parts in zip(*train_data))                  # (S, M), (S,), (S,)
        S, M = z.shape                                              # samples, supervoxels
        if not (torch.isfinite(y).all() and torch.isfinite(w).all()):
            self.coef, self.intercept = torch.full((M,), math.nan, dtype=torch.float64), math.nan
            return None
        alpha = self.ridge / float(w.sum())                         # sklearn's alpha, for weights summing to 1
        w = w / w.sum()                                             # (S,)
        z_mean, y_mean = w @ z, w @ y                               # (M,), ()
        root = w.sqrt()[:, None]                                    # (S, 1)
        A, b = root * (z - z_mean), root[:, 0] * (y - y_mean)       # (S, M), (S,)
        if alpha:
            A = torch.cat([A, math.sqrt(alpha) * torch.eye(M, dtype=A.dtype)])   # (S + M, M)
            b = torch.cat([b, b.new_zeros(M)])
        self.coef = torch.linalg.lstsq(A, b[:, None], driver="gelsd").solution[:, 0]  # (M,)
        self.intercept = float(y_mean - z_mean @ self.coef)
        return None

    def representation(self) -> torch.Tensor:
        return self.coef

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.intercept + z.to(self.coef) @ self.coef


# ---- captum's estimators, drawing from a seeded generator -------------------------------------

class _KernelShap(KernelShap):
    """captum's KernelShap with its coalitions drawn from `generator` (not torch's global RNG, which
    other threads share) and fitted by WeightedLeastSquares (captum's default needs scikit-learn)."""

    def __init__(self, model, generator: torch.Generator):
        super().__init__(model)
        self.interpretable_model = WeightedLeastSquares()
        self.generator = generator

    def kernel_shap_perturb_generator(self, original_inp, **kwargs):
        """The clip, the fully removed clip, then k ~ p(k) = (M - 1) / (k (M - k)) supervoxels kept,
        which k uniformly (the Shapley kernel's distribution, as captum samples it), each set
        followed by its complement: paired sampling (Covert & Lee, "Improving KernelSHAP",
        AISTATS 2021), which cancels much of the variance; measured here, Spearman across seeds on
        c3d_small at ~90 supervoxels and 1600 samples rose from 0.30-0.50 to 0.43-0.58."""
        M = int(kwargs["num_interp_features"])
        yield torch.ones(1, M, dtype=torch.long, device=original_inp.device)
        yield torch.zeros(1, M, dtype=torch.long, device=original_inp.device)
        k = torch.arange(1, M, dtype=torch.float64)                    # (M - 1,) sizes 1..M-1
        p = (M - 1) / (k * (M - k))
        while True:
            size = 1 + int(torch.multinomial(p, 1, generator=self.generator))
            z = torch.zeros(1, M, dtype=torch.long)
            z[0, torch.randperm(M, generator=self.generator)[:size]] = 1
            yield z.to(original_inp.device)
            yield (1 - z).to(original_inp.device)


def _lime(model, generator: torch.Generator, kernel_width: float) -> Lime:
    """captum's Lime as lime_image runs it: the clip first, then each supervoxel kept with
    probability 1/2; weights exp(-d^2 / (2 kernel_width^2)), d the cosine distance of the kept set
    to all kept; ridge regression (LIME_RIDGE)."""

    def perturb(original_inp, **kwargs):
        M = int(kwargs["num_interp_features"])
        yield torch.ones(1, M, dtype=torch.long, device=original_inp.device)
        while True:
            z = torch.randint(0, 2, (1, M), generator=generator)
            yield z.to(original_inp.device)

    def similarity(original_inp, perturbed_inp, z, **kwargs):
        M = z.shape[1]
        cosine = float(z.sum()) / math.sqrt(float(z.sum()) * M) if z.any() else 0.0
        return math.exp(-(1.0 - cosine) ** 2 / (2 * kernel_width ** 2))

    return Lime(model, interpretable_model=WeightedLeastSquares(ridge=LIME_RIDGE),
                similarity_func=similarity, perturb_func=perturb)


def removed_fill(video: torch.Tensor, fill: str) -> torch.Tensor:
    """What a removed voxel shows: (N, C, T, H, W) -> (N, C, T, H, W), in normalised space.

    "temporal_mean": each pixel's mean over the clip's frames (no motion, about the same look);
    "grey": 0.0, the data set's mean colour.
    """
    if fill == "temporal_mean":
        return video.mean(2, keepdim=True).expand_as(video)             # (N, C, 1, H, W) -> (N, C, T, H, W)
    if fill == "grey":
        return torch.zeros_like(video)
    raise MethodError(f'fill must be "temporal_mean" or "grey", got {fill!r}')


def supervoxel_attributions(model, clip: torch.Tensor, target: int, labels: torch.Tensor, *,
                            estimator: str = "kernel_shap", n_samples: int, fill: str = "temporal_mean",
                            batch_size: int = 16, seed: int = 0, kernel_width: float = 0.25) -> torch.Tensor:
    """Each supervoxel's attribution for one clip: (1, C, T, H, W), labels (T, H, W) 0..M-1 -> (M,)
    float64 on the CPU, in logits of `target`.

    `estimator` "kernel_shap" or "lime" (module docstring); `n_samples` forward passes,
    `batch_size` a pass; the draws depend on `seed` only. Raises MethodError for fewer than 2
    supervoxels (nothing to compare) or an unknown estimator or fill.
    """
    M = int(labels.max()) + 1
    if M < 2:
        raise MethodError(f"{estimator}: the clip has {M} supervoxel; need at least 2 (a larger "
                          "n_segments or a larger clip)")
    if estimator not in ESTIMATORS:
        raise MethodError(f"unknown estimator {estimator!r}; estimators: {', '.join(ESTIMATORS)}")
    generator = torch.Generator().manual_seed(int(seed))
    explainer = (_KernelShap(model, generator) if estimator == "kernel_shap"
                 else _lime(model, generator, kernel_width))
    T, H, W = labels.shape
    coef = explainer.attribute(clip.detach(), baselines=removed_fill(clip.detach(), fill), target=int(target),
                               feature_mask=labels.view(1, 1, T, H, W), n_samples=int(n_samples),
                               perturbations_per_eval=int(batch_size), return_input_shape=False)
    return coef.reshape(-1).to("cpu", torch.float64)                    # (M,)


def _explain(model, video, target, estimator: str, n_segments: int, **options) -> torch.Tensor:
    """(N, C, T, H, W) -> (N, T, H, W): each clip segmented, explained and spread on its own."""
    maps = []
    for n in range(video.shape[0]):
        labels = clip_supervoxels(model, video[n], n_segments)          # (T, H, W)
        values = supervoxel_attributions(model, video[n:n + 1], int(target[n]), labels,
                                         estimator=estimator, **options)  # (M,)
        maps.append(spread(values.to(video.device), labels))          # (T, H, W) float64
    return torch.stack(maps).to(video.dtype)                           # (N, T, H, W)


# ---- the registered methods -------------------------------------------------------------------

N_SEGMENTS = 50           # the defaults: see "Defaults and budget" in the module docstring
N_SAMPLES = 4000


def _passes(shape, *, n_samples: int) -> int:
    """Passes per clip: one per sample (the clip and the fully removed clip are samples too)."""
    return n_samples


@register_method("kernel_shap", "KernelSHAP (supervoxels)", cost="expensive", needs_gradients=False,
                 box="black", native_video=True, bounds=BOUNDS, work=_passes)
def kernel_shap(model, video, target, *, n_segments: int = N_SEGMENTS, n_samples: int = N_SAMPLES,
                fill: Fill = "temporal_mean", batch_size: int = 16, seed: int = 0):
    """Each space-time region's fair share of the score (its Shapley value), from the score with regions removed.

    The clip is cut into about `n_segments` supervoxels (3-D SLIC, supervoxels.py); the model
    scores `n_samples` copies with sets of them replaced by the `fill` ("temporal_mean": each
    pixel's mean over time, so a removed region stops moving; "grey": the data set's mean
    colour), `batch_size` copies a pass; captum's KernelShap fits the Shapley values (Lundberg &
    Lee 2017), which sum to f(x) - f(everything removed). A voxel's relevance is its supervoxel's
    value / its size (logits per voxel; the sign kept). Seeded by `seed`.
    Cost: n_samples forward passes, about 40 s per clip at the defaults for c3d_small on two quiet
    CPU cores; Spearman across seeds there 0.83 (r2plus1d_small 0.63), the 5 largest the same for
    every seed (module docstring). Shapes: video (N, C, T, H, W) -> (N, T, H, W), float like the
    video. MethodError for a clip with fewer than 2 supervoxels or a bad option.
    """
    return _explain(model, video, target, "kernel_shap", n_segments, n_samples=n_samples, fill=fill,
                    batch_size=batch_size, seed=seed)


@register_method("lime", "LIME (supervoxels)", cost="expensive", needs_gradients=False, box="black",
                 native_video=True, bounds={**BOUNDS, "kernel_width": (0.01, 10.0)}, work=_passes)
def lime(model, video, target, *, n_segments: int = N_SEGMENTS, n_samples: int = N_SAMPLES,
         fill: Fill = "temporal_mean", kernel_width: float = 0.25, batch_size: int = 16, seed: int = 0):
    """A linear model of the score fitted near the clip: how much keeping each space-time region raises it.

    The clip is cut into about `n_segments` supervoxels (3-D SLIC, supervoxels.py); the model
    scores `n_samples` copies with each supervoxel kept with probability 1/2 and the rest
    replaced by the `fill` ("temporal_mean" or "grey", as kernel_shap); captum's Lime fits a
    ridge regression weighted towards copies close to the clip (cosine distance, `kernel_width`;
    Ribeiro et al. 2016, as lime_image; in video: REVEX's Video LIME). A voxel's relevance is its
    supervoxel's coefficient / its size (logits per voxel; the sign kept). Seeded by `seed`.
    Cost as kernel_shap; Spearman across seeds 0.90 on c3d_small (r2plus1d_small 0.69), the 5
    largest the same for every seed (module docstring). Shapes: video (N, C, T, H, W) ->
    (N, T, H, W), float like the video. MethodError for fewer than 2 supervoxels or a bad option.
    """
    return _explain(model, video, target, "lime", n_segments, n_samples=n_samples, fill=fill,
                    batch_size=batch_size, seed=seed, kernel_width=kernel_width)


# ---- stability across seeds -------------------------------------------------------------------

@dataclass(frozen=True)
class Stability:
    """How much a seeded method's supervoxel attributions depend on its seed.

    attributions  (S, M): one row per seed
    spearman      Spearman's rank correlation of each pair of seeds, in pair order (0,1), (0,2), ...
    """

    seeds: tuple[int, ...]
    attributions: np.ndarray
    spearman: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.spearman))

    @property
    def worst(self) -> float:
        return float(np.min(self.spearman))

    def top_agreement(self, k: int = 5) -> float:
        """The share of the k supervoxels with the largest |attribution| that every seed ranks in its
        top k: 1.0 when all seeds name the same k. Spearman weighs every rank alike, and most
        supervoxels of a clip hold almost nothing, so their order among themselves is the seeds'
        noise; this says whether the few that matter are found by every seed."""
        tops = [set(np.argsort(-np.abs(row))[:k]) for row in self.attributions]
        return len(set.intersection(*tops)) / min(k, self.attributions.shape[1])


def seed_stability(model, clip: torch.Tensor, target: int, method: str = "kernel_shap",
                   seeds: tuple[int, ...] = (0, 1, 2), **options) -> Stability:
    """The same clip explained with each seed: Spearman of the supervoxel attributions between seeds.

    `clip` (1, C, T, H, W) normalised; `method` "kernel_shap" or "lime"; `options` those of the
    method (n_segments, n_samples, fill, batch_size, kernel_width; not seed), checked as
    run_method checks them. One segmentation (deterministic) for all seeds; len(seeds) x
    n_samples forward passes. Raises MethodError for fewer than 2 seeds or a bad option.
    """
    from scipy.stats import spearmanr

    from .options import validate_options
    from .registry import get_method

    if method not in ESTIMATORS:
        raise MethodError(f"seed_stability: method must be one of {', '.join(ESTIMATORS)}, got {method!r}")
    if len(seeds) < 2 or "seed" in options:
        raise MethodError("seed_stability: give two or more seeds in `seeds` (and no `seed` option)")
    info = get_method(method)
    options = {**info.options, **validate_options(info, options, tuple(clip.shape))}
    options.pop("seed")
    labels = clip_supervoxels(model, clip[0], options.pop("n_segments"))  # (T, H, W)
    rows = np.stack([supervoxel_attributions(model, clip, target, labels, estimator=method, seed=s,
                                             **options).numpy() for s in seeds])  # (S, M)
    pairs = [(i, j) for i in range(len(seeds)) for j in range(i + 1, len(seeds))]
    rho = tuple(float(spearmanr(rows[i], rows[j])[0]) for i, j in pairs)
    return Stability(tuple(seeds), rows, rho)
