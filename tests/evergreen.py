"""A finished two-part series with a late joiner (an evergreen course), on a London calendar
from 1 Dec 2026: the scene the idle `send due` tests start from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from conftest import ok, set_active

LONDON = ZoneInfo("Europe/London")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
LATE = "late@example.com"  # joins after part 1
RETURNS = "reader0002@example.com"  # on the front, leaves after part 1 and comes back
NONE_PLANNED = "Nothing is due, and no release is planned: write the next instalment."


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def finished(make_series: Callable[..., Path], cli: Callable[..., Any], clock: Any) -> Path:
    """Two parts, both out to the front; LATE (joined after part 1) had part 1 on 8 Dec:
    at 10:00 that day nobody's turn is now, and part 2 goes to LATE on 15 Dec."""
    root = make_series(drafts=2, subscribers=1, extra_toml=SCHEDULE)
    clock.move_to(local(1, 9, 1))
    ok(cli(root, "send", "due"))
    clock.move_to(local(3, 12))
    ok(cli(root, "subscribers", "add", LATE))
    clock.move_to(local(8, 9, 1))
    ok(cli(root, "send", "due"))  # part 2 → the front, part 1 → LATE
    clock.move_to(local(8, 10))
    return root


def caught_up_on_track(
    make_series: Callable[..., Path], cli: Callable[..., Any], clock: Any, *, late: bool
) -> Path:
    """Two parts out to the front; RETURNS leaves after part 1, comes back on 10 Dec and
    gets part 2 on their track on 15 Dec (with `late`, LATE too: joined on 3 Dec, part 1
    on 8 Dec). Left just after that day's run, 15 Dec 09:01."""
    root = make_series(drafts=2, subscribers=3 if late else 2, extra_toml=SCHEDULE)
    clock.move_to(local(1, 9, 1))
    ok(cli(root, "send", "due"))
    clock.move_to(local(3, 12))
    ok(cli(root, "subscribers", "remove", RETURNS))
    if late:
        ok(cli(root, "subscribers", "add", LATE))
    clock.move_to(local(8, 9, 1))
    ok(cli(root, "send", "due"))
    clock.move_to(local(10, 12))
    set_active(root, RETURNS)
    clock.move_to(local(15, 9, 1))
    ok(cli(root, "send", "due"))  # part 2 → RETURNS (and LATE), on their track
    return root
