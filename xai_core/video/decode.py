"""Decoding: open a video file and read it front to back as upright RGB frames.

OpenCV reads the file; where OpenCV's FFmpeg build cannot decode the codec (AV1 on many
builds), PyAV reads it instead (`pyav_source`), with the same interface and the same rules.
Frames are read sequentially (never by seeking, which is unreliable for many codecs) and resized
as soon as they are decoded, so a caller holds only the small frames it keeps. Every failure
becomes a `VideoError` that names the file.

The rules every pass over a file follows (first pass, count, re-read, windows, probe):

* Frame indices are the container's: frame i is the (i+1)-th frame of the stream, whether it
  decodes or not. A frame that fails to decode in the middle of the stream is skipped (never
  used), keeps its index, and is listed in `skipped`; the Clip notes it.
* The stream ends after `MAX_FAILURES` consecutive frames fail (OpenCV cannot tell the end of a
  file from damage; PyAV can). Failures at the end are not frames.
* A file is *truncated or damaged* (VideoError) only when decoding ends early: its last packet is
  cut short, its data stops before the duration its container announces, its frames stop
  decoding before its packets end, or the demuxer fails. A header frame count that disagrees with
  the decodable frames (edit lists, variable frame rate, a count estimated from the duration or
  the bitrate, stream-copy trims) is not damage: the video is explained from what decodes, and
  the Clip notes both numbers.
"""
from __future__ import annotations

import errno
import hashlib
import math
import os
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..errors import VideoError
from .pyav_source import TEXT_CODECS, CannotOpen, DataEnd, PyAVSource, data_end

