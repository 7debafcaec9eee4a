"""Progress and cancellation for any method, counted in the forward passes it makes.

Every method, captum's or hand-written, runs the model; a forward pre-hook on the model counts
the clips each pass carries (a batch of 8 perturbed clips counts 8) against the passes the
method declares for its options (`options.passes_per_clip`). The callback hears
`(fraction, message)` after each pass and may raise `Cancelled` to stop the method there: the
exception leaves the method at its next forward pass, and the hook is removed in `finally`.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable

import torch

from ..errors import XaiError

Progress = Callable[[float, str], None]


class Cancelled(XaiError):
    """The user stopped a running explanation; nothing was computed."""


class CancelToken:
    """A flag one thread sets and a progress callback checks (`token.check()` raises Cancelled)."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("explanation cancelled")


@contextmanager
def track(model: torch.nn.Module, total: int, callback: Progress | None, most: int | None = None):
    """Count the clips passed through `model` while the block runs; report each pass to `callback`.

    `total` is the passes expected, `most` the most an adaptive method may make (integrated
    gradients refining its integral); past `total` the fraction counts towards `most`. Yields a
    one-item list holding the clips counted so far (counted only when there is a callback).
    The callback is also called, with the same values, before each top-level block of the net
    runs, so that a Cancelled it raises stops a big model's batch after one block, not the batch.
    """
    done = [0]
    if callback is None:
        yield done
        return
    total = max(int(total), 1)
    most = max(int(most or total), total)

    last = [0.0, f"0 of {total} forward passes"]

    def hook(module, args):
        x = args[0] if args else None
        count(int(x.shape[0]) if torch.is_tensor(x) and x.dim() > 0 else 1)

    def count(clips: int):
        done[0] += clips
        n = done[0]
        if n <= total:
            last[:] = n / total, f"{n} of {total} forward passes"
        else:
            last[:] = min(n / most, 1.0), f"{n} forward passes (refining, at most {most})"
        callback(*last)

    def again(module, args):
        callback(*last)          # inside a pass: nothing new, but a cancel is heard a block later, not a batch

    _COUNTERS.setdefault(id(model), []).append(count)
    handles = [model.register_forward_pre_hook(hook)]
    handles += [child.register_forward_pre_hook(again) for child in getattr(model, "net", model).children()]
    try:
        callback(*last)
        yield done
    finally:
        for handle in handles:
            handle.remove()
        _COUNTERS[id(model)].remove(count)
        if not _COUNTERS[id(model)]:
            del _COUNTERS[id(model)]


_COUNTERS: dict[int, list] = {}          # id(model) -> the counters of the tracks running on it


def passes_made(model: torch.nn.Module, clips: int) -> None:
    """Tell the tracks running on `model` that a method made `clips` forward passes' worth of work
    without calling the model (incremental occlusion runs its layers on slabs); a Cancelled a
    callback raises comes out of here."""
    for count in list(_COUNTERS.get(id(model), ())):
        count(clips)


def part(progress: Progress | None, start: float, width: float, prefix: str = "") -> Progress | None:
    """A callback for one part of a longer job: its fraction f is reported as start + f * width of
    `progress`, its message after `prefix`; None when there is no one to tell."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + fraction * width, prefix + message)
