"""The two ways to mix up an IMAP port and its security say which setting to change: TLS
spoken to a plain-text port, and STARTTLS (a plain greeting awaited) on the TLS port."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from seriespub.config import InboxSettings, Secret
from seriespub.inbox.imap import InboxError, open_inbox


@pytest.fixture
def plain_imap() -> Iterator[int]:
    """A port that greets in plain text, as 143 does."""
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            with server.accept()[0] as conn:
                conn.sendall(b"* OK IMAP4rev1 ready\r\n")
                conn.recv(1024)

        threading.Thread(target=serve, daemon=True).start()
        yield server.getsockname()[1]


@pytest.fixture
def silent_tls_port() -> Iterator[int]:
    """A port that waits for the client to start TLS, as 993 does."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        done = threading.Event()

        def serve() -> None:
            with server.accept()[0]:
                done.wait(5)

        threading.Thread(target=serve, daemon=True).start()
        yield server.getsockname()[1]
        done.set()


def test_tls_on_a_plain_port_names_starttls(plain_imap: int) -> None:
    settings = InboxSettings("127.0.0.1", "me", port=plain_imap, security="tls", timeout=5)
    with (
        pytest.raises(InboxError) as caught,
        open_inbox(settings, Secret("pw", scrub=False), ssl.create_default_context()),
    ):
        pass
    assert caught.value.hint is not None
    assert 'security = "starttls"' in caught.value.hint
    assert f"port {plain_imap}" in caught.value.hint


def test_starttls_on_the_tls_port_names_tls(silent_tls_port: int) -> None:
    settings = InboxSettings(
        "127.0.0.1", "me", port=silent_tls_port, security="starttls", timeout=0.5
    )
    with (
        pytest.raises(InboxError) as caught,
        open_inbox(settings, Secret("pw", scrub=False), ssl.create_default_context()),
    ):
        pass
    assert "timed out" in str(caught.value)
    assert caught.value.hint is not None and 'security = "tls"' in caught.value.hint
