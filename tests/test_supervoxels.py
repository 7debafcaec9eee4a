"""Supervoxels and the removal methods on them (KernelSHAP, LIME): segmentation, identities, seeds.

The registry-wide contract (shapes, hooks, grad mode, batching, errors) covers kernel_shap and
lime in tests/test_methods.py; here one identity per method and the segmentation's own promises.

Tolerances. The linear model here has integer weights and integer pixels, and T = 8 frames, so a
temporal-mean fill is a multiple of 1/8 and every score f(z) is a multiple of 1/8 below 2**21 in
size: exact in float32 (captum casts the scores to float32) and in float64. The only rounding
left is the float64 least-squares solve, backward stable, with an error of at most about
kappa * S * M * 2**-53 of the largest attribution for S samples, M supervoxels and a condition
number kappa <= 1e4 (weights 1 and captum's 1e6 for the clip and the empty set): 2e-9 here.
1e-7 leaves a margin of 50; a wrong fill, supervoxel or sign is off by O(1) of it.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch
from torch import nn

from xai_core.data.synthetic import make_dataset
from xai_core.errors import MethodError
from xai_core.methods import run_method
from xai_core.methods import supervoxels as sv
from xai_core.methods import surrogates
from xai_core.spec import InputSpec
from xai_core.video.clip import to_tensor


class IntegerLinear(nn.Module):
    """logit_k = sum over voxels of w_k * x with integer weights, computed in float64."""

    def __init__(self, shape, classes: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randint(-3, 4, (classes, *shape), generator=g).double())

    def forward(self, x):
        return torch.einsum("ncthw,kcthw->nk", x.double(), self.w).to(x.dtype)


class Quadratic(IntegerLinear):
    """logit_k = (w_k . x)^2 / 1000: every pair of supervoxels interacts, so a finite sample is not exact."""

    def forward(self, x):
        return super().forward(x) ** 2 / 1000


def integer_clip(shape=(1, 3, 8, 16, 16), seed: int = 0) -> torch.Tensor:
    """Integer pixels -4..4 in flat blocks of 2 x 4 x 4 voxels (regions for SLIC to find; on pure
    noise its connectivity step merges the fragments into a handful), float64."""
    N, C, T, H, W = shape
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(-4, 5, (N, C, -(-T // 2), -(-H // 4), -(-W // 4)), generator=g).double()
    x = blocks.repeat_interleave(2, 2).repeat_interleave(4, 3).repeat_interleave(4, 4)
    return x[:, :, :T, :H, :W].contiguous()


def exact_attributions(model, x, target: int, labels: torch.Tensor, fill: str) -> torch.Tensor:
    """w . (x - fill) summed over each supervoxel: (M,) float64."""
    w = model.w.detach()[target]                                       # (C, T, H, W)
    wx = (w * (x[0] - surrogates.removed_fill(x, fill)[0])).sum(0)     # (T, H, W)
    return torch.bincount(labels.reshape(-1), wx.reshape(-1), int(labels.max()) + 1)


def per_supervoxel(relevance: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """A map's sum over each supervoxel: (T, H, W) -> (M,)."""
    return torch.bincount(labels.reshape(-1), relevance.reshape(-1), int(labels.max()) + 1)


def assert_exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to the least-squares solve's float64 rounding (module docstring)."""
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-7 * float(expected.abs().max()))


# ---- segmentation ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_frames() -> np.ndarray:
    """One procedural clip as SLIC sees it: (8, 64, 64, 3) float in [0, 1]."""
    return make_dataset(1, seed=0, frames=8).clips[0].astype(np.float32) / 255


def test_supervoxels_cover_every_voxel_once_with_consecutive_connected_labels(synthetic_frames):
    labels = sv.slic_supervoxels(synthetic_frames, 40)
    assert labels.shape == synthetic_frames.shape[:3] and labels.dtype == np.int16
    M = int(labels.max()) + 1
    assert np.array_equal(np.unique(labels), np.arange(M)) and 20 <= M <= 40   # about what was asked
    for m in range(M):                                                 # each one a single 3-D piece
        _, pieces = scipy.ndimage.label(labels == m)                   # face-connected (6-neighbours)
        assert pieces == 1, f"supervoxel {m} is in {pieces} pieces"


