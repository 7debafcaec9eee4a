"""Space or time (xai_core.motion.split): parts sum to the map exactly, the variants' defining
identities, and clear errors.

Tolerance of the completeness identity on the linear model: the model computes w . x in float64
and rounds each logit once to float32 (relative 2^-24 ~ 6e-8); integrated gradients of a linear
model is exact at any step count (the gradient is constant along the path), so sum(R) differs
from f(x) - f(0) only by float32 roundings of the relevance (w * x per voxel, summed over 3
channels) and the sum over ~5e4 voxels done in float64 here: 1e-5 of sum|w * x| covers these
with a margin of ~100, while a wrong identity (e.g. f(x) - f(0) instead of f(x) - f(static x))
is off by O(1) of it. On c3d_small the identity holds up to integrated gradients' own error,
which run_method bounds by `tolerance` (relative to each clip's score change) per clip.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_core.data.synthetic import make_dataset
from xai_core.errors import MethodError
from xai_core.methods.registry import run_method
from xai_core.models.loader import load_model
from xai_core.models.train import GT_SEED, batches
from xai_core.motion import counterfactual
from xai_core.motion.split import (Split, exact_parts, get_split, list_splits, sobel_t,
                                   split_relevance)

METHODS = ["grad_cam", "saliency", "integrated_gradients"]
FAST = {"integrated_gradients": dict(steps=8, max_steps=8, tolerance=1.0)}


@pytest.fixture(scope="module")
def c3d():
    return load_model("c3d_small")


@pytest.fixture(scope="module")
def clip_and_label():
    data = make_dataset(2, GT_SEED)                    # a walk_left clip (motion) and a walk_right
    x, y = next(batches(data.clips, data.labels, 2, np.random.default_rng(0), augment=False))
    return x[:1], int(y[0])                            # (1, C, T, H, W), its true class


def run_split(name, model, video, method, target):
    relevance = run_method(method, model, video, torch.tensor([target]), **FAST.get(method, {}))[0]
    return split_relevance(name, relevance, model=model, video=video, method=method, target=target,
                           options=FAST.get(method, {}))


# ---------------------------------------------------------------------------- registry-wide


def test_registry_lists_both_variants():
    names = [s.name for s in list_splits()]
    assert {"selective", "counterfactual"} <= set(names)
    assert get_split("counterfactual").needs_model and not get_split("selective").needs_model
    assert all(s.description for s in list_splits())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("variant", [s.name for s in list_splits()])
def test_parts_sum_to_the_map_exactly(variant, method, c3d, clip_and_label):
    video, target = clip_and_label
    s = run_split(variant, c3d, video, method, target)
    assert s.total.dtype == s.spatial.dtype == s.temporal.dtype == np.float64
    assert s.total.shape == s.spatial.shape == s.temporal.shape == video.shape[2:]
    assert np.array_equal(s.spatial + s.temporal, s.total)
    assert 0.0 <= s.temporal_share <= 1.0
    v = s.voxel_share()
    assert v.shape == s.total.shape and np.isfinite(v).all() and v.min() >= 0 and v.max() <= 1
    d = s.to_dict()
    assert d["variant"] == variant and d["temporal_share"] == s.temporal_share
    import json
    json.dumps(d)                                      # JSON-ready, no arrays
    assert all(not isinstance(x, (list, np.ndarray)) or len(x) == 3 for x in d.values())


def test_exact_parts_keeps_float32_parts_exactly():
    """float32 maps (every method's): the float64 difference of two float32 values whose
    magnitudes differ by less than 2^28 is exact, so nothing is rounded (here up to 10^6 ~ 2^20)."""
    rng = np.random.default_rng(1)
    total = (rng.choice([-1, 1], 50000) * 10.0 ** rng.uniform(-3, 3, 50000)).astype(np.float32)
    spatial = (rng.choice([-1, 1], 50000) * 10.0 ** rng.uniform(-3, 3, 50000)).astype(np.float32)
    spatial[:1000] = 0.0
    total[1000:2000] = 0.0
    s, m = exact_parts(total, spatial)
    assert np.array_equal(s + m, total) and np.array_equal(s, spatial.astype(np.float64))


def test_exact_parts_holds_for_any_float64():
    """Arbitrary float64 parts, magnitudes 1e-30..1e30: the identity always holds; where the
    spatial part is no larger than the map it moves by at most a rounding (a part much larger
    than the map, cancelling with the other, may not fit float64 next to it: see exact_parts)."""
    rng = np.random.default_rng(2)
    total = rng.normal(size=20000) * 10.0 ** rng.integers(-30, 30, 20000)
    spatial = rng.normal(size=20000) * 10.0 ** rng.integers(-30, 30, 20000)
    s, m = exact_parts(total, spatial)
    assert np.array_equal(s + m, total)
    big, small = np.maximum(np.abs(spatial), np.abs(total)), np.minimum(np.abs(spatial), np.abs(total))
    comparable = (small >= big * 2.0 ** -40) & (np.abs(spatial) <= np.abs(total))
    assert comparable.sum() > 1000
    assert (np.abs(s - spatial) <= 2.0 ** -51 * big)[comparable].all()


# ----------------------------------------------------------------------------------- selective


def test_selective_static_map_has_no_temporal_part():
    frame = np.random.default_rng(0).normal(size=(1, 12, 12))
    s = split_relevance("selective", np.repeat(frame, 8, 0), k=0.0)
    assert not s.temporal.any() and s.temporal_share == 0.0
    assert np.array_equal(s.spatial, s.total)


def test_selective_marks_where_the_map_changes_over_time():
    r = np.zeros((8, 16, 16))
    r[:, 2:6, 2:6] = 1.0                               # a still blob: spatial
    for t in range(8):
        r[t, 10:14, t:t + 4] = 1.0                     # a blob moving right: temporal at its edges
    s = split_relevance("selective", r, k=1.0)
    assert not s.temporal[:, 2:6, 2:6].any()
    assert s.temporal[:, 10:14].any() and 0 < s.temporal_share < 1
    assert s.params == {"k": 1.0}


def test_an_empty_map_splits_into_nothing():
    s = split_relevance("selective", np.zeros((4, 5, 5), np.float32))
    assert not s.has_relevance and s.temporal_share == 0.0
    assert (s.voxel_share() == 0.5).all()              # "undecided": drawn with zero opacity
    r = np.zeros((4, 5, 5))
    r[1, 2, 2], r[2, 2, 2] = 1.0, -3.0
    v = Split.from_parts(r, np.where(r > 0, r, 0), "by hand").voxel_share()
    assert v[1, 2, 2] == 0.0 and v[2, 2, 2] == 1.0 and v[0, 0, 0] == 0.5


def test_sobel_t_is_a_central_difference_in_time():
    t = np.arange(6, dtype=np.float64)[:, None, None] * np.ones((6, 5, 5))
    d = sobel_t(3.0 * t)                               # a ramp of 3 per frame
    assert np.allclose(d[1:-1], 3.0) and np.allclose(d[[0, -1]], 1.5)   # edges replicated


@pytest.mark.parametrize("method", METHODS)
def test_selective_on_a_static_clip_explained_by_a_per_frame_model(method, clip_and_label):
    """frame2d_pool runs one 2-D CNN per frame and pools: on a static clip every frame's map is
    the same, so the map is constant in time and has no temporal part, at any k."""
    video, target = clip_and_label
    model = load_model("frame2d_pool")
    still = counterfactual.static(video)
    r = run_method(method, model, still, torch.tensor([target]), **FAST.get(method, {}))[0].numpy()
    assert np.abs(r).sum() > 0 and (r == r[:1]).all()
    for k in (0.0, 1.0, 3.0):
        s = split_relevance("selective", r, k=k)
        assert not s.temporal.any() and s.temporal_share == 0.0


# ------------------------------------------------------------------------------ counterfactual


class LinearVideo(nn.Module):
    """logit_k = sum over voxels of w_k * x + b_k, in float64 inside (exact up to one rounding)."""

    def __init__(self, shape, classes: int = 3, pooled: bool = False):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        w = torch.randn(classes, *shape, generator=g)
        if pooled:                                     # the same weights on every frame: order-blind
            w = w[:, :, :1].expand(-1, -1, shape[1], -1, -1).clone()
        self.w = nn.Parameter(w)
        self.b = nn.Parameter(torch.randn(classes, generator=g))

    def forward(self, x):
        return (torch.einsum("ncthw,kcthw->nk", x.double(), self.w.double()) + self.b.double()).to(x.dtype)


class MotionEnergy(nn.Module):
    """logit = sum of w * (x_t - x_{t-1})^2: sees only frame differences (blind to a static clip)."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.rand(2, shape[0], shape[1] - 1, *shape[2:],
                                         generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        d = (x[:, :, 1:] - x[:, :, :-1]) ** 2                       # (N, C, T-1, H, W)
        return torch.einsum("ncthw,kcthw->nk", d, self.w)


def moving_clip(shape=(3, 8, 16, 16), seed=0):
    return torch.randn(1, *shape, generator=torch.Generator().manual_seed(seed))


def test_counterfactual_of_a_static_clip_has_no_temporal_part(c3d, clip_and_label):
    video, target = clip_and_label
    still = counterfactual.static(video)
    for method in METHODS:
        s = run_split("counterfactual", c3d, still, method, target)
        assert not s.temporal.any(), method
        assert s.temporal_share == 0.0


def test_counterfactual_of_an_order_blind_appearance_model_is_all_spatial():
    x = moving_clip()                                  # every frame different
    model = LinearVideo(x.shape[1:], pooled=True)      # its saliency is w, whatever the clip
    r = run_method("saliency", model, x, torch.tensor([1]))[0]
    s = split_relevance("counterfactual", r, model=model, video=x, method="saliency", target=1)
    assert not s.temporal.any() and s.temporal_share == 0.0


def test_counterfactual_of_a_motion_only_model_is_all_temporal():
    x = moving_clip()
    model = MotionEnergy(x.shape[1:])                  # zero gradient on a static clip
    r = run_method("saliency", model, x, torch.tensor([0]))[0]
    s = split_relevance("counterfactual", r, model=model, video=x, method="saliency", target=0)
    assert not s.spatial.any() and s.temporal_share == 1.0
    assert np.array_equal(s.temporal, r.double().numpy())


def test_counterfactual_with_integrated_gradients_sums_to_what_motion_adds():
    """sum(R_temporal) = f(x) - f(static x) for a complete method, exactly for a linear model."""
    x = moving_clip()
    model = LinearVideo(x.shape[1:])
    target = 2
    r = run_method("integrated_gradients", model, x, torch.tensor([target]), steps=4)[0]
    s = split_relevance("counterfactual", r, model=model, video=x, method="integrated_gradients",
                        target=target, options={"steps": 4})
    with torch.no_grad():
        fx, fs = (float(model(v)[0, target].double()) for v in (x, counterfactual.static(x)))
        f0 = float(model(torch.zeros_like(x))[0, target])
    wx = (model.w[target].detach().double() * x[0].double()).sum(0)          # (T, H, W) w . x
    tol = 1e-5 * float(wx.abs().sum())
    assert abs(s.temporal.sum() - (fx - fs)) <= tol
    assert abs(s.spatial.sum() - (fs - f0)) <= tol
    assert abs(fx - fs) > 100 * tol                                           # not trivially 0
    assert s.to_dict()["sum_temporal"] == pytest.approx(s.temporal.sum())


def test_counterfactual_completeness_on_c3d_small(c3d, clip_and_label):
    """On the trained 3D CNN, up to integrated gradients' declared error (tolerance per clip)."""
    video, target = clip_and_label
    tol = 0.01
    opts = dict(steps=32, tolerance=tol)
    r = run_method("integrated_gradients", c3d, video, torch.tensor([target]), **opts)[0]
    s = split_relevance("counterfactual", r, model=c3d, video=video, method="integrated_gradients",
                        target=target, options=opts)
    with torch.no_grad():
        fx, fs, f0 = (float(c3d(v)[0, target]) for v in (video, counterfactual.static(video),
                                                           torch.zeros_like(video)))
    bound = tol * (abs(fx - f0) + abs(fs - f0)) + 1e-4
    assert abs(s.temporal.sum() - (fx - fs)) <= bound
    assert s.params["method"] == "integrated_gradients" and s.params["target"] == target


def test_counterfactual_target_defaults_to_the_prediction(c3d, clip_and_label):
    video, _ = clip_and_label
    with torch.no_grad():
        predicted = int(c3d(video).argmax(1)[0])
    r = run_method("grad_cam", c3d, video, torch.tensor([predicted]))[0]
    s = split_relevance("counterfactual", r, model=c3d, video=video[0], method="grad_cam")
    assert s.params["target"] == predicted
    by_label = split_relevance("counterfactual", r, model=c3d, video=video, method="grad_cam",
                               target=c3d.class_names[predicted])
    assert np.array_equal(by_label.temporal, s.temporal)


# ------------------------------------------------------------------------------------- errors


def test_errors_are_clear(c3d, clip_and_label):
    video, target = clip_and_label
    r = np.zeros(video.shape[2:])
    with pytest.raises(MethodError, match="unknown split variant 'nope'.*selective"):
        split_relevance("nope", r)
    with pytest.raises(MethodError, match=r"\(T, H, W\)"):
        split_relevance("selective", r[0])
    with pytest.raises(MethodError, match="not finite"):
        split_relevance("selective", np.full((2, 3, 3), np.nan))
    with pytest.raises(MethodError, match="unknown parameter"):
        split_relevance("selective", r, sigma=2)
    with pytest.raises(MethodError, match="k must be"):
        split_relevance("selective", r, k=-1)
    with pytest.raises(MethodError, match="runs the model"):
        split_relevance("counterfactual", r, method="saliency")
    with pytest.raises(MethodError, match="video must be"):
        split_relevance("counterfactual", r[:8], model=c3d, video=video, method="saliency", target=target)
    with pytest.raises(MethodError, match="unknown method"):
        split_relevance("counterfactual", r, model=c3d, video=video, method="nope", target=target)
    with pytest.raises(MethodError, match="differ in shape"):
        Split.from_parts(r, r[:8], "x")


# ------------------------------------------------------------------------------------ reversed


def test_reversed_of_an_order_blind_model_is_all_spatial():
    """The same weights on every frame: the reversed clip's map, put back in order, is the map."""
    x = moving_clip()
    model = LinearVideo(x.shape[1:], pooled=True)
    for method, opts in (("saliency", {}), ("integrated_gradients", {"steps": 4})):
        r = run_method(method, model, x, torch.tensor([1]), **opts)[0]
        s = split_relevance("reversed", r, model=model, video=x, method=method, target=1, options=opts)
        assert not s.temporal.any() and s.temporal_share == 0.0, method


@pytest.mark.parametrize("method", ["grad_cam", "saliency"])
def test_reversed_of_frame2d_pool_is_spatial_up_to_rounding(method, clip_and_label):
    """frame2d_pool cannot see the order of frames; its pooling sums them in another order, so
    the temporal part is float32 rounding (~1e-8 of the map), not structure."""
    video, target = clip_and_label
    model = load_model("frame2d_pool")
    r = run_method(method, model, video, torch.tensor([target]))[0]
    s = split_relevance("reversed", r, model=model, video=video, method=method, target=target)
    assert s.temporal_share < 1e-6 and np.abs(s.temporal).max() < 1e-5 * np.abs(s.total).max()
    c3d = run_split("reversed", load_model("c3d_small"), video, method, target)
    assert c3d.temporal_share > 0.05                   # a 3D CNN's map does depend on the order


def test_reversed_with_integrated_gradients_sums_to_what_the_order_adds():
    x = moving_clip()
    model = LinearVideo(x.shape[1:])
    r = run_method("integrated_gradients", model, x, torch.tensor([0]), steps=4)[0]
    s = split_relevance("reversed", r, model=model, video=x, method="integrated_gradients", target=0,
                        options={"steps": 4})
    with torch.no_grad():
        fx, fr = (float(model(v)[0, 0].double()) for v in (x, counterfactual.reverse(x)))
    tol = 1e-5 * float((model.w[0].detach().double() * x[0].double()).sum(0).abs().sum())
    assert abs(s.temporal.sum() - (fx - fr)) <= tol and abs(fx - fr) > 100 * tol


def test_split_batch_equals_one_clip_at_a_time(c3d):
    from xai_core.motion.split import split_batch
    data = make_dataset(3, GT_SEED)
    x, y = next(batches(data.clips, data.labels, 3, np.random.default_rng(0), augment=False))
    r = run_method("grad_cam", c3d, x, y)
    for variant in ("selective", "counterfactual", "reversed"):
        many = split_batch(variant, r, model=c3d, video=x, method="grad_cam", target=y.tolist())
        for i, s in enumerate(many):
            one = split_relevance(variant, r[i], model=c3d, video=x[i:i + 1], method="grad_cam", target=int(y[i]))
            assert np.allclose(s.temporal, one.temporal, rtol=1e-5, atol=1e-7 * np.abs(s.total).max())
            assert s.params.get("target", int(y[i])) == int(y[i])
    with pytest.raises(MethodError, match="one target per map"):
        split_batch("counterfactual", r, model=c3d, video=x, method="grad_cam", target=[0])
