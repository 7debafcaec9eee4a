"""Streams of windows: they cover the video as iter_windows does, each is explain() on its window,
and the Timeline's per-frame relevance and speed are the averages and ratios they claim to be."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from xai_core import explain, load_model
from xai_core.data.synthetic import make_dataset
from xai_core.errors import VideoError
from xai_core.models.registry import bundled
from xai_core.relevance.stream import Timeline, WindowResult, plan, stream, window_frame_relevance
from xai_core.video import clip_from_array, iter_windows, window_starts

CLASSES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def model():
    if not bundled("c3d_small").weights.exists():
        pytest.skip("no trained weights for c3d_small (python -m xai_core train --model c3d_small)")
    return load_model("c3d_small").eval()


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """40 frames (40, 64, 64, 3): three synthetic clips back to back, cut short."""
    return np.concatenate(list(make_dataset(3, seed=5).clips))[:40]


@pytest.fixture(scope="module")
def video(tmp_path_factory, frames) -> Path:
    path = tmp_path_factory.mktemp("stream") / "long.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 8.0, (64, 64))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


# ---------------------------------------------------------------- windows and explanations

@pytest.mark.parametrize("stride", [8, 12, 40])
def test_windows_cover_the_video_as_iter_windows_does(model, video, stride):
    results = list(stream(model, video, "grad_cam", stride=stride))
    clips = list(iter_windows(video, model.spec, stride=stride))
    starts = window_starts(40, 16, stride)                     # 8: 0..24; 12: 0, 12, 24 (+ end-aligned)
    assert [r.start for r in results] == starts == plan(video, model.spec, stride=stride).starts
    assert [r.end for r in results] == [s + 15 for s in starts]
    assert [r.source_indices for r in results] == [c.source_indices for c in clips]
    assert [r.index for r in results] == list(range(len(starts)))
    assert all(r.fps == 8.0 and r.display.shape == (16, 64, 64, 3) for r in results)


@pytest.mark.parametrize("method", ["grad_cam", "saliency"])
def test_each_window_is_explain_on_that_window(model, video, method):
    for r, clip in zip(stream(model, video, method, stride=12), iter_windows(video, model.spec, stride=12)):
        exp = explain(model, clip, method)
        np.testing.assert_allclose(r.relevance, exp.relevance, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(r.probabilities, exp.probabilities, rtol=1e-5, atol=1e-7)
        assert r.predicted == exp.predicted == r.target and r.label == exp.predicted_label
        assert r.confidence == pytest.approx(float(exp.probabilities.max()))
        np.testing.assert_array_equal(r.display, clip.display)
        assert set(r.timings_ms) == {"decode", "explain"} and r.explanation.method == method


def test_frames_in_memory_stream_like_a_file(model, frames):
    results = list(stream(model, frames, "grad_cam", stride=8, fps=8.0))
    assert [r.start for r in results] == window_starts(40, 16, 8)
    for r in results:
        assert r.source_indices == list(range(r.start, r.start + 16)) and r.fps == 8.0
        exp = explain(model, clip_from_array(frames[r.start:r.start + 16], model.spec), "grad_cam")
        np.testing.assert_allclose(r.relevance, exp.relevance, rtol=1e-5, atol=1e-8)


def test_a_video_shorter_than_a_window_is_one_looped_window(model, frames):
    (r,) = stream(model, frames[:10], "grad_cam")
    assert (r.start, r.end) == (0, 9) and r.source_indices == [i % 10 for i in range(16)]


def test_a_stream_at_the_models_frame_rate(model, video, frames):
    """sampling="fps": the windows of iter_windows at the model's rate; plan() knows their length."""
    from dataclasses import replace

    from xai_core.models.base import VideoModel
    at4 = VideoModel(model.net, replace(model.info, spec=replace(model.spec, fps=4.0)), model.dry).eval()
    # 16 frames at 4 fps = 4 s = 32 frames of the 8 fps video; every 2nd source frame
    p = plan(video, at4.spec, stride=8, sampling="fps")
    assert (p.length, p.stride, p.starts) == (32, 8, [0, 8])
    results = list(stream(at4, video, "grad_cam", stride=8, sampling="fps"))
    clips = list(iter_windows(video, at4.spec, stride=8, sampling="fps"))
    assert [r.source_indices for r in results] == [c.source_indices for c in clips] \
        == [list(range(s, s + 32, 2)) for s in (0, 8)]
    assert [(r.start, r.end) for r in results] == [(0, 30), (8, 38)]    # the frames the model saw
    assert all(r.explanation.clip.sampling == "fps" for r in results)
    assert plan(video, at4.spec).length == 16 and plan(video, at4.spec, sampling="fps").stride == 32
    with pytest.raises(VideoError, match="frames in memory are streamed with sampling='spread'"):
        stream(at4, frames, sampling="fps")
    with pytest.raises(VideoError, match="sampling='fps' needs the model's frame rate"):
        stream(model, video, sampling="fps")


