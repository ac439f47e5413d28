"""What `status` and `subscribers list --next` promise beside what the next send does, when a
part is due now (found by a newcomer's trial of the README):

- a part overdue now (catch_up = "all" after `first_release` moved earlier, or the minutes
  between a slot and the next cron tick) goes out with the next `send due`, not at the next
  slot: the plan line says "Due now: …" first;
- without a [schedule], a late joiner's catch-up goes out only with the front's next part
  (`send next` refuses a round whose part is a draft): the plan line says they wait for it.
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
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
LATE = "late@example.com"


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def sent_parts(cli: Cli, root: Path, address: str, parts: int) -> list[int]:
    logs = [delivery_log(cli, root, n) for n in range(1, parts + 1)]
    return [n for n, log in enumerate(logs, 1) if log.get(address, {}).get("status") == "sent"]


def reader_parts(cli: Cli, root: Path, address: str) -> list[tuple[int, dt.datetime]]:
    """`schedule --reader address --json`: (part, when) for each of their coming parts."""
    listed = json.loads(ok(cli(root, "schedule", "--reader", address, "--json")).stdout)
    return [(p["number"], dt.datetime.fromisoformat(p["release"])) for p in listed["parts"]]


def test_overdue_parts_after_first_release_moved_earlier_are_due_now(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Parts 1-2 went out on 1 and 8 Dec; on Wed 9 Dec the author moves first_release three
    weeks earlier with catch_up = "all": parts 3 and 4 are due now and `send due` sends
    them at once. `status` listed them at Tue 15 Dec."""
    root = make_series(drafts=4, subscribers=2, extra_toml=SCHEDULE + 'catch_up = "all"\n')
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9, 1))
        ok(cli(root, "send", "due"))  # part 2 to the front, part 1 to LATE
        clock.move_to(local(9, 10))
        toml = root / "seriespub.toml"
        toml.write_text(toml.read_text().replace("2026-12-01T09", "2026-11-10T09"))
        text = ok(cli(root, "status")).stdout
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        listed = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
        lines = ok(cli(root, "subscribers", "list", "--next")).stdout.splitlines()
        report = json.loads(ok(cli(root, "send", "due", "--json")).stdout)
    sent = {r["instalment"]: r["sent"] for r in report["sent"]}
    assert sent == {3: 2, 4: 2}
    assert "Due now: part 3 → 2, part 4 → 2. At Tue 2026-12-15 09:00: part 2 → 1." in text
    assert readers["due_now"] == {"parts": {"3": 2, "4": 2}}
    assert readers["next_slot"] == {"at": local(15, 9).isoformat(), "parts": {"2": 1}}
    promised = {r["email"]: (r["next_part"], r["next_at"]) for r in listed}
    now = local(9, 10)
    assert promised["reader0001@example.com"] == (3, now.astimezone(dt.UTC).isoformat())
    assert promised[LATE] == (2, local(15, 9).isoformat())
    assert [line.split("  ")[-1] for line in lines[1:]] == [
        "part 3, due now",
        "part 3, due now",
        "part 2, Tue 2026-12-15 09:00 GMT",
    ], lines


def test_between_a_slot_and_the_next_cron_tick_the_part_is_due_now(
    make_series: MakeSeries, cli: Cli
) -> None:
    """At 09:02 on part 2's slot, before cron's 09:05 run: `send due` sends part 2 now
    (and the late joiner's part 1); `status` listed them at next week's slot."""
    root = make_series(drafts=3, subscribers=2, extra_toml=SCHEDULE)
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9, 2))
        text = ok(cli(root, "status")).stdout
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        report = json.loads(ok(cli(root, "send", "due", "--json")).stdout)
    sent = {r["instalment"]: r["sent"] for r in report["sent"]}
    assert sent == {1: 1, 2: 2}
    due = "Due now: part 1 → 1, part 2 → 2. At Tue 2026-12-15 09:00: part 2 → 1, part 3 → 2."
    assert due in text, text
    assert readers["due_now"] == {"parts": {"1": 1, "2": 2}}
    assert readers["next_slot"] == {"at": local(15, 9).isoformat(), "parts": {"2": 1, "3": 2}}


def test_without_a_calendar_a_late_joiner_waits_for_the_draft_send_next_refuses(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Part 1 went out, part 2 is still a draft, Cat joined since: `send next` refuses the
    round (part 2 is not ready), so Cat gets nothing until it is; `status` said "At the
    next send: part 1 → 1." and `subscribers list --next` "part 1, next send"."""
    root = make_series(drafts=2, subscribers=2, ready=1)
    with time_machine.travel(local(1, 9), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9))
        text = ok(cli(root, "status")).stdout
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        lines = ok(cli(root, "subscribers", "list", "--next")).stdout.splitlines()
        refused = cli(root, "send", "next", "--yes")
        draft = root / "drafts" / "02-part-2.md"
        draft.write_text(draft.read_text().replace("status: draft", "status: ready"))
        ok(cli(root, "send", "next", "--yes"))
    assert refused.exit_code != 0
    assert sent_parts(cli, root, LATE, 2) == [1]
    assert "At the next send, once part 2 is ready: part 1 → 1, part 2 → 2." in text, text
    assert readers["waits_for"] == 2
    assert readers["next_slot"] == {"at": None, "parts": {"1": 1, "2": 2}}
    assert [line.split("  ")[-1] for line in lines[1:]] == [
        "part 2, next send, once part 2 is ready",
        "part 2, next send, once part 2 is ready",
        "part 1, next send, once part 2 is ready",
    ], lines


