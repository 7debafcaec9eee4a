"""Drive the real dashboard in headless Chromium (Playwright): shared by the browser test and the benchmark.

    with served_app() as base:
        with browser_page() as page:
            open_role(page, base, "operator")
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("XAI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no healthy Streamlit server at {base} after {timeout:.0f} s")


@contextmanager
def served_app(timeout: float = 90, env: dict | None = None):
    """`streamlit run app.py` on a free localhost port; yields the base URL; stops it after."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(ROOT / "test-artifacts" / "streamlit.log", "w") if (ROOT / "test-artifacts").is_dir() \
        else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        wait_healthy(base, timeout)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        if log is not subprocess.DEVNULL:
            log.close()


@contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_settled(page, timeout_ms: int = 120_000) -> None:
    """Connected and no script running (Streamlit's own e2e signals), then a short quiet spell."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout_ms)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)
    page.wait_for_timeout(400)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)


def choose_role(page, title: str) -> None:
    """Pick a role in the sidebar's Role select box."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text="Role").first
    box.click()
    page.get_by_role("option", name=title, exact=True).click()
    wait_settled(page)


def pick(page, label: str, option: str) -> None:
    """Pick the first option containing `option` in the sidebar's select box labelled `label`."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(
        has=page.get_by_text(label, exact=True)).first
    box.click()
    page.get_by_role("option").filter(has_text=option).first.click()
    wait_settled(page)


def nav_links(page) -> list[str]:
    """The page titles in the sidebar navigation."""
    return [t.strip().splitlines()[-1] for t in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()]


def go_to(page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title).first.click()
    wait_settled(page)


def video_plays(page, timeout_ms: int = 20_000) -> dict:
    """Play the first <video>: its duration, and whether currentTime advances."""
    page.wait_for_function("() => { const v = document.querySelector('video');"
                           " return v && v.readyState >= 1 && v.duration > 0; }", timeout=timeout_ms)
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.2", timeout=timeout_ms)
    return page.evaluate("() => { const v = document.querySelector('video');"
                         " return {duration: v.duration, currentTime: v.currentTime}; }")


SCROLLERS = ("[data-testid='stMain']", "[data-testid='stAppViewContainer']",
             "[data-testid='stSidebarContent']")


def page_height(page) -> int:
    """The height in CSS pixels the whole page needs: the tallest of Streamlit's scrolling
    containers (the main area scrolls inside stMain, the sidebar inside its own box)."""
    return int(page.evaluate("""(selectors) => {
        let h = document.documentElement.scrollHeight;
        for (const s of selectors) {
            for (const el of document.querySelectorAll(s)) {
                const top = el.getBoundingClientRect().top + window.scrollY;
                h = Math.max(h, top + el.scrollHeight);
            }
        }
        return Math.ceil(h);
    }""", list(SCROLLERS)))


def full_page_screenshot(page, path, max_height: int = 16_000) -> tuple[int, int]:
    """A screenshot of the whole page, not only the first screen: Streamlit scrolls an inner
    container, so Playwright's full_page sees one viewport. The viewport is grown to the content's
    height (measured again after the re-layout), shot, and restored. Returns the (width, height)."""
    before = page.viewport_size
    width = before["width"]
    height = before["height"]
    for _ in range(4):                               # growing can re-flow the page: until stable
        need = min(max(page_height(page), before["height"]), max_height)
        if need == height:
            break
        height = need
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(before)
    return width, height


def cut_labels(page) -> list[str]:
    """Texts the page shows cut off with an ellipsis ("Overlay video (We…"): every visible element
    styled text-overflow: ellipsis whose text is wider than its box."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stApp"] *')]
        .filter(el => el.offsetParent !== null && getComputedStyle(el).textOverflow === 'ellipsis'
                && el.scrollWidth > el.clientWidth + 1 && el.textContent.trim())
        .map(el => el.textContent.trim())""")


def first_explained(page, base: str, timeout_ms: int = 180_000) -> float:
    """Seconds from opening the dashboard to the first explained clip (the tube image) on screen."""
    t0 = time.perf_counter()
    page.goto(base)
    page.get_by_text("Staggered-frame tube").first.wait_for(state="visible", timeout=timeout_ms)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- many sessions at once
# (tests/test_concurrency.py, tests/test_live_page.py and benchmarks/bench_live.py)

@contextmanager
def browser_sessions(n: int, width: int = 1400, height: int = 1000):
    """`n` browser sessions at once: one Chromium, `n` contexts (own cookies, so own Streamlit
    sessions); yields their pages. Each page counts the script runs it receives (`script_runs`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(n):
                page = browser.new_context(viewport={"width": width, "height": height}).new_page()
                count_script_runs(page)
                pages.append(page)
            yield pages
        finally:
            browser.close()


def count_script_runs(page) -> list[float]:
    """Record, on `page.script_runs`, the time (time.time()) of every script run the server
    reports finished to this page (a full run or a fragment rerun), read from its websocket."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    page.script_runs = []

    def frame(payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = ForwardMsg()
            try:
                msg.ParseFromString(bytes(payload))
            except Exception:                      # not a ForwardMsg (none expected): not a run
                return
            if msg.WhichOneof("type") == "script_finished":
                page.script_runs.append(time.time())

    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    return page.script_runs


def errors_on(page) -> list[str]:
    """The exception boxes a page shows (Streamlit's stException), and any 'Traceback' text."""
    boxes = page.locator("[data-testid='stException']").all_inner_texts()
    traces = [t for t in page.locator("body").all_inner_texts() if "Traceback" in t]
    return boxes + traces


class HealthProbe:
    """Polls /_stcore/health every `every` seconds in a thread; `latencies` holds the seconds each
    answer took, None where none came within `timeout`."""

    def __init__(self, base: str, every: float = 0.5, timeout: float = 2.0):
        import threading

        self.base, self.every, self.timeout = base, every, timeout
        self.latencies: list[float | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=self.timeout) as r:
                    ok = r.read().strip() == b"ok"
                self.latencies.append(time.perf_counter() - t0 if ok else None)
            except OSError:
                self.latencies.append(None)
            self._stop.wait(max(0.0, self.every - (time.perf_counter() - t0)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.timeout + 1)

    @property
    def failures(self) -> int:
        return sum(v is None or v >= self.timeout for v in self.latencies)


def open_live(page, base: str, role: str = "Operator", stride_key: str | None = None) -> None:
    """Open the dashboard, pick `role` (whose first page is Live) and, if given, press a key on the
    'Frames between windows' slider ("End": the largest stride)."""
    page.goto(base)
    wait_settled(page)
    choose_role(page, role)
    if "Live" not in [t.strip() for t in page.locator("h1").all_inner_texts()]:
        go_to(page, "Live")
    if stride_key:
        page.locator("[data-testid='stSidebar'] [data-testid='stSlider'] input[type='range']").first.press(stride_key)
        wait_settled(page)


def press_play(page) -> float:
    """Click Live's Play button; the time.time() just before the click."""
    button = page.get_by_role("button", name="Play", exact=True)
    t0 = time.time()
    button.click()
    return t0


def live_ended(page) -> bool:
    return page.get_by_text("The video has ended").count() > 0


def live_speed(page) -> float:
    """The frame rate Live shows ('**12.3 fps** on screen'), in frames per second."""
    import re

    text = " ".join(page.locator("[data-testid='stMarkdown']").all_inner_texts())
    found = re.search(r"([0-9.]+) fps on screen", text)
    if not found:
        raise AssertionError(f"no 'fps on screen' on the page: {text[:300]!r}")
    return float(found.group(1))
