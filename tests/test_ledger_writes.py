"""The ledger's fast first-send path (plain INSERTs) records exactly what the upsert did."""

from __future__ import annotations

from pathlib import Path

from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus, Outcome, RecipientResult


def attempts(ledger: Ledger, number: int) -> dict[str, tuple[DeliveryStatus, int, str | None]]:
    return {r.email: (r.status, r.attempts, r.batch_key) for r in ledger.deliveries(number)}


def test_a_first_send_inserts_and_a_repeated_address_falls_back_to_the_upsert(
    tmp_path: Path,
) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        ledger.begin_batch(1, "k1", "memory", ["A@example.com", "b@example.com"])
        ledger.record_results(
            1,
            "k1",
            [
                RecipientResult("a@example.com", Outcome.SENT, "x"),
                RecipientResult("b@example.com", Outcome.TRANSIENT),
            ],
        )
        # The same reader again (a repeated address) and a new one, in one batch.
        ledger.begin_batch(1, "k2", "memory", ["b@example.com", "c@example.com"])
        assert attempts(ledger, 1) == {
            "a@example.com": (DeliveryStatus.SENT, 1, "k1"),
            "b@example.com": (DeliveryStatus.PENDING, 2, "k2"),
            "c@example.com": (DeliveryStatus.PENDING, 1, "k2"),
        }
        ledger.begin_batch(2, "k3", "memory", ["a@example.com", "A@example.com"])
        assert attempts(ledger, 2) == {"a@example.com": (DeliveryStatus.PENDING, 2, "k3")}


def test_an_instalment_with_rows_from_an_earlier_run_is_upserted(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.begin_batch(1, "k1", "memory", ["a@example.com"])
        ledger.set_status(1, ["a@example.com"], DeliveryStatus.DEFERRED, "interrupted")
    with Ledger.open(path) as ledger:  # the next run resends the deferred one
        ledger.begin_batch(1, "k2", "memory", ["a@example.com", "d@example.com"])
        assert attempts(ledger, 1) == {
            "a@example.com": (DeliveryStatus.PENDING, 2, "k2"),
            "d@example.com": (DeliveryStatus.PENDING, 1, "k2"),
        }
        assert [b.key for b in ledger.unsettled_batches(1)] == ["k2"]
