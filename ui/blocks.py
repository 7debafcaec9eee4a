"""The renderings a role can ask for, one function each; the Explain page shows them in the role's order."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from xai_core import render
from xai_core.data.synthetic import FINE_KIND
from xai_core.metrics.ground_truth import (energy_inside, mask_on_grid, pointing_game, pointing_text,
                                          pointing_tolerance, temporal_hit)
from xai_core.relevance import export
from xai_core.relevance.evidence import curve_mode, evidence, no_evidence_note, shown_mode
from xai_core.relevance.summary import summarise, where
from xai_core.relevance.temporal import key_frames, temporal_curve

from . import cache
from .samples import Sample, evidence_mask
from .widgets import probabilities_figure


@dataclass
class View:
    """One explanation as the page shows it: the result plus how to draw it."""

    exp: object               # xai_core Explanation (its .clip is the explained Clip)
    info: object              # the method's MethodInfo
    role: object              # the session's Role
    sample: Sample | None     # the picked sample (ground truth for synthetic ones), or None
    mode: str = "positive"    # colour mode: "positive" or "signed" ("against" when nothing is for)
    scale: float | None = None

    def __post_init__(self):
        self.mode = shown_mode(self.exp.relevance, self.mode)   # no evidence for: draw the against
        if self.against:
            self.scale = None                                   # ... on its own scale

    @property
    def against(self) -> bool:
        """True when the explanation has no evidence for its class: the page shows the against."""
        return self.mode == "against"

    @property
    def curve(self) -> np.ndarray:
        """(T,) share of the evidence per frame (of the evidence against, when that is shown)."""
        return temporal_curve(self.exp.relevance, curve_mode(self.mode))

    @property
    def key_frames(self) -> list[int]:
        return key_frames(self.curve)

    @property
    def note(self) -> str | None:
        """The words that say there is no evidence for the class (None when there is some)."""
        return no_evidence_note(self.exp.relevance, self.exp.target_label)

    @property
    def clip(self):
        return self.exp.clip

    @property
    def numbers(self) -> list[int]:
        return list(self.clip.source_indices)

    @property
    def key(self) -> str:
        return cache.result_key(self.exp) + self.mode

    def overlay_frames(self) -> np.ndarray:
        return cache.get_overlay_frames(self.key, self.clip.display, self.exp.relevance, self.mode,
                                        self.scale, self.role.overlay)


def percent(share: float) -> str:
    """A share as a percentage with 2 significant digits, never in exponent form: 0.31%, 4.2%, 100%."""
    value = 100 * share
    return f"{value:.2g}%" if value < 10 else f"{value:.0f}%"


def summary_block(v: View) -> None:
    st.subheader(summarise(v.exp, v.numbers, v.role.summary))


def no_evidence_block(v: View) -> None:
    """A warning, first on the page, when the method found no evidence for the class."""
    if v.note:
        st.warning(v.note, icon=":material/info:")


LONG_LABEL = 16          # characters: a longer class name (Kinetics') gets the whole row, not a third


def prediction_block(v: View) -> None:
    exp = v.exp
    long = len(exp.predicted_label) > LONG_LABEL
    if long:                 # st.metric cuts its value off with an ellipsis where it does not fit
        st.metric("Prediction", exp.predicted_label, f"{exp.probabilities[exp.predicted]:.0%} confident",
                  delta_color="off", delta_arrow="off")
    right, left = st.columns([2, 1]) if long else st.columns([1, 2])[::-1]
    if not long:
        left.metric("Prediction", exp.predicted_label, f"{exp.probabilities[exp.predicted]:.0%} confident",
                    delta_color="off", delta_arrow="off")
    if exp.target != exp.predicted:
        left.caption(f"Explaining **{exp.target_label}** ({exp.probabilities[exp.target]:.0%}), "
                     "not the prediction.")
    if "completeness_gap" in exp.extras:
        gap = exp.extras["completeness_gap"]
        if gap <= 0.05:
            left.caption(f"Complete within {percent(gap)}: the relevance adds up to the change of the class "
                         "score from the baseline clip to this one.")
        else:
            left.caption(f"Not complete: the relevance misses the change of the class score from the baseline "
                         f"clip to this one by {percent(gap)} (see the model's notes).")
    right.caption(f"Top {min(5, len(exp.class_names))} of {len(exp.class_names)} classes")
    right.plotly_chart(probabilities_figure(exp.probabilities, exp.class_names, highlight=exp.target),
                       width="stretch", config={"displayModeBar": False}, key=f"probs-{v.key}")


def tube_block(v: View) -> None:
    png = cache.get_tube_png(v.key, v.clip.display, v.exp.relevance, v.mode, v.scale,
                             tuple(v.key_frames), tuple(v.numbers), render.explanation_title(v.exp))
    what = "the evidence against the class (there is none for it)" if v.against else "relevance"
    st.image(png, width="stretch", caption=f"Staggered-frame tube: the clip's frames back to front, {what} "
             "drawn on each; the line follows its centre through time (dashed where it is weak); key frames "
             "framed.")


def curve_block(v: View) -> None:
    what = "the evidence against the class" if v.against else "the relevance"
    fig = render.curve_figure({v.exp.method: v.curve}, key_frames=v.key_frames, frame_indices=v.numbers,
                              thumbnails=v.overlay_frames() if v.against else v.clip.display,
                              title=f"When: share of {what} in each frame", against=v.against)
    st.plotly_chart(fig, width="stretch", config={"displayModeBar": False}, key=f"curve-{v.key}")


def frames_block(v: View) -> None:
    """One frame at a time: a slider over the video's frame numbers (as the tube and curve count)."""
    T = v.clip.num_frames
    keys = v.key_frames
    numbers = v.numbers
    t = st.select_slider("Frame of the video", options=list(range(T)), value=keys[0] if keys else 0,
                         format_func=lambda i: str(numbers[i]), key=f"scrub-{v.key}",
                         help="Frames the model saw, numbered as in the video. Key frames: "
                              + (", ".join(str(numbers[k]) for k in keys) or "none"))
    heat = v.overlay_frames()
    frame_col, heat_col, facts = st.columns([1, 1, 0.8])
    frame_col.image(v.clip.display[t], caption=f"frame {numbers[t]}", width="stretch")
    heat_col.image(heat[t], caption="evidence against on it" if v.against else "relevance on it", width="stretch")
    r = v.exp.relevance[t]
    facts.metric("Share of the evidence against" if v.against else "Share of the clip's relevance",
                 f"{v.curve[t]:.0%}", "key frame" if t in keys else None, delta_color="off", delta_arrow="off")
    if v.info.signed or v.against:
        pos, neg = float(np.clip(r, 0, None).sum()), float(np.clip(-r, 0, None).sum())
        facts.caption(f"evidence for {v.exp.target_label}: {pos:.3g} · against: {neg:.3g}")
    facts.caption(f"where on this frame: {where(v.exp.relevance[t:t + 1], mode='against' if v.against else 'positive')}")


