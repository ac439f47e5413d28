"""Planning one release slot with per-reader tracks (issues 10 and 13), 1,000 readers vs N.

Three series of 20 released parts, each built at 1,000 readers and at N (default 100,000),
with a ledger holding every delivery:
- `evergreen`: a finished series, 4 in 5 readers are late joiners spread over positions
  0..20 (position p: has parts 1..p); the slot has no new part (`send due` between parts);
- `new part, 2 % late`: part 21 is due; 1 reader in 50 is a late joiner (spread as above),
  the rest are on the front with parts 1..20 (`send due` / `send next` of part 21);
- `new part, all front`: part 21 is due and nobody is a late joiner.
For each: `pure` is `seriespub.tracks.plan_slot` over a stream of readers; `status` is
`seriespub.tracking.slot_plan` on the series folder (list + ledger + plan, the front's
counts exact); `send` is the same as a send asks for it (count_front=False); `round` is a
whole `send next --dry-run` (the plan, then one run per part, each planning and counting its
readers: the late parts' runs read only their own rows, picked out of the list in one more
pass; the front's run reads the whole list). Time is
wall-clock without tracing; peak memory is tracemalloc's peak in a second run (Python
allocations: the fixed 8 MB bitmap for repeated addresses is in every figure). Each line
ends with N vs 1,000: the peak-memory ratio (target ≤ 1.5×) and time per reader (≤ 1: no
worse than linear).

    python bench/bench_tracks.py            # 1,000 and 100,000
    python bench/bench_tracks.py --n 20000
    python bench/bench_tracks.py --case 0 --spill 0   # late joiners on disk
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout

from seriespub import tracking
from seriespub.ops import send
from seriespub.ops.session import session
from seriespub.publishing import drafts_of
from seriespub.series import find_series
from seriespub.tracking import slot_plan
from seriespub.tracks import Reader, SlotPlan, plan_slot

PARTS = 20
UTC = dt.UTC
FIRST = dt.datetime(2026, 1, 6, 9, tzinfo=UTC)
NOW = FIRST + dt.timedelta(weeks=PARTS, minutes=1)  # the slot after part 20
SLOT = FIRST + dt.timedelta(weeks=PARTS)


@dataclass(frozen=True)
class Case:
    name: str
    late_every: int  # 1 reader in this many is on the front (evergreen) or late (new part)
    evergreen: bool  # no part 21: late joiners only

    def late(self, i: int) -> bool:
        if self.late_every == 0:
            return False
        if self.evergreen:
            return i % self.late_every != 0
        return i % self.late_every == 1

    @property
    def new(self) -> int | None:
        return None if self.evergreen else PARTS + 1


CASES = (
    Case("evergreen, 80 % late", 5, evergreen=True),
    Case("new part, 2 % late", 50, evergreen=False),
    Case("new part, all front", 0, evergreen=False),
)


def position(case: Case, i: int) -> int:
    """Parts 1..p the reader has: a late joiner's spread over 0..20, the front's all."""
    return i % (PARTS + 1) if case.late(i) else PARTS


def joined(case: Case, i: int) -> dt.datetime | None:
    # Late joiners joined earlier the further along they are, so every position is
    # reachable; the front joined before part 1.
    if not case.late(i):
        return None
    return FIRST + dt.timedelta(weeks=PARTS - position(case, i) - 1, days=1)


def address(i: int) -> str:
    return f"reader{i:07d}@example.com"


def readers(case: Case, n: int) -> Iterator[Reader]:
    for i in range(n):
        p = position(case, i)
        last = FIRST + dt.timedelta(weeks=max(p - 1, 0))
        yield Reader(address(i), joined(case, i), frozenset(range(1, p + 1)), frozenset(), last)


def pure(case: Case, n: int) -> SlotPlan:
    return plan_slot(
        readers(case, n),
        released=list(range(1, PARTS + 1)),
        new=case.new,
        slot=SLOT,
        part_one=FIRST,
    )


def build_series(root: Path, case: Case, n: int) -> None:
    (root / "drafts").mkdir(parents=True)
    (root / "seriespub.toml").write_text(
        '[series]\ntitle = "Bench"\nfrom = "A <a@example.com>"\n'
        'unsubscribe_url = "https://example.com/u?t={token}"\n'
        '[delivery]\nprovider = "outbox"\n'
        '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "UTC"\n',
        encoding="utf-8",
    )
    for k in range(1, PARTS + 1 + (case.new is not None)):
        (root / "drafts" / f"{k:02d}-part.md").write_text(
            f"---\ntitle: Part {k}\nstatus: ready\n---\nHello {k}\n", encoding="utf-8"
        )
    with (root / "subscribers.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "name", "status", "subscribed_at"])
        for i in range(n):
            when = joined(case, i)
            since = "2025-12-01" if when is None else when.isoformat()
            out.writerow([address(i), "", "active", since])
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
                address(i),
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
            for k in range(1, position(case, i) + 1)
        )
        conn.executemany("INSERT INTO deliveries VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.close()


def applied(root: Path, new: int | None, *, count_front: bool) -> Callable[[], SlotPlan]:
    series = find_series(explicit=root)

    def run() -> SlotPlan:
        with session(series, "bench", now=NOW, readonly=True) as held:
            return slot_plan(held, drafts_of(series), new, count_front=count_front)[0]

    return run


def dry_round(root: Path) -> Callable[[], SlotPlan]:
    """`send next --dry-run` as a library call: the plan, then each run's own plan and count
    (late joiners' parts, then the front's), nothing sent."""
    series = find_series(explicit=root)

    def run() -> SlotPlan:
        with session(series, "bench", now=NOW, readonly=True) as held:
            outcome = send.send(held, send.SendOptions(dry_run=True), send.SendHooks())
        assert outcome.slot is not None
        return outcome.slot

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


def line(label: str, n: int, figures: tuple[float, float, Any], base: tuple[float, float]) -> str:
    seconds, mb, plan = figures
    counts = plan.counts()
    text = (
        f"  {label:<7}{n:>9,} readers: {seconds:7.3f} s, peak {mb:6.1f} MiB; "
        f"{plan.front:,} front, {len(plan.late):,} late held, {sum(counts.values()):,} get a part"
    )
    if n != 1_000:
        per_reader = (seconds / n) / (base[0] / 1_000)
        text += f"  | vs 1k: memory {mb / base[1]:.2f}×, time per reader {per_reader:.2f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--case", type=int, choices=range(len(CASES)), help="only this case")
    parser.add_argument("--spill", type=int, help="late joiners kept in memory (default: SPILL)")
    args = parser.parse_args()
    n = args.n
    if args.spill is not None:
        tracking.SPILL = args.spill
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES if args.case is None else [CASES[args.case]]:
            print(case.name)
            base: dict[str, tuple[float, float]] = {}
            for count in (1_000, n):
                figures = measure(lambda c=count, k=case: pure(k, c))
                base.setdefault("pure", figures[:2])
                print(line("pure", count, figures, base["pure"]))
                root = Path(tmp) / f"{case.late_every}-{case.evergreen}-{count}"
                started = time.perf_counter()
                build_series(root, case, count)
                built = time.perf_counter() - started
                runs = {
                    "status": applied(root, case.new, count_front=True),
                    "send": applied(root, case.new, count_front=False),
                    "round": dry_round(root),
                }
                for label, run in runs.items():
                    figures = measure(run)
                    base.setdefault(label, figures[:2])
                    print(line(label, count, figures, base[label]))
                print(f"  (series of {count:,} built in {built:.1f} s)")


if __name__ == "__main__":
    main()
