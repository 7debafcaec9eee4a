"""Long explanations off the page: run in a worker thread, watched by the pages, cancellable.

A page asks for a result by key: `start(key, fn, watcher)` runs `fn(progress)` in
`workers.explain_pool()`; `fn` fills the page caches (ui.cache) and reports
`progress(fraction, message)` after each forward pass, which records how far it got and raises
`Cancelled` once the job is cancelled (the method stops at its next forward pass; hooks and the
model's lock are released on the way out, and nothing is cached).

Sessions asking for the same key share one job. A session that stops watching (its Cancel
button, or it asked for something else) releases the job; the job is cancelled when no session
watches it any more. A finished key is remembered (`finished`), so a page that comes back to it
reads the cache at once instead of queueing behind other sessions' work.

`run_ui` is the page side: a progress bar with the callback's message and a Cancel button while
the job runs, updated every POLL_S within the page's run (any click, Cancel or another widget,
interrupts that run at its next update, Streamlit's fast reruns, and the job runs on); the result
when it is done; "Cancelled" (and a button to run it again) after a cancel. (Rerunning the page
per poll instead, st.rerun(), never finishes a run, so Streamlit keeps showing the last finished
run's widgets below the bar.)
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from typing import Callable

import streamlit as st

from xai_core.methods.cost import describe
from xai_core.methods.progress import Cancelled, CancelToken

from . import workers

POLL_S = 0.5                   # how often a page watching a job redraws its progress
REMEMBER = 256                 # finished keys remembered (the caches hold 64 explanations)


class Job:
    """One computation in a worker thread: its progress, its watchers, its cancel token."""

    def __init__(self, key: str):
        self.key = key
        self.token = CancelToken()
        self.fraction = 0.0
        self.message = "waiting for a free worker"
        self.submitted = time.monotonic()
        self.started: float | None = None
        self.ended: float | None = None
        self.watchers: set[str] = set()
        self.future = None
        self._lock = threading.Lock()

    def report(self, fraction: float, message: str) -> None:
        """The progress callback: remember how far the work got; raise Cancelled once cancelled."""
        self.token.check()
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message

    def release(self, watcher: str) -> None:
        """`watcher` no longer waits for this job; the last one to leave cancels it."""
        with self._lock:
            self.watchers.discard(watcher)
            if self.watchers or self.done:
                return
            self.token.cancel()
            if self.future is not None:
                self.future.cancel()          # still queued: never starts

    @property
    def done(self) -> bool:
        return self.future is not None and self.future.done()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the job to end; True when it has."""
        try:
            self.future.exception(timeout=timeout)
        except Exception:                      # TimeoutError, or cancelled while queued
            pass
        return self.done

    def error(self) -> BaseException | None:
        """The exception the job ended with (Cancelled when it was cancelled), or None."""
        if self.future.cancelled():
            return Cancelled("explanation cancelled")
        return self.future.exception()

    def result(self):
        error = self.error()
        if error is not None:
            raise error
        return self.future.result()

    def elapsed(self) -> float:
        """Seconds since the work started (0 while it waits for a worker)."""
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started


_jobs: dict[str, Job] = {}
_finished: OrderedDict[str, float] = OrderedDict()
_lock = threading.Lock()


def _run(job: Job, fn: Callable):
    job.started = time.monotonic()
    job.message = "the prediction's forward pass, then the method's"
    try:
        job.token.check()                     # cancelled while it waited
        return fn(job.report)
    finally:
        job.ended = time.monotonic()


def _ended(job: Job, future) -> None:
    with _lock:
        if _jobs.get(job.key) is job:
            del _jobs[job.key]
        if not future.cancelled() and future.exception() is None:
            _finished[job.key] = job.elapsed()
            _finished.move_to_end(job.key)
            while len(_finished) > REMEMBER:
                _finished.popitem(last=False)


def start(key: str, fn: Callable, watcher: str) -> Job:
    """The job computing `key` (one already running for it, or a new one running `fn(progress)`),
    with `watcher` among those waiting for it."""
    with _lock:
        job = _jobs.get(key)
        if job is None or job.cancelled or job.done:
            job = Job(key)
            _jobs[key] = job
            job.future = workers.explain_pool().submit(_run, job, fn)
            job.future.add_done_callback(lambda f, job=job: _ended(job, f))
        job.watchers.add(watcher)
        return job


def running(key: str) -> Job | None:
    """The job computing `key` now, if any."""
    with _lock:
        return _jobs.get(key)


