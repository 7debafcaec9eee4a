"""Cached work for the pages: models once per process, results once per (model, clip, method, options)."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import streamlit as st

import xai_core
from xai_core import render
from xai_core.models.loader import load_user_model, read_models_file
from xai_core.models.packaged import packaged, packaged_names
from xai_core.models.registry import bundled, bundled_names


MODELS_FILE = Path(__file__).resolve().parents[1] / "models.yaml"


def models_file() -> Path:
    """The user's models YAML: ./models.yaml, or $XAI_MODELS (see models.example.yaml)."""
    return Path(os.environ.get("XAI_MODELS") or MODELS_FILE)


@st.cache_data(show_spinner=False, ttl=5)
def user_model_specs(path: str) -> dict:
    """{name: spec} from the models YAML ({} when there is none); re-read every few seconds."""
    return read_models_file(path) if Path(path).is_file() else {}


def model_names() -> list[str]:
    """Bundled models with trained weights, then the packaged ones (real models whose weights a
    package provides, installed or not: see model_label), then the models YAML's (an error there
    is shown once)."""
    names = [n for n in bundled_names() if bundled(n).weights.exists()] + packaged_names()
    try:
        return names + [n for n in user_model_specs(str(models_file())) if n not in names]
    except xai_core.XaiError as e:
        st.sidebar.warning(f"{e} — only the bundled and packaged models are offered.")
        return names


def not_installed(name: str) -> str | None:
    """The one command that installs a packaged model's weights, when they are not installed; else None.

    Looked up on every call (no cache): installing the package while the server runs is seen at once.
    """
    if name not in packaged_names():
        return None
    entry = packaged(name)
    return None if entry.installed else entry.install


def installed(name: str) -> bool:
    """True for every model but a packaged one whose package is missing."""
    return not_installed(name) is None


def model_label(name: str) -> str:
    """A model's name in the pickers: "i3d_k400 (not installed)" for a packaged model without its package."""
    return f"{name} (not installed)" if not installed(name) else name


def get_model(name: str, progress=None):
    """A model by name: bundled, packaged, or declared in the models YAML; loaded once per server process.

    A packaged model's weights are converted once per machine on first use (seconds):
    `progress(fraction, message)` hears about it. Raises NotInstalled (a ModelSpecError naming
    the install command) for a packaged model whose package is missing.
    """
    specs = {}
    try:
        specs = user_model_specs(str(models_file()))
    except xai_core.XaiError:
        pass
    spec = specs.get(name) if name not in packaged_names() else None
    if spec is None and name in packaged_names():
        packaged(name).weights(progress)      # raises NotInstalled; converts once, then only finds the file
    return _load_model(name, json.dumps(spec, sort_keys=True) if spec else "")


@st.cache_resource(show_spinner="Loading model…")
def _load_model(name: str, spec_json: str):
    if not spec_json:
        return xai_core.load_model(name)
    return load_user_model(json.loads(spec_json), base=models_file().resolve().parent,
                           where=f"{models_file()}: model {name!r}")   # factories trusted beside the file


@st.cache_data(show_spinner="Reading the video…", max_entries=32)
def get_clip(path: str, mtime: float, spec_json: str):
    """A video file sampled to a model's input spec (keyed by path, mtime and spec)."""
    return xai_core.load_video(path, xai_core.InputSpec.from_dict(json.loads(spec_json)))


UPLOAD_NAME = "\x00upload\x00"   # stands for the uploader's file name inside the cache (see get_upload_clip)


def get_upload_clip(data: bytes, name: str, spec_json: str):
    """An uploaded video sampled to a spec; cached by content, named as this session named it.

    Two sessions uploading the same bytes under different names share the decoding, never the
    name: the cached clip carries a placeholder that is replaced here, on the copy this session
    gets (st.cache_data hands every caller its own copy).
    """
    try:
        clip = _read_upload(data, Path(name).suffix.lower() or ".mp4", spec_json)
    except xai_core.VideoError as e:
        raise xai_core.VideoError(str(e).replace(UPLOAD_NAME, name)) from None
    clip.source = name
    clip.notes = [n.replace(UPLOAD_NAME, name) for n in clip.notes]
    return clip


