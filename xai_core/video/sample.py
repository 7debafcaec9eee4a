"""Sampling a video to a model's T frames, as a Clip: spread evenly over it, or at the model's frame rate.

sampling="spread"  T frames spread evenly over the video (or over frames [start, end)): the whole
                   clip is seen, at whatever speed that makes it.
sampling="fps"     T frames at the model's frame rate (InputSpec.fps): source frame
                   first + round(k * source fps / model fps), k = 0..T-1, i.e. T / fps seconds of
                   the video, from its middle (or from `start`); a shorter video is looped or padded.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import os

import numpy as np

from ..errors import VideoError
from ..spec import InputSpec
from .clip import Clip
from .decode import FrameReader, display_shape, file_digest, resize, to_rgb

SHORT_POLICIES = ("loop", "pad")
SAMPLINGS = ("spread", "fps")


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


def check_sampling(sampling: str, spec: InputSpec, where: str = "") -> None:
    """VideoError unless `sampling` is one of SAMPLINGS, and "fps" only for a spec that gives its fps."""
    prefix = f"{where}: " if where else ""
    if sampling not in SAMPLINGS:
        raise VideoError(f"{prefix}sampling={sampling!r}: expected one of {SAMPLINGS}")
    if sampling == "fps" and spec.fps is None:
        raise VideoError(f"{prefix}sampling='fps' needs the model's frame rate, and its input spec gives no "
                         "fps; use sampling='spread' (frames spread over the clip) or add fps to the spec")


def rate_span(spec: InputSpec, source_fps: float | None) -> tuple[int, list[int], list[str]]:
    """Frames at the model's rate: (L, positions, notes).

    L source frames hold spec.frames frames at spec.fps: round(T * source fps / spec.fps), at
    least 1; positions[k] = round(k * source fps / spec.fps), capped at L - 1 (a source slower
    than the model repeats frames). A source whose frame rate is unknown is taken to run at
    the model's rate (T consecutive frames), and the notes say so.
    """
    notes = []
    if source_fps:
        step = source_fps / spec.fps
    else:
        step = 1.0
        notes.append(f"the video's frame rate is unknown: taken as the model's {spec.fps:g} fps "
                     f"({spec.frames} consecutive frames)")
    length = max(1, _round(spec.frames * step))
    return length, [min(_round(k * step), length - 1) for k in range(spec.frames)], notes


def _round(x: float) -> int:
    """Halves up (as sample_indices rounds), robust to x * step landing a hair below a half."""
    return int(math.floor(x + 0.5 + 1e-9))


def at_rate(first: int, n: int, positions: list[int], short: str) -> list[int]:
    """Source frames first + positions, for a video (or range) of n frames from `first`: positions
    past its end loop back to `first` ("loop") or stay on its last frame ("pad")."""
    if short == "loop":
        return [first + p % n for p in positions]
    return [first + min(p, n - 1) for p in positions]


def nearest(decodable: list[int], wanted: list[int]) -> list[int]:
    """Positions in `decodable` (sorted frame indices) of the frame nearest each wanted index (the
    earlier one on a tie): a frame that did not decode is replaced by its nearest neighbour in time."""
    picks = []
    for w in wanted:
        j = bisect.bisect_left(decodable, w)
        if j == len(decodable) or (j > 0 and w - decodable[j - 1] <= decodable[j] - w):
            j -= 1
        picks.append(j)
    return picks


def rate_note(t: int, model_fps: float, source_fps: float, indices: list[int], lo: int, hi: int,
              short: str | None = None) -> str:
    """What sampling at the model's rate took, e.g. "32 frames at 25 fps span 1.28 s of 2.20 s
    (source frames 14–51)"; with `short` (the policy), that frames lo..hi-1 were too short for them.
    source_fps: the video's (the model's when the video's is unknown, as rate_span takes it)."""
    span = f"{t} frames at {model_fps:g} fps span {t / model_fps:.2f} s"
    if short is None:
        return f"{span} of {(hi - lo) / source_fps:.2f} s (source frames {min(indices)}–{max(indices)})"
    how = "looped" if short == "loop" else "padded by repeating the last frame"
    return f"{span}, more than the {(hi - lo) / source_fps:.2f} s of source frames {lo}–{hi - 1}: {how}"


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
               start: int | None = None, end: int | None = None, short: str = "loop",
               sampling: str = "spread") -> Clip:
    """Read a video file and sample spec.frames frames from it (or from frames [start, end)).

    sampling="spread" (the default) spreads the T frames evenly over the video, first and last
    frame included. sampling="fps" takes them at the model's frame rate (spec.fps; a spec without
    one is a VideoError): source frame first + round(k * r), r = source fps / spec.fps, over
    round(T * r) source frames (T / spec.fps seconds) from the middle of [start, end), or from
    `start` when it is given; a video whose frame rate is unknown is taken to run at the model's
    (T consecutive frames, noted). The Clip notes the span ("32 frames at 25 fps span 1.28 s of
    2.20 s (source frames 14–51)").
    `frames` are resized to spec.height x spec.width (full field of view, no crop); `display`
    keeps the source aspect with the longer side at most `display_size` (None: source size).
    start/end are frame indices (end exclusive), numbered as the container numbers its frames:
    a frame that fails to decode keeps its index and is never sampled; "spread" spreads the T
    frames evenly over the frames of [start, end) that decode, "fps" takes the nearest frame
    that decodes in its place. A video with fewer frames than it needs (T, or T / spec.fps
    seconds) is looped or padded (`short`). Frames are read once, front to back, keeping only
    the sampled ones; when the container's frame count proves wrong, or a sampled frame does
    not decode, the file is read a second time. The Clip's notes say what reading and sampling
    had to do. Still images OpenCV's video reader opens (PNG, JPEG) count as one-frame videos;
    a codec OpenCV cannot decode is read with PyAV (see `decode`).
    Raises VideoError for a missing, empty, unreadable, truncated or undecodable file.
    """
    check_options(short, display_size, str(path))
    check_sampling(sampling, spec, str(path))

    def pick(lo: int, hi: int, skipped: list[int], fps: float | None) -> tuple[list[int], list[str]]:
        if sampling == "fps":
            return _at_rate(lo, hi, spec, fps, short, skipped, centred=start is None, path=str(path))
        indices, note = _spread(lo, hi, spec.frames, short, skipped, path=str(path))
        return indices, [note] if note else []

    with FrameReader(path) as reader:
        listed = reader.listed  # the container's figure; 0 when it has none
        got: dict = {}
        wanted = [-1]
        if listed and (start or 0) < listed:  # trust the figure for a first pass ...
            lo, hi, _ = _bounds(reader.path, start, end, listed)
            wanted, _ = pick(lo, hi, [], reader.info.fps)
            got = _read(reader, wanted, spec, display_size)
        # ... and read to the end when it matters (one extra grab when the figure was right)
        unsure = not listed or end is None or end > listed or not set(wanted) <= set(got)
        n = reader.count_rest() if unsure else listed
        info, skipped = reader.info, list(reader.skipped)
        lo, hi, clamped = _bounds(info.path, start, end, n)
        notes = reader.notes(lo, hi)
    indices, sampling_notes = pick(lo, hi, skipped, info.fps)
    if not set(indices) <= set(got):  # the figure was wrong, or frames failed: read again
        with FrameReader(path) as reader:
            got = _read(reader, indices, spec, display_size)
        missing = sorted(set(indices) - set(got))
        if missing:  # a decoder that is not deterministic: typed, never a KeyError
            raise VideoError(f"{info.path}: frame {missing[0]} decoded in one pass but not in the next")
    notes += clamped + sampling_notes + rotation_note(info.rotation)
    params = dict(spec=spec.to_dict(), display_size=display_size, start=lo, end=hi, short=short)
    if sampling != "spread":  # spread keeps the digests it always had
        params.update(sampling=sampling, indices=indices)
    digest = params_digest(file_digest(path), **params)
    return stack_clip([got[i] for i in indices], spec, indices, fps=info.fps, source=str(path),
                      digest=digest, notes=notes, sampling=sampling)