def overlay_video_block(v: View) -> None:
    fps = max(1.0, v.clip.num_frames / 2)
    video = cache.get_overlay_video(v.key, v.clip.display, v.exp.relevance, v.mode, v.scale, v.role.overlay, fps)
    st.video(video, format="video/webm", loop=True, width=560)
    what = " Blue: the evidence against the class, on its own scale (there is none for it)." if v.against else ""
    st.caption(f"Per-frame overlay, {v.clip.num_frames} frames at {fps:g} fps.{what}")


def ground_truth_block(v: View) -> None:
    exp = v.exp
    if v.sample is None or v.sample.truth is None or v.sample.truth not in exp.class_names:
        return                          # ground truth only for the procedural data set's classes
    mask = mask_on_grid(evidence_mask(v.sample), v.numbers, exp.relevance.shape)   # (T, H, W)
    right = "right" if v.sample.truth == exp.predicted_label else f"wrong (true class: {v.sample.truth})"
    st.markdown(f"**Ground truth:** {v.sample.truth} — {v.sample.kind} evidence. The model is {right}.")
    fine = FINE_KIND.get(v.sample.truth)
    r = getattr(exp, "reliance", None)
    if fine is not None and r is not None:
        called = "matches" if r.kind == fine else "does not match"
        st.caption(f"Deciding {v.sample.truth} needs **{FINE_WORDS[fine]}** ({fine}); the measured reliance "
                   f"says **{r.kind}**: it {called}.")
    if exp.target_label != v.sample.truth:
        st.caption("The scores below compare the relevance for the explained class with the evidence "
                   "for the true class.")
    c1, c2, c3 = st.columns(3)
    tol = pointing_tolerance(mask.shape[1])
    pointing = pointing_game(exp.relevance, mask)
    c1.metric("Pointing game", pointing_text(pointing.hit),
              help=f"Is the most relevant voxel inside the evidence (grown by {tol} px)? n/a when the map "
                   "does not point at a place: its most relevant frame is the same everywhere (temporal "
                   "occlusion scores whole frames), or its maximum is shared by voxels in and out of the "
                   "evidence (occlusion's blocks)." + (f" Here: {pointing.reason}." if pointing.reason else ""))
    c2.metric("Relevance in evidence", f"{energy_inside(exp.relevance, mask):.0%}",
              f"evidence is {mask.mean():.1%} of the clip", delta_color="off", delta_arrow="off")
    c3.metric("Peak frame holds evidence", "yes" if temporal_hit(exp.relevance, mask) else "no")
    t = int(np.argmax(exp.curve if evidence(exp.relevance).positive else v.curve))
    frame = v.clip.display[t]
    outline = render.overlay(frame[None], mask[t:t + 1].astype(np.float32), alpha=0.0, scale=1.0,
                             contour=0.5)[0]
    st.image([outline, v.overlay_frames()[t]], width=260,
             caption=[f"evidence outlined, frame {v.numbers[t]}",
                      "evidence against, same frame" if v.against else "relevance, same frame"])