def test_bad_input_is_loud(model, tmp_path, frames):
    with pytest.raises(VideoError, match="not found"):
        stream(model, tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="stride=0"):
        stream(model, frames, stride=0)


# ---------------------------------------------------------------- the timeline

def window(start: int, per_frame, indices=None, probabilities=(0.2, 0.7, 0.1), seconds=0.0, fps=None):
    """A hand-made WindowResult whose frame t holds `per_frame[t]` positive relevance (and some negative)."""
    per_frame = np.asarray(per_frame, np.float32)
    T = len(per_frame)
    relevance = np.zeros((T, 2, 2), np.float32)
    relevance[:, 0, 0] = per_frame * 0.25
    relevance[:, 1, 1] = per_frame * 0.75
    relevance[:, 0, 1] = -5.0                                   # evidence against: not counted
    indices = list(range(start, start + T)) if indices is None else indices
    return WindowResult(0, min(indices), max(indices), indices, np.asarray(probabilities), CLASSES,
                        int(np.argmax(probabilities)), relevance, np.zeros((T, 2, 2, 3), np.uint8), fps,
                        {"decode": 1000 * seconds / 2, "explain": 1000 * seconds / 2})


def test_timeline_averages_the_windows_covering_each_frame():
    tl = Timeline()
    tl.append(window(0, [1, 2, 3, 4]))                          # frames 0-3
    tl.append(window(2, [10, 20, 30, 40], probabilities=(0.9, 0.05, 0.05)))   # frames 2-5
    tl.append(window(8, [5, 5, 5, 5]))                          # frames 8-11; 6-7 never covered
    np.testing.assert_allclose(tl.frame_relevance,
                               [1, 2, (3 + 10) / 2, (4 + 20) / 2, 30, 40, 0, 0, 5, 5, 5, 5], rtol=1e-6)
    np.testing.assert_allclose(tl.centres, [1.5, 3.5, 9.5])
    assert tl.predicted == [1, 0, 1] and tl.labels == ["b", "a", "b"]
    np.testing.assert_allclose(tl.confidence, [0.7, 0.9, 0.7])
    assert tl.centre_seconds is None and len(tl) == 3


def test_window_relevance_per_source_frame_interpolates_and_averages():
    sparse = window(0, [2, 4, 8, 0], indices=[0, 2, 4, 6])      # a 7-frame window sampled to T=4
    np.testing.assert_allclose(window_frame_relevance(sparse), [2, 3, 4, 6, 8, 4, 0])
    looped = window(0, [1, 2, 3, 5, 6, 7], indices=[0, 1, 2, 0, 1, 2])   # a 3-frame video looped to T=6
    np.testing.assert_allclose(window_frame_relevance(looped), [3, 4, 5])


def test_processing_fps_is_frames_advanced_per_second():
    tl = Timeline(fps=25.0)
    assert tl.processing_fps is None and tl.realtime_factor is None
    tl.append(window(0, np.ones(16), seconds=0.5))              # frames 0-15 in 0.5 s
    tl.append(window(8, np.ones(16), seconds=0.3))              # 8 more frames in 0.3 s
    tl.append(window(16, np.ones(16)), wall_s=0.2)              # an explicit wall time wins
    assert tl.frames_advanced == 32 and tl.wall_s == pytest.approx(1.0)
    assert tl.processing_fps == pytest.approx(32.0)
    assert tl.realtime_factor == pytest.approx(32.0 / 25.0)
    np.testing.assert_allclose(tl.centre_seconds, np.array([7.5, 15.5, 23.5]) / 25.0)


def test_a_streamed_timeline_sums_the_stream(model, video):
    tl = Timeline()
    results = list(stream(model, video, "grad_cam", stride=8))
    for r in results:
        tl.append(r)
    assert tl.fps == 8.0 and tl.frames_advanced == 40 and len(tl.frame_relevance) == 40
    assert tl.wall_s == pytest.approx(sum(sum(r.timings_ms.values()) for r in results) / 1000)
    first = np.clip(results[0].relevance, 0, None).reshape(16, -1).sum(1)   # frames 0-7: window 0 only
    np.testing.assert_allclose(tl.frame_relevance[:8], first[:8], rtol=1e-5)
