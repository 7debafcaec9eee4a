"""The two-stream model's flow stream as a model of its own: its input, its spec, every method on it,
an identity (integrated gradients complete on the flow stream), and the default target."""
import numpy as np
import pytest
import torch

from xai_core.data.synthetic import CLASSES, make_dataset
from xai_core.errors import ModelSpecError, VideoError
from xai_core.methods import list_methods
from xai_core.metrics.faithfulness import completeness_gap
from xai_core.models.base import ModelInfo, VideoModel
from xai_core.models.registry import DEFAULT_SPEC, bundled
from xai_core.motion.flow import dis_flow
from xai_core.motion.streams import explain_flow_stream, flow_stream
from xai_core.spec import InputSpec
from xai_core.video.clip import from_frames, to_tensor

FAST = {"smoothgrad": dict(samples=2), "integrated_gradients": dict(steps=8, max_steps=8),
        "occlusion": dict(window=(5, 16, 16), stride=(5, 16, 16)), "temporal_occlusion": dict(segment=5)}


def model(name="two_stream", seed=0) -> VideoModel:
    torch.manual_seed(seed)
    net = bundled(name).factory(len(CLASSES))
    return VideoModel(net, ModelInfo(name, list(CLASSES), DEFAULT_SPEC, cam_layer=net.cam_layer)).eval()


@pytest.fixture(scope="module")
def clip():
    data = make_dataset(1, seed=11)                            # a walk_left clip
    return from_frames(data.clips[0], DEFAULT_SPEC)


def test_the_flow_stream_is_a_model_on_flow(clip):
    m = model()
    fs = flow_stream(m)
    assert fs.spec == InputSpec(15, 64, 64, (0.0, 0.0), (1.0, 1.0), "flow") and fs.spec.shape == (2, 15, 64, 64)
    assert fs.net is m.net.flow and not fs.training                        # shared, not copied
    x = clip.tensor[None]
    flow = m.net.compute_flow(x)                                            # (1, 2, T-1, H, W)
    np.testing.assert_array_equal(flow[0].permute(1, 2, 3, 0).numpy(), dis_flow(clip.frames))
    with torch.no_grad():                                                  # late fusion: the sum
        torch.testing.assert_close(m(x), m.net.rgb(x) + fs(flow), rtol=0, atol=0)


def test_flow_input_cannot_come_from_a_video(clip):
    with pytest.raises(VideoError, match="'flow' input is computed from frames by the core"):
        to_tensor(clip.frames, flow_stream(model()).spec)


def test_only_two_stream_models_have_a_flow_stream(clip):
    with pytest.raises(ModelSpecError, match="model 'c3d_small' has no flow stream"):
        flow_stream(model("c3d_small"))
    with pytest.raises(ModelSpecError, match="has no flow stream"):
        explain_flow_stream(model("c3d_small"), clip, "saliency")


@pytest.mark.parametrize("method", [m.name for m in list_methods()])
def test_every_method_runs_on_the_flow_stream(method, clip):
    m = model()
    exp = explain_flow_stream(m, clip, method, **FAST.get(method, {}))
    assert exp.relevance.shape == (15, 64, 64) and exp.relevance.dtype == np.float32
    assert exp.flow.shape == (15, 64, 64, 2) and np.isfinite(exp.relevance).all()
    assert exp.method == method and exp.model == "two_stream"
    with torch.no_grad():
        prediction = int(m(clip.tensor[None]).argmax(1))
    assert exp.target == prediction and exp.label == CLASSES[prediction]    # the whole model's choice
    np.testing.assert_allclose(exp.probabilities.sum(), 1, rtol=1e-6)
    for p in exp.stream_probabilities.values():
        assert p.shape == (len(CLASSES),) and abs(p.sum() - 1) < 1e-5


