"""bench/run.py's `in_child`: a fake server whose process dies before it starts (a module the
dev extra installs is missing, say) stops the bench with one line, instead of hanging it."""

from __future__ import annotations

import os
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


def test_an_smtp_sink_that_cannot_start_stops_bench_smtp_with_one_line(tmp_path: Path) -> None:
    # An aiosmtpd that fails to import stands in for one not installed.
    (tmp_path / "aiosmtpd").mkdir()
    (tmp_path / "aiosmtpd" / "__init__.py").write_text('raise ImportError("not installed")\n')
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_smtp.py"), "--n", "10"],
        capture_output=True,
        text=True,
        timeout=15,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "bench: the aiosmtpd sink exited (code 1) before it started; is the dev extra"
        " installed (pip install -e '.[dev]')?"
    ]
