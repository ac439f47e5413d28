"""bench/bench_phases.py: where one `send next` spends its time, and `--without-record`, the
same send with the ledger's writes per batch skipped (a bound for the README, not a sender)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_phases.py"


def phases(*options: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--provider", "sendgrid", "--n", "300", *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def test_the_phases_of_a_send_and_what_it_recorded() -> None:
    lines = phases()
    assert lines[0].startswith("send next, sendgrid, 300 readers (list in signup order): ")
    assert any(line.endswith("send phase") for line in lines)
    assert any(line.endswith("render the instalment") for line in lines)
    assert lines[-1] == "  deliveries in the ledger afterwards: 300"


def test_without_the_record_the_same_send_writes_no_delivery() -> None:
    lines = phases("--without-record")
    assert "WITHOUT the ledger writes per batch: a bound, not a sender" in lines[0]
    assert any(line.endswith("send phase") for line in lines)
    assert lines[-1] == "  deliveries in the ledger afterwards: 0"
