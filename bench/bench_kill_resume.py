"""A real `send next` killed -9 half-way; the resume beside a fresh send of what was left.

Per provider (`--provider`, Postmark by default): its fake in its own process, keeping what it
accepts (tests/fakes for Postmark, Resend, SendGrid and Mailgun; an aiosmtpd server counting
recipients for SMTP; the outbox's own files), and a list of N readers in sign-up order. A
fresh process runs `send next --yes`; once half the readers were accepted it is killed -9,
leaving the batches in flight `pending`. The resume, `send next --yes --json` in a fresh
process, settles them with the provider and sends the rest. Beside it, in the same run, a
fresh send to a list of N/2 readers: the resume costs time proportional to what is left when
the two are close (the resume also reads the whole list once, to find who is left, and
settles the pending batches). Postmark's settle_delay is 0.5 s: the fake indexes at once, and
an author resuming minutes after a kill waits for nothing either. Start-up is excluded from
both, as in bench_e2e.

Checked at the end: every reader recorded once in the ledger, `sent`, or `unknown` where the
provider cannot tell what became of a batch in flight (SendGrid, Mailgun, SMTP: by design;
the count is printed); no reader accepted twice by the server, and every reader recorded sent
accepted. A provider that can settle (Postmark, Resend, the outbox) ends with every reader
sent exactly once.

    python bench/bench_kill_resume.py                          # Postmark, 100,000 readers (~30 s)
    python bench/bench_kill_resume.py --provider all           # each; SMTP at --smtp-n (~2.5 min)
    python bench/bench_kill_resume.py --provider resend --n 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]

import bench_e2e  # noqa: E402
from run import in_child, make_series, this_checkout  # noqa: E402

HTTP = ("postmark", "resend", "sendgrid", "mailgun")
PROVIDERS = (*HTTP, "smtp", "outbox")
CAN_SETTLE = {"postmark", "resend", "outbox"}

# (messages accepted, distinct readers among them), for the series in `folder`.
Tally = Callable[[Path], tuple[int, int]]


def _http_state(name: str) -> Any:
    """The fake's state keeping every message (not the bench mode: it is asked about them)."""
    from fakes.mailgun import MailgunState
    from fakes.postmark import PostmarkState
    from fakes.resend import ResendState
    from fakes.sendgrid import SendgridState

    return {
        "postmark": PostmarkState,
        "sendgrid": SendgridState,
        "mailgun": lambda: MailgunState(api_key="key-bench", domain="mg.example.com"),
        "resend": lambda: ResendState(api_key="re_bench"),
    }[name]()


def _http_tally(name: str, state: Any) -> tuple[int, int]:
    if name == "postmark":
        addresses = [m["_to"] for m in list(state.accepted)]
        return len(addresses), len(set(addresses))
    if name == "sendgrid":
        addresses = [m["to"].lower() for m in list(state.accepted)]
        return len(addresses), len(set(addresses))
    per_reader = [len(v) for v in list(state.accepted.values())]  # Resend, Mailgun
    return sum(per_reader), sum(1 for c in per_reader if c)


def _http_main(name: str, conn: Connection) -> None:
    """Child process: the fake of `name`; answers 'take' with its tally."""
    from fakes.httpserver import serve

    handler = bench_e2e._cases()[name]["handler"]
    with serve(handler, _http_state(name)) as (url, state):
        if hasattr(state, "base_url"):
            state.base_url = url
        conn.send(url)
        while conn.recv() != "stop":
            conn.send(_http_tally(name, state))


def _smtp_main(conn: Connection) -> None:
    """Child process: an aiosmtpd server counting each message's recipients."""
    from aiosmtpd.controller import Controller

    lock = threading.Lock()
    messages = [0]
    readers: set[str] = set()

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with lock:
                messages[0] += len(envelope.rcpt_tos)
                readers.update(r.lower() for r in envelope.rcpt_tos)
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        conn.send(port)
        while conn.recv() != "stop":
            with lock:
                conn.send((messages[0], len(readers)))
    finally:
        controller.stop()


