#!/usr/bin/env python3
"""Whole-page screenshots of the dashboard: every page of every role, into one folder.

    python scripts/snap.py                                  # all roles and pages -> test-artifacts/snaps/
    python scripts/snap.py --role analyst --page compare    # one page of one role
    python scripts/snap.py --url http://127.0.0.1:8501      # a dashboard already running
    python scripts/snap.py --play 8                         # on Live: press Play, shoot after 8 s
    python scripts/snap.py --role analyst --page explain --clip intel_asl_thanks --method Grad-CAM --name i3d
                                                            # pick a clip (and method) first: analyst-explain-i3d.png
    python scripts/snap.py --role developer --page explain --clip stand_up --model two_stream --name two-stream   # and a model
    python scripts/snap.py --role analyst --page compare --clip stand_up --toggle "training clips" --name influence
                                                            # a switch turned on first

Streamlit scrolls an inner container, so a plain full-page screenshot shows only the first
screen; this grows the browser to the page's height first (tests/e2e.py full_page_screenshot).
Needs the playwright package and Debian's chromium (scripts/test installs both). Prints one
line per PNG written (and any label shown cut off with an ellipsis): open them and look.
"""
from __future__ import annotations

import argparse
import re
import sys
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import (browser_page, choose_role, cut_labels, full_page_screenshot, go_to,  # noqa: E402
                       pick, served_app, wait_settled)
from user_roles import load_roles  # noqa: E402

TITLES = {"explain": "Explain", "compare": "Compare", "live": "Live", "model": "Model", "evaluate": "Evaluate"}
MODEL_TABS = ["3D kernels", "Class-maximising clips", "Layer activations"]
MAKE = re.compile(r"^Make the ")
MEASURE = re.compile(r"^Measure ")        # the Evaluate page's live curves


def settle_page(page, name: str, play: float) -> None:
    """Wait until what the page computes is on screen (and on Live, optionally let it play)."""
    wait_settled(page)
    if name == "live" and play > 0:
        page.get_by_role("button", name="Play", exact=True).click()
        page.wait_for_timeout(int(play * 1000))
        pause = page.get_by_role("button", name="Pause", exact=True)
        if pause.count():
            pause.click()
        wait_settled(page)
    page.wait_for_timeout(800)                    # images and charts finish drawing


def snap(base: str, out: Path, roles: dict, pages: set[str] | None, width: int, play: float,
         clip: str | None = None, method: str | None = None, name: str = "", model: str | None = None,
         toggles: list[str] | None = None) -> list[Path]:
    """Shoot each role's pages (those in `pages`, or all); returns the PNGs written. `clip` and
    `method`: picked first in the sidebar's Clip and Method boxes (the first option containing the
    text) where the page has them; `toggles`: switches (label text) turned on before the shot
    where the page has them; `name` is added to the file names."""
    written = []
    with browser_page(width=width, height=1000) as page:
        for role_name, role in roles.items():
            page.goto(base)
            wait_settled(page)
            choose_role(page, role.title)
            for p in role.pages:
                if pages and p not in pages:
                    continue
                go_to(page, TITLES[p])
                if clip and p in ("explain", "compare"):
                    pick(page, "Clip", clip)
                if model and p == "explain":
                    pick(page, "Model", model)
                if method and p == "explain":
                    pick(page, "Method", method)
                settle_page(page, p, play)
                for text in toggles or []:
                    switch = page.locator('[data-testid="stCheckbox"], [data-testid="stToggle"]').filter(
                        has_text=re.compile(re.escape(text)))
                    if switch.count():
                        switch.first.locator("label").first.click()
                        wait_settled(page)
                        page.wait_for_timeout(800)
                if p == "evaluate":                         # the curves, measured live (a few seconds)
                    page.get_by_role("button", name=MEASURE).click()
                    wait_settled(page)
                    page.wait_for_timeout(800)
                for tab in MODEL_TABS if p == "model" else [None]:
                    if tab is not None:                     # the Model page: one shot per tab
                        page.get_by_role("tab", name=tab).click()
                        if tab == "Class-maximising clips":
                            page.get_by_role("button", name=MAKE).click()
                        wait_settled(page)
                        page.wait_for_timeout(800)
                    suffix = "" if tab is None else "-" + tab.split()[-1].lower()
                    path = out / f"{role_name}-{p}{suffix}{'-' + name if name else ''}.png"
                    w, h = full_page_screenshot(page, path)
                    cut = cut_labels(page)
                    print(f"{path}  ({w} x {h})" + (f"  cut off: {cut}" if cut else ""), flush=True)
                    written.append(path)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "test-artifacts" / "snaps"), help="folder for the PNGs")
    ap.add_argument("--role", action="append", help="only these roles (repeatable; default: all)")
    ap.add_argument("--page", action="append", choices=sorted(TITLES), help="only these pages (repeatable)")
    ap.add_argument("--url", help="a dashboard already running (default: start one)")
    ap.add_argument("--width", type=int, default=1400, help="browser width in CSS pixels")
    ap.add_argument("--play", type=float, default=6.0, help="seconds Live plays before its shot (0: none)")
    ap.add_argument("--clip", help="pick the first clip whose label contains this text (Explain, Compare)")
    ap.add_argument("--method", help="pick the first method whose label contains this text (Explain)")
    ap.add_argument("--model", help="pick the first model whose label contains this text (Explain)")
    ap.add_argument("--toggle", action="append", help="turn on the switch whose label contains this text "
                    "before the shot (repeatable), e.g. --toggle 'training clips'")
    ap.add_argument("--name", default="", help="added to the file names: ROLE-PAGE-NAME.png")
    a = ap.parse_args(argv)
    roles = load_roles()
    unknown = sorted(set(a.role or []) - set(roles))
    if unknown:
        print(f"error: unknown role(s) {', '.join(unknown)} (roles: {', '.join(roles)})", file=sys.stderr)
        return 2
    roles = {k: v for k, v in roles.items() if not a.role or k in a.role}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with (nullcontext(a.url) if a.url else served_app()) as base:
        snap(base, out, roles, set(a.page or []), a.width, a.play, a.clip, a.method, a.name, a.model, a.toggle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
