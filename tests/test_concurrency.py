"""Many users at once: the dashboard is one server process shared by every browser session.

- Eight sessions opening a fresh server together see no traceback (they used to race to import
  pandas/plotly and got a half-imported module), on five fresh servers.
- What belongs to a session never comes from a cache: the same bytes uploaded under two names
  are decoded and explained once, and each session's exports name its own file.
- Eight Live sessions playing together: the server answers its health check within 2 s
  throughout, every video plays to the end, and a page reruns only when it has something to
  show (bounded reruns while waiting, none after the end).

The browser tests need Debian's chromium and playwright (like tests/test_browser.py).
"""
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from xai_core.models.registry import bundled

from .e2e import (HealthProbe, browser_sessions, chromium_available, choose_role, errors_on, go_to, live_ended,
                  open_live, press_play, served_app, wait_settled)

needs_weights = pytest.mark.skipif(not bundled("c3d_small").weights.exists(), reason="no trained weights for c3d_small")
needs_browser = pytest.mark.skipif(not chromium_available(), reason="no chromium at /usr/bin/chromium")


def synthetic_video(path: Path, frames: int = 24) -> bytes:
    """A small MJPG AVI of a bright square moving right (OpenCV writes it); its bytes."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for t in range(frames):
        frame = np.full((48, 64, 3), 40, np.uint8)
        frame[16:32, 2 * t:2 * t + 16] = (230, 200, 60)
        writer.write(frame)
    writer.release()
    return path.read_bytes()


# ---------------------------------------------------------------- names never come from a cache

@needs_weights
def test_same_bytes_under_two_names_share_the_work_and_keep_their_names(tmp_path):
    from ui import cache
    from xai_core import load_model, render
    from xai_core.relevance import export

    data = synthetic_video(tmp_path / "clip.avi")
    model = load_model("c3d_small")
    spec = json.dumps(model.spec.to_dict(), sort_keys=True)
    clips = {name: cache.get_upload_clip(data, name, spec) for name in ("alpha.avi", "beta.avi")}
    assert clips["alpha.avi"].digest == clips["beta.avi"].digest          # one content, one cache entry
    exps = {name: cache.get_explanation(model.name, clip.digest, "grad_cam", None, "{}", _model=model, _clip=clip)
            for name, clip in clips.items()}
    assert exps["alpha.avi"].timings_ms == exps["beta.avi"].timings_ms    # explained once: the second is a hit
    for name, other in (("alpha.avi", "beta.avi"), ("beta.avi", "alpha.avi")):
        exp = exps[name]
        assert exp.clip is clips[name] and exp.clip.source == name
        exported = json.loads(export.to_json(exp))
        assert exported["input"]["source"] == name
        report = render.html_report([exp])
        assert name in report and other not in report
    clips["alpha.avi"].source = "renamed.avi"                          # a session changing its copy ...
    again = cache.get_upload_clip(data, "beta.avi", spec)
    assert again.source == "beta.avi" and "renamed" not in json.dumps(again.notes)   # ... changes no other's


@needs_weights
@needs_browser
def test_two_sessions_uploading_the_same_bytes_export_their_own_names(tmp_path):
    data = synthetic_video(tmp_path / "clip.avi")
    with served_app() as base, browser_sessions(2) as pages:
        for page, name in zip(pages, ("first_upload.avi", "second_upload.avi")):
            page.goto(base)
            wait_settled(page)
            choose_role(page, "Developer")                           # Explain first, a cheap default method
            page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text="Clip").first.click()
            page.get_by_role("option", name="Upload a video…").click()
            wait_settled(page)
            page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
                {"name": name, "mimeType": "video/x-msvideo", "buffer": data})
            page.get_by_role("button", name="Report (HTML)").wait_for(timeout=180_000)
            wait_settled(page)
        for page, name, other in ((pages[1], "second_upload.avi", "first_upload.avi"),
                                  (pages[0], "first_upload.avi", "second_upload.avi")):
            assert not errors_on(page)
            with page.expect_download(timeout=60_000) as download:
                page.get_by_role("button", name="Relevance (JSON)").click()
            exported = json.loads(Path(download.value.path()).read_text())
            assert exported["input"]["source"] == name
            with page.expect_download(timeout=60_000) as download:
                page.get_by_role("button", name="Report (HTML)").click()
            report = Path(download.value.path()).read_text(encoding="utf-8")
            assert name in report and other not in report


# ---------------------------------------------------------------- first loads at once

PAGES_AFTER_STARTUP = """
import json, sys
from streamlit.testing.v1 import AppTest
import ui.startup
from user_roles import load_roles
before = set(sys.modules)
for name, role in load_roles().items():
    for page in role.pages:
        at = AppTest.from_file(sys.argv[1], default_timeout=600)
        at.session_state["role"] = name
        at.run()
        at.switch_page(f"views/{page}.py").run()
        if page == "live":
            next(b for b in at.button if b.label == "Step").click().run()
        assert not at.exception, [e.value for e in at.exception]
