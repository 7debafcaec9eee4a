"""Uniform sampling: T frames spread evenly over a video (or an in-memory array), as a Clip."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..errors import VideoError
from ..spec import InputSpec
from .clip import Clip
from .decode import FrameReader, display_shape, file_digest, resize, to_rgb

SHORT_POLICIES = ("loop", "pad")


def sample_indices(n: int, t: int, short: str = "loop") -> tuple[list[int], str | None]:
    """T indices spread evenly over n frames (first and last included), and a note when n < T.

    A video shorter than T is looped (0, 1, .., n-1, 0, 1, ..) or padded by repeating its last
    frame, as `short` says.
    """
    check_options(short)
    if n >= t:
        if t == 1:
            return [(n - 1) // 2], None
        return np.floor(np.linspace(0, n - 1, t) + 0.5).astype(int).tolist(), None
    if n == 1:
        return [0] * t, f"single source frame repeated to {t} frames"
    if short == "loop":
        return [i % n for i in range(t)], f"looped {n} source frames to {t}"
    return [min(i, n - 1) for i in range(t)], f"padded {n} source frames to {t} by repeating the last"


def check_options(short: str = "loop", display_size: int | None = 256, where: str = "") -> None:
    """VideoError unless `short` is a known policy and `display_size` a positive int or None."""
    prefix = f"{where}: " if where else ""
    if short not in SHORT_POLICIES:
        raise VideoError(f"{prefix}short={short!r}: expected one of {SHORT_POLICIES}")
    if display_size is not None and (not isinstance(display_size, (int, np.integer))
                                     or isinstance(display_size, bool) or display_size < 1):
        raise VideoError(f"{prefix}display_size={display_size!r}: expected a positive number of pixels or None")


def rotation_note(rotation: int) -> list[str]:
    """The note a Clip carries when its frames were rotated upright."""
    return [f"rotated {rotation}° clockwise to upright (rotation metadata)"] if rotation else []


def frame_pair(rgb: np.ndarray, spec: InputSpec, display_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """One (H, W, 3) RGB frame -> (model-grid frame, display frame), same field of view, no crop.

    The model frame is shrunk from the display frame when that is at least as large (twice as
    fast as from the source, and nearly the same pixels), else from the source frame.
    """
    display = resize(rgb, display_shape(*rgb.shape[:2], display_size))  # (h, w, 3)
    H, W = spec.size
    base = display if display.shape[0] >= H and display.shape[1] >= W else rgb
    return resize(base, (H, W)), display


def params_digest(content: str, **params) -> str:
    """16 hex digits naming the content plus the sampling parameters (for caching)."""
    blob = json.dumps({"content": content, **params}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def stack_clip(pairs: list[tuple[np.ndarray, np.ndarray]], spec: InputSpec, indices: list[int],
               **fields) -> Clip:
    """Clip from (model frame, display frame) pairs, one per entry of `indices`."""
    frames = np.stack([m for m, _ in pairs])   # (T, H, W, 3) model grid
    display = np.stack([d for _, d in pairs])  # (T, h, w, 3) display size
    return Clip(frames=frames, display=display, spec=spec, source_indices=[int(i) for i in indices], **fields)


def _bounds(path, start: int | None, end: int | None, n: int) -> tuple[int, int, list[str]]:
    """[lo, hi) frame range for start/end (frame indices, end exclusive) within n frames."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0):
            raise VideoError(f"{path}: {name}={value!r} must be a frame index >= 0")
    lo, hi = start or 0, n if end is None else end
    if lo >= n:
        raise VideoError(f"{path}: start={lo} is past the last frame (the video has {n} frames)")
    if hi <= lo:
        raise VideoError(f"{path}: end={hi} must be greater than start={lo}")
    notes = [f"end={hi} clamped to the video's {n} frames"] if hi > n else []
    return lo, min(hi, n), notes


def _read(reader: FrameReader, indices: list[int], spec: InputSpec, display_size: int | None) -> dict:
    """{index: (model frame, display frame)} for the wanted indices, reading front to back."""
    wanted = set(indices)
    return {i: frame_pair(rgb, spec, display_size)
            for i, rgb in reader.frames(keep=wanted.__contains__, stop=max(wanted) + 1)}


