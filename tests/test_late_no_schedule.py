"""Late joiners in a series without [schedule]: the author sends by hand (`send next`), and
each `send next` is the round a late joiner's next part goes out in (found by the upgrade
trial: without a calendar they stayed "catching up" and were never sent anything)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import time_machine

from conftest import delivery_log, ok

Cli = Callable[..., Any]
LATE = "late@example.com"
START = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def sent_to(cli: Cli, root: Path, address: str, parts: int) -> list[int]:
    logs = [delivery_log(cli, root, n) for n in range(1, parts + 1)]
    return [n for n, log in enumerate(logs, 1) if log.get(address, {}).get("status") == "sent"]


def test_a_late_joiner_gets_part_one_at_the_next_send_next_without_a_calendar(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, subscribers=2)
    assert "[schedule]" not in (root / "seriespub.toml").read_text()
    with time_machine.travel(START, tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))  # part 1 to the front
        clock.move_to(START + dt.timedelta(days=2))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(START + dt.timedelta(days=7))
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        ok(cli(root, "send", "next", "--yes"))  # part 2 to the front, part 1 to LATE
        clock.move_to(START + dt.timedelta(days=14))
        ok(cli(root, "send", "next", "--yes"))  # part 3 to the front, part 2 to LATE
    assert readers["next_slot"]["parts"] == {"1": 1, "2": 2}
    assert sent_to(cli, root, LATE, 3) == [1, 2]
    assert sent_to(cli, root, "reader0001@example.com", 3) == [1, 2, 3]


def test_a_late_joiner_to_a_finished_series_without_a_calendar_goes_through_it(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=2)
    with time_machine.travel(START, tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        clock.move_to(START + dt.timedelta(days=7))
        ok(cli(root, "send", "next", "--yes"))  # the series is out
        clock.move_to(START + dt.timedelta(days=9))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(START + dt.timedelta(days=14))
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        first = ok(cli(root, "send", "next", "--yes"))
        clock.move_to(START + dt.timedelta(days=21))
        ok(cli(root, "send", "next", "--yes"))
    assert readers["next_slot"]["parts"] == {"1": 1}, readers
    assert "part 1" in first.output.lower() or "Part 1" in first.output, first.output
    assert sent_to(cli, root, LATE, 2) == [1, 2]
