"""Wall time and peak memory of every command at 1k, 10k, 100k (and, with --million, 1M)
readers, each command in its own fresh process, with the 1k figure as the reference.

For each size it builds a series (the example instalment, the outbox as provider) and runs,
in order: check, status, subscribers list (and --json), send next --dry-run, subscribers
add / remove / import (1,000 rows, half already present), send next (outbox, up to 100k:
one file per reader), log 1 --failed, status. Peak RSS is the child's own
(VmHWM at its exit, printed by a small wrapper), so a parent
that holds nothing does not blur it. Prints, per command, wall and peak RSS at each size,
then the ratio at the largest size vs 1k for memory (target ≤ 1.5×) and the time per reader
at the largest size vs the size before it (≤ 1 means no worse than linear; commands that do
not read the whole list are start-up only, so their per-reader figure falls with size).

    python bench/bench_scale.py                 # 1k, 10k, 100k (~2 min)
    python bench/bench_scale.py --million       # also 1M (several minutes, ~60 MB of CSV)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from run import make_series, this_checkout  # noqa: E402

# Runs the CLI in this process, then reports its own peak RSS on the last line of stderr.
WRAPPER = """
import json, resource, sys
from seriespub.cli import app
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
print(json.dumps({"maxrss_mb": peak(),
                  "code": code}), file=sys.stderr)
"""
OUTBOX_LIMIT = 100_000  # the outbox writes one file per reader: beyond this, only disk


def run(folder: Path, args: list[str]) -> dict[str, float]:
    """One command in a fresh process: its wall time (start-up included) and peak RSS."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["SERIESPUB_SECRET"] = "bench-" + "0" * 40
    env = this_checkout(env)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - started
    report = json.loads(done.stderr.strip().splitlines()[-1])
    if report["code"] not in (0, None) and args[0] != "check":  # check exits 1 on warnings
        raise SystemExit(f"{' '.join(args)} failed in {folder}:\n{done.stderr[-2000:]}")
    return {"seconds": wall, "rss_mb": report["maxrss_mb"]}


def import_source(path: Path, size: int) -> Path:
    """1,000 rows for `subscribers import`: half already in the list, half new."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email Address", "First Name", "Last Name"])
        for i in range(500):
            writer.writerow([f"reader{i * max(1, size // 500)}@example.com", "Old", "Reader"])
            writer.writerow([f"newcomer{i}@example.org", "New", "Reader"])
    return path


def commands(size: int, source: Path) -> list[tuple[str, list[str]]]:
    steps = [
        ("check", ["check"]),
        ("status", ["status"]),
        ("subscribers list", ["subscribers", "list"]),
        ("subscribers list --json", ["subscribers", "list", "--json"]),
        ("send next --dry-run", ["send", "next", "--dry-run"]),
        ("subscribers add", ["subscribers", "add", "someone.new@example.net", "--name", "New"]),
        ("subscribers remove", ["subscribers", "remove", "someone.new@example.net"]),
        ("subscribers import", ["subscribers", "import", str(source)]),
    ]
    if size <= OUTBOX_LIMIT:
        steps.append(("send next (outbox)", ["send", "next", "--yes"]))
        steps.append(("log 1 --failed", ["log", "1", "--failed"]))
        steps.append(("status (after)", ["status"]))
    return steps


def measure(size: int, where: Path) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        folder = make_series(Path(tmp) / "series", size, '[delivery]\nprovider = "outbox"\n')
        source = import_source(Path(tmp) / "export.csv", size)
        results = {}
        for label, args in commands(size, source):
            results[label] = run(folder, args)
            print(
                f"  {size:>9,}  {label:<26} {results[label]['seconds']:7.2f} s "
                f"{results[label]['rss_mb']:7.0f} MB",
                flush=True,
            )
            if label == "send next (outbox)":
                shutil.rmtree(folder / ".seriespub" / "outbox", ignore_errors=True)
        return results


def summary(table: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """Per command: wall and peak RSS at each size; peak RSS at the largest size vs the
    smallest, and time per reader at the largest size vs the one before it (start-up
    dominates small lists, so the smallest is no reference for time)."""
    sizes = sorted(table)
    small, lines = sizes[0], []
    lines.append(
        f"{'command':<26}"
        + "".join(f"{s:>17,}" for s in sizes)
        + "   memory × (vs first)   time per reader × (vs the size before)"
    )
    for label in table[small]:
        cells = "".join(
            f"{table[s][label]['seconds']:8.2f}s {table[s][label]['rss_mb']:5.0f}MB"
            if label in table[s]
            else f"{'—':>17}"
            for s in sizes
        )
        have = [s for s in sizes if label in table[s]]
        big, before = have[-1], have[-2] if len(have) > 1 else have[-1]
        memory = table[big][label]["rss_mb"] / table[small][label]["rss_mb"]
        per_reader = (table[big][label]["seconds"] / big) / (
            table[before][label]["seconds"] / before
        )
        lines.append(
            f"{label:<26}{cells}   {memory:6.2f}× ({big:,})"
            f"   {per_reader:6.2f}× ({big:,} vs {before:,})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 readers")
    parser.add_argument("--sizes", type=int, nargs="*", help="explicit sizes (first = reference)")
    args = parser.parse_args()
    sizes = args.sizes or [1_000, 10_000, 100_000, *([1_000_000] if args.million else [])]
    where = Path("/dev/shm") if Path("/dev/shm").is_dir() else BENCH
    table = {size: measure(size, where) for size in sizes}
    print("\nscale (wall incl. start-up, peak RSS; ratios: largest size vs the first)")
    for line in summary(table):
        print(line)


if __name__ == "__main__":
    main()
