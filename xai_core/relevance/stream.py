"""Explain a video as a stream of sliding windows: per window a prediction and its relevance.

    for r in stream(model, "long.mp4", "grad_cam", stride=8):
        print(r.start, r.end, r.label, f"{r.confidence:.0%}")

The video is read once, front to back (`video.iter_windows`), holding one window of frames; a
`Timeline` keeps what a running plot needs (a few numbers per window and one per source frame).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import VideoError
from ..video import Clip, clip_from_array, iter_windows, probe, window_length, window_starts
from .explanation import Explanation, explain
from .temporal import temporal_curve


@dataclass
class WindowResult:
    """One window of a stream: the source frames it covers, the prediction, and the relevance."""

    index: int                    # window number, from 0
    start: int                    # first source frame of the window
    end: int                      # last source frame of the window (inclusive)
    source_indices: list[int]     # the T source frames the model saw
    probabilities: np.ndarray     # (K,) softmax over the model's classes
    class_names: list[str]
    target: int                   # the class the relevance explains (the prediction by default)
    relevance: np.ndarray         # (T, H, W) float32 on the model grid
    display: np.ndarray           # (T, h, w, 3) uint8 RGB, the window's frames at display size
    fps: float | None = None      # the source's frame rate; None when unknown
    timings_ms: dict = field(default_factory=dict)   # decode, explain
    explanation: Explanation | None = field(default=None, repr=False)
    ood: object = None            # ood.OODResult of the window (from the prediction's forward pass)

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def label(self) -> str:
        return self.class_names[self.predicted]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.predicted])

    @property
    def curve(self) -> np.ndarray:
        """Per-frame share of the window's positive relevance, (T,) summing to 1 (or all 0)."""
        return temporal_curve(self.relevance)

    @property
    def centre(self) -> float:
        """The window's centre, in source frames."""
        return (self.start + self.end) / 2

    def seconds(self, frame: float) -> float | None:
        """The time of a source frame in seconds, None without fps."""
        return frame / self.fps if self.fps else None


@dataclass(frozen=True)
class StreamPlan:
    """What a stream will cover, known before it starts: frames, fps, window starts."""

    frames: int                   # source frames (the container's figure for a file: may be off)
    fps: float | None
    length: int                   # source frames per window
    stride: int                   # source frames between window starts
    starts: list[int]             # first frame of each window

    @property
    def windows(self) -> int:
        return len(self.starts)

    @property
    def duration(self) -> float | None:
        return self.frames / self.fps if self.fps else None


def plan(source: str | os.PathLike | np.ndarray, spec, *, length: int | None = None,
         stride: int | None = None, fps: float | None = None, cover_end: bool = True,
         sampling: str = "spread") -> StreamPlan:
    """The windows a stream over `source` will yield (from the file's header; nothing is decoded).

    sampling="fps" (a file only): windows at the model's frame rate, as `video.iter_windows` makes
    them; their length follows from the file's frame rate (`video.window_length`).
    """
    if isinstance(source, np.ndarray):
        _array_sampling(sampling)
        n = int(source.shape[0])
    else:
        info = probe(source)
        n, fps = info.frame_count, info.fps if fps is None else fps
        if sampling == "fps" and length is None:
            length = window_length(spec, info.fps, sampling)
    length = spec.frames if length is None else length
    stride = length if stride is None else stride
    return StreamPlan(n, fps, length, stride, window_starts(n, length, stride, cover_end))


def _array_sampling(sampling: str) -> None:
    """Frames in memory are streamed as spread windows only (their frame rate is the caller's word)."""
    if sampling != "spread":
        raise VideoError(f"array: sampling={sampling!r}: frames in memory are streamed with sampling='spread'; "
                         "write them to a file for windows at the model's frame rate")


