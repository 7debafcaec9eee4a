"""Attribution methods: the contract across the whole registry, then one identity per method.

Contract tests are parametrized over `list_methods()`, so a newly registered method is covered
the moment it is registered (with its defaults, or the cheap options in FAST).

Tolerances. Where two float32 computations that sum in different orders are compared (a batch
against clips one by one, different batch sizes), the comparison runs in float64, where the
rounding error of a reduction over K terms is at most K * 2**-53 ~ 1e-11 of the sum of |terms|
even for K = 1e5 (Higham's worst-case bound): 1e-9 of the largest value is then a safe margin,
and a batching mistake (a wrong clip, target or noise) is off by O(1) of it. The linear-model
identities compute w . x in float64 inside the model, so the only float32 error left is the
rounding of each logit and of the method's few arithmetic steps, bounded by `float32_atol`.
Comparisons of the very same operations (ours vs captum, saliency vs autograd) keep
torch.testing's float32 defaults (rtol 1.3e-6, atol 1e-5).
"""
from __future__ import annotations

import functools
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xai_core.data.synthetic import CLASSES, make_dataset
from xai_core.errors import MethodError
from xai_core.methods import get_method, list_methods, run_method
from xai_core.methods.registry import COSTS
from xai_core.metrics.faithfulness import completeness_gap
from xai_core.models.base import ModelInfo, VideoModel
from xai_core.models.registry import DEFAULT_SPEC, bundled, bundled_names
from xai_core.spec import InputSpec
from xai_core.video.clip import to_tensor

ARCHS = ["c3d_small", "cnn_lstm"]                  # a 3D CNN and a per-frame CNN + recurrent head
SMALL = InputSpec(8, 64, 64, DEFAULT_SPEC.mean, DEFAULT_SPEC.std)  # the real spec: 16 frames
# (the per-frame nets read the whole 8 x 8 feature map, so they need the real 64 x 64 frames)
FAST = {                                           # cheap options for the contract tests
    "smoothgrad": dict(samples=3, batch_size=2),
    "integrated_gradients": dict(steps=4, max_steps=4, batch_size=4),
    "occlusion": dict(window=(4, 16, 16), stride=(4, 16, 16), batch_size=3),
    "temporal_occlusion": dict(segment=2, batch_size=3),
    "kernel_shap": dict(n_segments=12, n_samples=10, batch_size=4),
    "lime": dict(n_segments=12, n_samples=10, batch_size=4),
}
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                reason="no CUDA device"))]
METHODS = [m.name for m in list_methods()]


# ---- fixtures --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def clips(spec: InputSpec = SMALL, n: int = 2) -> torch.Tensor:
    """n synthetic clips, normalised: (n, 3, T, H, W)."""
    data = make_dataset(n, seed=0, frames=spec.frames, size=spec.height)
    return torch.stack([to_tensor(c, spec) for c in data.clips])


def video_model(arch: str, spec: InputSpec = SMALL, seed: int = 0, calibrated: bool = False) -> VideoModel:
    """A randomly initialised bundled net in eval mode, wrapped as a VideoModel."""
    torch.manual_seed(seed)
    net = bundled(arch).factory(len(CLASSES))
    if calibrated:
        calibrate(net, clips(spec, 4))
    info = ModelInfo(arch, list(CLASSES), spec, cam_layer=net.cam_layer)
    return VideoModel(net, info).eval()


@functools.lru_cache(maxsize=None)
def cached_model(arch: str, device: str = "cpu") -> VideoModel:
    return video_model(arch).to(device)


def calibrate(net: nn.Module, x: torch.Tensor) -> None:
    """Give batch norm real statistics and random biases, as training would.

    A freshly initialised zoo net (bias-free convolutions, identity batch norm, ReLU, pooling)
    is positively homogeneous, so f(a x) is linear in a and integrated gradients from a zero
    baseline are exact with any step count: a completeness test on it proves nothing.
    """
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None                       # cumulative average over the calibration pass
            m.reset_running_stats()
            with torch.no_grad():
                m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=g))
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()


