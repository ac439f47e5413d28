"""Secrets stay hidden in the commands added since the echo trial (session 8).

The inbox's `IMAP_PASSWORD` is refused by a server that repeats the LOGIN line (imaplib
shows a `BAD` reply as a Python bytes repr, so quotes and backslashes come back escaped
twice), and secrets hold the characters that get escaped on the way: `"`, `'`, `\\`, `%`,
`&`, `<>`, `+/=` and spaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.echo import echo_imap, echo_smtp
from seriespub import redact
from sqlitefile import sqlite_file

MakeSeries = Callable[..., Path]
Cli = Callable[..., Any]

# What imaplib's LOGIN quoting, then a bytes repr, escape: `"`, `\\` and `'`.
IMAP_PASSWORD = 'imap pw "quoted" it\'s \\back +/=%&<> end'


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """In-process runs share the registry: start each from nothing, as a new process does."""
    redact.forget_all()
    yield
    redact.forget_all()


def inbox_series(make_series: MakeSeries, port: int) -> Path:
    inbox = (
        f'[inbox]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        'username = "me@example.com"\n'
    )
    return make_series(drafts=1, subscribers=1, extra_toml=inbox)


def ledger_and_log(root: Path) -> str:
    """Every text value of the ledger, and the run log."""
    state = root / ".seriespub"
    texts = [(state / "log.jsonl").read_text()] if (state / "log.jsonl").exists() else []
    if (state / "ledger.db").exists():
        with sqlite_file(state / "ledger.db") as conn:
            texts += list(conn.iterdump())
    return "\n".join(texts)


def password_shown(text: str) -> list[str]:
    """Pieces of the password that would let a reader rebuild it, however escaped."""
    return [piece for piece in ("quoted", "it's", "it\\'s", "back +/=") if piece in text]


@pytest.mark.parametrize("reply", ["NO", "BAD"])
def test_an_imap_server_echoing_the_login_line_never_shows_the_password(
    make_series: MakeSeries,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
    reply: str,
) -> None:
    monkeypatch.setenv("IMAP_PASSWORD", IMAP_PASSWORD)
    with echo_imap(reply) as port:
        root = inbox_series(make_series, port)
        result = cli(root, "subscribers", "sync")
    assert result.exit_code == 1
    assert "login as me@example.com refused" in result.stderr  # the echo reached the error
    assert "got: LOGIN me@example.com" in result.stderr
    assert not password_shown(result.stdout + result.stderr), result.stderr


def test_a_password_imap_cannot_send_is_one_clear_line(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    monkeypatch.setenv("IMAP_PASSWORD", "imap-pässword-long-enough")
    with echo_imap() as port:
        root = inbox_series(make_series, port)
        result = cli(root, "subscribers", "sync")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "IMAP_PASSWORD" in result.stderr and "ASCII" in result.stderr
    assert "pässword" not in result.stderr


SMTP_PASSWORD = 'smtp pw "q" it\'s \\back +/=%&<> end'


@pytest.mark.parametrize("refuse_auth", [True, False])
@pytest.mark.parametrize(
    "command", [("send", "test", "--to", "me@example.com"), ("send", "next", "--yes", "--json")]
)
def test_an_smtp_server_echoing_an_awkward_password_never_shows_it(
    make_series: MakeSeries,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
    refuse_auth: bool,
    command: tuple[str, ...],
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    with echo_smtp(refuse_auth=refuse_auth) as server:
        delivery = server.delivery_toml() + 'username = "mailer"\n'
        delivery = delivery.replace(
            'provider = "smtp"\n', 'provider = "smtp"\nmax_retry_seconds = 0.2\n'
        )
        root = make_series(delivery=delivery, drafts=1, subscribers=1)
        result = cli(root, *command)
        shown = result.stdout + result.stderr + ledger_and_log(root)
    assert "refused" in shown, shown  # the echo reached what seriespub shows
    assert not [p for p in ("smtp pw", "it's", "it\\'s", "back +/=") if p in shown], shown


UNSENDABLE = {
    "POSTMARK_SERVER_TOKEN": ("postmark", "pm-token-café-0123456789"),
    "SENDGRID_API_KEY": ("sendgrid", "SG.key-with-a-line-break\r\n"),
    "MAILGUN_API_KEY": ("mailgun", "key-ünïcode-0123456789"),
    "RESEND_API_KEY": ("resend", "re_key\twith-a-tab-0123456789"),
    "AWS_SECRET_ACCESS_KEY": ("ses", "aws-secret-é-0123456789"),
    "AWS_SESSION_TOKEN": ("ses", "session-tökén-0123456789"),
    "SMTP_PASSWORD": ("smtp", "smtp-pässword-0123456789"),
}


@pytest.mark.parametrize("name", sorted(UNSENDABLE))
@pytest.mark.parametrize("command", [("send", "test", "--to", "me@example.com"), ("check",)])
def test_a_credential_no_protocol_can_send_is_one_clear_line(
    make_series: MakeSeries,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
    name: str,
    command: tuple[str, ...],
) -> None:
    """HTTP headers and SMTP/IMAP logins carry ASCII only, with no control character:
    anything else was a traceback from deep in httpx, botocore or smtplib."""
    provider, value = UNSENDABLE[name]
    for other in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SMTP_PASSWORD"):
        monkeypatch.setenv(other, f"{other.lower()}-0123456789abcdef")
    monkeypatch.setenv(name, value)
    table = {
        "mailgun": 'domain = "mg.example.com"\n',
        "ses": 'region = "eu-west-1"\n',
        "smtp": 'host = "127.0.0.1"\nport = 9\nusername = "mailer"\n',
    }.get(provider, "")
    quick = "max_retry_seconds = 0\n"  # a bug that let it through fails at once
    delivery = f'[delivery]\nprovider = "{provider}"\n{quick}[delivery.{provider}]\n{table}'
    if provider != "smtp":
        delivery += 'api_url = "http://127.0.0.1:9"\n'
    root = make_series(delivery=delivery, drafts=1, subscribers=1)
    result = cli(root, *command)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{name} holds a character" in result.stdout + result.stderr
    assert value.strip() not in result.stdout + result.stderr


def test_a_bugs_traceback_never_shows_a_secret(make_series: MakeSeries) -> None:
    # A genuine bug (here injected: `status` raising with a key in its message, as code
    # formatting a server's answer might) still prints its traceback for the bug report,
    # scrubbed: the key, and one no command had read yet.
    import os
    import subprocess
    import sys

    root = make_series(drafts=1)
    key, other = "pm-key-" + "7" * 24, "sg-key-" + "8" * 24
    code = (
        "import os, sys\n"
        "import seriespub.ops.status as ops\n"
        "def boom(*args, **kwargs):\n"
        "    raise RuntimeError('answer was ' + os.environ['POSTMARK_SERVER_TOKEN'] + ' / '"
        " + os.environ['SENDGRID_API_KEY'])\n"
        "ops.status = boom\n"
        "from seriespub.__main__ import run\n"
        "sys.argv = ['seriespub', 'status']\n"
        "run()\n"
    )
    env = {**os.environ, "POSTMARK_SERVER_TOKEN": key, "SENDGRID_API_KEY": other}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "RuntimeError: answer was *** / ***" in done.stderr, done.stderr
    assert key not in done.stderr + done.stdout and other not in done.stderr + done.stdout
