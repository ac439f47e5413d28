"""The plain-text part at scale: links numbered in linear time.

    python bench/bench_text.py        # seconds for 10k, 50k and 100k links (~10 s)

Reference: with a list lookup per link, 100,000 links took 106 s; linear numbering keeps
the time proportional to the count (about 10× the 10k figure at 100k).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout

from seriespub.render.text import to_text


def seconds_for(count: int) -> float:
    body = " ".join(f"[link {i}](https://example.com/{i})" for i in range(count))
    started = time.perf_counter()
    to_text(body)
    return time.perf_counter() - started


def main() -> None:
    base = seconds_for(10_000)
    print(f"{'links':>8}  {'seconds':>8}  {'× 10k':>6}")
    for count in (10_000, 50_000, 100_000):
        took = base if count == 10_000 else seconds_for(count)
        print(f"{count:>8,}  {took:>8.2f}  {took / base:>6.1f}")


if __name__ == "__main__":
    main()
