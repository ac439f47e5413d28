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
from seriespub.models import DeliveryStatus, Outcome, RecipientResult, Subscriber
from seriespub.providers.base import Batch
from seriespub.sending import Sender, SendReport
from seriespub.series import find_series

READERS = 60          # 30 pending batches of 2


class Settling(MemoryProvider):
    """Knows what became of every request: the readers it delivered to were sent."""

    def settle(self, batch: Batch) -> list[RecipientResult]:
        return [RecipientResult(r.email, Outcome.SENT, f"id-{r.email}")
                for r in batch.recipients]


def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = subscriber_file.iter_subscribers

    def counting(path: Path, *args: Any, **kwargs: Any) -> Iterator[Subscriber]:
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(subscriber_file, "iter_subscribers", counting)
    return reads


def settle(root: Path, provider: MemoryProvider) -> tuple[SendReport, Ledger]:
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    instalment = drafts.by_number(1)
    assert instalment is not None
    ledger = Ledger.open(series.ledger_path)
    for start in range(0, READERS, 2):      # what a kill mid-send leaves: many pending batches
        ledger.begin_batch(1, f"001-killed-{start}", provider.name,
                           [f"reader{n:04d}@example.com" for n in range(start + 1, start + 3)])
    sender = Sender(series, ledger, provider)
    report = SendReport(1)
    sender.settle_pending(1, publishing.render(series, drafts, instalment), report)
    return report, ledger


def test_a_provider_that_cannot_settle_reads_no_list(
        make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_series(subscribers=READERS)
    reads = counted_reads(monkeypatch)
    report, ledger = settle(root, MemoryProvider())
    assert len(reads) <= 1
    assert ledger.counts(1) == {DeliveryStatus.UNKNOWN: READERS} and report.settled == 0


def test_a_settling_provider_rebuilds_every_batch_in_one_pass(
        make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_series(subscribers=READERS)
    reads = counted_reads(monkeypatch)
    report, ledger = settle(root, Settling(can_settle=True))
    assert len(reads) == 1
    assert ledger.counts(1) == {DeliveryStatus.SENT: READERS} and report.settled == READERS
    assert {r.message_id for r in ledger.deliveries(1)} == {
        f"id-reader{n:04d}@example.com" for n in range(1, READERS + 1)}
