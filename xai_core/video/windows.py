"""Sliding windows over a long video, read once front to back with bounded memory."""
from __future__ import annotations

import os
from collections import deque
from typing import Iterator

import numpy as np

from ..errors import VideoError
from ..spec import InputSpec
from .clip import Clip
from .decode import FrameReader, check_file, file_digest
from .sample import (at_rate, check_options, check_sampling, frame_pair, nearest, params_digest, rate_note,
                     rate_span, rotation_note, sample_indices, stack_clip)


def window_starts(n: int, length: int, stride: int, cover_end: bool = True) -> list[int]:
    """First frame of each window iter_windows yields over an n-frame video."""
    starts = list(range(0, n - length + 1, stride)) or [0]
    if cover_end and n > length and starts[-1] != n - length:
        starts.append(n - length)
    return starts


def iter_windows(path: str | os.PathLike, spec: InputSpec, *, length: int | None = None,
                 stride: int | None = None, display_size: int | None = 256, short: str = "loop",
                 cover_end: bool = True, sampling: str = "spread") -> Iterator[Clip]:
    """Slide a window of `length` consecutive frames over a video, `stride` frames apart; one Clip each.

    length defaults to spec.frames, stride to length (windows side by side). Each window's
    `length` frames are sampled evenly to spec.frames; `source_indices` are the real frame
    indices. With `cover_end`, a last window aligned to the end of the video covers frames the
    stride would skip; a video shorter than `length` gives one window (looped or padded by
    `short`). The file is read once, front to back; only the last `length` frames are held, at
    model and display size. Window starts are listed by `window_starts`.
    sampling="fps": windows at the model's frame rate (spec.fps; see `load_video`): each covers
    spec.frames / spec.fps seconds, i.e. length = round(spec.frames * source fps / spec.fps)
    source frames (`window_length`; giving `length` too is a VideoError), and its frames are
    source frame start + round(k * source fps / spec.fps); stride is in source frames
    (default: length). A video whose frame rate is unknown is taken to run at the model's.
    Frames are numbered as in `load_video`: a frame that fails to decode keeps its index, so a
    window over it holds fewer frames; they are spread over spec.frames in order (a neighbour
    repeated when fewer than spec.frames remain; at the model's rate, the nearest frame that
    decodes stands in), and the window's notes name the skipped frame.
    A window in which no frame decodes is left out. A truncated file raises VideoError once
    its end is reached.
    """
    check_sampling(sampling, spec, str(path))
    if sampling == "fps" and length is not None:
        raise VideoError(f"{path}: length={length!r}: at the model's frame rate a window is "
                         f"{spec.frames} frames at {spec.fps:g} fps; give stride only")
    checked = {"length": spec.frames if length is None else length}
    checked["stride"] = checked["length"] if stride is None else stride
    for name, value in checked.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise VideoError(f"{path}: {name}={value!r} must be a positive number of frames")
    check_options(short, display_size, str(path))
    check_file(path)  # fail now, not at the first next()
    if sampling == "spread":
        length, stride = checked["length"], checked["stride"]
    return _windows(path, spec, length, stride, display_size, short, cover_end, sampling)


def window_length(spec: InputSpec, source_fps: float | None, sampling: str = "spread") -> int:
    """Source frames in a window of iter_windows' default length: spec.frames ("spread"), or
    those spec.frames frames at spec.fps span ("fps"): round(spec.frames * source fps / spec.fps)."""
    check_sampling(sampling, spec)
    return spec.frames if sampling == "spread" else rate_span(spec, source_fps)[0]


def _in_order(m: int, t: int) -> list[int]:
    """t positions spread evenly over m frames in order, neighbours repeated when m < t."""
    return np.floor(np.linspace(0, m - 1, t) + 0.5).astype(int).tolist() if t > 1 else [(m - 1) // 2]


def _windows(path, spec: InputSpec, length: int | None, stride: int | None, display_size: int | None,
             short: str, cover_end: bool, sampling: str) -> Iterator[Clip]:
    digest = file_digest(path)
    with FrameReader(path) as reader:
        if sampling == "fps":  # the window's length follows from the source's frame rate
            length, positions, rate_notes = rate_span(spec, reader.info.fps)
            stride = length if stride is None else stride
            src_fps, short_note = reader.info.fps or spec.fps, None
        else:
            positions, short_note = sample_indices(length, spec.frames, short)  # within a full window
        common = dict(spec=spec.to_dict(), display_size=display_size, length=length, short=short)
        if sampling != "spread":  # spread keeps the digests it always had
            common["sampling"] = sampling
        held: deque = deque(maxlen=length)  # (index, model frame, display frame): the last `length` decoded

        def window(first: int, final: int, *notes: str | None, picks: list[int] | None = None) -> Clip | None:
            """The Clip over source frames [first, final] from the frames held now; None if none of them decoded.

            picks: positions within the decoded frames held (default: spread evenly, as a full
            window's; at the model's rate, source frame first + positions, looped or padded past
            `final`, the nearest decoded frame standing in for one that did not decode)
            """
            inside = [h for h in held if first <= h[0] <= final]
            if not inside:
                return None
            if sampling == "fps":
                n = final - first + 1
                picks = positions if len(inside) == n == length else \
                    nearest([i for i, _, _ in inside], at_rate(first, n, positions, short))
                indices = [inside[p][0] for p in picks]
                notes = (*rate_notes, rate_note(spec.frames, spec.fps, src_fps, indices, first, final + 1,
                                                None if n >= length else short), *notes)
            elif picks is None and len(inside) == length:
                picks, notes = positions, (short_note, *notes)
            elif picks is None and length < spec.frames:  # short windows follow the `short` policy
                picks, note = sample_indices(len(inside), spec.frames, short)
                notes = (note, *notes)
            elif picks is None:  # frames failed inside: spread the rest in order
                picks = _in_order(len(inside), spec.frames)
            taken = [inside[p] for p in picks]
            return stack_clip([(m, d) for _, m, d in taken], spec, [i for i, _, _ in taken],
                              fps=reader.info.fps, source=str(reader.path), sampling=sampling,
                              digest=params_digest(digest, start=first, **common),
                              notes=[f"window over source frames {first}-{final}"]
                              + [x for x in notes if x] + reader.notes(first, final + 1)
                              + rotation_note(reader.info.rotation))

        start, last = 0, None  # the next window's first frame; the last window yielded

        def complete(upto: int) -> Iterator[Clip]:
            """The windows whose last frame is at most `upto`, in order."""
            nonlocal start, last
            while start + length - 1 <= upto:
                clip = window(start, start + length - 1)
                last, start = start, start + stride
                if clip is not None:
                    yield clip

        for i, rgb in reader.frames():
            yield from complete(i - 1)  # windows whose last frame failed to decode
            held.append((i, *frame_pair(rgb, spec, display_size)))
            yield from complete(i)      # the window that ends with frame i
        n = reader.position  # frames in the stream; the truncation rule has been applied
        yield from complete(n - 1)
        if n < length and sampling == "fps":  # the whole video is shorter than one window
            clip = window(0, n - 1)
        elif n < length:
            picks, note = sample_indices(len(held), spec.frames, short)
            clip = window(0, n - 1, note, picks=picks)
        elif cover_end and last != n - length:
            clip = window(n - length, n - 1, "last window aligned to the end of the video")
        else:
            clip = None
        if clip is not None:
            yield clip
