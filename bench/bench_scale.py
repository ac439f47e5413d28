"""Wall time and peak memory of every command issue 13 names, at 1k readers (the reference,
measured in the same run) and at 10k and 100k (and, with --million, 1M).

For each size it builds a series (the repository's two example instalments, both ready; a
weekly [schedule] whose slots are all past; SendGrid as the provider, its fake from
tests/fakes served on 127.0.0.1 in its own process in bench mode: requests are parsed and
validated, then only counted), with 1 % of the readers on the fake's bounce list. The list is
in sign-up order (addresses in no alphabetical order, as a real list's are; `--order csv`:
reader0, reader1, …, nearly the ledger's own key order, which costs its writes far less).
Then, each command in its own fresh process, in this order:

    check · status · subscribers list · subscribers list --json · send next --dry-run ·
    subscribers add · subscribers remove · subscribers import (1,000 rows, half present) ·
    subscribers sync (1 % bounced, pulled in pages of 500) · send due (part 1, due by the
    calendar, to every reader) · send next (part 2) · log 1 --failed · log 1 · log 1 --json ·
    log (the run log) · status (after: 2 deliveries per reader in the ledger)

Between `send next` and the `log` commands, 1 % of part 1's deliveries are marked failed in
the ledger directly (as bounces would), so `log 1 --failed` has rows to list; this is not
timed. Peak RSS is the child's own (VmHWM at its exit, printed by a small wrapper); the time
per row is the command's own (from just before the CLI runs to its end: start-up excluded,
lazy imports included), wall includes start-up.

Prints, per command: wall and peak RSS at each size; then memory at each size vs 1k
(target ≤ 1.5×) and the time per reader at each size ≥ 100k vs 10k (≤ 1 means no worse than
linear; commands that do not read the whole list or ledger, such as `log` of the run log,
are start-up only, so their figure falls with size). Also the ledger's size per delivery.

    python bench/bench_scale.py                 # 1k, 10k, 100k (~30 s on 2 shared cores)
    python bench/bench_scale.py --million       # also 1M (~2.5 min; ~60 MB of CSV and ~360 MB
                                                # of ledger on /dev/shm)
    python bench/bench_scale.py --sizes 1000 20000 --only status "log 1"
    python bench/bench_scale.py --late-joiners current   # without the per-reader planner
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]
from run import LIST_ORDERS, in_child, make_series, this_checkout  # noqa: E402

SECRET = "bench-" + "0" * 40
REFERENCE = 1_000  # memory is compared with this size, time per reader with 10k
ALWAYS = {"subscribers sync", "send due", "send next"}  # the state later commands read
# Runs the CLI in this process; on stderr's last line its own time and peak RSS.
WRAPPER = """
import json, resource, sys, time
started = time.perf_counter()
from seriespub.cli import app
imported = time.perf_counter()
def peak():
    # VmHWM is this program's own high-water mark; ru_maxrss survives exec on Linux and
    # would report a large parent's size
    try:
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
code = 0
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
sys.stdout.flush()
print(json.dumps({"maxrss_mb": peak(), "code": code,
                  "seconds": time.perf_counter() - imported}), file=sys.stderr)
