"""The Live page's workers: a few threads, shared by every session, that compute stream windows.

Why: the server is one process; if each session decoded and explained its windows in its own
script thread, eight sessions playing at once would run eight torch computations with all
cores each, and the server would stop answering. Instead every window is computed here:

- bounded: WORKERS threads (at most half the CPU cores, and at most 4), each with TORCH_THREADS
  torch threads, so the server, its health checks and the other pages always have CPU left;
- fair: the queue is first in, first out, and a stream asks for its next window only when the
  previous one has arrived (`ui.live.LiveRun`), so playing sessions take turns window by window;
- off the page: a page run only waits for its window (no CPU), so a slow window never blocks
  the server's event loop.

Long explanations (Explain and Compare, `ui.jobs`) run on a second pool of the same size, so a
minute of integrated gradients never holds up a Live window, and Live never holds up them.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


WORKERS = max(1, min(4, cores() // 2))
TORCH_THREADS = max(1, cores() // (2 * WORKERS))

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _start_worker() -> None:
    import torch

    torch.set_num_threads(TORCH_THREADS)      # per thread (OpenMP): the pages' threads keep theirs


def pool() -> ThreadPoolExecutor:
    """The process's worker pool (made on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="xai-live",
                                       initializer=_start_worker)
        return _pool


def submit(fn, *args) -> Future:
    """Queue `fn(*args)` behind the work already queued; its Future."""
    return pool().submit(fn, *args)


_explain_pool: ThreadPoolExecutor | None = None


def explain_pool() -> ThreadPoolExecutor:
    """The process's pool for long explanations (ui.jobs), apart from Live's (made on first use).

    Its threads keep torch's default thread count: one explanation at a time per worker, with
    every core, as the page ran it before.
    """
    global _explain_pool
    with _pool_lock:
        if _explain_pool is None:
            _explain_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="xai-explain")
        return _explain_pool
