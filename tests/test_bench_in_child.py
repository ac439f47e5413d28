"""bench/run.py's `in_child`: a fake server whose process dies before it starts (a module the
dev extra installs is missing, say) stops the bench with one line, instead of hanging it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"

DIES = f"""
import sys
sys.path.insert(0, {str(BENCH)!r})
from run import in_child

def fake(conn):
    raise SystemExit(3)  # as a fake whose import failed: it never sends its URL

with in_child(fake) as (url, ask):
    print("started", url)
"""


def test_a_fake_that_dies_before_it_starts_stops_the_bench_with_one_line() -> None:
    done = subprocess.run([sys.executable, "-c", DIES], capture_output=True, text=True, timeout=15)
    assert done.returncode != 0
    assert "started" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        "bench: fake exited (code 3) before it started; is the dev extra installed"
        " (pip install -e '.[dev]')?"
    )
    assert "Traceback" not in done.stderr
