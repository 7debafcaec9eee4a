"""Sliding windows over a long video, read once front to back with bounded memory."""
from __future__ import annotations

import os
from collections import deque
from typing import Iterator

from ..errors import VideoError
from ..spec import InputSpec
from .clip import Clip
from .decode import FrameReader, check_complete, check_file, file_digest
from .sample import check_options, frame_pair, params_digest, rotation_note, sample_indices, stack_clip


def window_starts(n: int, length: int, stride: int, cover_end: bool = True) -> list[int]:
    """First frame of each window iter_windows yields over an n-frame video."""
    starts = list(range(0, n - length + 1, stride)) or [0]
    if cover_end and n > length and starts[-1] != n - length:
        starts.append(n - length)
    return starts


def iter_windows(path: str | os.PathLike, spec: InputSpec, *, length: int | None = None,
                 stride: int | None = None, display_size: int | None = 256, short: str = "loop",
                 cover_end: bool = True) -> Iterator[Clip]:
    """Slide a window of `length` consecutive frames over a video, `stride` frames apart; one Clip each.

    length defaults to spec.frames, stride to length (windows side by side). Each window's
    `length` frames are sampled evenly to spec.frames; `source_indices` are the real frame
    indices. With `cover_end`, a last window aligned to the end of the video covers frames the
    stride would skip; a video shorter than `length` gives one window (looped or padded by
    `short`). The file is read once, front to back; only the last `length` frames are held, at
    model and display size. Window starts are listed by `window_starts`. A truncated file raises
    VideoError once its end is reached.
    """
    length = spec.frames if length is None else length
    stride = length if stride is None else stride
    for name, value in (("length", length), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise VideoError(f"{path}: {name}={value!r} must be a positive number of frames")
    check_options(short, display_size, str(path))
    check_file(path)  # fail now, not at the first next()
    return _windows(path, spec, length, stride, display_size, short, cover_end)


def _windows(path, spec: InputSpec, length: int, stride: int, display_size: int | None, short: str,
             cover_end: bool) -> Iterator[Clip]:
    positions, short_note = sample_indices(length, spec.frames, short)  # within a full window
    digest = file_digest(path)
    common = dict(spec=spec.to_dict(), display_size=display_size, length=length, short=short)
    held: deque = deque(maxlen=length)  # (index, model frame, display frame): the last `length`

    def window(picks: list[int], *notes: str | None) -> Clip:
        """The Clip for the frames held now, taking the positions `picks` within them."""
        taken = [held[p] for p in picks]
        first, final = held[0][0], held[-1][0]
        return stack_clip([(m, d) for _, m, d in taken], spec, [i for i, _, _ in taken],
                          fps=reader.info.fps, source=str(reader.path),
                          digest=params_digest(digest, start=first, **common),
                          notes=[f"window over source frames {first}-{final}"]
                          + [x for x in notes if x] + rotation_note(reader.info.rotation))

    with FrameReader(path) as reader:
        last = None
        for i, rgb in reader.frames():
            held.append((i, *frame_pair(rgb, spec, display_size)))
            start = i - length + 1
            if start >= 0 and start % stride == 0:
                last = start
                yield window(positions, short_note)
        n = reader.decoded
        check_complete(reader.path, n)
        if n < length:  # the whole video is shorter than one window
            yield window(*sample_indices(n, spec.frames, short))
        elif cover_end and last != n - length:
            yield window(positions, short_note, "last window aligned to the end of the video")
