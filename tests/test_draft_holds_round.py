"""A front part that is still a draft when the next send takes it up holds the whole round
(`send due` refuses it, late joiners' parts too): what `status`, `subscribers list --next`
and `schedule --reader` promise then, trialled against the sends once it is ready.

- minutes after the slot (not only at its minute), the front's own calendar keeps the
  draft, at the next slot, and moves the parts after it;
- a draft part 3 at its slot after part 2 went out late;
- catch_up = "all" with a draft among the overdue parts (first or second);
- without a calendar, `schedule --reader` says there is none (`send next` has no slot).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import delivery_log, ok

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
FRONT = "reader0001@example.com"
LATE = "late@example.com"
LATER = "later@example.com"


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def set_status(root: Path, number: int, status: str) -> None:
    draft = root / "drafts" / f"{number:02d}-part-{number}.md"
    text = re.sub(r"(?m)^status: \w+$", f"status: {status}", draft.read_text(), count=1)
    draft.write_text(text)


def sent_parts(cli: Cli, root: Path, address: str, parts: int) -> list[int]:
    logs = [delivery_log(cli, root, n) for n in range(1, parts + 1)]
    return [n for n, log in enumerate(logs, 1) if log.get(address, {}).get("status") == "sent"]


def calendar_of(cli: Cli, root: Path, address: str) -> tuple[list[tuple[int, Any]], Any]:
    """`schedule --reader address --json`: [(part, when)] and its `waits_for`."""
    shown = json.loads(ok(cli(root, "schedule", "--reader", address, "--json")).stdout)
    parts = [(p["number"], dt.datetime.fromisoformat(p["release"])) for p in shown["parts"]]
    return parts, shown["waits_for"]


def next_column(cli: Cli, root: Path) -> dict[str, str]:
    lines = ok(cli(root, "subscribers", "list", "--next")).stdout.splitlines()
    return {line.split()[0]: line.split("  ")[-1] for line in lines[1:]}


@pytest.mark.parametrize("minute", [0, 2, 60 * 5])
def test_a_draft_at_its_slot_holds_the_round_until_the_next_slot_in_every_promise(
    make_series: MakeSeries, cli: Cli, minute: int
) -> None:
    """Part 2 is a draft at its slot (Tue 8 Dec), looked at that minute, minutes or hours
    later: every command puts the round at Tue 15 Dec, once part 2 is ready; the front's
    calendar dropped part 2 altogether after the slot's minute."""
    root = make_series(drafts=3, subscribers=1, extra_toml=SCHEDULE)
    set_status(root, 2, "draft")
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9) + dt.timedelta(minutes=minute))
        text = ok(cli(root, "status")).stdout
        column = next_column(cli, root)
        shown = {a: calendar_of(cli, root, a) for a in (FRONT, LATE)}
        assert cli(root, "send", "due").exit_code == 1
        set_status(root, 2, "ready")
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        then = {a: sent_parts(cli, root, a, 3) for a in (FRONT, LATE)}
    assert "At Tue 2026-12-15 09:00, once part 2 is ready: part 1 → 1, part 2 → 1." in text
    waits = "Tue 2026-12-15 09:00 GMT, once part 2 is ready"
    assert column == {FRONT: f"part 2, {waits}", LATE: f"part 1, {waits}"}
    assert shown[FRONT] == ([(2, local(15, 9)), (3, local(22, 9))], 2)
    assert shown[LATE] == ([(1, local(15, 9)), (2, local(22, 9)), (3, local(29, 9))], 2)
    assert then == {FRONT: [1, 2], LATE: [1]}


