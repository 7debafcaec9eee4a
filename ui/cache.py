"""Cached work for the pages: models once per process, results once per (model, clip, method, options)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import streamlit as st

import xai_core
from xai_core import render


@st.cache_resource(show_spinner="Loading model…")
def get_model(name: str):
    """A bundled model by name (or a spec file path), loaded once per server process."""
    return xai_core.load_model(name)


@st.cache_data(show_spinner=False, max_entries=32)
def get_clip(path: str, mtime: float, spec_json: str):
    """A video file sampled to a model's input spec (keyed by path, mtime and spec)."""
    return xai_core.load_video(path, xai_core.InputSpec.from_dict(json.loads(spec_json)))


@st.cache_data(show_spinner=False, max_entries=8)
def get_upload_clip(data: bytes, name: str, spec_json: str):
    """An uploaded video: written to a temporary file, sampled, and the file removed again."""
    suffix = Path(name).suffix or ".mp4"
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        clip = xai_core.load_video(tmp, xai_core.InputSpec.from_dict(json.loads(spec_json)))
    except xai_core.VideoError as e:   # name the user's file, not our temporary copy
        raise xai_core.VideoError(str(e).replace(tmp, name)) from None
    finally:
        os.unlink(tmp)
    clip.source = name
    return clip


@st.cache_data(show_spinner=False, max_entries=64)
def get_explanation(model_name: str, clip_digest: str, method: str, target, options_json: str,
                    _model, _clip):
    """explain() once per (model, clip digest, method, target, options); reruns are instant."""
    return xai_core.explain(_model, _clip, method, target=target, **json.loads(options_json))


@st.cache_data(show_spinner=False, max_entries=64)
def get_tube_png(key: str, _frames: np.ndarray, _relevance: np.ndarray, mode: str, scale,
                 key_frames: tuple, numbers: tuple, title: str) -> bytes:
    """The staggered-frame tube as PNG bytes, cached by the explanation's key and the drawing options."""
    image = render.tube_image(_frames, _relevance, mode=mode, scale=scale, key_frames=list(key_frames),
                              frame_numbers=list(numbers), title=title)
    return render.to_png(image)


@st.cache_data(show_spinner=False, max_entries=32)
def get_overlay_frames(key: str, _frames: np.ndarray, _relevance: np.ndarray, mode: str, scale,
                       style: str) -> np.ndarray:
    """All T overlay frames (T, h, w, 3) in a named style ("light" or "full")."""
    return render.overlay(_frames, _relevance, mode=mode, scale=scale, **render.overlay_style(style))


@st.cache_data(show_spinner=False, max_entries=32)
def get_overlay_video(key: str, _frames: np.ndarray, _relevance: np.ndarray, mode: str, scale,
                      style: str, fps: float) -> bytes:
    """The per-frame overlay as WebM (VP9) bytes, which Chromium plays."""
    heat = get_overlay_frames(key, _frames, _relevance, mode, scale, style)
    with tempfile.TemporaryDirectory() as tmp:
        return render.write_video(Path(tmp) / "overlay.webm", heat, fps).read_bytes()


def result_key(exp) -> str:
    """A stable key naming one explanation (for the render caches)."""
    digest = exp.clip.digest if exp.clip is not None else ""
    return json.dumps([exp.model, digest, exp.method, exp.target, exp.options], sort_keys=True, default=str)