def export_buttons(exps: list, role, stem: str, key: str) -> None:
    """Download buttons: tube PNG, overlay video, relevance JSON + NPZ, a self-contained HTML report.

    Each file is made only when its button is clicked (a callable), and the click does not rerun
    the page. The buttons are as wide as their labels and wrap onto a new row when the page is narrow.
    """
    one = len(exps) == 1
    exp = exps[0]
    mode = shown_mode(exp.relevance)
    files = [
        ("Tube (PNG)", f"{stem}_tube.png", "image/png",
         lambda: render.to_png(render.tube_image(exp.clip.display, exp.relevance, mode=mode,
                                                 key_frames=key_frames(temporal_curve(exp.relevance, curve_mode(mode))),
                                                 frame_numbers=list(exp.clip.source_indices),
                                                 title=render.explanation_title(exp)))),
        ("Overlay (WebM)", f"{stem}_overlay.webm", "video/webm", lambda: _overlay_webm(exp, role.overlay)),
        ("Relevance (JSON)", f"{stem}.json", "application/json",
         (lambda: export.to_json(exp, include_relevance=True, summary_template=role.summary)) if one else
         (lambda: export.to_json_many(exps, include_relevance=True, summary_template=role.summary))),
        ("Relevance (NPZ)", f"{stem}.npz", "application/octet-stream",
         (lambda: export.to_npz(exp)) if one else (lambda: export.to_npz_many(exps))),
        ("Report (HTML)", f"{stem}_report.html", "text/html",
         lambda: render.html_report(exps, summary_template=role.summary, overlay=role.overlay,
                                    notes=list(exp.clip.notes))),
    ]
    if not one:
        files = files[2:]   # tube and video are per column; the report holds them all
    with st.container(horizontal=True, gap="small"):
        for label, name, mime, make in files:
            st.download_button(label, make, file_name=name, mime=mime, on_click="ignore", key=f"{key}-{name}",
                               icon=":material/download:", width="content")


def _overlay_webm(exp, style: str) -> bytes:
    """The overlay video as WebM bytes; with no evidence for the class, the evidence against,
    with a line under the frames that says so."""
    import tempfile
    from pathlib import Path

    from xai_core.relevance.evidence import short_note

    mode = shown_mode(exp.relevance)
    heat = render.overlay(exp.clip.display, exp.relevance, mode=mode, **render.overlay_style(style))
    note = short_note(exp.relevance, exp.target_label)
    with tempfile.TemporaryDirectory() as tmp:
        return render.write_video(Path(tmp) / "overlay.webm", render.caption_frames(heat, note) if note else heat,
                                  fps=max(1.0, exp.clip.num_frames / 2)).read_bytes()


