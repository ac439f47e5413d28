"""What `status` and `subscribers list --next` say the next send does, beside what it does,
for a part that is going out but not finished (`send next --limit`, a stopped run), and for
a slot that catches up on a missed one (catch_up = "all")."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok

Cli = Callable[..., Any]


@pytest.mark.parametrize("late_joiners", ["from_start", "current"])
def test_a_part_going_out_is_what_the_next_send_finishes(
    make_series: Callable[..., Path], cli: Cli, late_joiners: str
) -> None:
    root = make_series(drafts=2, subscribers=5)
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("[series]\n", f'[series]\nlate_joiners = "{late_joiners}"\n', 1),
        encoding="utf-8",
    )
    ok(cli(root, "send", "next", "--yes", "--limit", "2"))

    readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    listed = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
    promised = {r["email"]: r["next_part"] for r in listed}

    report = json.loads(ok(cli(root, "send", "next", "--yes", "--json")).stdout)
    assert report["instalment"] == 1 and report["sent"] == 3
    assert readers["next_slot"]["parts"] == {"1": 3}
    assert sorted(promised.values(), key=str) == [1, 1, 1, None, None]


def test_with_catch_up_all_the_next_slot_counts_every_overdue_part_it_sends(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Slot 2 was missed: at slot 3 `send due` sends parts 2 and 3 to the front
    (catch_up = "all"); `status` said only part 2 would go out. Before slot 3, part 2 is
    due now (a `send due` then sends it) and part 3 follows at the slot."""
    schedule = (
        '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
        'catch_up = "all"\n'
    )
    root = make_series(drafts=4, subscribers=3, extra_toml=schedule)
    london = ZoneInfo("Europe/London")
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=london), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 15, 8, tzinfo=london))  # slot 2 missed
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        text = ok(cli(root, "status")).stdout
        clock.move_to(dt.datetime(2026, 12, 15, 9, 1, tzinfo=london))
        report = json.loads(ok(cli(root, "send", "due", "--json")).stdout)
    sent = {r["instalment"]: r["sent"] for r in report["sent"]}
    assert sent == {2: 3, 3: 3}
    assert readers["due_now"] == {"parts": {"2": 3}}
    assert readers["next_slot"]["parts"] == {"3": 3}
    assert "Due now: part 2 → 3. At Tue 2026-12-15 09:00: part 3 → 3." in text
