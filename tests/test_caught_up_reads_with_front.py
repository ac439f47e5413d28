"""A late joiner who has caught up reads with the front (catch_up = "all").

The front waits weeks for parts 3 and 4 to be written while Ben, a late joiner, works
through parts 1 and 2: by 22 Dec he has every part the front has. The author then writes
both parts after their slots, so the next `send due` sends the front parts 3 and 4 in one
run: Ben gets both with it, not one (which would leave him a part behind the front for
ever). Cat, still behind, keeps one part a slot. `status`, `subscribers list --next` and
`schedule --reader` promise what the send does; a run killed mid-round and resumed gives
nobody a part twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from conftest import DRAFT, ok, parts_by_reader, postmark_delivery, set_active
from fakes.postmark import PostmarkState
from killed import kill_mid_round

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
SCHEDULE = (
    '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
    'catch_up = "all"\n'
)
FRONT = "reader0001@example.com"
BEN, CAT = "ben@example.com", "cat@example.com"


def local(month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026 if month == 12 else 2027, month, day, hour, minute, tzinfo=LONDON)


def write_part(root: Path, number: int) -> None:
    text = DRAFT.format(title=f"Part {number} title", status="ready", number=number)
    (root / "drafts" / f"{number:02d}-part-{number}.md").write_text(text, encoding="utf-8")


def series_waiting_for_parts(make_series: MakeSeries, url: str, batch_size: int = 10) -> Path:
    """Parts 1 and 2 written (3 and 4 not yet), one front reader."""
    delivery = postmark_delivery(url, settle_delay=0, batch_size=batch_size, concurrency=1)
    root = make_series(drafts=4, subscribers=1, delivery=delivery, extra_toml=SCHEDULE)
    for n in (3, 4):
        (root / "drafts" / f"{n:02d}-part-{n}.md").unlink()
    return root


def weeks_of_waiting(cli: Cli, root: Path, clock: Any) -> None:
    """1 Dec part 1, 8 Dec part 2 to the front; Ben (joined 3 Dec) gets parts 1 and 2 on
    8 and 15 Dec; Cat (joined 17 Dec) part 1 on 22 Dec. Then parts 3 and 4 are written."""
    for at, action in (
        (local(12, 1, 9, 1), ("send", "due")),
        (local(12, 3), ("subscribers", "add", BEN)),
        (local(12, 8, 9, 1), ("send", "due")),
        (local(12, 15, 9, 1), ("send", "due")),
        (local(12, 17), ("subscribers", "add", CAT)),
        (local(12, 22, 9, 1), ("send", "due")),
    ):
        clock.move_to(at)
        ok(cli(root, *action))
    clock.move_to(local(12, 23))
    write_part(root, 3)
    write_part(root, 4)


def promises(cli: Cli, root: Path) -> tuple[dict[int, int], dict[str, int], list[int]]:
    """`status --json`'s due now, `subscribers list --next --json`'s readers due now and
    `schedule --reader BEN`'s parts at the current time."""
    readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    due = {int(p): n for p, n in (readers["due_now"] or {"parts": {}})["parts"].items()}
    rows = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
    listed = {r["email"]: r["next_part"] for r in rows if r["next_at"] == "due now"}
    if not listed:  # the list gives each reader's time as a date
        now = dt.datetime.now(dt.UTC)
        listed = {
            r["email"]: r["next_part"]
            for r in rows
            if r["next_at"] and dt.datetime.fromisoformat(r["next_at"]) <= now
        }
    shown = json.loads(ok(cli(root, "schedule", "--reader", BEN, "--json")).stdout)
    mine = [
        p["number"]
        for p in shown["parts"]
        if dt.datetime.fromisoformat(p["release"]) <= dt.datetime.now(dt.UTC)
    ]
    return due, listed, mine


