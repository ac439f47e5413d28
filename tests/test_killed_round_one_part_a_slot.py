"""One part per reader per slot across a kill: a round of `send due` SIGKILLed after each of
its requests in turn (the late run's, the front's), resumed in the same slot.

Weekly on Tuesdays from 1 Dec, through the Postmark fake one reader a request. Ann is on
the front. Rob is on the front too, leaves after part 2 and is set active again on 23 Dec:
he has missed only part 3, the latest part the front had. Ben joined on 2 Dec and has
caught up by 22 Dec; Eve joined on 9 Dec and catches up with part 3 in the killed slot.
Parts 4 and 5 are written on 28 Dec, after part 4's slot, so on 29 Dec the front gets
part 4 (with catch_up = "all", parts 4 and 5 in one run, and Ben, caught up, with it):

| Slot (Tue) | Ann         | Rob | Ben (joined 2 Dec) | Eve (joined 9 Dec) |
|------------|-------------|-----|--------------------|--------------------|
| 29 Dec     | 4 (all: 4 5) | 3  | 4 (all: 4 5)       | 3                  |
| 5 Jan      | 5 (all: –)  | 4   | 5 (all: –)         | 4                  |
| 12 Jan     | –           | 5   | –                  | 5                  |

The README's promise: a round killed at any instant resumes in the same slot without giving
anyone a second part; a reader who caught up earlier in the same slot (Rob and Eve, with
part 3) reads with the front only from the next slot. `status` and `subscribers list --next`
read just after the kill promise what the resume sends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import DRAFT, ok, parts_by_reader, postmark_delivery, set_active
from fakes.postmark import PostmarkState
from killed import kill_after, kill_mid_round, seriespub_at

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
ANN, ROB = "reader0001@example.com", "reader0002@example.com"
BEN, EVE = "ben@example.com", "eve@example.com"


def local(month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026 if month == 12 else 2027, month, day, hour, minute, tzinfo=LONDON)


KILLED = local(12, 29, 9, 1)
RESUMED = local(12, 29, 9, 10)
LATER = [local(1, 5, 9, 1), local(1, 12, 9, 1), local(1, 19, 9, 1)]

EXPECTED = {
    "oldest": [
        {ANN: [4], BEN: [4], ROB: [3], EVE: [3]},
        {ANN: [5], BEN: [5], ROB: [4], EVE: [4]},
        {ROB: [5], EVE: [5]},
        {},
    ],
    "all": [
        {ANN: [4, 5], BEN: [4, 5], ROB: [3], EVE: [3]},
        {ROB: [4], EVE: [4]},
        {ROB: [5], EVE: [5]},
        {},
    ],
}


def write_part(root: Path, number: int) -> None:
    text = DRAFT.format(title=f"Part {number} title", status="ready", number=number)
    (root / "drafts" / f"{number:02d}-part-{number}.md").write_text(text, encoding="utf-8")


def weeks_before(cli: Cli, root: Path, clock: Any) -> None:
    """1 Dec to 28 Dec: parts 1–3 to the front, Rob away for part 3, Ben and Eve on
    their tracks; parts 4 and 5 written after part 4's slot."""
    for at, act in (
        (local(12, 1, 9, 1), ("send", "due")),
        (local(12, 2), ("subscribers", "add", BEN)),
        (local(12, 8, 9, 1), ("send", "due")),
        (local(12, 9), ("subscribers", "remove", ROB)),
        (local(12, 9, 13), ("subscribers", "add", EVE)),
        (local(12, 15, 9, 1), ("send", "due")),
        (local(12, 22, 9, 1), ("send", "due")),
    ):
        clock.move_to(at)
        ok(cli(root, *act))
    clock.move_to(local(12, 23))
    set_active(root, ROB)
    clock.move_to(local(12, 28))
    write_part(root, 4)
    write_part(root, 5)


def series_before_the_kill(
    make_series: MakeSeries, cli: Cli, url: str, state: PostmarkState, catch_up: str
) -> Path:
    schedule = (
        '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
        f'catch_up = "{catch_up}"\n'
    )
    delivery = postmark_delivery(url, settle_delay=0, batch_size=1, concurrency=1)
    root = make_series(drafts=5, subscribers=2, delivery=delivery, extra_toml=schedule)
    for n in (4, 5):
        (root / "drafts" / f"{n:02d}-part-{n}.md").unlink()
    with time_machine.travel(local(11, 30), tick=False) as clock:
        weeks_before(cli, root, clock)
    assert parts_by_reader(state.accepted) == {
        ANN: [1, 2, 3],
        ROB: [1, 2],
        BEN: [1, 2, 3],
        EVE: [1, 2],
    }
    return root


