"""Explain: one clip x one model x one method — prediction, tube, temporal curve, overlay video."""
import json

import streamlit as st

from ui import cache
from ui.widgets import clip_ui, method_ui, model_ui, probabilities_figure, target_ui
from xai_core import XaiError, get_method, render
from xai_core.relevance.summary import summarise

st.title("Explain a decision")

with st.sidebar:
    model = model_ui()
    if model is None:
        st.stop()
    clip, sample = clip_ui(model.spec)
    method = method_ui()
    target = target_ui(model.class_names)

if clip is None:
    st.stop()

info = get_method(method)
key = (model.name, clip.digest, method, target, "{}")
try:
    if info.cost == "cheap":
        exp = cache.get_explanation(*key, _model=model, _clip=clip)
    else:
        with st.status(f"Explaining with {info.label} ({info.cost})…", expanded=False) as status:
            exp = cache.get_explanation(*key, _model=model, _clip=clip)
            status.update(label=f"{info.label}: done in {exp.timings_ms['explain'] / 1000:.1f} s",
                          state="complete")
except XaiError as e:
    st.error(str(e))
    st.stop()

numbers = list(clip.source_indices)
st.subheader(summarise(exp, numbers))
notes = list(clip.notes)
if sample is not None and sample.truth:
    verdict = "right" if sample.truth == exp.predicted_label else "wrong"
    notes.append(f"Ground truth: **{sample.truth}** ({sample.kind} evidence) — the model is {verdict}.")
for note in notes:
    st.caption(note)

left, right = st.columns([1, 2.2])
with left:
    st.markdown(f"**Prediction:** {exp.predicted_label} ({exp.probabilities[exp.predicted]:.0%})")
    st.plotly_chart(probabilities_figure(exp.probabilities, exp.class_names, highlight=exp.target),
                    width="stretch", config={"displayModeBar": False})
    st.caption(f"forward {exp.timings_ms['forward']:.0f} ms · {info.label} {exp.timings_ms['explain']:.0f} ms")
    for name, value in exp.extras.items():
        st.caption(f"{name.replace('_', ' ')}: {value:.2%}" if isinstance(value, float) else f"{name}: {value}")
with right:
    mode = "signed" if info.signed else "positive"
    rkey = cache.result_key(exp)
    tube = cache.get_tube_png(rkey, clip.display, exp.relevance, "positive", None,
                              tuple(exp.key_frames()), tuple(numbers), render.explanation_title(exp))
    st.image(tube, caption="Staggered-frame tube: frames back to front, relevance drawn on each; "
                           "the line follows the centre of relevance through time.", width="stretch")

curve_col, video_col = st.columns([1.4, 1])
with curve_col:
    fig = render.curve_figure({exp.method: exp.curve}, key_frames=exp.key_frames(), frame_indices=numbers,
                              thumbnails=clip.display, title="When: share of relevance per frame")
    st.plotly_chart(fig, width="stretch", config={"displayModeBar": False})
with video_col:
    video = cache.get_overlay_video(cache.result_key(exp), clip.display, exp.relevance, "positive", None,
                                    max(1.0, clip.num_frames / 2))
    st.video(video, format="video/webm", loop=True)
    st.caption("Per-frame overlay (WebM).")
