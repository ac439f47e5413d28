"""`seriespub log N` at scale (issue 13): the recipients of a part are streamed from the
ledger to stdout, in text and in JSON, so a million deliveries cost the memory of a few."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seriespub.ledger import Ledger
from seriespub.models import Outcome, RecipientResult
from test_scale import run

Cli = Callable[..., Any]


def fill_ledger(root: Path, number: int, size: int, *, failed_every: int = 100) -> None:
    """`size` deliveries of part `number` recorded as a send records them (1 % failed)."""
    state = root / ".seriespub"
    state.mkdir(mode=0o700, exist_ok=True)
    with Ledger.open(state / "ledger.db") as ledger:
        ledger.mark_started(number, "Part", "Part", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
        for start in range(0, size, 1000):
            emails = [f"reader{i:07d}@example.com" for i in range(start, min(size, start + 1000))]
            key = f"{number:03d}-{start:09d}"
            ledger.begin_batch(number, key, "postmark", emails)
            ledger.record_results(
                number,
                key,
                [
                    RecipientResult(e, Outcome.FAILED, reason="550 5.1.1 no such user")
                    if i % failed_every == 7
                    else RecipientResult(e, Outcome.SENT, f"id-{i}")
                    for i, e in enumerate(emails, start)
                ],
            )
        ledger.mark_finished(number, dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC))


def test_log_lists_every_delivery_once_aligned_under_its_count(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=0)
    fill_ledger(root, 1, 2_500)  # more rows than one chunk of output
    result = cli(root, "log", "1")
    assert result.exit_code == 0, result.output
    title, header, *rows = result.stdout.splitlines()
    assert title == "Part 1: 2,500 deliveries"
    assert header.split() == ["Address", "Status", "Message", "id", "Reason"]
    assert len(rows) == 2_500
    assert rows[0].split() == ["reader0000000@example.com", "sent", "id-0"]
    failed_row = ["reader0000007@example.com", "failed", "550 5.1.1 no such user"]
    assert rows[7].split(None, 2) == failed_row
    status_at = header.index("Status")
    assert {row[status_at:].split()[0] for row in rows} == {"sent", "failed"}

    failed = cli(root, "log", "1", "--failed")
    lines = failed.stdout.splitlines()
    assert lines[0] == "Part 1: 25 failed of 2,500 deliveries" and len(lines) == 2 + 25


def test_log_json_is_one_document_with_every_delivery(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=0)  # part 2: a draft, nothing sent
    fill_ledger(root, 1, 2_500)
    data = json.loads(cli(root, "log", "1", "--json").stdout)
    assert data["instalment"] == 1 and len(data["deliveries"]) == 2_500
    assert data["deliveries"][7] == {
        "email": "reader0000007@example.com",
        "status": "failed",
        "provider": "postmark",
        "message_id": "",
        "reason": "550 5.1.1 no such user",
        "attempts": 1,
        "updated_at": data["deliveries"][7]["updated_at"],
    }
    failed = json.loads(cli(root, "log", "1", "--failed", "--json").stdout)
    assert len(failed["deliveries"]) == 25
    empty = json.loads(cli(root, "log", "2", "--json").stdout)
    assert empty == {"instalment": 2, "deliveries": []}


@pytest.mark.slow
def test_log_of_a_part_keeps_flat_memory_as_the_ledger_grows(
    make_series: Callable[..., Path],
) -> None:
    """`log 1` and `log 1 --json` over 40,000 deliveries peak within 1.5× of 1,000."""
    peaks: dict[int, dict[str, float]] = {}
    for size in (1_000, 40_000):
        root = make_series(drafts=1, subscribers=0, name=f"s{size}")
        fill_ledger(root, 1, size)
        peaks[size] = {
            "log 1": run(root, "log", "1")["rss_mb"],
            "log 1 --json": run(root, "log", "1", "--json")["rss_mb"],
            "log 1 --failed": run(root, "log", "1", "--failed")["rss_mb"],
        }
    for command, small in peaks[1_000].items():
        assert peaks[40_000][command] <= 1.5 * small, (command, peaks)


def test_a_reason_over_several_lines_stays_on_its_row(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=0)
    fill_ledger(root, 1, 3)
    with Ledger.open(root / ".seriespub" / "ledger.db") as ledger:
        ledger.begin_batch(1, "001-late", "smtp", ["late@example.com"])
        reply = (
            "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Bye"
        )
        ledger.record_results(
            1, "001-late", [RecipientResult("late@example.com", Outcome.FAILED, reason=reply)]
        )
    lines = cli(root, "log", "1", "--failed").stdout.splitlines()
    assert lines[0] == "Part 1: 1 failed of 4 deliveries" and len(lines) == 3
    assert lines[2].split(None, 2) == ["late@example.com", "failed", " ".join(reply.split())]
    data = json.loads(cli(root, "log", "1", "--failed", "--json").stdout)
    assert data["deliveries"][0]["reason"] == reply  # the record as kept
