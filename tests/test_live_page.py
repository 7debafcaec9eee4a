"""The Live page (AppTest): renders for the roles that list it; Play, each rerun of the live area,
Step, Pause and Stop move the stream as they say; the end keeps the timeline; a bad upload is an
error that leaves the page usable; a pause stops the clock. In the browser: the fps on screen
agrees with the test's clock, and /live under a role without it names the roles that have it.

AppTest does not honour a fragment's run_every (the browser sends those reruns), so each
`at.run()` here stands in for one automatic rerun of the live area: it must show exactly one
new window while playing, and none while paused. Windows are computed by the shared workers;
a run waits up to `live.WAIT_S` for its window, which these tests raise (as if every timer tick
found its window ready) except where they test the wait itself.
"""
import glob
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ui import live
from user_roles import load_roles
from xai_core import list_methods
from xai_core.models.registry import bundled
from xai_core.video import probe

from .e2e import (browser_sessions, choose_role, chromium_available, live_speed, nav_links, open_live, press_play,
                  served_app, wait_settled)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SAMPLES = Path(APP).parent / "assets" / "samples"
NASA = "real · torchcodec_nasa_13013"
SHORT = "synthetic · jump"          # 16 frames: a single window
UPLOAD = "Upload a video…"

pytestmark = pytest.mark.skipif(not bundled("c3d_small").weights.exists(),
                                reason="no trained weights for c3d_small")


@pytest.fixture(autouse=True)
def patient_live_view(monkeypatch):
    monkeypatch.setattr(live, "WAIT_S", 120.0)
    monkeypatch.setattr(live, "WAIT_MAX_S", 120.0)