@st.cache_data(show_spinner="Reading the uploaded video…", max_entries=8)
def _read_upload(data: bytes, suffix: str, spec_json: str):
    """Write the bytes to a temporary file, sample it, remove the file; the file name is UPLOAD_NAME."""
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        clip = xai_core.load_video(tmp, xai_core.InputSpec.from_dict(json.loads(spec_json)))
    except xai_core.VideoError as e:   # name the user's file, not our temporary copy
        raise xai_core.VideoError(str(e).replace(tmp, UPLOAD_NAME)) from None
    finally:
        os.unlink(tmp)
    clip.source = UPLOAD_NAME
    clip.notes = [n.replace(tmp, UPLOAD_NAME) for n in clip.notes]
    return clip


def get_explanation(model_name: str, clip_digest: str, method: str, target, options_json: str,
                    _model, _clip):
    """explain() once per (model, clip digest, method, target, options); reruns are instant.

    The result carries the caller's own clip (its file name and notes are this session's):
    the cache holds the explanation without a clip, as two sessions' clips with the same
    frames share one entry.
    """
    exp = _explain(model_name, clip_digest, method, target, options_json, _model, _clip)
    return replace(exp, clip=_clip)


@st.cache_data(show_spinner=False, max_entries=64)
def _explain(model_name: str, clip_digest: str, method: str, target, options_json: str, _model, _clip,
             _progress=None):
    """explain() (`_progress(fraction, message)` after each forward pass; may raise Cancelled,
    and a cancelled or failed run is not cached)."""
    exp = xai_core.explain(_model, _clip, method, target=target, progress=_progress, **json.loads(options_json))
    return replace(exp, clip=None)


def explanation_key(model_name: str, clip_digest: str, method: str, target, options_json: str) -> str:
    """The key of one explanation in _explain's cache, as a string (for ui.jobs)."""
    return json.dumps(["explain", model_name, clip_digest, method, target, options_json])


def compute_explanation(model_name: str, clip_digest: str, method: str, target, options_json: str,
                        _model, _clip, progress=None):
    """Compute into the cache (or find there) one explanation, reporting `progress`; for ui.jobs'
    threads. The result carries no clip (get_explanation adds the caller's)."""
    return _explain(model_name, clip_digest, method, target, options_json, _model, _clip, _progress=progress)


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


@st.cache_data(show_spinner=False, max_entries=128)
def get_reliance(model_name: str, clip_digest: str, target, _model, _clip):
    """The clip's motion reliance (xai_core.motion.reliance) for `target` (None: the prediction):
    one batched forward of the clip and its five counterfactuals, cached; under the model's lock,
    as explanations hook the model while they run."""
    from xai_core.motion.reliance import motion_reliance

    with _model.lock:
        return motion_reliance(_model, _clip, target=target)


def with_reliance(exp, model, clip):
    """The explanation with its clip's measured motion reliance attached (for its target), so its
    summary says what the score rests on."""
    return replace(exp, reliance=get_reliance(model.name, clip.digest, exp.target, model, clip))


@st.cache_data(show_spinner=False, max_entries=32)
def get_split(key: str, variant: str, _exp, _model, _clip):
    """The explanation's relevance split into spatial + temporal parts (xai_core.motion.split),
    cached by the explanation's key and the variant (a model-running variant explains once more)."""
    from contextlib import nullcontext

    from xai_core.motion.split import split_relevance

    with _model.lock if _model is not None else nullcontext():
        return split_relevance(variant, _exp.relevance, model=_model, video=_clip.tensor[None],
                               method=_exp.method, target=_exp.target, options=dict(_exp.options))


@st.cache_data(show_spinner=False, max_entries=32)
def get_flow(clip_digest: str, _clip) -> np.ndarray:
    """DIS optical flow (T-1, H, W, 2), px/frame, of the clip's frames on the model's grid."""
    from xai_core.motion.flow import dis_flow

    return dis_flow(np.ascontiguousarray(_clip.frames))


