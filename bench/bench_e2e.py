"""The whole `seriespub send next`, per provider, beside the ceiling of the same server.

For each HTTP provider (Postmark, SendGrid, Mailgun, Resend) its fake from tests/fakes runs in
its own process and records the first few POST requests seriespub makes; a fresh process runs
`seriespub send next --yes --json` on a series of N readers (the example instalment). The
ceiling then replays the same requests (round-robin over those recorded, as many as seriespub
made, on as many threads as the adapter uses) with a warm bare httpx client to the same fake.
For SMTP, `send next` to an aiosmtpd Sink (own process) against pre-serialised messages sent
over the same number of connections, and against mailmerge (as bench/bench_smtp.py runs it).

Beside the ceiling, the *floor with a per-reader record* (`floor`): the same warm bare client
replaying the same requests on the same threads, plus the least any sender that promises
exactly-once per reader must do around each request: stream that batch's readers from the
series' subscribers.csv, record a `pending` row per reader in SQLite (seriespub's deliveries
table and settings) in one transaction before the request, and mark each settled in one
transaction after the answer. Where seriespub is far from the ceiling but near the floor, the
gap is the record, not seriespub.

seriespub's time excludes start-up (the interpreter, importing the CLI and the command's own
module, `seriespub.cli.send`, which the CLI imports only when `send` runs): from just before
the command runs to its exit, so importing httpx and the provider, building the client,
rendering, planning, the ledger and the list are all in it. Prints messages/s for each and
the ratios (target ≥ 0.8 of the ceiling; SMTP also ≥ 5× mailmerge).

The list is in sign-up order (addresses in no alphabetical order, as a real list's are);
`--order csv` lists reader0, reader1, … as earlier versions of this bench did, which writes
the ledger's pages in nearly its own key order and hides what a real list costs it.

    python bench/bench_e2e.py                   # 20,000 readers, 3 rounds each, SMTP 2,000 (~3 min)
    python bench/bench_e2e.py --n 5000 --provider postmark
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import importlib
import json
import os
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]

from run import LIST_ORDERS, in_child, make_series, this_checkout  # noqa: E402

KEEP = 16  # requests recorded for the replay (bodies of ~6 MB each for Postmark)
SECRET = "bench-" + "0" * 40
SKIP_HEADERS = {"host", "content-length", "connection", "accept-encoding"}

# The command, timed from just before it runs; the report and the time on stderr's last line.
WRAPPER = """
import json, sys, time
from seriespub.cli import app
import seriespub.cli.send  # the command's module: start-up, as the CLI itself
started = time.perf_counter()
code = 0
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
sys.stdout.flush()
print(json.dumps({"code": code, "seconds": time.perf_counter() - started}), file=sys.stderr)
"""


def _cases() -> dict[str, dict[str, Any]]:
    from fakes.mailgun import MailgunHandler, MailgunState
    from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState
    from fakes.resend import ResendHandler, ResendState
    from fakes.sendgrid import API_KEY, SendgridHandler, SendgridState

    return {
        "postmark": {
            "handler": PostmarkHandler,
            "state": lambda: PostmarkState(bench=True),
            "env": {"POSTMARK_SERVER_TOKEN": TOKEN},
            "toml": 'api_url = "{url}"\nmessage_stream = "outbound"\n',
        },
        "sendgrid": {
            "handler": SendgridHandler,
            "state": lambda: SendgridState(bench=True),
            "env": {"SENDGRID_API_KEY": API_KEY},
            "toml": 'api_url = "{url}"\n',
        },
        "mailgun": {
            "handler": MailgunHandler,
            "state": lambda: MailgunState(api_key="key-bench", domain="mg.example.com"),
            "env": {"MAILGUN_API_KEY": "key-bench"},
            "toml": 'domain = "mg.example.com"\napi_url = "{url}"\n',
        },
        "resend": {
            "handler": ResendHandler,
            "state": lambda: ResendState(api_key="re_bench"),
            "env": {"RESEND_API_KEY": "re_bench"},
            "toml": 'api_url = "{url}"\n',
        },
    }


PROVIDERS = ("postmark", "sendgrid", "mailgun", "resend")


def _fake_main(name: str, conn: Connection) -> None:
    """Child process: serve the fake, recording POSTs; answer 'take' (count, recorded)."""
    from fakes.httpserver import serve

    case = _cases()[name]
    lock = threading.Lock()
    seen: dict[str, Any] = {"count": 0, "kept": []}

    class Recording(case["handler"]):  # type: ignore[misc,name-defined]
        def handle_request(
            self, method: str, path: str, headers: dict[str, str], body: bytes
        ) -> Any:
            if method == "POST":
                with lock:
                    seen["count"] += 1
                    if len(seen["kept"]) < KEEP:
                        seen["kept"].append((path, headers, body))
            return super().handle_request(method, path, headers, body)

    with serve(Recording, case["state"]()) as (url, state):
        if hasattr(state, "base_url"):
            state.base_url = url
        conn.send(url)
        while conn.recv() != "stop":
            with lock:
                conn.send((seen["count"], seen["kept"]))
                seen.update(count=0, kept=[])


@contextmanager
def _fake(name: str) -> Iterator[tuple[str, Callable[[], tuple[int, list[Any]]]]]:
    """Provider `name`'s fake in its own process; yields (url, take): the POSTs since the
    last take, (count, the first KEEP recorded)."""
    with in_child(_fake_main, name) as (url, ask):
        yield url, lambda: ask("take")


def send_next(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """`send next --yes --json` in a fresh process: its report and its time (no start-up)."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, "send", "next", "--yes", "--json"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=this_checkout({**environ, "SERIESPUB_SECRET": SECRET, **env}),
    )
    timing = json.loads(done.stderr.strip().splitlines()[-1])
    if timing["code"] != 0:
        raise SystemExit(f"send next failed in {folder}:\n{done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    report["whole_seconds"] = timing["seconds"]
    return report


def concurrency(name: str) -> int:
    module = importlib.import_module(f"seriespub.providers.{name}")
    adapter = next(
        v for v in vars(module).values() if isinstance(v, type) and getattr(v, "name", None) == name
    )
    return int(adapter.concurrency)


@contextmanager
def _replayer(url: str, requests: list[Any], threads: int) -> Iterator[Callable[[int], None]]:
    """`post(i)`: the i-th request, round-robin from `requests`, from a bare client whose
    `threads` connections are already open."""
    prepared = [
        (path, {k: v for k, v in headers.items() if k not in SKIP_HEADERS}, body)
        for path, headers, body in requests
    ]
    serial = iter(range(1 << 62))
    lock = threading.Lock()
    with httpx.Client(
        base_url=url, timeout=120.0, limits=httpx.Limits(max_connections=threads)
    ) as client:

        def post(i: int) -> None:
            path, headers, body = prepared[i % len(prepared)]
            if "idempotency-key" in headers:  # the same key twice is a replay, not work
                with lock:
                    headers = {**headers, "idempotency-key": f"ceiling-{next(serial)}"}
            client.post(path, content=body, headers=headers).raise_for_status()

        with ThreadPoolExecutor(threads) as pool:  # warm every connection
            list(pool.map(post, range(threads)))
        yield post


def replay(url: str, requests: list[Any], count: int, threads: int) -> float:
    """Seconds for a warm bare client to post `count` requests round-robin from `requests`."""
    with _replayer(url, requests, threads) as post:
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post, range(count)))
        return time.perf_counter() - start