def load_video(path: str | os.PathLike, spec: InputSpec, *, display_size: int | None = 256,
               start: int | None = None, end: int | None = None, short: str = "loop") -> Clip:
    """Read a video file and sample spec.frames frames evenly over it (or over frames [start, end)).

    `frames` are resized to spec.height x spec.width (full field of view, no crop); `display`
    keeps the source aspect with the longer side at most `display_size` (None: source size).
    start/end are frame indices (end exclusive), numbered as the container numbers its frames:
    a frame that fails to decode keeps its index and is never sampled; the T frames are spread
    evenly over the frames of [start, end) that decode. A video with fewer frames than the spec
    is looped or padded (`short`). Frames are read once, front to back, keeping only the sampled
    ones; when the container's frame count proves wrong, or a sampled frame does not decode, the
    file is read a second time. The Clip's notes say what reading and sampling had to do. Still
    images OpenCV's video reader opens (PNG, JPEG) count as one-frame videos; a codec OpenCV
    cannot decode is read with PyAV (see `decode`).
    Raises VideoError for a missing, empty, unreadable, truncated or undecodable file.
    """
    check_options(short, display_size, str(path))
    with FrameReader(path) as reader:
        listed = reader.listed  # the container's figure; 0 when it has none
        got: dict = {}
        wanted = [-1]
        if listed and (start or 0) < listed:  # trust the figure for a first pass ...
            lo, hi, _ = _bounds(reader.path, start, end, listed)
            wanted, _ = _spread(lo, hi, spec.frames, short)
            got = _read(reader, wanted, spec, display_size)
        # ... and read to the end when it matters (one extra grab when the figure was right)
        unsure = not listed or end is None or end > listed or not set(wanted) <= set(got)
        n = reader.count_rest() if unsure else listed
        info, skipped = reader.info, list(reader.skipped)
        lo, hi, clamped = _bounds(info.path, start, end, n)
        notes = reader.notes(lo, hi)
    indices, short_note = _spread(lo, hi, spec.frames, short, skipped, path=info.path)
    if not set(indices) <= set(got):  # the figure was wrong, or frames failed: read again
        with FrameReader(path) as reader:
            got = _read(reader, indices, spec, display_size)
        missing = sorted(set(indices) - set(got))
        if missing:  # a decoder that is not deterministic: typed, never a KeyError
            raise VideoError(f"{info.path}: frame {missing[0]} decoded in one pass but not in the next")
    notes += clamped + ([short_note] if short_note else []) + rotation_note(info.rotation)
    digest = params_digest(file_digest(path), spec=spec.to_dict(), display_size=display_size,
                           start=lo, end=hi, short=short)
    return stack_clip([got[i] for i in indices], spec, indices, fps=info.fps, source=str(path),
                      digest=digest, notes=notes)


def _spread(lo: int, hi: int, t: int, short: str, skipped: list[int] = (),
            path: str = "") -> tuple[list[int], str | None]:
    """sample_indices over the frames of [lo, hi) that decode (all but `skipped`), as absolute frame indices."""
    gone = {i for i in skipped if lo <= i < hi}
    frames = [i for i in range(lo, hi) if i not in gone] if gone else range(lo, hi)
    if not frames:
        raise VideoError(f"{path}: none of frames {lo}-{hi - 1} could be decoded")
    offsets, note = sample_indices(len(frames), t, short)
    return [frames[k] for k in offsets], note


def clip_from_array(frames: np.ndarray, spec: InputSpec, *, display_size: int | None = 256,
                    fps: float | None = None, source: str = "array", short: str = "loop") -> Clip:
    """Sample an in-memory video, uint8 RGB (T, H, W, 3) (or gray (T, H, W)), of any length and size.

    Sampling, resizing, notes and digest follow load_video; the digest covers the array's bytes.
    """
    check_options(short, display_size, source)
    video = np.asarray(frames)
    if video.dtype != np.uint8:
        raise VideoError(f"{source}: expected uint8 frames, got {video.dtype}")
    if video.ndim == 3:
        video = video[..., None]  # (T, H, W) gray -> (T, H, W, 1)
    if video.ndim != 4 or video.shape[-1] not in (1, 3, 4) or 0 in video.shape:
        raise VideoError(f"{source}: expected frames shaped (T, H, W, 3), got {tuple(np.shape(frames))}")
    T0 = video.shape[0]
    indices, note = sample_indices(T0, spec.frames, short)
    pairs = {i: frame_pair(to_rgb(video[i], bgr=False), spec, display_size) for i in set(indices)}
    content = hashlib.sha1(np.ascontiguousarray(video).tobytes()).hexdigest() + str(video.shape)
    digest = params_digest(content, spec=spec.to_dict(), display_size=display_size, short=short)
    return stack_clip([pairs[i] for i in indices], spec, indices, fps=fps, source=source,
                      digest=digest, notes=[note] if note else [])
