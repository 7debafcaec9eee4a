"""Widgets that return values (`*_ui`), shared by the pages."""
from __future__ import annotations

import json

import plotly.graph_objects as go
import streamlit as st

import xai_core
from xai_core import XaiError

from . import cache
from .samples import list_samples
from .state import follow_role

VIDEO_TYPES = ["mp4", "mkv", "webm", "avi", "gif", "mov", "m4v", "mpg", "mpeg", "ogv"]
UPLOAD = "Upload a video…"


def model_ui(label: str = "Model", key: str = "model", names: list[str] | None = None):
    """Pick a model (bundled or from the models YAML); the loaded VideoModel, or None with a message."""
    names = names or cache.model_names()
    name = st.selectbox(label, names, key=key)
    try:
        return cache.get_model(name)
    except XaiError as e:
        st.error(str(e))
        return None


def method_ui(methods=None, key: str = "method", default: str = "grad_cam") -> str:
    """Pick an attribution method from the registry (its label; its cost in a caption below).

    When the offer changes (a role switch), a choice that was the old default or is no longer
    offered becomes the new default; a method the user picked that is still offered stays."""
    infos = methods or xai_core.list_methods()
    names = [m.name for m in infos]
    by_name = {m.name: m for m in infos}
    default = default if default in names else names[0]
    follow_role(key, names, default)
    name = st.selectbox("Method", names, index=names.index(st.session_state.get(key, default)), key=key,
                        format_func=lambda n: by_name[n].label,
                        help="\n\n".join(f"**{m.label}** ({m.cost}) — {m.description}" for m in infos))
    cost = by_name[name].cost
    st.caption(f"{cost.capitalize()} method" + (f": {COST_TEXT[cost]}" if cost in COST_TEXT else ""))
    return name


def short_label(info) -> str:
    """A method's label without its parenthesis ("Grad-CAM"), for tags that have little room."""
    return info.label.split(" (")[0]


COST_TEXT = {"cheap": "about one pass through the model", "moderate": "tens of passes",
             "expensive": "hundreds of passes; seconds to minutes"}


def video_ui(key: str = "clip", default: str | None = None):
    """Pick a sample or upload a video; returns (sampler(spec) -> Clip, Sample or None), or (None, None).

    The sampler reads the video for a model's input spec (cached), so several models with
    different specs can share one pick.
    """
    samples = list_samples()
    labels = [s.label for s in samples] + [UPLOAD]
    index = labels.index(default) if default in labels else 0
    choice = st.selectbox("Clip", labels, index=index, key=key)
    if choice != UPLOAD:
        sample = samples[labels.index(choice)]
        mtime = sample.path.stat().st_mtime
        return (lambda spec: cache.get_clip(str(sample.path), mtime, _spec_json(spec))), sample
    limit = st.get_option("server.maxUploadSize")
    up = st.file_uploader(f"Video file (up to {limit} MB)", type=VIDEO_TYPES, key=f"{key}_upload")
    if up is None:
        st.info(f"Choose a video file: {', '.join(VIDEO_TYPES)}; up to {limit} MB.")
        return None, None
    data, name = up.getvalue(), up.name
    return (lambda spec: cache.get_upload_clip(data, name, _spec_json(spec))), None


def clip_ui(spec, key: str = "clip"):
    """Pick a sample clip or upload one, sampled for `spec`; returns (Clip or None, Sample or None)."""
    sampler, sample = video_ui(key)
    if sampler is None:
        return None, None
    try:
        return sampler(spec), sample
    except XaiError as e:
        st.error(f"This video cannot be used: {e}")
        return None, None


def _spec_json(spec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True)


def target_ui(class_names: list[str], key: str = "target"):
    """Which class to explain: the prediction (None) or a chosen class."""
    options = [None] + list(class_names)
    return st.selectbox("Explain the class", options, key=key,
                        format_func=lambda c: "the predicted class" if c is None else c)


