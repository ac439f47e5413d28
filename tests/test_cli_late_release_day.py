"""Readers who join on a release day, through the CLI (outbox provider, the clock frozen).

A reader added on part 1's release day before the send gets part 1 with everyone: they are
on the front from then on, so with catch_up = "all" the catch-up slot brings them every
overdue part with the front, not one a slot behind it. A reader added the same day after
the send is a late joiner: part 1 a slot later, then one part a slot.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from conftest import delivery_log, ok

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
FRONT = "reader0001@example.com"
EARLY, AFTER = "early@example.com", "after@example.com"


def slot(week: int, minutes: int = 1) -> dt.datetime:
    start = dt.datetime(2026, 12, 1, 9, tzinfo=LONDON) + dt.timedelta(weeks=week - 1)
    return start + dt.timedelta(minutes=minutes)


def weekly_series(make_series: MakeSeries, catch_up: str) -> Path:
    toml = (
        "[schedule]\nfirst_release = 2026-12-01T09:00:00\n"
        f'timezone = "Europe/London"\ncatch_up = "{catch_up}"\n'
    )
    return make_series(drafts=4, subscribers=2, extra_toml=toml)


def received(cli: Cli, root: Path, address: str, parts: int = 4) -> list[int]:
    """The parts the ledger shows `address` received (sent), in part order."""
    logs = [delivery_log(cli, root, n) for n in range(1, parts + 1)]
    return [n for n, log in enumerate(logs, 1) if log.get(address, {}).get("status") == "sent"]


def joined_on_release_day(cli: Cli, root: Path, clock: Any) -> None:
    """EARLY is added before part 1's send, AFTER after it, both on 1 Dec."""
    clock.move_to(slot(1, -60))
    ok(cli(root, "subscribers", "add", EARLY))
    clock.move_to(slot(1))
    ok(cli(root, "send", "due"))
    clock.move_to(slot(1, 120))
    ok(cli(root, "subscribers", "add", AFTER))


def test_a_reader_added_on_release_day_before_the_send_catches_up_with_the_front(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = weekly_series(make_series, "all")
    with time_machine.travel(slot(1, -90), tick=False) as clock:
        joined_on_release_day(cli, root, clock)
        clock.move_to(slot(4))  # slots 2 and 3 missed: the front gets parts 2–4 now
        ok(cli(root, "send", "due"))
        assert received(cli, root, FRONT) == [1, 2, 3, 4]
        assert received(cli, root, EARLY) == [1, 2, 3, 4]
        assert received(cli, root, AFTER) == [1]  # a late joiner: one part a slot


def test_status_counts_a_reader_added_before_part_ones_send_on_the_front(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = weekly_series(make_series, "oldest")
    with time_machine.travel(slot(1, -90), tick=False) as clock:
        joined_on_release_day(cli, root, clock)
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        clock.move_to(slot(2))
        ok(cli(root, "send", "due"))
    assert (readers["front"], readers["catching_up"]) == (3, 1)
    assert readers["next_slot"]["parts"] == {"1": 1, "2": 3}
    assert received(cli, root, EARLY) == [1, 2]
    assert received(cli, root, AFTER) == [1]
