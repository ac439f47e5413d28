"""The ledger at scale (issue 13): `log N --failed` and `--unknown` read the few rows they
list through the status index, not every delivery of the part."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from seriespub.ledger import Ledger
from seriespub.ledgerfile import connect
from seriespub.models import DeliveryStatus, Outcome, RecipientResult


def filled(path: Path) -> None:
    with Ledger.open(path) as ledger:
        emails = [f"reader{i:04d}@example.com" for i in range(200)]
        ledger.begin_batch(1, "001-0", "postmark", emails)
        ledger.record_results(
            1,
            "001-0",
            [
                RecipientResult(e, Outcome.FAILED, reason="550 no such user")
                if i % 50 == 7
                else RecipientResult(e, Outcome.SENT, f"id-{i}")
                for i, e in enumerate(emails)
            ],
        )


def plans(path: Path, statuses: list[DeliveryStatus] | None) -> tuple[list[str], list[str]]:
    """The emails `Ledger.deliveries` lists, and SQLite's plan of each SELECT it ran."""
    conn = connect(path, readonly=True)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)  # the SQL as run, parameters bound
    with Ledger(conn, path) as ledger:
        emails = [r.email for r in ledger.deliveries(1, statuses)]
    plan = sqlite3.connect(path)
    try:
        steps = [
            str(step[-1])
            for sql in statements
            if sql.lstrip().upper().startswith("SELECT")
            for step in plan.execute("EXPLAIN QUERY PLAN " + sql)
        ]
    finally:
        plan.close()
    return emails, steps


def test_failed_deliveries_are_found_through_the_status_index(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    filled(path)
    emails, steps = plans(path, [DeliveryStatus.FAILED, DeliveryStatus.DEFERRED])
    assert emails == [f"reader{i:04d}@example.com" for i in (7, 57, 107, 157)]
    assert any("INDEX deliveries_by_status" in step for step in steps), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps  # already in order


def test_every_delivery_is_listed_in_address_order_without_a_sort(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    filled(path)
    emails, steps = plans(path, None)
    assert emails == sorted(emails) and len(emails) == 200
    assert not any("TEMP B-TREE" in step for step in steps), steps
