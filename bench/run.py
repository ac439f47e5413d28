"""seriespub's speed and memory figures, each beside its reference measured in the same run.

    python bench/run.py            # cold start, render time, outbox rate (~10 s)
    python bench/run.py --all      # also memory at 1k vs 100k readers, the HTTP providers,
                                   # SMTP vs mailmerge, every command at 1k/10k/100k
                                   # (bench_scale.py), the whole `send next` per provider
                                   # beside its ceiling (bench_e2e.py), a resume after
                                   # kill -9 beside a fresh send for every provider
                                   # (bench_kill_resume.py --provider all), an idle
                                   # `send due` tick beside `status` (bench_idle.py), the
                                   # ledger at 1,000,000 deliveries (bench_ledger.py) and
                                   # the site of 100 parts (bench_site.py)
                                   # (~6 min on 2 shared cores)
    python bench/run.py --all --million   # the scale and idle benches also at 1,000,000 readers

Targets (from the issues): cold start ≤ 1.2× a bare Typer app; a 3,000-word instalment renders
in ≤ 10 ms; the outbox sends ≥ 5,000 messages/s; peak memory at 100k subscribers ≤ 1.5× at 1k.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
sys.path.insert(0, str(SRC))  # this checkout, not whatever copy is installed


def this_checkout(env: dict[str, str]) -> dict[str, str]:
    """`env` with this checkout's sources first on the path, absolute: the children run in
    a series folder, where a relative PYTHONPATH (or none) would import another copy."""
    paths = [str(SRC), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


@contextmanager
def in_child(
    target: Callable[..., None], *args: Any, join: float = 10.0
) -> Iterator[tuple[Any, Callable[[str], Any]]]:
    """`target(*args, conn)` in a forked child process (a fake server: in a process of its
    own, it has a core of its own, as a provider's server would). Yields the first thing the
    child sends (its URL) and `ask(command)`, which sends a command and returns the answer;
    "stop" ends the child."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=target, args=(*args, child), daemon=True
    )
    process.start()
    child.close()  # the child's end lives on in the child only: its exit ends recv() here

    def ask(command: str) -> Any:
        parent.send(command)
        return parent.recv()

    try:
        first = parent.recv()
    except EOFError:
        process.join(join)
        raise SystemExit(
            f"bench: {target.__name__} exited (code {process.exitcode}) before it started;"
            " is the dev extra installed (pip install -e '.[dev]')?"
        ) from None
    try:
        yield first, ask
    finally:
        with suppress(BrokenPipeError):  # a child that died already needs no "stop"
            parent.send("stop")
        process.join(join)


BARE_TYPER = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None:
    '''Say hello.'''
    print(name)
