"""Dashboard latency in a real browser: page load to the first explained clip, cold and cached.

    python benchmarks/bench_dashboard.py [--reloads 3]

Starts `streamlit run app.py`, opens it in headless Chromium (the default role, its default
method), and times until the staggered tube is on screen: once on a fresh server (models load,
the explanation is computed) and then on reloads (everything cached). Writes the "Dashboard"
section of docs/benchmarks.md.
"""
import argparse
import datetime
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402
from tests.e2e import browser_page, first_explained, served_app, wait_settled  # noqa: E402
from ui.state import DEFAULT_ROLE  # noqa: E402
from user_roles import load_roles  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reloads", type=int, default=3)
    a = ap.parse_args()
    role = load_roles()[DEFAULT_ROLE]
    with served_app() as base, browser_page() as page:
        cold = first_explained(page, base)
        wait_settled(page)
        warm = []
        for _ in range(a.reloads):
            warm.append(first_explained(page, base))
            wait_settled(page)
    body = "\n".join([
        "## Dashboard", "",
        f"`python benchmarks/bench_dashboard.py` on {datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"headless Chromium and the server on the same machine. Default role ({role.title}), its default method "
        f"({role.default_method}), the first sample clip, c3d_small. Seconds from opening the page to the "
        "staggered tube on screen.", "",
        "| | seconds |", "|---|---:|",
        f"| first explained clip, fresh server (model load + explanation) | {cold:.2f} |",
        f"| cached rerun (page reload, median of {a.reloads}) | {statistics.median(warm):.2f} |", ""])
    print(body)
    write_section(ROOT / "docs" / "benchmarks.md", body, key="dashboard")


if __name__ == "__main__":
    main()
