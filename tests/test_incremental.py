"""Incremental occlusion (xai_core.methods.incremental) equals plain occlusion.

In float64: both compute the same drops, the incremental one with convolutions on slabs, whose
sums run in another order; in float64 that moves a drop by ~1e-15 of the logits' scale, so a
tolerance of 1e-9 of it fails on any real difference (a wrong slab, grid or receptive field gives
errors of the drops' own size) and never on rounding.
"""
import numpy as np
import pytest
import torch
from torch import nn

from xai_core.data.synthetic import CLASSES, make_dataset
from xai_core.methods import run_method
from xai_core.methods.incremental import Plan, geometry, plan_for
from xai_core.methods.progress import track
from xai_core.models.base import ModelInfo, VideoModel
from xai_core.models.registry import DEFAULT_SPEC, bundled
from xai_core.spec import InputSpec
from xai_core.video.clip import to_tensor

from .test_methods import calibrate

PLANNED = ["c3d_small", "r2plus1d_small", "frame2d_pool", "cnn_lstm"]


def calibrated(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """Batch norm with real statistics and random biases (tests/test_methods.calibrate)."""
    calibrate(net, x)
    return net


def clips(spec: InputSpec, n: int = 2) -> torch.Tensor:
    data = make_dataset(n, seed=0, frames=spec.frames, size=spec.height)
    return torch.stack([to_tensor(c, spec) for c in data.clips])


def bundled_model(name: str) -> VideoModel:
    torch.manual_seed(0)
    net = calibrated(bundled(name).factory(len(CLASSES)), clips(DEFAULT_SPEC, 4))
    return VideoModel(net, ModelInfo(name, list(CLASSES), DEFAULT_SPEC, cam_layer=net.cam_layer)).double()


def r3d_18() -> VideoModel:
    from torchvision.models.video import r3d_18
    spec = InputSpec(8, 32, 32, DEFAULT_SPEC.mean, DEFAULT_SPEC.std)
    torch.manual_seed(0)
    net = calibrated(r3d_18(num_classes=len(CLASSES)), clips(spec, 4))
    return VideoModel(net, ModelInfo("r3d_18", list(CLASSES), spec, cam_layer="layer4")).double()


def assert_same_drops(model: VideoModel, x: torch.Tensor, **options) -> None:
    t = torch.arange(x.shape[0]) % len(CLASSES)
    ours = run_method("occlusion", model, x, t, **options)
    plain = run_method("occlusion", model, x, t, incremental=False, **options)
    with torch.no_grad():
        scale = float(model(x).abs().max())
    assert float(plain.abs().max()) > 1e-3 * scale                       # the windows do move the score
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("name", PLANNED)
def test_incremental_occlusion_equals_plain_occlusion_on_the_bundled_nets(name):
    model = bundled_model(name)
    assert plan_for(model) is not None
    x = clips(DEFAULT_SPEC).double()
    # windows that do not tile the clip (the last one sits flush with each edge), in batches of 7
    # that mix interior and edge windows; then two clips, windows that tile it
    assert_same_drops(model, x[:1], window=(5, 24, 20), stride=(4, 20, 18), batch_size=7)
    assert_same_drops(model, x, window=(8, 32, 32), stride=(8, 32, 32))


def test_incremental_occlusion_equals_plain_occlusion_on_torchvisions_r3d_18():
    model = r3d_18()
    assert plan_for(model) is not None
    x = clips(model.spec).double()
    assert_same_drops(model, x[:1], window=(3, 12, 12), stride=(3, 10, 10), batch_size=5)


def test_a_net_without_a_plan_runs_plain_occlusion():
    model = bundled_model("two_stream")
    assert plan_for(model) is None
    assert_same_drops(model, clips(DEFAULT_SPEC).double()[:1], window=(8, 32, 32), stride=(8, 32, 32))


def test_a_plan_that_does_not_describe_the_net_is_not_used(monkeypatch):
    """The plan's score of the full clip is checked against the model's own: a wrong plan (here:
    a head that forgets the last stage's ReLU'd features are averaged) falls back to plain."""
    model = bundled_model("c3d_small")
    right = plan_for(model)
    wrong = Plan(right.stages, lambda a: model.net.head(a.amax(dim=(2, 3, 4))))
    monkeypatch.setattr("xai_core.methods.incremental.plan_for", lambda m: wrong)
    assert_same_drops(model, clips(DEFAULT_SPEC).double()[:1], window=(8, 32, 32), stride=(8, 32, 32))


def test_the_receptive_field_of_a_block_composes_its_layers():
    """geometry(): kernel, stride and padding of a stage's main path, per (t, h, w)."""
    net = bundled("r2plus1d_small").factory(len(CLASSES))
    # stem: (1, 5, 5) stride (1, 2, 2) pad (0, 2, 2), then (3, 1, 1) pad (1, 0, 0)
    assert geometry(net.stem) == ((3, 5, 5), (1, 2, 2), (1, 2, 2))
    # layer2: (1,3,3)/(1,2,2) -> (3,1,1)/(2,1,1) -> (1,3,3) -> (3,1,1); the 1x1x1 shortcut left out
    assert geometry(net.layer2) == ((7, 7, 7), (2, 2, 2), (3, 3, 3))
    frames = bundled("frame2d_pool").factory(len(CLASSES)).encoder.cnn
    assert geometry(frames[0]) == ((1, 5, 5), (1, 2, 2), (0, 2, 2))      # a 2D layer: no reach in time
    assert geometry(frames[2]) == ((1, 2, 2), (1, 2, 2), (0, 0, 0))      # MaxPool2d(2)


def test_incremental_occlusion_reports_its_passes():
    """Progress hears one pass per occluded copy (and the clip's own), as for plain occlusion."""
    model = bundled_model("c3d_small").float()
    x, t = clips(DEFAULT_SPEC)[:1], torch.tensor([0])
    heard = []
    with track(model, 10, lambda f, m: heard.append(m)) as done:
        run_method("occlusion", model, x, t, window=(8, 32, 32), stride=(8, 32, 32))
    assert done[0] == 1 + 2 * 2 * 2 and heard[-1] == "9 of 10 forward passes"


def test_a_stride_longer_than_its_window_is_refused():
    """Voxels between windows would be hidden by none: 0 / 0 relevance. A clear error instead."""
    from xai_core.errors import MethodError
    model = bundled_model("c3d_small")
    with pytest.raises(MethodError, match=r"stride longer than its window .* frames \(window 3, stride 5\)"):
        run_method("occlusion", model, clips(DEFAULT_SPEC).double()[:1], torch.tensor([0]),
                   window=(3, 20, 12), stride=(5, 13, 9))


def test_the_window_check_comes_before_any_work():
    """validate_options (what the CLI and the UI call before anything runs) refuses it already."""
    from xai_core.errors import MethodError
    from xai_core.methods.options import validate_options
    with pytest.raises(MethodError, match="stride longer than its window"):
        validate_options("occlusion", {"window": 2, "stride": 5}, (1, 3, 16, 64, 64))
    validate_options("occlusion", {"window": (32, 64, 64), "stride": 40}, (1, 3, 16, 64, 64))  # one window
