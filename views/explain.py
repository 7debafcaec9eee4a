"""Explain: one clip x one model x one method, drawn the way the session's role asks."""
import json
from dataclasses import replace

import streamlit as st

from ui import cache, jobs
from ui.blocks import BLOCKS, View, internals_block, no_evidence_block, percent
from ui.ood import ood_warning_ui
from ui.samples import default_model
from ui.state import current_role
from ui.widgets import estimate, method_ui, model_ui, options_ui, target_ui, video_ui
from xai_core import XaiError, get_method, list_methods
from xai_core.methods.cost import describe

BACKGROUND_S = 3.0      # expected seconds above which an explanation runs in a worker, with progress and Cancel
CONFIRM_S = 90.0        # ... and above which it waits for a click

role = current_role()
st.title("Explain a decision")
notice = st.container()             # what the sidebar's pickers have to say (not installed, converting)

with st.sidebar:
    sampler, sample = video_ui("clip")
    model = model_ui(default=default_model(sample, cache.model_names(), cache.installed), notice=notice)
    if model is None:
        st.stop()
    methods = [m for m in list_methods() if role.allows(m)]
    method = method_ui(methods, default=role.default_method, model=model)
    target = target_ui(model.class_names)
    options = options_ui(get_method(method), model) if role.internals else {}
if options is None:                     # the options do not validate: the error is shown beside them
    st.stop()
if sampler is None:
    st.stop()
try:
    clip = sampler(model.spec)
except XaiError as e:
    st.error(f"This video cannot be used: {e}")
    st.stop()

info = get_method(method)
args = (model.name, clip.digest, method, target, json.dumps(options, sort_keys=True))
key = cache.explanation_key(*args)
seconds = estimate(model, method, options)
slow = info.cost != "cheap" or (seconds or 0) > BACKGROUND_S
try:
    if not slow or jobs.finished(key) and not jobs.running(key):
        jobs.leave("explain-job")                                           # a job this page ran before
        exp = cache.get_explanation(*args, _model=model, _clip=clip)        # cheap, or cached: at once
    else:
        jobs.confirm_long(seconds, CONFIRM_S, key, "explain",
                          f"**{info.label}** on {model.name} is expected to take **{describe(seconds)}** on this "
                          "machine (its forward passes times one pass timed here). Fewer steps, samples or "
                          "windows in its options make it faster.", "Explain")
        done = jobs.run_ui(key, lambda progress: cache.compute_explanation(*args, _model=model, _clip=clip,
                                                                          progress=progress),
                           label=f"{info.label} on {model.name}", estimate=seconds, state_key="explain-job")
        if done is None:                 # cancelled: the message and a button to run it again are shown
            st.stop()
        exp = replace(done, clip=clip)   # the job's result (also in the cache), with this session's clip
except XaiError as e:
    st.error(str(e))
    st.stop()
if slow:
    took = exp.timings_ms["forward"] + exp.timings_ms["explain"]
    path = (f" · {exp.extras['path_points']} path points, relevance misses the score's change by "
            f"{percent(exp.extras['completeness_gap'])}" if "path_points" in exp.extras else "")
    st.caption(f"{info.label} on {model.name}: {took / 1000:.1f} s"
               + (f" (expected {describe(seconds)})" if seconds is not None and seconds >= 1 else "") + path)

exp = cache.with_reliance(exp, model, clip)   # what the score rests on (one cached batched forward): the summary says it
view = View(exp, info, role, sample, mode="signed" if info.signed else "positive")
no_evidence_block(view)
for note in clip.notes:
    st.caption(f"Note: {note}")
ood_warning_ui(exp.ood, model.class_names)
PAIRABLE = {"curve", "overlay_video"}       # narrow enough to sit side by side when adjacent
names = list(role.renderings)
i = 0
while i < len(names):
    if names[i] in PAIRABLE and i + 1 < len(names) and names[i + 1] in PAIRABLE:
        for col, name in zip(st.columns([1.4, 1], gap="large"), names[i:i + 2]):
            with col:
                BLOCKS[name](view)
        i += 2
    else:
        BLOCKS[names[i]](view)
        i += 1
if role.internals:
    internals_block(view)
