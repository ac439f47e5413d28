"""`seriespub send next` through the SendGrid adapter against the fake SendGrid API."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log as log
from fakes.sendgrid import API_KEY, SendgridState

pytest.importorskip("seriespub.cli")

READERS = [f"reader{i:04d}@example.com" for i in range(1, 4)]


def series_for(make_series: Callable[..., Path], url: str) -> Path:
    delivery = f'[delivery]\nprovider = "sendgrid"\n[delivery.sendgrid]\napi_url = "{url}"\n'
    return make_series(delivery=delivery, subscribers=len(READERS))


def test_send_next_mails_everyone_once_and_a_second_run_sends_nothing(
    make_series: Callable[..., Path], cli: Callable[..., Any], sendgrid: tuple[str, SendgridState]
) -> None:
    url, state = sendgrid
    root = series_for(make_series, url)
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 0, first.output
    assert len(state.requests) == 1  # one request, content once
    assert all(len(state.to(a)) == 1 for a in READERS)
    got = state.to(READERS[0])[0]
    assert "Reader 1" in got["html"] and "Reader 1" in got["text"]
    assert not re.search(r"-sp\d+[ht]-", got["html"] + got["text"])
    assert got["headers"]["List-Unsubscribe"].startswith("<https://example.com/unsubscribe?")

    second = cli(root, "send", "next", "--yes")  # part 2
    assert second.exit_code == 0, second.output
    assert all(len(state.to(a)) == 2 for a in READERS)
    third = cli(root, "send", "next", "--yes")
    assert third.exit_code == 0, third.output
    assert len(state.requests) == 2
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}


def test_a_refused_request_sends_nobody_and_is_logged(
    make_series: Callable[..., Path], cli: Callable[..., Any], sendgrid: tuple[str, SendgridState]
) -> None:
    url, state = sendgrid
    state.key = "SG.another-key"  # every request now answers 401
    root = series_for(make_series, url)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code != 0
    assert API_KEY not in result.output
    assert state.accepted == []
    assert "sent" not in {d["status"] for d in log(cli, root).values()}


def test_a_rate_limit_is_waited_out(
    make_series: Callable[..., Path], cli: Callable[..., Any], sendgrid: tuple[str, SendgridState]
) -> None:
    url, state = sendgrid
    state.faults.rate_limited = 1
    state.reset_in = 1
    root = series_for(make_series, url)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert all(len(state.to(a)) == 1 for a in READERS)