def probabilities_figure(probabilities, class_names, top: int = 5, highlight: int | None = None):
    """Horizontal bars of the top-k class probabilities."""
    order = list(reversed(sorted(range(len(probabilities)), key=lambda i: probabilities[i])[-top:]))
    colours = ["#0f8b8d" if i == highlight else "#9bb7c4" for i in order]
    fig = go.Figure(go.Bar(x=[float(probabilities[i]) for i in order], y=[class_names[i] for i in order],
                           orientation="h", marker_color=colours,
                           text=[f"{probabilities[i]:.0%}" for i in order], textposition="auto"))
    fig.update_layout(height=40 + 32 * len(order), margin=dict(l=0, r=10, t=10, b=0),
                      xaxis=dict(range=[0, 1], tickformat=".0%"), yaxis=dict(autorange="reversed"),
                      plot_bgcolor="white")
    return fig


def options_ui(info, model) -> dict | None:
    """Edit a method's options (developers): one widget per option, typed and bounded from its spec.

    The widgets take their type, range and choices from the method's declared option specs; the
    chosen values then pass the same validator as the CLI (`validate_options`), with the work
    they ask for counted on the model's input grid. Returns the options that differ from the
    defaults, or None (with the error shown) when they do not validate.
    """
    from xai_core.methods.options import validate_options

    options = {}
    with st.expander(f"{info.label} options", expanded=False):
        for name, spec in info.option_specs.items():
            key = f"opt-{info.name}-{name}"
            if name == "layer" and info.needs_layer:
                layers = [model.info.cam_layer] + [n for n in model.layer_names() if n != model.info.cam_layer]
                value = st.selectbox("layer", layers, key=key, help="The layer whose activations the CAM weighs.")
                if value != model.info.cam_layer:
                    options[name] = value
                continue
            value = _option_widget(name, spec, key)
            if value != spec.default:
                options[name] = value
        try:
            return validate_options(info, options, (1, *model.spec.shape))
        except XaiError as e:
            st.error(str(e))
            return None


def _option_widget(name: str, spec, key: str):
    """One widget for one option: a checkbox, a bounded number, a choice, or a text field."""
    safe = 2 ** 53 - 1                                   # the browser's largest exact integer
    low = None if spec.low is None else max(spec.low, -safe)
    high = None if spec.high is None else min(spec.high, safe)
    default = spec.default
    if "bool" in spec.types and isinstance(default, bool):
        return st.checkbox(name, default, key=key)
    if spec.types == ("int",):
        return int(st.number_input(name, value=int(default), step=1, key=key,
                                   min_value=None if low is None else int(low),
                                   max_value=None if high is None else int(high)))
    if spec.types == ("float",) or spec.types == ("int", "float"):
        return float(st.number_input(name, value=float(default), key=key, format="%g",
                                     min_value=None if low is None else float(low),
                                     max_value=None if high is None else float(high)))
    if spec.types == ("str",) and spec.choices:
        return st.selectbox(name, list(spec.choices), index=list(spec.choices).index(default)
                            if default in spec.choices else 0, key=key)
    if "tuple" in spec.types:
        text = st.text_input(name, ", ".join(map(str, default)), key=key,
                             help=f"{spec.length} values separated by commas: {spec.allowed()}")
        cast = int if spec.element == "int" else float
        try:
            values = tuple(cast(v) for v in text.split(","))
            return values[0] if len(values) == 1 and spec.element in spec.types else values
        except ValueError:
            st.error(f"{name}: give {spec.length} {'whole ' if cast is int else ''}numbers separated by commas")
            return default
    text = st.text_input(name, "" if default is None else str(default), key=key, help=spec.allowed())
    return _parse_text(text, spec)


def _parse_text(text: str, spec):
    """A text field's value as the option's type: a number where the option takes numbers, else the word."""
    text = text.strip()
    if not text:
        return spec.default
    if "int" in spec.types or "float" in spec.types:
        try:
            number = float(text)
            return int(number) if "int" in spec.types and number.is_integer() and "float" not in spec.types \
                else number
        except ValueError:
            pass
    return text
