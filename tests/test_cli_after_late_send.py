"""After a part goes out late the next ones move to later slots (`schedule`); `status`'s
readers line and `subscribers list --next` say the same as the calendar and `send due` does."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from conftest import ok

Cli = Callable[..., Any]
LONDON = ZoneInfo("Europe/London")
# Weekly from Tue 17 Nov; part 1 goes out 11 days late, on Sat 28 Nov.
SCHEDULE = '[schedule]\nfirst_release = 2026-11-17T09:00:00\ntimezone = "Europe/London"\n'
LATE = dt.datetime(2026, 11, 28, 10, 0, tzinfo=LONDON)


def sent_parts(root: Path) -> set[int]:
    return {int(p.name) for p in (root / ".seriespub" / "outbox").iterdir() if any(p.iterdir())}


def test_the_next_part_is_announced_for_the_slot_the_calendar_gives_it(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=3, extra_toml=SCHEDULE)
    with time_machine.travel(LATE, tick=False):
        ok(cli(root, "send", "due"))
        releases = json.loads(ok(cli(root, "schedule", "--json")).stdout)["releases"]
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        text = ok(cli(root, "status")).stdout
        rows = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
        lines = ok(cli(root, "subscribers", "list", "--next")).stdout.splitlines()[1:]
        mine = json.loads(ok(cli(root, "schedule", "--reader", rows[0]["email"], "--json")).stdout)
    release = releases[1]["release"]
    assert release == "2026-12-08T09:00:00+00:00"  # a week after part 1 went out
    assert mine["parts"][0] == {"number": 2, "title": "Part 2 title", "release": release}

    # The next slot (Tue 1 Dec) brings nobody anything; part 2 goes to the front on 8 Dec.
    assert readers["next_slot"] == {"at": "2026-12-01T09:00:00+00:00", "parts": {}}
    assert readers["front_next"] == {"part": 2, "readers": 3, "at": release}
    assert "At Tue 2026-12-01 09:00: nobody; part 2 → 3 at Tue 2026-12-08 09:00." in text
    assert {(r["next_part"], r["next_at"]) for r in rows} == {(2, release)}
    assert len(lines) == 3
    assert all(line.endswith("part 2, Tue 2026-12-08 09:00 GMT") for line in lines)

    # And so it goes: nothing on 1 Dec, part 2 on 8 Dec.
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=LONDON), tick=False):
        ok(cli(root, "send", "due"))
    assert sent_parts(root) == {1}
    with time_machine.travel(dt.datetime(2026, 12, 8, 9, 1, tzinfo=LONDON), tick=False):
        ok(cli(root, "send", "due"))
    assert sent_parts(root) == {1, 2}


def test_when_the_next_part_is_due_at_the_next_slot_it_is_announced_there(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=3, extra_toml=SCHEDULE)
    with time_machine.travel(dt.datetime(2026, 11, 17, 9, 1, tzinfo=LONDON), tick=False):
        ok(cli(root, "send", "due"))  # on time
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        text = ok(cli(root, "status")).stdout
    assert readers["next_slot"] == {"at": "2026-11-24T09:00:00+00:00", "parts": {"2": 3}}
    assert readers["front_next"] is None
    assert "At Tue 2026-11-24 09:00: part 2 → 3." in text