def test_supervoxels_are_deterministic_cached_and_read_only(synthetic_frames):
    sv.CACHE.clear()
    first = sv.slic_supervoxels(synthetic_frames, 30)
    assert sv.slic_supervoxels(synthetic_frames.copy(), 30) is first   # same pixels: the cached array
    assert not first.flags.writeable
    sv.CACHE.clear()
    assert np.array_equal(sv.slic_supervoxels(synthetic_frames, 30), first)
    assert sv.slic_supervoxels(synthetic_frames, 31) is not first      # other parameters, other entry


def test_time_spacing_shortens_supervoxels_in_time():
    """A frame weighed as more pixels: the supervoxels last fewer frames (of 16)."""
    frames = make_dataset(1, seed=0).clips[0].astype(np.float32) / 255            # (16, 64, 64, 3)

    def frames_per_supervoxel(spacing):
        labels = sv.slic_supervoxels(frames, 100, time_spacing=spacing)
        return np.mean([len(np.unique(np.nonzero(labels == m)[0])) for m in range(labels.max() + 1)])
    assert frames_per_supervoxel(4.0) < frames_per_supervoxel(1.0) < frames_per_supervoxel(0.25)


@pytest.mark.parametrize("channels", ["RGB", "BGR"])
def test_model_pixels_undo_the_normalisation(channels):
    spec = InputSpec(4, 32, 32, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), channels)
    frames = make_dataset(1, seed=1, frames=4, size=32).clips[0]                 # (T, H, W, 3) uint8 RGB

    class Model(nn.Module):
        pass
    model = Model()
    model.spec = spec
    pixels, rgb = sv.model_pixels(model, to_tensor(frames, spec))
    np.testing.assert_allclose(pixels, frames / 255, atol=1e-6)                   # float32 rounding
    assert rgb


def test_spread_shares_each_value_over_its_voxels():
    labels = torch.tensor([[[0, 0, 1], [2, 2, 2]]])                              # (1, 2, 3): sizes 2, 1, 3
    values = torch.tensor([4.0, -1.0, 6.0], dtype=torch.float64)
    relevance = sv.spread(values, labels)
    assert torch.equal(relevance, torch.tensor([[[2.0, 2.0, -1.0], [2.0, 2.0, 2.0]]], dtype=torch.float64))
    assert torch.equal(per_supervoxel(relevance, labels), values)


def test_alignment_is_the_iou_of_the_best_union():
    labels = np.repeat(np.arange(4), 4).reshape(1, 4, 4)                        # rows 0..3
    mask = labels < 2
    assert sv.alignment(labels, mask) == 1.0                                    # a union of supervoxels
    mask[0, 2, :2] = True                                                       # half of row 2: taken
    assert sv.alignment(labels, mask) == 10 / 12
    mask = np.zeros_like(mask)
    mask[0, 0, 0] = True                                                        # 1/4 of a row: not taken
    assert sv.alignment(labels, mask) == 0.0
    assert np.isnan(sv.alignment(labels, np.zeros_like(mask)))


# ---- identities --------------------------------------------------------------------------------

@pytest.mark.parametrize("fill", ["temporal_mean", "grey"])
def test_kernel_shap_of_a_linear_model_is_w_dot_x_minus_fill_per_supervoxel(fill):
    """Exact for a linear model: the score is additive over supervoxels, and the weighted least
    squares fit of an additive function is the function once the samples span the supervoxels."""
    x = integer_clip()
    model = IntegerLinear(x.shape[1:])
    relevance = run_method("kernel_shap", model, x, torch.tensor([1]), n_segments=16, n_samples=120,
                           fill=fill, batch_size=32)                               # (1, T, H, W) float64
    labels = sv.clip_supervoxels(model, x[0], 16)
    expected = exact_attributions(model, x, 1, labels, fill)
    assert_exact(per_supervoxel(relevance[0], labels), expected)
    assert_exact(relevance[0], sv.spread(expected, labels))                       # value / size per voxel
    with torch.no_grad():                                                          # efficiency
        gap = model(x)[0, 1] - model(surrogates.removed_fill(x, fill))[0, 1]
    assert_exact(relevance.sum().view(1), gap.view(1))