def hooks_left(model: nn.Module) -> list[str]:
    """Every hook still registered on any module, any parameter, or globally."""
    left = [f"{name or 'model'}.{attr}" for name, m in model.named_modules()
            for attr, value in vars(m).items() if "hook" in attr and isinstance(value, dict) and value]
    left += [f"{name}._backward_hooks" for name, p in model.named_parameters() if p._backward_hooks]
    glob = torch.nn.modules.module
    left += [attr for attr in dir(glob) if attr.startswith("_global") and "hook" in attr
             and isinstance(getattr(glob, attr), dict) and getattr(glob, attr)]
    return left


def targets(n: int, device="cpu") -> torch.Tensor:
    return torch.arange(n, device=device) % len(CLASSES)


def run(name: str, model, video, target, **options) -> torch.Tensor:
    return run_method(name, model, video, target, **{**FAST.get(name, {}), **options})


EPS32 = torch.finfo(torch.float32).eps                     # 2**-23; one rounding errs <= EPS32 / 2


def float32_atol(scale: float, roundings: int) -> float:
    """Bound on the error of `roundings` float32 roundings of values at most `scale` in size."""
    return roundings * EPS32 / 2 * scale


def assert_close64(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to float64 rounding: 1e-9 of the largest value (see the module's docstring)."""
    assert actual.dtype == expected.dtype == torch.float64
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-9 * float(expected.abs().max()))


# ---- metadata --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", METHODS)
def test_metadata_is_listable(name):
    info = get_method(name)
    assert info.description and info.cost in COSTS and info.box in ("white", "black")
    assert info.needs_gradients == (info.box == "white")
    json.dumps(info.to_dict())                      # the CLI prints it as JSON
    assert set(FAST.get(name, {})) <= set(info.options), "FAST names an option the method lacks"


def test_unknown_method_and_option_are_loud():
    model, x = cached_model("c3d_small"), clips()
    with pytest.raises(MethodError, match="unknown method"):
        run_method("no_such_method", model, x, targets(2))
    with pytest.raises(MethodError, match="unknown option"):
        run_method("saliency", model, x, targets(2), samples=3)


# ---- the contract, across the registry -------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", METHODS)
def test_contract(name, arch, device):
    model = cached_model(arch, device)
    x = clips().to(device)
    before = x.clone()
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    relevance = run(name, model, x, targets(2, device))
    N, C, T, H, W = x.shape
    assert relevance.shape == (N, T, H, W)
    assert relevance.device == x.device and relevance.dtype == x.dtype
    assert torch.isfinite(relevance).all()
    assert not relevance.requires_grad
    assert torch.equal(x, before) and not x.requires_grad and x.grad is None
    assert {n: p.requires_grad for n, p in model.named_parameters()} == grads
    assert all(p.grad is None for p in model.parameters())
    assert not model.training and torch.is_grad_enabled() and torch.backends.cudnn.enabled
    assert hooks_left(model) == []


@pytest.mark.parametrize("name", METHODS)
def test_input_requires_grad_is_left_alone(name):
    model = cached_model("c3d_small")
    x = clips().clone().requires_grad_(True)
    run(name, model, x, targets(2))
    assert x.requires_grad and x.grad is None


@pytest.mark.parametrize("name", METHODS)
def test_runs_under_no_grad_and_keeps_it(name):
    model = cached_model("c3d_small")
    with torch.no_grad():
        relevance = run(name, model, clips(), targets(2))
        assert not torch.is_grad_enabled()
    assert relevance.abs().sum() > 0


EVAL_ONLY = {"lrp"}      # explains the eval-mode function (batch norm merged): refuses a training model


def test_train_mode_is_left_alone():
    model = video_model("c3d_small")
    model.train()
    for name in METHODS:
        if name in EVAL_ONLY:
            with pytest.raises(MethodError, match="is in training mode"):
                run(name, model, clips(), targets(2))
        else:
            run(name, model, clips(), targets(2))
        assert model.training and all(m.training for m in model.modules()), name


@functools.lru_cache(maxsize=None)
def model64(arch: str) -> VideoModel:
    """The random net of cached_model(arch), in float64."""
    return video_model(arch).double()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", METHODS)
def test_batched_equals_one_by_one(name, arch):
    """In float64: float32 sums in another order differ by ~1e-5 of the maximum (occlusion's score
    drops cancel most of the logits' digits), a size no float32 bound makes both safe and sharp."""
    model, x, t = model64(arch), clips().double(), targets(2)
    options = dict(window=(4, 32, 32), stride=(4, 32, 32)) if name == "occlusion" else {}  # 9 passes a clip
    together = run(name, model, x, t, **options)
    alone = torch.cat([run(name, model, x[i:i + 1], t[i:i + 1], **options) for i in range(2)])
    assert_close64(together, alone)


class Exploding(nn.Module):
    """Runs the whole net (the CAM layer included), then fails."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.cam_layer = f"net.{net.cam_layer}"

    def forward(self, x):
        self.net(x)
        raise RuntimeError("boom after the CAM layer")


@pytest.mark.parametrize("name", METHODS)
def test_no_hook_left_after_an_error(name):
    model = Exploding(bundled("c3d_small").factory(len(CLASSES)).eval())
    with pytest.raises(RuntimeError, match="boom"):
        run(name, model, clips(), targets(2))
    assert hooks_left(model) == [] and torch.is_grad_enabled()
    with torch.no_grad(), pytest.raises(RuntimeError, match="boom"):
        run(name, model, clips(), targets(2))
    assert hooks_left(model) == [] and torch.is_grad_enabled()


@pytest.mark.parametrize("name", METHODS)
def test_no_hook_left_after_an_rnn_error(name):
    """An error inside an RNN (where cuDNN is switched off) restores the switch and the hooks."""
    model = cached_model("cnn_lstm")
    lstm = next(m for m in model.modules() if isinstance(m, nn.LSTM))
    handle = lstm.register_forward_hook(lambda m, i, o: 1 / 0)
    try:
        with pytest.raises(ZeroDivisionError):
            run(name, model, clips(), targets(2))
    finally:
        handle.remove()
    assert hooks_left(model) == [] and torch.backends.cudnn.enabled and torch.is_grad_enabled()


def test_grad_cam_layer_errors_are_clear_and_leave_no_hook():
    model = cached_model("c3d_small")
    with pytest.raises(MethodError, match=r"\(N, C, T, H, W\)"):   # fails after the forward ran
        run_method("grad_cam", model, clips(), targets(2), layer="head")
    with pytest.raises(MethodError, match="no layer"):
        run_method("grad_cam", model, clips(), targets(2), layer="nope")
    plain = nn.Sequential(nn.Flatten(), nn.Linear(clips()[0].numel(), 8))
    with pytest.raises(MethodError, match="declares no CAM layer"):
        run_method("grad_cam", plain, clips(), targets(2))
    assert hooks_left(model) == [] and hooks_left(plain) == [] and torch.is_grad_enabled()


@pytest.mark.parametrize("name, options", [
    ("smoothgrad", dict(samples=0)), ("smoothgrad", dict(stdev=-1)),
    ("integrated_gradients", dict(baseline="white")), ("integrated_gradients", dict(tolerance=-1)),
    ("occlusion", dict(window=(4, 0, 16))), ("occlusion", dict(stride=(1, 2))),
    ("temporal_occlusion", dict(baseline="grey")), ("temporal_occlusion", dict(segment=0)),
    ("kernel_shap", dict(n_samples=1)), ("kernel_shap", dict(fill="black")),
    ("lime", dict(n_segments=0)), ("lime", dict(kernel_width=-0.5)),
    ("grad_cam_per_frame", dict(layer=3)),
])
def test_bad_options_are_method_errors(name, options):
    with pytest.raises(MethodError, match=next(iter(options))):
        run(name, cached_model("c3d_small"), clips(), targets(2), **options)


# ---- results that are not finite are errors, never results ----------------------------------

def poisoned(value: float = float("nan")) -> nn.Module:
    """A c3d_small net whose last layer's weights are `value`: NaN (a corrupt checkpoint) or inf."""
    net = bundled("c3d_small").factory(len(CLASSES)).eval()
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.fill_(value)
    return net


@pytest.mark.parametrize("name", METHODS)
def test_a_nan_model_is_a_method_error_naming_the_method(name):
    with pytest.raises(MethodError, match=rf"method '{name}': relevance is not finite"):
        run(name, poisoned(), clips(), targets(2))


@pytest.fixture
def scratch_registry(monkeypatch):
    """Register methods for one test only."""
    from xai_core.methods import registry

    registry._load_builtin()
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))