def stream(model, source: str | os.PathLike | np.ndarray, method: str = "grad_cam", *,
           length: int | None = None, stride: int | None = None, display_size: int | None = 256,
           target: int | str | None = None, fps: float | None = None, short: str = "loop",
           cover_end: bool = True, sampling: str = "spread", **options) -> Iterator[WindowResult]:
    """Explain a video window by window as it is read: one WindowResult per sliding window.

    source     a video file, or uint8 frames (N, H, W, 3) in memory (give `fps` if known)
    length     source frames per window (default: the model's spec.frames), sampled to spec.frames
    stride     source frames between window starts (default: length, windows side by side)
    sampling   "spread" (default): each window's `length` consecutive frames spread over
               spec.frames; "fps" (a file only): windows at the model's frame rate (spec.fps),
               `length` following from the source's frame rate (see `video.iter_windows`)
    The windows are those of `video.iter_windows` (see `plan`); each is explained with
    `explain(model, window, method, target, **options)`. Only cheap methods keep up with a video.
    """
    spec = model.spec
    if isinstance(source, np.ndarray):
        _array_sampling(sampling)
        windows = _array_windows(source, spec, length, stride, display_size, short, cover_end, fps)
    else:
        windows = iter_windows(source, spec, length=length, stride=stride, display_size=display_size,
                               short=short, cover_end=cover_end, sampling=sampling)
    return _explained(model, windows, method, target, options)


def _explained(model, windows: Iterator[Clip], method: str, target, options: dict) -> Iterator[WindowResult]:
    index = 0
    while True:
        t0 = time.perf_counter()
        clip = next(windows, None)
        decode_ms = (time.perf_counter() - t0) * 1000
        if clip is None:
            return
        t0 = time.perf_counter()
        exp = explain(model, clip, method, target=target, **options)
        explain_ms = (time.perf_counter() - t0) * 1000
        yield WindowResult(index, min(clip.source_indices), max(clip.source_indices), list(clip.source_indices),
                           exp.probabilities, exp.class_names, exp.target, exp.relevance, clip.display,
                           clip.fps, {"decode": decode_ms, "explain": explain_ms}, exp, exp.ood)
        index += 1


