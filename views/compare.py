"""Compare: one clip x several models (and methods) side by side, one colour scale, one time axis."""
import json

import streamlit as st

from ui import cache, jobs
from ui.compare import (compute_all, expected_seconds, explain_all, frame_share, get_column_tube, get_evidence_mask,
                        grid, methods_ui, model_names, models_ui, order_sentence, per_row,
                        reliance_sentence, side_by_side, table_ui, target_ui, top_classes, verdict_badge, video_ui, work_key)
from ui.blocks import export_buttons
from ui.ood import ood_warning_ui
from ui.state import current_role
from ui.widgets import load_ui, reliance_figure, short_label
from xai_core import XaiError, get_method, list_methods, render
from xai_core.methods import cost
from xai_core.methods.cost import describe
from xai_core.relevance import compare as cmp
from xai_core.relevance.evidence import no_evidence_note, shown_mode

BACKGROUND_S = 3.0      # expected seconds above which the work runs in a worker, with progress and Cancel
CONFIRM_S = 90.0        # ... and above which it waits for a click

role = current_role()
st.title("Compare models")
st.caption("One clip, several models or methods side by side: the same colour scale for every column "
           "of a method, one time axis in the source video's frames.")

notice = st.container()             # models not installed, weights being prepared

with st.sidebar:
    sample_clip, sample = video_ui()
    names = models_ui(model_names(), sample)
    offered = [m for m in list_methods() if role.allows(m)]
    methods = methods_ui(offered, role.default_method, models=names)

if sample_clip is None:
    st.stop()
missing = {n: cache.not_installed(n) for n in names if cache.not_installed(n)}
for name, command in missing.items():
    notice.warning(f"**{name}** is not installed: its trained weights come from a package, installed with one "
                   "command (then pick it again):", icon=":material/download:")
    notice.code(command, language="bash")
names = [n for n in names if n not in missing]
if not names or not methods:
    if not missing:
        st.info("Pick at least one model and one method in the sidebar.")
    st.stop()
try:
    models = [load_ui(n, notice) for n in names]
    clips = {m.name: sample_clip(m.spec) for m in models}
except XaiError as e:
    st.error(f"Cannot compare on this input: {e}")
    st.stop()
with st.sidebar:
    target = target_ui(models)

# ------------------------------------------------------------------------------ compute
for model in models:                    # the time each pair is expected to take: one pass timed per model
    if cost.measured(model) is None:
        with st.spinner(f"Timing one pass of {model.name} on this machine (once)…"):
            cost.pass_cost(model, timeout=0.1)
seconds = expected_seconds(models, methods)
total = len(models) * len(methods)
pairs = f"{total} model × method pair{'s' if total > 1 else ''}"
key = work_key(models, clips, methods, target)
slow = any(get_method(m).cost != "cheap" for m in methods) or (seconds or 0) > BACKGROUND_S
try:
    if slow and not (jobs.finished(key) and not jobs.running(key)):
        jobs.confirm_long(seconds, CONFIRM_S, key, "compare",
                          f"Explaining {pairs} is expected to take **{describe(seconds)}** on this machine (their "
                          "forward passes times one pass of each model timed here). Cheaper methods, or fewer models, "
                          "are faster.", "Compare")
        done = jobs.run_ui(key, lambda progress: compute_all(models, clips, methods, target, progress),
                           label=f"Explaining {pairs}", estimate=seconds, state_key="compare-job")
        if done is None:                # cancelled: the message and a button to run it again are shown
            st.stop()
    elif not jobs.finished(key):
        jobs.leave("compare-job")
        with st.status(f"Explaining {pairs}…", expanded=False) as status:
            bar = st.progress(0.0)
            explain_all(models, clips, methods, target, progress=lambda f, m: bar.progress(f, text=m),
                        per_pass=False)
            bar.progress(1.0, text="done")
            status.update(label=f"{pairs}: done", state="complete")
    exps = explain_all(models, clips, methods, target)          # from the cache, with this session's clips
except XaiError as e:
    st.error(str(e))
    st.stop()
took = sum(e.timings_ms["forward"] + e.timings_ms["explain"] for e in exps) / 1000
st.caption(f"{pairs}: {took:.1f} s of computing" + (f" (expected {describe(seconds)})" if seconds and seconds >= 1
                                                        else "") + "; results are kept, so going back is instant.")

