"""Live under load: several browser sessions playing at once against one server, in headless Chromium.

    python benchmarks/bench_live.py [--sessions 8] [--stride 32]

Starts `streamlit run app.py`, opens N sessions (one Chromium, N contexts) on the Live page as
Operator, sets the stride, and presses Play on all of them. Measures, on the benchmark's clock:
the time each session takes to play the 325-frame sample to its end; /_stcore/health polled
every 0.5 s throughout (latency; no answer within 2 s is a failure); the script runs each page
receives (read from its websocket) while playing and in the 10 s after the end. Then one session
alone at the default stride: the fps the page shows against frames / seconds on the clock. And
the work of one window (decode, explain, draw) on one worker thread, in-process. Writes the
"Live" section of docs/benchmarks.md.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402
from tests.e2e import (HealthProbe, browser_sessions, live_ended, live_speed, open_live, press_play,  # noqa: E402
                       served_app)

CLIP = ROOT / "assets" / "samples" / "torchcodec_nasa_13013.mp4"
KEYS = {32: "End", 8: None}          # the stride slider: "End" is its largest value (32), 8 its default


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of processes (Linux /proc); 0 for those gone."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def descendants(pid: int) -> set[int]:
    """A process and all its descendants (Linux ps)."""
    rows = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    children: dict[int, list[int]] = {}
    for child, parent in zip(rows[::2], rows[1::2]):
        children.setdefault(int(parent), []).append(int(child))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo += children.get(p, [])
    return found


def play_together(base: str, n: int, stride: int, limit: float) -> dict:
    """N sessions press Play together; time to the end, health, script runs, CPU of server and browser."""
    port = base.rsplit(":", 1)[1]
    server = descendants(int(subprocess.run(["pgrep", "-f", f"server.port {port}"], capture_output=True,
                                            text=True).stdout.split()[0]))
    with browser_sessions(n, height=1100) as pages:
        for page in pages:
            open_live(page, base, stride_key=KEYS[stride])
        browser = descendants(os.getpid()) - server - {os.getpid()}
        cpu0 = cpu_seconds(server), cpu_seconds(browser)
        with HealthProbe(base) as health:
            started = [press_play(page) for page in pages]
            ended = [None] * n
            while None in ended and time.time() - started[0] < limit:
                for i, page in enumerate(pages):
                    if ended[i] is None and live_ended(page):
                        ended[i] = time.time()
                pages[0].wait_for_timeout(250)
            cpu1 = cpu_seconds(server), cpu_seconds(browser)
            quiet_from = time.time() + 3
            pages[0].wait_for_timeout(13_000)
        done = [e is not None for e in ended]
        ended = [e or time.time() for e in ended]
        shown = []
        for page in pages:
            try:
                shown.append(live_speed(page))
            except AssertionError:               # a page that shows no fps on screen
                shown.append(float("nan"))
        runs = [sum(s <= t <= e for t in page.script_runs) for page, s, e in zip(pages, started, ended)]
        after = [sum(t > quiet_from for t in page.script_runs) for page in pages]
    answered = [v for v in health.latencies if v is not None]
    return dict(cpu_server=cpu1[0] - cpu0[0], cpu_browser=cpu1[1] - cpu0[1],
                played=[e - s for s, e in zip(started, ended)], done=done, shown=shown, runs=runs, after=after,
                checks=len(health.latencies), failures=health.failures, latency_max=max(answered, default=float("nan")),
                latency_p95=float(np.percentile(answered, 95)) if answered else float("nan"))


def alone(base: str, frames: int) -> dict:
    """One session at the default stride: the fps on screen against the clock."""
    with browser_sessions(1, height=1100) as (page,):
        open_live(page, base)
        t0 = press_play(page)
        page.get_by_text("The video has ended").wait_for(timeout=600_000)
        seconds = time.time() - t0
        return dict(seconds=seconds, clock_fps=frames / seconds, shown=live_speed(page))


def window_work(stride: int) -> dict:
    """Mean ms per window on one worker thread (1 torch thread): decode, explain, draw."""
    import torch

    from ui.live import DISPLAY_SIZE, compute_next
    from xai_core import load_model
    from xai_core.relevance.stream import stream

    torch.set_num_threads(1)
    windows, prev, rows = stream(load_model("c3d_small"), CLIP, "grad_cam", stride=stride,
                                 display_size=DISPLAY_SIZE), None, []
    while (shown := compute_next(windows, prev, "light")) is not None:
        prev = shown.result.end
        rows.append(shown.result.timings_ms)
    return {k: statistics.mean(r[k] for r in rows) for k in ("decode", "explain", "draw")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--stride", type=int, default=32, choices=sorted(KEYS))
    ap.add_argument("--limit", type=float, default=900, help="seconds before a session counts as not finished")
    a = ap.parse_args()
    from xai_core.video import probe
    from ui import workers

    frames = probe(CLIP).frame_count
    with served_app() as base:
        many = play_together(base, a.sessions, a.stride, a.limit)
        one = alone(base, frames)
    work = window_work(8)
    played = many["played"]
    body = "\n".join([
        "## Live with many sessions", "",
        f"`python benchmarks/bench_live.py --sessions {a.sessions} --stride {a.stride}` on {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, {workers.cores()} cores shared with headless Chromium "
        f"(all {a.sessions} pages) and with other work on the machine. The server computes every session's windows on "
        f"{workers.WORKERS} worker thread(s) × {workers.TORCH_THREADS} torch thread(s) (`ui/workers.py`). "
        f"{a.sessions} sessions press Play together on the {frames}-frame sample ({frames / 25:.0f} s at 25 fps), "
        f"c3d_small, Grad-CAM, a window every {a.stride} frames.", "",
        "| | value |", "|---|---:|",
        f"| sessions that played to the end | {sum(many['done'])} of {a.sessions} |",
        f"| time to play, median / max | {statistics.median(played):.1f} s / {max(played):.1f} s |",
        f"| fps on screen, median (frames / time to play: {frames / statistics.median(played):.1f}) | "
        f"{statistics.median(many['shown']):.1f} |",
        f"| health checks (every 0.5 s) answered within 2 s | {many['checks'] - many['failures']} of {many['checks']} |",
        f"| health-check latency, p95 / max | {many['latency_p95']:.2f} s / {many['latency_max']:.2f} s |",
        f"| script runs per page while playing, median / max | {statistics.median(many['runs']):.0f} / "
        f"{max(many['runs'])} |",
        f"| script runs per page in the 10 s after the end, max | {max(many['after'])} |",
        f"| CPU while playing: server / Chromium | {many['cpu_server']:.0f} s / {many['cpu_browser']:.0f} s |", "",
        f"One session alone, a window every 8 frames: {one['seconds']:.1f} s to play, "
        f"{one['clock_fps']:.1f} fps on the benchmark's clock, {one['shown']:.1f} fps on screen. "
        f"Work per window on one thread: decode {work['decode']:.0f} ms, explain {work['explain']:.0f} ms, "
        f"draw {work['draw']:.0f} ms (overlay and an animated WebP of up to 8 frames; the GIF it replaced took "
        "~180–250 ms).", ""])
    print(body)
    write_section(ROOT / "docs" / "benchmarks.md", body, key="live")


if __name__ == "__main__":
    main()