def test_a_caught_up_late_joiner_gets_every_overdue_part_the_front_gets(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = series_waiting_for_parts(make_series, url)
    with time_machine.travel(local(11, 30), tick=False) as clock:
        weeks_of_waiting(cli, root, clock)
        assert parts_by_reader(state.accepted) == {FRONT: [1, 2], BEN: [1, 2], CAT: [1]}
        clock.move_to(local(12, 23, 12, 5))
        due, listed, mine = promises(cli, root)
        before = len(state.accepted)
        ok(cli(root, "send", "due"))
        ok(cli(root, "send", "due"))  # the next tick sends nothing more
        sent = parts_by_reader(state.accepted[before:])
    assert sent == {FRONT: [3, 4], BEN: [3, 4]}, "Ben has caught up: he reads with the front"
    assert due == {3: 2, 4: 2}, "status: the front and Ben get parts 3 and 4"
    assert listed == {FRONT: 3, BEN: 3}
    assert mine == [3, 4], "schedule --reader: Ben's parts due now"


def test_after_the_catch_up_run_the_caught_up_reader_moves_with_the_front(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    """The next slot after the run: part 5 reaches the front and Ben together; Cat, who was
    behind, got one part a slot throughout."""
    url, state = postmark
    root = series_waiting_for_parts(make_series, url)
    with time_machine.travel(local(11, 30), tick=False) as clock:
        weeks_of_waiting(cli, root, clock)
        clock.move_to(local(12, 23, 12, 5))
        ok(cli(root, "send", "due"))
        write_part(root, 5)
        slots: dict[str, dict[str, list[int]]] = {}
        for month, day in ((12, 29), (1, 5), (1, 12), (1, 19)):
            clock.move_to(local(month, day, 9, 1))
            before = len(state.accepted)
            ok(cli(root, "send", "due"))
            slots[f"{day} {month}"] = parts_by_reader(state.accepted[before:])
    assert slots == {
        "29 12": {FRONT: [5], BEN: [5], CAT: [2]},
        "5 1": {CAT: [3]},
        "12 1": {CAT: [4]},
        "19 1": {CAT: [5]},
    }
    got = parts_by_reader(state.accepted)
    assert got[FRONT] == got[BEN] == got[CAT] == [1, 2, 3, 4, 5]


def test_a_returned_front_reader_who_caught_up_gets_every_overdue_part(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    """Reader 2 is on the front, leaves after part 1, is set active again, works through
    part 2 while the front waits for part 3: with parts 3 and 4 overdue together, they get
    both, as the front does."""
    url, state = postmark
    delivery = postmark_delivery(url, settle_delay=0, batch_size=10, concurrency=1)
    root = make_series(drafts=4, subscribers=2, delivery=delivery, extra_toml=SCHEDULE)
    for n in (3, 4):
        (root / "drafts" / f"{n:02d}-part-{n}.md").unlink()
    back = "reader0002@example.com"
    with time_machine.travel(local(12, 1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(12, 2))
        ok(cli(root, "subscribers", "remove", back))
        clock.move_to(local(12, 8, 9, 1))
        ok(cli(root, "send", "due"))
        clock.move_to(local(12, 9))
        set_active(root, back)
        clock.move_to(local(12, 15, 9, 1))
        ok(cli(root, "send", "due"))
        assert parts_by_reader(state.accepted) == {FRONT: [1, 2], back: [1, 2]}
        clock.move_to(local(12, 23))
        write_part(root, 3)
        write_part(root, 4)
        clock.move_to(local(12, 23, 12, 5))
        before = len(state.accepted)
        ok(cli(root, "send", "due"))
        sent = parts_by_reader(state.accepted[before:])
    assert sent == {FRONT: [3, 4], back: [3, 4]}


def test_a_catch_up_run_killed_mid_round_and_resumed_sends_nobody_a_part_twice(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    """The run of parts 3 and 4 (one reader a batch) killed after each of its requests in
    turn, then resumed: the front and Ben get parts 3 and 4 once each, Cat nothing more."""
    url, state = postmark
    for taken in (1, 2, 3):
        state.accepted.clear()
        root = series_waiting_for_parts(make_series, url, batch_size=1)
        root = root.rename(root.with_name(f"series-{taken}"))
        with time_machine.travel(local(11, 30), tick=False) as clock:
            weeks_of_waiting(cli, root, clock)
            start = len(state.accepted)
            kill_mid_round(root, state, local(12, 23, 12, 5), start + taken)
            clock.move_to(local(12, 23, 12, 10))
            ok(cli(root, "send", "due"))
            ok(cli(root, "send", "due"))
            sent = parts_by_reader(state.accepted[start:])
        assert {a: sorted(set(p)) for a, p in sent.items()} == {FRONT: [3, 4], BEN: [3, 4]}, (
            taken,
            sent,
        )
        # A pending batch's message may be accepted twice by the fake (the killed request
        # and its retry), but the reader is never sent a part in two deliveries.
        logs = [json.loads(ok(cli(root, "log", str(n), "--json")).stdout) for n in (3, 4)]
        for log in logs:
            addresses = [d["email"] for d in log["deliveries"]]
            assert sorted(addresses) == sorted({BEN, FRONT}), (taken, addresses)
            assert {d["status"] for d in log["deliveries"]} == {"sent"}, (taken, log)
