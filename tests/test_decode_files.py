"""Decoding real-world files: undecodable frames mid-stream, the truncation rule, the PyAV fallback, odd paths.

Every file is built here (OpenCV / PyAV) with content that spells its frame index (test_video's
coded frames), so which frames were used is read back from the pixels, not trusted from the code.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.test_video import SMALL, coded_frame, coded_video, read_code, write_video
from xai_core.errors import VideoError
from xai_core.render.video import keep_scheduling
from xai_core.video import iter_windows, load_video, probe, sample_indices
from xai_core.video.decode import MAX_FAILURES

av = pytest.importorskip("av")
ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT.parent / "shared" / "cases" / "midstream-decode-failure"


# ---------------------------------------------------------------- helpers: damaged files

def _jpeg_starts(data: bytes) -> list[int]:
    return [i for i in range(len(data) - 3) if data[i:i + 3] == b"\xff\xd8\xff"]


def damage_frames(path: Path, bad, first: int = 20, last: int = 40) -> Path:
    """Scramble the inside of the JPEGs `bad` of an MJPEG AVI (their headers and scan bytes).

    Only bytes from `first` after a JPEG's start marker to `last` before its end marker are
    touched, so the AVI chunks and index around them stay whole: the frame fails to decode, the
    rest reads on.
    """
    data = bytearray(path.read_bytes())
    starts = _jpeg_starts(data)
    for k in bad:
        end = data.index(b"\xff\xd9", starts[k])  # EOI: stuffing keeps it out of the scan data
        for j in range(starts[k] + first, end - last):
            data[j] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def opencv_grabs(path: Path, tries: int) -> list[bool]:
    """The raw grab() results OpenCV gives, the reference the reader must agree with."""
    cap = cv2.VideoCapture(str(path))
    try:
        return [bool(cap.grab()) for _ in range(tries)]
    finally:
        cap.release()


def bad_frame_video(tmp_path: Path, n: int, bad: list[int]) -> Path:
    path = damage_frames(coded_video(tmp_path / "bad.avi", n), bad)
    grabs = opencv_grabs(path, n)
    assert [i for i, ok in enumerate(grabs) if not ok] == bad, "precondition: exactly these frames fail"
    return path


def case_video(path: Path) -> Path:
    """The recipe of ../shared/cases/midstream-decode-failure/make_video.py, unchanged."""
    rng = np.random.default_rng(0)
    clean = path.with_name("clean.avi")
    writer = cv2.VideoWriter(str(clean), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64))
    for i in range(100):
        frame = np.full((64, 64, 3), 2 * i, np.uint8)
        frame[:8, :8] = rng.integers(0, 255, (8, 8, 3))
        writer.write(frame)
    writer.release()
    data = bytearray(clean.read_bytes())
    soi = _jpeg_starts(data)
    assert len(soi) == 100
    for j in range(soi[49] + 20, soi[49] + 400):
        data[j] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def pyav_coded(path: Path, n: int, codec: str = "mpeg4", *, fmt: str | None = None, rate: int = 10,
               gop: int | None = None, options: dict | None = None, container_options: dict | None = None) -> Path:
    """n coded frames (64 x 48) written with PyAV in any codec and container."""
    with keep_scheduling(), av.open(str(path), "w", format=fmt, container_options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.height, stream.width, stream.pix_fmt = 48, 64, "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        for i in range(n):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")))
        container.mux(stream.encode())
    return path


def cut(path: Path, fraction: float) -> Path:
    """The file's first `fraction` of bytes, as a copy cut short mid-transfer would be."""
    out = path.with_name("cut_" + path.name)
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def readers(path: Path):
    """The three ways to read a file, each to its end: sample, windows, count."""
    return {"load_video": lambda: load_video(path, SMALL),
            "iter_windows": lambda: list(iter_windows(path, SMALL)),
            "probe": lambda: probe(path, count=True)}


# ---------------------------------------------------------------- 1. undecodable frames mid-stream