def _array_windows(video: np.ndarray, spec, length: int | None, stride: int | None,
                   display_size: int | None, short: str, cover_end: bool, fps: float | None) -> Iterator[Clip]:
    """iter_windows for frames in memory: the same windows, each sampled like clip_from_array."""
    video = np.asarray(video)
    if video.ndim < 3 or video.shape[0] == 0:
        raise VideoError(f"array: expected frames shaped (N, H, W, 3), got {video.shape}")
    length = spec.frames if length is None else length
    stride = length if stride is None else stride
    for name, value in (("length", length), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise VideoError(f"array: {name}={value!r} must be a positive number of frames")
    return _slices(video, spec, length, stride, display_size, short, cover_end, fps)


def _slices(video, spec, length, stride, display_size, short, cover_end, fps) -> Iterator[Clip]:
    for start in window_starts(len(video), length, stride, cover_end):
        clip = clip_from_array(video[start:start + length], spec, display_size=display_size, fps=fps,
                               source=f"array[{start}:{start + length}]", short=short)
        clip.source_indices = [start + i for i in clip.source_indices]   # window -> source frames
        yield clip


class Timeline:
    """A stream's running record: per window the prediction and confidence; per source frame the
    relevance, averaged over the windows that cover it; and two speeds.

    Speeds, in source frames per second:
    - `shown_fps`: frames advanced per wall-clock second of the stream's own clock (`elapsed_s`,
      kept by whoever shows the windows: from Play to the newest window on screen, so decoding,
      explaining, drawing, delivery and any wait for a shared CPU all count). This is what a
      viewer gets, and the only speed a page may call its frame rate.
    - `processing_fps`: frames advanced per second of work on the windows (`wall_s`, the sum of
      each window's decode + explain (+ draw) time): what the machine could do for this stream
      alone; an upper bound of `shown_fps`.
    """

    def __init__(self, fps: float | None = None):
        self.fps = fps
        self.class_names: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.predicted: list[int] = []
        self.confidence: list[float] = []
        self.wall_s = 0.0                      # processing time spent on the windows so far, seconds
        self.elapsed_s: float | None = None    # the stream's wall clock at its newest window, seconds
        self._sum = np.zeros(0)                # (frames,) summed relevance per source frame
        self._count = np.zeros(0, int)         # (frames,) windows covering each source frame

    def __len__(self) -> int:
        return len(self.starts)

    def append(self, result: WindowResult, wall_s: float | None = None, elapsed_s: float | None = None) -> None:
        """Record one window. `wall_s`: the work it took, seconds (default: its decode + explain
        time); `elapsed_s`: the stream's wall clock when it was shown, seconds since the stream
        started playing, pauses left out (never decreasing; None when nobody keeps a clock)."""
        if elapsed_s is not None and self.elapsed_s is not None and elapsed_s < self.elapsed_s:
            raise ValueError(f"elapsed_s={elapsed_s} is before the previous window's {self.elapsed_s}")
        self.elapsed_s = self.elapsed_s if elapsed_s is None else elapsed_s
        self.fps = self.fps or result.fps
        self.class_names = self.class_names or list(result.class_names)
        self.starts.append(result.start)
        self.ends.append(result.end)
        self.predicted.append(result.predicted)
        self.confidence.append(result.confidence)
        self.wall_s += sum(result.timings_ms.values()) / 1000 if wall_s is None else wall_s
        values = window_frame_relevance(result)                                 # (end - start + 1,)
        self._grow(result.end + 1)
        self._sum[result.start:result.end + 1] += values
        self._count[result.start:result.end + 1] += 1

    def tick(self, elapsed_s: float) -> None:
        """Read the stream's clock without a new window (e.g. when its end is found): `elapsed_s`
        seconds since it started, pauses left out; the time counts in `shown_fps`."""
        self.elapsed_s = max(self.elapsed_s or 0.0, elapsed_s)

    def _grow(self, n: int) -> None:
        if n > len(self._sum):
            self._sum = np.concatenate([self._sum, np.zeros(n - len(self._sum))])
            self._count = np.concatenate([self._count, np.zeros(n - len(self._count), int)])

    @property
    def centres(self) -> np.ndarray:
        """Window centres in source frames, (W,)."""
        return (np.asarray(self.starts, float) + np.asarray(self.ends, float)) / 2

    @property
    def centre_seconds(self) -> np.ndarray | None:
        """Window centres in seconds, (W,); None without fps."""
        return self.centres / self.fps if self.fps else None

    @property
    def labels(self) -> list[str]:
        return [self.class_names[k] for k in self.predicted]

    @property
    def frame_relevance(self) -> np.ndarray:
        """Relevance per source frame 0..last seen, (F,): the mean over the windows covering it of
        each window's positive relevance in that frame (summed over the frame's pixels, in the
        method's units; see `window_frame_relevance`). 0 for frames no window has covered yet."""
        return np.divide(self._sum, self._count, out=np.zeros_like(self._sum), where=self._count > 0)

    @property
    def frames_advanced(self) -> int:
        """Source frames the stream has moved through: the first window's start to the last end."""
        return max(self.ends) + 1 - min(self.starts) if self.starts else 0

    @property
    def processing_fps(self) -> float | None:
        """Source frames advanced per second of processing; None before any time was spent."""
        return self.frames_advanced / self.wall_s if self.wall_s > 0 else None

    @property
    def realtime_factor(self) -> float | None:
        """processing fps / source fps: above 1 the work alone is faster than real time."""
        fps = self.processing_fps
        return fps / self.fps if fps and self.fps else None

    @property
    def shown_fps(self) -> float | None:
        """Source frames advanced per wall-clock second of the stream (`elapsed_s`); None before
        a clock has run."""
        return self.frames_advanced / self.elapsed_s if self.elapsed_s else None

    @property
    def shown_factor(self) -> float | None:
        """shown fps / source fps: 1 is real time, below 1 the viewer falls behind."""
        fps = self.shown_fps
        return fps / self.fps if fps and self.fps else None


def window_frame_relevance(result: WindowResult) -> np.ndarray:
    """A window's positive relevance per source frame start..end, (L,): summed over each frame's
    pixels; averaged where a frame was sampled twice (a looped short video), interpolated between
    sampled frames where the window has more source frames than the model's T."""
    T = len(result.relevance)
    per_frame = np.clip(np.asarray(result.relevance, np.float64), 0, None).reshape(T, -1).sum(1)  # (T,)
    offsets = np.asarray(result.source_indices) - result.start                # (T,) in 0..L-1
    L = result.end - result.start + 1
    sums = np.bincount(offsets, weights=per_frame, minlength=L)                # (L,)
    counts = np.bincount(offsets, minlength=L)                                 # (L,)
    seen = np.nonzero(counts)[0]
    return np.interp(np.arange(L), seen, sums[seen] / counts[seen])
