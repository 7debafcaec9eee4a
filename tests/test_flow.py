"""Optical flow (DIS): a known translation recovered, a static clip still, the per-clip cache,
bad input refused, and the per-frame motion map."""
import threading

import cv2
import numpy as np
import pytest

from xai_core.motion import flow as flowmod
from xai_core.motion.flow import CACHE, dis_flow, finest_scale, flow_magnitude, frame_motion


def texture(size: int, shift=(0.0, 0.0), seed: int = 0) -> np.ndarray:
    """A smooth random texture (40 low-frequency plane waves, periods >= 12.5 px) sampled at
    x - dx, y - dy: the content moved by exactly `shift` pixels, sub-pixel shifts with no
    interpolation error (each wave is evaluated, not resampled), rounded to uint8 gray."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(-0.08, 0.08, (40, 2))                 # cycles per pixel
    phase, amp = rng.uniform(0, 2 * np.pi, 40), rng.uniform(0.5, 1.0, 40)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = x - shift[0], y - shift[1]
    img = sum(a * np.cos(2 * np.pi * (f[0] * x + f[1] * y) + p) for f, p, a in zip(freq, phase, amp))
    img /= np.sqrt((amp ** 2).sum() / 2)                     # unit standard deviation
    return np.clip(128 + 40 * img, 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize("size", [64, 112])
@pytest.mark.parametrize("shift", [(1.5, -0.75), (-2.25, 0.5), (3.0, 2.0)])
def test_dis_recovers_a_known_translation(size, shift):
    """Within 0.1 px, as the median over the interior (measured: <= 0.02 px; 5 times that).

    Interior: an 8-pixel border (one DIS patch) is left out, where content enters or leaves the
    frame and no flow is defined. Median: per-pixel DIS errors have heavy tails where the texture
    is locally one-dimensional (the aperture problem); the median is the translation estimate
    robust to them, as a mean would not be.
    """
    clip = np.stack([texture(size, (k * shift[0], k * shift[1]), seed=1) for k in range(3)])
    flow = dis_flow(clip, cache=False)                        # (2, H, W, 2)
    assert flow.shape == (2, size, size, 2) and flow.dtype == np.float32
    interior = flow[:, 8:-8, 8:-8].reshape(-1, 2)
    np.testing.assert_allclose(np.median(interior, axis=0), shift, atol=0.1)


def test_gray_and_rgb_frames_give_the_same_flow():
    gray = np.stack([texture(64, (k * 1.0, 0.0)) for k in range(3)])
    rgb = np.repeat(gray[..., None], 3, axis=-1)              # equal channels: BT.601 gray is the same
    np.testing.assert_array_equal(dis_flow(rgb, cache=False), dis_flow(gray, cache=False))


def test_a_static_clip_has_zero_flow():
    clip = np.stack([texture(64)] * 4)
    flow = dis_flow(clip, cache=False)
    assert flow.shape == (3, 64, 64, 2) and not flow.any()   # identical frames: exactly zero


def test_finest_scale_keeps_the_finest_grid_at_least_48_pixels():
    assert [finest_scale(s, s) for s in (32, 64, 96, 112, 224, 480)] == [0, 0, 1, 1, 2, 3]
    assert finest_scale(112, 480) == 1                        # the short side decides


def test_the_cache_returns_the_same_array_without_recomputing(monkeypatch):
    CACHE.clear()
    calls = []
    create = cv2.DISOpticalFlow_create
    monkeypatch.setattr(flowmod.cv2, "DISOpticalFlow_create", lambda *a: calls.append(1) or create(*a))
    clip = np.stack([texture(64, (k * 1.0, 0.0)) for k in range(3)])
    first = dis_flow(clip)
    again = dis_flow(clip.copy())                             # equal bytes, another array
    assert again is first and len(calls) == 1 and CACHE.hits == 1
    assert not first.flags.writeable                          # shared: read-only
    other = dis_flow(clip, preset="fast")                     # other parameters: another entry
    assert other is not first and len(calls) == 2
    moved = clip.copy()
    moved[-1, 0, 0] ^= 1                                      # one byte differs: recomputed
    assert dis_flow(moved) is not first and len(calls) == 3


def test_the_cache_is_bounded_least_recently_used_first():
    cache = flowmod.FlowCache(max_bytes=3 * 1000 * 4)
    arrays = {k: np.zeros(1000, np.float32) for k in "abcd"}
    for k in "abc":
        cache.put((k,), arrays[k])
    assert cache.get(("a",)) is arrays["a"]                   # a is now the most recent
    cache.put(("d",), arrays["d"])                            # over the bound: b (least recent) goes
    assert cache.get(("b",)) is None and cache.get(("a",)) is arrays["a"] and len(cache) == 3


def test_the_cache_is_thread_safe():
    CACHE.clear()
    clips = [np.stack([texture(64, (k * s, 0.0), seed=s) for k in range(3)]) for s in (1, 2)]
    out, errors = [], []

    def work(i):
        try:
            out.append((i % 2, dis_flow(clips[i % 2])))
        except Exception as e:                                # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 8
    for i, flow in out:
        np.testing.assert_array_equal(flow, dis_flow(clips[i], cache=False))


@pytest.mark.parametrize("frames, message", [
    (np.zeros((4, 64, 64, 3), np.float32), "uint8 frames"),
    (np.zeros((4, 64, 64, 4), np.uint8), r"\(T, H, W, 3\) RGB or \(T, H, W\) gray"),
    (np.zeros((64, 64), np.uint8), r"\(T, H, W, 3\) RGB or \(T, H, W\) gray"),
    (np.zeros((1, 64, 64, 3), np.uint8), "at least 2 frames, got 1"),
    (np.zeros((4, 8, 64), np.uint8), "at least 16 x 16 pixels, got 8 x 64"),
    ([[0]], "numpy array of frames, got list"),
])
def test_bad_frames_are_refused(frames, message):
    with pytest.raises(ValueError, match=message):
        dis_flow(frames)


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown DIS preset 'slow'; presets: ultrafast, fast, medium"):
        dis_flow(np.zeros((2, 32, 32), np.uint8), preset="slow")


def test_frame_motion_is_the_larger_of_the_flows_in_and_out():
    flow = np.zeros((3, 2, 2, 2), np.float32)                 # T = 4 frames
    flow[0, 0, 0] = (3, 4)                                    # |.| = 5 from frame 0 to 1
    flow[2, 0, 0] = (0, -2)                                   # |.| = 2 from frame 2 to 3
    np.testing.assert_array_equal(flow_magnitude(flow)[:, 0, 0], [5, 0, 2])
    np.testing.assert_array_equal(frame_motion(flow)[:, 0, 0], [5, 5, 2, 2])
    assert frame_motion(flow).shape == (4, 2, 2) and not frame_motion(flow)[:, 1].any()
    with pytest.raises(ValueError, match=r"expected flow \(T-1, H, W, 2\), got shape \(3, 2, 2\)"):
        frame_motion(flow[..., 0])
