"""A server that echoes the request's credentials never gets them shown or stored (issue 7.3).

For every provider, a local server on 127.0.0.1 answers with the credentials it was sent
(Authorization, X-Postmark-Server-Token, Basic auth decoded, X-Amz-Security-Token, SMTP AUTH
decoded and base64) in a 401, a 5xx, and per-recipient refusals. The real CLI runs
(`send next --yes`, with `--json`, `log`, `send due`, `status`), and no secret nor any
encoded form of one may appear in stdout, stderr, `.seriespub/log.jsonl`, any text column of
the ledger, or any other file of the series (raw bytes, so SQLite's free pages count).
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import seriespub
from fakes.echo import EchoState, echo_http, echo_smtp

MakeSeries = Callable[..., Path]

SECRETS = {
    "POSTMARK_SERVER_TOKEN": "pm-leak-9f8e7d6c5b4a3921/Ab+Cd=Ef",
    "SENDGRID_API_KEY": "SG.leak-1a2b3c4d5e6f7a8b.Zx/+Yw==",
    "MAILGUN_API_KEY": "key-leak-0123456789abcdef",
    "RESEND_API_KEY": "re_leak_Q1w2E3r4T5y6U7i8",
    "AWS_ACCESS_KEY_ID": "AKIALEAKTEST12345678",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKKEY",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzELEAK//////////wEaDH+tok/en=",
    "SMTP_PASSWORD": "smtp-leak-pa55/w0rd+=",
    "SERIESPUB_SECRET": "hmac-LEAK-unsubscribe-9z8y7x6w5v4u3t2s1r0q",
}
SOURCES = str(Path(seriespub.__file__).resolve().parents[1])
SMTP_USER = "mailer"
NEEDS = {
    "postmark": ["POSTMARK_SERVER_TOKEN"],
    "sendgrid": ["SENDGRID_API_KEY"],
    "mailgun": ["MAILGUN_API_KEY"],
    "resend": ["RESEND_API_KEY"],
    "ses": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"],
    "smtp": ["SMTP_PASSWORD"],
}
SCHEDULE = '[schedule]\nfirst_release = 2026-01-01T09:00:00\ntimezone = "UTC"\n'
# 5xx answers are retried: keep the retry budget short.
QUICK = "max_retry_seconds = 0.5\n"


def b64_forms(data: bytes) -> set[str]:
    """`data` in base64 (standard and URL-safe, padded or not)."""
    out = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(data).decode()
        out |= {text, text.rstrip("=")}
    return out


def b64_cores(data: bytes) -> set[str]:
    """What every base64 text holding `data` at any offset contains, whatever surrounds it."""
    out = set()
    for offset in range(3):
        text = base64.b64encode(b"\0" * offset + data).decode()
        start = 4 if offset else 0
        end = len(text) - (4 if (offset + len(data)) % 3 else 0)
        core = text[start:end]
        out |= {core, core.replace("+", "-").replace("/", "_")}
    return {c for c in out if len(c) >= 8}


def forbidden() -> set[str]:
    """Every secret and every encoded form of it that a server could send back."""
    out: set[str] = set()
    for value in SECRETS.values():
        raw = value.encode()
        out |= {
            value,
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value),
            json.dumps(value)[1:-1],
        }
        out |= b64_forms(raw) | b64_cores(raw)
    out |= b64_forms(f"api:{SECRETS['MAILGUN_API_KEY']}".encode())
    password = SECRETS["SMTP_PASSWORD"]
    out |= b64_forms(f"\0{SMTP_USER}\0{password}".encode())
    out |= b64_forms(f"{SMTP_USER}\0{SMTP_USER}\0{password}".encode())
    return out


def leaks(text: str) -> list[str]:
    return sorted(form for form in forbidden() if form in text)


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process, importing the seriespub under test."""
    env = dict(os.environ)
    # The child runs in the series folder: a relative PYTHONPATH would miss these sources.
    env["PYTHONPATH"] = os.pathsep.join([SOURCES, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "seriespub", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def ledger_text(root: Path) -> str:
    """Every text value in every table of the ledger, read with sqlite3."""
    conn = sqlite3.connect(root / ".seriespub" / "ledger.db")
    try:
        values = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                values += [v for v in row if isinstance(v, str)]
        return "\n".join(values)
    finally:
        conn.close()


def files_text(root: Path) -> str:
    """Every file of the series as bytes (ledger pages, WAL, run log, outbox, CSV)."""
    return "\n".join(
        p.read_bytes().decode("latin-1") for p in sorted(root.rglob("*")) if p.is_file()
    )


def exercise(root: Path) -> str:
    """Run what an author runs after a failure; returns everything the CLI printed."""
    printed = []
    for args in (
        ["send", "next", "--yes"],
        ["send", "next", "--yes", "--json"],
        ["send", "due", "--json"],
        ["send", "due"],
        ["log"],
        ["log", "--json"],
        ["log", "1"],
        ["log", "1", "--json"],
    ):
        result = run(root, *args)
        assert "Traceback" not in result.stderr, result.stderr
        printed += [f"$ seriespub {' '.join(args)}", result.stdout, result.stderr]
    return "\n".join(printed)


def assert_nothing_leaked(root: Path, printed: str) -> None:
    log = root / ".seriespub" / "log.jsonl"  # none when the first send settled every reader
    stored_log = log.read_text(encoding="utf-8") if log.exists() else ""
    reasons = ledger_text(root)
    assert "denied" in printed + reasons or "refused" in printed + reasons, (
        "the echo never reached seriespub's output: the test proves nothing"
    )
    for where, text in (
        ("CLI output", printed),
        ("log.jsonl", stored_log),
        ("ledger", reasons),
        ("series files", files_text(root)),
    ):
        assert not leaks(text), f"{where} leaks {leaks(text)}:\n{text[:3000]}"


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    yield


def http_series(make_series: MakeSeries, provider: str, url: str) -> Path:
    extra = {"mailgun": 'domain = "mg.example.com"\n', "ses": 'region = "eu-west-1"\n'}
    delivery = (
        f'[delivery]\nprovider = "{provider}"\n{QUICK}[delivery.{provider}]\n'
        f'api_url = "{url}"\n{extra.get(provider, "")}'
    )
    return make_series(delivery=delivery, drafts=1, extra_toml=SCHEDULE)


HTTP_CASES = [
    (p, s) for p in ("postmark", "sendgrid", "mailgun", "resend", "ses") for s in (401, 503)
]


@pytest.mark.slow
@pytest.mark.parametrize(("provider", "status"), HTTP_CASES)
def test_an_http_api_echoing_credentials_leaks_nothing(
    make_series: MakeSeries, secrets_env: None, provider: str, status: int
) -> None:
    # The AWS secret key never travels; the server repeats it anyway, and the unsubscribe key.
    state = EchoState(
        status=status, extra=[SECRETS["AWS_SECRET_ACCESS_KEY"], SECRETS["SERIESPUB_SECRET"]]
    )
    with echo_http(state) as (url, _):
        root = http_series(make_series, provider, url)
        printed = exercise(root)
    assert state.requests, "no request reached the echo server"
    # The server really had the credentials to echo (the AWS secret key itself never travels).
    sent = "\n".join(v for h in state.requests for v in h.values())
    sent_secrets = [SECRETS[n] for n in NEEDS[provider] if n != "AWS_SECRET_ACCESS_KEY"]
    basic = b64_forms(f"api:{SECRETS['MAILGUN_API_KEY']}".encode())
    assert all(s in sent for s in sent_secrets) or any(b in sent for b in basic), sent
    assert_nothing_leaked(root, printed)


@pytest.mark.slow
def test_postmark_refusing_each_message_with_an_echo_leaks_nothing(
    make_series: MakeSeries, secrets_env: None
) -> None:
    """Per-recipient reasons (a 200 batch answer) go to stdout and the ledger too."""
    with echo_http(EchoState(batch_entries=True, status=401)) as (url, _):
        root = http_series(make_series, "postmark", url)
        printed = exercise(root)
    assert "ErrorCode 300" in ledger_text(root)
    assert_nothing_leaked(root, printed)


@pytest.mark.slow
def test_ses_rejecting_each_message_with_an_echo_leaks_nothing(
    make_series: MakeSeries, secrets_env: None
) -> None:
    with echo_http(EchoState(status=400, error_type="MessageRejected")) as (url, _):
        root = http_series(make_series, "ses", url)
        printed = exercise(root)
    assert "failed" in ledger_text(root)  # refused one by one, not stopped
    assert_nothing_leaked(root, printed)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("refuse_auth", "rcpt_code"), [(True, ""), (False, "554 5.7.1"), (False, "451 4.7.1")]
)
def test_an_smtp_server_echoing_credentials_leaks_nothing(
    make_series: MakeSeries, secrets_env: None, refuse_auth: bool, rcpt_code: str
) -> None:
    with echo_smtp(refuse_auth=refuse_auth, rcpt_code=rcpt_code or "554 5.7.1") as server:
        delivery = server.delivery_toml().replace(
            'security = "none"\n', f'security = "none"\nusername = "{SMTP_USER}"\n'
        )
        delivery = delivery.replace('provider = "smtp"\n', f'provider = "smtp"\n{QUICK}')
        root = make_series(delivery=delivery, drafts=1, extra_toml=SCHEDULE)
        printed = exercise(root)
    assert_nothing_leaked(root, printed)


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """In-process runs share the registry: start each from nothing, as a new process does."""
    from seriespub import redact

    redact.forget_all()
    yield
    redact.forget_all()


def test_in_process_a_401_echo_reaches_no_output_and_no_file(
    make_series: MakeSeries, cli: Callable[..., Any], secrets_env: None, fresh_registry: None
) -> None:
    """The quick version of the matrix above (same CLI, in this process)."""
    with echo_http(EchoState(status=401)) as (url, _):
        root = http_series(make_series, "mailgun", url)
        printed = []
        for args in (["send", "next", "--yes"], ["send", "due", "--json"], ["log", "1", "--json"]):
            result = cli(root, *args)
            printed += [result.stdout, result.stderr]
    assert_nothing_leaked(root, "\n".join(printed))
