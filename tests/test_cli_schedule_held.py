"""`seriespub schedule` shows a part handed over to be released later (`send next --at`) as
held until its release time, never as sent: nobody has it yet, and `send cancel` may still
withdraw it. After the release time (or a cancel) it reads as any other part.

Through the CLI against the SendGrid fake (it holds sends up to 72 h), the clock frozen.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from conftest import ok, sendgrid_delivery
from fakes.sendgrid import SendgridState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'


def held_series(make_series: MakeSeries, cli: Cli, url: str) -> Path:
    """Part 1 handed over on Saturday 28 November, to go out at its slot on Tuesday."""
    delivery = sendgrid_delivery(url)
    root = make_series(drafts=2, subscribers=3, delivery=delivery, extra_toml=SCHEDULE)
    ok(cli(root, "send", "next", "--at", "slot", "--yes"))
    return root


def row_of_part(stdout: str, number: int) -> str:
    return next(line for line in stdout.splitlines() if line.strip().startswith(f"{number} "))


def test_schedule_shows_a_held_part_as_held_not_sent(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, _ = sendgrid
    with time_machine.travel(dt.datetime(2026, 11, 28, 20, tzinfo=LONDON), tick=False):
        root = held_series(make_series, cli, url)
        shown = ok(cli(root, "schedule")).stdout
        as_json = json.loads(ok(cli(root, "schedule", "--json")).stdout)
    row = row_of_part(shown, 1)
    assert row.rstrip().endswith("held"), shown
    assert "sent" not in row, shown
    first = as_json["releases"][0]
    assert (first["status"], first["sent_at"]) == ("held", None)


def test_a_released_hold_shows_as_sent_and_a_cancelled_one_as_upcoming(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, _ = sendgrid
    with time_machine.travel(dt.datetime(2026, 11, 28, 20, tzinfo=LONDON), tick=False) as clock:
        root = held_series(make_series, cli, url)
        clock.move_to(dt.datetime(2026, 12, 1, 10, tzinfo=LONDON))
        released = json.loads(ok(cli(root, "schedule", "--json")).stdout)["releases"][0]
        clock.move_to(dt.datetime(2026, 11, 28, 21, tzinfo=LONDON))
        ok(cli(root, "send", "cancel", "1", "--yes"))
        cancelled = json.loads(ok(cli(root, "schedule", "--json")).stdout)["releases"][0]
    assert (released["status"], released["sent_at"]) == ("sent", "2026-12-01T09:00:00+00:00")
    assert (cancelled["status"], cancelled["sent_at"]) == ("upcoming", None)
