"""`seriespub send next` through the Resend adapter against the fake Resend API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log as log
from fakes.resend import ResendState

pytest.importorskip("seriespub.cli")


def series_for(make_series: Callable[..., Path], url: str, subscribers: int = 3) -> Path:
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    return make_series(delivery=delivery, subscribers=subscribers)


def test_send_next_mails_everyone_once_and_a_second_run_sends_nothing(
    make_series: Callable[..., Path], cli: Callable[..., Any], resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    root = series_for(make_series, url)
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 0, first.output
    addresses = [f"reader{i:04d}@example.com" for i in range(1, 4)]
    assert all(len(state.messages_to(a)) == 1 for a in addresses)
    got = state.messages_to(addresses[0])[0].payload
    assert got["headers"]["List-Unsubscribe"].startswith("<https://example.com/unsubscribe?")
    assert got["tags"] == [{"name": "seriespub_part", "value": "1"}]

    count = len(state.requests)
    second = cli(root, "send", "next", "--yes")  # part 2 goes out; part 1 is not resent
    assert second.exit_code == 0, second.output
    assert all(len(state.messages_to(a)) == 2 for a in addresses)
    assert {m.payload["tags"][0]["value"] for m in state.messages_to(addresses[0])} == {"1", "2"}
    third = cli(root, "send", "next", "--yes")
    assert all(len(state.messages_to(a)) == 2 for a in addresses)
    assert len(state.requests) == count + 1 and third.exit_code == 0, third.output
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}


def test_a_refused_address_is_logged_as_failed(
    make_series: Callable[..., Path], cli: Callable[..., Any], resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    state.invalid_addresses.add("reader0002@example.com")
    root = series_for(make_series, url)
    cli(root, "send", "next", "--yes")
    deliveries = log(cli, root)
    assert deliveries["reader0002@example.com"]["status"] == "failed"
    assert "Invalid" in deliveries["reader0002@example.com"]["reason"]
    assert deliveries["reader0001@example.com"]["status"] == "sent"
    assert len(state.messages_to("reader0001@example.com")) == 1


def test_a_lost_answer_is_settled_without_a_duplicate(
    make_series: Callable[..., Path], cli: Callable[..., Any], resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    state.faults.drops = 1
    root = series_for(make_series, url)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    for address in (f"reader{i:04d}@example.com" for i in range(1, 4)):
        assert len(state.messages_to(address)) == 1
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}


def test_a_sending_only_key_warns_about_suppressions_and_still_sends(
    make_series: Callable[..., Path], cli: Callable[..., Any], resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    state.sending_only = True
    root = series_for(make_series, url)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert "warning: could not read suppressions" in result.stderr
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}
    synced = cli(root, "subscribers", "sync")  # asked for explicitly: an error
    assert synced.exit_code == 1 and "Full access" in synced.stderr