new = sorted(m for m in set(sys.modules) - before if m.split(".")[0] not in sys.stdlib_module_names)
print(json.dumps(new))
"""


@needs_weights
def test_no_page_imports_anything_after_startup():
    """Every page in every role (a Live window included) imports nothing that ui.startup has not:
    so no two sessions can ever import a package at the same time (the race behind the traceback).
    A fresh interpreter, so that the test sees what a fresh server sees."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", PAGES_AFTER_STARTUP, str(root / "app.py")], cwd=root,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    new = json.loads(done.stdout.strip().splitlines()[-1])
    assert new == [], f"import these in ui/startup.py: {new}"


SERVERS, SESSIONS = 5, 8
FIRST_PAGES = ["", "compare", "live", "", "compare", "live", "", "compare"]   # the default role: Analyst


@needs_weights
@needs_browser
def test_eight_first_loads_at_once_show_no_error_on_five_fresh_servers():
    found = {}
    for server in range(SERVERS):
        with served_app() as base, browser_sessions(SESSIONS) as pages:
            for page, path in zip(pages, FIRST_PAGES):                  # all eight first scripts at once
                page.goto(f"{base}/{path}", wait_until="commit")
            for page, path in zip(pages, FIRST_PAGES):
                wait_settled(page, timeout_ms=300_000)
                page.locator("h1").first.wait_for(timeout=300_000)
                errors = errors_on(page)
                if errors:
                    found[f"server {server}, /{path}"] = errors[0][:300]
    assert not found, found


# ---------------------------------------------------------------- eight Live sessions playing

LIVE_SESSIONS = 8
LIVE_LIMIT_S = 600           # against hangs only: each session's video must end within this


@needs_weights
@needs_browser
def test_eight_live_sessions_play_to_the_end_while_the_server_answers():
    from ui.live import WAIT_S
    from xai_core import load_model
    from xai_core.relevance.stream import plan

    samples = Path(__file__).resolve().parents[1] / "assets" / "samples"
    windows = plan(samples / "torchcodec_nasa_13013.mp4", load_model("c3d_small").spec, stride=32).windows
    with served_app() as base, browser_sessions(LIVE_SESSIONS, height=1100) as pages:
        for page in pages:
            open_live(page, base, stride_key="End")                    # the largest stride: 32 frames
        with HealthProbe(base) as health:
            started = [press_play(page) for page in pages]
            ended = [None] * len(pages)
            deadline = time.time() + LIVE_LIMIT_S
            while None in ended and time.time() < deadline:
                for i, page in enumerate(pages):
                    if ended[i] is None and live_ended(page):
                        ended[i] = time.time()
                pages[0].wait_for_timeout(250)
            quiet_from = time.time() + 3                              # the final full rerun may still finish
            pages[0].wait_for_timeout(11_000)                        # then nothing may rerun
        assert None not in ended, f"{ended.count(None)} of {len(pages)} sessions did not finish"
        for page in pages:
            assert not errors_on(page)
            assert page.get_by_text(f"{windows} windows explained").count() == 1
        played = [e - s for s, e in zip(started, ended)]
        during = [sum(s <= t <= e for t in page.script_runs) for page, s, e in zip(pages, started, ended)]
        after = [sum(t > quiet_from for t in page.script_runs) for page in pages]
    answered = [v for v in health.latencies if v is not None]
    assert health.latencies and health.failures == 0, (health.failures, len(health.latencies), max(answered))
    # A run of the live view shows a new window or waits WAIT_S for it: runs while playing are at most
    # the windows plus one per WAIT_S of waiting (plus the clicks' full reruns).
    for runs, seconds in zip(during, played):
        assert runs <= windows + seconds / WAIT_S + 5, (runs, windows, seconds)
    assert max(after) == 0, after
    print(f"played {statistics.median(played):.1f} s median, {max(played):.1f} s max; "
          f"health max {max(answered):.2f} s; runs while playing {during}")