def test_infinite_relevance_is_a_method_error(scratch_registry):
    from xai_core.methods import register_method

    @register_method("overflowing", "Overflowing")
    def overflowing(model, video, target):
        """Relevance with one infinite voxel."""
        relevance = torch.zeros(video.shape[:1] + video.shape[2:])
        relevance[0, 0, 0, 0] = float("inf")
        return relevance

    with pytest.raises(MethodError, match=r"method 'overflowing': relevance is not finite "
                                          r"\(0 NaN and 1 infinite of 32,768 values\)"):
        run_method("overflowing", cached_model("c3d_small"), clips()[:1], targets(1))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_explain_refuses_a_model_whose_scores_are_not_finite(value):
    from xai_core import explain
    from xai_core.errors import ModelSpecError
    from xai_core.video.sample import clip_from_array

    model = VideoModel(poisoned(value), ModelInfo("poisoned", list(CLASSES), SMALL))
    clip = clip_from_array(make_dataset(1, seed=0, frames=8, size=64).clips[0], SMALL)
    with pytest.raises(ModelSpecError, match="model 'poisoned': its scores on this clip are not finite"):
        explain(model, clip, "saliency")


# ---- one identity per method -----------------------------------------------------------------

def test_saliency_is_the_gradient_magnitude():
    model, x, t = cached_model("c3d_small"), clips(), targets(2)
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf).gather(1, t[:, None]).sum(), leaf)
    torch.testing.assert_close(run("saliency", model, x, t), grad.abs().amax(1))  # the same operations


