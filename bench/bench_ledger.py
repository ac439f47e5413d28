"""The ledger at scale: writes per reader, its size, and `status` / `log N --failed` reads.

Writes N deliveries of one instalment through the Ledger API as a send does (a batch of 500
recorded `pending`, then its results: 1 % failed), then times the reads `status` and
`log N --failed` make (`ops.status.instalment_states`, `ops.status.deliveries`' query) on
the closed-and-reopened file, and prints the file's size.

The order the addresses arrive in matters: `--order sorted` sends them in the ledger's own key
order (reader0000000@…, reader0000001@…: each batch writes a few neighbouring pages),
`csv` as bench/run.py's series lists them (reader0@…, reader1@…, …), `shuffled` in an order
unrelated to the alphabet, as a real list's sign-up order is (each batch touches pages all
over the ledger). `--vs SRC` times the writes of another checkout's `src` too (e.g. the main
branch's), in alternating fresh processes, and prints the ratio round by round.

    python bench/bench_ledger.py                # 1,000,000 deliveries (~10 s)
    python bench/bench_ledger.py --n 100000
    python bench/bench_ledger.py --n 100000 --order shuffled --vs /path/to/main/src --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This checkout's sources, not whatever copy is installed; `--vs` names another in its child.
SRC = os.environ.get("BENCH_LEDGER_SRC") or str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, SRC)

from seriespub.ledger import Ledger  # noqa: E402
from seriespub.models import DeliveryStatus, Outcome, RecipientResult  # noqa: E402

BATCH = 500
ORDERS = ("sorted", "csv", "shuffled")


def addresses(n: int, order: str) -> list[str]:
    if order == "csv":
        return [f"reader{i}@example.com" for i in range(n)]
    emails = [f"reader{i:07d}@example.com" for i in range(n)]
    if order == "shuffled":
        random.Random(13).shuffle(emails)
    return emails


def write(path: Path, n: int, order: str = "sorted") -> tuple[float, float]:
    """Seconds per delivery to record n deliveries: (pending, settled)."""
    every = addresses(n, order)
    pending = settled = 0.0
    with Ledger.open(path) as ledger:
        for start in range(0, n, BATCH):
            emails = every[start : start + BATCH]
            key = f"001-{start:09d}"
            results = [
                RecipientResult(e, Outcome.FAILED, reason="550 no such user")
                if i % 100 == 7
                else RecipientResult(e, Outcome.SENT, f"id-{i}")
                for i, e in enumerate(emails, start)
            ]
            started = time.perf_counter()
            ledger.begin_batch(1, key, "postmark", emails)
            begun = time.perf_counter()
            ledger.record_results(1, key, results)
            pending += begun - started
            settled += time.perf_counter() - begun
    return pending / n, settled / n


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def writes_in_child(src: str, n: int, order: str) -> tuple[float, float]:
    """`write` in a fresh process that imports seriespub from `src`."""
    env = {**os.environ, "BENCH_LEDGER_SRC": src}
    done = subprocess.run(
        [sys.executable, __file__, "--n", str(n), "--order", order, "--writes-only"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    pending, settled = json.loads(done.stdout)
    return pending, settled


def compare(n: int, order: str, other: str, rounds: int) -> None:
    here = str(Path(__file__).resolve().parent.parent / "src")
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):  # alternating, so a drift in the machine's speed hits both
        theirs.append(sum(writes_in_child(other, n, order)))
        ours.append(sum(writes_in_child(here, n, order)))
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print(
        f"{n:,} deliveries, {order} order, writes µs/reader (median of {rounds}): "
        f"this checkout {statistics.median(ours) * 1e6:.1f}, {other} "
        f"{statistics.median(theirs) * 1e6:.1f}; ratio {statistics.median(ratios):.2f} "
        f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--order", choices=ORDERS, default="sorted")
    parser.add_argument("--vs", metavar="SRC", help="another checkout's src to time beside")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds for --vs")
    parser.add_argument("--writes-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vs:
        compare(args.n, args.order, args.vs, args.rounds)
        return
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        path = Path(tmp) / "ledger.db"
        pending, settled = write(path, args.n, args.order)
        if args.writes_only:
            print(json.dumps([pending, settled]))
            return
        size = path.stat().st_size
        with Ledger.open(path, readonly=True) as ledger:
            status = timed(lambda: (ledger.instalment_records(), ledger.all_counts()))
            failed = timed(
                lambda: list(ledger.deliveries(1, [DeliveryStatus.FAILED, DeliveryStatus.DEFERRED]))
            )
            counts = timed(lambda: ledger.counts(1))
        print(
            f"{args.n:,} deliveries ({args.order} order): writes "
            f"{(pending + settled) * 1e6:.1f} µs/reader (pending {pending * 1e6:.1f}, "
            f"settled {settled * 1e6:.1f}), ledger {size / 1e6:.0f} MB "
            f"({size / args.n:.0f} B/delivery)"
        )
        print(
            f"status (all counts) {status:.3f} s; log 1 --failed {failed:.3f} s; "
            f"counts(1) {counts:.3f} s"
        )


if __name__ == "__main__":
    main()
