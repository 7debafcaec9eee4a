"""The Compare page's widgets and cached steps: one video, sampled once per model's spec."""
from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import streamlit as st

from xai_core import get_method, render
from xai_core.relevance.compare import compare

from . import cache, widgets
from .state import follow_default, follow_role, picked, relabel

DEMO_CLIP = "synthetic · stand_up"          # the reversed-order demo: order decides the class
DEMO_MODELS = ("c3d_small", "frame2d_pool")  # a 3D model that sees order, a pooling one that cannot
REAL_MODELS = ("i3d_k400", "c3d_small")     # on real footage: a real Kinetics model beside the bundled 3D CNN


def model_names() -> list[str]:
    """The models on offer: bundled ones with trained weights, then the models YAML's."""
    return cache.model_names()


def default_models(sample, names: list[str]) -> list[str]:
    """The models compared until the user picks: on a real sample clip I3D beside the bundled 3D CNN
    (when I3D is installed), else the 3D model next to the order-blind one."""
    pair = REAL_MODELS if sample is not None and sample.truth is None and all(
        n in names and cache.installed(n) for n in REAL_MODELS) else DEMO_MODELS
    return [n for n in pair if n in names] or names[:2]


def models_ui(names: list[str], sample=None, key: str = "compare_models") -> list[str]:
    """Pick the models to compare (default: see default_models; a pick of the user's stays)."""
    default = default_models(sample, names)
    relabel(key, [cache.model_label(n) for n in names])
    follow_default(key, names, default)
    return st.multiselect("Models", names, default=_unless_set(key, default), key=key,
                          format_func=cache.model_label, on_change=picked, args=(key,),
                          help="Each model gets the same video, sampled to its own input spec.")


def methods_ui(methods, default: str, key: str = "compare_methods", models: list[str] = ()) -> list[str]:
    """Pick one or more attribution methods (the role's default first; see follow_role for a
    role switch). A method with a measured warning on one of `models` says so ("⚠"; the help names
    the model and the warning)."""
    by_name = {m.name: m for m in methods}
    measured = {model: cache.verdicts(model) for model in models}
    warned = {n: [f"{model}: {'; '.join(v[n]['brief'])}" for model, v in measured.items()
                  if n in v and v[n]["brief"]] for n in by_name}
    label = lambda n: widgets.short_label(by_name[n]) + (" ⚠" if warned[n] else "")    # noqa: E731
    relabel(key, [label(n) for n in by_name])                # the warnings change with the models
    follow_role(key, list(by_name), [default])
    return st.multiselect("Methods", list(by_name), default=_unless_set(key, [default]), key=key,
                          format_func=label,
                          help="\n\n".join(f"**{m.label}** ({m.cost}) — {m.description}"
                                           + (" *Measured:* " + "; ".join(warned[m.name]) + "."
                                              if warned[m.name] else "") for m in methods))


def target_ui(models, key: str = "compare_target"):
    """Explain each model's own prediction (None), or one class all the models know."""
    shared = [c for c in models[0].class_names if all(c in m.class_names for m in models[1:])]
    return st.selectbox("Explain the class", [None] + shared, key=key,
                        format_func=lambda c: "each model's prediction" if c is None else c)


def _unless_set(key: str, default):
    """A widget's default, or None when session state already holds its value (no double setting)."""
    return None if key in st.session_state else default


def video_ui(key: str = "compare_clip"):
    """Pick the clip to compare on (default: the reversed-order demo); see widgets.video_ui."""
    return widgets.video_ui(key, default=DEMO_CLIP)


