"""An HTTPS adapter's TLS context: loaded ahead on its own thread, the one the client uses,
and a bundle that cannot be read named in one line."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import delivery_log, postmark_delivery
from fakes.postmark import PostmarkState
from seriespub.providers import tls
from seriespub.providers.http import make_client

Cli = Callable[..., Any]


@pytest.fixture
def fresh_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `tls` module as a new process has it: nothing loaded or asked for."""
    monkeypatch.setattr(tls, "_started", False)
    monkeypatch.setattr(tls, "_done", threading.Event())
    monkeypatch.setattr(tls, "_result", None)
    monkeypatch.setattr(tls, "_error", None)


@pytest.fixture
def loads(fresh_tls: None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """httpx's loader records the thread of each load and returns a context that loads no
    bundle (fast)."""
    threads: list[str] = []

    def create_ssl_context(*args: object, **kwargs: object) -> ssl.SSLContext:
        threads.append(threading.current_thread().name)
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    monkeypatch.setattr(httpx, "create_ssl_context", create_ssl_context)
    return threads


def test_a_send_loads_the_context_ahead_once_on_its_own_thread(
    make_series: Callable[..., Path],
    cli: Cli,
    postmark: tuple[str, PostmarkState],
    loads: list[str],
) -> None:
    url, state = postmark
    root = make_series(drafts=1, subscribers=3, delivery=postmark_delivery(url))
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert len(state.accepted) == 3
    assert loads == ["tls-context"]


def test_the_client_verifies_with_the_context_loaded_ahead(loads: list[str]) -> None:
    tls.load_ahead()
    tls.load_ahead()  # once per process
    client = make_client(5.0)
    try:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context is tls.context()
    finally:
        client.close()
    assert loads == ["tls-context"]


def test_without_asking_ahead_the_client_loads_it_itself(loads: list[str]) -> None:
    make_client(5.0).close()
    make_client(5.0).close()
    assert loads == [threading.current_thread().name]


def test_an_unreadable_bundle_is_one_line_naming_the_variable(
    make_series: Callable[..., Path],
    cli: Cli,
    postmark: tuple[str, PostmarkState],
    fresh_tls: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, state = postmark
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(junk))
    root = make_series(drafts=1, subscribers=3, delivery=postmark_delivery(url))
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output
    assert (
        f"error: cannot load the TLS certificates to verify the provider (SSL_CERT_FILE={junk})"
        in result.stderr
    )
    assert "hint: point SSL_CERT_FILE at a readable PEM bundle" in result.stderr
    assert "Traceback" not in result.output
    assert state.accepted == []
    assert delivery_log(cli, root) == {}  # nothing recorded, not even pending


EXITS_WHILE_LOADING = """
import sys
from seriespub.providers import tls
tls.load_ahead()
print("exiting", flush=True)
sys.exit(0)
"""


def test_a_command_that_ends_while_the_context_loads_waits_for_the_load(tmp_path: Path) -> None:
    """A daemon thread still importing httpx or inside OpenSSL when the interpreter shuts
    down can crash the process (CI once saw a `send next` with nothing to send end in
    SIGSEGV): exit waits for the load. The bundle is a FIFO, so the load holds until the
    test writes it."""
    import os
    import subprocess
    import sys
    import time

    import certifi

    fifo = tmp_path / "bundle.pem"
    os.mkfifo(fifo)
    env = {**os.environ, "SSL_CERT_FILE": str(fifo), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", EXITS_WHILE_LOADING],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "exiting\n"
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting for the load, not gone from under it
        with fifo.open("wb") as bundle:  # the load goes on, and the process ends
            bundle.write(Path(certifi.where()).read_bytes())
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