def test_a_draft_part_three_at_its_slot_after_part_two_went_out_late(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Part 2 went out on Wed 9 Dec (cron missed Tuesday), so part 3 moved to Tue 22 Dec;
    at 09:00 that day it is still a draft: nobody gets anything then (a late joiner's
    part 2 neither), and every promise says Tue 29 Dec, once part 3 is ready."""
    root = make_series(drafts=3, subscribers=1, extra_toml=SCHEDULE)
    set_status(root, 3, "draft")
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(9, 10))
        ok(cli(root, "send", "due"))  # part 2 → the front, part 1 → LATE
        ok(cli(root, "subscribers", "add", LATER))
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))  # part 2 → LATE, part 1 → LATER
        clock.move_to(local(22, 9))
        text = ok(cli(root, "status")).stdout
        column = next_column(cli, root)
        shown = {a: calendar_of(cli, root, a) for a in (FRONT, LATE, LATER)}
        assert cli(root, "send", "due").exit_code == 1
        set_status(root, 3, "ready")
        clock.move_to(local(29, 9, 1))
        ok(cli(root, "send", "due"))
        then = {a: sent_parts(cli, root, a, 3) for a in (FRONT, LATE, LATER)}
    waits = "Tue 2026-12-29 09:00 GMT, once part 3 is ready"
    assert "At Tue 2026-12-29 09:00, once part 3 is ready: part 2 → 1, part 3 → 2." in text
    assert column == {
        FRONT: f"part 3, {waits}",
        LATE: f"part 3, {waits}",
        LATER: f"part 2, {waits}",
    }
    assert shown[FRONT] == ([(3, local(29, 9))], 3)
    assert shown[LATE] == ([(3, local(29, 9))], 3)
    assert shown[LATER] == ([(2, local(29, 9)), (3, dt.datetime(2027, 1, 5, 9, tzinfo=LONDON))], 3)
    assert then == {FRONT: [1, 2, 3], LATE: [1, 2, 3], LATER: [1, 2]}


def _catch_up_series(make_series: MakeSeries, cli: Cli, draft: int) -> Path:
    """catch_up = "all"; parts 1-2 went out on 1 and 8 Dec (LATE had part 1 on 8 Dec); on
    Wed 9 Dec 10:00 first_release moves two weeks earlier: parts 3 and 4 are overdue (slots
    1 and 8 Dec), part 5's slot is Tue 15 Dec, and part `draft` is still a draft."""
    root = make_series(drafts=5, subscribers=1, extra_toml=SCHEDULE + 'catch_up = "all"\n')
    set_status(root, draft, "draft")
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9, 1))
        ok(cli(root, "send", "due"))
    toml = root / "seriespub.toml"
    toml.write_text(toml.read_text().replace("2026-12-01T09", "2026-11-17T09"))
    return root


def test_catch_up_all_with_the_second_overdue_part_a_draft(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Part 3 goes out now, part 4 waits until it is ready: at the next slot (Tue 15 Dec)
    with part 5, which is due by then. The front's calendar lost part 4."""
    root = _catch_up_series(make_series, cli, draft=4)
    with time_machine.travel(local(9, 10), tick=False) as clock:
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        column = next_column(cli, root)
        shown = {a: calendar_of(cli, root, a) for a in (FRONT, LATE)}
        refused = cli(root, "send", "due")  # sends part 3, then stops at part 4
        now = {a: sent_parts(cli, root, a, 5) for a in (FRONT, LATE)}
        set_status(root, 4, "ready")
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        then = {a: sent_parts(cli, root, a, 5) for a in (FRONT, LATE)}
    assert refused.exit_code == 1 and "part 4 ('Part 4 title') is still a draft" in refused.output
    assert now == {FRONT: [1, 2, 3], LATE: [1]}
    assert readers["due_now"] == {"parts": {"3": 1}}
    assert readers["waits_for"] == 4
    waits = "Tue 2026-12-15 09:00 GMT, once part 4 is ready"
    assert column == {FRONT: "part 3, due now", LATE: f"part 2, {waits}"}
    assert shown[FRONT] == ([(3, local(9, 10)), (4, local(15, 9)), (5, local(15, 9))], 4)
    assert shown[LATE][0][:2] == [(2, local(15, 9)), (3, local(22, 9))]
    assert then == {FRONT: [1, 2, 3, 4, 5], LATE: [1, 2]}


def test_catch_up_all_with_the_first_overdue_part_a_draft(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Part 3 is a draft: `send due` sends nobody now; at the next slot (Tue 15 Dec), once
    it is ready, the front gets parts 3, 4 and 5 at once. The front's calendar lost 3 and
    4, and the late joiner's gave part 2 now."""
    root = _catch_up_series(make_series, cli, draft=3)
    with time_machine.travel(local(9, 10), tick=False) as clock:
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        column = next_column(cli, root)
        shown = {a: calendar_of(cli, root, a) for a in (FRONT, LATE)}
        assert cli(root, "send", "due").exit_code == 1
        set_status(root, 3, "ready")
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        then = {a: sent_parts(cli, root, a, 5) for a in (FRONT, LATE)}
    assert readers["due_now"] is None and readers["waits_for"] == 3
    waits = "Tue 2026-12-15 09:00 GMT, once part 3 is ready"
    assert column == {FRONT: f"part 3, {waits}", LATE: f"part 2, {waits}"}
    slot = local(15, 9)
    assert shown[FRONT] == ([(3, slot), (4, slot), (5, slot)], 3)
    assert shown[LATE][0][:2] == [(2, slot), (3, local(22, 9))]
    assert then == {FRONT: [1, 2, 3, 4, 5], LATE: [1, 2]}


def test_without_a_calendar_schedule_reader_says_there_is_none(
    make_series: MakeSeries, cli: Cli
) -> None:
    """No [schedule], part 2 a draft: `schedule --reader` has no slot to give (the round
    waits for `send next`, which `status` reports): one error line, no traceback."""
    root = make_series(drafts=2, subscribers=1, ready=1)
    ok(cli(root, "send", "next", "--yes"))
    ok(cli(root, "subscribers", "add", LATE))
    result = cli(root, "schedule", "--reader", LATE)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "no [schedule] first_release" in result.output
    assert "Traceback" not in result.output
