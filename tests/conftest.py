"""Suite-wide guards."""
import os

import pytest


@pytest.fixture(autouse=True)
def scheduling_is_left_as_found():
    """No test may leave the process on another CPU scheduling policy: FFmpeg's SVT-AV1 encoder
    switches its caller to real-time SCHED_FIFO, which every later thread, server and browser the
    suite starts inherits; on 2 cores spinning threads then starve the rest and the suite hangs
    (xai_core.render.video.keep_scheduling)."""
    get = getattr(os, "sched_getscheduler", None)
    before = get(0) if get else None
    yield
    if get and get(0) != before:
        os.sched_setscheduler(0, before, os.sched_param(0))          # the next tests run as before
        pytest.fail(f"this test left the process on scheduling policy {get(0)} (was {before}); "
                    "wrap encoders in xai_core.render.video.keep_scheduling()")