def export_block(v: View) -> None:
    st.markdown("**Export**")
    stem = f"{v.exp.model}_{v.exp.method}_{v.exp.target_label}"
    export_buttons([v.exp], v.role, stem, key=f"export-{v.key}")


FINE_WORDS = {"order": "the order of frames", "change": "change over time, in either direction",
              "appearance": "what a single frame shows"}
SPLIT_HELP = {"counterfactual": "relevance lost when the motion is taken out (the clip's static median "
                                "explained the same way); the best at telling motion from appearance on the "
                                "ground truth, at the cost of one more explanation",
              "selective": "where the relevance changes over time (Hiley et al. 2020): relevance ON moving "
                           "things, not proof that the model uses motion; costs nothing",
              "reversed": "relevance that depends on the direction of time (the clip played backwards); "
                          "0 for a model blind to frame order"}
CF_FRAMES = 4           # frames shown per counterfactual clip


def _strip(frames: np.ndarray, n: int = CF_FRAMES, height: int = 72) -> np.ndarray:
    """n evenly spaced frames side by side, `height` pixels high (a still of a short clip)."""
    import cv2

    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    h, w = frames.shape[1:3]
    size = (max(1, round(w * height / h)), height)
    tiles = [cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA) for i in idx]
    gap = np.full((height, 3, 3), 255, np.uint8)
    return np.concatenate([p for t in tiles for p in (t, gap)][:-1], axis=1)