@pytest.mark.skipif(not bundled("two_stream").weights.exists(), reason="no trained weights for two_stream")
def test_integrated_gradients_are_complete_on_the_flow_stream(clip):
    """The flow stream is a function of the flow alone: its relevance sums to f(flow) - f(0)
    (gradient methods on the whole model cannot see it: tests/test_methods.py). On the trained
    weights: a fresh net (bias-free convolutions, identity batch norm) is positively homogeneous,
    where integrated gradients are exact at any step count and the test would prove nothing."""
    from xai_core.models.loader import load_model

    m = load_model("two_stream")
    exp = explain_flow_stream(m, clip, "integrated_gradients", target="walk_right")
    assert exp.target == CLASSES.index("walk_right")
    flow = torch.from_numpy(exp.flow).permute(3, 0, 1, 2)[None]           # (1, 2, T-1, H, W)
    gap = completeness_gap(flow_stream(m), flow, exp.target, torch.from_numpy(exp.relevance).double())
    assert gap <= 0.01
    from xai_core.motion.moving import THRESHOLD, WINDOW, field_motion, moving_share
    share = exp.moving_share()                                   # on the flow field's steady motion
    assert 0 <= share <= 1
    assert share == moving_share(exp.relevance, field_motion(exp.flow, WINDOW), THRESHOLD)
    assert 0.0 <= exp.moving_share() <= 1.0


def test_a_bad_clip_is_refused():
    with pytest.raises(ModelSpecError, match=r"expected one clip \(3, T, H, W\), got shape \(2, 3, 16, 64, 64\)"):
        explain_flow_stream(model(), torch.zeros(2, 3, 16, 64, 64), "saliency")


def test_the_flow_streams_floor_is_the_moving_pixel_rule():
    """The stream sees steady motion (the mean of `window` fields, xai_core.motion.moving's
    steady_flow, cut short at the ends) shrunk by `floor`: the rule that calls a pixel moving.
    If the rule changes, this fails: the weights were trained for this floor and need retraining."""
    from xai_core.motion.moving import THRESHOLD, WINDOW, steady_flow
    stream = model().net.flow
    assert (stream.floor, stream.window) == (THRESHOLD, WINDOW)
    for fields in (1, 2, 3, 15):
        f = torch.randn(2, 2, fields, 5, 6, dtype=torch.float64)
        ours = stream.steady(f).permute(0, 2, 3, 4, 1).numpy()
        theirs = np.stack([steady_flow(x) for x in f.permute(0, 2, 3, 4, 1).numpy()])
        # steady_flow works in float32: each value rounded once on the way in, the mean once out
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2 * np.finfo(np.float32).eps * float(f.abs().max()))


def test_flow_below_the_noise_floor_gets_no_relevance(clip):
    """The flow stream shrinks each steady flow vector's length by its floor (soft thresholding): a
    vector shorter than the floor becomes 0, so gradient relevance on a field whose steady motion,
    and its neighbours' (the window reaches them), is below the floor is exactly 0 (the gradient of
    a constant); a longer one keeps its direction with length |f| - floor."""
    from xai_core.motion.moving import field_motion
    m = model()
    stream = m.net.flow
    f = torch.randn(1, 2, 3, 8, 8, dtype=torch.float64) * stream.floor
    shrunk = stream.shrink(f)
    length, new = f.norm(dim=1), shrunk.norm(dim=1)
    torch.testing.assert_close(new, (length - stream.floor).clamp_min(0), rtol=1e-12, atol=1e-12)
    keep = length > stream.floor
    cos = (f * shrunk).sum(1)[keep] / (length * new)[keep]
    torch.testing.assert_close(cos, torch.ones_like(cos))
    for method in ("saliency", "integrated_gradients"):
        exp = explain_flow_stream(m, clip, method, **FAST.get(method, {}))
        steady = field_motion(exp.flow, stream.window)                     # (T-1, H, W)
        reach = steady.copy()                                              # the fields each one feeds
        reach[1:] = np.maximum(reach[1:], steady[:-1])
        reach[:-1] = np.maximum(reach[:-1], steady[1:])
        still = reach <= stream.floor * (1 - 1e-5)        # float32 means in two orders differ by ~1e-7
        assert still.any() and (~still).any()
        assert np.all(exp.relevance[still] == 0), method
