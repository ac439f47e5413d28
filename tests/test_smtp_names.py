"""The name seriespub's SMTP client gives in EHLO, and that finding it asks no DNS server.

smtplib names the client with `socket.getfqdn()`: a reverse look-up of the machine's name on
every connection, a DNS query when /etc/hosts does not answer (a packet to the resolver, and
a wait of seconds where none answers). seriespub names itself without one: `helo_name` when
set, else the machine's name when it is a domain, else the connection's own address as a
literal (RFC 5321 4.1.3, 4.1.4).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.smtp import FakeSmtpServer, running_smtp_server

pytest.importorskip("seriespub.cli")


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every reverse look-up and every name look-up of a name that is not loopback, in this
    process (the CLI and the fake server both run in it)."""
    asked: list[str] = []
    by_addr, by_name = socket.gethostbyaddr, socket.getaddrinfo

    def gethostbyaddr(name: str) -> Any:
        asked.append(f"gethostbyaddr {name}")
        return by_addr(name)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "::1", "localhost", None):
            asked.append(f"getaddrinfo {host}")
        return by_name(host, *args, **kwargs)

    monkeypatch.setattr(socket, "gethostbyaddr", gethostbyaddr)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def server(lookups: list[str]) -> Iterator[FakeSmtpServer]:
    with running_smtp_server() as running:
        yield running


def test_an_smtp_send_asks_no_name_server_and_names_itself(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    server: FakeSmtpServer,
    lookups: list[str],
) -> None:
    root = make_series(delivery=server.delivery_toml(), drafts=1)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert len(server.received) == 3
    assert lookups == []
    mine = socket.gethostname()
    expected = mine if "." in mine else "[127.0.0.1]"
    assert {r.helo for r in server.received} == {expected}


def test_helo_name_is_the_name_given(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    server: FakeSmtpServer,
    lookups: list[str],
) -> None:
    delivery = server.delivery_toml() + 'helo_name = "mail.example.org"\n'
    root = make_series(delivery=delivery, drafts=1)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert {r.helo for r in server.received} == {"mail.example.org"}
    assert lookups == []


@pytest.mark.parametrize("bad", ['""', '"two words"', '"mail.example.org\\r\\nRSET"', "3"])
def test_a_helo_name_that_is_no_name_is_one_clear_line(
    make_series: Callable[..., Path], cli: Callable[..., Any], bad: str
) -> None:
    delivery = (
        '[delivery]\nprovider = "smtp"\n[delivery.smtp]\nhost = "127.0.0.1"\nport = 9\n'
        f'security = "none"\nhelo_name = {bad}\n'
    )
    root = make_series(delivery=delivery, drafts=1)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "delivery.smtp.helo_name" in result.output
