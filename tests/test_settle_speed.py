"""A resume after a kill reads the list at most once, however many batches it left pending."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.memory import MemoryProvider
from seriespub import publishing
from seriespub import subscribers as subscriber_file
from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus, Outcome, RecipientResult
from seriespub.providers.base import Batch
from seriespub.sending import Sender, SendReport
from seriespub.series import find_series
from sqlitefile import closed_after_test

READERS = 60  # 30 pending batches of 2


class Settling(MemoryProvider):
    """Knows what became of every request: the readers it delivered to were sent."""

    def settle(self, batch: Batch) -> list[RecipientResult]:
        return [RecipientResult(r.email, Outcome.SENT, f"id-{r.email}") for r in batch.recipients]


def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = subscriber_file._rows  # every streamed read of a list goes through it

    def counting(path: Path, *args: Any, **kwargs: Any) -> Iterator[Any]:
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(subscriber_file, "_rows", counting)
    return reads


def settle(root: Path, provider: MemoryProvider) -> tuple[SendReport, Ledger]:
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    instalment = drafts.by_number(1)
    assert instalment is not None
    ledger = closed_after_test(Ledger.open(series.ledger_path))
    for start in range(0, READERS, 2):  # what a kill mid-send leaves: many pending batches
        ledger.begin_batch(
            1,
            f"001-killed-{start}",
            provider.name,
            [f"reader{n:04d}@example.com" for n in range(start + 1, start + 3)],
        )
    sender = Sender(series, ledger, provider)
    report = SendReport(1)
    sender.settle_pending(1, publishing.render(series, drafts, instalment), report)
    return report, ledger


def test_a_provider_that_cannot_settle_reads_no_list(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(subscribers=READERS)
    reads = counted_reads(monkeypatch)
    report, ledger = settle(root, MemoryProvider())
    assert len(reads) <= 1
    assert ledger.counts(1) == {DeliveryStatus.UNKNOWN: READERS} and report.settled == 0


def test_a_settling_provider_rebuilds_every_batch_in_one_pass(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(subscribers=READERS)
    reads = counted_reads(monkeypatch)
    report, ledger = settle(root, Settling(can_settle=True))
    assert len(reads) == 1
    assert ledger.counts(1) == {DeliveryStatus.SENT: READERS} and report.settled == READERS
    assert {r.message_id for r in ledger.deliveries(1)} == {
        f"id-reader{n:04d}@example.com" for n in range(1, READERS + 1)
    }


def test_a_send_reads_its_snapshot_twice_and_the_unchanged_list_not_again(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning and sending each read the snapshot once; finishing reads nothing more while
    the live list is as it was copied (tests/test_list_concurrency.py: edited, it is read)."""
    root = make_series(subscribers=25)
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    instalment = drafts.by_number(1)
    assert instalment is not None
    reads = counted_reads(monkeypatch)
    with Ledger.open(series.ledger_path) as ledger:
        sender = Sender(series, ledger, MemoryProvider())
        report = sender.run(sender.plan(instalment, publishing.render(series, drafts, instalment)))
    assert report.sent == 25 and report.finished
    assert len(reads) == 2 and series.subscribers_path not in reads


def test_a_reader_added_during_the_send_keeps_the_part_open(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(subscribers=5)
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    instalment = drafts.by_number(1)
    assert instalment is not None

    class Adding(MemoryProvider):
        def send_batch(self, batch: Batch) -> list[RecipientResult]:
            with series.subscribers_path.open("a") as handle:
                handle.write("late@example.com,Late,active,2026-01-01\n")
            return super().send_batch(batch)

    with Ledger.open(series.ledger_path) as ledger:
        sender = Sender(series, ledger, Adding())
        report = sender.run(sender.plan(instalment, publishing.render(series, drafts, instalment)))
        assert report.sent == 5 and not report.finished
        assert ledger.instalment_records()[1].finished_at is None


def first_send(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[SendReport, MemoryProvider, list[int]]:
    """A first send, counting the addresses the run asks the ledger about."""
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    instalment = drafts.by_number(1)
    assert instalment is not None
    asked: list[int] = []
    real = Ledger.statuses

    def counting(self: Ledger, number: int, emails: Any) -> dict[str, DeliveryStatus]:
        asked.append(len(emails))
        return real(self, number, emails)

    monkeypatch.setattr(Ledger, "statuses", counting)
    provider = MemoryProvider()
    with Ledger.open(series.ledger_path) as ledger:
        sender = Sender(series, ledger, provider)
        report = sender.run(sender.plan(instalment, publishing.render(series, drafts, instalment)))
    return report, provider, asked


def test_a_first_send_to_a_list_without_repeats_asks_the_ledger_nothing(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(subscribers=45)
    report, provider, asked = first_send(root, monkeypatch)
    assert report.sent == 45 and report.finished and sum(asked) == 0
    assert set(provider.delivered.values()) == {1}


@pytest.mark.parametrize("bits", [None, 8])  # 8 bits: every address collides
def test_a_first_send_sends_a_repeated_address_once(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, bits: int | None
) -> None:
    if bits is not None:
        monkeypatch.setattr(subscriber_file, "DUPLICATE_BITS", bits)
    root = make_series(subscribers=45)
    with (root / "subscribers.csv").open("a", encoding="utf-8") as handle:
        handle.write("READER0003@example.com,Again,active,2026-01-01\n")
    report, provider, asked = first_send(root, monkeypatch)
    assert report.sent == 45 and report.finished
    assert len(provider.delivered) == 45 and set(provider.delivered.values()) == {1}
    # The run remembers the candidates it handed out (Planner._first_time): even when
    # every address collides in the bitmap, the ledger is asked nothing.
    assert sum(asked) == 0