def live_page(role: str, source: str | None = None, stride: int | None = None) -> AppTest:
    """The Live page as `role` sees it (the role is picked before the first run)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["role"] = role
    if source:
        at.session_state["live_source"] = source
    if stride:
        at.session_state["live_stride"] = stride
    at.run()
    at.switch_page("views/live.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_of(at):
    return at.session_state["live_run"]


def windows(at) -> int:
    return len(run_of(at).timeline)


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.mark.parametrize("role", ["operator", "developer"])
def test_page_renders_and_offers_only_cheap_methods(role):
    at = live_page(role)
    assert at.title[0].value == "Live"
    assert {b.label for b in at.button} == {"Play", "Step", "Stop"}
    assert at.selectbox(key="live_source").value == NASA           # the longest video by default
    methods = at.selectbox(key="live_method").options
    costs = {m.label: m.cost for m in list_methods()}                 # the picker shows labels
    assert methods and all(costs[m] == "cheap" for m in methods)
    assert [m.label for m in at.metric] == ["Prediction", "Confidence"]
    assert windows(at) == 0 and run_of(at).state == "ready"


@pytest.mark.parametrize("role", ["operator", "developer"])
def test_play_processes_one_window_per_rerun_until_paused(role):
    at = live_page(role)
    button(at, "Play").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert run_of(at).state == "playing" and windows(at) == 1
    for n in (2, 3):                                                  # one automatic rerun each
        at.run()
        assert windows(at) == n
    run = run_of(at)
    assert (run.last.start, run.last.end) == (16, 31)                 # stride 8, windows of 16
    assert [m.value for m in at.metric][0] == run.last.label
    assert at.metric[1].value == f"{run.last.confidence:.0%}"
    assert at.get("progress")[0].proto.text.startswith("frame 32 of 325")
    assert any("fps** on screen" in m.value and "real time" in m.value for m in at.markdown)
    assert len(at.info) == 1 and run.last.label in at.info[0].value   # the role's sentence
    timings = [c.value for c in at.caption if "decode" in c.value]
    assert len(timings) == (1 if role == "developer" else 0)        # internals for developers only
    assert len(at.get("plotly_chart")) == 1

    button(at, "Pause").click().run()
    at.run()
    assert run_of(at).state == "paused" and windows(at) == 3          # paused: no new windows
    button(at, "Step").click().run()
    assert windows(at) == 4 and run_of(at).state == "paused"
    at.run()
    assert windows(at) == 4
    button(at, "Stop").click().run()
    assert windows(at) == 0 and run_of(at).state == "ready" and run_of(at).last is None


def test_the_end_keeps_the_timeline_and_says_so():
    at = live_page("operator", source=SHORT)
    button(at, "Play").click().run()
    assert windows(at) == 1
    at.run()                                                          # no window left: the end
    assert not at.exception, [e.value for e in at.exception]
    assert run_of(at).state == "ended" and windows(at) == 1
    assert any("has ended" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 1                           # the timeline stays
    assert {b.label for b in at.button} == {"Replay", "Step", "Stop"}
    button(at, "Replay").click().run()
    assert run_of(at).state == "playing" and windows(at) == 1         # from the start again


def test_changing_the_stride_starts_a_new_stream():
    at = live_page("operator", stride=16)
    button(at, "Step").click().run()
    button(at, "Step").click().run()
    assert [run_of(at).timeline.starts] == [[0, 16]]
    at.select_slider(key="live_stride").set_value(4).run()
    assert windows(at) == 0 and run_of(at).plan.stride == 4


def _uploads() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "live-upload-*")))


def test_a_bad_upload_is_an_error_and_the_page_stays_usable():
    before = _uploads()
    at = live_page("operator")
    at.selectbox(key="live_source").set_value(UPLOAD).run()
    assert any("Choose a video file" in i.value for i in at.info)
    at.file_uploader(key="live_source_upload").set_value(("broken.mp4", b"this is not a video", "video/mp4")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "cannot be used" in at.error[0].value and "broken.mp4" in at.error[0].value
    assert _uploads() == before                                       # the temporary copy is gone
    at.selectbox(key="live_source").set_value(SHORT).run()
    button(at, "Step").click().run()
    assert not at.error and windows(at) == 1


def test_an_upload_streams_from_a_temporary_file_removed_afterwards(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (48, 32))
    for i in range(24):
        writer.write(np.full((32, 48, 3), 10 * i, np.uint8))
    writer.release()
    before = _uploads()
    at = live_page("operator", stride=8)
    at.selectbox(key="live_source").set_value(UPLOAD).run()
    at.file_uploader(key="live_source_upload").set_value(("clip.avi", path.read_bytes(), "video/x-msvideo")).run()
    button(at, "Step").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert windows(at) == 1 and run_of(at).source.label == "upload · clip.avi"
    assert len(_uploads() - before) == 1                              # held while it streams
    at.selectbox(key="live_source").set_value(SHORT).run()
    assert _uploads() == before                                       # and removed when it is dropped


def test_a_video_that_breaks_mid_stream_stops_with_an_error(tmp_path):
    av = pytest.importorskip("av")
    full = tmp_path / "full.mp4"                     # index first, so the cut file opens and lists 60 frames
    with av.open(str(full), "w", container_options={"movflags": "faststart"}) as container:
        out = container.add_stream("mpeg4", rate=10)
        out.height, out.width, out.pix_fmt = 48, 64, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(60):
            container.mux(out.encode(av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), format="rgb24")))
        container.mux(out.encode())
    cut = full.read_bytes()[: full.stat().st_size // 3]
    at = live_page("operator", stride=8)
    at.selectbox(key="live_source").set_value(UPLOAD).run()
    at.file_uploader(key="live_source_upload").set_value(("cut.mp4", cut, "video/mp4")).run()
    assert not at.error                                                # it opens: the damage is further on
    button(at, "Play").click().run()
    for _ in range(10):
        if run_of(at).state == "ended":
            break
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert run_of(at).state == "ended" and "truncated" in run_of(at).error
    assert len(at.error) == 1 and at.error[0].value.startswith("The stream stopped: upload · cut.mp4")
    assert {b.label for b in at.button} == {"Replay", "Step", "Stop"}  # and the page goes on


def test_pause_stops_the_clock_and_stepping_counts_its_own_wait():
    at = live_page("operator", stride=16)
    button(at, "Play").click().run()
    at.run()
    button(at, "Pause").click().run()
    tl = run_of(at).timeline
    before, work_before = tl.elapsed_s, tl.wall_s
    time.sleep(2.0)                                                   # paused: this time does not count
    t0 = time.perf_counter()
    button(at, "Step").click().run()
    stepped = time.perf_counter() - t0
    tl = run_of(at).timeline
    # The step counts from its click to its window, or the window's work if it was computed during the pause,
    # plus the time its picture takes to play.
    grown, work = tl.elapsed_s - before, tl.wall_s - work_before
    assert len(tl) == 3 and grown <= max(stepped, work) + run_of(at).view.seconds + 1e-6
    assert grown < 2.0 + stepped
    assert tl.shown_fps == pytest.approx(tl.frames_advanced / tl.elapsed_s)


def test_a_run_that_finds_no_window_ready_keeps_the_view_and_shows_it_next_time(monkeypatch):
    at = live_page("operator", stride=16)
    button(at, "Play").click().run()
    assert windows(at) == 1
    gate = __import__("threading").Event()
    real = live.compute_next
    monkeypatch.setattr(live, "compute_next", lambda *a: gate.wait(60) and real(*a))
    monkeypatch.setattr(live, "WAIT_S", 0.2)
    run = run_of(at)
    run._pending.result(timeout=60)                                   # the window computed ahead is shown ...
    at.run()
    assert windows(at) == 2
    at.run()                                                          # ... the next is held back: nothing new
    assert not at.exception and windows(at) == 2 and at.metric[0].value == run.last.label
    assert run._misses == 1                                           # the next run waits twice as long
    gate.set()
    run._pending.result(timeout=60)
    at.run()
    assert windows(at) == 3 and run._misses == 0


# ---------------------------------------------------------------- in the browser

@pytest.fixture(scope="module")
def server():
    pytest.importorskip("playwright")
    if not chromium_available():
        pytest.skip("no chromium at /usr/bin/chromium")
    with served_app() as base:
        yield base


def test_the_fps_on_screen_is_frames_per_wall_clock_second(server):
    """Play the 325-frame clip to the end: the page's fps agrees with frames / seconds on the test's clock."""
    frames = probe(SAMPLES / "torchcodec_nasa_13013.mp4").frame_count    # windows cover them all (to the end)
    with browser_sessions(1, height=1100) as (page,):
        open_live(page, server)
        t0 = press_play(page)
        page.get_by_text("The video has ended").wait_for(timeout=600_000)
        seconds = time.time() - t0
        shown = live_speed(page)
        page.screenshot(path=str(artifacts() / "live-ended.png"))
    assert shown == pytest.approx(frames / seconds, rel=0.10), (shown, frames, seconds)


def test_a_page_the_role_lacks_names_the_roles_that_have_it(server):
    having = ", ".join(r.title for r in load_roles().values() if "live" in r.pages)
    with browser_sessions(1) as (page,):
        page.goto(f"{server}/live")                                   # a new session: the default role, Analyst
        wait_settled(page)
        warning = page.locator("[data-testid='stAlertContentWarning']").first.inner_text()
        assert "Live is not a page of the Analyst role" in warning and f"Roles with it: {having}." in warning
        assert nav_links(page) == ["Explain", "Compare", "Evaluate"]  # still hidden from the page list
        page.screenshot(path=str(artifacts() / "analyst-live-address.png"))
        choose_role(page, "Operator")                                 # a role with it: the page itself
        assert page.get_by_role("heading", name="Live").is_visible()
        assert page.get_by_role("button", name="Play", exact=True).is_visible()


def artifacts() -> Path:
    folder = Path(APP).parent / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
