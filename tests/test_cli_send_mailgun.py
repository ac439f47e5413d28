"""`seriespub send next` through the Mailgun adapter against the fake Mailgun API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log as log
from fakes.mailgun import MailgunState, fake_mailgun

pytest.importorskip("seriespub.cli")

KEY = "key-cli"
READERS = [f"reader{i:04d}@example.com" for i in range(1, 4)]


@pytest.fixture
def mailgun(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, MailgunState]]:
    monkeypatch.setenv("MAILGUN_API_KEY", KEY)
    with fake_mailgun(MailgunState(api_key=KEY, domain="mg.example.com")) as running:
        yield running


def series_for(make_series: Callable[..., Path], url: str) -> Path:
    delivery = (
        '[delivery]\nprovider = "mailgun"\n[delivery.mailgun]\n'
        f'domain = "mg.example.com"\napi_url = "{url}"\n'
    )
    return make_series(delivery=delivery, drafts=1)


def test_send_next_mails_everyone_once_and_a_second_run_sends_nothing(
    make_series: Callable[..., Path], cli: Callable[..., Any], mailgun: tuple[str, MailgunState]
) -> None:
    url, state = mailgun
    root = series_for(make_series, url)
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 0, first.output
    for address in READERS:
        [got] = state.messages_to(address)
        assert got.headers["List-Unsubscribe"].startswith("<https://example.com/unsubscribe?")
        assert "%recipient." not in got.html + got.text
    assert len(state.requests) == 1  # one batch request for all readers

    second = cli(root, "send", "next", "--yes")
    assert second.exit_code == 0, second.output
    assert all(len(state.messages_to(a)) == 1 for a in READERS)
    assert len(state.requests) == 1
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}


def test_a_refused_batch_is_deferred_and_logged(
    make_series: Callable[..., Path], cli: Callable[..., Any], mailgun: tuple[str, MailgunState]
) -> None:
    url, state = mailgun
    state.invalid_addresses.add("reader0002@example.com")
    root = series_for(make_series, url)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1
    deliveries = log(cli, root)
    assert {d["status"] for d in deliveries.values()} == {"deferred"}
    assert "not a valid address" in deliveries["reader0002@example.com"]["reason"]
    assert not state.accepted


def test_a_held_send_warns_that_mailgun_cannot_withdraw_it_before_asking(
    make_series: Callable[..., Path], cli: Callable[..., Any], mailgun: tuple[str, MailgunState]
) -> None:
    """`send cancel` cannot reach a send Mailgun holds: the author hears so before the
    question, and declining then sends and records nothing."""
    import datetime as dt

    url, state = mailgun
    root = series_for(make_series, url)
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M%z")
    refused = cli(root, "send", "next", "--at", at, input="n\n")
    assert refused.exit_code != 0
    assert "mailgun cannot withdraw a held send" in refused.stderr
    assert "delete it in Mailgun" in refused.stderr
    assert state.requests == []
    done = cli(root, "send", "next", "--yes", "--at", at)
    assert done.exit_code == 0, done.output
    assert "mailgun cannot withdraw a held send" in done.stderr
    assert len(state.requests) == 1


def test_a_send_now_has_no_such_warning(
    make_series: Callable[..., Path], cli: Callable[..., Any], mailgun: tuple[str, MailgunState]
) -> None:
    url, _ = mailgun
    root = series_for(make_series, url)
    done = cli(root, "send", "next", "--yes")
    assert done.exit_code == 0, done.output
    assert "withdraw" not in done.output