def motion_block(v: View) -> None:
    """Motion or appearance: what the score rests on (counterfactual reliance and the clips it was
    measured on), the relevance split into appearance and motion parts, and the optical flow."""
    from xai_core.motion.moving import RULE, moving_share, moving_speed
    from xai_core.motion.reliance import counterfactual_frames
    from xai_core.motion.split import list_splits
    from xai_core.relevance.summary import motion_phrase

    from .widgets import reliance_figure

    exp, r = v.exp, getattr(v.exp, "reliance", None)
    st.markdown("#### Motion or appearance?")
    if r is not None:
        phrase = motion_phrase(r) or "no counterfactual changed the score: nothing to measure"
        st.markdown(f"For **{r.target_label}** ({r.score:.0%}), {phrase}.")
        st.plotly_chart(reliance_figure(r), width="stretch", config={"displayModeBar": False},
                        key=f"reliance-{v.key}")
        st.caption("Measured, not inferred from the picture: the class's probability on the clip, played "
                   "backwards (order removed), and on its static median (all change removed), against chance "
                   f"({r.chance:.0%}). Order: what playing it backwards costs; change over time: what freezing "
                   "it costs beyond that; single frames: what is left above chance. Kind: "
                   f"**{r.kind}**.")
        with st.expander("The counterfactual clips and what the model says on them", expanded=False):
            clips = counterfactual_frames(v.clip.display)
            cols = st.columns(len(r.counterfactuals))
            for col, c in zip(cols, r.counterfactuals):
                col.image(_strip(clips[c.name], 2), width="stretch")
                away = " · :orange-badge[out of its world]" if c.out_of_distribution else ""
                col.caption(f"**{c.name}**: {c.label} ({c.probability:.0%}); {r.target_label} "
                            f"{c.target_probability:.0%}{away}")
            for note in r.notes:
                st.caption(f"Note: {note}")
    variants = {s.name: s for s in list_splits()}
    cheap = v.info.cost == "cheap"
    default = "counterfactual" if cheap else "selective"
    pick = st.segmented_control("Split the relevance", list(variants), default=default,
                                format_func=lambda n: n, key=f"split-{v.key}",
                                help="; ".join(f"**{n}**: {SPLIT_HELP.get(n, variants[n].label)}" for n in variants))
    variant = pick or default
    model = cache.get_model(exp.model) if variants[variant].needs_model else None
    split = cache.get_split(v.key, variant, exp, model, v.clip)
    if not split.has_relevance:
        st.info("This relevance map is all zeros: there is nothing to split.")
    else:
        scale = float(max(np.abs(split.spatial).max(), np.abs(split.temporal).max()))
        left, right = st.columns(2)
        for col, part, name in ((left, split.spatial, "appearance (spatial part)"),
                                (right, split.temporal, "motion (temporal part)")):
            png = cache.get_png(v.key, f"split-{variant}-{name}", lambda p=part, n=name: render.tube_image(
                v.clip.display, np.abs(p).astype(np.float32), mode="positive", scale=render.robust_scale(
                    np.abs(np.concatenate([split.spatial, split.temporal])).astype(np.float32), "positive"),
                frame_numbers=v.numbers, title=n, width=640))
            col.image(png, width="stretch")
        both = cache.get_png(v.key, f"split-{variant}-both", lambda: render.spacetime_tube(
            v.clip.display, split, frame_numbers=v.numbers,
            title=f"both: {split.temporal_share:.0%} of |relevance| temporal ({variant})"))
        pic, legend = st.columns([4, 1])
        pic.image(both, width="stretch")
        legend.image(cache.get_png("legend", "spacetime", lambda: render.spacetime_legend()), width="stretch")
        st.caption(f"One picture for space and time: hue is each voxel's temporal share (blue: appearance, "
                   f"orange: motion; the two stay apart for colour-blind eyes), opacity its |relevance|. Split "
                   f"**{variant}**: {SPLIT_HELP.get(variant, '')}. The two parts add up to the relevance exactly "
                   f"(largest part {scale:.3g}).")
    flow = cache.get_flow(v.clip.digest, v.clip)
    share = moving_share(exp.relevance, flow)
    moving_flow = moving_speed(flow)                                 # (T-1, H, W): 0 where it does not move
    top = render.default_max_flow(flow)
    fl, leg = st.columns([4, 1])
    fl.image(cache.get_png(v.key, "flow", lambda: render.flow_tube(
        flow, moving_flow, v.clip.display, max_flow=top,
        title=f"optical flow where it moves ({RULE})")), width="stretch")
    leg.image(cache.get_png(f"flow-legend-{top:.2f}", "flow", lambda: render.flow_legend(120, top)),
              width="stretch", caption=f"direction; full colour at {top:.1f} px/frame")
    moving = "no positive relevance to place" if np.isnan(share) else \
        f"**{share:.0%}** of this explanation's positive relevance lies on moving pixels"
    st.caption(f"DIS optical flow (OpenCV) between the frames the model saw: {moving} "
               f"({(moving_flow > 0).mean():.0%} of the flow field moves; {RULE}).")
    from xai_core.motion.streams import is_two_stream

    if is_two_stream(cache.get_model(exp.model)):
        method = exp.method
        fs = cache.get_flow_stream(v.key, method, exp, _model=cache.get_model(exp.model), _clip=v.clip)
        s = fs.moving_share()
        st.image(cache.get_png(v.key, f"flow-stream-{method}", lambda: render.flow_tube(
            fs.flow, fs.relevance, v.clip.display, max_flow=top,
            title=f"the flow stream's {method} relevance on the flow field")), width="stretch")
        probs = fs.stream_probabilities
        st.caption(f"{exp.model} adds the logits of an RGB stream and a flow stream. Its flow stream alone says "
                   f"{fs.label} {probs['flow'][fs.target]:.0%}, its RGB stream {probs['rgb'][fs.target]:.0%}; "
                   + ("no positive relevance on the flow" if np.isnan(s) else
                      f"**{s:.0%}** of the flow stream's relevance lies on moving pixels") + ".")