@pytest.mark.parametrize("arch", ARCHS)
def test_smoothgrad_without_noise_is_saliency(arch):
    """In float64: SmoothGrad batches (clip, sample) pairs differently from saliency's one batch."""
    model, x, t = model64(arch), clips().double(), targets(2)
    assert_close64(run("smoothgrad", model, x, t, stdev=0.0), run("saliency", model, x, t))


def test_smoothgrad_is_reproducible_and_seeded():
    model, x, t = model64("c3d_small"), clips().double(), targets(2)
    a = run("smoothgrad", model, x, t, seed=3)
    assert torch.equal(a, run("smoothgrad", model, x, t, seed=3))
    assert_close64(run("smoothgrad", model, x, t, seed=3, batch_size=5), a)   # same noise, other batches
    b = run("smoothgrad", model, x, t, seed=4)
    assert (a - b).abs().max() > 0.01 * a.abs().max()                         # other noise: other map


@pytest.mark.parametrize("arch", bundled_names())
def test_integrated_gradients_complete_at_defaults(arch):
    """Within 1% of f(x) - f(baseline), on the real input size, at default options.

    The method refines until its own gap is <= tolerance (0.01), so this checks the same number
    the same way: relevance summed in float64.
    """
    model, x = video_model(arch, DEFAULT_SPEC, calibrated=True), clips(DEFAULT_SPEC, 4)[:1]
    if arch == "two_stream":    # gradients see its RGB stream only: complete on that stream
        model = VideoModel(model.net.rgb, ModelInfo(arch, list(CLASSES), DEFAULT_SPEC, cam_layer="encoder"))
    target = model(x).argmax(1)
    relevance = run_method("integrated_gradients", model, x, target)
    assert completeness_gap(model, x, int(target), relevance[0].double()) <= 0.01


