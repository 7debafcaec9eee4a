"""The time estimate (xai_core.methods.cost): passes declared by the method x a pass measured here."""
import time

import numpy as np
import pytest
import torch
from torch import nn

from xai_core import explain
from xai_core.methods import cost
from xai_core.methods.options import expected_passes
from xai_core.models.base import ModelInfo, VideoModel
from xai_core.spec import InputSpec
from xai_core.video.clip import Clip  # noqa: F401  (the clip type explain takes)

SPEC = InputSpec(frames=4, height=8, width=8)


class Slow(nn.Module):
    """A tiny 3D net whose forward pass takes at least `delay` seconds, counting its calls."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay
        self.calls = 0
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        self.calls += 1
        time.sleep(self.delay)
        return self.fc(self.conv(x).mean((2, 3, 4)))


def model(delay: float = 0.0) -> VideoModel:
    torch.manual_seed(0)
    return VideoModel(Slow(delay), ModelInfo("slow", ["a", "b"], SPEC, cam_layer="conv")).eval()


def test_the_pass_is_measured_once_per_model_on_a_spec_shaped_clip():
    m = model(0.12)
    assert cost.measured(m) is None
    c = cost.pass_cost(m)
    assert c.shape == (1, *SPEC.shape)
    assert c.forward >= 0.12 and c.backward >= 0.12            # the sleep is in what was timed
    calls = m.net.calls
    assert cost.pass_cost(m) is c and m.net.calls == calls     # remembered: no second measurement


def test_a_slower_pass_gives_a_longer_estimate():
    fast, slow = model(0.0), model(0.15)
    for method in ("saliency", "smoothgrad", "temporal_occlusion"):
        assert cost.estimate_seconds(slow, method) > cost.estimate_seconds(fast, method)
    c = cost.pass_cost(slow)
    # saliency: one forward+backward pass, plus the prediction's forward pass, both as measured
    assert cost.estimate_seconds(slow, "saliency") == pytest.approx(c.backward + c.forward)


@pytest.mark.parametrize("method, option, values", [
    ("smoothgrad", "samples", [1, 4, 16, 64]),
    ("integrated_gradients", "steps", [2, 8, 32, 128]),
    ("temporal_occlusion", "segment", [4, 2, 1]),            # smaller segments: more passes
    ("occlusion", "window", [4, 2, 1]),
])
def test_the_estimate_grows_with_the_passes(method, option, values):
    m = model(0.0)
    c = cost.pass_cost(m)
    extra = {"occlusion": {"stride": 1}}.get(method, {})
    passes = [cost.expected_work(m, method, {option: v, **extra}) for v in values]
    seconds = [cost.estimate_seconds(m, method, {option: v, **extra}) for v in values]
    assert passes == sorted(passes) and len(set(passes)) == len(passes)
    assert seconds == sorted(seconds) and len(set(seconds)) == len(seconds)
    per = c.per_pass(method in ("smoothgrad", "integrated_gradients"))
    for p, s in zip(passes, seconds):                          # linear in the passes, at the measured rate
        assert s == pytest.approx(p * per + c.forward * (3 if method == "integrated_gradients" else 1))


def test_the_passes_are_the_methods_declared_work_with_the_models_defaults():
    from xai_core import get_method
    m = model(0.0)
    info = get_method("integrated_gradients")
    assert cost.expected_work(m, "integrated_gradients") == expected_passes(info, {}, (1, *SPEC.shape))[0]
    m.info.method_defaults = {"integrated_gradients": {"steps": 4, "max_steps": 4}}
    assert cost.expected_work(m, "integrated_gradients") == 4 + 1            # 4 intervals: 5 path points
    assert cost.expected_work(m, "integrated_gradients", {"steps": 8, "max_steps": 8}) == 8 + 1
    assert cost.expected_work(m, "saliency", video_shape=(3, *SPEC.shape)) == 3   # per clip


def test_a_run_refines_the_estimate_with_what_it_measured():
    m = model(0.0)
    clip_frames = np.zeros((SPEC.frames, SPEC.height, SPEC.width, 3), np.uint8)
    from xai_core.video.sample import clip_from_array
    clip = clip_from_array(clip_frames, SPEC)
    before = cost.estimate_seconds(m, "smoothgrad", {"samples": 8})
    assert cost.observed_per_pass(m, "smoothgrad") is None
    m.net.delay = 0.05                                          # the machine got slower
    exp = explain(m, clip, "smoothgrad", samples=8, batch_size=1)
    per = cost.observed_per_pass(m, "smoothgrad")
    assert per == pytest.approx(exp.timings_ms["explain"] / 1000 / 8) and per >= 0.05
    after = cost.estimate_seconds(m, "smoothgrad", {"samples": 8})
    assert after > before and after == pytest.approx(8 * per + cost.pass_cost(m).forward)


def test_a_busy_model_is_not_measured_while_it_is_held():
    import threading
    m = model(0.0)
    held, release = threading.Event(), threading.Event()

    def hold():
        with m.lock:
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        assert cost.pass_cost(m, timeout=0.05) is None and cost.measured(m) is None
    finally:
        release.set()
        t.join()
    assert cost.pass_cost(m, timeout=1) is not None


@pytest.mark.parametrize("seconds, words", [(None, ""), (0.2, "< 1 s"), (35.4, "≈ 35 s"), (240, "≈ 4 min"),
                                            (9000, "≈ 2.5 h")])
def test_describe(seconds, words):
    assert cost.describe(seconds) == words


def test_a_slow_first_call_is_taken_as_the_warm_up_it_is():
    """The backend makes its kernels on a model's first call (0.35 s against a 14 ms pass on
    c3d_small): a first call under REPEAT_BELOW is followed by repeats, and their median counts."""
    import time as _time
    calls = []

    def fn():
        _time.sleep(0.3 if not calls else 0.01)
        calls.append(1)
    seconds = cost._measure(fn, torch.device("cpu"))
    assert len(calls) >= 2 and seconds < 0.1
