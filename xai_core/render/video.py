"""Browser-playable video files from RGB frames.

    write_video("overlay.webm", frames, fps=8)       # VP9 in WebM (PyAV; OpenCV as fallback)
    write_video("overlay.mp4", frames, fps=8)        # H.264 in MP4 (PyAV), yuv420p, faststart
    overlay_video("overlay.webm", clip.display, explanation.relevance)
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from ..errors import XaiError
from .overlay import overlay
from .resample import fit_size

# container format, PyAV codec, codec options: fast encodes, good quality for relevance maps
_CODECS = {
    ".webm": ("webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "24", "b": "0",
                                     "row-mt": "1"}),
    ".mp4": ("mp4", "libx264", {"crf": "20", "preset": "veryfast"}),
}


def display_frames(frames: np.ndarray, min_side: int = 256, max_side: int = 1280) -> np.ndarray:
    """Frames (T, h, w, 3) uint8 resized for playback: short side >= min_side (whole-number
    nearest-neighbour growth keeps model-grid pixels crisp), long side <= max_side, even sizes."""
    T, h, w, _ = frames.shape
    if min(h, w) < min_side:
        k = int(np.ceil(min_side / min(h, w)))
        frames = frames.repeat(k, axis=1).repeat(k, axis=2)          # (T, k h, k w, 3)
        h, w = h * k, w * k
    H, W = fit_size(h, w, max_side=max_side)
    if (H, W) != (h, w):
        frames = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for f in frames])
    return np.ascontiguousarray(frames[:, : H - H % 2, : W - W % 2])     # yuv420p needs even sizes


def write_video(path, frames: np.ndarray, fps: float = 8.0, min_side: int = 256,
                max_side: int = 1280) -> Path:
    """Write RGB frames (T, h, w, 3) uint8 to a browser-playable .webm (VP9) or .mp4 (H.264).

    Small frames are enlarged to at least `min_side` pixels; sizes are made even."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _CODECS:
        raise XaiError(f"{path}: video must end in .webm or .mp4 (got {path.suffix or 'no suffix'!r})")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise ValueError(f"{path}: frames must be (T, h, w, 3) uint8 RGB with T >= 1 "
                         f"(got {frames.dtype} {frames.shape})")
    if not fps > 0:
        raise ValueError(f"{path}: fps must be > 0 (got {fps})")
    frames = display_frames(frames, min_side, max_side)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _write_av(path, frames, fps, *_CODECS[suffix])
    except Exception as av_error:                    # PyAV missing or without the codec
        if suffix != ".webm" or not _write_cv2(path, frames, fps):
            raise XaiError(f"{path}: could not encode video ({av_error})") from av_error
    return path


@contextmanager
def keep_scheduling():
    """Restore the calling thread's CPU scheduling policy after the block.

    FFmpeg's SVT-AV1 encoder (libsvtav1, in PyAV's wheels), run as root, switches the thread that
    opens it to real-time SCHED_FIFO priority 99 and leaves it so; every thread and process started
    from it afterwards inherits that. On a 2-core machine two such threads that spin (OpenBLAS
    waiting for its workers, a browser) then starve everything else: a numpy product that takes a
    millisecond never ends (measured: the test suite hung for 90 minutes). Wrap any encoding in
    this; a no-op where the OS has no scheduling policies.
    """
    get = getattr(os, "sched_getscheduler", None)
    before = get(0) if get else None
    param = os.sched_getparam(0) if get else None
    try:
        yield
    finally:
        if get and get(0) != before:
            os.sched_setscheduler(0, before, param)


def _write_av(path: Path, frames: np.ndarray, fps: float, fmt: str, codec: str, options: dict) -> None:
    """Encode with PyAV (FFmpeg): yuv420p, which every browser plays."""
    from fractions import Fraction

    import av

    _, H, W, _ = frames.shape                                            # T, H, W, C
    container_options = {"movflags": "+faststart"} if fmt == "mp4" else {}
    with keep_scheduling(), av.open(str(path), "w", format=fmt, options=container_options) as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001), options=options)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())                     # flush the encoder


def _write_cv2(path: Path, frames: np.ndarray, fps: float) -> bool:
    """The fallback: OpenCV's FFmpeg VP9 writer (slower; its 'tag not supported' note is harmless)."""
    _, H, W, _ = frames.shape                                            # T, H, W, C
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP90"), float(fps), (W, H))
    if not writer.isOpened():
        return False
    try:
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))    # OpenCV wants BGR
    finally:
        writer.release()
    return path.exists() and path.stat().st_size > 0


def overlay_video(path, frames: np.ndarray, relevance: np.ndarray, fps: float = 8.0,
                  **overlay_options) -> Path:
    """Write the frames with relevance overlaid as a browser-playable video (see overlay())."""
    return write_video(path, overlay(frames, relevance, **overlay_options), fps)
