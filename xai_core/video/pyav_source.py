"""PyAV's side of decoding: the fallback reader for codecs OpenCV lacks, and where a file's data ends.

OpenCV hides FFmpeg's packets; PyAV (the same FFmpeg libraries, pythonic) shows them. Two uses:
`PyAVSource` decodes a file front to back when OpenCV's build cannot (AV1 without a software
decoder, for example), and `DataEnd` records, packet by packet, whether the data stops before
the end its container announces (a cut file), which no frame count can tell.
Source: PyAV, https://pyav.basswood-io.com (FFmpeg's libavformat / libavcodec).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Demuxers and codecs that turn a text file into "video" (ANSI art): never a video to explain.
TEXT_FORMATS = {"tty", "bin", "xbin", "adf", "idf"}
TEXT_CODECS = {"ansi", "bintext", "xbin", "idf"}
# Demuxers of single images (FFmpeg's image2 and *_pipe): a still has no frame rate.
IMAGE_FORMATS = {"image2"}


class CannotOpen(Exception):
    """PyAV cannot open the file as a video (the reason, for the message)."""


@dataclass
class DataEnd:
    """Where a file's packets end, against what its container announces, in seconds from its start.

    announced   the container's duration (None when it states none)
    data_end    the end of the last packet of any stream (pts + duration)
    video_end   the end of the last video packet
    video_packets  video packets that carry a frame to show (not empty, not discarded by an edit list)
    last_cut    the last video packet was cut short (FFmpeg flags a packet it could not read whole)
    error       a demuxing error that ended the read, else ""
    """

    announced: float | None = None
    data_end: float | None = None
    video_end: float | None = None
    video_packets: int = 0
    last_cut: bool = False
    error: str = ""

    def see(self, packet, video_index: int, container_start: float, video_start: float) -> None:
        """Take one demuxed packet into account."""
        if packet.size == 0:  # the flush packet PyAV adds at the end of each stream
            return
        t = packet.pts if packet.pts is not None else packet.dts
        if t is not None and packet.time_base is not None:
            end = float((t + (packet.duration or 0)) * packet.time_base)
            self.data_end = max(self.data_end or -math.inf, end - container_start)
            if packet.stream.index == video_index:
                self.video_end = max(self.video_end or -math.inf, end - video_start)
        if packet.stream.index == video_index:
            self.last_cut = bool(packet.is_corrupt)
            self.video_packets += not packet.is_discard


def _import_av():
    try:
        import av
    except ImportError:  # PyAV is in requirements.txt; without it there is no fallback
        return None
    return av


def _open(path: Path):
    """(container, its first video stream) or CannotOpen."""
    av = _import_av()
    if av is None:
        raise CannotOpen("PyAV is not installed")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError, UnicodeError) as e:
        raise CannotOpen(getattr(e, "strerror", None) or str(e)) from None
    cover = av.stream.Disposition.attached_pic  # an audio file's cover picture is not a video
    streams = [s for s in container.streams.video if not s.disposition & cover]
    if container.format.name in TEXT_FORMATS or not streams or streams[0].codec_context.name in TEXT_CODECS:
        container.close()
        raise CannotOpen("no video stream")
    return container, streams[0]


def _seconds(value, time_base) -> float:
    return float(value * time_base) if value is not None and time_base is not None else 0.0


def data_end(path: Path) -> DataEnd | None:
    """Demux every packet of the file (no decoding) and record where its data ends; None if PyAV cannot open it."""
    try:
        container, stream = _open(path)
    except CannotOpen:
        return None
    av = _import_av()
    with container:
        end = _start_end(container)
        c0, v0 = _starts(container, stream)
        try:
            for packet in container.demux():
                end.see(packet, stream.index, c0, v0)
        except av.error.FFmpegError as e:
            end.error = str(e)
    return end


def _start_end(container) -> DataEnd:
    duration = container.duration  # microseconds (AV_TIME_BASE), None when the container states none
    return DataEnd(announced=duration / 1e6 if duration and duration > 0 else None)


def _starts(container, stream) -> tuple[float, float]:
    """(container start, video stream start) in seconds: where the announced duration and the frame times begin."""
    c0 = container.start_time / 1e6 if container.start_time is not None else 0.0
    v0 = _seconds(stream.start_time, stream.time_base) if stream.start_time is not None else c0
    return c0, v0


class PyAVSource:
    """A video file decoded with PyAV, one frame per grab(), front to back (never seeking).

    grab() returns True for a decoded frame, False when a packet failed to decode (one frame
    lost), None at the end of the stream. Only frames that are retrieve()d are converted to RGB.
    """

    name = "pyav"

    def __init__(self, path: Path):
        self.path = path
        self._container, self._stream = _open(path)
        av = _import_av()
        self._errors = (av.error.FFmpegError,)
        self._stream.thread_type = "AUTO"
        self._packets = self._container.demux()
        self._decoded: deque = deque()  # frames a packet gave beyond the one asked for (decoder delay)
        self._frame = None
        self.end = _start_end(self._container)
        self._c0, self._v0 = _starts(self._container, self._stream)
        self.ended = False

    # ---- the header
    @property
    def codec(self) -> str:
        """The codec's name ("av1"), not the decoder's ("libdav1d")."""
        codec = self._stream.codec_context.codec
        return getattr(codec, "canonical_name", None) or codec.name or ""

    def header(self) -> dict:
        """Frame count (the index's, else duration x rate; 0 unknown), fps, stored size, codec, image."""
        s = self._stream
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(rate) if rate and math.isfinite(float(rate)) and rate > 0 else None
        count = int(s.frames or 0)
        if not count and fps:
            seconds = (_seconds(s.duration, s.time_base) if s.duration
                       else (self.end.announced or 0.0))
            count = int(round(seconds * fps))
        name = self._container.format.name
        image = name in IMAGE_FORMATS or name.endswith("_pipe")
        return dict(frame_count=max(count, 0), fps=fps, width=s.codec_context.width,
                    height=s.codec_context.height, codec=self.codec, image=image)

    # ---- reading
    def grab(self) -> bool | None:
        while not self._decoded:
            if self.ended:
                return None
            try:
                packet = next(self._packets)
            except StopIteration:
                self.ended = True
                return None
            except self._errors as e:  # the demuxer cannot go on: the end, with its reason
                self.end.error, self.ended = str(e), True
                return None
            self.end.see(packet, self._stream.index, self._c0, self._v0)
            if packet.stream.index != self._stream.index:
                continue
            try:
                self._decoded.extend(packet.decode())
            except self._errors:
                return False  # this packet's frame could not be decoded
        self._frame = self._decoded.popleft()
        return True

    def time(self) -> float | None:
        """Seconds from the stream's start to the frame last grabbed."""
        f = self._frame
        return None if f is None or f.pts is None else _seconds(f.pts, f.time_base) - self._v0

    def rotation(self) -> int:
        """Clockwise degrees that make the last grabbed frame upright (PyAV states counter-clockwise)."""
        return int(-(getattr(self._frame, "rotation", 0) or 0)) % 360

    def retrieve(self) -> np.ndarray:
        """The frame last grabbed, (H, W, 3) uint8 RGB as stored (not yet rotated)."""
        try:
            return self._frame.to_ndarray(format="rgb24")
        except self._errors + (ValueError,) as e:
            raise CannotOpen(str(e)) from None

    def close(self) -> None:
        self._decoded.clear()
        self._frame = None
        self._container.close()
