"""What an idle `send due` (a cron tick with nothing to send) costs, at 10k and 100k readers
(and, with --million, 1M): the first tick after a change, which reads the list, and the
second, which reuses what the first found (`seriespub.idletick`), beside `status` (one pass
over the list) measured in the same state of the same series, in the same run.

Each size builds bench_scale's series (SendGrid's fake, a weekly calendar whose slots are
past) with part 2 still a draft, then, each command in its own fresh process:

    send due (part 1 to every reader) · between parts: send due idle ×2 · status ·
    part 2 made ready, send next (part 2) · 1 % of the readers added as late joiners
    (joined today: part 1 in the next slot; setup, not timed) · after the last part:
    send due idle ×2 · status

Prints per size and state the walls (start-up included) and the ratios: second tick /
first tick, second tick / status.

    python bench/bench_idle.py                 # 10k, 100k (~15 s on 2 shared cores)
    python bench/bench_idle.py --million       # also 1M (~2 min; on /dev/shm)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]
from bench_scale import bounced, run, sendgrid_fake, series  # noqa: E402

IDLE = ["send", "due"]


def late_joiners(folder: Path, size: int) -> None:
    """1 % more readers, joined today (setup: appended as an editor would)."""
    today = dt.date.today().isoformat()
    with open(folder / "subscribers.csv", "a", newline="") as handle:
        for i in range(size // 100):
            handle.write(f"late{i}@example.org,Late {i},active,{today}\r\n")


def measure(size: int, where: Path) -> dict[str, dict[str, float]]:
    walls: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(dir=where) as tmp,
        sendgrid_fake(bounced(size)) as (url, _),
    ):
        folder = series(Path(tmp) / "series", size, url)
        second = folder / "drafts" / "02-exceptional-norms.md"
        second.write_text(second.read_text().replace("status: ready", "status: draft", 1))
        run(folder, IDLE)  # part 1
        walls["between parts"] = ticks(folder)
        second.write_text(second.read_text().replace("status: draft", "status: ready", 1))
        run(folder, ["send", "next", "--yes"])
        late_joiners(folder, size)
        time.sleep(0.05)  # past the file system's clock tick of that write (`idletick`)
        walls["after the last part"] = ticks(folder)
    for state, figures in walls.items():
        print(
            f"  {size:>9,}  {state:<20} first {figures['first']:6.2f} s  second "
            f"{figures['second']:6.2f} s  status {figures['status']:6.2f} s",
            flush=True,
        )
    return walls


def ticks(folder: Path) -> dict[str, float]:
    return {
        "first": run(folder, IDLE)["wall"],
        "second": run(folder, IDLE)["wall"],
        "status": run(folder, ["status"])["wall"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 readers")
    parser.add_argument("--sizes", type=int, nargs="*", help="explicit sizes")
    args = parser.parse_args()
    sizes = args.sizes or [10_000, 100_000, *([1_000_000] if args.million else [])]
    where = Path("/dev/shm") if Path("/dev/shm").is_dir() else BENCH
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    table = {size: measure(size, where) for size in sizes}
    print("\nidle send due: wall incl. start-up; ratios in the same run")
    print(
        f"{'readers':>10}  {'state':<20}{'first':>8}{'second':>8}{'status':>8}"
        f"{'2nd/1st':>9}{'2nd/status':>11}"
    )
    for size, states in table.items():
        for state, f in states.items():
            print(
                f"{size:>10,}  {state:<20}{f['first']:7.2f}s{f['second']:7.2f}s"
                f"{f['status']:7.2f}s{f['second'] / f['first']:9.2f}"
                f"{f['second'] / f['status']:11.2f}"
            )


if __name__ == "__main__":
    main()
