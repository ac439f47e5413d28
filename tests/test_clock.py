"""A wall clock that steps back never makes a run wait longer than its own setting.

The settle wait is "until `settle_after` has passed since the request"; the request time is
read from the ledger, written by a clock that may since have been set back (NTP, a laptop's
RTC, a ledger committed by CI on another machine). A time in the future counts as now.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import time_machine

from fakes.memory import MemoryProvider
from seriespub import publishing
from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus, Outcome, RecipientResult
from seriespub.providers.base import Batch
from seriespub.sending import Sender, SendReport
from seriespub.series import find_series

SETTLE_AFTER = 1.0


@dataclass
class SettlingProvider(MemoryProvider):
    """Can tell afterwards what became of a batch (like Postmark's search): it went out."""

    can_settle: bool = True
    settle_after: dt.timedelta = dt.timedelta(seconds=SETTLE_AFTER)
    settle_within: dt.timedelta | None = None
    settled_batches: int = 0

    def settle(self, batch: Batch) -> list[RecipientResult]:
        self.settled_batches += 1
        return [RecipientResult(r.email, Outcome.SENT, "found") for r in batch.recipients]


def left_pending(root: Path, batches: int, shift: dt.timedelta) -> None:
    """As after a kill mid-request: `batches` of two readers pending, their request times
    moved by `shift` (a positive shift = the clock has since stepped back)."""
    series = find_series(explicit=root)
    with Ledger.open(series.ledger_path) as ledger:
        for b in range(batches):
            emails = [f"reader{2 * b + i + 1:04d}@example.com" for i in range(2)]
            ledger.begin_batch(1, f"001-b{b}", "memory", emails)
    conn = sqlite3.connect(series.ledger_path)
    with conn:
        for key, created in conn.execute("SELECT key, created_at FROM batches").fetchall():
            moved = dt.datetime.fromisoformat(created) + shift
            conn.execute(
                "UPDATE batches SET created_at=? WHERE key=?",
                (moved.isoformat(timespec="seconds"), key),
            )
    conn.close()


def resume(
    root: Path, provider: MemoryProvider, limit: float, clock: type[dt.datetime] = dt.datetime
) -> tuple[SendReport, float]:
    """Run the send in a thread; fail (and stop it) if it takes longer than `limit`."""
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    instalment = drafts.by_number(1)
    assert instalment is not None
    message = publishing.render(series, drafts, instalment)
    ledger = Ledger.open(series.ledger_path)
    sender = Sender(series, ledger, provider, clock=clock)
    reports: list[SendReport] = []
    started = time.monotonic()
    worker = threading.Thread(
        target=lambda: reports.append(sender.run(sender.plan(instalment, message)))
    )
    worker.start()
    worker.join(limit)
    took = time.monotonic() - started
    stalled = worker.is_alive()
    sender.stop.set()
    worker.join()
    ledger.close()
    assert not stalled, f"the resume was still waiting after {limit}s"
    return reports[0], took


def test_a_request_time_in_the_future_counts_as_now(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=1, subscribers=6)
    left_pending(root, batches=1, shift=dt.timedelta(hours=1))
    report, took = resume(root, SettlingProvider(), limit=SETTLE_AFTER + 5)
    assert took >= SETTLE_AFTER - 0.1  # it still waited its own setting…
    assert report.settled == 2 and report.sent == 4 and report.finished


def test_many_batches_in_the_future_wait_once_not_once_each(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(drafts=1, subscribers=8)
    left_pending(root, batches=4, shift=dt.timedelta(hours=1))
    provider = SettlingProvider()
    report, took = resume(root, provider, limit=SETTLE_AFTER * 4)
    assert took < SETTLE_AFTER * 2.5, took
    assert provider.settled_batches == 4 and report.settled == 8 and report.finished


def test_the_clock_stepping_back_during_a_resume(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=1, subscribers=6)
    left_pending(root, batches=2, shift=dt.timedelta(0))  # written at the real time
    provider = SettlingProvider()
    back = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with time_machine.travel(back, tick=True):  # …then the clock goes back 1 h
        report, took = resume(root, provider, limit=SETTLE_AFTER + 5)
    assert took < SETTLE_AFTER + 2
    assert report.settled == 4 and report.sent == 2 and report.finished
    series = find_series(explicit=root)
    with Ledger.open(series.ledger_path) as ledger:
        assert ledger.counts(1) == {DeliveryStatus.SENT: 6}


def test_a_window_that_closes_still_counts_a_future_time_as_now(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(drafts=1, subscribers=2)
    left_pending(root, batches=1, shift=dt.timedelta(days=3))
    provider = SettlingProvider(settle_within=dt.timedelta(hours=23))  # like Resend's keys
    report, _ = resume(root, provider, limit=SETTLE_AFTER + 5)
    assert report.settled == 2 and report.unknown == 0


@pytest.mark.parametrize("hours_back", [1, 30])
def test_a_ledger_from_the_future_does_not_hold_the_lock(
    make_series: Callable[..., Path], hours_back: int
) -> None:
    root = make_series(drafts=1, subscribers=4)
    left_pending(root, batches=2, shift=dt.timedelta(hours=hours_back))
    _, took = resume(root, SettlingProvider(), limit=SETTLE_AFTER + 5)
    assert took < SETTLE_AFTER + 2


class SteppingBack(dt.datetime):
    """The real clock until it has been read once, then one hour behind (an NTP step)."""

    reads = 0

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> SteppingBack:
        SteppingBack.reads += 1
        real = dt.datetime.now(tz)
        moved = real if SteppingBack.reads == 1 else real - dt.timedelta(hours=1)
        return cls.fromtimestamp(moved.timestamp(), tz)


def test_the_clock_stepping_back_in_the_middle_of_the_settle_wait(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(drafts=1, subscribers=8)
    left_pending(root, batches=4, shift=dt.timedelta(0))
    provider = SettlingProvider()
    report, took = resume(root, provider, limit=SETTLE_AFTER * 4, clock=SteppingBack)
    assert SteppingBack.reads > 1
    assert took < SETTLE_AFTER + 1.5, took
    assert provider.settled_batches == 4 and report.settled == 8


def test_a_stop_during_the_settle_wait_leaves_the_rows_pending_not_unknown(
    make_series: Callable[..., Path],
) -> None:
    """SIGTERM while waiting to settle an earlier run's batch: the run ends at once, and the
    batch stays `pending` for the next run to settle (`unknown` would ask the author)."""
    root = make_series(drafts=1, subscribers=4)
    left_pending(root, batches=1, shift=dt.timedelta(0))
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    instalment = drafts.by_number(1)
    assert instalment is not None
    message = publishing.render(series, drafts, instalment)
    provider = SettlingProvider(settle_after=dt.timedelta(seconds=30))
    with Ledger.open(series.ledger_path) as ledger:
        sender = Sender(series, ledger, provider)
        threading.Timer(0.3, sender.stop.set).start()
        started = time.monotonic()
        report = sender.run(sender.plan(instalment, message))
        assert time.monotonic() - started < 5
        assert report.interrupted and provider.settled_batches == 0
        assert ledger.counts(1) == {DeliveryStatus.PENDING: 2}