# Clockwise rotation (OpenCV's CAP_PROP_ORIENTATION_META, PyAV's frame rotation negated) -> the
# cv2.rotate code that undoes it.
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
_NOT_A_VIDEO = "cannot be read as a video (not a video file, an unsupported codec, or a damaged or truncated file)"
MAX_FAILURES = 100  # consecutive undecodable frames that end a read
_NOTE_LIST = 6      # skipped frames a note lists by index


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: frame count, frame rate, upright size, duration, rotation.

    frame_count  frames in the stream (the container's numbering, undecodable frames included);
                 counted by decoding when `counted` is True, else the container's figure
    fps          frames per second as the container reports it; None when missing, 0, nan, or a still image
    width, height  size of the upright frames (after the rotation metadata is applied)
    duration     seconds (frame_count / fps); None without fps
    rotation     clockwise degrees (0, 90, 180, 270) applied to make the frames upright
    codec        OpenCV's FourCC (e.g. "h264") or PyAV's codec name; "" when unknown
    skipped      indices of frames that failed to decode mid-stream (known for the part read)
    backend      "opencv", or "pyav" when OpenCV could not decode the file
    """

    path: str
    frame_count: int
    fps: float | None
    width: int
    height: int
    duration: float | None
    rotation: int = 0
    codec: str = ""
    counted: bool = False
    skipped: tuple[int, ...] = ()
    backend: str = "opencv"

    @property
    def decodable(self) -> int:
        """Frames that decode: frame_count less the skipped ones."""
        return self.frame_count - len(self.skipped)

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- the path

_FILE_KINDS = ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"),
               (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def check_file(path: str | os.PathLike) -> Path:
    """The path as a Path, or a VideoError that says in one line what is wrong with it.

    Refused without opening anything that could block: a missing file, a dangling symlink, a
    symlink loop, a path too long, a directory, anything but a regular file (a FIFO would wait
    for a writer forever, a device never ends), an empty file, a file that cannot be read.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except ValueError:  # an embedded NUL byte
        raise VideoError(f"{str(p)!r}: not a valid path (it contains a NUL character)") from None
    except OSError as e:
        raise VideoError(_path_problem(p, e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise VideoError(f"{p}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "special file")
        raise VideoError(f"{p}: is a {kind}, not a regular file")
    if st.st_size == 0:
        raise VideoError(f"{p}: the file is empty (0 bytes)")
    try:
        with open(p, "rb"):
            pass
    except OSError as e:
        raise VideoError(f"{p}: cannot be read ({e.strerror or e})") from None
    return p


def _path_problem(p: Path, e: OSError) -> str:
    """One line for an os.stat failure: what is wrong with the path itself."""
    if e.errno == errno.ENAMETOOLONG:
        text = str(p)
        return f"{text[:60]}…: the path is too long ({len(text)} characters)"
    if e.errno == errno.ELOOP:
        return f"{p}: symlink loop (its links lead back to each other, never to a file)"
    if e.errno == errno.ENOENT and p.is_symlink():
        return f"{p}: dangling symlink (it points to {os.readlink(p)}, which does not exist)"
    if e.errno == errno.ENOTDIR:
        return f"{p}: video file not found (a part of the path is a file, not a folder)"
    if e.errno == errno.ENOENT:
        return f"{p}: video file not found"
    if e.errno == errno.EACCES:
        return f"{p}: cannot be reached (permission denied on a folder of the path)"
    return f"{p}: cannot be read ({e.strerror or e})"


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha1 of the file's bytes, read in chunks (the whole file is never in memory)."""
    h = hashlib.sha1()
    try:
        with open(check_file(path), "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
    except OSError as e:
        raise VideoError(f"{path}: cannot be read ({e.strerror or e})") from None
    return h.hexdigest()


# ---------------------------------------------------------------- frames

def display_shape(height: int, width: int, display_size: int | None) -> tuple[int, int]:
    """(h, w) keeping the aspect, the longer side at most `display_size` (never enlarged; None: as is)."""
    scale = 1.0 if display_size is None else min(1.0, display_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) -> (h, w, 3): area averaging when shrinking, bilinear when enlarging."""
    h, w = shape
    if rgb.shape[:2] == (h, w):
        return rgb
    shrink = h * w < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_rgb(frame: np.ndarray, bgr: bool = True) -> np.ndarray:
    """Any decoded frame (gray (H, W) or (H, W, 1), BGR, BGRA) -> (H, W, 3) uint8 RGB."""
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB if bgr else cv2.COLOR_RGBA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if bgr else frame


def _fps(value: float | None, still: bool) -> float | None:
    return None if still or value is None or not math.isfinite(value) or value <= 0 else float(value)


def _fourcc(value: float) -> str:
    code = int(value) if math.isfinite(value) and value > 0 else 0
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ")


class _OpenCVSource:
    """OpenCV's FFmpeg reader behind the interface PyAVSource has: grab, retrieve, time, header."""

    name = "opencv"

    def __init__(self, path: Path):
        try:
            self._cap = cv2.VideoCapture(str(path))
        except cv2.error as e:  # a path OpenCV chokes on
            raise CannotOpen(str(e)) from None
        if not self._cap.isOpened():
            self._cap.release()
            raise CannotOpen("")
        self.path = path
        self.codec = _fourcc(self._cap.get(cv2.CAP_PROP_FOURCC))
        if self.codec.lower() in TEXT_CODECS:  # FFmpeg renders a text file as ANSI art
            self._cap.release()
            raise CannotOpen("a text file")
        self._rotate = self._rotation_fallback()

    def _rotation_fallback(self) -> int | None:
        """Ask OpenCV to apply the rotation metadata; the cv2.rotate code to apply ourselves if it cannot."""
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        meta = int(self._cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        applied = self._cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1
        return None if applied or meta not in _ROTATE else _ROTATE[meta]

    def header(self) -> dict:
        cap = self._cap
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if math.isfinite(count) and 0 < count < 2**31 else 0  # 0: unknown
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self._rotate in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE):
            w, h = h, w  # OpenCV reports the stored size when it does not rotate
        image = cv2.haveImageReader(str(self.path))  # PNG, JPEG: opened as a one-frame video
        return dict(frame_count=count, fps=cap.get(cv2.CAP_PROP_FPS), width=w, height=h,
                    codec=self.codec, image=image, upright=True)

    def rotation(self) -> int:
        meta = int(self._cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        return meta if meta in _ROTATE else 0

    def grab(self) -> bool:
        try:
            return bool(self._cap.grab())
        except cv2.error:
            return False

    def time(self) -> float | None:
        """Seconds from the stream's start to the frame last grabbed (FFmpeg's timestamp)."""
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return ms / 1000 if math.isfinite(ms) else None

    def retrieve(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB, upright."""
        try:
            ok, frame = self._cap.retrieve()
        except cv2.error as e:
            ok, frame = False, e
        if not ok or not isinstance(frame, np.ndarray) or frame.size == 0:
            raise CannotOpen("retrieve failed")
        if self._rotate is not None:
            frame = cv2.rotate(frame, self._rotate)
        return to_rgb(frame)

    def close(self) -> None:
        self._cap.release()


class FrameReader:
    """An open video, read once from front to back; use as a context manager.

    Opening decodes the first frame: with OpenCV, else (a codec OpenCV's build lacks) with PyAV;
    when neither decodes a frame it raises VideoError ("no frames could be decoded").
    `position` is the index of the next frame, `decoded` how many frames decoded so far,
    `skipped` the indices of frames that failed mid-stream. `info.frame_count` is the
    container's figure (`listed`) until the reader has reached the end (`info.counted`); reaching
    the end applies the module's truncation rule.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = check_file(path)
        self.position = 0
        self.skipped: list[int] = []
        self.time_reached: float | None = None  # seconds, the latest timestamp of a decoded frame
        self.ended = False
        self._pending = False                # the first frame is grabbed, not yet yielded
        self._source, self.fallback_reason = self._open()
        self.info = self._header()
        self.listed = self.info.frame_count

    # ---- opening: OpenCV, else PyAV
    def _open(self):
        try:
            source = _OpenCVSource(self.path)
        except CannotOpen:
            source = None
        if source is not None:
            if self._first(source):
                return source, ""
            source.close()
            self.position, self.skipped = 0, []
        why = (f"OpenCV could not decode this {source.codec or 'video'} stream" if source is not None
               else "OpenCV could not open the file")
        try:
            fallback = PyAVSource(self.path)
        except CannotOpen:
            raise VideoError(f"{self.path}: " + ("no frames could be decoded" if source is not None
                                                 else _NOT_A_VIDEO)) from None
        if self._first(fallback):
            return fallback, why
        fallback.close()
        raise VideoError(f"{self.path}: no frames could be decoded")

    def _first(self, source) -> bool:
        """Grab the first decodable frame (leaving it pending); False when there is none."""
        self._source = source
        self._pending = self._advance() is not None
        return self._pending

    def _header(self) -> VideoInfo:
        h = self._source.header()
        rotation = self._source.rotation()
        w, hgt = h["width"], h["height"]
        if not h.get("upright") and rotation in (90, 270):
            w, hgt = hgt, w  # PyAV reports the stored size
        self._image = h["image"]
        count = h["frame_count"]
        fps = _fps(h["fps"], still=self._image and count <= 1)
        return VideoInfo(path=str(self.path), frame_count=count, fps=fps, width=w, height=hgt,
                         duration=count / fps if fps and count else None, rotation=rotation,
                         codec=h["codec"], backend=self._source.name)

    # ---- reading
    @property
    def decoded(self) -> int:
        """Frames decoded so far."""
        return self.position - len(self.skipped)

    def _advance(self) -> int | None:
        """Grab the next decodable frame; its index, or None at the end of the stream."""
        failures = 0
        while failures < MAX_FAILURES:
            got = self._source.grab()
            if got is None:  # PyAV knows the end; OpenCV answers False there too
                break
            if got:
                self.skipped += range(self.position, self.position + failures)
                self.position += failures + 1
                t = self._source.time()  # OpenCV answers 0 for frames flushed at the end: keep the latest
                if t is not None and math.isfinite(t):
                    self.time_reached = max(t, self.time_reached or t)
                return self.position - 1
            failures += 1
        return None

    def frames(self, keep: Callable[[int], bool] = lambda i: True,
               stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, (H, W, 3) uint8 RGB upright frame) for each decodable index where keep(index), up to `stop`.

        Frames that are not kept are decoded but never converted. The read resumes where the
        last call stopped; it never seeks. Reaching the end of the stream counts it (`info`) and
        raises VideoError if the file is truncated or damaged.
        """
        while True:
            if not self._pending:
                if self.ended or self._advance() is None:
                    self._reached_end()
                    return
                self._pending = True
            index = self.position - 1  # the frame grabbed and not yet passed on
            if stop is not None and index >= stop:
                return                 # it stays pending for the next call
            self._pending = False
            if keep(index):
                yield index, self._retrieve(index)

    def _retrieve(self, index: int) -> np.ndarray:
        try:
            rgb = self._source.retrieve()
        except CannotOpen:
            raise VideoError(f"{self.path}: frame {index} could not be decoded") from None
        code = _ROTATE.get(self._source.rotation()) if self._source.name == "pyav" else None
        return rgb if code is None else np.ascontiguousarray(cv2.rotate(rgb, code))

    def count_rest(self) -> int:
        """Read to the end without converting; the stream's frame count, recorded in `info`."""
        for _ in self.frames(keep=lambda i: False):
            pass
        return self.position

    def _reached_end(self) -> None:
        if self.ended:
            return
        self.ended = True
        n = self.position
        fps = None if n == 1 and self._image else self.info.fps
        self.info = replace(self.info, frame_count=n, counted=True, fps=fps, skipped=tuple(self.skipped),
                            duration=n / fps if fps else None)
        if n != self.listed or not self.listed:
            check_complete(self)

    def notes(self, lo: int = 0, hi: int | None = None) -> list[str]:
        """What reading did that a Clip over frames [lo, hi) should say: fallback, count, skipped frames."""
        notes = [f"decoded with PyAV: {self.fallback_reason}"] if self.fallback_reason else []
        if self.info.counted and self.listed and self.info.frame_count != self.listed:
            holds = (f"the stream holds {self.position}: {self.decoded} decoded, {len(self.skipped)} undecodable"
                     if self.skipped else f"{self.decoded} decoded")
            notes.append(f"the container reported {self.listed} frames; {holds}")
        return notes + skipped_note([i for i in self.skipped if lo <= i and (hi is None or i < hi)])

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def skipped_note(skipped: list[int]) -> list[str]:
    """["1 undecodable frame skipped (source frame 49)"], or [] when none was."""
    if not skipped:
        return []
    shown = ", ".join(str(i) for i in skipped[:_NOTE_LIST]) + (", …" if len(skipped) > _NOTE_LIST else "")
    s = "s" if len(skipped) > 1 else ""
    return [f"{len(skipped)} undecodable frame{s} skipped (source frame{s} {shown})"]


# ---------------------------------------------------------------- the truncation rule

def end_problem(end: DataEnd | None, decoded_until: float | None, frames: int,
                fps: float | None) -> str | None:
    """Why a read ended early (the file is truncated or damaged), or None when it ended where the data does.

    decoded_until  seconds from the stream's start to the end of the latest decoded frame
    frames         frames read (decoded and skipped)
    A margin of two frames (0.1 s without a frame rate) absorbs rounding of timestamps. Frames
    stop decoding early only when both their time and their count fall short of the video
    packets (a field-coded stream has two packets a frame; some readers lose the time of the
    last frames).
    """
    if end is None:  # PyAV cannot open it: nothing contradicts what decoded
        return None
    margin = 2 / fps if fps else 0.1
    if end.error:
        return f"the demuxer failed ({end.error})"
    if end.announced is not None and end.data_end is not None and end.data_end < end.announced - margin:
        return f"its data ends at {end.data_end:.2f} s of the {end.announced:.2f} s its container announces"
    if end.last_cut:
        return "its last video packet is cut short"
    if (decoded_until is not None and end.video_end is not None and decoded_until < end.video_end - margin
            and frames < end.video_packets - 2):
        return f"frames stop decoding at {decoded_until:.2f} s of its {end.video_end:.2f} s of video"
    return None


def check_complete(reader: FrameReader) -> None:
    """Raise VideoError if the reader, at the end of its stream, finds the file truncated or damaged.

    Run when the decodable frames disagree with the container's count (or it has none); the
    OpenCV path asks PyAV where the data ends, the PyAV path saw it while reading.
    """
    end = reader._source.end if reader._source.name == "pyav" else data_end(reader.path)
    fps = reader.info.fps
    until = None if reader.time_reached is None else reader.time_reached + (1 / fps if fps else 0.0)
    problem = end_problem(end, until, reader.position, fps)
    if problem:
        listed = f" of the {reader.listed} the container lists" if reader.listed else ""
        raise VideoError(f"{reader.path}: truncated or damaged: {problem} "
                         f"({reader.decoded} frames decoded{listed})")


def probe(path: str | os.PathLike, *, count: bool = False) -> VideoInfo:
    """Frame count, fps, upright size, duration and rotation of a video file, without keeping frames.

    The frame count is the container's figure, except when the container lacks one or `count`
    is True: then every frame is decoded (not converted) and counted, `counted` is True, the
    undecodable ones are listed in `skipped`, and a truncated file raises VideoError. MKV and
    WebM store no count: theirs is estimated from the duration and may be off by a frame;
    count=True makes it exact.
    """
    with FrameReader(path) as reader:
        _, first = next(reader.frames())  # opening proved there is one
        if count or reader.info.frame_count == 0:
            reader.count_rest()
        H, W = first.shape[:2]  # the decoded size is the truth, whatever the header says
        return replace(reader.info, height=H, width=W)
