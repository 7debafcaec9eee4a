"""Live: play a video as a stream of sliding windows, each predicted and explained as it arrives."""
import streamlit as st

from ui import live
from ui.ood import ood_warning_ui
from ui.state import current_role
from ui.widgets import method_ui, model_ui
from xai_core import XaiError, get_method, list_methods
from xai_core.relevance.stream import plan
from xai_core.relevance.summary import summarise

role = current_role()
st.title("Live")

with st.sidebar:
    source = live.source_ui()
    model = model_ui(key="live_model")
    methods = [m for m in list_methods() if role.allows(m) and m.cost == "cheap"]
    method = method_ui(methods, key="live_method", default=role.default_method,
                       measured_on=model.name if model is not None else None) if methods else None
    stride = st.select_slider("Frames between windows", live.STRIDES, value=8, key="live_stride",
                              help="A window of the model's frames is explained every this many source "
                                   "frames: smaller is smoother, larger keeps up more easily.")

if not methods:
    st.warning(f"The {role.title} role has no cheap method to explain a stream with.")
    st.stop()
if source is None or model is None:
    st.stop()
key = (source.path, model.name, method, stride)
try:
    run = live.live_run(key, lambda: live.LiveRun(key, model, method, source,
                                                  plan(source.path, model.spec, stride=stride)))
except XaiError as e:
    st.error(f"This video cannot be streamed: {e}")
    st.stop()
run.overlay = role.overlay              # the role's overlay style, from the next window on

cols = st.columns([1, 1, 1, 5], vertical_alignment="center")
cols[3].caption(f"{source.label} ({live.describe(source.frames, source.fps)}) · {model.name} · "
                f"{get_method(method).label} · a window of {run.plan.length} frames every {stride} frames")
if run.state == "playing":
    cols[0].button("Pause", icon=":material/pause:", on_click=live.pause, key="live_pause", width="stretch")
else:
    cols[0].button("Replay" if run.state == "ended" else "Play", icon=":material/play_arrow:", on_click=live.play,
                   key="live_play", type="primary", width="stretch")
cols[1].button("Step", icon=":material/skip_next:", on_click=live.step, key="live_step", width="stretch",
               disabled=run.state == "ended", help="Explain one more window, then hold")
cols[2].button("Stop", icon=":material/stop:", on_click=live.stop, key="live_stop", width="stretch",
               help="Back to the start of the video; the timeline is cleared")


def caption(r) -> str:
    seconds = f" ({r.start / r.fps:.1f}–{(r.end + 1) / r.fps:.1f} s)" if r.fps else ""
    return f"Window {r.index + 1} · frames {r.start}–{r.end}{seconds} · colour: where its evidence lies"


def readout(run) -> None:
    """Prediction, confidence, the role's sentence, speed (and timings for roles that see internals)."""
    r, tl = run.last, run.timeline
    if r is None:
        st.metric("Prediction", "—")
        st.metric("Confidence", "—")
        st.caption(live.speed_text(tl))
        return
    changed = len(tl) > 1 and tl.predicted[-2] != r.predicted
    st.metric("Prediction", r.label, delta=f"was {tl.labels[-2]}" if changed else None, delta_color="off",
              delta_arrow="off")
    change = round(100 * (r.confidence - tl.confidence[-2])) if len(tl) > 1 else 0
    st.metric("Confidence", f"{r.confidence:.0%}", chart_data=[round(100 * c) for c in tl.confidence[-40:]],
              chart_type="area", delta=f"{change:+d} pts" if change else None)
    ood_warning_ui(r.ood)
    st.info(summarise(r.explanation, r.source_indices, role.summary))
    st.markdown(live.speed_text(tl))
    if role.internals:
        st.caption(live.work_text(run))


@st.fragment(run_every=live.interval(run) if run.state == "playing" else None)
def live_area():
    """The live view: while playing it reruns on its own and shows the next window once a worker
    has it (waiting up to live.WAIT_S, doubled while none comes, up to live.WAIT_MAX_S; meanwhile the view stays)."""
    run = st.session_state["live_run"]
    was = run.state
    run.advance()
    if run.state == "ended" and was != "ended":
        st.rerun()                        # redraw the buttons (Replay) and stop the automatic reruns
    if run.error:
        st.error(f"The stream stopped: {run.error}")
    elif run.state == "ended":
        st.success(f"The video has ended: {len(run.timeline)} windows explained. "
                   "The timeline stays; press Replay to play it again.")
    else:
        st.progress(*live.position_text(run))
    left, right = st.columns([5, 4], gap="large")
    with left:
        if run.image is None:
            try:
                st.image(live.poster(source.path), width="stretch",
                         caption="Press Play to start, or Step for one window.")
            except XaiError as e:
                st.error(f"This video cannot be shown: {e}")
        else:   # the window's new frames play once at the source's pace (the same picture until the next)
            st.image(run.image, width="stretch", caption=caption(run.last))
    with right:
        readout(run)
    figure = run.figure()
    if figure is not None:
        st.plotly_chart(figure, width="stretch", config={"displayModeBar": False}, key="live_timeline")
    else:
        st.caption("The timeline of predictions and relevance fills in as the video plays.")


live_area()
