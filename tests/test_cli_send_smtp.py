"""`seriespub send next` through the SMTP adapter against a real aiosmtpd server."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log as log
from fakes.smtp import FakeSmtpServer, raw_smtp_server, running_smtp_server

pytest.importorskip("seriespub.cli")

READERS = [f"reader{i:04d}@example.com" for i in range(1, 4)]


@pytest.fixture
def server() -> Iterator[FakeSmtpServer]:
    with running_smtp_server() as running:
        yield running


def statuses(root: Path) -> dict[str, str]:
    with open(root / "subscribers.csv", newline="", encoding="utf-8") as handle:
        return {row["email"]: row["status"] for row in csv.DictReader(handle)}


def test_send_next_mails_everyone_once_and_a_second_run_sends_nothing(
    make_series: Callable[..., Path], cli: Callable[..., Any], server: FakeSmtpServer
) -> None:
    root = make_series(delivery=server.delivery_toml(), drafts=1)
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 0, first.output
    received = server.by_recipient()
    assert sorted(received) == READERS
    assert all(len(messages) == 1 for messages in received.values())
    parsed = received[READERS[0]][0].parsed()
    assert parsed["To"] == "Reader 1 <reader0001@example.com>"
    assert parsed["List-Unsubscribe"].startswith("<https://example.com/unsubscribe?token=")

    second = cli(root, "send", "next", "--yes")
    assert second.exit_code == 0, second.output
    assert len(server.received) == 3
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}


def test_a_refused_address_is_failed_and_marked_bounced(
    make_series: Callable[..., Path], cli: Callable[..., Any], server: FakeSmtpServer
) -> None:
    server.handler.refuse[READERS[1]] = f"550 5.1.1 <{READERS[1]}>: user unknown"
    root = make_series(delivery=server.delivery_toml(), drafts=1)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output

    deliveries = log(cli, root)
    assert deliveries[READERS[1]]["status"] == "failed"
    assert deliveries[READERS[1]]["reason"].startswith("550 5.1.1")
    assert deliveries[READERS[0]]["status"] == "sent"
    assert statuses(root)[READERS[1]] == "bounced"
    assert statuses(root)[READERS[0]] == "active"
    assert sorted(server.by_recipient()) == [READERS[0], READERS[2]]


def test_a_connection_lost_during_data_leaves_only_that_reader_unknown(
    make_series: Callable[..., Path], cli: Callable[..., Any], server: FakeSmtpServer
) -> None:
    server.handler.drop_after_data.add(READERS[1])
    root = make_series(delivery=server.delivery_toml(), drafts=1)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output

    deliveries = log(cli, root)
    assert deliveries[READERS[0]]["status"] == "sent"
    assert deliveries[READERS[1]]["status"] == "unknown"
    # Not attempted when the connection dropped: a plain transient result (no exception
    # swallowed it), so the same run retried it on a new connection.
    assert deliveries[READERS[2]]["status"] == "sent"
    assert all(len(m) == 1 for m in server.by_recipient().values())


def test_a_run_killed_before_any_server_greeted_leaves_nothing_unknown(
    make_series: Callable[..., Path], cli: Callable[..., Any], server: FakeSmtpServer
) -> None:
    # Port 465 with security = "starttls" used to hang with every batch recorded pending;
    # killed then, the next run called them unknown although nothing could have been sent.
    with raw_smtp_server(greet_after=None) as silent:
        root = make_series(
            delivery=server.delivery_toml().replace(
                f"port = {server.port}", f"port = {silent.port}"
            ),
            drafts=1,
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
            cwd=root,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert silent.accepted.wait(30), "seriespub never connected"
            proc.send_signal(signal.SIGKILL)  # while it waits for a greeting
        finally:
            proc.communicate(timeout=30)
    assert log(cli, root) == {}  # nothing pending, nothing unknown

    config = root / "seriespub.toml"
    config.write_text(config.read_text().replace(f"port = {silent.port}", f"port = {server.port}"))
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert {a: len(m) for a, m in server.by_recipient().items()} == dict.fromkeys(READERS, 1)


def test_a_wrong_password_keeps_its_specific_hint(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-pw")
    with running_smtp_server(credentials={"mailer": "right-pw"}) as server:
        root = make_series(delivery=server.delivery_toml() + 'username = "mailer"\n', drafts=1)
        result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1
    assert "refused the login of 'mailer': 535" in result.stderr
    assert "hint: check delivery.smtp.username and SMTP_PASSWORD" in result.stderr
    assert "wrong-pw" not in result.output
    assert log(cli, root) == {}  # checked before anything was recorded
    assert server.received == []


def test_port_465_with_starttls_stops_at_once_with_the_hint(
    make_series: Callable[..., Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    from fakes.smtp import make_tls_files

    tls = make_tls_files(tmp_path / "tls")
    with running_smtp_server(tls=tls, implicit_tls=True) as server:
        root = make_series(
            delivery=server.delivery_toml().replace('"none"', '"starttls"'), drafts=1
        )
        result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1
    assert "expects TLS from the first byte" in result.stderr
    assert 'hint: set security = "tls" under [delivery.smtp]' in result.stderr
    assert log(cli, root) == {}