def test_gradients_of_two_stream_are_those_of_its_rgb_stream():
    """Its flow is computed without gradients: saliency and integrated gradients of the whole model
    are those of the RGB stream alone (the same float32 operations), although the flow stream
    moves the score between baseline and clip (so integrated gradients of the whole model cannot
    be complete: ModelInfo.notes say so, and it runs without refinement)."""
    model, x, t = video_model("two_stream", calibrated=True), clips(), targets(2)
    rgb = VideoModel(model.net.rgb, ModelInfo("rgb", list(CLASSES), SMALL, cam_layer="encoder"))
    torch.testing.assert_close(run("saliency", model, x, t), run("saliency", rgb, x, t))
    options = dict(steps=16, max_steps=16)
    torch.testing.assert_close(run("integrated_gradients", model, x, t, **options),
                               run("integrated_gradients", rgb, x, t, **options))
    with torch.no_grad():
        base = torch.zeros_like(x)                                 # the baseline: a still grey clip
        flow_change = (model.net.flow(model.net.compute_flow(x)) -
                       model.net.flow(model.net.compute_flow(base))).gather(1, t[:, None])
    assert flow_change.abs().gt(1e-3).all()                        # not a trivial identity
    assert bundled("two_stream").method_defaults["integrated_gradients"]["max_steps"] == 64


def test_integrated_gradients_without_refinement_is_captums_trapezoid_rule():
    """steps intervals, no refinement: the trapezoid rule over steps + 1 evenly spaced points, as
    captum's IntegratedGradients(method="riemann_trapezoid") computes it, up to captum's step
    size: it weights n points by 1/n (halved at the ends), the rule's own width is 1/(n - 1).
    In float64, except captum's path points: torch.linspace(0, 1, n).tolist() in float32, each
    off by up to 2**-24 relative, so maps differ by ~1e-7 of their scale (4.5e-8 measured)."""
    from captum.attr import IntegratedGradients
    model, x, t = video_model("c3d_small", calibrated=True).double(), clips().double(), targets(2)
    ours = run_method("integrated_gradients", model, x, t, steps=6, max_steps=6)
    n = 7
    theirs = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=t, n_steps=n,
                                                  method="riemann_trapezoid").sum(1) * n / (n - 1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6 * float(theirs.abs().max()))


def test_integrated_gradients_refines_until_complete_and_reports_its_gap():
    """From 2 intervals, refinement reaches the tolerance on a calibrated net, where the plain
    rule with as many evenly spaced points does not; the gap it stops at is the completeness gap
    measured independently (metrics.completeness_gap, relevance summed in float64)."""
    from xai_core.methods.gradients import path_integral
    model, x, t = video_model("c3d_small", calibrated=True).double(), clips().double(), targets(2)
    result = path_integral(model, x, t, steps=2, tolerance=0.01, max_steps=256)
    for i in range(2):
        gap = completeness_gap(model, x[i:i + 1], int(t[i]), result.relevance[i])
        assert gap <= 0.01 and gap == pytest.approx(result.gap[i], rel=1e-6, abs=1e-12)
        assert result.points[i] > 3                                       # it did refine
    even = [run_method("integrated_gradients", model, x[i:i + 1], t[i:i + 1], steps=p - 1, max_steps=p - 1)
            for i, p in enumerate(result.points)]
    even_gaps = [completeness_gap(model, x[i:i + 1], int(t[i]), even[i][0]) for i in range(2)]
    assert max(even_gaps) > 0.01, even_gaps                               # evenly spaced points fall short