def _outbox_tally(folder: Path) -> tuple[int, int]:
    """Files of part 1 in the outbox; a file is named by its delivery id, one per reader."""
    try:
        names = os.listdir(folder / ".seriespub" / "outbox" / "001")
    except FileNotFoundError:
        return 0, 0
    files = sum(name.endswith(".eml") for name in names)
    return files, files


@contextmanager
def provider(name: str) -> Iterator[tuple[str, dict[str, str], Tally]]:
    """(the series' [delivery] text, the environment it needs, its tally) for `name`."""
    head = f'[delivery]\nprovider = "{name}"\n'
    if name == "outbox":
        yield head, {}, _outbox_tally
        return
    if name == "smtp":
        with in_child(_smtp_main) as (port, ask):
            toml = f'[delivery.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            yield head + toml, {}, lambda _folder: tuple(ask("take"))
        return
    case = bench_e2e._cases()[name]
    with in_child(_http_main, name) as (url, ask):
        # Postmark's fake shows a message in its search at once: the resume need not wait
        # out Postmark's indexing (settle_delay, 10 s by default) as one right after a kill.
        extra = "settle_delay = 0.5\n" if name == "postmark" else ""
        toml = f"[delivery.{name}]\n{extra}" + case["toml"].format(url=url)
        yield head + toml, case["env"], lambda _folder: tuple(ask("take"))


