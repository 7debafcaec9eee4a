"""Attribution methods: the contract across the whole registry, then one identity per method.

Contract tests are parametrized over `list_methods()`, so a newly registered method is covered
the moment it is registered (with its defaults, or the cheap options in FAST).
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


def test_train_mode_is_left_alone():
    model = video_model("c3d_small")
    model.train()
    for name in METHODS:
        run(name, model, clips(), targets(2))
        assert model.training and all(m.training for m in model.modules()), name


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", METHODS)
def test_batched_equals_one_by_one(name, arch):
    model, x, t = cached_model(arch), clips(), targets(2)
    together = run(name, model, x, t)
    alone = torch.cat([run(name, model, x[i:i + 1], t[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-3 * float(alone.abs().max()))


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
])
def test_bad_options_are_method_errors(name, options):
    with pytest.raises(MethodError, match=next(iter(options))):
        run(name, cached_model("c3d_small"), clips(), targets(2), **options)


# ---- one identity per method -----------------------------------------------------------------

def test_saliency_is_the_gradient_magnitude():
    model, x, t = cached_model("c3d_small"), clips(), targets(2)
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf).gather(1, t[:, None]).sum(), leaf)
    torch.testing.assert_close(run("saliency", model, x, t), grad.abs().amax(1))


@pytest.mark.parametrize("arch", ARCHS)
def test_smoothgrad_without_noise_is_saliency(arch):
    model, x, t = cached_model(arch), clips(), targets(2)
    torch.testing.assert_close(run("smoothgrad", model, x, t, stdev=0.0),
                               run("saliency", model, x, t))


def test_smoothgrad_is_reproducible_and_seeded():
    model, x, t = cached_model("c3d_small"), clips(), targets(2)
    a = run("smoothgrad", model, x, t, seed=3)
    assert torch.equal(a, run("smoothgrad", model, x, t, seed=3))
    torch.testing.assert_close(a, run("smoothgrad", model, x, t, seed=3, batch_size=5))  # same noise
    assert not torch.allclose(a, run("smoothgrad", model, x, t, seed=4))


@pytest.mark.parametrize("arch", bundled_names())
def test_integrated_gradients_complete_at_defaults(arch):
    """Within 1% of f(x) - f(baseline), on the real input size, at default options."""
    model, x = video_model(arch, DEFAULT_SPEC, calibrated=True), clips(DEFAULT_SPEC, 4)[:1]
    target = model(x).argmax(1)
    relevance = run_method("integrated_gradients", model, x, target)
    assert completeness_gap(model, x, int(target), relevance[0]) < 0.01


def test_integrated_gradients_refines_until_complete():
    """An incomplete clip is integrated again with twice the steps, up to max_steps."""
    model, x, t = video_model("c3d_small", calibrated=True), clips(), targets(2)
    refined = run_method("integrated_gradients", model, x, t, steps=2, tolerance=0.0, max_steps=8)
    direct = run_method("integrated_gradients", model, x, t, steps=8, tolerance=1e9)
    torch.testing.assert_close(refined, direct)


def test_integrated_gradients_black_baseline():
    model, x, t = cached_model("c3d_small"), clips()[:1], targets(1)
    relevance = run_method("integrated_gradients", model, x, t, baseline="black")
    black = torch.tensor([(0 - m) / s for m, s in zip(SMALL.mean, SMALL.std)]).view(1, 3, 1, 1, 1)
    assert completeness_gap(model, x, int(t), relevance[0], baseline=black.expand_as(x)) < 0.01
    assert completeness_gap(model, x, int(t), relevance[0], baseline="black") < 0.01


class LinearVideo(nn.Module):
    """logit_k = sum over voxels of w_k * x: occlusion of a window removes exactly w . x there."""

    def __init__(self, shape, classes: int = 3):
        super().__init__()
        self.w = nn.Parameter(torch.randn(classes, *shape, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return torch.einsum("ncthw,kcthw->nk", x, self.w)


def test_occlusion_of_a_linear_model_is_w_dot_x_per_window():
    x = clips()
    model, t = LinearVideo(x.shape[1:]), targets(2)
    window = (2, 16, 32)                                         # tiles the 8 x 64 x 64 clip
    relevance = run_method("occlusion", model, x, t, window=window, stride=window, batch_size=7)
    wx = (model.w[t] * x).sum(1)                                 # (N, T, H, W): w . x per voxel
    per_window = F.avg_pool3d(wx[:, None], window)[:, 0] * (2 * 16 * 32)   # (N, T', H', W')
    expected = per_window.repeat_interleave(2, 1).repeat_interleave(16, 2).repeat_interleave(32, 3)
    torch.testing.assert_close(relevance, expected, rtol=1e-4, atol=1e-3)


def test_occlusion_overlapping_windows_average_and_cover_the_edges():
    x = clips()
    model, t = LinearVideo(x.shape[1:]), targets(2)
    relevance = run_method("occlusion", model, x, t, window=(3, 64, 64), stride=(2, 64, 64))
    wx = (model.w[t] * x).sum((1, 3, 4))                         # (N, T): w . x per frame
    starts = [0, 2, 4, 5]                                        # the last window is flush with T = 8
    drops = {s: wx[:, s:s + 3].sum(1) for s in starts}
    for frame in range(8):
        covering = [drops[s] for s in starts if s <= frame < s + 3]
        torch.testing.assert_close(relevance[:, frame, 0, 0], sum(covering) / len(covering),
                                   rtol=1e-4, atol=1e-3)


def test_temporal_occlusion_of_a_linear_model_is_w_dot_x_per_frame():
    x = clips()
    model, t = LinearVideo(x.shape[1:]), targets(2)
    wx = (model.w[t] * x).sum((1, 3, 4))                         # (N, T)
    relevance = run_method("temporal_occlusion", model, x, t, batch_size=5)
    torch.testing.assert_close(relevance, wx[:, :, None, None].expand_as(relevance), rtol=1e-4, atol=1e-3)
    assert (relevance == relevance[:, :, :1, :1]).all()          # one value per frame


def test_temporal_occlusion_freeze_repeats_the_previous_frame():
    x = clips()
    model, t = LinearVideo(x.shape[1:]), targets(2)
    w = model.w[t]                                               # (N, C, T, H, W)
    relevance = run_method("temporal_occlusion", model, x, t, segment=3, baseline="freeze")
    for t0, t1 in [(0, 3), (3, 6), (6, 8)]:
        source = t0 - 1 if t0 else t1                            # the first freezes on the frame after
        frozen = x[:, :, source:source + 1].expand(-1, -1, t1 - t0, -1, -1)
        drop = (w[:, :, t0:t1] * (x[:, :, t0:t1] - frozen)).sum((1, 2, 3, 4))
        for frame in range(t0, t1):
            torch.testing.assert_close(relevance[:, frame, 0, 0], drop, rtol=1e-4, atol=1e-3)


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