def explain_all(models, clips: dict, methods: list[str], target, progress=None, per_pass: bool = True) -> list:
    """compare() every model x method pair through the page cache (each with this session's clip).

    `progress(fraction, message)` hears of every pair and, with `per_pass`, of every forward pass
    (the fraction over all pairs); it may raise Cancelled. Per pass it is called inside the cached
    function, so it must draw nothing there (a worker's job.report): a page drawing its own bar
    asks for pairs only.
    """
    total = len(models) * len(methods)
    at = {"i": 0, "what": ""}

    def step(i, n, model, method):
        at.update(i=i, what=f"{model} · {widgets.short_label(get_method(method))} ({i + 1}/{n})")
        if progress is not None:
            progress(i / n, at["what"])

    def one(model, clip, method, target, **options):
        def passes(fraction, message):
            progress((at["i"] + fraction) / total, f"{at['what']}: {message}")

        exp = cache.compute_explanation(model.name, clip.digest, method, target, json.dumps(options, sort_keys=True),
                                        _model=model, _clip=clip, progress=passes if progress and per_pass else None)
        return replace(exp, clip=clip)

    return compare(models, clips, methods, target, explain_fn=one, progress=step)


def work_key(models, clips: dict, methods: list[str], target) -> str:
    """One key for all the work of a comparison (every pair, and each model's order check)."""
    return json.dumps(["compare", [[m.name, clips[m.name].digest] for m in models], list(methods), target])


def expected_seconds(models, methods: list[str]) -> float | None:
    """Expected seconds for all pairs and order checks (None while a model is not timed yet)."""
    from xai_core.methods import cost

    total = 0.0
    for model in models:
        timed = cost.measured(model)
        if timed is None:
            return None
        total += 2 * timed.forward                        # the order check: the clip and its reverse
        for method in methods:
            seconds = widgets.estimate(model, method, {})
            if seconds is None:
                return None
            total += seconds
    return total


def compute_all(models, clips: dict, methods: list[str], target, progress) -> float:
    """The background job: every explanation and motion reliance (its reversed clip is the order check) into the caches; seconds it took."""
    started = time.perf_counter()
    exps = explain_all(models, clips, methods, target, progress)
    by_name = {m.name: m for m in models}
    for exp in exps:
        progress(1.0, f"{exp.model}: the clip played backwards, smoothed and still (motion reliance)")
        cache.with_reliance(exp, by_name[exp.model], clips[exp.model])
    return time.perf_counter() - started


def top_classes(exp, k: int = 5) -> str:
    """The k most probable classes in words: "sign language interpreting 61% · ..."."""
    order = np.argsort(exp.probabilities)[::-1][:k]
    return " · ".join(f"{exp.class_names[i]} {_pct(float(exp.probabilities[i]))}" for i in order)


@st.cache_data(show_spinner=False, max_entries=64)
def get_column_tube(key: str, _frames: np.ndarray, _relevance: np.ndarray, scale: float, key_frames: tuple,
                    numbers: tuple, columns: int) -> bytes:
    """A tube sized for one of `columns` columns: fewer, larger frames and text that stays legible."""
    image = render.tube_image(_frames, _relevance, mode="positive", scale=scale, key_frames=list(key_frames),
                              frame_numbers=list(numbers), max_frames=16 if columns == 1 else 8,
                              width={1: 900, 2: 560}.get(columns, 480))   # about as drawn: text stays legible
    return render.to_png(image)


@st.cache_data(show_spinner=False, max_entries=8)
def get_evidence_mask(seed: int, index: int) -> np.ndarray:
    """The ground-truth evidence mask (T, H, W) bool of a synthetic sample (regenerated once)."""
    from xai_core.data.synthetic import make_dataset

    return make_dataset(index + 1, seed).masks[index]


def order_sentence(check) -> str:
    """What the model says when the clip is played backwards, in words (markdown)."""
    said = f"Played backwards: **{check.reversed_label}** ({check.reversed_probability:.0%})"
    if not check.same:
        return f"{said} — the answer changes: it sees the order."
    if check.logit_change < 1e-3:
        return f"{said} — identical output: blind to the order of frames."
    return f"{said} — the same answer."


def reliance_sentence(reliance) -> str:
    """What the model's score rests on, in words with the measured share (markdown)."""
    from xai_core.relevance.summary import motion_phrase

    phrase = motion_phrase(reliance)
    if not phrase:
        return "Relies on: nothing measurable (no counterfactual changed the score)."
    return phrase[0].upper() + phrase[1:].replace("relies on ", "relies on **", 1).replace(" (", "** (", 1) + "."