# -- the floor with a per-reader record ----------------------------------------------------------
# A reference, not a second sender: the least bookkeeping any exactly-once sender does per
# batch, around the ceiling's own requests. No validation, no tokens, no delivery ids, no bodies
# built, no per-reader outcome read from the answer (every reader is marked sent): each of
# those would only lower the floor. SQLite as seriespub's ledger has it (ledgerfile.py): WAL,
# synchronous=NORMAL, wal_autocheckpoint=10000, autocommit with explicit transactions, and
# the same tables (`ledgerfile.SCHEMA`: the deliveries table and its indexes).
_FLOOR_PENDING = (
    "INSERT INTO deliveries(instalment, email, status, batch_key, provider, attempts, "
    "updated_at) VALUES(1, ?, 'pending', ?, ?, 1, ?)"
)
_FLOOR_SETTLED = "UPDATE deliveries SET status='sent', updated_at=? WHERE instalment=1 AND email=?"


def _floor_ledger(path: Path) -> sqlite3.Connection:
    from seriespub.ledgerfile import SCHEMA  # the table shape only, not seriespub's code

    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=10000")
    conn.executescript(SCHEMA)
    return conn


def _in_one_transaction(
    conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[str, ...]]
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")


def floor(
    url: str,
    requests: list[Any],
    count: int,
    threads: int,
    readers: Path,
    ledger: Path,
    batch: int,
) -> float:
    """Seconds for the ceiling's `count` requests on `threads` threads, each with the next
    `batch` readers streamed from `readers` (subscribers.csv), recorded `pending` in `ledger`
    before its request and settled after its answer. The main thread keeps the record, as
    seriespub's does: at most `threads` requests in flight, none queued once pending. Timed
    as the ceiling is, from warm connections (and here an empty ledger already open)."""
    conn = _floor_ledger(ledger)
    inflight: dict[cf.Future[None], list[str]] = {}

    def settle_first_done() -> None:
        done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
        for future in done:
            future.result()
            now = time.strftime("%Y-%m-%dT%H:%M:%S")
            _in_one_transaction(conn, _FLOOR_SETTLED, [(now, e) for e in inflight.pop(future)])

    with (
        _replayer(url, requests, threads) as post,
        ThreadPoolExecutor(threads) as pool,
        open(readers, newline="") as handle,
    ):
        start = time.perf_counter()
        rows = csv.reader(handle)
        next(rows)  # the header
        for i in range(count):
            emails = [row[0] for row in islice(rows, batch)]
            while len(inflight) >= threads:
                settle_first_done()
            now = time.strftime("%Y-%m-%dT%H:%M:%S")
            _in_one_transaction(
                conn, _FLOOR_PENDING, [(e, f"floor-{i}", "bench", now) for e in emails]
            )
            inflight[pool.submit(post, i)] = emails
        while inflight:
            settle_first_done()
        seconds = time.perf_counter() - start
        assert next(rows, None) is None, "readers left over"
    (unsettled,) = conn.execute("SELECT count(*) FROM deliveries WHERE status!='sent'").fetchone()
    conn.close()
    assert unsettled == 0, unsettled
    return seconds


