"""The sending core: retries, the ledger before and after each request, and exactly once."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.memory import MemoryProvider
from seriespub import publishing
from seriespub.errors import AmbiguousSendError, PermanentSendError, RateLimited, SendError
from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus, SubscriberStatus
from seriespub.providers.base import Batch
from seriespub.sending import SHOWN_FAILURES, Sender, SendReport
from seriespub.series import find_series
from sqlitefile import closed_after_test


def run(root: Path, provider: MemoryProvider, **settings: float) -> tuple[SendReport, Ledger]:
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    ledger = closed_after_test(Ledger.open(series.ledger_path))
    instalment = drafts.by_number(1)
    assert instalment is not None
    sender = Sender(series, ledger, provider)
    sender.policy.base = 0.01
    for key, value in settings.items():
        setattr(sender.policy, key, value)
    message = publishing.render(series, drafts, instalment)
    return sender.run(sender.plan(instalment, message)), ledger


def test_every_active_subscriber_gets_exactly_one_copy(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=25)
    provider = MemoryProvider()
    report, ledger = run(root, provider)
    assert report.sent == 25 and report.finished
    assert len(provider.delivered) == 25 and set(provider.delivered.values()) == {1}
    again, _ = run(root, provider)
    assert again.sent == 0 and provider.calls == 3  # 25 in batches of 10, then none
    assert ledger.counts(1) == {DeliveryStatus.SENT: 25}


def test_rate_limits_and_server_errors_are_retried(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=5)

    def script(batch: Batch, call: int) -> SendError | None:
        if call == 1:
            return RateLimited("slow down", provider="memory", retry_after=0.05)
        if call == 2:
            from seriespub.errors import TransientSendError

            return TransientSendError("503", provider="memory", status=503)
        return None

    provider = MemoryProvider(script=script)
    report, _ = run(root, provider)
    assert report.sent == 5 and provider.calls == 3 and report.finished


def test_single_transient_recipients_are_retried_alone(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=4)
    provider = MemoryProvider(flaky={"reader0002@example.com": 2})
    report, _ = run(root, provider)
    assert report.sent == 4 and report.finished
    assert provider.delivered["reader0002@example.com"] == 1 and provider.calls == 3


def test_permanent_refusal_fails_that_delivery_and_marks_the_subscriber(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(subscribers=3)
    provider = MemoryProvider(refuse={"reader0002@example.com": "550 no such user"})
    report, ledger = run(root, provider)
    assert (report.sent, report.failed, report.finished) == (2, 1, True)
    assert ledger.unapplied_status_changes() == {"reader0002@example.com": SubscriberStatus.BOUNCED}
    row = next(ledger.deliveries(1, [DeliveryStatus.FAILED]))
    assert row.reason == "550 no such user"
    again, _ = run(root, provider)
    assert again.sent == again.failed == 0  # never retried


def test_a_report_names_the_first_refusals_and_counts_them_all(
    make_series: Callable[..., Path],
) -> None:
    """A list with many dead addresses must not make the run hold every refusal until it
    ends: the report keeps the ones it shows, the ledger keeps them all."""
    root = make_series(subscribers=40)
    refused = {f"reader{i:04d}@example.com": "550 no such user" for i in range(1, 36)}
    report, ledger = run(root, MemoryProvider(refuse=refused))
    assert (report.sent, report.failed) == (5, 35)
    shown = [f.email for f in report.failures]  # the first recorded: batches end in any order
    assert len(set(shown)) == len(shown) == SHOWN_FAILURES and set(shown) <= set(refused)
    assert ledger.counts(1)[DeliveryStatus.FAILED] == 35
    assert len(ledger.unapplied_status_changes()) == 35


def test_a_refused_request_stops_the_run_and_nobody_is_marked_failed(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(subscribers=15)
    bad = PermanentSendError("invalid token", provider="memory", status=401)
    provider = MemoryProvider(script=lambda b, c: bad if c == 2 else None)
    report, ledger = run(root, provider)
    assert report.stopped_by is bad and not report.finished
    assert ledger.counts(1)[DeliveryStatus.DEFERRED] == 5
    provider.script = None
    resumed, _ = run(root, provider)
    assert resumed.sent == 5 and resumed.finished
    assert sum(provider.delivered.values()) == 15


def test_exhausted_retries_stop_cleanly(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=3)
    from seriespub.errors import TransientSendError

    down = TransientSendError("502", provider="memory", status=502)
    provider = MemoryProvider(script=lambda b, c: down)
    report, ledger = run(root, provider, max_seconds=0.2)
    assert report.stopped_by is down and report.deferred == 3
    assert ledger.counts(1) == {DeliveryStatus.DEFERRED: 3}


def test_lost_answer_is_unknown_and_blocks_until_settled(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=3)
    lost = AmbiguousSendError("timeout", provider="memory")
    lost.accepted = True  # type: ignore[attr-defined]
    provider = MemoryProvider(script=lambda b, c: lost if c == 1 else None)
    report, _ = run(root, provider)
    assert report.unknown == 3 and not report.finished
    assert sum(provider.delivered.values()) == 3  # accepted, answer lost
    again, _ = run(root, provider)
    assert again.unknown == 3 and again.sent == 0  # no silent resend
    assert sum(provider.delivered.values()) == 3


def test_a_settling_provider_resolves_lost_answers(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=3)
    lost = AmbiguousSendError("timeout", provider="memory")
    lost.accepted = True  # type: ignore[attr-defined]

    class Settling(MemoryProvider):
        def settle(self, batch: Batch) -> list:  # type: ignore[type-arg]
            from seriespub.models import Outcome, RecipientResult

            return [
                RecipientResult(
                    r.email, Outcome.SENT if self.delivered[r.email] else Outcome.TRANSIENT
                )
                for r in batch.recipients
            ]

    provider = Settling(script=lambda b, c: lost if c == 1 else None, can_settle=True)
    report, _ = run(root, provider)
    assert report.sent == 3 and report.finished
    assert set(provider.delivered.values()) == {1}


def test_pending_rows_from_a_killed_run_are_settled_first(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=3)
    series = find_series(explicit=root)
    with Ledger.open(series.ledger_path) as ledger:  # what a kill mid-request leaves
        ledger.begin_batch(1, "001-killed", "memory", ["reader0001@example.com"])
    provider = MemoryProvider()
    report, ledger = run(root, provider)
    assert report.unknown == 1 and report.sent == 0
    assert [r.email for r in ledger.deliveries(1, [DeliveryStatus.UNKNOWN])] == [
        "reader0001@example.com"
    ]


@pytest.mark.parametrize("rate", [50.0])
def test_max_rate_spaces_the_batches(make_series: Callable[..., Path], rate: float) -> None:
    import time

    root = make_series(subscribers=20)
    series = find_series(explicit=root)
    provider = MemoryProvider()
    drafts = publishing.drafts_of(series)
    ledger = closed_after_test(Ledger.open(series.ledger_path))
    sender = Sender(series, ledger, provider)
    sender.limiter.rate = rate
    instalment = drafts.instalments[0]
    started = time.monotonic()
    sender.run(sender.plan(instalment, publishing.render(series, drafts, instalment)))
    assert time.monotonic() - started >= 10 / rate  # second batch waited 10 messages


def test_no_request_carries_more_than_a_seconds_worth_of_max_rate(
    make_series: Callable[..., Path],
) -> None:
    # max_rate = 3 with requests of up to 10: a first request of 10 would put 10 messages
    # into the first second (a provider's per-second quota counts recipients).
    root = make_series(subscribers=7, delivery='[delivery]\nprovider = "outbox"\nmax_rate = 3\n')
    sizes: list[int] = []
    provider = MemoryProvider(script=lambda batch, call: sizes.append(len(batch.recipients)))
    report, _ = run(root, provider)
    assert report.sent == 7 and sizes == [3, 3, 1]


def test_a_failed_retry_keeps_what_the_first_attempt_delivered(
    make_series: Callable[..., Path],
) -> None:
    """Readers accepted in attempt 1 must not be resent when the retry of others fails."""
    from seriespub.errors import TransientSendError

    root = make_series(subscribers=3)
    down = TransientSendError("503", provider="memory", status=503)
    provider = MemoryProvider(
        flaky={"reader0002@example.com": 1}, script=lambda b, c: down if c >= 2 else None
    )
    report, ledger = run(root, provider, max_seconds=0.3)
    assert (report.sent, report.deferred) == (2, 1)
    assert ledger.counts(1) == {DeliveryStatus.SENT: 2, DeliveryStatus.DEFERRED: 1}
    provider.script = None
    cli_report, _ = run(root, provider)
    assert cli_report.sent == 1
    assert provider.delivered == {f"reader000{i}@example.com": 1 for i in (1, 2, 3)}


def test_the_send_reads_its_snapshot_and_finishes_only_when_the_list_is_covered(
    make_series: Callable[..., Path],
) -> None:
    """Rows rewritten after the plan change nothing mid-send; a reader added meanwhile keeps
    the instalment open, and the next run sends to them alone."""
    import time

    from conftest import write_subscribers

    root = make_series(subscribers=25)
    path = root / "subscribers.csv"
    os.utime(path, (time.time() - 5, time.time() - 5))
    series = find_series(explicit=root)
    drafts = publishing.drafts_of(series)
    ledger = closed_after_test(Ledger.open(series.ledger_path))
    provider = MemoryProvider()
    sender = Sender(series, ledger, provider)
    instalment = drafts.by_number(1)
    assert instalment is not None
    plan = sender.plan(instalment, publishing.render(series, drafts, instalment))
    assert oct((root / ".seriespub" / "snapshot.csv").stat().st_mode & 0o777) == "0o600"
    write_subscribers(
        path,
        3,
        extra=[
            {"email": "late@example.com", "name": "Late", "status": "active", "subscribed_at": ""}
        ],
    )
    os.utime(path, (time.time() - 5, time.time() - 5))
    report = sender.run(plan)
    assert report.sent == 25 and not report.finished  # the snapshot's 25, not 3
    assert "late@example.com" not in provider.delivered
    again, _ = run(root, provider)
    assert again.sent == 1 and again.finished
    assert provider.delivered["late@example.com"] == 1 and set(provider.delivered.values()) == {1}


def test_unreadable_rows_keep_the_instalment_open(make_series: Callable[..., Path]) -> None:
    from conftest import write_subscribers

    root = make_series(subscribers=0)
    write_subscribers(
        root / "subscribers.csv",
        4,
        extra=[{"email": "x@example.com", "name": "X", "status": "actve", "subscribed_at": ""}],
    )
    provider = MemoryProvider()
    report, ledger = run(root, provider)
    assert report.sent == 4 and not report.finished
    assert ledger.instalment_records()[1].finished_at is None


def test_a_first_send_sends_a_repeated_address_once_without_asking_the_ledger(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run itself remembers which repeated addresses it has put in a batch: the ledger's
    # rows of this run may not be written yet when the next batch is built (and asking it
    # from the main thread costs a GIL hand-over while the workers send).
    root = make_series(subscribers=25)
    with open(root / "subscribers.csv", "a", encoding="utf-8") as handle:
        handle.write("READER0001@example.com,Again,active,2026-01-01\n")
        handle.write("reader0002@example.com,Again,active,2026-01-01\n")
    asked: list[int] = []

    def statuses(self: Ledger, number: int, emails: list[str]) -> dict[str, DeliveryStatus]:
        asked.append(len(emails))
        return {}  # as if this run's rows were not visible yet

    monkeypatch.setattr(Ledger, "statuses", statuses)
    provider = MemoryProvider()
    report, ledger = run(root, provider)
    assert report.sent == 25 and report.finished
    assert sorted(provider.delivered.values()) == [1] * 25
    assert ledger.counts(1) == {DeliveryStatus.SENT: 25}
    assert asked == []