by_name = {m.name: m for m in models}
exps = [cache.with_reliance(e, by_name[e.model], clips[e.model]) for e in exps]   # motion reliance per target
orders = {e.model: cmp.OrderCheck.from_reliance(e.reliance) for e in exps}   # the reversed clip is one of its counterfactuals
truth = sample.truth if sample is not None else None
labels = cmp.column_labels(exps)
SCALE_RATIO = 10.0      # a method whose columns' own scales differ more than this gets one scale per column
scales = cmp.column_scales(exps, max_ratio=SCALE_RATIO)
unshared = cmp.unshared_methods(exps, max_ratio=SCALE_RATIO)
axis = cmp.common_frames(exps)

backwards = cmp.reversed_class(truth)
if truth:
    kind = "motion: only the order of the frames tells it apart" if sample.kind == "motion" else \
        "appearance: a single frame shows it"
    twin = f"; played backwards it is a **{backwards}** clip" if backwards else ""
    st.markdown(f"Ground truth: **{truth}** ({kind}{twin}).")


# ------------------------------------------------------------------- columns: who says what
columns = per_row(len(exps))       # 4 explanations as 2 x 2, more in rows of 3: tubes stay legible
for col, exp, label, scale in zip(grid(len(exps)), exps, labels, scales):
    with col:
        model = models[names.index(exp.model)]
        st.subheader(label, divider="gray", help=model.info.description or model.info.family)
        verdict = cmp.verdict(exp, truth, orders[exp.model], backwards)
        badge = verdict_badge(verdict)
        st.markdown(f"**{exp.predicted_label}** · {exp.probabilities[exp.predicted]:.0%} {badge}")
        st.caption(f"Top {min(5, len(exp.class_names))} of {len(exp.class_names)}: {top_classes(exp)}")
        ood_warning_ui(exp.ood)
        st.markdown(order_sentence(orders[exp.model]))
        st.markdown(reliance_sentence(exp.reliance))
        st.plotly_chart(reliance_figure(exp.reliance, legend=False), width="stretch",
                        config={"displayModeBar": False}, key=f"reliance-{cache.result_key(exp)}")
        if exp.target != exp.predicted:
            st.caption(f"Explaining {exp.target_label} ({exp.probabilities[exp.target]:.0%}).")
        numbers = cmp.frame_numbers_of(exp)
        tube = get_column_tube(cache.result_key(exp), exp.clip.display, exp.relevance, scale,
                               tuple(exp.key_frames()), tuple(numbers), columns)
        st.image(tube, width="stretch")
        note = no_evidence_note(exp.relevance, exp.target_label)
        if note:
            st.warning(note, icon=":material/info:")
        if role.internals:
            st.caption(f"forward {exp.timings_ms['forward']:.0f} ms · explain {exp.timings_ms['explain']:.0f} ms"
                       f" · colour scale {scale:.3g} · input {exp.clip.frames.shape[0]}×"
                       f"{exp.clip.frames.shape[1]}×{exp.clip.frames.shape[2]}")
st.caption("Each tube: the clip's frames back to front, relevance drawn on each on one shared colour "
           "scale (per method), the line following the centre of relevance through time (dashed where it "
           "is weak)." + "".join(
               f" {short_label(get_method(m))}: its values differ {f:.0f}-fold between the models (units of each model's "
               "own layers and scores), so each column has its own colour scale; compare where and when, "
               "not how strong." for m, f in unshared.items()))