"""
SCHEDULE = (
    '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\nevery_weeks = 1\n'
)


# -- the SendGrid fake, in its own process ------------------------------------------------------


def _fake_main(bounced: list[str], conn: Connection) -> None:
    from fakes.httpserver import serve
    from fakes.sendgrid import SendgridHandler, SendgridState

    state = SendgridState(bench=True)
    state.suppressions["bounces"] = [
        {"email": e, "reason": "550 no such user", "created": 1767225600} for e in bounced
    ]
    with serve(SendgridHandler, state) as (url, _):
        conn.send(url)
        while conn.recv() != "stop":
            conn.send(state.sent_count)


@contextmanager
def sendgrid_fake(bounced: list[str]) -> Iterator[tuple[str, Callable[[str], int]]]:
    """SendGrid's fake (bench mode) with `bounced` on its bounce list; yields its URL and
    `ask`, whose every command answers the messages it has taken."""
    with in_child(_fake_main, bounced) as (url, ask):
        yield url, ask


# -- the series -----------------------------------------------------------------------------------


def series(
    folder: Path, size: int, url: str, late_joiners: str = "from_start", order: str = "signup"
) -> Path:
    delivery = (
        f'[delivery]\nprovider = "sendgrid"\n[delivery.sendgrid]\napi_url = "{url}"\n\n' + SCHEDULE
    )
    make_series(folder, size, delivery, order)
    toml = folder / "seriespub.toml"
    toml.write_text(
        toml.read_text().replace("[series]\n", f'[series]\nlate_joiners = "{late_joiners}"\n', 1)
    )
    second = (BENCH.parent / "drafts" / "02-exceptional-norms.md").read_text(encoding="utf-8")
    (folder / "drafts" / "02-exceptional-norms.md").write_text(
        second.replace("status: draft", "status: ready", 1), encoding="utf-8"
    )
    return folder


def bounced(size: int) -> list[str]:
    """1 % of the readers (make_series' addresses)."""
    return [f"reader{i}@example.com" for i in range(0, size, 100)]


def import_source(path: Path, size: int) -> Path:
    """1,000 rows for `subscribers import`: half already in the list, half new."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email Address", "First Name", "Last Name"])
        for i in range(500):
            writer.writerow([f"reader{i * max(1, size // 500)}@example.com", "Old", "Reader"])
            writer.writerow([f"newcomer{i}@example.org", "New", "Reader"])
    return path


def fail_one_percent(folder: Path, number: int) -> int:
    """Mark 1 % of part `number`'s deliveries failed, as bounces would (setup, not timed)."""
    conn = sqlite3.connect(folder / ".seriespub" / "ledger.db")
    with conn:
        done = conn.execute(
            "UPDATE deliveries SET status='failed', reason='550 5.1.1 no such user' "
            "WHERE instalment=? AND email LIKE '%07@example.com' AND email LIKE 'reader%'",
            (number,),
        )
    conn.close()
    return done.rowcount


def ledger_size(folder: Path) -> dict[str, float]:
    """The ledger's bytes (folded: a send checkpoints its WAL) and its deliveries."""
    path = folder / ".seriespub" / "ledger.db"
    conn = sqlite3.connect(path)
    (count,) = conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()
    conn.close()
    return {"bytes": path.stat().st_size, "deliveries": count}


def commands(source: Path) -> list[tuple[str, list[str]]]:
    return [
        ("check", ["check"]),
        ("status", ["status"]),
        ("subscribers list", ["subscribers", "list"]),
        ("subscribers list --json", ["subscribers", "list", "--json"]),
        ("send next --dry-run", ["send", "next", "--dry-run"]),
        ("subscribers add", ["subscribers", "add", "someone.new@example.net", "--name", "New"]),
        ("subscribers remove", ["subscribers", "remove", "someone.new@example.net"]),
        ("subscribers import", ["subscribers", "import", str(source)]),
        ("subscribers sync", ["subscribers", "sync"]),
        ("send due", ["send", "due"]),
        ("send next", ["send", "next", "--yes"]),
        ("log 1 --failed", ["log", "1", "--failed"]),
        ("log 1", ["log", "1"]),
        ("log 1 --json", ["log", "1", "--json"]),
        ("log", ["log"]),
        ("status (after)", ["status"]),
    ]


def run(folder: Path, args: list[str]) -> dict[str, float]:
    """One command in a fresh process: wall (start-up included), own time and peak RSS."""
    from fakes.sendgrid import API_KEY

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(SERIESPUB_SECRET=SECRET, SENDGRID_API_KEY=API_KEY)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=folder,
        env=this_checkout(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - started
    report = json.loads(done.stderr.strip().splitlines()[-1])
    if report["code"] not in (0, None) and args[0] != "check":  # check exits 1 on warnings
        raise SystemExit(f"{' '.join(args)} failed in {folder}:\n{done.stderr[-2000:]}")
    return {"wall": wall, "seconds": report["seconds"], "rss_mb": report["maxrss_mb"]}


Table = dict[int, dict[str, dict[str, float]]]


def measure(
    size: int, where: Path, only: set[str], late_joiners: str, order: str = "signup"
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(dir=where) as tmp,
        sendgrid_fake(bounced(size)) as (url, fake),
    ):
        folder = series(Path(tmp) / "series", size, url, late_joiners, order)
        source = import_source(Path(tmp) / "export.csv", size)
        for label, args in commands(source):
            if label == "log 1 --failed":
                fail_one_percent(folder, 1)
            if only and label not in only | ALWAYS:
                continue
            results[label] = run(folder, args)
            print(
                f"  {size:>9,}  {label:<26} {results[label]['wall']:7.2f} s "
                f"{results[label]['rss_mb']:7.0f} MB",
                flush=True,
            )
        results["(ledger)"] = {**ledger_size(folder), "accepted": fake("count")}
    return results


def summary(table: Table) -> list[str]:
    """Per command: wall and peak RSS at each size; peak RSS at each size vs the reference,
    and the time per reader at each size from 100k on vs 10k."""
    sizes = sorted(table)
    small = sizes[0]
    big = [s for s in sizes if s >= 100_000 and 10_000 in table]
    lines = [
        f"{'command':<25}"
        + "".join(f"{s:>15,}" for s in sizes)
        + "".join(f"{'mem ' + _short(s):>10}" for s in sizes[1:])
        + "".join(f"{'t/row ' + _short(s):>12}" for s in big)
    ]
    for label in (k for k in table[small] if not k.startswith("(")):
        have = [s for s in sizes if label in table[s]]
        cells = "".join(
            f"{table[s][label]['wall']:7.2f}s{table[s][label]['rss_mb']:6.0f}M"
            if s in have
            else f"{'—':>15}"
            for s in sizes
        )
        memory = "".join(
            f"{table[s][label]['rss_mb'] / table[small][label]['rss_mb']:9.2f}×"
            if s in have
            else f"{'—':>10}"
            for s in sizes[1:]
        )
        per_row = "".join(
            f"{_per_row(table, label, s):11.2f}×" if s in have else f"{'—':>12}" for s in big
        )
        lines.append(f"{label:<25}{cells}{memory}{per_row}")
    for s in sizes:
        ledger = table[s].get("(ledger)")
        if ledger:
            lines.append(
                f"ledger at {s:,} readers: {ledger['deliveries']:,.0f} deliveries "
                f"({ledger['accepted']:,.0f} accepted by the fake), {ledger['bytes'] / 1e6:.1f} "
                f"MB, {ledger['bytes'] / ledger['deliveries']:.0f} B a delivery"
            )
    return lines


def _per_row(table: Table, label: str, size: int) -> float:
    """The command's own time per reader at `size` vs at 10k (1: exactly linear)."""
    return (table[size][label]["seconds"] / size) / (table[10_000][label]["seconds"] / 10_000)


def _short(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1_000}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 readers")
    parser.add_argument("--sizes", type=int, nargs="*", help="explicit sizes (first = reference)")
    parser.add_argument(
        "--only", nargs="*", default=[], help="only these commands (sync and the sends always run)"
    )
    parser.add_argument(
        "--late-joiners",
        choices=["from_start", "current"],
        default="from_start",
        help="the series' late_joiners (current: no per-reader tracks planned)",
    )
    parser.add_argument(
        "--order",
        choices=LIST_ORDERS,
        default="signup",
        help="the list's order: as people signed up (default; addresses in no alphabetical "
        "order), or reader0, reader1, … (the ledger's own key order, as before 2026-11-29)",
    )
    args = parser.parse_args()
    sizes = args.sizes or [REFERENCE, 10_000, 100_000, *([1_000_000] if args.million else [])]
    where = Path("/dev/shm") if Path("/dev/shm").is_dir() else BENCH
    # Bytecode first, as installed: a child that compiles a module peaks ~1 MB higher.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(BENCH.parent / "src" / "seriespub")],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    started = time.perf_counter()
    table = {
        size: measure(size, where, set(args.only), args.late_joiners, args.order) for size in sizes
    }
    print(
        f"\nscale, late_joiners = {args.late_joiners}, list in {args.order} order, "
        f"{time.perf_counter() - started:.0f} s in "
        "all (per size: wall incl. start-up "
        "and peak RSS; peak RSS vs the first size; the command's own time per reader vs 10k)"
    )
    for line in summary(table):
        print(line)


if __name__ == "__main__":
    main()
