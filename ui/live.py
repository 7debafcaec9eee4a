"""The Live page's parts: the video source, the stream held in the session, the view and the timeline."""
from __future__ import annotations

import base64
import io
import os
import tempfile
import threading
import time
import weakref
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from xai_core import XaiError, render
from xai_core.relevance.stream import StreamPlan, Timeline, WindowResult, stream
from xai_core.video import probe
from xai_core.video.decode import FrameReader

from . import workers
from .samples import list_samples
from .widgets import UPLOAD, VIDEO_TYPES

DISPLAY_SIZE = 384        # longer side of the frames shown live, in pixels
STRIDES = [1, 2, 4, 8, 12, 16, 24, 32]
PICTURE_FRAMES = 8        # at most this many frames in a window's moving picture
LONG_SAMPLE = "torchcodec_nasa_13013"   # the longest bundled video: the default source
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#e15759", "#17becf",
           "#9c755f", "#ff9da7"]   # one colour per class index (Tableau 10, no grey)


# ---------------------------------------------------------------- the video source

@dataclass(frozen=True)
class Source:
    """A video to stream: a file on disk (a bundled sample, or an upload's temporary copy)."""

    label: str
    path: str
    frames: int
    fps: float | None


class TempUpload:
    """An uploaded video written to a temporary file; the file goes when this object does."""

    def __init__(self, data: bytes, name: str, file_id: str):
        fd, self.path = tempfile.mkstemp(suffix=Path(name).suffix or ".mp4", prefix="live-upload-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self.name, self.file_id = name, file_id
        self._finalizer = weakref.finalize(self, _unlink, self.path)

    def remove(self) -> None:
        self._finalizer()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@st.cache_data(show_spinner=False)
def _probe(path: str, mtime: float) -> tuple[int, float | None]:
    info = probe(path)
    return info.frame_count, info.fps


def describe(frames: int, fps: float | None) -> str:
    """'325 frames, 13.0 s at 25 fps'."""
    return f"{frames} frames, {frames / fps:.1f} s at {fps:g} fps" if fps else f"{frames} frames"


def source_ui(key: str = "live_source") -> Source | None:
    """Pick the video to play: a bundled sample (the longest by default) or an upload."""
    samples = list_samples()
    labels = [s.label for s in samples] + [UPLOAD]
    default = next((i for i, s in enumerate(samples) if s.path.stem == LONG_SAMPLE), 0)
    choice = st.selectbox("Video", labels, index=default, key=key)
    if choice != UPLOAD:
        _drop_upload(key)
        path = samples[labels.index(choice)].path
        try:
            frames, fps = _probe(str(path), path.stat().st_mtime)
        except XaiError as e:
            st.error(f"This video cannot be used: {e}")
            return None
        return Source(choice, str(path), frames, fps)
    return _upload_ui(key)


def _upload_ui(key: str) -> Source | None:
    limit = st.get_option("server.maxUploadSize")
    up = st.file_uploader(f"Video file (up to {limit} MB)", type=VIDEO_TYPES, key=f"{key}_upload")
    if up is None:
        _drop_upload(key)
        st.info(f"Choose a video file: {', '.join(VIDEO_TYPES)}; up to {limit} MB.")
        return None
    held = st.session_state.get(f"{key}_file")
    if held is None or held.file_id != up.file_id:
        _drop_upload(key)
        held = st.session_state[f"{key}_file"] = TempUpload(up.getvalue(), up.name, up.file_id)
    try:
        info = probe(held.path)
    except XaiError as e:
        st.error(f"This video cannot be used: {str(e).replace(held.path, up.name)}")
        _drop_upload(key)
        return None
    return Source(f"upload · {up.name}", held.path, info.frame_count, info.fps)


def _drop_upload(key: str) -> None:
    held = st.session_state.pop(f"{key}_file", None)
    if held is not None:
        held.remove()


@st.cache_data(show_spinner=False, max_entries=16)
def poster(path: str, size: int = DISPLAY_SIZE) -> np.ndarray:
    """The first frame of a video at display size, (h, w, 3) uint8: what the view shows before Play."""
    from xai_core.video.decode import display_shape, resize

    with FrameReader(path) as reader:
        first = next(reader.frames(), None)             # the first frame that decodes (frame 0 may not)
    if first is None:
        raise XaiError(f"{path}: no frames could be decoded")
    rgb = first[1]
    return resize(rgb, display_shape(*rgb.shape[:2], size))


# ---------------------------------------------------------------- the stream in the session

WAIT_S = 1.0      # how long one run of the live view waits for its next window before redrawing what it has,
WAIT_MAX_S = 4.0  # doubled after each run that found none (back-off), up to this; a click is seen after at most this


@dataclass
class Shown:
    """A window computed by a worker, ready to show: the result, its overlay frames and picture."""

    result: WindowResult
    view: "WindowView"
    image: str                    # the new frames: an animated WebP (data: URL) that plays once at the source's pace
    work_s: float                 # seconds a worker spent: decode, explain, draw, encode


def compute_next(windows, prev_end: int | None, style: str) -> Shown | None:
    """The next window of `windows` (a `stream`), drawn and encoded; None at the end. Runs on a worker."""
    t0 = time.perf_counter()
    result = next(windows, None)
    if result is None:
        return None
    t1 = time.perf_counter()
    view = WindowView.of(result, result.start - 1 if prev_end is None else prev_end, style)
    image = "data:image/webp;base64," + base64.b64encode(view.webp()).decode()   # as is: st.image re-encodes bytes
    result.timings_ms["draw"] = (time.perf_counter() - t1) * 1000
    return Shown(result, view, image, time.perf_counter() - t0)


@dataclass
class LiveRun:
    """One stream in a session: its windows so far, the last one shown, whether it plays, and its clock.

    state: "ready" (nothing processed), "playing", "paused", "ended" (or stopped by an error).
    Windows are computed by the shared workers (`ui.workers`), one at a time per stream: while
    one is shown the next is computed. A run of the live view calls `advance()`, which shows at
    most one new window.

    The clock runs while playing (and from a Step's click to its window). `timeline.elapsed_s`
    is its reading when a window's picture has played its frames (shown, plus the picture's
    duration), so `timeline.shown_fps` counts everything the viewer waited for.
    """

    key: tuple
    model: object
    method: str
    source: Source
    plan: StreamPlan
    overlay: str = "light"
    state: str = "ready"
    steps: int = 0                       # windows asked for by Step while not playing
    timeline: Timeline = field(default_factory=Timeline)
    last: WindowResult | None = None
    view: "WindowView | None" = None
    image: str | None = None             # the last window's picture (a data: URL)
    error: str | None = None
    _windows: object = None              # the stream (a generator), advanced only by workers
    _pending: Future | None = None       # the next window, being computed
    _clock: float | None = None          # perf_counter() when the clock last started or a window was shown
    _elapsed: float = 0.0                # clock reading at the last window shown, seconds
    _figure: tuple = (0, None)           # (windows, timeline figure) drawn for that many windows
    _misses: int = 0                     # runs in a row that waited in vain for a window
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.timeline.fps = self.timeline.fps or self.plan.fps

    @property
    def due(self) -> bool:
        """Should this run of the live area show a window?"""
        return self.state == "playing" or (self.steps > 0 and self.state == "paused")

    def start_clock(self) -> None:
        if self._clock is None:
            self._clock = time.perf_counter()

    def stop_clock(self) -> None:
        self._clock = None

    def advance(self, wait: float | None = None) -> WindowResult | None:
        """Show the next window if it arrives within `wait` seconds; None when none arrived yet (the
        view stays as it is), when nothing is due, or at the end. The default wait is WAIT_S,
        doubled for each run in a row that found no window, up to WAIT_MAX_S."""
        if not self._lock.acquire(blocking=False):
            return None                  # another run of the page is showing this stream
        try:
            if wait is None:
                wait = min(WAIT_MAX_S, WAIT_S * 2 ** self._misses)
            shown = self._advance(wait)
            self._misses = 0 if shown is not None or not self.due else self._misses + 1
            return shown
        finally:
            self._lock.release()

    def _advance(self, wait: float) -> WindowResult | None:
        if not self.due:
            return None                  # a window computed ahead waits for Play or Step
        try:
            if self._pending is None:
                self._request()
            shown = self._pending.result(timeout=wait)
        except FutureTimeout:
            return None                  # not ready: the next run waits again
        except XaiError as e:            # a damaged file found mid-way, a method that does not fit the model
            self._pending = None
            self.error = str(e).replace(self.source.path, self.source.label)
            self._end()
            return None
        self._pending = None
        if shown is None:
            self._end()
            return None
        now = time.perf_counter()        # a window computed while the clock was stopped counts its work
        self._elapsed += max(now - self._clock, shown.work_s) if self._clock is not None else shown.work_s
        self._clock = now if self.state == "playing" else None
        # its frames are on screen once its picture has played them: that is when they count
        done = max(self._elapsed + shown.view.seconds, self.timeline.elapsed_s or 0.0)
        self.timeline.append(shown.result, shown.work_s, done)
        self.last, self.view, self.image = shown.result, shown.view, shown.image
        self.steps = max(0, self.steps - 1)
        if self.state == "playing":
            self._request()              # computed while this one is on screen
        return shown.result

    def _end(self) -> None:
        """The video has ended: the clock stops, and the time until now counts (the viewer waited for it)."""
        if self._clock is not None:
            self._elapsed += time.perf_counter() - self._clock
            self.timeline.tick(self._elapsed)
        self.state = "ended"
        self.stop_clock()

    def _request(self) -> None:
        if self._windows is None:
            self._windows = stream(self.model, self.source.path, self.method, stride=self.plan.stride,
                                   display_size=DISPLAY_SIZE)
        self._pending = workers.submit(compute_next, self._windows, self.last.end if self.last else None,
                                       self.overlay)

    def figure(self) -> go.Figure | None:
        """The timeline figure for the windows so far (drawn once per new window); None before any."""
        if not len(self.timeline):
            return None
        if self._figure[0] != len(self.timeline):
            self._figure = (len(self.timeline), timeline_figure(self.timeline, self.plan, self.last))
        return self._figure[1]

    def close(self) -> None:
        """Stop reading the video (closes the file once a window being computed is done)."""
        pending, windows = self._pending, self._windows
        self._pending = self._windows = None
        self.stop_clock()
        if windows is None:
            return
        if pending is None or pending.cancel():
            windows.close()
        else:
            pending.add_done_callback(lambda _: windows.close())


def live_run(key: tuple, make) -> LiveRun:
    """The session's LiveRun for `key` (source, model, method, stride); `make()` builds a new one
    when the key changes (the old stream is closed)."""
    run = st.session_state.get("live_run")
    if run is None or run.key != key:
        if run is not None:
            run.close()
        run = st.session_state["live_run"] = make()
    return run


def reset(run: LiveRun, state: str = "ready") -> LiveRun:
    """Back to the start of the video, keeping the source, model and method."""
    run.close()
    fresh = st.session_state["live_run"] = LiveRun(run.key, run.model, run.method, run.source, run.plan,
                                                   run.overlay, state=state)
    if state == "playing":
        fresh.start_clock()
    return fresh


# Button callbacks: they run before the rerun the click causes, on the session's current stream.

def play() -> None:
    run = st.session_state["live_run"]
    if run.state == "ended":
        reset(run, "playing")
    else:
        run.state = "playing"
        run.start_clock()


def pause() -> None:
    run = st.session_state["live_run"]
    run.state = "paused"
    run.stop_clock()


def step() -> None:
    run = st.session_state["live_run"]
    if run.state != "ended":
        run.state, run.steps = "paused", run.steps + 1
        run.start_clock()


def stop() -> None:
    reset(st.session_state["live_run"])


def interval(run: LiveRun) -> float:
    """Seconds between the live area's reruns while playing: the source's pace, one window each."""
    return max(0.25, run.plan.stride / run.plan.fps) if run.plan.fps else 0.5


# ---------------------------------------------------------------- what the view shows

@dataclass
class WindowView:
    """The window drawn for the live view: overlay frames of its new source frames, and timing."""

    frames: np.ndarray          # (n, h, w, 3) uint8: the overlay on the frames this window added
    numbers: list[int]          # their source frame numbers
    frame_ms: int               # how long each is shown so that playback runs at the source's pace

    @classmethod
    def of(cls, result: WindowResult, prev_end: int, style: str) -> "WindowView":
        """The frames `result` added after source frame `prev_end`, with the window's evidence drawn on.

        The heat is the window's positive relevance summed over its frames (where in the picture
        the evidence for this window lies), so it shows on the newest frames too; the timeline
        shows when within the window it lies. At most PICTURE_FRAMES frames, each shown for its
        share of the time the new source frames take at the source's pace.
        """
        new = [t for t, s in enumerate(result.source_indices) if s > prev_end] or [len(result.display) - 1]
        if len(new) > PICTURE_FRAMES:                     # evenly spaced, the newest kept: drawing is the cost
            new = [new[i] for i in np.linspace(0, len(new) - 1, PICTURE_FRAMES).round().astype(int)]
        where = np.clip(result.relevance, 0, None).sum(0)                         # (H, W)
        heat = render.overlay(result.display[new], np.repeat(where[None], len(new), 0), mode="positive",
                              **render.overlay_style(style))                     # (n, h, w, 3)
        span = result.end - max(prev_end, result.start - 1)                      # source frames added
        frame_ms = max(20, int(round(1000 * span / (result.fps or 10.0) / len(new), -1)))
        return cls(heat, [result.source_indices[t] for t in new], frame_ms)

    @property
    def seconds(self) -> float:
        """How long the picture takes to play its frames, seconds."""
        return len(self.frames) * self.frame_ms / 1000

    @property
    def still(self) -> np.ndarray:
        """The newest frame, (h, w, 3)."""
        return self.frames[-1]

    def webp(self) -> bytes:
        """The new frames as an animated WebP that plays once at the source's pace (a live picture).

        Lossy WebP at method 0: about 30 ms for 8 frames of 384 px, where a GIF took 250 ms
        (palette quantisation) and was 15 times larger.
        """
        images = [Image.fromarray(f) for f in self.frames]
        out = io.BytesIO()
        images[0].save(out, format="WEBP", save_all=True, append_images=images[1:], duration=self.frame_ms,
                       loop=1, quality=75, method=0)
        return out.getvalue()


def speed_text(timeline: Timeline) -> str:
    """'**24.6 fps** on screen · source **25 fps** — real time (0.98×)': source frames shown per
    wall-clock second of playing (decode, explain, draw, delivery and waiting for the CPU included)."""
    fps, src, factor = timeline.shown_fps, timeline.fps, timeline.shown_factor
    if fps is None:
        return "speed: not measured yet"
    head = f"**{fps:.1f} fps** on screen" + (f" · source **{src:g} fps**" if src else "")
    if factor is None:
        return head + " (source frame rate unknown)"
    verdict = "real time" if factor >= 0.95 else "behind real time"
    return f"{head} — {verdict} ({factor:.2f}×)"


def work_text(run: LiveRun) -> str:
    """What the last window cost a worker, and the speed the work alone would allow (for internals)."""
    r, tl = run.last, run.timeline
    t = r.timings_ms
    alone = f" (the work alone: {tl.processing_fps:.1f} fps)" if tl.processing_fps else ""
    return (f"window {r.index + 1}: decode {t['decode']:.0f} ms · explain {t['explain']:.0f} ms · "
            f"draw {t.get('draw', 0):.0f} ms · {len(tl)} windows in {tl.wall_s:.1f} s of work{alone} · "
            f"shared by all sessions: {workers.WORKERS} worker(s) × {workers.TORCH_THREADS} torch thread(s)")


def position_text(run: LiveRun) -> tuple[float, str]:
    """Progress through the video: (fraction, 'frame 136 of 325 · 5.4 s of 13.0 s')."""
    n = max(run.plan.frames, run.last.end + 1 if run.last else 0, 1)
    done = run.last.end + 1 if run.last else 0
    text = f"frame {done} of {n}"
    if run.plan.fps:
        text += f" · {done / run.plan.fps:.1f} s of {n / run.plan.fps:.1f} s"
    return min(1.0, done / n), text


def timeline_figure(timeline: Timeline, plan: StreamPlan, current: WindowResult | None = None) -> go.Figure:
    """Predictions over time (bars: confidence, coloured by class) above the relevance per frame.

    One x axis (seconds, or source frames without fps) under two panels (y: confidence, y2:
    evidence); built from plain dicts, as plotly's subplot helpers cost ~50 ms per draw.
    """
    fps = plan.fps
    scale = (lambda f: np.asarray(f, float) / fps) if fps else (lambda f: np.asarray(f, float))
    unit = "seconds" if fps else "source frame"
    n = max(plan.frames, len(timeline.frame_relevance))
    traces = []
    owned_from = [timeline.starts[0]] + [e + 1 for e in timeline.ends[:-1]] if len(timeline) else []
    for k, name in enumerate(timeline.class_names):
        picked = [i for i, p in enumerate(timeline.predicted) if p == k]
        if not picked:
            continue
        x0 = scale([owned_from[i] for i in picked])
        x1 = scale([timeline.ends[i] + 1 for i in picked])
        traces.append(dict(type="bar", x=(x0 + x1) / 2, width=x1 - x0, y=[timeline.confidence[i] for i in picked],
                           name=name, marker=dict(color=PALETTE[k % len(PALETTE)], line=dict(width=0)),
                           xaxis="x", yaxis="y",
                           customdata=[[timeline.starts[i], timeline.ends[i]] for i in picked],
                           hovertemplate=f"<b>{name}</b> %{{y:.0%}}<br>frames %{{customdata[0]}}–%{{customdata[1]}}"
                                         "<extra></extra>"))
    rel = timeline.frame_relevance
    rel = rel / rel.max() if rel.size and rel.max() > 0 else rel                   # 1 = the strongest frame so far
    traces.append(dict(type="scatter", x=scale(np.arange(len(rel))), y=rel, mode="lines", fill="tozeroy",
                       name="evidence", line=dict(color="#c0392b", width=1.5, shape="hv"),
                       fillcolor="rgba(192,57,43,0.25)", showlegend=False, xaxis="x", yaxis="y2",
                       customdata=np.arange(len(rel)),
                       hovertemplate="frame %{customdata}: %{y:.0%} of the strongest<extra></extra>"))
    shapes = []
    if current is not None:                                   # the current window, across both panels
        x0, x1 = float(scale(current.start)), float(scale(current.end + 1))
        shapes = [dict(type="rect", xref="x", yref="paper", x0=x0, x1=x1, y0=0, y1=1, line_width=0,
                       fillcolor="rgba(15,139,141,0.12)", layer="below"),
                  dict(type="line", xref="x", yref="paper", x0=x1, x1=x1, y0=0, y1=1,
                       line=dict(color="#0f8b8d", width=2))]
    grid = dict(showgrid=True, gridcolor="#eee")
    layout = dict(height=280, margin=dict(l=0, r=10, t=30, b=0), bargap=0, plot_bgcolor="white",
                  legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="closest",
                  shapes=shapes,
                  xaxis=dict(range=[0, float(scale(n))], anchor="y2", title=dict(text=unit), **grid),
                  yaxis=dict(domain=[0.42, 1], range=[0, 1], tickformat=".0%", title=dict(text="confidence"),
                             **grid),
                  yaxis2=dict(domain=[0, 0.34], range=[0, 1.05], showticklabels=False,
                              title=dict(text="evidence"), **grid))
    return go.Figure(data=traces, layout=layout)
