"""`seriespub send next` through the SMTP adapter against a real aiosmtpd server."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log as log
from fakes.smtp import FakeSmtpServer, running_smtp_server

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
        make_series: Callable[..., Path], cli: Callable[..., Any],
        server: FakeSmtpServer) -> None:
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
        make_series: Callable[..., Path], cli: Callable[..., Any],
        server: FakeSmtpServer) -> None:
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
        make_series: Callable[..., Path], cli: Callable[..., Any],
        server: FakeSmtpServer) -> None:
    server.handler.drop_after_data.add(READERS[1])
    root = make_series(delivery=server.delivery_toml(), drafts=1)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output

    deliveries = log(cli, root)
    assert deliveries[READERS[0]]["status"] == "sent"
    assert deliveries[READERS[1]]["status"] == "unknown"
    assert deliveries[READERS[2]]["status"] == "deferred"     # not attempted: resent later
    assert deliveries[READERS[2]]["reason"].startswith("not attempted")
    assert all(len(m) == 1 for m in server.by_recipient().values())