def test_integrated_gradients_never_evaluates_a_path_point_twice():
    """Nested points: every clip sent through the net is a new point; with tolerance 0 each clip
    refines up to max_steps intervals, max_steps + 1 points (the declared work, options.py)."""
    from xai_core.methods.gradients import path_integral
    model, x, t = video_model("c3d_small", calibrated=True), clips(), targets(2)
    seen = []
    handle = model.net.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone()))
    try:
        result = path_integral(model, x[:1], t[:1], steps=3, tolerance=0.0, max_steps=11, batch_size=5)
    finally:
        handle.remove()
    points = torch.cat(seen)
    assert result.points == [12] and len(points) == 12
    assert len({tuple(p.flatten()[:64].tolist()) + (float(p.sum()),) for p in points}) == 12


def test_integrated_gradients_black_baseline():
    model, x, t = cached_model("c3d_small"), clips()[:1], targets(1)
    relevance = run_method("integrated_gradients", model, x, t, baseline="black")
    black = torch.tensor([(0 - m) / s for m, s in zip(SMALL.mean, SMALL.std)]).view(1, 3, 1, 1, 1)
    assert completeness_gap(model, x, int(t), relevance[0], baseline=black.expand_as(x)) < 0.01
    assert completeness_gap(model, x, int(t), relevance[0], baseline="black") < 0.01