def test_lime_without_its_ridge_is_exact_and_with_it_keeps_the_signs(monkeypatch):
    """Any positive weights recover an additive score exactly; LIME's ridge (alpha 1 against a total
    weight of about 0.45 per sample, ~180 here) shrinks each coefficient by a few percent at most."""
    x = integer_clip(seed=1)
    model = IntegerLinear(x.shape[1:])
    options = dict(n_segments=16, n_samples=400, batch_size=50)
    labels = sv.clip_supervoxels(model, x[0], 16)
    expected = exact_attributions(model, x, 2, labels, "temporal_mean")
    ridged = per_supervoxel(run_method("lime", model, x, torch.tensor([2]), **options)[0], labels)
    monkeypatch.setattr(surrogates, "LIME_RIDGE", 0.0)
    exact = per_supervoxel(run_method("lime", model, x, torch.tensor([2]), **options)[0], labels)
    assert_exact(exact, expected)
    big = expected.abs() > 0.05 * expected.abs().max()
    assert big.sum() >= 3 and torch.equal(ridged[big].sign(), expected[big].sign())
    assert (ridged - expected).abs().max() <= 0.05 * expected.abs().max()


def test_the_seed_decides_the_draws_and_nothing_else():
    """The same seed: the same map, whatever the batch size; another seed: another map (a nonlinear
    model, too few samples to converge)."""
    x, t = integer_clip(), torch.tensor([0])
    net = Quadratic(x.shape[1:])
    for method in ("kernel_shap", "lime"):
        a = run_method(method, net, x, t, n_segments=16, n_samples=30, seed=5, batch_size=4)
        b = run_method(method, net, x, t, n_segments=16, n_samples=30, seed=5, batch_size=30)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9 * float(a.abs().max()))   # float64, other batches
        c = run_method(method, net, x, t, n_segments=16, n_samples=30, seed=6, batch_size=4)
        assert (a - c).abs().max() > 0.01 * a.abs().max()


# ---- stability -----------------------------------------------------------------------------------

def test_stability_of_an_exact_method_is_one():
    x = integer_clip()
    model = IntegerLinear(x.shape[1:])
    s = surrogates.seed_stability(model, x, 0, "kernel_shap", seeds=(0, 1, 2), n_segments=16, n_samples=60)
    assert s.attributions.shape[0] == 3 and s.spearman == pytest.approx((1.0, 1.0, 1.0))
    assert s.mean == pytest.approx(1.0) and s.worst == pytest.approx(1.0) and s.top_agreement(3) == 1.0


def test_top_agreement_counts_the_supervoxels_every_seed_ranks_first():
    rows = np.array([[5.0, -4.0, 0.1, 0.0], [5.5, 0.2, -5.0, 0.0], [-6.0, 3.0, 0.0, 1.0]])
    s = surrogates.Stability((0, 1, 2), rows, (0.0, 0.0, 0.0))
    assert s.top_agreement(1) == 1.0                        # supervoxel 0 is the largest |value| thrice
    assert s.top_agreement(2) == 0.5                        # {0, 1}, {0, 2}, {0, 1}: only 0 in all


def test_stability_measures_the_spread_between_seeds():
    x = integer_clip()
    net = Quadratic(x.shape[1:])
    s = surrogates.seed_stability(net, x, 1, "lime", seeds=(3, 3, 4), n_segments=16, n_samples=20)
    assert np.array_equal(s.attributions[0], s.attributions[1]) and s.spearman[0] == pytest.approx(1.0)
    assert all(-1 <= r <= 1 for r in s.spearman) and s.worst < 1.0
    with pytest.raises(MethodError, match="two or more seeds"):
        surrogates.seed_stability(net, x, 1, "lime", seeds=(0,))
    with pytest.raises(MethodError, match="method must be one of"):
        surrogates.seed_stability(net, x, 1, "occlusion")
    with pytest.raises(MethodError, match="n_samples"):
        surrogates.seed_stability(net, x, 1, "lime", n_samples=1)


# ---- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
@pytest.mark.parametrize("options", [dict(n_samples=1), dict(n_segments=1), dict(fill="black"),
                                     dict(batch_size=0), dict(seed=-1), dict(n_samples=2 ** 18)])
def test_bad_options_are_method_errors(method, options):
    x = integer_clip()
    with pytest.raises(MethodError, match=next(iter(options))):
        run_method(method, IntegerLinear(x.shape[1:]), x, torch.tensor([0]), **options)


def test_lime_kernel_width_is_bounded():
    x = integer_clip()
    with pytest.raises(MethodError, match="kernel_width"):
        run_method("lime", IntegerLinear(x.shape[1:]), x, torch.tensor([0]), kernel_width=0.0)


def test_a_clip_with_one_supervoxel_is_a_method_error():
    x = integer_clip((1, 3, 2, 4, 4))
    with pytest.raises(MethodError, match="1 supervoxel; need at least 2"):
        run_method("kernel_shap", IntegerLinear(x.shape[1:]), x, torch.tensor([0]), n_segments=2)
