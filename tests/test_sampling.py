"""Sampling at the model's frame rate (sampling="fps") next to "spread over the clip" (the default).

The videos are written here at a known frame rate with frames that spell their index
(test_video's coded frames), so which frames were taken is read back from the pixels.
"""
from __future__ import annotations

import math

import cv2
import pytest

from tests.test_video import SAMPLES, _FakeFps, coded_frame, coded_video, read_code
from xai_core.errors import VideoError
from xai_core.spec import InputSpec
from xai_core.video import (SAMPLINGS, iter_windows, load_video, sample_indices, window_length,
                            window_starts)
from xai_core.video.sample import _at_rate, rate_span

AT25 = InputSpec(frames=8, height=32, width=32, fps=25.0)   # a model trained at 25 fps
NO_FPS = InputSpec(frames=8, height=32, width=32)           # one that takes frames spread over a clip


def formula(n: int, src: float, model: float, t: int, start: int | None = None) -> list[int]:
    """The rule as the docs state it: source frame first + round(k * src / model), over
    round(t * src / model) source frames from the middle (or from `start`), halves rounded up."""
    r = src / model
    length = max(1, math.floor(t * r + 0.5))
    first = (n - length) // 2 if start is None else start
    return [first + min(math.floor(k * r + 0.5 + 1e-9), length - 1) for k in range(t)]


@pytest.fixture(scope="module")
def v30(tmp_path_factory):
    """66 coded frames at 30 fps: 2.20 s."""
    return coded_video(tmp_path_factory.mktemp("fps") / "v30.avi", 66, fps=30.0)


# ---------------------------------------------------------------- one clip at the model's rate

def test_fps_sampling_takes_frames_at_the_models_rate_from_the_middle(v30):
    clip = load_video(v30, AT25, sampling="fps")
    # 8 frames at 25 fps = 0.32 s = round(8 * 30 / 25) = 10 source frames, from (66 - 10) // 2 = 28
    assert clip.source_indices == [28, 29, 30, 32, 33, 34, 35, 36] == formula(66, 30, 25, 8)
    assert [read_code(f) for f in clip.display] == clip.source_indices      # the pixels agree
    assert clip.notes == ["8 frames at 25 fps span 0.32 s of 2.20 s (source frames 28–36)"]
    assert clip.sampling == "fps" and clip.fps == 30.0
    assert clip.sampling_info() == {"mode": "fps", "model_fps": 25.0, "source_fps": 30.0,
                                    "source_frames": [28, 36], "seconds": [pytest.approx(28 / 30, abs=1e-4),
                                                                           pytest.approx(37 / 30, abs=1e-4)]}


@pytest.mark.parametrize("start, end, expected", [
    (0, None, formula(66, 30, 25, 8, start=0)),           # from `start` when it is given
    (50, None, formula(66, 30, 25, 8, start=50)),         # 50..59 fit before frame 65
    (None, 40, formula(40, 30, 25, 8)),                   # the middle of [0, 40)
    (20, 40, [20 + i for i in formula(20, 30, 25, 8, start=0)]),
])
def test_fps_sampling_within_start_end(v30, start, end, expected):
    clip = load_video(v30, AT25, sampling="fps", start=start, end=end)
    assert clip.source_indices == expected
    assert [read_code(f) for f in clip.display] == expected


@pytest.mark.parametrize("model_fps", [10.0, 12.5, 15.0, 25.0, 29.97, 30.0, 50.0, 60.0])
@pytest.mark.parametrize("t", [1, 4, 8, 16])
def test_fps_indices_match_the_formula(v30, model_fps, t):
    spec = InputSpec(frames=t, height=32, width=32, fps=model_fps)
    expected = formula(66, 30, model_fps, t) if t * 30 / model_fps <= 66 else None
    got = _at_rate(0, 66, spec, 30.0, "loop")[0]          # the rule itself, every combination
    if expected is not None:
        assert got == expected
    if (t, model_fps) in ((8, 25.0), (16, 60.0), (4, 12.5)):  # and a few read back from the file
        clip = load_video(v30, spec, sampling="fps")
        assert clip.source_indices == got == [read_code(f) for f in clip.display]


