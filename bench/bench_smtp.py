"""SMTP throughput: the smtplib ceiling vs seriespub's SMTP adapter vs mailmerge.

    python bench/bench_smtp.py [--n 2000]

An aiosmtpd `Sink` server runs in its own process on 127.0.0.1, so its CPU does not share
the client's GIL. Every contender sends the same `n` personalised multipart messages:

  ceiling    messages serialised before the clock starts, one reused smtplib connection
  seriespub  SmtpProvider.send_batch in batches (mime_for per recipient), 1 and 4 threads
  mailmerge  its CLI (`--no-dry-run --no-limit`) on an equivalent template and CSV
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout

from seriespub.config import SmtpSettings
from seriespub.message import PreparedMessage
from seriespub.models import Outcome, Recipient, Subscriber
from seriespub.providers.base import Batch
from seriespub.providers.smtp import SmtpProvider, crlf

FROM = "Impact4Health <blog@example.com>"


def prepared() -> PreparedMessage:
    """The repository's example instalment, as every bench sends it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from example import example_instalment

    return example_instalment()


def make_recipients(message: PreparedMessage, n: int) -> list[Recipient]:
    return [
        message.recipient(Subscriber(f"reader{i:05d}@example.com", f"Reader {i}")) for i in range(n)
    ]


@contextmanager
def sink_server() -> Iterator[int]:
    """aiosmtpd's Sink handler in a subprocess on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:  # aiosmtpd missing, say: no use waiting out the deadline
            raise SystemExit(
                f"bench: the aiosmtpd sink exited (code {proc.returncode}) before it started;"
                " is the dev extra installed (pip install -e '.[dev]')?"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as sock:
                sock.recv(100)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the aiosmtpd sink did not start")


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def ceiling(port: int, message: PreparedMessage, recipients: list[Recipient]) -> float:
    # Before the clock, and with the CRLF line ends the adapter guarantees.
    data = [(r.email, crlf(message.mime_for(r))) for r in recipients]

    def send() -> int:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as conn:
            for address, body in data:
                conn.sendmail(message.from_email, [address], body)
        return len(data)

    return _rate(*timed(send))


def seriespub(
    port: int, message: PreparedMessage, recipients: list[Recipient], threads: int
) -> float:
    provider = SmtpProvider(SmtpSettings("127.0.0.1", port, "none", None, 30.0))
    size = provider.max_batch
    batches = [
        Batch(f"b{i}", message, recipients[i : i + size]) for i in range(0, len(recipients), size)
    ]

    def send() -> int:
        with ThreadPoolExecutor(threads) as pool:
            results = [r for rs in pool.map(provider.send_batch, batches) for r in rs]
        provider.close()
        assert all(r.outcome is Outcome.SENT for r in results), "a message was not sent"
        return len(results)

    return _rate(*timed(send))


def mailmerge_program() -> str | None:
    """mailmerge as `pip install -e '.[dev]'` put it: beside this Python (a virtualenv run
    without activating it has no mailmerge on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "mailmerge"
    return str(beside) if beside.is_file() else shutil.which("mailmerge")


def mailmerge(
    program: str, port: int, recipients: list[Recipient], folder: Path
) -> tuple[float, float]:
    """Messages/s including its start-up, and excluding it (`mailmerge --version` time)."""
    template, database, config = (
        folder / "template.txt",
        folder / "database.csv",
        folder / "server.conf",
    )
    template.write_text(_mailmerge_template(), encoding="utf-8")
    config.write_text(
        f"[smtp_server]\nhost = 127.0.0.1\nport = {port}\nratelimit = 0\n", encoding="utf-8"
    )
    with open(database, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "unsubscribe_url"])
        writer.writerows([r.email, r.name, r.unsubscribe_url] for r in recipients)
    command = [
        program,
        "--no-dry-run",
        "--no-limit",
        "--output-format",
        "raw",
        "--template",
        str(template),
        "--database",
        str(database),
        "--config",
        str(config),
    ]
    _, startup = timed(
        lambda: subprocess.run([program, "--version"], check=True, capture_output=True).returncode
    )
    proc, elapsed = _run(command)
    sent = proc.stdout.count(b" sent\n")
    assert proc.returncode == 0 and sent == len(recipients), proc.stderr.decode()[-500:]
    return sent / elapsed, sent / max(elapsed - startup, 1e-9)