@st.cache_data(show_spinner=False, max_entries=16)
def get_flow_stream(key: str, method: str, _exp, _model, _clip):
    """A two-stream model's flow-stream explanation (xai_core.motion.streams) for the explanation's
    target, with `method` (its defaults)."""
    from xai_core.motion.streams import explain_flow_stream

    return explain_flow_stream(_model, _clip, method, target=_exp.target)


@st.cache_data(show_spinner=False, max_entries=32)
def get_png(key: str, what: str, _make) -> bytes:
    """A rendered picture as PNG bytes, cached by the explanation's key and what it shows."""
    return render.to_png(_make())


# ------------------------------------------------------------------ the model's own view (developer)


@st.cache_data(show_spinner=False, max_entries=16)
def get_kernel_layer_names(model_name: str, _model) -> list[str]:
    """The kernel views a user may pick (xai_core.modelview.kernel_layer_names); raises
    NoTemporalKernels (an XaiError, with its message) for a model without 3D kernels."""
    from xai_core.modelview import kernel_layer_names, kernel_view

    names = kernel_layer_names(_model)
    if not names:
        kernel_view(_model, "")                       # raises NoTemporalKernels with the model's reason
    return names


@st.cache_data(show_spinner="Drawing the kernels…", max_entries=16)
def get_kernel_grid(model_name: str, layer: str, _model):
    """(KernelView, PNG bytes) of one layer's kernels, most motion-selective first."""
    from xai_core.modelview import kernel_grid, kernel_view

    view = kernel_view(_model, layer)
    return view, render.to_png(kernel_grid(view, max_filters=64))


@st.cache_data(show_spinner=False, max_entries=32)
def _maximised(model_name: str, target: str, steps: int, seeds: int, _model, _progress=None):
    from xai_core.modelview import maximise_seeds

    with _model.lock:
        return maximise_seeds(_model, target, seeds, steps, progress=_progress)


def get_maximised(model_name: str, target: str, steps: int, seeds: int, _model):
    """The class-maximising clips (xai_core.modelview.maximise_seeds), cached."""
    return _maximised(model_name, target, steps, seeds, _model)


def compute_maximised(model_name: str, target: str, steps: int, seeds: int, _model, progress=None):
    """The same into the cache, reporting `progress(fraction, message)`; for ui.jobs' threads."""
    return _maximised(model_name, target, steps, seeds, _model, _progress=progress)


@st.cache_data(show_spinner=False, max_entries=32)
def get_maximised_pictures(key: str, _run) -> tuple[bytes, bytes, bytes]:
    """(the best seed's loop as WebM bytes, its tube PNG, the seeds grid PNG)."""
    from xai_core.modelview import max_clip_tube, seeds_image, write_loop

    best = max(_run.clips, key=lambda c: c.probability)
    with tempfile.TemporaryDirectory() as tmp:
        loop = write_loop(Path(tmp) / "loop.webm", _scaled(best)).read_bytes()
    return loop, render.to_png(max_clip_tube(best)), render.to_png(seeds_image(_run))


