"""Widgets that return values (`*_ui`), shared by the pages."""
from __future__ import annotations

import json

import plotly.graph_objects as go
import streamlit as st

import xai_core
from xai_core import XaiError
from xai_core.methods.cost import describe

from . import cache
from .samples import list_samples
from .state import follow_default, follow_role, picked, relabel

VIDEO_TYPES = ["mp4", "mkv", "webm", "avi", "gif", "mov", "m4v", "mpg", "mpeg", "ogv"]
UPLOAD = "Upload a video…"


def model_ui(label: str = "Model", key: str = "model", names: list[str] | None = None,
             default: str | None = None, notice=None):
    """Pick a model (bundled, packaged or from the models YAML); the loaded VideoModel, or None with a message.

    `default` is the model picked until the user picks one (see follow_default: a new default
    replaces a model the user did not choose). A packaged model whose package is missing is
    listed "(not installed)"; picking it shows the one command that installs it, in `notice`
    (a container; default: here), and returns None. A first load that converts weights shows
    its progress there, and the model's loading notes (ModelInfo.notes) are shown there.
    """
    names = names or cache.model_names()
    notice = notice if notice is not None else st.container()
    relabel(key, [cache.model_label(n) for n in names])
    if default in names:
        follow_default(key, names, default)
    index = names.index(default) if default in names and key not in st.session_state else 0
    name = st.selectbox(label, names, index=index, key=key, format_func=cache.model_label,
                        on_change=picked, args=(key,))
    command = cache.not_installed(name)
    if command:
        notice.warning(f"**{name}** is not installed: its trained weights come from a package, installed with one "
                       "command (then pick it again):", icon=":material/download:")
        notice.code(command, language="bash")
        return None
    try:
        model = load_ui(name, notice)
    except XaiError as e:
        notice.error(str(e))
        return None
    for note in model.info.notes:        # what loading had to do, what the model's gradients see
        notice.caption(f"{name}: {note}")
    return model


def load_ui(name: str, notice):
    """cache.get_model(name), with a progress bar in `notice` while a packaged model's weights are
    prepared (converted once per machine); the bar goes once the model is loaded."""
    bar = None

    def converting(fraction: float, message: str) -> None:
        nonlocal bar
        bar = bar or notice.empty()
        bar.progress(fraction, text=f"Preparing {name}'s weights (once on this machine): {message}")

    try:
        return cache.get_model(name, progress=converting)
    finally:
        if bar is not None:
            bar.empty()


def method_ui(methods=None, key: str = "method", default: str = "grad_cam", model=None,
              measured_on: str | None = None) -> str:
    """Pick an attribution method from the registry (its label; its cost in a caption below).

    With a `model`, each label says how long the method is expected to take on it here
    ("Integrated gradients · ≈ 35 s", with the model's defaults for the method; see
    xai_core.methods.cost; the first time, one pass of the model is timed).
    When the offer changes (a role switch), a choice that was the old default or is no longer
    offered becomes the new default; a method the user picked that is still offered stays.
    Each label also carries what was measured of the method on the model (`measured_on`, else the
    model's name; assets/verdicts.json via xai_core.metrics.verdicts): "⚠ fails the sanity check
    (Spearman 0.74)"; the help and the caption below say it in full."""
    infos = methods or xai_core.list_methods()
    names = [m.name for m in infos]
    by_name = {m.name: m for m in infos}
    default = default if default in names else names[0]
    times = {}
    if model is not None:              # kept per model for the session: labels that jump after each run
        held = st.session_state.get(f"_times_{key}")     # unsettle the picker; the caption below is current
        times = held[1] if held and held[0] == (model.name, tuple(names)) else estimates(model, names)
        if times:
            st.session_state[f"_times_{key}"] = ((model.name, tuple(names)), times)

    measured = cache.verdicts(measured_on or (model.name if model is not None else None))
    warned = {n: v["brief"] for n, v in measured.items() if v["brief"]}

    def label(n: str) -> str:           # with a time or a warning, the short label: the sidebar is narrow
        seconds = times.get(n)
        warning = f" · ⚠ {warned[n][0]}" if n in warned else ""
        if seconds is None or seconds < 1:
            return (short_label(by_name[n]) if warning else by_name[n].label) + warning
        return f"{short_label(by_name[n])} · {describe(seconds)}{warning}"

    relabel(key, [label(n) for n in names])      # the times change with the model and with each run
    follow_role(key, names, default)
    index = names.index(default) if key not in st.session_state else 0     # else the session's value
    name = st.selectbox("Method", names, index=index, key=key,
                        format_func=label,
                        help="\n\n".join(f"**{m.label}** ({m.cost}) — {m.description}"
                                           + measured_help(measured.get(m.name)) for m in infos)
                        + ("\n\nTimes: expected on this machine with the model's defaults, from one forward "
                           "(and backward) pass of the model timed here, or from the method's last run."
                           if times else ""))
    cost = by_name[name].cost
    timed = times.get(name, 0) >= 1                   # the picker shows the short label: the full one here
    now = estimate(model, name, None) if timed else None        # refined by the method's last run
    st.caption((f"{by_name[name].label}. " if timed else "") + f"{cost.capitalize()} method"
               + (f": {COST_TEXT[cost]}" if cost in COST_TEXT else "")
               + (f"; expected {describe(now)} on {model.name} here." if now is not None else ""))
    if name in warned:
        from xai_core.metrics.verdicts import measured_with

        used = measured_with(measured[name])
        st.caption(f"⚠ Measured{f' {used}' if used else ''}: "
                   f"{'; '.join(measured[name]['warnings'])} (see the Evaluate page).")
    return name


