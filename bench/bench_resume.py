"""The resume after a kill: settling what a killed send left `pending`, at scale.

Builds a series of N readers, records half of them `pending` in batches of 1,000 (what a
kill -9 mid-send leaves), then times `Sender.settle_pending` for a provider that cannot
settle (they all become `unknown`, as with SendGrid). Before the one-pass rebuild it read the
whole list once per pending batch (quadratic); now it reads it at most once.

    python bench/bench_resume.py                # 50,000 readers, 25 pending batches
    python bench/bench_resume.py --n 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "src"), str(BENCH), str(BENCH.parent / "tests")]

from fakes.memory import MemoryProvider  # noqa: E402
from run import make_series  # noqa: E402
from seriespub import publishing  # noqa: E402
from seriespub.ledger import Ledger  # noqa: E402
from seriespub.sending import Sender, SendReport  # noqa: E402
from seriespub.series import find_series  # noqa: E402

BATCH = 1_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    n = parser.parse_args().n
    os.environ.setdefault("SERIESPUB_SECRET", "bench-" + "0" * 40)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_series(Path(tmp) / "series", n, '[delivery]\nprovider = "outbox"\n')
        series = find_series(explicit=root)
        drafts = publishing.drafts_of(series)
        instalment = drafts.instalments[0]
        message = publishing.render(series, drafts, instalment)
        with Ledger.open(series.ledger_path) as ledger:
            for start in range(0, n // 2, BATCH):
                ledger.begin_batch(
                    instalment.number,
                    f"killed-{start}",
                    "memory",
                    [f"reader{i}@example.com" for i in range(start, min(n // 2, start + BATCH))],
                )
            sender = Sender(series, ledger, MemoryProvider(max_batch=BATCH))
            started = time.perf_counter()
            sender.settle_pending(instalment.number, message, SendReport(instalment.number))
            took = time.perf_counter() - started
            unknown = ledger.counts(instalment.number)
        batches = -(-(n // 2) // BATCH)
        print(
            f"resume: {n:,} readers, {batches:,} pending batches, provider cannot settle: "
            f"settle_pending {took:.2f} s ({sum(unknown.values()):,} now unknown)"
        )


if __name__ == "__main__":
    main()
