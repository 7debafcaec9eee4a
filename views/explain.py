"""Explain: one clip x one model x one method, drawn the way the session's role asks."""
import json

import streamlit as st

from ui import cache
from ui.blocks import BLOCKS, View, internals_block, no_evidence_block
from ui.ood import ood_warning_ui
from ui.state import current_role
from ui.widgets import clip_ui, method_ui, model_ui, options_ui, target_ui
from xai_core import XaiError, get_method, list_methods

role = current_role()
st.title("Explain a decision")

with st.sidebar:
    model = model_ui()
    if model is None:
        st.stop()
    clip, sample = clip_ui(model.spec)
    methods = [m for m in list_methods() if role.allows(m)]
    method = method_ui(methods, default=role.default_method)
    target = target_ui(model.class_names)
    options = options_ui(get_method(method), model) if role.internals else {}
if options is None:                     # the options do not validate: the error is shown beside them
    st.stop()

if clip is None:
    st.stop()

info = get_method(method)
args = (model.name, clip.digest, method, target, json.dumps(options, sort_keys=True))
try:
    if info.cost == "cheap":
        exp = cache.get_explanation(*args, _model=model, _clip=clip)
    else:
        with st.status(f"Explaining with {info.label} ({info.cost} method)…", expanded=False) as status:
            exp = cache.get_explanation(*args, _model=model, _clip=clip)
            status.update(label=f"{info.label}: {exp.timings_ms['explain'] / 1000:.1f} s", state="complete")
except XaiError as e:
    st.error(str(e))
    st.stop()

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