class LinearVideo(nn.Module):
    """logit_k = sum over voxels of w_k * x: occlusion of a window removes exactly w . x there.

    Float32 in and out, float64 inside: each logit is the exact sum rounded once to float32, up
    to float64's own error (both bounded in drop_atol), so no result depends on the CPU's or the
    thread count's summation order. Summed in float32, the 98,304 terms err by up to 2e-3 here
    (1 thread; 1.2e-3 on an AMD EPYC), which only an unjustified tolerance would cover.
    """

    def __init__(self, shape, classes: int = 3):
        super().__init__()
        self.w = nn.Parameter(torch.randn(classes, *shape, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return torch.einsum("ncthw,kcthw->nk", x.double(), self.w.double()).to(x.dtype)


def linear_case():
    """The clips in float64, a LinearVideo, the targets and w . x per voxel (N, T, H, W) in float64."""
    x = clips()
    model, t = LinearVideo(x.shape[1:]), targets(2)
    wx = (model.w.detach()[t].double() * x.double()).sum(1)      # (N, T, H, W)
    return x, model, t, wx


def drop_atol(model, x, drops: torch.Tensor, averaged: int = 1) -> float:
    """Bound on the error of relevance that averages up to `averaged` score drops f(x) - f(x').

    Float32: per drop, two logits and the subtraction are rounded, each at most
    M = max|f(x)| + max|drop| in size (|f(x')| <= |f(x)| + |drop|); the average adds `averaged`
    roundings of the running sum and the division: 4 * averaged roundings of size M in all.
    Float64: each of the two model sums and the reference's sum errs by at most
    K * 2**-53 * sum|w x| (Higham's worst case for K terms), K = C*T*H*W.
    """
    w = model.w.detach().double()                                # (K classes, C, T, H, W)
    scale = float(model(x).detach().abs().max() + drops.abs().max())
    K = x[0].numel()
    sum_abs = float(torch.einsum("ncthw,kcthw->nk", x.double().abs(), w.abs()).max())
    return float32_atol(scale, 4 * averaged) + averaged * 3 * K * 2.0 ** -53 * sum_abs


def test_occlusion_of_a_linear_model_is_w_dot_x_per_window():
    x, model, t, wx = linear_case()
    window = (2, 16, 32)                                         # tiles the 8 x 64 x 64 clip
    relevance = run_method("occlusion", model, x, t, window=window, stride=window, batch_size=7)
    per_window = F.avg_pool3d(wx[:, None], window)[:, 0] * (2 * 16 * 32)   # (N, T', H', W')
    expected = per_window.repeat_interleave(2, 1).repeat_interleave(16, 2).repeat_interleave(32, 3)
    torch.testing.assert_close(relevance.double(), expected, rtol=0, atol=drop_atol(model, x, expected))


def test_occlusion_overlapping_windows_average_and_cover_the_edges():
    x, model, t, wx = linear_case()
    relevance = run_method("occlusion", model, x, t, window=(3, 64, 64), stride=(2, 64, 64))
    wx = wx.sum((2, 3))                                          # (N, T): w . x per frame
    starts = [0, 2, 4, 5]                                        # the last window is flush with T = 8
    drops = {s: wx[:, s:s + 3].sum(1) for s in starts}
    atol = drop_atol(model, x, torch.stack(list(drops.values())), averaged=3)  # <= 3 windows a frame
    for frame in range(8):
        covering = [drops[s] for s in starts if s <= frame < s + 3]
        torch.testing.assert_close(relevance[:, frame, 0, 0].double(), sum(covering) / len(covering),
                                   rtol=0, atol=atol)


def test_temporal_occlusion_of_a_linear_model_is_w_dot_x_per_frame():
    x, model, t, wx = linear_case()
    wx = wx.sum((2, 3))                                          # (N, T)
    relevance = run_method("temporal_occlusion", model, x, t, batch_size=5)
    torch.testing.assert_close(relevance.double(), wx[:, :, None, None].expand(relevance.shape),
                               rtol=0, atol=drop_atol(model, x, wx))
    assert (relevance == relevance[:, :, :1, :1]).all()          # one value per frame


def test_temporal_occlusion_freeze_repeats_the_previous_frame():
    x, model, t, _ = linear_case()
    w, x64 = model.w.detach()[t].double(), x.double()            # (N, C, T, H, W)
    relevance = run_method("temporal_occlusion", model, x, t, segment=3, baseline="freeze")
    for t0, t1 in [(0, 3), (3, 6), (6, 8)]:
        source = t0 - 1 if t0 else t1                            # the first freezes on the frame after
        frozen = x64[:, :, source:source + 1].expand(-1, -1, t1 - t0, -1, -1)
        drop = (w[:, :, t0:t1] * (x64[:, :, t0:t1] - frozen)).sum((1, 2, 3, 4))
        for frame in range(t0, t1):
            torch.testing.assert_close(relevance[:, frame, 0, 0].double(), drop, rtol=0,
                                       atol=drop_atol(model, x, drop))


@pytest.mark.parametrize("arch", bundled_names())
def test_grad_cam_equals_captum_layer_grad_cam(arch):
    from captum.attr import LayerAttribution, LayerGradCam

    model, x, t = video_model(arch), clips(), targets(2)
    ours = run_method("grad_cam", model, x, t)
    theirs = LayerGradCam(model, model.cam_layer).attribute(x, target=t, relu_attributions=True)
    theirs = LayerAttribution.interpolate(theirs, x.shape[2:], interpolate_mode="trilinear")[:, 0]
    torch.testing.assert_close(ours, theirs.detach())
    by_name = run_method("grad_cam", model.net, x, t)           # a bare zoo net names its layer
    torch.testing.assert_close(by_name, ours)


@pytest.mark.parametrize("arch", bundled_names())
def test_grad_cam_backward_stops_at_the_cam_layer(arch):
    """The layers before the CAM layer run without a graph, and no gradient reaches them."""
    model, x, t = video_model(arch), clips().clone().requires_grad_(True), targets(2)
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d)))
    graph_built, backward_calls = [], []
    handles = [first.register_forward_hook(lambda m, i, o: graph_built.append(o.requires_grad)),
               first.register_full_backward_hook(lambda m, gi, go: backward_calls.append(1))]
    try:
        relevance = run_method("grad_cam", model, x, t)
    finally:
        for h in handles:
            h.remove()
    assert graph_built == [False] and backward_calls == [] and x.grad is None
    assert relevance.abs().sum() > 0