def _run(command: list[str]) -> tuple[subprocess.CompletedProcess[bytes], float]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, check=False)
    return proc, time.perf_counter() - start


def _mailmerge_template() -> str:
    """The same instalment as a mailmerge (Jinja) template: each slot becomes a variable."""
    message = prepared()

    def variable(slot: int) -> str:
        return "{{" + message.slots[slot].field + "}}"

    html, text = message.html.with_tokens(variable), message.text.with_tokens(variable)
    return (
        f"TO: {{{{name}}}} <{{{{email}}}}>\nSUBJECT: {message.subject}\nFROM: {FROM}\n"
        "List-Unsubscribe: <{{unsubscribe_url}}>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="boundary"\n\n'
        "--boundary\nContent-Type: text/plain; charset=utf-8\n\n"
        f"{text}\n--boundary\nContent-Type: text/html; charset=utf-8\n\n"
        f"{html}\n--boundary--\n"
    )


def _rate(count: int, seconds: float) -> float:
    return count / seconds


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def run(n: int = 2000) -> dict[str, float]:
    """Run every contender once against one sink; print and return the figures."""
    message = prepared()
    recipients = make_recipients(message, n)
    size = len(message.mime_for(recipients[0]))
    print(f"{n} messages of {size / 1024:.1f} KiB to an aiosmtpd Sink (separate process)")
    figures: dict[str, float] = {}
    with sink_server() as port, tempfile.TemporaryDirectory() as tmp:
        figures["seriespub_1"] = seriespub(port, prepared(), recipients, 1)
        figures["seriespub_4"] = seriespub(port, prepared(), recipients, 4)
        # Before the ceiling holds all n messages in memory at once.
        figures["bench_rss_mb"] = _peak_rss_mb(resource.RUSAGE_SELF)
        figures["ceiling"] = ceiling(port, message, recipients)
        program = mailmerge_program()
        if program is None:
            print("  mailmerge is not installed (pip install -e '.[dev]'): no comparison")
        else:
            figures["mailmerge"], figures["mailmerge_no_startup"] = mailmerge(
                program, port, recipients, Path(tmp)
            )
            # Children so far: the sink is still running, so this is mailmerge's peak.
            figures["mailmerge_rss_mb"] = _peak_rss_mb(resource.RUSAGE_CHILDREN)
    report(figures)
    return figures


def report(f: dict[str, float]) -> None:
    best = max(f["seriespub_1"], f["seriespub_4"])
    rows = [
        ("ceiling (pre-serialised, 1 smtplib connection)", f["ceiling"]),
        ("seriespub SmtpProvider, 1 thread", f["seriespub_1"]),
        ("seriespub SmtpProvider, 4 threads", f["seriespub_4"]),
        ("mailmerge CLI (incl. start-up)", f.get("mailmerge")),
        ("mailmerge CLI (excl. start-up)", f.get("mailmerge_no_startup")),
    ]
    for label, rate in rows:
        if rate is not None:
            print(f"  {label:<50} {rate:8.0f} msg/s")
    if "mailmerge" in f:
        print(
            f"  seriespub/mailmerge  1 thread {f['seriespub_1'] / f['mailmerge']:.1f}x, "
            f"4 threads {f['seriespub_4'] / f['mailmerge']:.1f}x "
            f"(vs excl. start-up {best / f['mailmerge_no_startup']:.1f}x)"
        )
    print(
        f"  seriespub/ceiling    1 thread {f['seriespub_1'] / f['ceiling']:.2f}, "
        f"4 threads {f['seriespub_4'] / f['ceiling']:.2f}"
    )
    theirs = f", mailmerge {f['mailmerge_rss_mb']:.0f} MB" if "mailmerge" in f else ""
    print(f"  peak RSS: bench process with seriespub {f['bench_rss_mb']:.0f} MB{theirs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="messages per contender")
    run(parser.parse_args().n)


if __name__ == "__main__":
    main()