def bench_http(
    name: str, n: int, where: Path, runs: int = 3, order: str = "signup"
) -> dict[str, Any]:
    """`runs` rounds of (seriespub's whole send next on a fresh series, then the ceiling
    and the floor over the same server): medians of each, and the spread of the per-round
    ratios (this machine is shared; one round can swing ±15 %)."""
    case = _cases()[name]
    ours: list[float] = []
    phases: list[float] = []
    ceilings: list[float] = []
    floors: list[float] = []
    threads = concurrency(name)
    for _ in range(runs):
        # Each measured against a fresh fake (some keep every message they take, and a
        # fuller one is slower): ours records the requests the ceiling then replays.
        with tempfile.TemporaryDirectory(dir=where) as tmp:
            with _fake(name) as (url, take):
                delivery = f'[delivery]\nprovider = "{name}"\n[delivery.{name}]\n' + case[
                    "toml"
                ].format(url=url)
                folder = make_series(Path(tmp) / "series", n, delivery, order)
                report = send_next(folder, case["env"])
                count, requests = take()
                assert report["sent"] == n, report
            with _fake(name) as (url, take):
                ceilings.append(replay(url, requests, count, threads))
                take()
            with _fake(name) as (url, take):
                readers, ledger = folder / "subscribers.csv", Path(tmp) / "floor.db"
                batch = -(-n // count)  # readers a request, as seriespub sent them
                floors.append(floor(url, requests, count, threads, readers, ledger, batch))
                take()
        ours.append(report["whole_seconds"])
        phases.append(report["seconds"])
    ratios = [c / o for o, c in zip(ours, ceilings, strict=True)]
    floor_ratios = [c / f for f, c in zip(floors, ceilings, strict=True)]
    return {
        "provider": name,
        "n": n,
        "requests": count,
        "ours": n / statistics.median(ours),
        "send_phase": n / statistics.median(phases),
        "ceiling": n / statistics.median(ceilings),
        "ratio": statistics.median(ceilings) / statistics.median(ours),
        "spread": (min(ratios), max(ratios)),
        "floor": n / statistics.median(floors),
        "floor_of_ceiling": statistics.median(ceilings) / statistics.median(floors),
        "floor_spread": (min(floor_ratios), max(floor_ratios)),
        "ours_of_floor": statistics.median(floors) / statistics.median(ours),
        "runs": runs,
        "order": order,
    }


# -- SMTP ---------------------------------------------------------------------------------------


def bench_smtp(n: int, where: Path) -> dict[str, Any]:
    import bench_smtp
    from seriespub.message import PreparedMessage
    from seriespub.providers.smtp import crlf

    threads = concurrency("smtp")
    with bench_smtp.sink_server() as port, tempfile.TemporaryDirectory(dir=where) as tmp:
        folder = make_series(
            Path(tmp) / "series",
            n,
            (
                f'[delivery]\nprovider = "smtp"\n[delivery.smtp]\nhost = "127.0.0.1"\n'
                f'port = {port}\nsecurity = "none"\n'
            ),
        )
        report = send_next(folder, {})
        assert report["sent"] == n, report
        message: PreparedMessage = bench_smtp.prepared()
        recipients = bench_smtp.make_recipients(message, n)
        data = [(r.email, crlf(message.mime_for(r))) for r in recipients]

        def connection(part: int) -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as conn:
                for address, body in data[part::threads]:
                    conn.sendmail(message.from_email, [address], body)

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(connection, range(threads)))
        ceiling = time.perf_counter() - start
        program = bench_smtp.mailmerge_program()
        mailmerge = (
            bench_smtp.mailmerge(program, port, recipients, Path(tmp))[0] if program else None
        )
    ours = n / report["whole_seconds"]
    return {
        "provider": "smtp",
        "n": n,
        "requests": n,
        "ours": ours,
        "send_phase": n / report["seconds"],
        "ceiling": n / ceiling,
        "ratio": ours / (n / ceiling),
        **({"mailmerge": mailmerge, "vs_mailmerge": ours / mailmerge} if mailmerge else {}),
    }