def measured_help(verdict: dict | None) -> str:
    """A method's measured verdict on the model, for a picker's help ("" when not measured)."""
    if verdict is None:
        return ""
    from xai_core.metrics.verdicts import measured_with

    used = measured_with(verdict)
    head = " *Measured on this model" + (f" ({used})" if used else "") + ":* "
    return head + ("; ".join(verdict["warnings"]) + "." if verdict["warnings"] else "no warning.")


def estimates(model, names: list[str]) -> dict[str, float]:
    """{method: expected seconds on `model` with its defaults}; {} while the model is busy elsewhere
    and not yet timed (the first time, one forward and one backward pass are timed, with a spinner)."""
    from xai_core.methods import cost

    if cost.measured(model) is None:
        with st.spinner(f"Timing one pass of {model.name} on this machine (once)…"):
            if cost.pass_cost(model, timeout=0.1) is None:
                return {}
    out = {}
    for n in names:
        try:
            out[n] = cost.estimate_seconds(model, n)
        except XaiError:               # the model's defaults do not fit this method: no time shown
            pass
    return out


def estimate(model, method: str, options: dict | None) -> float | None:
    """Expected seconds of `method` with `options` on `model` (None when not known yet or not valid)."""
    from xai_core.methods import cost

    if cost.measured(model) is None:
        return None
    try:
        return cost.estimate_seconds(model, method, options or {})
    except XaiError:
        return None


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
    if st.session_state.get(key) not in options:      # another model's class: back to the prediction
        st.session_state[key] = None
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
    from dataclasses import replace

    from xai_core.methods.options import validate_options

    options = {}
    own = model.info.defaults_for(info.name)          # sized for this model (I3D: fewer passes)
    with st.expander(f"{info.label} options", expanded=False):
        if own:
            st.caption(f"Defaults for {model.name}: " + ", ".join(f"{k} = {v}" for k, v in own.items()))
        for name, spec in info.option_specs.items():
            key = f"opt-{model.name}-{info.name}-{name}"      # per model: its own defaults and layers
            if name == "layer" and info.needs_layer:
                layers = [model.info.cam_layer] + [n for n in model.layer_names() if n != model.info.cam_layer]
                value = st.selectbox("layer", layers, key=key, help="The layer whose activations the CAM weighs.")
                if value != model.info.cam_layer:
                    options[name] = value
                continue
            if name in own:
                spec = replace(spec, default=spec.check(own[name], info.name))
            value = _option_widget(name, spec, key)
            if value != spec.default:
                options[name] = value
        try:
            checked = validate_options(info, {**own, **options}, (1, *model.spec.shape))   # the work as it will run
            return {k: checked[k] for k in options}
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


RELIANCE_COLOURS = {"order": "#D55E00", "motion": "#E69F00", "appearance": "#1E88E5", "remainder": "#BDBDBD"}
RELIANCE_NAMES = {"order": "order of frames", "motion": "change over time", "appearance": "single frames",
                  "remainder": "remainder (negative parts)"}


SHORT_NAMES = {"order": "order", "motion": "change", "appearance": "frames", "remainder": "rest"}


def reliance_figure(reliance, legend: bool = True):
    """One stacked horizontal bar: the shares of order, motion (change), appearance and the remainder
    (xai_core.motion.reliance.Reliance; they sum to 1). legend=False: compact, each wide enough part
    named inside the bar (for narrow columns)."""
    parts = {**reliance.shares, "remainder": reliance.remainder}
    def text(k, v):
        if legend:
            return f"{v:.0%}" if v >= 0.06 else ""
        return f"{SHORT_NAMES[k]} {v:.0%}" if v >= 0.18 else f"{v:.0%}" if v >= 0.07 else ""
    fig = go.Figure([go.Bar(x=[float(v)], y=[""], orientation="h", name=RELIANCE_NAMES[k],
                            marker_color=RELIANCE_COLOURS[k], text=[text(k, v)],
                            textposition="inside", insidetextanchor="middle",
                            hovertemplate=f"{RELIANCE_NAMES[k]}: %{{x:.1%}}<extra></extra>")
                     for k, v in parts.items()])
    fig.update_layout(barmode="stack", height=110 if legend else 44, plot_bgcolor="white",
                      margin=dict(l=0, r=0, t=34, b=24) if legend else dict(l=0, r=0, t=0, b=0),
                      xaxis=dict(range=[0, 1], tickformat=".0%", showgrid=False, visible=legend),
                      legend=dict(orientation="h", yanchor="bottom", y=1.05, x=0, traceorder="normal"),
                      showlegend=legend)
    return fig
