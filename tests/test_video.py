"""Video input: decoding real and synthetic files, uniform sampling, sliding windows, errors."""
from __future__ import annotations

import fractions
import math
import shutil
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from xai_core.errors import VideoError
from xai_core.video.decode import MAX_FAILURES
from xai_core.spec import InputSpec
from xai_core.video import (clip_from_array, iter_windows, load_video, probe, sample_indices,
                            window_starts)

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"
SMALL = InputSpec(frames=8, height=32, width=32)

# file -> (decoded frames, width, height, fps), as assets/samples/NOTICE.md lists them
REAL = {
    "intel_asl_walk.mkv": (89, 640, 480, 30.0),
    "intel_asl_thanks.mkv": (51, 640, 480, 30.0),
    "intel_asl_yes.mkv": (65, 640, 480, 30.0),
    "intel_face-demographics-walking.gif": (35, 480, 270, 12.5),
    "worker_zone_from_gif.mp4": (71, 480, 270, 15.0),
    "torchcodec_nasa_13013.mp4": (325, 320, 180, 25.0),
}


# ---------------------------------------------------------------- helpers: make test videos

def coded_frame(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    """(h, w, 3) RGB gray frame whose two halves spell the index i (base 16), robust to JPEG."""
    frame = np.empty((h, w, 3), np.uint8)
    frame[:, : w // 2] = (i % 16) * 16 + 8
    frame[:, w // 2:] = (i // 16) * 16 + 8
    return frame


def read_code(frame: np.ndarray) -> int:
    """The index a coded frame spells, read back from the centres of its halves."""
    h, w = frame.shape[:2]
    low, high = (int(frame[h // 2, x, 0]) for x in (w // 4, 3 * w // 4))
    return round((high - 8) / 16) * 16 + round((low - 8) / 16)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0, fourcc: str = "MJPG",
                color: bool = True) -> Path:
    """Write RGB frames with cv2.VideoWriter (gray (H, W) frames when color is False)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h), color)
    assert writer.isOpened(), f"cannot write {path}"
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR) if color else f)
    writer.release()
    return path


def coded_video(path: Path, n: int, **kw) -> Path:
    return write_video(path, [coded_frame(i) for i in range(n)], **kw)


def pyav_video(path: Path, frames: list[np.ndarray], *, rate: int = 10, rotation: int = 0,
               pts_ms: list[int] | None = None, options: dict | None = None,
               codec: str = "mpeg4", pix_fmt: str = "yuv420p") -> Path:
    """Write RGB frames with PyAV: display rotation, explicit timestamps, muxer options, any codec."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w", container_options=options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        if pts_ms is not None:
            stream.codec_context.time_base = fractions.Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for k, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[k], fractions.Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


# ---------------------------------------------------------------- the bundled real clips

@pytest.mark.parametrize("name", sorted(REAL))
def test_real_clip_counts_and_sizes(name):
    n, w, h, fps = REAL[name]
    info = probe(SAMPLES / name, count=True)
    assert (info.frame_count, info.width, info.height, info.fps, info.rotation) == (n, w, h, fps, 0)
    assert info.counted and info.duration == pytest.approx(n / fps)

    clip = load_video(SAMPLES / name, InputSpec())
    assert clip.frames.shape == (16, 64, 64, 3) and clip.frames.dtype == np.uint8
    dh, dw = clip.display.shape[1:3]
    assert max(dh, dw) == 256 and dw / dh == pytest.approx(w / h, rel=0.02)  # aspect kept
    assert clip.source_indices == sample_indices(n, 16)[0]
    assert clip.source_indices[0] == 0 and clip.source_indices[-1] == n - 1
    assert clip.fps == fps and clip.source == str(SAMPLES / name)
    assert clip.tensor.shape == (3, 16, 64, 64)


def test_container_frame_count_that_lies_is_corrected():
    path = SAMPLES / "intel_asl_yes.mkv"
    assert probe(path).frame_count == 66 and not probe(path).counted  # MKV: estimated from duration
    clip = load_video(path, InputSpec())
    assert clip.source_indices[-1] == 64
    assert "the container reported 66 frames; 65 decoded" in clip.notes


def test_real_frames_are_rgb_and_match_an_independent_decode():
    path = SAMPLES / "worker_zone_from_gif.mp4"
    clip = load_video(path, SMALL, display_size=None)
    cap = cv2.VideoCapture(str(path))
    for _ in range(clip.source_indices[3] + 1):
        ok, bgr = cap.read()
    np.testing.assert_array_equal(clip.display[3], bgr[..., ::-1])  # source size, RGB


# ---------------------------------------------------------------- uniform sampling

def test_uniform_sampling_picks_evenly_spaced_frames_in_order(tmp_path):
    clip = load_video(coded_video(tmp_path / "v.avi", 40), SMALL)
    assert clip.source_indices == [0, 6, 11, 17, 22, 28, 33, 39]
    assert [read_code(f) for f in clip.display] == clip.source_indices  # the content agrees
    assert clip.frames.shape == (8, 32, 32, 3) and clip.display.shape == (8, 48, 64, 3)
    assert clip.notes == [] and clip.fps == 10.0


def test_start_end_are_frame_indices(tmp_path):
    path = coded_video(tmp_path / "v.avi", 40)
    clip = load_video(path, SMALL, start=10, end=26)
    assert clip.source_indices == [10 + k for k in sample_indices(16, 8)[0]]
    assert clip.source_indices[0] == 10 and clip.source_indices[-1] == 25
    assert [read_code(f) for f in clip.display] == clip.source_indices
    clamped = load_video(path, SMALL, start=30, end=100)
    assert clamped.source_indices[-1] == 39 and "end=100 clamped to the video's 40 frames" in clamped.notes
    with pytest.raises(VideoError, match="start=40 is past the last frame"):
        load_video(path, SMALL, start=40)
    with pytest.raises(VideoError, match="end=5 must be greater than start=5"):
        load_video(path, SMALL, start=5, end=5)


@pytest.mark.parametrize("short, expected, note", [
    ("loop", [0, 1, 2, 3, 4, 0, 1, 2], "looped 5 source frames to 8"),
    ("pad", [0, 1, 2, 3, 4, 4, 4, 4], "padded 5 source frames to 8 by repeating the last"),
])
def test_short_video_is_looped_or_padded(tmp_path, short, expected, note):
    clip = load_video(coded_video(tmp_path / "v.avi", 5), SMALL, short=short)
    assert clip.source_indices == expected and note in clip.notes
    assert [read_code(f) for f in clip.display] == expected


def test_single_frame_video_and_still_image(tmp_path):
    clip = load_video(coded_video(tmp_path / "one.avi", 1), SMALL)
    assert clip.source_indices == [0] * 8 and "single source frame repeated to 8 frames" in clip.notes
    png = tmp_path / "still.png"
    cv2.imwrite(str(png), np.full((30, 40, 3), (0, 0, 200), np.uint8))  # BGR: red
    still = load_video(png, SMALL)
    assert still.frames.shape == (8, 32, 32, 3) and still.display.shape == (8, 30, 40, 3)
    assert still.fps is None and probe(png).fps is None  # the image demuxer's 25 fps is made up
    assert still.frames[..., 0].min() > 190 and still.frames[..., 2].max() < 10  # red stays red


def test_grayscale_video_becomes_rgb(tmp_path):
    gray = [coded_frame(i)[..., 0] for i in range(12)]
    clip = load_video(write_video(tmp_path / "g.avi", gray, color=False), SMALL)
    assert clip.frames.shape == (8, 32, 32, 3)
    assert np.array_equal(clip.frames[..., 0], clip.frames[..., 1])
    assert np.array_equal(clip.frames[..., 0], clip.frames[..., 2])
    assert [read_code(f) for f in clip.display] == clip.source_indices


def test_portrait_keeps_aspect_and_full_field_of_view(tmp_path):
    frame = np.zeros((96, 48, 3), np.uint8)  # tall: a red band on the top quarter
    frame[:24] = (255, 0, 0)
    clip = load_video(write_video(tmp_path / "p.avi", [frame] * 4), SMALL, display_size=64)
    assert clip.display.shape == (8, 64, 32, 3)
    for image in (clip.frames[0], clip.display[0]):  # squeezed, not cropped: band still 1/4 high
        red_rows = (image[:, :, 0] > 128).all(axis=1)
        assert red_rows.mean() == pytest.approx(0.25, abs=0.07) and red_rows[0] and not red_rows[-1]


def test_odd_size(tmp_path):
    # cv2.VideoWriter rounds sizes down to even; PNG-in-AVI keeps 97 x 61, losslessly
    frames = [np.random.default_rng(i).integers(0, 256, (61, 97, 3), dtype=np.uint8) for i in range(9)]
    path = pyav_video(tmp_path / "odd.avi", frames, codec="png", pix_fmt="rgb24")
    assert (probe(path).width, probe(path).height) == (97, 61)
    clip = load_video(path, SMALL, display_size=50)
    assert clip.frames.shape == (8, 32, 32, 3) and clip.display.shape == (8, 31, 50, 3)
    full = load_video(path, SMALL, display_size=None)
    np.testing.assert_array_equal(full.display, np.stack([frames[i] for i in full.source_indices]))
    assert load_video(path, SMALL).display.shape == (8, 61, 97, 3)  # never enlarged


def test_variable_frame_rate_is_sampled_by_frame_index(tmp_path):
    gaps = [200 if k % 2 else 33 for k in range(20)]  # alternate long and short frame durations
    frames = [np.full((32, 32, 3), 10 * k, np.uint8) for k in range(20)]
    path = pyav_video(tmp_path / "vfr.mkv", frames, rate=30, pts_ms=np.cumsum([0] + gaps[:-1]).tolist())
    clip = load_video(path, SMALL)
    assert clip.source_indices == sample_indices(20, 8)[0]
    assert np.abs(clip.display[:, 16, 16, 0].astype(int) - 10 * np.array(clip.source_indices)).max() <= 4
    assert clip.fps == probe(path).fps and clip.fps > 0  # as reported by the container
    assert any("decoded" in n for n in clip.notes)  # MKV's estimated count was wrong, and is fixed


def test_container_without_frame_count(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "raw.mjpeg"
    with av.open(str(path), "w", format="mjpeg") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for i in range(12):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")))
        container.mux(stream.encode())
    info = probe(path)
    assert info.counted and info.frame_count == 12
    clip = load_video(path, SMALL)
    assert [read_code(f) for f in clip.display] == clip.source_indices == sample_indices(12, 8)[0]


class _FakeFps:
    """A VideoCapture whose container reports a given fps (missing, 0, nan)."""

    real = cv2.VideoCapture

    def __init__(self, fps):
        self.fps = fps

    def __call__(self, *args):
        cap, fps = self.real(*args), self.fps

        class Capture:
            def get(self, prop):
                return fps if prop == cv2.CAP_PROP_FPS else cap.get(prop)

            def __getattr__(self, name):
                return getattr(cap, name)
        return Capture()


@pytest.mark.parametrize("fps", [0.0, math.nan, -1.0, math.inf])
def test_missing_fps_is_none(tmp_path, monkeypatch, fps):
    path = coded_video(tmp_path / "v.avi", 10)
    monkeypatch.setattr(cv2, "VideoCapture", _FakeFps(fps))
    info = probe(path)
    assert info.fps is None and info.duration is None and info.frame_count == 10
    assert load_video(path, SMALL).fps is None


# ---------------------------------------------------------------- rotation

def _marked(h=32, w=64) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:8, :8] = (255, 0, 0)  # red in the stored top-left corner
    return frame


def test_rotation_metadata_is_applied(tmp_path):
    # a phone held upright stores landscape frames plus "rotate 90° clockwise to display"
    path = pyav_video(tmp_path / "rot.mp4", [_marked()] * 6, rotation=-90)  # PyAV: counter-clockwise
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (90, 32, 64)
    clip = load_video(path, SMALL)
    assert clip.display.shape == (8, 64, 32, 3)  # upright: portrait
    top_right = clip.display[0, :6, -6:, 0]
    assert top_right.min() > 150 and clip.display[0, :6, :6, 0].max() < 60
    assert "rotated 90° clockwise to upright (rotation metadata)" in clip.notes


@pytest.mark.parametrize("rotation", [-90, 90, 180])
def test_manual_rotation_matches_opencv(tmp_path, monkeypatch, rotation):
    """Where a backend cannot auto-rotate, the reader rotates itself, to the same pixels."""
    path = pyav_video(tmp_path / "rot.mp4", [_marked()] * 4, rotation=rotation)
    auto = load_video(path, SMALL)
    real = cv2.VideoCapture

    def no_auto_rotate(*args):
        cap = real(*args)
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)

        class Capture:
            def set(self, prop, value):
                return False if prop == cv2.CAP_PROP_ORIENTATION_AUTO else cap.set(prop, value)

            def get(self, prop):
                return 0.0 if prop == cv2.CAP_PROP_ORIENTATION_AUTO else cap.get(prop)

            def __getattr__(self, name):
                return getattr(cap, name)
        return Capture()

    monkeypatch.setattr(cv2, "VideoCapture", no_auto_rotate)
    manual = load_video(path, SMALL)
    np.testing.assert_array_equal(manual.display, auto.display)
    assert (probe(path).width, probe(path).height) == auto.display.shape[2:0:-1]


# ---------------------------------------------------------------- sliding windows

def test_window_starts():
    assert window_starts(50, 8, 8) == [0, 8, 16, 24, 32, 40, 42]
    assert window_starts(50, 8, 8, cover_end=False) == [0, 8, 16, 24, 32, 40]
    assert window_starts(48, 8, 8) == [0, 8, 16, 24, 32, 40]
    assert window_starts(5, 8, 8) == [0]


def test_windows_side_by_side(tmp_path):
    windows = list(iter_windows(coded_video(tmp_path / "v.avi", 50), SMALL))
    assert [w.source_indices for w in windows] == [list(range(s, s + 8)) for s in window_starts(50, 8, 8)]
    for w in windows:
        assert [read_code(f) for f in w.display] == w.source_indices
        assert w.frames.shape == (8, 32, 32, 3) and w.fps == 10.0
    assert windows[-1].notes[-1] == "last window aligned to the end of the video"
    assert windows[0].notes == ["window over source frames 0-7"]
    assert len({w.digest for w in windows}) == len(windows)


def test_long_windows_are_subsampled_and_overlap(tmp_path):
    windows = list(iter_windows(coded_video(tmp_path / "v.avi", 40), SMALL, length=16, stride=4,
                                cover_end=False))
    positions = sample_indices(16, 8)[0]
    assert [w.source_indices for w in windows] == [[s + p for p in positions] for s in range(0, 25, 4)]
    assert all([read_code(f) for f in w.display] == w.source_indices for w in windows)


def test_video_shorter_than_a_window(tmp_path):
    (only,) = iter_windows(coded_video(tmp_path / "v.avi", 5), SMALL, short="pad")
    assert only.source_indices == [0, 1, 2, 3, 4, 4, 4, 4]
    assert "padded 5 source frames to 8 by repeating the last" in only.notes


class _Spy:
    """Wraps cv2.VideoCapture to log every call that moves through the file."""

    real = cv2.VideoCapture

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, *args):
        cap, calls = self.real(*args), self.calls

        class Capture:
            def grab(self):
                calls.append("grab")
                return cap.grab()

            def retrieve(self, *a):
                calls.append("retrieve")
                return cap.retrieve(*a)

            def read(self, *a):
                calls.append("read")
                return cap.read(*a)

            def set(self, prop, value):
                calls.append(f"set {prop}")
                return cap.set(prop, value)

            def __getattr__(self, name):
                return getattr(cap, name)
        return Capture()


def test_windows_read_once_in_order_with_bounded_memory(tmp_path, monkeypatch):
    n, length = 150, 16
    frames = [np.full((240, 320, 3), i, np.uint8) for i in range(n)]
    path = write_video(tmp_path / "long.avi", frames)
    spy = _Spy()
    monkeypatch.setattr(cv2, "VideoCapture", spy)

    tracemalloc.start()
    try:
        count = 0
        for w in iter_windows(path, SMALL, length=length):
            count += 1
            del w
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == len(window_starts(n, length, length))
    seeks = [c for c in spy.calls if c.startswith("set") and c != f"set {cv2.CAP_PROP_ORIENTATION_AUTO}"]
    assert seeks == [] and "read" not in spy.calls  # no seeking: grab/retrieve only
    # each frame grabbed and converted once; the end is MAX_FAILURES grabs that find nothing
    assert spy.calls.count("grab") == n + MAX_FAILURES and spy.calls.count("retrieve") == n

    pair = 240 * 320 * 3 + 32 * 32 * 3  # display frame (source size < 256) + model frame
    whole = n * 240 * 320 * 3
    assert peak < (2 * length + 4) * pair  # the held window + one Clip's copy + a decoded frame
    assert peak < whole / 3, f"peak {peak / 1e6:.1f} MB vs whole video {whole / 1e6:.1f} MB"


def test_uniform_sampling_keeps_only_sampled_frames(tmp_path):
    n = 150
    path = write_video(tmp_path / "long.avi", [np.full((240, 320, 3), i, np.uint8) for i in range(n)])
    tracemalloc.start()
    try:
        clip = load_video(path, SMALL, display_size=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert clip.display.shape == (8, 240, 320, 3)
    assert peak < 20 * 240 * 320 * 3  # 8 kept + their stacked copy + one decoded, not 150


# ---------------------------------------------------------------- in-memory arrays

def test_clip_from_array():
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (5, 97, 61, 3), dtype=np.uint8)
    clip = clip_from_array(video, SMALL, fps=7.5)
    assert clip.frames.shape == (8, 32, 32, 3) and clip.display.shape == (8, 97, 61, 3)
    assert clip.source_indices == [0, 1, 2, 3, 4, 0, 1, 2] and clip.fps == 7.5
    np.testing.assert_array_equal(clip.display[6], video[1])
    assert clip.digest == clip_from_array(video.copy(), SMALL, fps=7.5).digest
    assert clip.digest != clip_from_array(video, InputSpec(frames=8, height=16, width=16)).digest
    gray = clip_from_array(video[..., 0], SMALL)
    assert gray.frames.shape == (8, 32, 32, 3) and np.array_equal(gray.display[0, ..., 2], video[0, ..., 0])
    with pytest.raises(VideoError, match="uint8"):
        clip_from_array(video.astype(np.float32), SMALL)
    with pytest.raises(VideoError, match=r"\(T, H, W, 3\)"):
        clip_from_array(video[0, 0], SMALL)


# ---------------------------------------------------------------- digest

def test_digest_depends_on_content_and_sampling(tmp_path):
    path = SAMPLES / "intel_asl_thanks.mkv"
    copy = shutil.copy(path, tmp_path / "renamed.mkv")
    a = load_video(path, SMALL)
    assert a.digest == load_video(path, SMALL).digest == load_video(copy, SMALL).digest
    assert a.digest != load_video(path, InputSpec(frames=4, height=32, width=32)).digest
    assert a.digest != load_video(path, SMALL, display_size=128).digest
    assert a.digest != load_video(SAMPLES / "intel_asl_yes.mkv", SMALL).digest


# ---------------------------------------------------------------- errors

def _text_as_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is a text file, not a video\n" * 20)
    return path


def _zero_bytes(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    return path


def _head_of_real_mp4(tmp_path):  # its index (moov) is at the end, so the head cannot be opened
    path = tmp_path / "head.mp4"
    path.write_bytes((SAMPLES / "worker_zone_from_gif.mp4").read_bytes()[:50_000])
    return path


def _truncated_faststart_mp4(tmp_path):  # index first: opens, lists 60 frames, decodes far fewer
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(60)]
    full = pyav_video(tmp_path / "full.mp4", frames, options={"movflags": "faststart"})
    path = tmp_path / "cut.mp4"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    return path


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.mp4", "video file not found"),
    (lambda tmp: tmp, "is a directory, not a video file"),
    (_zero_bytes, r"the file is empty \(0 bytes\)"),
    (_text_as_mp4, "cannot be read as a video"),
    (_head_of_real_mp4, "cannot be read as a video"),
    (_truncated_faststart_mp4, "truncated or damaged: its data ends at 1.10 s of the 6.00 s its container "
                               r"announces \(11 frames decoded of the 60 the container lists\)"),
], ids=["missing", "directory", "zero-byte", "text", "truncated-head", "truncated-tail"])
def test_bad_input_raises_video_error_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    for read in (lambda: load_video(path, SMALL), lambda: list(iter_windows(path, SMALL)),
                 lambda: probe(path, count=True)):
        with pytest.raises(VideoError, match=message) as err:
            read()
        assert str(err.value).startswith(str(path))


def test_bad_options(tmp_path):
    path = coded_video(tmp_path / "v.avi", 10)
    with pytest.raises(VideoError, match="short='wrap'"):
        load_video(path, SMALL, short="wrap")
    with pytest.raises(VideoError, match="stride=0"):
        iter_windows(path, SMALL, stride=0)  # checked at the call, before any iteration
    with pytest.raises(VideoError, match="display_size=0"):
        load_video(path, SMALL, display_size=0)
    with pytest.raises(VideoError, match="video file not found"):
        iter_windows(path.with_name("gone.avi"), SMALL)