def finished(key: str) -> bool:
    """True when a job computed `key` (so the page caches hold it, unless evicted since)."""
    with _lock:
        if key in _finished:
            _finished.move_to_end(key)
            return True
        return False


def forget(key: str) -> None:
    with _lock:
        _finished.pop(key, None)


# ------------------------------------------------------------------------------ the page side

def session_id() -> str:
    """This browser session's id, for sharing and releasing jobs."""
    if "_jobs_session" not in st.session_state:
        st.session_state["_jobs_session"] = uuid.uuid4().hex
    return st.session_state["_jobs_session"]


def _cancel(state_key: str, key: str) -> None:
    """The Cancel button's callback (before the next run): release the job, remember the cancel."""
    job = st.session_state.pop(state_key, None)
    if job is not None:
        job.release(session_id())
    st.session_state[f"{state_key}-cancelled"] = key


def _run_again(state_key: str) -> None:
    st.session_state.pop(f"{state_key}-cancelled", None)


def _progress_text(job: Job, label: str, estimate: float | None) -> str:
    if job.started is None:
        return f"{label}: waiting for a free worker (another explanation is running)"
    of = f" of {describe(estimate)}" if estimate else ""
    return f"{label}: {job.message} · {job.elapsed():.0f} s{of}"


def confirm_long(seconds: float | None, limit: float, key: str, name: str, message: str, button: str) -> None:
    """Above `limit` expected seconds, wait for a click: show `message`, a `button` with the time, stop.

    The session remembers under f"{name}-confirmed" which work `key` the user confirmed, so the
    page runs it on the next pass; the button's widget key is f"{name}-confirm".
    """
    from xai_core.methods.cost import describe

    if seconds is None or seconds <= limit or st.session_state.get(f"{name}-confirmed") == key:
        return
    st.info(message, icon=":material/schedule:")
    st.button(f"{button} ({describe(seconds)})", type="primary", key=f"{name}-confirm",
              on_click=lambda: st.session_state.update({f"{name}-confirmed": key}))
    st.stop()


def leave(state_key: str) -> None:
    """The page needs no job now (it shows something cheap or cached): release the one it watched
    and forget a cancel."""
    job = st.session_state.pop(state_key, None)
    if job is not None:
        job.release(session_id())
    st.session_state.pop(f"{state_key}-cancelled", None)


def run_ui(key: str, fn: Callable, *, label: str, estimate: float | None = None, state_key: str):
    """Run `fn(progress)` in the background and return its result, drawing its progress meanwhile.

    While the job runs, this draws a progress bar (`label`, the callback's message, the seconds
    so far of the estimate) and a Cancel button and updates the bar every POLL_S until the result
    is there. After a cancel it draws "Cancelled" with a button to run
    it again and returns None. A job that failed raises its exception here (an XaiError: the
    page shows it). `state_key` names this page's job in the session state.
    """
    me = session_id()
    if st.session_state.get(f"{state_key}-cancelled") == key:
        st.info(f"**Cancelled:** {label} was stopped; nothing was computed. Pick another clip, model, method "
                "or options, or run it again.", icon=":material/cancel:")
        st.button("Run it again", key=f"{state_key}-again", on_click=_run_again, args=(state_key,),
                  icon=":material/replay:")
        return None
    st.session_state.pop(f"{state_key}-cancelled", None)      # asked for something else: forget the cancel
    job = st.session_state.get(state_key)
    if job is not None and job.key != key:
        job.release(me)                       # the page asks for something else now
        job = None
    if job is None or (job.cancelled and not job.done):
        job = start(key, fn, me)
    st.session_state[state_key] = job
    if not job.wait(0.2):
        slot = st.empty()
        box = slot.container(border=True)
        bar = box.progress(0.0, text=_progress_text(job, label, estimate))
        box.button("Cancel", key=f"{state_key}-cancel", on_click=_cancel, args=(state_key, key),
                   icon=":material/cancel:", help="Stop this explanation at its next forward pass")
        while not job.wait(POLL_S):          # a click anywhere interrupts this run at the next update
            bar.progress(job.fraction, text=_progress_text(job, label, estimate))
        slot.empty()
    st.session_state.pop(state_key, None)
    error = job.error()
    if isinstance(error, Cancelled):          # cancelled by this session in the meantime
        st.session_state[f"{state_key}-cancelled"] = key
        st.rerun()
    return job.result()
