"""A `send next` that stops before sending anything leaves the part as it was: not started.

A part's start is its release: `status` shows it "sending" with that time, the site
publishes it and late joiners are counted from it. A refused `--at`, a missing `--yes`
and the like must not release a part that nobody received.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine

from conftest import postmark_delivery, sendgrid_delivery
from fakes.postmark import PostmarkState
from fakes.sendgrid import SendgridState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]


def part_state(cli: Cli, root: Path, number: int = 1) -> dict[str, Any]:
    result = cli(root, "status", "--json")
    assert result.exit_code == 0, result.output
    [found] = [i for i in json.loads(result.stdout)["instalments"] if i["number"] == number]
    return dict(found)


def unreleased(state: dict[str, Any]) -> bool:
    return state["state"] == "ready" and state["sent_at"] is None


def in_hours(hours: int) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    return when.strftime("%Y-%m-%dT%H:%M:00Z")


@pytest.mark.parametrize(
    "at",
    [in_hours(24 * 5), "2020-01-01T09:00:00Z", "slot", "not a date"],
    ids=["too-far", "past", "no-slot", "not-a-date"],
)
def test_a_refused_at_time_leaves_the_part_unreleased(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState], at: str
) -> None:
    url, state = sendgrid
    root = make_series(delivery=sendgrid_delivery(url), drafts=1)
    result = cli(root, "send", "next", "--yes", "--at", at)
    assert result.exit_code == 1, result.output
    assert state.accepted == []
    assert unreleased(part_state(cli, root))


def test_a_provider_that_cannot_schedule_leaves_the_part_unreleased(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(delivery=postmark_delivery(url), drafts=1)
    result = cli(root, "send", "next", "--yes", "--at", in_hours(2))
    assert result.exit_code == 1, result.output
    assert "cannot hold messages until a time" in result.stderr
    assert state.accepted == []
    assert unreleased(part_state(cli, root))


def test_a_send_not_confirmed_leaves_the_part_unreleased(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=1)
    result = cli(root, "send", "next")  # no terminal, no --yes
    assert result.exit_code == 2, result.output
    assert unreleased(part_state(cli, root))
    status = cli(root, "status")
    assert "0 catching up" in status.stdout, status.stdout  # nobody became a late joiner


def test_a_scheduled_send_is_dated_at_its_release(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, _ = sendgrid
    root = make_series(delivery=sendgrid_delivery(url), drafts=1)
    at = in_hours(2)
    result = cli(root, "send", "next", "--yes", "--at", at)
    assert result.exit_code == 0, result.output
    state = part_state(cli, root)
    assert state["state"] == "scheduled"
    assert dt.datetime.fromisoformat(state["sent_at"]) == dt.datetime.fromisoformat(at)


def test_a_part_with_nobody_to_send_to_finishes_on_a_calendar(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Every reader has left: the part is complete at once, and `send next` goes on to
    the next one instead of planning the same part again and again."""
    schedule = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
    root = make_series(drafts=1, subscribers=1, extra_toml=schedule)
    assert cli(root, "subscribers", "remove", "reader0001@example.com").exit_code == 0
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), tick=False):
        result = run_with_deadline(cli, root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output[-2000:]
        assert part_state(cli, root)["state"] == "sent"


def run_with_deadline(cli: Cli, root: Path, *args: str, seconds: int = 20) -> Any:
    """Run the CLI; a run still going after `seconds` fails the test instead of hanging."""
    import signal

    def too_long(*_: object) -> None:
        raise TimeoutError(f"seriespub {' '.join(args)} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(seconds)
    try:
        return cli(root, *args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