def _spread(lo: int, hi: int, t: int, short: str, skipped: list[int] = (),
            path: str = "") -> tuple[list[int], str | None]:
    """sample_indices over the frames of [lo, hi) that decode (all but `skipped`), as absolute frame indices."""
    frames = _decodable(lo, hi, skipped, path)
    offsets, note = sample_indices(len(frames), t, short)
    return [frames[k] for k in offsets], note


def _decodable(lo: int, hi: int, skipped, path: str):
    """The frame indices of [lo, hi) that decode (all but `skipped`); VideoError when none does."""
    gone = {i for i in skipped if lo <= i < hi}
    frames = [i for i in range(lo, hi) if i not in gone] if gone else range(lo, hi)
    if not frames:
        raise VideoError(f"{path}: none of frames {lo}-{hi - 1} could be decoded")
    return frames


def _at_rate(lo: int, hi: int, spec: InputSpec, fps: float | None, short: str, skipped: list[int] = (),
             centred: bool = True, path: str = "") -> tuple[list[int], list[str]]:
    """spec.frames frame indices at the model's rate within [lo, hi) (see load_video), and the notes.

    From the middle of [lo, hi) when `centred`, else from lo; a range shorter than the span is
    looped or padded (`short`); a frame that does not decode is replaced by its nearest neighbour.
    """
    length, positions, notes = rate_span(spec, fps)
    n = hi - lo
    fits = n >= length
    first = lo + (n - length) // 2 if fits and centred else lo
    wanted = at_rate(first, n - (first - lo), positions, short)
    frames = _decodable(lo, hi, skipped, path)
    indices = [frames[j] for j in nearest(frames, wanted)] if len(frames) < n else wanted
    notes.append(rate_note(spec.frames, spec.fps, fps or spec.fps, indices, lo, hi,
                           None if fits else short))
    return indices, notes


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