def line(row: dict[str, Any]) -> str:
    text = (
        f"e2e {row['provider']:<9} send next to {row['n']:,}"
        + (f" (list in {row['order']} order)" if "order" in row else "")
        + f" ({row['requests']:,} requests):"
        f" {row['ours']:,.0f} msg/s (send phase {row['send_phase']:,.0f}) vs ceiling "
        f"{row['ceiling']:,.0f} msg/s: {row['ratio']:.2f} (target ≥ 0.8)"
    )
    if "spread" in row:
        low, high = row["spread"]
        text += f" [medians of {row['runs']} rounds; per round {low:.2f}–{high:.2f}]"
    if "floor" in row:
        text += (
            f"; floor with a per-reader record {row['floor']:,.0f} msg/s:"
            f" {row['floor_of_ceiling']:.2f} of the ceiling"
            f" [per round {row['floor_spread'][0]:.2f}–{row['floor_spread'][1]:.2f}]; seriespub"
            f" {row['ours_of_floor']:.2f} of the floor"
        )
    if "mailmerge" in row:
        text += (
            f"; mailmerge {row['mailmerge']:,.0f} msg/s: {row['vs_mailmerge']:.1f}× (target ≥ 5×)"
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="readers per HTTP provider")
    parser.add_argument("--smtp-n", type=int, default=2_000, help="readers for SMTP")
    parser.add_argument("--provider", action="append", choices=[*PROVIDERS, "smtp"])
    parser.add_argument("--runs", type=int, default=3, help="rounds per HTTP provider (medians)")
    parser.add_argument(
        "--order",
        choices=LIST_ORDERS,
        default="signup",
        help="the list's order: as people signed up (default), or reader0, reader1, …",
    )
    args = parser.parse_args()
    where = Path("/dev/shm") if Path("/dev/shm").is_dir() else BENCH
    for name in args.provider or [*PROVIDERS, "smtp"]:
        row = (
            bench_smtp(args.smtp_n, where)
            if name == "smtp"
            else bench_http(name, args.n, where, args.runs, args.order)
        )
        print(line(row), flush=True)


if __name__ == "__main__":
    main()