app()
"""
WORDS = [
    "leadership",
    "systems",
    "care",
    "public",
    "transform",
    "norm",
    "exception",
    "facing",
    "fitting",
    "teams",
    "practice",
    "partnership",
    "safety",
    "collective",
    "boundaries",
    "habits",
    "conformity",
]


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return time.perf_counter() - started


def paired(command: list[str], reference: list[str], runs: int = 11) -> dict[str, float]:
    """`command` and `reference` run in turn (A B A B …, one warm-up each): the median of
    each, and the median of the ratios pair by pair, which stays meaningful while the shared
    machine's speed drifts (two medians taken one after the other do not)."""
    # As installed for a user: bytecode cached (this machine sets PYTHONDONTWRITEBYTECODE,
    # which would make every start recompile the package from source).
    env = this_checkout({k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    _timed(command, env), _timed(reference, env)
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(_timed(command, env))
        theirs.append(_timed(reference, env))
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return {
        "ms": statistics.median(ours) * 1000,
        "reference_ms": statistics.median(theirs) * 1000,
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
    }


def cold_start() -> dict[str, dict[str, float]]:
    """`seriespub --help` against a one-command Typer app's `--help`; `status` and
    `send next --dry-run` on a copy of this repository's example series, each against that
    app parsing an option and running (`hello --name x`): the floor any Typer CLI pays.
    Alternating runs, 11 pairs each."""
    with tempfile.TemporaryDirectory() as tmp:
        bare_app = Path(tmp) / "bare_typer.py"  # removed with the folder, run after run
        bare_app.write_text(BARE_TYPER)
        bare = [sys.executable, str(bare_app)]
        out = {"help": paired([sys.executable, "-m", "seriespub", "--help"], [*bare, "--help"])}
        series = Path(tmp) / "example"
        series.mkdir()
        shutil.copytree(BENCH.parent / "drafts", series / "drafts")
        for name in ("seriespub.toml", "subscribers.csv"):
            shutil.copy(BENCH.parent / name, series / name)
        for label, args in [("status", ["status"]), ("dry_run", ["send", "next", "--dry-run"])]:
            command = [sys.executable, "-m", "seriespub", *args, "--series", str(series)]
            out[label] = paired(command, [*bare, "--name", "x"])
    return out


def article(words: int = 3000, seed: int = 1) -> str:
    """A realistic long instalment: sections, paragraphs with links and emphasis, lists."""
    rng = random.Random(seed)
    parts: list[str] = []
    section = 0
    while len("\n".join(parts).split()) < words:
        section += 1
        parts.append(f"## Section {section}\n")
        for p in range(6):
            sentence = " ".join(rng.choice(WORDS) for _ in range(55))
            parts.append(
                f"Hello {{{{ name }}}}, {sentence} [read more](https://example.com/"
                f"{section}/{p}) with **strong** and *emphasis*.\n"
            )
        parts.append("- one point\n- another point\n- a third point\n")
        parts.append("> A quotation worth reading twice.\n")
    return "\n".join(parts)


def render_time() -> dict[str, float]:
    from seriespub.config import SeriesSettings
    from seriespub.models import DraftStatus, Instalment
    from seriespub.render.email import RenderInputs, prepare

    body = article()
    instalment = Instalment(
        number=1,
        title="A long instalment",
        subject="Part 1",
        body=body,
        path=Path("drafts/01-long.md"),
        status=DraftStatus.READY,
    )
    inputs = RenderInputs(
        SeriesSettings(
            title="Bench",
            from_="A <a@example.com>",
            unsubscribe_url="https://example.com/u?t={token}",
        ),
        b"secret",
    )
    prepare(instalment, inputs)
    times = []
    for _ in range(50):
        started = time.perf_counter()
        prepare(instalment, inputs)
        times.append(time.perf_counter() - started)
    return {"words": len(body.split()), "median_ms": statistics.median(times) * 1000}


EXAMPLE = BENCH.parent / "drafts" / "01-leading-across-systems.md"


# How a bench list orders its addresses: `csv` reader0@, reader1@, … (nearly the ledger's own
# key order, so each batch writes a few neighbouring pages); `signup` the same addresses in an
# order unrelated to the alphabet, as a real list's sign-up order is.
LIST_ORDERS = ("csv", "signup")


def make_series(folder: Path, subscribers: int, delivery: str, order: str = "csv") -> Path:
    """A series with the repository's example instalment and `subscribers` readers."""
    (folder / "drafts").mkdir(parents=True)
    (folder / "seriespub.toml").write_text(
        '[series]\ntitle = "Bench"\nfrom = "Author <author@example.com>"\n'
        'unsubscribe_url = "https://example.com/u?token={token}"\n' + delivery
    )
    (folder / "drafts" / EXAMPLE.name).write_text(
        EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8"
    )
    with open(folder / "subscribers.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "status", "subscribed_at"])
        numbers = list(range(subscribers))
        if order == "signup":
            random.Random(29).shuffle(numbers)
        for i in numbers:
            writer.writerow([f"reader{i}@example.com", f"Reader {i}", "active", "2026-01-01"])
    return folder


def send_in_child(folder: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """`seriespub send next --yes --json` in a fresh process; its rate and peak memory."""
    code = (
        "import json, resource, sys\nfrom seriespub.cli import app\n"
        "try:\n    app(['send', 'next', '--yes', '--json'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps({'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF)"
        ".ru_maxrss / 1024}), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        env=this_checkout({**os.environ, "SERIESPUB_SECRET": "bench-" + "0" * 40, **(env or {})}),
    )
    report = json.loads(done.stdout)
    memory = json.loads(done.stderr.strip().splitlines()[-1])
    sent = report["sent"]
    return {
        "sent": sent,
        "seconds": report["seconds"],
        "per_second": sent / report["seconds"],
        "peak_rss_mb": memory["maxrss_mb"],
    }


def outbox_rate(subscribers: int = 10_000, where: Path = BENCH) -> dict[str, float]:
    """The outbox writes one file per reader: on a VM disk, the disk's metadata speed shows
    through, so the same run on tmpfs (memory) shows seriespub's own rate."""
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        folder = make_series(Path(tmp) / "series", subscribers, '[delivery]\nprovider = "outbox"\n')
        return send_in_child(folder)


def memory_flatness() -> dict[str, float]:
    """Peak RSS sending to 1k and to 100k subscribers through the Postmark adapter."""
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from bench_http import _fake  # type: ignore[import-not-found]
    from fakes.postmark import TOKEN

    peaks = {}
    with _fake("postmark") as (url, _count):
        for size in (1_000, 100_000):
            with tempfile.TemporaryDirectory(dir=BENCH) as tmp:
                folder = make_series(
                    Path(tmp) / "series",
                    size,
                    (
                        f'[delivery]\nprovider = "postmark"\n[delivery.postmark]\napi_url = '
                        f'"{url}"\nmessage_stream = "outbound"\n'
                    ),
                )
                result = send_in_child(folder, {"POSTMARK_SERVER_TOKEN": TOKEN})
                peaks[size] = result
    small, big = peaks[1_000]["peak_rss_mb"], peaks[100_000]["peak_rss_mb"]
    return {
        "rss_1k_mb": small,
        "rss_100k_mb": big,
        "ratio": big / small,
        "postmark_cli_per_second_100k": peaks[100_000]["per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also the slow provider benches")
    parser.add_argument(
        "--million",
        action="store_true",
        help="with --all: the scale and idle benches also at 1,000,000 readers (minutes)",
    )
    args = parser.parse_args()
    start = cold_start()
    for key, label, reference, target in [
        ("help", "--help", "a bare Typer app's --help", " (target ≤ 1.20×)"),
        ("status", "status (example series)", "a bare Typer command", ""),
        ("dry_run", "send next --dry-run (example series)", "a bare Typer command", ""),
    ]:
        row = start[key]
        print(
            f"cold start   seriespub {label} {row['ms']:.0f} ms vs {reference} "
            f"{row['reference_ms']:.0f} ms: {row['ratio']:.2f}× [pairs {row['low']:.2f}–"
            f"{row['high']:.2f}]{target}"
        )
    render = render_time()
    print(
        f"render       {render['words']:.0f}-word instalment: {render['median_ms']:.1f} ms "
        "(Markdown + MJML + text; target ≤ 10 ms)"
    )
    places = [("tmpfs", Path("/dev/shm"))] if Path("/dev/shm").is_dir() else []
    for label, where in [*places, ("disk", BENCH)]:
        outbox = outbox_rate(where=where)
        print(
            f"outbox       example instalment to {outbox['sent']:,.0f} subscribers "
            f"({label}) in {outbox['seconds']:.2f} s: {outbox['per_second']:,.0f}/s "
            f"(target ≥ 5,000/s), peak RSS {outbox['peak_rss_mb']:.0f} MB"
        )
    if not args.all:
        return
    memory = memory_flatness()
    print(
        f"memory       peak RSS 1k {memory['rss_1k_mb']:.0f} MB, 100k "
        f"{memory['rss_100k_mb']:.0f} MB: {memory['ratio']:.2f}× (target ≤ 1.5×); "
        f"postmark via CLI {memory['postmark_cli_per_second_100k']:,.0f}/s"
    )
    # Each in its own process, so each peak RSS is its own.
    env = this_checkout(dict(os.environ))
    for script, *flags in [
        ("bench_http.py", "--n", "100000"),
        ("bench_smtp.py", "--n", "2000"),
        ("bench_e2e.py",),
        ("bench_kill_resume.py", "--provider", "all"),
        ("bench_scale.py", *(["--million"] if args.million else [])),
        ("bench_idle.py", *(["--million"] if args.million else [])),
        ("bench_ledger.py",),
        ("bench_site.py",),
    ]:
        subprocess.run([sys.executable, str(BENCH / script), *flags], check=True, env=env)


if __name__ == "__main__":
    main()
