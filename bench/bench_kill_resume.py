"""A real `send next` killed -9 half-way; the resume beside a fresh send of what was left.

Postmark's fake (tests/fakes, in its own process, keeping what it accepts: Postmark can be
asked what became of a batch) and a list of N readers in sign-up order. A fresh process runs
`send next --yes`; once the fake has accepted half the readers it is killed -9, leaving the
batches in flight `pending`. The resume, `send next --yes --json` in a fresh process, settles
them with the provider and sends the rest. Beside it, in the same run, a fresh send to a list
of N/2 readers: the resume costs time proportional to what is left when the two are close
(the resume also reads the whole list once, to find who is left, and settles the pending
batches: one search per batch since messages carry their batch's key, 500 before). The
series' settle_delay is 0.5 s: the fake indexes at once, and an author resuming minutes after
a kill waits for nothing either. Start-up is excluded from both, as in bench_e2e. Also checks
that every reader is recorded sent exactly once in the ledger at the end.

    python bench/bench_kill_resume.py                 # 100,000 readers (~1 min)
    python bench/bench_kill_resume.py --n 1000000
"""

from __future__ import annotations

import argparse
import os
import signal
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

import bench_e2e  # noqa: E402
from run import in_child, make_series, this_checkout  # noqa: E402


def _fake_main(conn: Connection) -> None:
    """Child process: Postmark's fake keeping what it accepted (so that it can be asked about
    a batch, as the resume does); answers 'take' with the messages accepted so far."""
    from fakes.httpserver import serve
    from fakes.postmark import PostmarkHandler, PostmarkState

    with serve(PostmarkHandler, PostmarkState()) as (url, state):
        state.base_url = url
        conn.send(url)
        while conn.recv() != "stop":
            conn.send(len(state.accepted))


@contextmanager
def postmark() -> Iterator[tuple[str, Callable[[], int]]]:
    """Postmark's fake in its own process; yields (url, accepted): messages so far."""
    with in_child(_fake_main) as (url, ask):
        yield url, lambda: int(ask("take"))


def series(folder: Path, n: int, url: str) -> Path:
    case = bench_e2e._cases()["postmark"]
    # The fake shows a message in its search at once: the resume need not wait out
    # Postmark's indexing (settle_delay, 10 s by default) as one right after a kill must.
    delivery = (
        '[delivery]\nprovider = "postmark"\n[delivery.postmark]\nsettle_delay = 0.5\n'
        + case["toml"].format(url=url)
    )
    return make_series(folder, n, delivery, "signup")


def environment() -> dict[str, str]:
    case = bench_e2e._cases()["postmark"]
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return this_checkout({**environ, "SERIESPUB_SECRET": bench_e2e.SECRET, **case["env"]})


def kill_half_way(folder: Path, n: int, accepted: Callable[[], int]) -> int:
    """Run `send next` and SIGKILL it once the fake has accepted half the readers; returns
    how many it had accepted by then."""
    child = subprocess.Popen(
        [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
        cwd=folder,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    taken = 0
    while taken < n // 2 and child.poll() is None:
        taken = accepted()
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    if taken < n // 2:
        raise SystemExit(f"send next ended after {taken:,} readers, before half-way")
    return taken


def sent_once(folder: Path) -> tuple[int, int]:
    """(deliveries recorded sent, distinct addresses among them) of part 1."""
    with sqlite3.connect(
        f"{(folder / '.seriespub' / 'ledger.db').as_uri()}?mode=ro", uri=True
    ) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT email) FROM deliveries "
            "WHERE instalment=1 AND status='sent'"
        ).fetchone()
    return int(row[0]), int(row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="readers")
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp, postmark() as (url, accepted):
        killed = series(Path(tmp) / "killed", n, url)
        taken = kill_half_way(killed, n, accepted)
        resumed = bench_e2e.send_next(killed, bench_e2e._cases()["postmark"]["env"])
        fresh = bench_e2e.send_next(
            series(Path(tmp) / "half", n // 2, url), bench_e2e._cases()["postmark"]["env"]
        )
        recorded, distinct = sent_once(killed)
        delivered = accepted()
    print(
        f"kill -9 once the fake had accepted {taken:,} of {n:,} readers ({taken / n:.0%}); "
        f"the resume sent {resumed['sent']:,} and settled {resumed['settled']:,} in "
        f"{resumed['whole_seconds']:.2f} s; a fresh send to {n // 2:,} readers took "
        f"{fresh['whole_seconds']:.2f} s: the resume at "
        f"{resumed['whole_seconds'] / fresh['whole_seconds']:.2f}× (≈ 1: proportional to what "
        f"was left); the ledger records {recorded:,} sent to {distinct:,} distinct readers "
        f"(of {n:,}); the fake accepted {delivered - n // 2:,} messages for them"
    )
    if recorded != n or distinct != n or delivered - n // 2 != n:
        raise SystemExit("not every reader recorded sent exactly once")


if __name__ == "__main__":
    main()
