"""How fast the procedural data set is made: 1,000 clips, and clips per second.

    python benchmarks/bench_data.py [--n 1000]

Writes the "Data set" section of docs/benchmarks.md.
"""
import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sections import write_section  # noqa: E402
from xai_core.data.synthetic import make_dataset  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    t0 = time.perf_counter()
    data = make_dataset(a.n, seed=0)
    seconds = time.perf_counter() - t0
    mb = (data.clips.nbytes + data.masks.nbytes) / 2**20
    body = "\n".join([
        "## Data set", "",
        f"`python benchmarks/bench_data.py` on {datetime.date.today()}, {platform.processor() or platform.machine()}, "
        "one process:", "",
        "| clips | frames × size | seconds | clips / s | memory |", "|---:|---|---:|---:|---:|",
        f"| {a.n} | {data.clips.shape[1]} × {data.clips.shape[2]}×{data.clips.shape[3]} | {seconds:.1f} | "
        f"{a.n / seconds:.0f} | {mb:.0f} MB |", ""])
    print(body)
    write_section(ROOT / "docs" / "benchmarks.md", body, key="data")


if __name__ == "__main__":
    main()