def test_the_models_rate_on_a_source_at_the_same_rate_is_consecutive_frames():
    for n in range(8, 40):
        indices, _ = _at_rate(0, n, AT25, 25.0, "loop")
        assert indices == list(range((n - 8) // 2, (n - 8) // 2 + 8))


def test_a_source_slower_than_the_model_repeats_frames():
    # 10 fps under a 25 fps model: 8 frames span 0.32 s = round(3.2) = 3 source frames
    assert rate_span(AT25, 10.0)[:2] == (3, [0, 0, 1, 1, 2, 2, 2, 2])
    assert _at_rate(0, 30, AT25, 10.0, "loop")[0] == [13, 13, 14, 14, 15, 15, 15, 15]


@pytest.mark.parametrize("short, expected, how", [
    ("loop", [0, 1, 2, 4, 5, 6, 0, 1], "looped"),
    ("pad", [0, 1, 2, 4, 5, 6, 6, 6], "padded by repeating the last frame"),
])
def test_a_video_shorter_than_the_span_is_looped_or_padded_at_the_models_rate(tmp_path, short, expected, how):
    path = coded_video(tmp_path / "short.avi", 7, fps=30.0)   # 0.23 s < 8 frames at 25 fps (0.32 s)
    clip = load_video(path, AT25, sampling="fps", short=short)
    assert clip.source_indices == expected == [read_code(f) for f in clip.display]
    assert clip.notes == [f"8 frames at 25 fps span 0.32 s, more than the 0.23 s of source frames 0–6: {how}"]
    (window,) = iter_windows(path, AT25, sampling="fps", short=short)   # the same in a window
    assert window.source_indices == expected


def test_unknown_source_fps_is_taken_as_the_models(tmp_path, monkeypatch):
    path = coded_video(tmp_path / "v.avi", 30, fps=30.0)
    monkeypatch.setattr(cv2, "VideoCapture", _FakeFps(0.0))   # a container that gives no frame rate
    clip = load_video(path, AT25, sampling="fps")
    assert clip.fps is None
    assert clip.source_indices == list(range(11, 19)) == [read_code(f) for f in clip.display]
    assert clip.notes == ["the video's frame rate is unknown: taken as the model's 25 fps (8 consecutive frames)",
                          "8 frames at 25 fps span 0.32 s of 1.20 s (source frames 11–18)"]
    assert clip.sampling_info()["seconds"] is None
    windows = list(iter_windows(path, AT25, sampling="fps"))
    assert [w.source_indices for w in windows] == [list(range(s, s + 8)) for s in window_starts(30, 8, 8)]


def test_a_still_image_at_the_models_rate(tmp_path):
    png = tmp_path / "still.png"
    cv2.imwrite(str(png), coded_frame(3)[..., ::-1])
    clip = load_video(png, AT25, sampling="fps")               # one frame, no frame rate: repeated
    assert clip.source_indices == [0] * 8 and clip.fps is None
    assert any("frame rate is unknown" in n for n in clip.notes)


def test_an_undecodable_frame_is_replaced_by_its_nearest_neighbour(tmp_path):
    damage_frames = pytest.importorskip("tests.test_decode_files").damage_frames
    path = damage_frames(coded_video(tmp_path / "bad.avi", 66, fps=30.0), [32])
    clip = load_video(path, AT25, sampling="fps")
    # 32 failed: the nearest decodable frame stands in, 31 (the earlier one on a tie with 33)
    assert clip.source_indices == [28, 29, 30, 31, 33, 34, 35, 36]
    assert [read_code(f) for f in clip.display] == clip.source_indices
    assert "1 undecodable frame skipped (source frame 32)" in clip.notes
    (w,) = [w for w in iter_windows(path, AT25, sampling="fps") if w.source_indices[0] == 30]
    assert w.source_indices == [30, 31, 31, 34, 35, 36, 37, 38]     # window 30-39 wants 32: 31 (tie with 33)
    assert [read_code(f) for f in w.display] == w.source_indices


# ---------------------------------------------------------------- spread is unchanged; mistakes

def test_spread_is_the_default_and_ignores_the_spec_fps(v30):
    plain = load_video(v30, NO_FPS)
    with_fps = load_video(v30, AT25)
    explicit = load_video(v30, AT25, sampling="spread")
    assert plain.source_indices == with_fps.source_indices == explicit.source_indices == sample_indices(66, 8)[0]
    assert plain.notes == with_fps.notes == [] and plain.sampling == with_fps.sampling == "spread"
    assert with_fps.digest == explicit.digest != load_video(v30, AT25, sampling="fps").digest
    assert plain.sampling_info() == {"mode": "spread", "model_fps": None, "source_fps": 30.0,
                                     "source_frames": [0, 65], "seconds": [0.0, pytest.approx(2.2)]}
    windows = list(iter_windows(v30, AT25))
    assert [w.source_indices for w in windows] == [list(range(s, s + 8)) for s in window_starts(66, 8, 8)]
    assert all(w.sampling == "spread" for w in windows)


def test_fps_sampling_needs_a_spec_with_fps_and_a_known_mode(v30):
    for call in (lambda: load_video(v30, NO_FPS, sampling="fps"),
                 lambda: iter_windows(v30, NO_FPS, sampling="fps")):
        with pytest.raises(VideoError, match="sampling='fps' needs the model's frame rate, and its input spec "
                                             "gives no fps"):
            call()
    with pytest.raises(VideoError, match=r"sampling='time': expected one of \('spread', 'fps'\)"):
        load_video(v30, AT25, sampling="time")
    with pytest.raises(VideoError, match="sampling='Spread'"):
        iter_windows(v30, AT25, sampling="Spread")
    with pytest.raises(VideoError, match="length=16: at the model's frame rate a window is 8 frames at 25 fps"):
        iter_windows(v30, AT25, length=16, sampling="fps")
    with pytest.raises(VideoError, match="stride=0"):
        iter_windows(v30, AT25, stride=0, sampling="fps")
    assert SAMPLINGS == ("spread", "fps")
    from xai_core import cli
    assert cli.SAMPLINGS == SAMPLINGS                          # the CLI's copy (it imports no video code)


# ---------------------------------------------------------------- windows at the model's rate

@pytest.mark.parametrize("stride", [None, 5, 10])
def test_windows_at_the_models_rate_cover_the_video(v30, stride):
    length = window_length(AT25, 30.0, "fps")
    assert length == 10 and window_length(AT25, 30.0) == 8    # 0.32 s of 30 fps; spread: spec.frames
    windows = list(iter_windows(v30, AT25, sampling="fps", stride=stride))
    starts = window_starts(66, length, stride or length)
    positions = rate_span(AT25, 30.0)[1]
    assert [w.source_indices for w in windows] == [[s + p for p in positions] for s in starts]
    assert all([read_code(f) for f in w.display] == w.source_indices for w in windows)
    covered = set().union(*(range(s, s + length) for s in starts))
    assert covered == set(range(66))                           # every source frame is in a window
    assert all(w.sampling == "fps" and w.frames.shape == (8, 32, 32, 3) for w in windows)
    assert windows[0].notes == ["window over source frames 0-9",
                                "8 frames at 25 fps span 0.32 s of 0.33 s (source frames 0–8)"]
    assert len({w.digest for w in windows}) == len(windows)


@pytest.mark.parametrize("src, model, length", [(25, 25.0, 8), (50, 25.0, 16), (10, 25.0, 3), (12.5, 25.0, 4),
                                                (29.97, 25.0, 10), (60, 12.5, 38)])
def test_window_length_is_the_span_of_the_models_frames(src, model, length):
    spec = InputSpec(frames=8, height=32, width=32, fps=model)
    assert window_length(spec, src, "fps") == length == max(1, math.floor(8 * src / model + 0.5))
    assert window_length(spec, None, "fps") == 8              # unknown source rate: the model's
    with pytest.raises(VideoError):
        window_length(NO_FPS, src, "fps")


def test_a_real_clip_at_i3d_rate():
    """I3D's spec (32 frames at 25 fps) on a 30 fps clip of 89 frames: 38 source frames from the middle."""
    spec = InputSpec(frames=32, height=32, width=32, fps=25.0)
    clip = load_video(SAMPLES / "intel_asl_walk.mkv", spec, sampling="fps")
    assert clip.source_indices == formula(89, 30, 25, 32)
    assert clip.source_indices[0] == 25 and clip.source_indices[-1] == 62
    assert "32 frames at 25 fps span 1.28 s of 2.97 s (source frames 25–62)" in clip.notes
