"""`schedule --reader` writes every time in the series' zone, the part due now included
(it is shown at the current time: the next `send due` sends it)."""

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
MakeSeries = Callable[..., Path]
NEW_YORK = ZoneInfo("America/New_York")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-03T18:00:00\ntimezone = "America/New_York"\n'
READER = "reader0001@example.com"


def test_a_part_due_now_is_shown_at_the_series_local_time(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Part 2's slot (Thu 10 Dec 18:00 in New York) passed half an hour ago, cron has not
    run: part 2 is listed at 18:30 EST, not at 23:30 UTC; part 3 at its own slot."""
    root = make_series(drafts=3, subscribers=1, extra_toml=SCHEDULE)
    with time_machine.travel(dt.datetime(2026, 12, 3, 18, 1, tzinfo=NEW_YORK), tick=False) as c:
        ok(cli(root, "send", "due"))
        c.move_to(dt.datetime(2026, 12, 10, 18, 30, tzinfo=NEW_YORK))
        text = ok(cli(root, "schedule", "--reader", READER)).stdout
        shown = json.loads(ok(cli(root, "schedule", "--reader", READER, "--json")).stdout)
    assert text.splitlines()[1:] == [
        "  part 2  Thu 2026-12-10 18:30 EST  Part 2 title",
        "  part 3  Thu 2026-12-17 18:00 EST  Part 3 title",
    ], text
    assert [p["release"] for p in shown["parts"]] == [
        "2026-12-10T18:30:00-05:00",
        "2026-12-17T18:00:00-05:00",
    ]
