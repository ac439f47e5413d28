"""A held send (`send next --at TIME`) holds the whole round: the front's new part and the
parts late joiners catch up on in the same run go out at TIME, all counted as scheduled.

Through the CLI against the Resend fake (it can hold and withdraw a send), the clock frozen.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from conftest import ok
from fakes.resend import ResendState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
FRONT = [f"reader{i:04d}@example.com" for i in range(1, 4)]
LATE = "late@example.com"
AT = "2026-12-08 09:00"  # London, GMT in December
AT_UTC = "2026-12-08T09:00:00Z"


def london(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, tzinfo=LONDON)


def resend_series(make_series: MakeSeries, url: str) -> Path:
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    toml = '[schedule]\ntimezone = "Europe/London"\n'
    return make_series(drafts=3, subscribers=3, delivery=delivery, extra_toml=toml)


def part_one_then_a_late_joiner(cli: Cli, root: Path, clock: Any) -> None:
    """Part 1 goes to the front on 1 Dec; a reader joins on 2 Dec: they are owed part 1."""
    ok(cli(root, "send", "next", "--yes"))
    clock.move_to(london(2, 12))
    ok(cli(root, "subscribers", "add", LATE))
    clock.move_to(london(3, 12))


def test_a_held_round_holds_the_late_joiners_parts_too(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    root = resend_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        part_one_then_a_late_joiner(cli, root, clock)
        result = ok(cli(root, "send", "next", "--yes", "--at", AT))
    [late_part] = state.messages_to(LATE)
    assert late_part.scheduled_at == AT_UTC  # not sent at once
    assert all(m.scheduled_at == AT_UTC for a in FRONT for m in state.messages_to(a)[1:])
    assert "Part 1: scheduled 1 for 2026-12-08 09:00 UTC" in result.stdout
    assert "Part 2: scheduled 3 for 2026-12-08 09:00 UTC" in result.stdout
    assert " sent" not in result.stdout


def test_a_held_rounds_json_counts_the_late_joiners_as_scheduled(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, _ = resend
    root = resend_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        part_one_then_a_late_joiner(cli, root, clock)
        result = ok(cli(root, "send", "next", "--yes", "--at", AT, "--json"))
        log = json.loads(ok(cli(root, "log", "1", "--json")).stdout)["deliveries"]
    report = json.loads(result.stdout)
    assert (report["instalment"], report["sent"], report["scheduled"]) == (2, 0, 3)
    [late] = report["late_joiners"]
    assert (late["instalment"], late["sent"], late["scheduled"]) == (1, 0, 1)
    assert dt.datetime.fromisoformat(late["send_at"]) == london(8, 9)
    assert {d["email"]: d["status"] for d in log}[LATE] == "scheduled"


def part_state(cli: Cli, root: Path, number: int) -> dict[str, Any]:
    data = json.loads(ok(cli(root, "status", "--json")).stdout)
    [found] = [i for i in data["instalments"] if i["number"] == number]
    return dict(found)


def test_withdrawing_a_late_joiners_held_part_keeps_the_parts_release(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """`send cancel 1` after a held round withdraws the late joiner's part 1; part 1 went
    out to the front on 1 Dec and stays released (sent, dated then), not forgotten."""
    url, state = resend
    root = resend_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        part_one_then_a_late_joiner(cli, root, clock)
        ok(cli(root, "send", "next", "--yes", "--at", AT))
        before = part_state(cli, root, 1)
        result = ok(cli(root, "send", "cancel", "1", "--yes"))
        after = part_state(cli, root, 1)
    assert "1 scheduled deliveries cancelled" in result.stdout
    assert state.messages_to(LATE) == []  # withdrawn
    assert len(state.messages_to(FRONT[0])) == 2  # part 1, held part 2
    assert before["sent_at"] is not None
    assert (after["state"], after["sent_at"]) == ("sent", before["sent_at"])


def test_status_shows_a_released_part_as_sent_while_late_joiners_copies_are_held(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """Part 1 reached the front on 1 Dec: a late joiner's copy held for 8 Dec does not make
    it "scheduled" again; part 2, held for the front, is."""
    url, _ = resend
    root = resend_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        part_one_then_a_late_joiner(cli, root, clock)
        ok(cli(root, "send", "next", "--yes", "--at", AT))
        states = {n: part_state(cli, root, n)["state"] for n in (1, 2, 3)}
        table = ok(cli(root, "status")).stdout
    assert states == {1: "sent", 2: "scheduled", 3: "ready"}
    [part_one] = [line for line in table.splitlines() if "Part 1 title" in line]
    assert "scheduled" not in part_one, table


def test_cancelling_the_fronts_held_part_withdraws_the_whole_round(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """`send cancel 2` undoes the `send next --at` that held part 2 for the front and part 1
    for a late joiner: both are withdrawn (nothing goes out at the time the author
    cancelled), it says so, and the next round sends each again, once."""
    url, state = resend
    root = resend_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        part_one_then_a_late_joiner(cli, root, clock)
        ok(cli(root, "send", "next", "--yes", "--at", AT))
        result = ok(cli(root, "send", "cancel", "2", "--yes"))
        late_log = {d["email"]: d["status"] for d in _log(cli, root, 1)}
        after = {n: part_state(cli, root, n)["state"] for n in (1, 2)}
        ok(cli(root, "send", "next", "--yes"))
    assert "part 2: 3 scheduled deliveries cancelled" in result.stdout
    assert "part 1: 1 scheduled delivery held in the same round cancelled" in result.stdout
    assert state.messages_to(LATE)[0].scheduled_at is None  # the resend, not the held one
    assert late_log[LATE] == "cancelled"
    assert after == {1: "sent", 2: "ready"}
    assert [len(state.messages_to(a)) for a in FRONT] == [2, 2, 2]
    assert [m.scheduled_at for m in state.messages_to(FRONT[0])] == [None, None]
    assert len(state.messages_to(LATE)) == 1


def _log(cli: Cli, root: Path, number: int) -> list[dict[str, Any]]:
    return list(json.loads(ok(cli(root, "log", str(number), "--json")).stdout)["deliveries"])


def test_a_part_after_one_still_held_is_refused_unless_held_as_late(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """Part 1 held until 8 Dec: a plain `send next` of part 2 on 3 Dec would reach readers
    before part 1 (and link to its page before it goes up). Refused, nothing sent; held for
    the same time or later, it goes."""
    url, state = resend
    root = resend_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes", "--at", AT))
        clock.move_to(london(3, 12))
        early = cli(root, "send", "next", "--yes")
        sooner = cli(root, "send", "next", "--yes", "--at", "2026-12-07 09:00")
        dry = cli(root, "send", "next", "--dry-run")
        assert [len(state.messages_to(a)) for a in FRONT] == [1, 1, 1]
        held = ok(cli(root, "send", "next", "--yes", "--at", "2026-12-08 10:00"))
    assert early.exit_code == 1, early.output
    [line] = [x for x in early.output.splitlines() if x.startswith("error:")]
    assert "part 1 is held by the provider until 2026-12-08 09:00" in line, line
    assert "part 2 would reach readers before it" in line, line
    assert "--at" in early.output  # the hint: hold it too
    assert sooner.exit_code == 1, sooner.output
    assert dry.exit_code == 0 and "part 1 is held" in dry.output, dry.output
    assert "Part 2: scheduled 3" in held.stdout
    assert all(m.scheduled_at for a in FRONT for m in state.messages_to(a))