def influence_block(v: View) -> None:
    """The training clips behind the decision: TracIn-CP proponents (pushed towards the answer) and
    opponents (pushed away), each a looping clip with its label, score and whether it shares the class."""
    import json

    from xai_core import XaiError

    from . import jobs

    exp = v.exp
    st.markdown("#### Training clips behind this decision")
    model = cache.get_model(exp.model)
    key = cache.influence_key(exp.model, v.clip.digest, exp.target)
    from xai_core.influence import cache_root

    ready = cache.get_index_ready(exp.model, str(cache_root()), model)
    if ready is None:
        st.info(f"No influence examples: {exp.model} has no training set here (the CLI takes a folder of "
                "labelled clips: python -m xai_core influence VIDEO --reference DIR).", icon=":material/info:")
        return
    asked = st.session_state.get("influence-asked", set())
    if not ready and key not in asked and not jobs.running(key) and not jobs.finished(key):
        st.caption("Which training clips pushed the model to this answer, and which pushed against it? The "
                   "first time per model this runs every training clip through it once (a minute or two on "
                   "a 2-core CPU) and keeps the result on disk; then it answers in well under a second.")
        if st.button("Find the training clips behind it", key=f"influence-go-{v.key}", icon=":material/search:"):
            st.session_state["influence-asked"] = asked | {key}
            st.rerun()
        return
    try:
        if jobs.finished(key) and not jobs.running(key):
            result = cache.get_influence(exp.model, v.clip.digest, exp.target, model, v.clip)
        else:
            result = jobs.run_ui(key, lambda progress: cache.compute_influence(
                exp.model, v.clip.digest, exp.target, model, v.clip, progress=progress),
                label=f"The training clips behind {exp.model}'s answer (indexed once, then kept on disk)",
                state_key="influence-job")
    except XaiError as e:
        st.info(f"No influence examples: {e}", icon=":material/info:")
        return
    if result is None:
        return
    thumbs = cache.get_influence_thumbnails(json.dumps([key, result.method]), result)
    how = {"tracin": "TracIn-CP (Pruthi et al. 2020): summed over the training checkpoints, the product of "
                     "the loss gradients of the last layer for this clip and the training clip",
           "tracin_cosine": "TracIn-CP with normalised gradients (Pruthi et al. 2020): the cosine of this "
                            "clip's and the training clip's last-layer loss gradients, summed over the "
                            "training checkpoints (in [-1, 1])",
           "similarity": "the similarity of the model's features (cosine of the last layer's input), signed "
                         "by whether the labels agree (in [-1, 1])"}.get(result.method, result.method)
    st.caption(f"{result.reference.get('description', 'the reference set')}; score: {how}. For "
               f"**{result.target['label']}**.")
    for side, title in (("proponent", "Pushed towards the answer (proponents)"),
                        ("opponent", "Pushed away from it (opponents)")):
        shown = [(e, data) for s, e, data in thumbs if s == side]
        st.markdown(f"**{title}**")
        if not shown:
            st.caption("none on this side")
            continue
        per_row = 4
        for row in range(0, len(shown), per_row):
            for col, (e, data) in zip(st.columns(per_row), shown[row:row + per_row]):
                col.video(data, format="video/webm", loop=True, autoplay=True, muted=True)
                same = ":green-badge[same class]" if e.same_class else ":gray-badge[other class]"
                col.caption(f"**{e.label}** · {e.score:+#.3g} {same}  \n{e.source}")
    for note in result.notes:
        st.caption(f"Note: {note}")


BLOCKS = {"summary": summary_block, "motion": motion_block, "influence": influence_block, "prediction": prediction_block, "tube": tube_block,
          "curve": curve_block, "frames": frames_block, "overlay_video": overlay_video_block,
          "ground_truth": ground_truth_block, "export": export_block}


def internals_block(v: View) -> None:
    """Raw arrays and timings, for roles with internals."""
    exp = v.exp
    with st.expander("Internals: timings, raw relevance", expanded=False):
        st.json({"timings_ms": {k: round(val, 1) for k, val in exp.timings_ms.items()},
                 "options": exp.options, "extras": exp.extras, "clip_notes": v.clip.notes,
                 "source_indices": v.numbers, "fps": v.clip.fps})
        r = exp.relevance
        st.write(f"relevance {r.dtype} {tuple(r.shape)} · min {r.min():.3g} · max {r.max():.3g} · "
                 f"sum {r.sum():.3g} · positive share {np.clip(r, 0, None).sum() / max(np.abs(r).sum(), 1e-12):.0%}")
        st.dataframe({"frame": v.numbers, "share of relevance": exp.curve,
                      "sum": r.reshape(len(r), -1).sum(1), "max": r.reshape(len(r), -1).max(1)},
                     hide_index=True)
