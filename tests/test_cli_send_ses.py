"""`seriespub send next` through the SES adapter against the fake SES v2 API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log as log
from fakes.ses import SesState, fake_ses

pytest.importorskip("seriespub.cli")

KEY_ID, SECRET = "AKIDCLI", "cli-secret"
READERS = [f"reader{i:04d}@example.com" for i in range(1, 4)]


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SesState]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    state = SesState(access_key=KEY_ID, secret_key=SECRET, region="eu-west-1")
    with fake_ses(state) as running:
        yield running


def series_for(make_series: Callable[..., Path], url: str) -> Path:
    delivery = (
        f'[delivery]\nprovider = "ses"\n[delivery.ses]\nregion = "eu-west-1"\napi_url = "{url}"\n'
    )
    return make_series(delivery=delivery, drafts=1)


def test_send_next_mails_everyone_once_and_a_second_run_sends_nothing(
    make_series: Callable[..., Path], cli: Callable[..., Any], ses: tuple[str, SesState]
) -> None:
    url, state = ses
    root = series_for(make_series, url)
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 0, first.output
    for address in READERS:
        [got] = state.messages_to(address)
        assert got.mime is not None
        assert got.mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    second = cli(root, "send", "next", "--yes")
    assert second.exit_code == 0, second.output
    assert all(len(state.messages_to(a)) == 1 for a in READERS)
    assert len(state.requests) == len(READERS)
    deliveries = log(cli, root)
    assert {d["status"] for d in deliveries.values()} == {"sent"}
    assert {d["message_id"] for d in deliveries.values()} == {
        state.messages_to(a)[0].message_id for a in READERS
    }


def test_a_rejected_address_is_logged_as_failed(
    make_series: Callable[..., Path], cli: Callable[..., Any], ses: tuple[str, SesState]
) -> None:
    url, state = ses
    state.rejected_addresses.add("reader0002@example.com")
    root = series_for(make_series, url)
    cli(root, "send", "next", "--yes")
    deliveries = log(cli, root)
    assert deliveries["reader0002@example.com"]["status"] == "failed"
    assert "MessageRejected" in deliveries["reader0002@example.com"]["reason"]
    assert [len(state.messages_to(a)) for a in READERS] == [1, 0, 1]