def environment(env: dict[str, str]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return this_checkout({**environ, "SERIESPUB_SECRET": bench_e2e.SECRET, **env})


def kill_half_way(folder: Path, n: int, env: dict[str, str], tally: Tally) -> int:
    """Run `send next` and SIGKILL it once half the readers were accepted; returns how many
    had been by then."""
    child = subprocess.Popen(
        [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
        cwd=folder,
        env=environment(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    taken = 0
    while taken < n // 2 and child.poll() is None:
        taken = tally(folder)[0]
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    if taken < n // 2:
        raise SystemExit(f"send next ended after {taken:,} readers, before half-way")
    return taken


def run(folder: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    """`seriespub ARGS` in a fresh process, timed as bench_e2e times it (start-up excluded):
    its exit code, its time and, when it printed one, its JSON report."""
    done = subprocess.run(
        [sys.executable, "-c", bench_e2e.WRAPPER, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env=environment(env),
    )
    try:
        timing = json.loads(done.stderr.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"{' '.join(args)} failed in {folder}:\n{done.stderr[-2000:]}") from None
    try:
        report: dict[str, Any] = json.loads(done.stdout) if "--json" in args else {}
    except json.JSONDecodeError:
        raise SystemExit(f"{' '.join(args)} failed in {folder}:\n{done.stderr[-2000:]}") from None
    return {**report, "whole_seconds": timing["seconds"], "code": timing["code"]}


def send_next(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    report = run(folder, env, "send", "next", "--yes", "--json")
    if report["code"] != 0 and not report.get("unknown"):
        raise SystemExit(f"send next failed in {folder}: {report}")
    return report


def resume(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """The author's resume: `send next`; where it ended on unknown deliveries (a provider
    that cannot tell what became of the batches in flight), `send settle 1
    --assume-delivered` and `send next` again, as README's "Faults we test" does. The
    report of the first run, with `unknown` from it and the time of all."""
    first = send_next(folder, env)
    if not first.get("unknown"):
        return first
    decided = run(folder, env, "send", "settle", "1", "--assume-delivered")
    if decided["code"] != 0:
        raise SystemExit(f"send settle failed in {folder}: {decided}")
    rest = send_next(folder, env)
    return {
        **first,
        "sent": first["sent"] + rest.get("sent", 0),
        "whole_seconds": first["whole_seconds"] + decided["whole_seconds"] + rest["whole_seconds"],
        "steps": (first["whole_seconds"], decided["whole_seconds"], rest["whole_seconds"]),
    }


def recorded(folder: Path) -> dict[str, int]:
    """Part 1's deliveries per status, and `rows`/`distinct`: rows and addresses in all."""
    with sqlite3.connect(
        f"{(folder / '.seriespub' / 'ledger.db').as_uri()}?mode=ro", uri=True
    ) as conn:
        counts = dict(
            conn.execute(
                "SELECT status, count(*) FROM deliveries WHERE instalment=1 GROUP BY status"
            ).fetchall()
        )
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT lower(email)) FROM deliveries WHERE instalment=1"
        ).fetchone()
    return {**counts, "rows": int(rows), "distinct": int(distinct)}


def bench(name: str, n: int, where: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=where) as tmp, provider(name) as (toml, env, tally):
        killed = make_series(Path(tmp) / "killed", n, toml, "signup")
        taken = kill_half_way(killed, n, env, tally)
        resumed = resume(killed, env)
        messages, readers = tally(killed)
        ledger = recorded(killed)
        fresh = send_next(make_series(Path(tmp) / "half", n // 2, toml, "signup"), env)
    return {
        "provider": name,
        "n": n,
        "taken": taken,
        "resumed": resumed,
        "fresh": fresh,
        "ratio": resumed["whole_seconds"] / fresh["whole_seconds"],
        "messages": messages,
        "readers": readers,
        "ledger": ledger,
    }


def problems(row: dict[str, Any]) -> list[str]:
    """What is wrong with the end state: [] when every reader is recorded once, none was
    accepted twice, every one recorded sent was accepted (all of them, for a provider that
    can settle)."""
    n, ledger = row["n"], row["ledger"]
    sent, unknown = ledger.get("sent", 0), row["resumed"].get("unknown", 0)
    found = []
    if ledger["rows"] != n or ledger["distinct"] != n or sent != n:
        found.append(f"the ledger: {ledger}")
    if row["messages"] != row["readers"]:
        found.append(f"{row['messages'] - row['readers']:,} readers accepted twice")
    if row["readers"] < sent - unknown or row["readers"] > n:
        found.append(f"{row['readers']:,} readers accepted, {sent - unknown:,} sent for sure")
    if row["provider"] in CAN_SETTLE and (unknown or row["readers"] != n):
        found.append(f"{unknown:,} unknown, {row['readers']:,} accepted of {n:,}")
    return found


def line(row: dict[str, Any]) -> str:
    n, resumed, fresh, ledger = row["n"], row["resumed"], row["fresh"], row["ledger"]
    unknown = resumed.get("unknown", 0)
    how = (
        f"; {unknown:,} unknown, assumed delivered (send settle), then send next"
        f" ({' + '.join(f'{t:.2f}' for t in resumed['steps'])} s)"
        if unknown
        else ""
    )
    return (
        f"{row['provider']:<8} kill -9 at {row['taken']:,} of {n:,} ({row['taken'] / n:.0%}); "
        f"the resume settled {resumed['settled']:,}{how}, sent {resumed['sent']:,} in "
        f"{resumed['whole_seconds']:.2f} s; a fresh send to {n // 2:,} took "
        f"{fresh['whole_seconds']:.2f} s: the resume at {row['ratio']:.2f}× (≈ 1: "
        f"proportional to what was left); the ledger: {ledger.get('sent', 0):,} sent of "
        f"{ledger['distinct']:,} readers; the server accepted {row['messages']:,} messages "
        f"for {row['readers']:,} readers ({n - row['readers']:,} never arrived)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="readers")
    parser.add_argument("--smtp-n", type=int, default=5_000, help="readers for SMTP")
    parser.add_argument(
        "--provider", action="append", choices=[*PROVIDERS, "all"], help="default: postmark"
    )
    args = parser.parse_args()
    names = args.provider or ["postmark"]
    where = Path("/dev/shm") if Path("/dev/shm").is_dir() else BENCH
    failed = False
    for name in PROVIDERS if "all" in names else dict.fromkeys(names):
        row = bench(name, args.smtp_n if name == "smtp" else args.n, where)
        print(line(row), flush=True)
        for problem in problems(row):
            failed = True
            print(f"  {name}: {problem}", flush=True)
    if failed:
        raise SystemExit("not every reader recorded once, and accepted at most once")


if __name__ == "__main__":
    main()
