"""Kill `seriespub send next` (SIGKILL, a real process) at random instants, then resume:
no reader gets a duplicate, and none is skipped."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import postmark_delivery
from fakes.httpserver import serve
from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState


def send_until_done(
    root: Path,
    rng: random.Random,
    kills_wanted: int = 4,
    progress: Callable[[], int] | None = None,
    total: int = 0,
) -> int:
    """Run `send next --yes` in a subprocess, SIGKILLing it at random instants up to
    `kills_wanted` times, then let it run to the end (so a slow machine still finishes).
    With `progress` (how much of `total` is done so far) the instant is a random point of
    the work still to do, not of the clock: a fast machine cannot finish before the kill."""
    kills = 0
    for _ in range(kills_wanted + 3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
            cwd=root,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            if kills >= kills_wanted:
                _, err = proc.communicate(timeout=120)
            elif progress is None:
                _, err = proc.communicate(timeout=rng.uniform(0.5, 1.8))
            else:
                done = progress()
                _wait_for(proc, progress, rng.randint(done + 1, max(done + 1, total - 1)))
                _, err = proc.communicate(timeout=0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            kills += 1
            continue
        assert proc.returncode == 0, err.decode()
        if b"every instalment has been delivered" in err:
            return kills
    raise AssertionError("the send never finished")


def _wait_for(proc: subprocess.Popen[bytes], progress: Callable[[], int], target: int) -> None:
    """Until `progress()` reaches `target` or the process ends (at most 120 s)."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and progress() < target and time.monotonic() < deadline:
        time.sleep(0.002)


def ledger_statuses(cli: Callable[..., Any], root: Path) -> Counter[str]:
    result = cli(root, "log", "1", "--json")
    return Counter(d["status"] for d in json.loads(result.stdout)["deliveries"])


def test_postmark_killed_mid_send_delivers_exactly_once(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", TOKEN)
    state = PostmarkState()
    state.faults.delay = 0.12  # answers arrive after the batch is recorded as accepted
    with serve(PostmarkHandler, state) as (url, _):
        root = make_series(
            drafts=1,
            subscribers=500,
            delivery=postmark_delivery(url, settle_delay=0.5, batch_size=25, concurrency=2),
        )
        kills = send_until_done(
            root, random.Random(20261126), progress=lambda: len(state.accepted), total=500
        )
        per_reader = Counter(m["_to"] for m in state.accepted)
    assert kills >= 1, "the test must actually interrupt sends"
    assert len(per_reader) == 500  # nobody skipped
    assert set(per_reader.values()) == {1}  # nobody twice
    assert ledger_statuses(cli, root) == {"sent": 500}


def test_outbox_killed_mid_send_leaves_one_file_per_reader(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = make_series(drafts=1, subscribers=12000)
    outbox = root / ".seriespub" / "outbox" / "001"

    def written() -> int:
        return len(os.listdir(outbox)) if outbox.is_dir() else 0

    kills = send_until_done(root, random.Random(7), progress=written, total=12000)
    files = list(outbox.iterdir())
    assert kills >= 1
    assert len([f for f in files if f.suffix == ".eml"]) == 12000
    assert ledger_statuses(cli, root) == {"sent": 12000}


def test_ctrl_c_records_the_batches_in_flight_and_says_how_to_resume(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    import time

    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", TOKEN)
    state = PostmarkState()
    state.faults.delay = 0.3
    with serve(PostmarkHandler, state) as (url, _):
        root = make_series(
            drafts=1,
            subscribers=200,
            delivery=postmark_delivery(url, settle_delay=0.5, batch_size=20, concurrency=2),
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
            cwd=root,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while not state.accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        accepted = Counter(m["_to"] for m in state.accepted)
    assert proc.returncode == 130, err.decode()
    assert "Interrupted by SIGINT; every batch in flight was recorded" in err.decode()
    assert "Traceback" not in err.decode()
    statuses = ledger_statuses(cli, root)
    assert "pending" not in statuses and "unknown" not in statuses
    assert statuses["sent"] == len(accepted) < 200  # stopped early, all recorded
