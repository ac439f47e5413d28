"""Planning one release slot with per-reader tracks (issue 10): N readers over 20 parts.

Two measures, each for 1,000 readers and for N (default 100,000), readers spread evenly over
positions 0..20 (position p: has parts 1..p; a fifth are on the front, the rest joined late):
- `planner`: the pure `seriespub.tracks.plan_slot` over a stream of readers;
- `applied`: `seriespub.tracking.slot_plan` on a real series folder: subscribers.csv, 20
  drafts and a ledger holding every delivery (about N × 10 rows), i.e. what `send due` and
  `status` do before sending: read the list, read the ledger, plan.
Time is wall-clock without tracing; peak memory is tracemalloc's peak in a second run.

    PYTHONPATH=$PWD/src python bench/bench_tracks.py            # 1,000 and 100,000
    PYTHONPATH=$PWD/src python bench/bench_tracks.py --n 20000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from seriespub.ops.session import session
from seriespub.publishing import drafts_of
from seriespub.series import find_series
from seriespub.tracking import slot_plan
from seriespub.tracks import Reader, plan_slot

PARTS = 20
UTC = dt.UTC
FIRST = dt.datetime(2026, 1, 6, 9, tzinfo=UTC)
NOW = FIRST + dt.timedelta(weeks=PARTS, minutes=1)  # the slot after part 20: evergreen
SLOT = FIRST + dt.timedelta(weeks=PARTS)


def position(i: int) -> int:
    return i % (PARTS + 1)


def joined(i: int) -> dt.datetime | None:
    # A fifth on the front (joined before part 1); the rest joined late, earlier for
    # readers further along, so every position is reachable.
    if i % 5 == 0:
        return None
    p = position(i)
    return FIRST + dt.timedelta(weeks=PARTS - p - 1, days=1)


def readers(n: int) -> Iterator[Reader]:
    for i in range(n):
        p = position(i) if i % 5 else PARTS
        yield Reader(
            f"reader{i:07d}@example.com",
            joined(i),
            frozenset(range(1, p + 1)),
            frozenset(),
            FIRST + dt.timedelta(weeks=max(p - 1, 0)),
        )


def planner(n: int) -> Any:
    return plan_slot(
        readers(n), released=list(range(1, PARTS + 1)), new=None, slot=SLOT, part_one=FIRST
    )


def build_series(root: Path, n: int) -> None:
    (root / "drafts").mkdir(parents=True)
    (root / "seriespub.toml").write_text(
        '[series]\ntitle = "Bench"\nfrom = "A <a@example.com>"\n'
        'unsubscribe_url = "https://example.com/u?t={token}"\n'
        '[delivery]\nprovider = "outbox"\n'
        '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "UTC"\n',
        encoding="utf-8",
    )
    for k in range(1, PARTS + 1):
        (root / "drafts" / f"{k:02d}-part.md").write_text(
            f"---\ntitle: Part {k}\nstatus: ready\n---\nHello {k}\n", encoding="utf-8"
        )
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "name", "status", "subscribed_at"])
        for i in range(n):
            when = joined(i)
            out.writerow(
                [
                    f"reader{i:07d}@example.com",
                    "",
                    "active",
                    "2025-12-01" if when is None else when.isoformat(),
                ]
            )
    series = find_series(explicit=root)
    with session(series, "bench", now=NOW):
        pass  # creates the ledger
    conn = sqlite3.connect(series.state_dir / "ledger.db")
    with conn:
        conn.executemany(
            "INSERT INTO instalments VALUES(?,?,?,?,?)",
            [
                (
                    k,
                    f"Part {k}",
                    f"Part {k}",
                    (FIRST + dt.timedelta(weeks=k - 1)).isoformat(),
                    (FIRST + dt.timedelta(weeks=k - 1, minutes=5)).isoformat(),
                )
                for k in range(1, PARTS + 1)
            ],
        )
        rows = (
            (
                k,
                f"reader{i:07d}@example.com",
                "sent",
                "b",
                "outbox",
                "",
                "",
                1,
                (FIRST + dt.timedelta(weeks=k - 1)).isoformat(),
                None,
                None,
                1,
            )
            for i in range(n)
            for k in range(1, (position(i) if i % 5 else PARTS) + 1)
        )
        conn.executemany("INSERT INTO deliveries VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.close()


def applied(root: Path) -> Callable[[], Any]:
    series = find_series(explicit=root)

    def run() -> Any:
        with session(series, "bench", now=NOW, readonly=True) as held:
            return slot_plan(held, drafts_of(series), None)[0]

    return run


def measure(run: Callable[[], Any]) -> tuple[float, float, Any]:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        for count in (1_000, n):
            s, mb, plan = measure(lambda c=count: planner(c))
            print(
                f"planner  {count:>8,} readers: {s:6.3f} s, peak {mb:7.1f} MiB, "
                f"{sum(plan.counts().values()):,} get a part "
                f"({len(plan.counts())} parts)"
            )
            root = Path(tmp) / f"s{count}"
            started = time.perf_counter()
            build_series(root, count)
            built = time.perf_counter() - started
            s, mb, plan = measure(applied(root))
            print(
                f"applied  {count:>8,} readers: {s:6.3f} s, peak {mb:7.1f} MiB "
                f"(series built in {built:.1f} s), {sum(plan.counts().values()):,} get "
                f"a part"
            )


if __name__ == "__main__":
    main()