def distinct(messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Reader → the parts they were sent, each once (a pending batch's message may reach
    the fake twice: the killed request and the resume's look-up or resend)."""
    return {a: sorted(set(parts)) for a, parts in parts_by_reader(messages).items()}


def settled(root: Path) -> set[tuple[str, int]]:
    """(reader, part) the ledger has settled (sent, scheduled or failed): a pending batch
    the killed run left is not, whether or not its request reached the provider."""
    ledger = root / ".seriespub" / "ledger.db"
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT email, instalment FROM deliveries "
            "WHERE status IN ('sent', 'scheduled', 'failed')"
        )
        return set(rows)


def calendar(cli: Cli, root: Path, address: str) -> list[tuple[int, dt.datetime]]:
    """`schedule --reader address --json`: (part, when) of the reader's coming parts."""
    shown = json.loads(ok(cli(root, "schedule", "--reader", address, "--json")).stdout)
    return [(p["number"], dt.datetime.fromisoformat(p["release"])) for p in shown["parts"]]


def promised_now(cli: Cli, root: Path) -> tuple[dict[int, int], dict[str, int]]:
    """`status --json`'s due now (part → readers) and `subscribers list --next --json`'s
    readers due now (reader → part)."""
    readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    due = {int(p): n for p, n in (readers["due_now"] or {"parts": {}})["parts"].items()}
    rows = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
    now = dt.datetime.now(dt.UTC)
    listed = {
        r["email"]: r["next_part"]
        for r in rows
        if r["next_at"] == "due now"
        or (r["next_at"] and dt.datetime.fromisoformat(r["next_at"]) <= now)
    }
    return due, listed


def killed_and_resumed(
    make_series: MakeSeries,
    cli: Cli,
    postmark: tuple[str, PostmarkState],
    catch_up: str,
    tmp_path: Path,
    kills: Iterable[int] | None = None,
) -> list[str]:
    """The round of 29 Dec killed after each of `kills` requests (all of them: None), each
    on its own copy of the series, resumed, then the slots after it: what went wrong."""
    url, state = postmark
    built = series_before_the_kill(make_series, cli, url, state, catch_up)
    expected = EXPECTED[catch_up]
    requests = sum(len(parts) for parts in expected[0].values())
    failures = []
    for taken in range(1, requests + 1) if kills is None else kills:
        root = tmp_path / f"killed-after-{taken}"
        shutil.copytree(built, root)
        state.accepted.clear()
        kill_mid_round(root, state, KILLED, taken)
        with time_machine.travel(RESUMED, tick=False) as clock:
            promised = promised_now(cli, root)
            robs = calendar(cli, root, ROB)
            had = settled(root)
            ok(cli(root, "send", "due"))
            ok(cli(root, "send", "due"))  # the next tick sends nothing more
            done = settled(root) - had
            slots = [distinct(state.accepted)]
            for at in LATER:
                clock.move_to(at)
                before = len(state.accepted)
                ok(cli(root, "send", "due"))
                slots.append(distinct(state.accepted[before:]))
        if slots != expected:
            failures.append(f"killed after request {taken}: sent {slots}")
            continue
        # What the resume settled (a pending batch the killed run left among it): what
        # `status` and the list, read just after the kill, said was due now.
        tally = dict(sorted(Counter(p for _, p in done).items()))
        firsts = {a: min(p for b, p in done if b == a) for a, _ in done}
        due, listed = promised
        if due != tally or listed != firsts:
            failures.append(
                f"killed after request {taken}: status said {due}, list --next {listed}, "
                f"the resume settled {sorted(done)}"
            )
        # Rob's own calendar: what the resume settled for him now, then a part a slot.
        mine = [(p, RESUMED) for a, p in sorted(done) if a == ROB]
        mine += [
            (p, at - dt.timedelta(minutes=1))
            for at, got in zip(LATER, expected[1:], strict=True)
            for p in got.get(ROB, [])
        ]
        if [(p, max(at, RESUMED)) for p, at in robs] != mine:
            failures.append(f"killed after request {taken}: schedule --reader {robs}, not {mine}")
    return failures


def test_a_round_killed_between_the_late_run_and_the_fronts_gives_nobody_two_parts(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState], tmp_path: Path
) -> None:
    """Killed at the front's first request (Rob's and Eve's part 3 sent, Ann's or Ben's
    part 4 pending), and at its second: Rob, back on the front by the ledger, gets nothing
    more that slot; the reader who has part 4 gets part 5 now, as every command says."""
    failures = killed_and_resumed(make_series, cli, postmark, "all", tmp_path, kills=[3, 4])
    assert failures == [], "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("catch_up", ["oldest", "all"])
def test_a_round_killed_after_each_request_gives_nobody_two_parts_in_the_slot(
    make_series: MakeSeries,
    cli: Cli,
    postmark: tuple[str, PostmarkState],
    catch_up: str,
    tmp_path: Path,
) -> None:
    failures = killed_and_resumed(make_series, cli, postmark, catch_up, tmp_path)
    assert failures == [], "\n".join(failures)


def test_without_a_schedule_a_resumed_send_next_gives_a_returned_reader_one_part(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    """Without a `[schedule]` each `send next` is a round: Rob, back after missing part 2,
    gets part 2 in the round of part 3, killed at the front's request and resumed (the
    same round), and part 3 only in the next round. A day between rounds."""
    url, state = postmark
    delivery = postmark_delivery(url, settle_delay=0, batch_size=1, concurrency=1)
    root = make_series(drafts=4, subscribers=2, delivery=delivery)
    with time_machine.travel(local(12, 1), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        ok(cli(root, "subscribers", "remove", ROB))
        clock.move_to(local(12, 2))
        ok(cli(root, "send", "next", "--yes"))
        set_active(root, ROB)
        state.accepted.clear()
        # Rob's part 2 (the late run), then Ann's part 3, whose answer never comes: killed.
        kill_after(seriespub_at(root, local(12, 3), "send", "next", "--yes"), state, 2)
        clock.move_to(local(12, 3, 12, 5))
        ok(cli(root, "send", "next", "--yes"))
        rounds = [distinct(state.accepted)]
        for day in (4, 5):
            clock.move_to(local(12, day))
            before = len(state.accepted)
            ok(cli(root, "send", "next", "--yes"))
            rounds.append(distinct(state.accepted[before:]))
    assert rounds == [{ROB: [2], ANN: [3]}, {ROB: [3], ANN: [4]}, {ROB: [4]}]