def verdict_badge(verdict: str | None) -> str:
    """A coloured markdown badge for a verdict: green right, orange right one way only, red wrong."""
    if verdict is None:
        return ""
    colour = "red" if verdict.startswith("wrong") else "orange" if "wrong" in verdict else "green"
    return f":{colour}-badge[{verdict}]"


def side_by_side(*images: np.ndarray, gap: int = 6) -> np.ndarray:
    """Equal-height (h, w, 3) uint8 images in one row with a white gap: (h, sum w + gaps, 3)."""
    h = images[0].shape[0]
    spacer = np.full((h, gap, 3), 255, np.uint8)
    parts = [part for image in images for part in (spacer, image)][1:]
    return np.concatenate(parts, axis=1)


def frame_share(exp, t: int, mode: str) -> str:
    """What share of the drawn evidence frame t holds, in words ("12% of the relevance")."""
    from xai_core.relevance.evidence import curve_mode
    from xai_core.relevance.temporal import temporal_curve

    if mode == "against":
        return f"{temporal_curve(exp.relevance, curve_mode(mode))[t]:.0%} of the evidence against (blue)"
    return f"{exp.curve[t]:.0%} of the relevance"


def per_row(n: int) -> int:
    """Columns per row for n explanations: all of up to 3 in one row, 4 as 2 x 2, more in rows of 3."""
    return n if n <= 3 else 2 if n == 4 else 3


def grid(n: int, gap: str = "medium") -> list:
    """n equally wide Streamlit columns, in rows of per_row(n): a flat list, in reading order."""
    k = per_row(n)
    cells = []
    for _ in range(0, n, k):
        cells += list(st.columns(k, gap=gap))
    return cells[:n]


TABLE_HELP = {
    "when": "the shortest run of frames around the peak holding half the relevance",
    "in span": "the share of the relevance in those frames",
    "where": "where in the picture it lies",
    "focus in time": "0: spread evenly over the frames, 1: all in one frame",
    "backwards": "the answer on the clip played backwards",
    "relies on": "what the score rests on, measured on counterfactual clips: order (playing it backwards "
                 "costs it), change (freezing it costs it), appearance (single frames keep it)",
}


def table_ui(rows: list[dict], target: bool, evidence, internals: bool) -> None:
    """The comparison table: one row per column, every cell shown whole (text wraps, nothing is
    cut); the target, ground-truth and timing columns when they apply, what each means below."""
    show = [("column", "column", str), ("prediction", "prediction", str), ("confidence", "confidence", _pct),
            ("verdict", "verdict", str), ("reversed clip", "backwards", str), ("relies on", "relies on", str)]
    if target:
        show += [("target", "explained", str), ("target probability", "its probability", _pct)]
    show += [("when", "when", str), ("share in span", "in span", _pct), ("where", "where", str),
             ("focus in time", "focus in time", lambda v: f"{v:.2f}"), ("in evidence", "in evidence", _pct)]
    show = [(k, name, fmt) for k, name, fmt in show if k in rows[0]]
    table = [{name: fmt(row[k]) for k, name, fmt in show} for row in rows]
    for line, row in zip(table, rows):
        line["column"] = f"**{row['column']}**"
    st.table(table, hide_index=True, border="horizontal")
    helps = [f"*{name}*: {TABLE_HELP[name]}" for _, name, _ in show if name in TABLE_HELP]
    if evidence is not None:
        helps.append(f"*in evidence*: the share of the relevance on the voxels that decide the class (ground "
                     f"truth); they are {np.mean(evidence):.0%} of the clip, so that is chance")
    st.caption(" · ".join(helps) + ".")
    timings = [k for k in rows[0] if k.endswith(" ms")]
    if internals and timings:
        st.table([{"column": f"**{row['column']}**", **{k: f"{row[k]:.0f}" for k in timings}} for row in rows],
                 hide_index=True, border="horizontal")


def _pct(v: float) -> str:
    return f"{v:.0%}" if v >= 0.01 or v == 0 else f"{v:.1%}"
