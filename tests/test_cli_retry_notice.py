"""A send that waits on a provider says so at once: it does not sit silent for minutes.

A provider that cannot be reached (a wrong `api_url`, an outage) or asks to wait (429) is
retried for up to `delivery.max_retry_seconds` (300 s by default): first the suppressions
read before the plan, then each batch. The author learns of it from one `warning:` line per
reason as the first wait begins, not when the time is up.
"""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from conftest import sendgrid_delivery
from instalments import start_seriespub


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def first_lines(proc: subprocess.Popen[str], within: float) -> list[str]:
    """stderr's lines as they come, until `within` seconds pass or a line says it retries."""
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    lines: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not any("trying again" in line for line in lines):
        if selector.select(timeout=0.1):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
    return lines


def test_a_provider_that_cannot_be_reached_is_named_before_the_wait(
    make_series: Callable[..., Path],
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    root = make_series(drafts=1, subscribers=2, delivery=sendgrid_delivery(url))
    started = time.monotonic()
    with start_seriespub(
        root,
        "send",
        "next",
        "--yes",
        env={"SENDGRID_API_KEY": "SG.test-key-not-shown"},
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            lines = first_lines(proc, within=20)
            running = proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    said = [line for line in lines if "trying again" in line]
    assert said, lines
    assert running, "the warning came only when the waiting was over"
    assert time.monotonic() - started < 20
    line = said[0]
    assert line.startswith("warning: "), line
    assert f"cannot connect to 127.0.0.1:{url.rsplit(':', 1)[1]}" in line, line
    assert "up to 300 s" in line and "max_retry_seconds" in line, line
    assert "SG.test-key-not-shown" not in "\n".join(lines)
    assert not list((root / ".seriespub").glob("outbox/*/*.eml"))
