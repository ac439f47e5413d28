"""`seriespub send next` through the Postmark adapter against the fake Postmark API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log as log
from fakes.postmark import PostmarkState
from seriespub.ledger import Ledger
from seriespub.providers import postmark as postmark_provider

pytest.importorskip("seriespub.cli")

READERS = [f"reader{i:04d}@example.com" for i in range(1, 4)]


def series_for(
    make_series: Callable[..., Path], url: str, stream: str = "outbound", settle_delay: float = 0.0
) -> Path:
    delivery = (
        f'[delivery]\nprovider = "postmark"\n[delivery.postmark]\napi_url = "{url}"\n'
        f'message_stream = "{stream}"\nsettle_delay = {settle_delay}\n'
    )
    return make_series(delivery=delivery, subscribers=len(READERS))


def test_send_next_mails_everyone_once_and_a_second_run_sends_nothing(
    make_series: Callable[..., Path], cli: Callable[..., Any], postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = series_for(make_series, url)
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 0, first.output
    assert all(len(state.to(a)) == 1 for a in READERS)
    got = state.to(READERS[0])[0]
    assert got["Tag"] == "part-1" and got["MessageStream"] == "outbound"
    headers = {h["Name"]: h["Value"] for h in got["Headers"]}
    assert headers["List-Unsubscribe"].startswith("<https://example.com/unsubscribe?")
    assert headers["List-Id"] == "Test Series <test-series.example.com>"  # RFC 2919
    assert "Reader 1" in got["HtmlBody"] and "Reader 1" in got["TextBody"]

    second = cli(root, "send", "next", "--yes")  # part 2 goes out; part 1 is not resent
    assert second.exit_code == 0, second.output
    assert all(len(state.to(a)) == 2 for a in READERS)
    assert {m["Tag"] for m in state.to(READERS[0])} == {"part-1", "part-2"}
    sends = state.requests.count(("POST", "/email/batch"))
    third = cli(root, "send", "next", "--yes")
    assert third.exit_code == 0, third.output
    assert all(len(state.to(a)) == 2 for a in READERS)
    assert state.requests.count(("POST", "/email/batch")) == sends
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}


def test_an_inactive_address_is_logged_as_failed(
    make_series: Callable[..., Path], cli: Callable[..., Any], postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    state.fail(READERS[1], 406)
    root = series_for(make_series, url)
    cli(root, "send", "next", "--yes")
    deliveries = log(cli, root)
    assert deliveries[READERS[1]]["status"] == "failed"
    assert "406" in deliveries[READERS[1]]["reason"]
    assert deliveries[READERS[0]]["status"] == "sent"
    assert len(state.to(READERS[0])) == 1 and state.to(READERS[1]) == []


def test_a_lost_answer_is_settled_without_a_duplicate(
    make_series: Callable[..., Path], cli: Callable[..., Any], postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    state.faults.drops = 1
    state.search_lag = 0.4  # Postmark's search trails acceptance a little
    root = series_for(make_series, url, settle_delay=0.8)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert all(len(state.to(a)) == 1 for a in READERS)
    assert {d["status"] for d in log(cli, root).values()} == {"sent"}


def test_settling_too_early_would_duplicate(
    make_series: Callable[..., Path], cli: Callable[..., Any], postmark: tuple[str, PostmarkState]
) -> None:
    """Why settle_delay exists: asked before the search shows the message, Postmark says
    "not found" and the message is sent again."""
    url, state = postmark
    state.faults.drops = 1
    state.search_lag = 0.4
    root = series_for(make_series, url, settle_delay=0.0)
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 1 and "failed transiently" in first.stderr  # "not found"
    assert cli(root, "send", "retry", "1", "--yes").exit_code == 0
    assert all(len(state.to(a)) == 2 for a in READERS)


def test_broadcast_stream_uses_postmarks_unsubscribe_link(
    make_series: Callable[..., Path], cli: Callable[..., Any], postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = series_for(make_series, url, stream="broadcast")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    message = state.to(READERS[0])[0]
    assert "Headers" not in message


def test_a_resume_asks_nothing_reader_by_reader_of_a_batch_killed_before_its_request(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    postmark: tuple[str, PostmarkState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run killed between a batch's `pending` record and its request, the part already
    past what Postmark's search lists (10,000 in pages of 500; 10 in pages of 10 here): the
    resume settles the batch with its own search and one reader's lookup, then sends it.
    Before: its search, the part's tag, then one search a reader (12)."""
    url, state = postmark
    monkeypatch.setattr(postmark_provider, "SEARCH_LIMIT", 10)
    monkeypatch.setattr(postmark_provider, "SEARCH_PAGE", 10)
    delivery = (
        f'[delivery]\nprovider = "postmark"\nbatch_size = 10\n[delivery.postmark]\n'
        f'api_url = "{url}"\nsettle_delay = 0\n'
    )
    root = make_series(delivery=delivery, subscribers=30)
    assert cli(root, "send", "next", "--yes", "--limit", "20").exit_code == 0
    unsent = [f"reader{i:04d}@example.com" for i in range(21, 31)]
    with Ledger.open(root / ".seriespub" / "ledger.db") as ledger:
        ledger.begin_batch(1, "001-killedbeforeitsrequest", "postmark", unsent)
    searches = len([r for r in state.requests if r[1] == "/messages/outbound"])
    resumed = cli(root, "send", "next", "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert len([r for r in state.requests if r[1] == "/messages/outbound"]) - searches == 2
    assert all(len(state.to(a)) == 1 for a in unsent)
    deliveries = log(cli, root)
    assert len(deliveries) == 30 and {d["status"] for d in deliveries.values()} == {"sent"}
