"""After the front's last part, a finished series keeps working for late joiners (an
evergreen course): what an idle `send due` says then is when they get their next part,
never "no release is planned" while one is; and that promise is the one the next tick
keeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import time_machine

from conftest import delivery_log, ok
from evergreen import LATE, NONE_PLANNED, finished, local

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]


def test_an_idle_tick_after_the_last_part_names_the_late_joiners_next_slot(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Two parts; a reader joins after part 1. On part 2's day the front has every part
    and the late joiner part 1: the idle tick says part 2 goes to 1 reader catching up on
    Tue 15 Dec (as text and under `late_joiners_next` in --json); a week later it goes,
    and only then is no release planned."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        idle = ok(cli(root, "send", "due"))
        as_json = json.loads(ok(cli(root, "send", "due", "--json")).stdout)
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        clock.move_to(local(15, 10))
        after = ok(cli(root, "send", "due"))
    assert NONE_PLANNED not in idle.stderr, idle.stderr
    assert (
        "Nothing is due. Every part has gone out; to readers catching up: part 2 → 1 on "
        "Tue 2026-12-15 09:00 GMT, in 7 days." in idle.stderr
    ), idle.stderr
    assert as_json["next"] is None
    assert as_json["late_joiners_next"] == {
        "release": local(15, 9).isoformat(),
        "parts": {"2": 1},
    }
    assert delivery_log(cli, root, 2)[LATE]["status"] == "sent"
    assert NONE_PLANNED in after.stderr, after.stderr