def _scaled(clip, size: int = 256):
    """The clip with its frames enlarged (nearest) to about `size` pixels, for the player."""
    from dataclasses import replace as _replace

    k = max(1, size // max(clip.frames.shape[1:3]))
    return _replace(clip, frames=clip.frames.repeat(k, 1).repeat(k, 2))


@st.cache_data(show_spinner=False, max_entries=16)
def get_layer_choices(model_name: str, _model) -> list:
    from xai_core.modelview import layer_choices

    with _model.lock:
        return layer_choices(_model)


@st.cache_data(show_spinner="Reading the layer…", max_entries=32)
def get_activations(model_name: str, clip_digest: str, layer: str, _model, _clip):
    """(Activations, PNG bytes of energy per frame + top channels as tubes) of one layer on one clip."""
    from xai_core.modelview import activation_figure, layer_activations

    with _model.lock:
        act = layer_activations(_model, _clip, layer)
    return act, render.to_png(activation_figure(act, _clip.display, list(_clip.source_indices)))


# --------------------------------------------------------------------- influence examples


@st.cache_data(show_spinner=False, max_entries=32)
def _influence(model_name: str, clip_digest: str, target, cache_folder: str, _model, _clip, _progress=None):
    from xai_core.influence import influence

    return influence(_model, _clip, top=INFLUENCE_TOP, target=target, progress=_progress)


INFLUENCE_TOP = 8


def influence_key(model_name: str, clip_digest: str, target) -> str:
    """The key of one influence result (for ui.jobs): the model, the clip, the class and the cache
    folder the index lives in."""
    from xai_core.influence import cache_root

    return json.dumps(["influence", model_name, clip_digest, target, str(cache_root())])


def get_influence(model_name: str, clip_digest: str, target, _model, _clip):
    """The reference clips behind the model's answer (xai_core.influence.influence), cached; the
    index over the training clips is built once per model and weights and kept on disk."""
    from xai_core.influence import cache_root

    return _influence(model_name, clip_digest, target, str(cache_root()), _model, _clip)


def compute_influence(model_name: str, clip_digest: str, target, _model, _clip, progress=None):
    """The same into the cache, reporting `progress(fraction, message)`; for ui.jobs' threads."""
    from xai_core.influence import cache_root

    return _influence(model_name, clip_digest, target, str(cache_root()), _model, _clip, _progress=progress)


@st.cache_data(show_spinner=False, max_entries=64)
def get_influence_thumbnails(key: str, _result, size: int = 128) -> list[tuple[str, object, bytes]]:
    """[(side, Example, WebM bytes)] for the result's proponents then opponents: each clip framed in
    its side's colour (orange: for, blue: against), looping."""
    from xai_core.influence.thumbnails import thumbnail_frames

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for side, examples in (("proponent", _result.proponents), ("opponent", _result.opponents)):
            for e in examples:
                path = render.write_video(Path(tmp) / f"{side}_{e.rank}.webm",
                                          thumbnail_frames(e, side, size, text=False), 8.0)
                out.append((side, e, path.read_bytes()))
    return out


@st.cache_data(show_spinner=False, ttl=20, max_entries=16)
def get_index_ready(model_name: str, cache_folder: str, _model) -> bool | None:
    """Whether the model's influence index is on disk (xai_core.influence.index_ready); None: no
    reference set here. Kept 20 s only: a job may build it meanwhile (its result is then found
    through the job)."""
    from xai_core.influence import index_ready

    return index_ready(_model)


@st.cache_data(show_spinner=False, ttl=60)
def verdicts(model_name: str | None) -> dict:
    """{method: {figures..., "warnings": [...], "brief": [...]}} measured for the model
    (assets/verdicts.json via xai_core.metrics.verdicts; {} when not measured or no model)."""
    from xai_core.metrics.verdicts import brief, verdicts_for

    if model_name is None:
        return {}
    return {m: {**v, "brief": brief(v)} for m, v in verdicts_for(model_name).items()}


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluation(model_name: str, method: str, n: int, _model, _progress=None) -> dict:
    from xai_core.metrics.evaluate import Settings, evaluate

    settings = Settings(n=n, sanity_clips=n, stability_clips=n)
    with _model.lock:
        return evaluate(_model, [method], settings, progress=_progress).to_dict()


def get_evaluation(model_name: str, method: str, n: int, _model) -> dict:
    """xai_core.metrics.evaluate of one method on n procedural clips (every layer of the sanity
    check), as its dict with the curves; cached (here and on disk by the core)."""
    return _evaluation(model_name, method, n, _model)


def compute_evaluation(model_name: str, method: str, n: int, _model, progress=None) -> dict:
    """The same into the cache, reporting `progress(fraction, message)`; for ui.jobs' threads."""
    return _evaluation(model_name, method, n, _model, _progress=progress)
