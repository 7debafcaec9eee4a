"""Model: what the model has learned, independent of any one clip (developer role).

Its first 3D kernels ordered by temporal selectivity, class-maximising clips from several seeds,
and a chosen layer's activations on a clip. Widgets and layout only; the core is xai_core.modelview.
"""
import json

import numpy as np
import streamlit as st

from ui import cache, jobs
from ui.samples import default_model
from ui.widgets import model_ui, video_ui
from xai_core import XaiError

MAX_STEPS = 512

st.title("The model's own view")
notice = st.container()
with st.sidebar:
    sampler, sample = video_ui("model_clip")
    model = model_ui(default=default_model(sample, cache.model_names(), cache.installed), notice=notice)
if model is None:
    st.stop()
st.caption(f"**{model.name}** ({model.info.family}): {model.info.description or ''} What it has learned, "
           "seen without a clip (its kernels, the clips it likes best) and on one (a layer's activations).")

kernels_tab, maxima_tab, layer_tab = st.tabs(["3D kernels", "Class-maximising clips", "Layer activations"])

# ----------------------------------------------------------------------------------- kernels
with kernels_tab:
    try:
        names = cache.get_kernel_layer_names(model.name, model)
    except XaiError as e:
        names = []
        st.info(str(e), icon=":material/info:")
    if names:
        layer = st.selectbox("Layer", names, key="kernel_layer",
                             help="The first layers see pixels directly, so their kernels can be read as "
                                  "pictures; a (2+1)D pair (spatial+temporal) is composed into one kernel.")
        try:
            view, png = cache.get_kernel_grid(model.name, layer, model)
        except XaiError as e:
            st.error(str(e))
        else:
            s = view.selectivity
            st.image(png, width="stretch")
            st.caption(f"Each row: one filter, its time slices left to right; most motion-selective first. "
                       f"Temporal selectivity S = Σ(k[t+1] − k[t])² / (2·Σ(k[t]² + k[t+1]²)) = (1 − r)/2, r the "
                       f"correlation of successive time slices: 0 for a kernel constant in time (it sees "
                       f"appearance), 0.5 for one that looks at a single instant, 1 for one whose sign flips "
                       f"every frame (it sees change). Here: {len(s)} filters, S from {s.min():.2f} to "
                       f"{s.max():.2f} (median {np.median(s):.2f}).")

# ------------------------------------------------------------------------ class-maximising clips
with maxima_tab:
    classes = list(model.class_names)
    c1, c2, c3 = st.columns([2, 1, 1])
    target = c1.selectbox("Class", classes, key="max_class")
    steps = c2.number_input("Steps", 16, MAX_STEPS, 96, step=16, key="max_steps",
                            help="Optimisation steps (Adam on a Fourier-parameterised clip)")
    seeds = c3.number_input("Seeds", 1, 4, 2, key="max_seeds", help="Independent starts, side by side, for stability")
    st.caption("Regularised activation maximisation (Olah et al. 2017, 'Feature Visualization'; Deep Draw "
               "for video): a clip in a decorrelated-colour Fourier basis, jittered in space and time, blurred, "
               "with total variation penalised in space and in time, optimised to raise the class's logit. "
               "The probability is the model's own on the finished 8-bit frames.")
    key = json.dumps(["maximise", model.name, target, int(steps), int(seeds)])
    run = None
    if jobs.finished(key) and not jobs.running(key):
        run = cache.get_maximised(model.name, target, int(steps), int(seeds), model)
    elif st.button(f"Make the {target} clip", type="primary", key="max_go") or jobs.running(key) \
            or st.session_state.get("max-job") is not None and st.session_state["max-job"].key == key:
        run = jobs.run_ui(key, lambda progress: cache.compute_maximised(model.name, target, int(steps), int(seeds),
                                                                        model, progress=progress),
                          label=f"{target} on {model.name}, {int(seeds)} seed(s) × {int(steps)} steps",
                          state_key="max-job")
    if run is not None:
        loop, tube, grid = cache.get_maximised_pictures(key, run)
        left, right = st.columns([1, 2])
        best = max(run.clips, key=lambda c: c.probability)
        left.video(loop, format="video/webm", loop=True, autoplay=True, muted=True)
        left.caption(f"Seed {best.seed}: p({target}) = {best.probability:.3f}; the model's top class on it: "
                     f"{best.predicted}. Played three times.")
        right.image(tube, width="stretch")
        st.image(grid, width="stretch")
        s = run.stability
        if s["feature_correlation"] is not None:
            st.caption(f"Stability across seeds: the model's features on the clips agree (correlation "
                       f"{s['feature_correlation']:.2f}); their timing of change {s['motion_correlation']:.2f}; "
                       f"their pixels {s['pixel_correlation']:.2f} (the same idea, drawn differently).")

# ------------------------------------------------------------------------------ layer activations
with layer_tab:
    if sampler is None:
        st.info("Pick a clip in the sidebar.")
    else:
        try:
            clip = sampler(model.spec)
            layers = cache.get_layer_choices(model.name, model)
        except XaiError as e:
            st.error(str(e))
        else:
            labels = {c.name: f"{c.name} · {c.layout} · {tuple(c.shape)}" for c in layers}
            layer = st.selectbox("Layer", list(labels), index=len(labels) // 2, format_func=labels.get,
                                 key="act_layer")
            act, png = cache.get_activations(model.name, clip.digest, layer, model, clip)
            st.image(png, width="stretch")
            st.caption(f"Energy (mean squared activation over channels and positions) per frame of the clip; "
                       f"the layer has {act.maps.shape[1]} time step(s) for the clip's {len(act.step_of_frame)} "
                       f"frames (frame t → step ⌊t·T'/T⌋). Below: its {len(act.top)} most active channels as "
                       "tubes over the frames.")