@pytest.mark.parametrize("arch", ["c3d_small", "r2plus1d_small"])
def test_grad_cam_per_frame_is_grad_cam_on_a_layer_with_one_time_step(arch):
    """Two frames: the CAM layer of these nets has T' = 1, where a mean over space per time step is
    the mean over the whole clip; the same float32 operations on the same numbers."""
    model = video_model(arch, InputSpec(2, 64, 64, DEFAULT_SPEC.mean, DEFAULT_SPEC.std))
    x, t = clips(InputSpec(2, 64, 64, DEFAULT_SPEC.mean, DEFAULT_SPEC.std)), targets(2)
    torch.testing.assert_close(run_method("grad_cam_per_frame", model, x, t), run_method("grad_cam", model, x, t))


def test_grad_cam_per_frame_equals_grad_cam_before_a_pooling_head():
    """c3d_small's CAM layer (T' = 4) feeds global average pooling and a linear layer only: the
    gradient there is the same at every position, so weights per time step are the clip's weights."""
    model, x, t = cached_model("c3d_small"), clips(), targets(2)
    torch.testing.assert_close(run_method("grad_cam_per_frame", model, x, t), run_method("grad_cam", model, x, t))


@pytest.mark.parametrize("arch, layer", [("cnn_lstm", None), ("c3d_small", "block3")])
def test_grad_cam_per_frame_differs_where_the_gradient_changes_in_time(arch, layer):
    """An LSTM over the frames' features, or a layer with convolutions after it: other weights per step."""
    model, x, t = cached_model(arch), clips(), targets(2)
    per_frame = run_method("grad_cam_per_frame", model, x, t, layer=layer)
    clip_wide = run_method("grad_cam", model, x, t, layer=layer)
    assert (per_frame - clip_wide).abs().max() > 0.01 * clip_wide.abs().max()


class SquareHead(nn.Module):
    """A 1x1x1 convolution (the CAM layer), then score_k = sum V_k[c, t] * A[c, t, h, w]^2 / 2:
    the gradient at the layer is V_k[c, t] * A, so its spatial mean changes with t."""

    cam_layer = "conv"

    def __init__(self, T: int, classes: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.conv = nn.Conv3d(3, 2, 1)
        self.V = nn.Parameter(torch.randn(classes, 2, T, generator=g))

    def forward(self, x):
        A = self.conv(x)                                                  # (N, 2, T, H, W)
        return torch.einsum("kct,ncthw->nk", self.V, A ** 2) / 2


def test_grad_cam_per_frame_by_hand():
    """w_ct = mean over (h, w) of V[c, t] A; map = ReLU(sum_c w_ct A_ct); the layer keeps the clip's
    size, so the trilinear resize is the identity. Float64: the same few operations in another order."""
    model, x, t = SquareHead(T=8).double(), clips().double(), targets(2)
    with torch.no_grad():
        A = model.conv(x)                                                 # (N, 2, T, H, W)
        V = model.V[t]                                                    # (N, 2, T)
        w = V * A.mean((3, 4))                                            # (N, 2, T)
        by_hand = F.relu((w[..., None, None] * A).sum(1))                 # (N, T, H, W)
        clip_wide = F.relu(((V[..., None, None] * A).mean((2, 3, 4))[..., None, None, None] * A).sum(1))
    assert_close64(run_method("grad_cam_per_frame", model, x, t), by_hand)
    assert_close64(run_method("grad_cam", model, x, t), clip_wide)
    assert (by_hand - clip_wide).abs().max() > 0.01 * by_hand.abs().max()


def test_grad_cam_per_frame_says_what_differs():
    """The picker shows the first docstring line: it must say what sets it apart from grad_cam."""
    text = get_method("grad_cam_per_frame").description
    assert "per time step" in text and "whole clip" in text
