"""Reading a provider's unsubscribes and bounces survives a passing 429 or 5xx.

A read changes nothing at the provider, so it is retried like a send (backoff, the
provider's Retry-After) for at most `max_retry_seconds`: a single rate limit must neither
fail `subscribers sync` nor let a send go out without the provider's unsubscribes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.mailgun import MailgunState, fake_mailgun
from fakes.resend import ResendState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

MAILGUN_KEY = "key-sync"
LEFT = "reader0002@example.com"


@pytest.fixture
def mailgun(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, MailgunState]]:
    monkeypatch.setenv("MAILGUN_API_KEY", MAILGUN_KEY)
    with fake_mailgun(MailgunState(api_key=MAILGUN_KEY, domain="mg.example.com")) as running:
        yield running


def mailgun_series(make_series: MakeSeries, url: str, retry_seconds: int = 30) -> Path:
    delivery = (
        f'[delivery]\nprovider = "mailgun"\nmax_retry_seconds = {retry_seconds}\n'
        f'[delivery.mailgun]\ndomain = "mg.example.com"\napi_url = "{url}"\n'
    )
    return make_series(delivery=delivery, drafts=1)


def status_of(root: Path, address: str) -> str:
    for line in (root / "subscribers.csv").read_text(encoding="utf-8").splitlines():
        if line.startswith(address + ","):
            return line.split(",")[2]
    raise AssertionError(f"{address} is not in the list")


def unsubscribed_at_mailgun(state: MailgunState) -> None:
    state.suppressions["unsubscribes"] = [{"address": LEFT, "tags": ["*"], "created_at": "x"}]


@pytest.mark.parametrize("fault", ["rate_limited", "server_errors"])
def test_subscribers_sync_retries_a_passing_failure(
    make_series: MakeSeries, cli: Cli, mailgun: tuple[str, MailgunState], fault: str
) -> None:
    url, state = mailgun
    unsubscribed_at_mailgun(state)
    setattr(state.faults, fault, 1)
    root = mailgun_series(make_series, url)
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "1 subscriber(s) updated from mailgun" in result.stdout
    assert status_of(root, LEFT) == "unsubscribed"


def test_subscribers_sync_gives_up_after_max_retry_seconds(
    make_series: MakeSeries, cli: Cli, mailgun: tuple[str, MailgunState]
) -> None:
    url, state = mailgun
    state.faults.server_errors = 1000
    root = mailgun_series(make_series, url, retry_seconds=0)
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: mailgun (HTTP 500)"), result.stderr
    assert "Traceback" not in result.output


def test_a_send_reads_the_unsubscribes_through_a_rate_limit(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    state.contacts.append(
        {"id": "con-1", "email": LEFT, "created_at": "2026-10-06T23:47:56Z", "unsubscribed": True}
    )
    state.faults.rate_limited = 1  # the first request of the run: the suppression read
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    root = make_series(delivery=delivery, drafts=1)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert "could not read suppressions" not in result.stderr
    assert state.messages_to(LEFT) == []
    assert status_of(root, LEFT) == "unsubscribed"
    assert len(state.messages_to("reader0001@example.com")) == 1


@pytest.mark.parametrize("provider", ["outbox", "ses"])
def test_sync_says_so_when_the_provider_tells_nothing(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    """SES and the outbox report no unsubscribes or bounces to seriespub: `sync` must not
    read as if it had asked them ("0 updated from ses"), and it points at `[inbox]`."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSYNC")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sync-secret")
    delivery = (
        '[delivery]\nprovider = "ses"\n[delivery.ses]\nregion = "eu-west-1"\n'
        'api_url = "http://127.0.0.1:9"\n'  # never asked
        if provider == "ses"
        else ""
    )
    root = make_series(delivery=delivery, drafts=1)
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "updated from" not in result.stdout
    assert f"{provider} reports no unsubscribes or bounces to seriespub" in result.stdout
    assert "[inbox]" in result.stderr
