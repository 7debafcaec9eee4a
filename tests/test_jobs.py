"""Long explanations in the background (ui.jobs): progress, sharing between sessions, Cancel.

AppTest runs a page to the end, so it cannot click Cancel while a job runs: the job helper is
tested here on its own, with real explanations, and the page's "Cancelled" state in AppTest.
"""
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from ui import jobs
from xai_core import explain
from xai_core.methods.progress import Cancelled
from xai_core.models.base import ModelInfo, VideoModel
from xai_core.spec import InputSpec
from xai_core.video.sample import clip_from_array

ROOT = Path(__file__).resolve().parents[1]
SPEC = InputSpec(frames=4, height=8, width=8)


class Slow(nn.Module):
    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        time.sleep(self.delay)
        return self.fc(self.conv(x).mean((2, 3, 4)))


def slow_model(delay: float = 0.02) -> VideoModel:
    torch.manual_seed(0)
    return VideoModel(Slow(delay), ModelInfo("slow", ["a", "b"], SPEC, cam_layer="conv")).eval()


def clip():
    return clip_from_array(np.random.default_rng(0).integers(0, 255, (4, 8, 8, 3), dtype=np.uint8), SPEC)


def until(condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_job_reports_progress_per_pass_and_its_result():
    model, c = slow_model(), clip()
    job = jobs.start("test-progress", lambda progress: explain(model, c, "smoothgrad", progress=progress,
                                                                samples=20, batch_size=1), "s1")
    until(lambda: job.fraction > 0)
    assert "of 20 forward passes" in job.message and job.elapsed() > 0
    assert job.wait(30)
    exp = job.result()
    assert exp.relevance.shape == (4, 8, 8) and job.fraction == 1.0
    assert jobs.finished("test-progress") and jobs.running("test-progress") is None


def test_cancel_stops_the_method_at_its_next_pass_and_leaves_the_model_usable():
    model, c = slow_model(0.05), clip()
    job = jobs.start("test-cancel", lambda progress: explain(model, c, "smoothgrad", progress=progress,
                                                              samples=400, batch_size=1), "s1")
    until(lambda: job.fraction > 0)
    started = time.monotonic()
    job.release("s1")                                     # the only watcher leaves: cancelled
    assert job.wait(10) and time.monotonic() - started < 5          # at the next pass, not after 400
    assert isinstance(job.error(), Cancelled) and job.fraction < 0.5
    with pytest.raises(Cancelled):
        job.result()
    assert not jobs.finished("test-cancel") and jobs.running("test-cancel") is None
    assert not any(m._forward_pre_hooks for m in model.modules())                  # hooks removed
    assert model.lock.acquire(timeout=1)                  # the lock was released
    model.lock.release()
    assert explain(model, c, "saliency").relevance.shape == (4, 8, 8)               # still usable


def test_sessions_share_a_job_and_it_runs_on_until_the_last_one_leaves():
    gate = threading.Event()
    runs = []

    def work(progress):
        runs.append(1)
        for i in range(200):
            progress(i / 200, f"step {i}")
            if gate.is_set():
                return "done"
            time.sleep(0.01)
        return "done"

    a = jobs.start("test-shared", work, "a")
    b = jobs.start("test-shared", work, "b")
    assert a is b and a.watchers == {"a", "b"}
    a.release("a")                                        # one leaves: the other still waits
    time.sleep(0.1)
    assert not a.cancelled
    gate.set()
    assert a.wait(10) and a.result() == "done" and len(runs) == 1


def test_a_job_cancelled_before_it_starts_never_runs():
    block, ran = threading.Event(), []
    busy = [jobs.start(f"test-busy-{i}", lambda p: block.wait(10), f"w{i}") for i in range(jobs.workers.WORKERS)]
    queued = jobs.start("test-queued", lambda p: ran.append(1), "q")
    queued.release("q")
    block.set()
    assert queued.wait(10) and isinstance(queued.error(), Cancelled) and not ran
    assert all(j.wait(10) for j in busy)


def test_a_new_request_after_a_cancel_starts_a_fresh_job():
    def work(progress):
        for i in range(500):
            progress(i / 500, "x")
            time.sleep(0.01)

    old = jobs.start("test-again", work, "s")
    until(lambda: old.started is not None)
    old.release("s")
    new = jobs.start("test-again", lambda p: "fresh", "s")
    assert new is not old and new.wait(10) and new.result() == "fresh"


def test_the_explain_page_shows_cancelled_and_runs_again_on_request():
    """The page's state after Cancel (what the button's callback leaves): the message, a button, no result;
    'Run it again' computes it."""
    from ui import cache
    from user_roles import load_roles
    from xai_core import load_model, load_video

    model = load_model("c3d_small")
    video = load_video(str(ROOT / "assets" / "samples" / "synthetic" / "stand_up.mp4"), model.spec)
    key = cache.explanation_key("c3d_small", video.digest, "temporal_occlusion", None, json.dumps({}))
    at = AppTest.from_file(str(ROOT / "views" / "explain.py"), default_timeout=240)
    at.session_state["active_role"] = load_roles()["analyst"]
    at.session_state["clip"] = "synthetic · stand_up"
    at.session_state["method"] = "temporal_occlusion"
    at.session_state["explain-job-cancelled"] = key
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Cancelled" in i.value for i in at.info)
    assert not [m for m in at.metric if m.label == "Prediction"]                    # no result drawn
    at.button(key="explain-job-again").click().run()
    assert not at.exception and not at.error
    assert [m for m in at.metric if m.label == "Prediction"]
    assert not any("Cancelled" in i.value for i in at.info)