# ------------------------------------------------------- the training clips behind each answer
def influence_ui():
    """Per column, the training clips that pushed each model to its answer (TracIn-CP), on demand:
    the first time per model every training clip runs through it once (minutes), then it is instant."""
    from xai_core.influence import cache_root
    from xai_core.influence.thumbnails import thumbnail_strip

    st.markdown("##### Training clips behind each answer")
    if not st.toggle("Show the training clips that pushed each model to its answer, and against it",
                     key="compare_influence"):
        return
    seen, wanted = set(), []
    for e in exps:                                  # one per model and class (methods share it)
        if (e.model, e.target) not in seen:
            seen.add((e.model, e.target))
            wanted.append((e, by_name[e.model]))
    ready = {m.name: cache.get_index_ready(m.name, str(cache_root()), m) for _, m in wanted}
    wanted = [(e, m) for e, m in wanted if ready[m.name] is not None]
    missing = sorted({m for m, r in ready.items() if r is None})
    if missing:
        st.caption(f"No training set here for {', '.join(missing)} (the CLI takes a folder of labelled clips).")
    if not wanted:
        return
    key = json.dumps(["compare-influence", [cache.influence_key(e.model, clips[e.model].digest, e.target)
                                            for e, _ in wanted]])

    def work(progress):
        out = []
        for k, (e, m) in enumerate(wanted):
            step = lambda f, msg, k=k: progress((k + f) / len(wanted), f"{m.name}: {msg}")   # noqa: E731
            out.append(cache.compute_influence(m.name, clips[m.name].digest, e.target, m, clips[m.name], step))
        return out

    try:
        results = jobs.run_ui(key, work, label="The training clips behind each answer (each model's index "
                              "is built once, then kept on disk)", state_key="compare-influence-job")
    except XaiError as e:
        st.error(str(e))
        return
    if results is None:
        return
    for col, (e, _), r in zip(grid(len(wanted)), wanted, results):
        with col:
            st.markdown(f"**{e.model}** · {r.target['label']}")
            for side, examples in (("proponent", r.proponents[:4]), ("opponent", r.opponents[:2])):
                for x in examples:
                    st.image(cache.get_png(json.dumps([key, side, x.index]), "strip",
                                           lambda x=x, side=side: thumbnail_strip(x, side, 4, 56)),
                             width="stretch")
                    same = ":green-badge[same class]" if x.same_class else ":gray-badge[other class]"
                    st.caption(f"{'for' if side == 'proponent' else 'against'}: **{x.label}** · {x.score:+#.3g} "
                               f"{same} · {x.source}")
    st.caption("Orange frames: training clips that pushed the model towards its answer; blue: against it "
               "(TracIn-CP with normalised gradients, Pruthi et al. 2020). The examples follow each model's "
               "answer: a model blind to frame order finds a clip and its reversal alike, so the reversed "
               "class's clips sit at the top of one side (frame2d_pool calls 80% of stand_up clips sit_down, "
               "and sit_down clips are then 80% of its proponents: docs/ground_truth.md, influence).")


influence_ui()


# -------------------------------------------------------------- frame by frame, one slider
@st.fragment
def frames_ui():
    """One slider moves every column to the same source frame."""
    st.markdown("##### Frame by frame")
    frame = st.select_slider("Frame of the source video", options=axis,
                             key=f"compare_frame_{axis[0]}_{axis[-1]}_{len(axis)}")  # new axis, new slider
    for col, exp, label, scale in zip(grid(len(exps)), exps, labels, scales):
        numbers = cmp.frame_numbers_of(exp)
        t = min(range(len(numbers)), key=lambda i: abs(numbers[i] - frame))   # nearest sampled frame
        mode = shown_mode(exp.relevance)                 # no evidence for: the against, own scale
        heat = cache.get_overlay_frames(cache.result_key(exp), exp.clip.display, exp.relevance, mode,
                                        scale if mode == "positive" else None, role.overlay)
        with col:
            st.image(side_by_side(exp.clip.display[t], heat[t]), width="stretch" if len(exps) > 1 else 560,
                     caption=f"{label} · frame {numbers[t]}: the frame, and {frame_share(exp, t, mode)} on it")


frames_ui()

# --------------------------------------------------------------------- when: all curves
curves = cmp.shared_curves(exps, axis)
first = exps[0]
thumbnails = first.clip.display if cmp.frame_numbers_of(first) == axis else None
st.markdown("##### When: the share of relevance on each frame")
fig = render.curve_figure(curves, frame_indices=axis, thumbnails=thumbnails)
st.plotly_chart(fig, width="stretch", config={"displayModeBar": False})

# ----------------------------------------------------------------------------- the table
mask = None
if "ground_truth" in role.renderings and sample is not None and sample.seed is not None:
    mask = get_evidence_mask(sample.seed, sample.index)
rows = cmp.comparison_table(exps, truth=truth, order=orders, reversed_truth=backwards, evidence=mask)
table_ui(rows, target=any(e.target != e.predicted for e in exps), evidence=mask, internals=role.internals)

if "export" in role.renderings:
    st.markdown("##### Export")
    export_buttons(exps, role, f"compare_{'_'.join(dict.fromkeys(e.model for e in exps))}",
                   key=f"compare-export-{len(exps)}")
