"""The Live page's parts: the video source, the stream held in the session, the view and the timeline."""
from __future__ import annotations

import io
import os
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from PIL import Image

from xai_core import XaiError, render
from xai_core.relevance.stream import StreamPlan, Timeline, WindowResult, stream
from xai_core.video import probe
from xai_core.video.decode import FrameReader

from .samples import list_samples
from .widgets import UPLOAD, VIDEO_TYPES

DISPLAY_SIZE = 384        # longer side of the frames shown live, in pixels
STRIDES = [1, 2, 4, 8, 12, 16, 24, 32]
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
        _, rgb = next(reader.frames(stop=1))
    return resize(rgb, display_shape(*rgb.shape[:2], size))


# ---------------------------------------------------------------- the stream in the session

@dataclass
class LiveRun:
    """One stream in a session: its windows so far, the last one shown, and whether it plays.

    state: "ready" (nothing processed), "playing", "paused", "ended" (or stopped by an error).
    A fragment rerun calls `advance()`, which processes exactly one new window.
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
    error: str | None = None
    _results: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.timeline.fps = self.timeline.fps or self.plan.fps

    @property
    def due(self) -> bool:
        """Should this run of the live area process a window?"""
        return self.state == "playing" or (self.steps > 0 and self.state == "paused")

    def advance(self) -> WindowResult | None:
        """Process the next window (decode, explain, overlay); None when the video has ended."""
        if not self._lock.acquire(blocking=False):
            return None                  # another run of the page is processing this stream
        try:
            return self._advance()
        finally:
            self._lock.release()

    def _advance(self) -> WindowResult | None:
        t0 = time.perf_counter()
        if self._results is None:
            self._results = stream(self.model, self.source.path, self.method, stride=self.plan.stride,
                                   display_size=DISPLAY_SIZE)
        try:
            result = next(self._results, None)
        except XaiError as e:   # a damaged file found mid-way, a method that does not fit the model
            self.error, self.state = str(e).replace(self.source.path, self.source.label), "ended"
            return None
        if result is None:
            self.state = "ended"
            return None
        view = WindowView.of(result, self.last.end if self.last else result.start - 1, self.overlay)
        self.timeline.append(result, time.perf_counter() - t0)     # processing time: decode, explain, draw
        self.last, self.view = result, view
        self.steps = max(0, self.steps - 1)
        return result

    def close(self) -> None:
        """Stop reading the video (closes the file)."""
        if self._results is not None:
            self._results.close()
            self._results = None


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
    return fresh


# Button callbacks: they run before the rerun the click causes, on the session's current stream.

def play() -> None:
    run = st.session_state["live_run"]
    if run.state == "ended":
        reset(run, "playing")
    else:
        run.state = "playing"


def pause() -> None:
    st.session_state["live_run"].state = "paused"


def step() -> None:
    run = st.session_state["live_run"]
    if run.state != "ended":
        run.state, run.steps = "paused", run.steps + 1


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
        shows when within the window it lies.
        """
        new = [t for t, s in enumerate(result.source_indices) if s > prev_end] or [len(result.display) - 1]
        where = np.clip(result.relevance, 0, None).sum(0)                         # (H, W)
        heat = render.overlay(result.display[new], np.repeat(where[None], len(new), 0), mode="positive",
                              **render.overlay_style(style))                     # (n, h, w, 3)
        span = result.end - max(prev_end, result.start - 1)                      # source frames added
        frame_ms = max(20, int(round(1000 * span / (result.fps or 10.0) / len(new), -1)))
        return cls(heat, [result.source_indices[t] for t in new], frame_ms)

    @property
    def still(self) -> np.ndarray:
        """The newest frame, (h, w, 3)."""
        return self.frames[-1]

    def gif(self) -> bytes:
        """The new frames as a GIF that plays once at the source's pace (a live picture)."""
        images = [Image.fromarray(f) for f in self.frames]
        out = io.BytesIO()
        images[0].save(out, format="GIF", save_all=True, append_images=images[1:],
                       duration=self.frame_ms, optimize=False)
        return out.getvalue()


