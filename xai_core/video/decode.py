"""Decoding: open a video file with OpenCV and read it front to back as upright RGB frames.

Frames are read sequentially with grab()/retrieve() (never by seeking, which is unreliable for
many codecs) and resized as soon as they are decoded, so a caller holds only the small frames it
keeps. Every failure becomes a `VideoError` that names the file.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..errors import VideoError

# Clockwise rotation OpenCV reports in CAP_PROP_ORIENTATION_META -> the cv2.rotate code that undoes it.
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
_NOT_A_VIDEO = "cannot be read as a video (not a video file, an unsupported codec, or a damaged or truncated file)"


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: frame count, frame rate, upright size, duration, rotation.

    frame_count  number of frames; decoded by counting when `counted` is True, else the container's figure
    fps          frames per second as the container reports it; None when missing, 0, nan, or a still image
    width, height  size of the upright frames (after the rotation metadata is applied)
    duration     seconds (frame_count / fps); None without fps
    rotation     clockwise degrees (0, 90, 180, 270) applied to make the frames upright
    codec        the stream's FourCC, e.g. "h264", "" when unknown
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

    def to_dict(self) -> dict:
        return asdict(self)


def check_file(path: str | os.PathLike) -> Path:
    """The path as a Path, or a VideoError if it is missing, a directory, or empty."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: video file not found")
    if p.is_dir():
        raise VideoError(f"{p}: is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: the file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise VideoError(f"{p}: cannot be read (permission denied)")
    return p


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


def _fps(value: float, still: bool) -> float | None:
    return None if still or not math.isfinite(value) or value <= 0 else float(value)


def _fourcc(value: float) -> str:
    code = int(value) if math.isfinite(value) and value > 0 else 0
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ")


class FrameReader:
    """An open video, read once from front to back; use as a context manager.

    `info.frame_count` is the container's figure until the reader has counted (`info.counted`);
    `decoded` is how many frames have been grabbed so far.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = check_file(path)
        try:
            self._cap = cv2.VideoCapture(str(self.path))
        except cv2.error as e:  # a path OpenCV chokes on
            raise VideoError(f"{self.path}: {_NOT_A_VIDEO} ({e})") from None
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoError(f"{self.path}: {_NOT_A_VIDEO}")
        self._rotate = self._rotation_fallback()
        self.info = self._read_info()
        self.decoded = 0

    def _rotation_fallback(self) -> int | None:
        """Ask OpenCV to apply the rotation metadata; the cv2.rotate code to apply ourselves if it cannot."""
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        meta = int(self._cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        applied = self._cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1
        return None if applied or meta not in _ROTATE else _ROTATE[meta]

    def _read_info(self) -> VideoInfo:
        cap = self._cap
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if math.isfinite(count) and 0 < count < 2**31 else 0  # 0: unknown
        fps = _fps(cap.get(cv2.CAP_PROP_FPS), still=count == 1 and self._is_image())
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        if self._rotate in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE):
            w, h = h, w  # OpenCV reports the stored size when it does not rotate
        return VideoInfo(path=str(self.path), frame_count=count, fps=fps, width=w, height=h,
                         duration=count / fps if fps and count else None,
                         rotation=rotation if rotation in _ROTATE else 0,
                         codec=_fourcc(cap.get(cv2.CAP_PROP_FOURCC)))

    def _is_image(self) -> bool:
        """A still image (PNG, JPEG, ...) that the video reader opened as one frame."""
        return cv2.haveImageReader(str(self.path))

    def frames(self, keep: Callable[[int], bool] = lambda i: True,
               stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, (H, W, 3) uint8 RGB upright frame) for each index where keep(index), up to `stop`.

        Frames that are not kept are grabbed but never converted. The read resumes where the last
        call stopped; it never seeks.
        """
        while stop is None or self.decoded < stop:
            if not self._grab():
                return
            index = self.decoded
            self.decoded += 1
            if keep(index):
                yield index, self._retrieve(index)

    def count_rest(self) -> int:
        """Grab to the end without converting; the total frame count, recorded in `info`."""
        for _ in self.frames(keep=lambda i: False):
            pass
        fps = None if self.decoded == 1 and self._is_image() else self.info.fps
        self.info = replace(self.info, frame_count=self.decoded, counted=True, fps=fps,
                            duration=self.decoded / fps if fps else None)
        return self.decoded

    def _grab(self) -> bool:
        try:
            return bool(self._cap.grab())
        except cv2.error as e:
            raise VideoError(f"{self.path}: decoding failed after {self.decoded} frames ({e})") from None

    def _retrieve(self, index: int) -> np.ndarray:
        try:
            ok, frame = self._cap.retrieve()
        except cv2.error as e:
            ok, frame = False, e
        if not ok or not isinstance(frame, np.ndarray) or frame.size == 0:
            raise VideoError(f"{self.path}: frame {index} could not be decoded")
        if self._rotate is not None:
            frame = cv2.rotate(frame, self._rotate)
        return to_rgb(frame)

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def index_frame_count(path: str | os.PathLike) -> int | None:
    """The exact frame count a container's index records (MP4, MOV, AVI, GIF), via PyAV; None if unknown."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            n = container.streams.video[0].frames if container.streams.video else 0
    except Exception:  # PyAV raises many error types; this check is only advisory
        return None
    return int(n) if n and n > 0 else None


def check_complete(path: str | os.PathLike, decoded: int) -> None:
    """Raise VideoError if no frame decoded, or the container's index lists clearly more frames than decoded."""
    if decoded == 0:
        raise VideoError(f"{path}: no frames could be decoded")
    listed = index_frame_count(path)
    if listed is not None and listed - decoded > max(2, 0.05 * listed):
        raise VideoError(f"{path}: truncated or damaged: the container lists {listed} frames "
                         f"but decoding stopped after {decoded}")


def probe(path: str | os.PathLike, *, count: bool = False) -> VideoInfo:
    """Frame count, fps, upright size, duration and rotation of a video file, without keeping frames.

    The frame count is the container's figure, except when the container lacks one or `count`
    is True: then every frame is grabbed (not converted) and counted, `counted` is True, and a
    truncated file raises VideoError. MKV and WebM store no count: theirs is estimated from the
    duration and may be off by a frame; count=True makes it exact.
    """
    with FrameReader(path) as reader:
        first = next(reader.frames(stop=1), None)  # one decoded frame proves it is a video
        if first is None:
            raise VideoError(f"{reader.path}: no frames could be decoded")
        if count or reader.info.frame_count == 0:
            reader.count_rest()
            check_complete(reader.path, reader.decoded)
        H, W = first[1].shape[:2]  # the decoded size is the truth, whatever the header says
        return replace(reader.info, height=H, width=W)