@pytest.mark.parametrize("bad", [[17], [0, 20, 21]], ids=["one", "first-and-a-pair"])
def test_undecodable_frames_are_skipped_with_their_index_kept(tmp_path, bad):
    n = 40
    path = bad_frame_video(tmp_path, n, bad)
    ok = [i for i in range(n) if i not in bad]  # container numbering: the frames that decode

    info = probe(path, count=True)
    assert (info.frame_count, info.skipped, info.decodable, info.counted) == (n, tuple(bad), n - len(bad), True)
    assert probe(path).frame_count == n and probe(path).skipped == ()  # the header, nothing read

    clip = load_video(path, SMALL)
    assert clip.source_indices == [ok[k] for k in sample_indices(len(ok), 8)[0]]
    assert not set(clip.source_indices) & set(bad)
    assert [read_code(f) for f in clip.display] == clip.source_indices  # the pixels agree
    s = "s" if len(bad) > 1 else ""
    note = f"{len(bad)} undecodable frame{s} skipped (source frame{s} {', '.join(map(str, bad))})"
    assert clip.notes == [note]  # the container's count (40) is right: no other note

    windows = list(iter_windows(path, SMALL))
    assert [(w.source_indices[0] // 8) for w in windows] == list(range(n // 8))  # one window per 8 frames
    for w in windows:
        first = 8 * (w.source_indices[0] // 8)
        inside = [i for i in ok if first <= i < first + 8]
        assert [read_code(f) for f in w.display] == w.source_indices
        assert sorted(set(w.source_indices)) == inside  # every decodable frame, in order, none lost
        assert w.source_indices == sorted(w.source_indices)
        missing = [i for i in bad if first <= i < first + 8]
        assert (any("undecodable" in x for x in w.notes)) == bool(missing)


def test_short_windows_over_an_undecodable_frame_follow_the_short_policy(tmp_path):
    path = bad_frame_video(tmp_path, 40, [17])
    windows = {w.source_indices[0] // 4: w for w in iter_windows(path, SMALL, length=4, short="pad")}
    assert windows[3].source_indices == [12, 13, 14, 15, 15, 15, 15, 15]  # a full window, padded
    assert windows[4].source_indices == [16, 18, 19, 19, 19, 19, 19, 19]  # frame 17 failed
    assert "padded 3 source frames to 8 by repeating the last" in windows[4].notes
    assert "1 undecodable frame skipped (source frame 17)" in windows[4].notes


def test_a_range_of_only_undecodable_frames_is_an_error(tmp_path):
    path = bad_frame_video(tmp_path, 40, [17])
    clip = load_video(path, SMALL, start=10, end=26)
    assert 17 not in clip.source_indices and clip.source_indices[0] == 10 and clip.source_indices[-1] == 25
    with pytest.raises(VideoError, match="none of frames 17-17 could be decoded"):
        load_video(path, SMALL, start=17, end=18)


def test_the_midstream_case_file(tmp_path):
    """../shared/cases/midstream-decode-failure: frame 49 fails, and its damage costs the AVI one more frame."""
    path = case_video(tmp_path / "one_bad_frame.avi")
    grabs = opencv_grabs(path, 101)
    assert [i for i, ok in enumerate(grabs) if not ok][:2] == [49, 99] and all(not g for g in grabs[99:])

    info = probe(path, count=True)
    assert (info.frame_count, info.skipped, info.decodable) == (99, (49,), 98)  # 100 listed
    clip = load_video(path, SMALL)
    assert clip.notes == ["the container reported 100 frames; the stream holds 99: 98 decoded, 1 undecodable",
                          "1 undecodable frame skipped (source frame 49)"]
    ok = [i for i in range(99) if i != 49]
    assert clip.source_indices == [ok[k] for k in sample_indices(98, 8)[0]]
    windows = list(iter_windows(path, SMALL))
    used = sorted({i for w in windows for i in w.source_indices})
    assert used == ok  # every decodable frame is in a window, frame 49 in none
    assert windows[6].notes[:2] == ["window over source frames 48-55", "1 undecodable frame skipped (source frame 49)"]


def test_a_damaged_tail_ends_the_read_in_bounded_time(tmp_path, monkeypatch):
    """Every grab after frame 20 fails: the read stops after MAX_FAILURES of them, and it is damage."""
    n = 60
    path = damage_frames(coded_video(tmp_path / "tail.avi", n), range(20, n))
    grabs = []
    real = cv2.VideoCapture

    def counting(*args):
        cap = real(*args)

        class Capture:
            def grab(self):
                grabs.append(1)
                return cap.grab()

            def __getattr__(self, name):
                return getattr(cap, name)
        return Capture()

    monkeypatch.setattr(cv2, "VideoCapture", counting)
    for name, read in readers(path).items():
        grabs.clear()
        with pytest.raises(VideoError, match=r"truncated or damaged: frames stop decoding at 2\.00 s of its "
                                             r"6\.00 s of video \(20 frames decoded of the 60"):
            read()
        assert len(grabs) <= 2 * (20 + MAX_FAILURES), name  # bounded: never an endless loop


def test_a_video_no_frame_of_which_decodes(tmp_path):
    path = damage_frames(coded_video(tmp_path / "dead.avi", 12), range(12))
    for name, read in readers(path).items():
        with pytest.raises(VideoError, match="no frames could be decoded") as err:
            read()
        assert str(err.value).startswith(str(path)), name


# ---------------------------------------------------------------- 2. one rule for "truncated"

def _edit_list_mp4(tmp_path: Path) -> Path:
    """An intra-only MP4 remuxed (stream copy) so its first 10 frames fall before time 0: the edit list hides them."""
    src = pyav_coded(tmp_path / "intra.mp4", 60, gop=1)
    out = tmp_path / "trimmed.mp4"
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.dts is None:
                continue
            packet.pts -= 10 * packet.duration
            packet.dts -= 10 * packet.duration
            packet.stream = stream
            dst.mux(packet)
    return out


def test_a_header_count_that_disagrees_is_explained_from_what_decodes(tmp_path):
    path = _edit_list_mp4(tmp_path)
    with av.open(str(path)) as container:  # the container's index still lists all 60 samples
        assert container.streams.video[0].frames == 60
    info = probe(path, count=True)
    assert (info.frame_count, info.skipped) == (50, ())
    clip = load_video(path, SMALL)
    assert clip.notes == ["the container reported 60 frames; 50 decoded"]
    assert clip.source_indices == sample_indices(50, 8)[0]
    assert [read_code(f) for f in clip.display] == [i + 10 for i in clip.source_indices]  # what it shows
    windows = list(iter_windows(path, SMALL))
    assert windows[-1].source_indices[-1] == 49 and len(windows) == 7


def test_a_cut_mpeg_program_stream_is_explained(tmp_path):
    """MPEG-PS announces no end (its duration is estimated from the bytes): a cut one is a shorter stream."""
    path = cut(pyav_coded(tmp_path / "v.mpg", 60, "mpeg2video", fmt="mpeg"), 0.5)
    info = probe(path, count=True)
    clip = load_video(path, SMALL)
    assert 0 < info.frame_count < 60 and clip.source_indices[-1] == info.frame_count - 1
    assert [read_code(f) for f in clip.display] == clip.source_indices
    assert any(n.startswith("the container reported ") and n.endswith(f"; {info.frame_count} decoded")
               for n in clip.notes)


@pytest.mark.parametrize("make, message", [
    (lambda tmp: cut(pyav_coded(tmp / "v.mp4", 60, container_options={"movflags": "faststart"}), 1 / 3),
     r"its data ends at \d\.\d0 s of the 6\.00 s its container announces"),
    (lambda tmp: cut(pyav_coded(tmp / "v.webm", 60, "libvpx"), 0.5),
     r"its data ends at \d\.\d0 s of the 6\.00 s its container announces"),
    (lambda tmp: cut(coded_video(tmp / "v.avi", 60), 0.5),  # its index was at the end: the duration is estimated
     r"its data ends at \d\.\d0 s of the \d\.\d0 s its container announces"),
], ids=["mp4", "webm", "avi"])
def test_a_cut_file_is_truncated_whatever_its_container(tmp_path, make, message):
    path = make(tmp_path)
    for name, read in readers(path).items():
        with pytest.raises(VideoError, match="truncated or damaged: " + message) as err:
            read()
        assert str(err.value).startswith(str(path)), name


# ---------------------------------------------------------------- 3. the PyAV fallback

def _opencv_cannot_open(monkeypatch):
    """Make OpenCV's reader refuse every file, as a build without a codec refuses it."""
    class Closed:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

        def release(self):
            pass
    monkeypatch.setattr(cv2, "VideoCapture", Closed)


def _av1(tmp_path: Path, n: int = 30, container: str = "mkv") -> Path:
    if not any(e in av.codecs_available for e in ("libsvtav1", "libaom-av1", "librav1e")):
        pytest.skip("PyAV has no AV1 encoder here")
    encoder = next(e for e in ("libsvtav1", "libaom-av1", "librav1e") if e in av.codecs_available)
    options = {"preset": "12"} if encoder == "libsvtav1" else {}
    return pyav_coded(tmp_path / f"av1.{container}", n, encoder, options=options)


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="no CPU scheduling policies on this OS")
def test_an_svt_av1_encode_leaves_the_scheduling_policy_as_it_was(tmp_path):
    """libsvtav1 run as root switches its caller to SCHED_FIFO 99 and leaves it so (the suite then
    hung on 2 cores: spinning threads starved the rest); keep_scheduling() puts the policy back."""
    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this PyAV has no libsvtav1")
    before = os.sched_getscheduler(0)
    pyav_coded(tmp_path / "a.mkv", 4, "libsvtav1", options={"preset": "12"})
    assert os.sched_getscheduler(0) == before


@pytest.mark.parametrize("container", ["mkv", "mp4", "webm"])
def test_av1_decodes_through_the_fallback(tmp_path, container):
    path = _av1(tmp_path, container=container)
    opencv_decodes = any(opencv_grabs(path, 3))
    info = probe(path, count=True)
    assert (info.frame_count, info.fps, info.width, info.height, info.codec.lower()) == (30, 10.0, 64, 48,
                                                                                         "av1" if not opencv_decodes else info.codec.lower())
    assert info.backend == ("opencv" if opencv_decodes else "pyav")
    clip = load_video(path, SMALL)
    assert clip.source_indices == sample_indices(30, 8)[0]
    assert [read_code(f) for f in clip.display] == clip.source_indices
    if not opencv_decodes:
        assert clip.notes == ["decoded with PyAV: OpenCV could not decode this AV01 stream"]
    windows = list(iter_windows(path, SMALL))
    assert [w.source_indices for w in windows] == [list(range(s, s + 8)) for s in (0, 8, 16, 22)]
    assert all([read_code(f) for f in w.display] == w.source_indices for w in windows)


def test_a_cut_av1_file_follows_the_same_rule(tmp_path):
    path = cut(_av1(tmp_path, container="webm"), 0.5)
    for read in readers(path).values():
        with pytest.raises(VideoError, match=r"truncated or damaged: its data ends at .* its container announces"):
            read()


def test_a_corrupt_av1_file_is_one_error_naming_it(tmp_path):
    good = _av1(tmp_path, container="webm")
    data = bytearray(good.read_bytes())
    for j in range(300, len(data) - 50):
        data[j] ^= 0x5A
    path = tmp_path / "corrupt.webm"
    path.write_bytes(bytes(data))
    for read in readers(path).values():
        with pytest.raises(VideoError, match="cannot be read as a video|no frames could be decoded") as err:
            read()
        assert str(err.value).startswith(str(path))


def test_the_fallback_keeps_every_property_of_the_opencv_path(tmp_path, monkeypatch):
    """The same files read by OpenCV and, with OpenCV refusing them, by PyAV: same frames, indices, notes."""
    from tests.test_video import _marked, pyav_video
    files = {"coded.mp4": pyav_coded(tmp_path / "coded.mp4", 37, "libx264"),
             "coded.avi": coded_video(tmp_path / "coded.avi", 20),
             "rotated.mp4": pyav_video(tmp_path / "rotated.mp4", [_marked()] * 6, rotation=-90)}
    bad = bad_frame_video(tmp_path, 40, [17])
    opencv = {name: (probe(p, count=True), load_video(p, SMALL, display_size=None), list(iter_windows(p, SMALL)))
              for name, p in {**files, "bad.avi": bad}.items()}
    _opencv_cannot_open(monkeypatch)
    for name, p in {**files, "bad.avi": bad}.items():
        info, clip, windows = probe(p, count=True), load_video(p, SMALL, display_size=None), list(iter_windows(p, SMALL))
        ref_info, ref_clip, ref_windows = opencv[name]
        assert info.backend == "pyav" and ref_info.backend == "opencv"
        same = ("frame_count", "fps", "width", "height", "rotation", "skipped", "duration")
        assert [getattr(info, k) for k in same] == [getattr(ref_info, k) for k in same], name
        assert clip.source_indices == ref_clip.source_indices
        assert clip.notes == ["decoded with PyAV: OpenCV could not open the file"] + ref_clip.notes
        assert np.abs(clip.display.astype(int) - ref_clip.display).max() <= 2, name  # RGB, upright
        assert [w.source_indices for w in windows] == [w.source_indices for w in ref_windows]
    assert opencv["rotated.mp4"][1].display.shape[1:3] == (64, 32)  # portrait: the rotation was applied


def test_the_fallback_reads_front_to_back_with_bounded_memory(tmp_path, monkeypatch):
    import tracemalloc
    n, length = 150, 16
    path = write_video(tmp_path / "long.avi", [np.full((240, 320, 3), i, np.uint8) for i in range(n)])
    _opencv_cannot_open(monkeypatch)
    seen = []
    tracemalloc.start()
    try:
        for w in iter_windows(path, SMALL, length=length):
            seen.append(w.source_indices)
            del w
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen[0] == sample_indices(16, 8)[0] and seen[-1][-1] == n - 1
    pair = 240 * 320 * 3 + 32 * 32 * 3
    assert peak < (2 * length + 4) * pair < n * 240 * 320 * 3 / 3


def test_a_text_file_is_not_a_video_even_to_pyav(tmp_path):
    path = tmp_path / "notes.txt"  # FFmpeg's tty demuxer would render it as ANSI art
    path.write_text("not a video\n" * 200)
    with pytest.raises(VideoError, match="cannot be read as a video"):
        probe(path)


# ---------------------------------------------------------------- 4. odd paths: one line each, never a hang

def _no_hang(call, seconds: float = 10.0):
    """Run call() in a thread; fail instead of hanging if it blocks (a FIFO opened for reading would)."""
    out: dict = {}

    def run():
        try:
            call()
        except Exception as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked"
    return out.get("error")


def _odd_paths(tmp: Path) -> dict[str, tuple[Path, str]]:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    (tmp / "dangling.mp4").symlink_to(tmp / "gone.mp4")
    os.mkfifo(tmp / "pipe.mp4")
    (tmp / "video.mp4").write_bytes(b"x" * 10)
    return {
        "symlink-loop": (tmp / "a", "symlink loop"),
        "loop-inside-path": (tmp / "a" / "clip.mp4", "symlink loop"),
        "dangling-symlink": (tmp / "dangling.mp4", f"dangling symlink \\(it points to {tmp / 'gone.mp4'}"),
        "fifo": (tmp / "pipe.mp4", r"is a named pipe \(FIFO\), not a regular file"),
        "device": (Path("/dev/zero"), "is a character device, not a regular file"),
        "too-long": (tmp / ("x" * 300 + ".mp4"), r"the path is too long \(\d+ characters\)"),
        "file-as-folder": (tmp / "video.mp4" / "clip.mp4", r"video file not found \(a part of the path is a file"),
        "missing": (tmp / "missing.mp4", "video file not found"),
    }


@pytest.mark.parametrize("kind", ["symlink-loop", "loop-inside-path", "dangling-symlink", "fifo", "device",
                                  "too-long", "file-as-folder", "missing"])
def test_odd_paths_are_named_for_what_they_are(tmp_path, kind):
    path, message = _odd_paths(tmp_path)[kind]
    for read in (lambda: probe(path), lambda: load_video(path, SMALL), lambda: iter_windows(path, SMALL)):
        error = _no_hang(read)
        assert isinstance(error, VideoError) and "\n" not in str(error), error
        assert __import__("re").search(message, str(error)), str(error)


def test_a_file_without_read_permission(tmp_path):
    path = coded_video(tmp_path / "v.avi", 4)
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(VideoError, match=r"cannot be read \(Permission denied\)"):
            probe(path)
        return
    # root reads anything: ask again from a child process without root's capabilities
    if not Path("/usr/bin/setpriv").exists():
        pytest.skip("running as root without setpriv: no way to be refused")
    code = ("import sys; from xai_core.video.decode import check_file; from xai_core.errors import VideoError\n"
            "try: check_file(sys.argv[1])\nexcept VideoError as e: print(e)")
    run = subprocess.run(["/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", code,
                          str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == f"{path}: cannot be read (Permission denied)", run.stderr[-500:]


# ---------------------------------------------------------------- the CLI: exit 2 and one line for each

_DRIVER = """
import json, os, sys, tempfile
from xai_core.cli import main
results = []
for args in json.loads(sys.argv[1]):
    with tempfile.TemporaryFile() as err:
        sys.stderr.flush(); saved = os.dup(2); os.dup2(err.fileno(), 2)
        try:
            code = main(args)
        except BaseException as e:
            code = repr(e)
        finally:
            sys.stderr.flush(); os.dup2(saved, 2); os.close(saved)
        err.seek(0)
        results.append([code, err.read().decode(errors="replace")])
print(json.dumps(results))
"""


def test_the_cli_on_every_file_of_this_module(tmp_path):
    """One process runs `explain` on each file; its own stderr (FFmpeg's included) is captured per file."""
    files = {"midstream": (case_video(tmp_path / "one_bad_frame.avi"), 0),
             "edit-list": (_edit_list_mp4(tmp_path), 0),
             "webm-cut": (cut(pyav_coded(tmp_path / "v.webm", 60, "libvpx"), 0.5), 2),
             "mp4-cut": (cut(pyav_coded(tmp_path / "f.mp4", 60, container_options={"movflags": "faststart"}), 0.4), 2),
             "damaged-tail": (damage_frames(coded_video(tmp_path / "tail.avi", 40), range(20, 40)), 2),
             "no-frame-decodes": (damage_frames(coded_video(tmp_path / "dead.avi", 12), range(12)), 2)}
    odd = tmp_path / "odd"
    odd.mkdir()
    files.update({k: (p, 2) for k, (p, _) in _odd_paths(odd).items()})
    try:
        files["av1"] = (_av1(tmp_path), 0)
    except pytest.skip.Exception:
        pass
    argv = [["explain", str(p), "--model", "c3d_small", "--method", "saliency", "--out", str(tmp_path / f"out_{k}")]
            for k, (p, _) in files.items()]
    run = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(argv)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    for (name, (path, expected)), (code, err) in zip(files.items(), results):
        assert code == expected, (name, code, err)
        if expected == 2:
            assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (name, err)
            assert str(path)[:40] in err, (name, err)
        else:
            assert err == "", (name, err)
