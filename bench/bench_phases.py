"""Where the whole `seriespub send next` spends its time, phase by phase.

Runs `send next --yes` to N readers (the example instalment) through a provider's fake from
tests/fakes, in its own process like bench/bench_e2e.py, in a fresh process that times the
steps of the send path by wrapping them (wall clock, start-up excluded as in bench_e2e: from
just before the command runs, its module imported). Prints each phase's start and duration,
then the CPU the process used and the send phase's share of the whole; beside it the ceiling
of bench_e2e (a warm bare client posting the same requests), so the gap is visible per phase.

    python bench/bench_phases.py                          # Postmark, 20,000 readers
    python bench/bench_phases.py --provider sendgrid --n 100000
    python bench/bench_phases.py --provider sendgrid --without-record

`--without-record` is not a sender: the child skips the ledger's two writes per batch (the
`pending` record before each request and the results after it), so the run shows what the
rest of seriespub costs beside the ceiling, an upper bound for any change that leaves the
per-reader record in place.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]

import bench_e2e  # noqa: E402
from run import LIST_ORDERS, make_series, this_checkout  # noqa: E402

# The steps of `ops.send` and `sending`, in the order a send reaches them.
PHASES = [
    ("seriespub.ops.send", "write_back", "apply owed bounces to the list"),
    ("seriespub.publishing", "drafts_of", "read the drafts"),
    ("seriespub.ops.send", "tracks_ops.slot_plan", "plan late joiners' parts"),
    ("seriespub.publishing", "render", "render the instalment"),
    ("seriespub.publishing", "make_provider", "import and build the provider"),
    ("seriespub.ops.send", "sync", "pull the provider's suppressions"),
    ("seriespub.sending.plan", "Planner.plan", "plan: snapshot and count the list"),
    ("seriespub.sending.settle", "Settler.settle_pending", "settle what a kill left"),
    ("seriespub.sending.run", "Sender._send_all", "send phase"),
    ("seriespub.sending.run", "Sender._finish_if_complete", "mark finished"),
]

CHILD = """
import functools, importlib, json, resource, sys, time
from seriespub.cli import app
import seriespub.cli.send  # the command's module: start-up, as in bench_e2e
spans = []
if sys.argv[1] == "without-record":  # a bound, not a sender: see the module docstring
    from seriespub.ledger import Ledger
    def begin_batch(self, number, key, *rest, **named):
        self._held[key] = (number, set())
    def record_results(self, number, key, *rest, **named):
        self._held.pop(key, None)
    Ledger.begin_batch, Ledger.record_results = begin_batch, record_results
del sys.argv[1]
def wrap(module, path, label):
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    real = getattr(owner, name)
    @functools.wraps(real)
    def timed(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spans.append((label, begin - started, time.perf_counter() - begin))
    setattr(owner, name, timed)
# Timed from here, as bench_e2e times the command: importing the send path (which the
# wrapping does first) is part of what the author waits for.
started = time.perf_counter()
for module, path, label in json.loads(sys.argv[1]):
    wrap(module, path, label)
spans.append(("import the send path (ops.send and the core)", 0.0, time.perf_counter() - started))
code = 0
try:
    app(sys.argv[2:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
usage = resource.getrusage(resource.RUSAGE_SELF)
whole = time.perf_counter() - started
import sqlite3  # after the clock: what the ledger holds, to show what the run recorded
with sqlite3.connect(".seriespub/ledger.db") as ledger:
    (recorded,) = ledger.execute("SELECT count(*) FROM deliveries").fetchone()
print(json.dumps({"code": code, "whole": whole, "spans": spans, "recorded": recorded,
                  "cpu": usage.ru_utime + usage.ru_stime}), file=sys.stderr)
"""


def phases(
    name: str, n: int, order: str = "signup", without_record: bool = False
) -> dict[str, Any]:
    case = bench_e2e._cases()[name]
    where = Path("/dev/shm") if Path("/dev/shm").is_dir() else BENCH
    with bench_e2e._fake(name) as (url, take), tempfile.TemporaryDirectory(dir=where) as tmp:
        delivery = f'[delivery]\nprovider = "{name}"\n[delivery.{name}]\n' + case["toml"].format(
            url=url
        )
        folder = make_series(Path(tmp) / "series", n, delivery, order)
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = this_checkout({**environ, "SERIESPUB_SECRET": bench_e2e.SECRET, **case["env"]})
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                "without-record" if without_record else "as-is",
                json.dumps(PHASES),
                "send",
                "next",
                "--yes",
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            env=env,
        )
        report: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
        if report["code"] != 0:
            raise SystemExit(f"send next failed:\n{done.stderr[-2000:]}")
        count, requests = take()
        report["ceiling"] = bench_e2e.replay(url, requests, count, bench_e2e.concurrency(name))
        take()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--provider", default="postmark", choices=bench_e2e.PROVIDERS)
    parser.add_argument("--order", choices=LIST_ORDERS, default="signup", help="as bench_e2e's")
    parser.add_argument(
        "--without-record",
        action="store_true",
        help="skip the ledger's writes per batch: a bound, not a sender (see above)",
    )
    args = parser.parse_args()
    report = phases(args.provider, args.n, args.order, args.without_record)
    whole = report["whole"]
    bound = "; WITHOUT the ledger writes per batch: a bound, not a sender"
    print(
        f"send next, {args.provider}, {args.n:,} readers (list in {args.order} order"
        f"{bound if args.without_record else ''}): {whole:.2f} s (start-up excluded)"
    )
    covered = 0.0
    for label, start, seconds in report["spans"]:
        covered += seconds if label != "send phase" else 0.0
        print(f"  at {start:6.3f} s  {seconds:6.3f} s  {100 * seconds / whole:4.1f} %  {label}")
    send = sum(s for label, _, s in report["spans"] if label == "send phase")
    print(
        f"  before and around the send phase: {whole - send:.2f} s; the send phase {send:.2f} s "
        f"vs the ceiling's {report['ceiling']:.2f} s for the same requests "
        f"({report['ceiling'] / send:.2f}); whole command {report['ceiling'] / whole:.2f}"
    )
    print(f"  CPU used by the command: {report['cpu']:.2f} s (user + system, with start-up)")
    print(f"  deliveries in the ledger afterwards: {report['recorded']:,}")


if __name__ == "__main__":
    main()