def speed_text(timeline: Timeline) -> str:
    """'processing 31.2 fps · source 25 fps — faster than real time (1.2×)'."""
    fps, src, factor = timeline.processing_fps, timeline.fps, timeline.realtime_factor
    if fps is None:
        return "processing speed: not measured yet"
    head = f"processing **{fps:.1f} fps** · source **{src:g} fps**" if src else f"processing **{fps:.1f} fps**"
    if factor is None:
        return head + " (source frame rate unknown)"
    verdict = "faster than real time" if factor >= 1 else "behind real time"
    return f"{head} — {verdict} ({factor:.2f}×)"


def position_text(run: LiveRun) -> tuple[float, str]:
    """Progress through the video: (fraction, 'frame 136 of 325 · 5.4 s of 13.0 s')."""
    n = max(run.plan.frames, run.last.end + 1 if run.last else 0, 1)
    done = run.last.end + 1 if run.last else 0
    text = f"frame {done} of {n}"
    if run.plan.fps:
        text += f" · {done / run.plan.fps:.1f} s of {n / run.plan.fps:.1f} s"
    return min(1.0, done / n), text


def timeline_figure(timeline: Timeline, plan: StreamPlan, current: WindowResult | None = None) -> go.Figure:
    """Predictions over time (bars: confidence, coloured by class) above the relevance per frame."""
    fps = plan.fps
    scale = (lambda f: np.asarray(f, float) / fps) if fps else (lambda f: np.asarray(f, float))
    unit = "seconds" if fps else "source frame"
    n = max(plan.frames, len(timeline.frame_relevance))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.58, 0.42], vertical_spacing=0.08)
    owned_from = [timeline.starts[0]] + [e + 1 for e in timeline.ends[:-1]] if len(timeline) else []
    for k, name in enumerate(timeline.class_names):
        picked = [i for i, p in enumerate(timeline.predicted) if p == k]
        if not picked:
            continue
        x0 = scale([owned_from[i] for i in picked])
        x1 = scale([timeline.ends[i] + 1 for i in picked])
        fig.add_bar(x=(x0 + x1) / 2, width=x1 - x0, y=[timeline.confidence[i] for i in picked], name=name,
                    marker_color=PALETTE[k % len(PALETTE)], marker_line_width=0, row=1, col=1,
                    customdata=[[timeline.starts[i], timeline.ends[i]] for i in picked],
                    hovertemplate=f"<b>{name}</b> %{{y:.0%}}<br>frames %{{customdata[0]}}–%{{customdata[1]}}"
                                  "<extra></extra>")
    rel = timeline.frame_relevance
    rel = rel / rel.max() if rel.size and rel.max() > 0 else rel                   # 1 = the strongest frame so far
    fig.add_scatter(x=scale(np.arange(len(rel))), y=rel, mode="lines", fill="tozeroy", name="evidence",
                    line=dict(color="#c0392b", width=1.5, shape="hv"), fillcolor="rgba(192,57,43,0.25)",
                    showlegend=False, row=2, col=1, customdata=np.arange(len(rel)),
                    hovertemplate="frame %{customdata}: %{y:.0%} of the strongest<extra></extra>")
    if current is not None:
        for row in (1, 2):
            fig.add_vrect(x0=float(scale(current.start)), x1=float(scale(current.end + 1)), row=row, col=1,
                          fillcolor="rgba(15,139,141,0.12)", line_width=0)
            fig.add_vline(x=float(scale(current.end + 1)), row=row, col=1, line=dict(color="#0f8b8d", width=2))
    fig.update_layout(height=280, margin=dict(l=0, r=10, t=30, b=0), bargap=0, plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), hovermode="closest")
    fig.update_xaxes(range=[0, float(scale(n))], showgrid=True, gridcolor="#eee")
    fig.update_xaxes(title_text=unit, row=2, col=1)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title_text="confidence", row=1, col=1, gridcolor="#eee")
    fig.update_yaxes(range=[0, 1.05], showticklabels=False, title_text="evidence", row=2, col=1, gridcolor="#eee")
    return fig
