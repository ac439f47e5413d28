"""The ledger at scale: writes per reader, its size, and `status` / `log N --failed` reads.

Writes N deliveries of one instalment through the Ledger API as a send does (a batch of 500
recorded `pending`, then its results: 1 % failed), then times the reads `status` and
`log N --failed` make (`ops.status.instalment_states`, `ops.status.deliveries`' query) on
the closed-and-reopened file, and prints the file's size.

    python bench/bench_ledger.py                # 1,000,000 deliveries (~1-2 min)
    python bench/bench_ledger.py --n 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus, Outcome, RecipientResult

BATCH = 500


def write(path: Path, n: int) -> float:
    """Seconds per delivery to record n deliveries, pending then settled."""
    started = time.perf_counter()
    with Ledger.open(path) as ledger:
        for start in range(0, n, BATCH):
            emails = [f"reader{i:07d}@example.com" for i in range(start, min(n, start + BATCH))]
            key = f"001-{start:09d}"
            ledger.begin_batch(1, key, "postmark", emails)
            ledger.record_results(
                1,
                key,
                [
                    RecipientResult(e, Outcome.FAILED, reason="550 no such user")
                    if i % 100 == 7
                    else RecipientResult(e, Outcome.SENT, f"id-{i}")
                    for i, e in enumerate(emails, start)
                ],
            )
    return (time.perf_counter() - started) / n


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        path = Path(tmp) / "ledger.db"
        per = write(path, args.n)
        size = path.stat().st_size
        with Ledger.open(path, readonly=True) as ledger:
            status = timed(lambda: (ledger.instalment_records(), ledger.all_counts()))
            failed = timed(
                lambda: list(ledger.deliveries(1, [DeliveryStatus.FAILED, DeliveryStatus.DEFERRED]))
            )
            counts = timed(lambda: ledger.counts(1))
        print(
            f"{args.n:,} deliveries: writes {per * 1e6:.1f} µs/reader, "
            f"ledger {size / 1e6:.0f} MB ({size / args.n:.0f} B/delivery)"
        )
        print(
            f"status (all counts) {status:.3f} s; log 1 --failed {failed:.3f} s; "
            f"counts(1) {counts:.3f} s"
        )


if __name__ == "__main__":
    main()