def test_schedule_reader_gives_a_part_due_now_now_and_the_next_one_a_slot_later(
    make_series: MakeSeries, cli: Cli
) -> None:
    """At 09:02 on part 2's slot, before cron's run: `send due` sends the front part 2 and
    the late joiner part 1 now; `schedule --reader` put both at next week's slot."""
    root = make_series(drafts=3, subscribers=2, extra_toml=SCHEDULE)
    front = "reader0001@example.com"
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9, 2))
        shown = {a: reader_parts(cli, root, a) for a in (front, LATE)}
        ok(cli(root, "send", "due"))
        now_sent = {a: sent_parts(cli, root, a, 3) for a in (front, LATE)}
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        next_sent = {a: sent_parts(cli, root, a, 3) for a in (front, LATE)}
    now = local(8, 9, 2)
    assert shown[front] == [(2, now), (3, local(15, 9))]
    assert shown[LATE] == [(1, now), (2, local(15, 9)), (3, local(22, 9))]
    assert now_sent == {front: [1, 2], LATE: [1]}
    assert next_sent == {front: [1, 2, 3], LATE: [1, 2]}


def test_a_reader_who_joined_after_part_ones_slot_gets_it_in_its_late_round_on_the_front(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Cron missed part 1's slot (Tue 1 Dec); Lee joined on Wed 2 Dec; on Tue 8 Dec part 1
    is due now and goes to everyone in its own round, Lee too: Lee is on the front from
    then on (README: had part 1 with everyone). The next slot is part 2 → 2, not Lee's
    part 1 again; Lee's list entry and own calendar say part 2 then."""
    root = make_series(drafts=3, subscribers=1, extra_toml=SCHEDULE)
    with time_machine.travel(local(2, 7, 56), tick=False) as clock:
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9, 2))
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        listed = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
        shown = json.loads(ok(cli(root, "schedule", "--reader", LATE, "--json")).stdout)
        report = json.loads(ok(cli(root, "send", "due", "--json")).stdout)
        clock.move_to(local(15, 9, 1))
        later = json.loads(ok(cli(root, "send", "due", "--json")).stdout)
    assert {r["instalment"]: r["sent"] for r in report["sent"]} == {1: 2}
    assert {r["instalment"]: r["sent"] for r in later["sent"]} == {2: 2}
    assert readers["due_now"] == {"parts": {"1": 2}}
    assert readers["next_slot"] == {"at": local(15, 9).isoformat(), "parts": {"2": 2}}
    assert {r["email"]: r["next_part"] for r in listed} == {
        "reader0001@example.com": 1,
        LATE: 1,
    }
    now = local(8, 9, 2)
    releases = [(p["number"], dt.datetime.fromisoformat(p["release"])) for p in shown["parts"]]
    assert releases == [(1, now), (2, local(15, 9)), (3, local(22, 9))]


def test_at_a_slots_minute_schedule_reader_shows_no_draft_part_now(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Cron runs at 09:00 sharp on Tue 8 Dec and part 2 is still a draft: `send due` sends
    nobody (the draft holds the round; `status` says "once part 2 is ready"), but
    `schedule --reader` listed part 2 for the front, and part 1 for a late joiner, at now.
    It gives them at the next slot, once part 2 is ready, as the sends then do."""
    root = make_series(drafts=3, subscribers=1, extra_toml=SCHEDULE)
    front = "reader0001@example.com"
    draft = root / "drafts" / "02-part-2.md"
    draft.write_text(draft.read_text().replace("status: ready", "status: draft"))
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(local(8, 9))
        shown = {a: reader_parts(cli, root, a) for a in (front, LATE)}
        said = json.loads(ok(cli(root, "schedule", "--reader", LATE, "--json")).stdout)
        text = ok(cli(root, "schedule", "--reader", LATE)).stdout
        refused = cli(root, "send", "due")
        draft.write_text(draft.read_text().replace("status: draft", "status: ready"))
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        then = {a: sent_parts(cli, root, a, 3) for a in (front, LATE)}
    assert refused.exit_code == 1 and "is still a draft" in refused.output
    now = local(8, 9)
    assert [n for n, at in shown[front] if at <= now] == []
    assert [n for n, at in shown[LATE] if at <= now] == []
    assert shown[front] == [(2, local(15, 9)), (3, local(22, 9))]
    assert shown[LATE] == [(1, local(15, 9)), (2, local(22, 9)), (3, local(29, 9))]
    assert said["waits_for"] == 2
    assert "part 1  Tue 2026-12-15 09:00 GMT, once part 2 is ready  Part 1 title" in text, text
    assert then == {front: [1, 2], LATE: [1]}
