"""`status`, `status --json` and `subscribers list --next` read subscribers.csv once to plan
both what is due now and the next slot (`promises.upcoming`): with late joiners and a part
due now, the due-now round and the next slot's plan come out of one streamed pass."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok, rewritten_mid_read
from seriespub import promises, subscribers, tracking
from seriespub.ops.session import Session, session
from seriespub.scheduling import releases_by_number
from seriespub.series import find_series
from seriespub.tracks import SlotPlan

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each streamed read of a subscribers file, by path (the module's readers, wrapped:
    records, and a plan's pass)."""
    seen: list[Path] = []

    def counting(real: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def counted(path: Path, *args: Any, **kwargs: Any) -> Iterator[Any]:
            seen.append(path)
            return real(path, *args, **kwargs)

        return counted

    for name in ("iter_subscribers", "active_joined"):
        monkeypatch.setattr(subscribers, name, counting(getattr(subscribers, name)))
    return seen


def test_status_plans_due_now_and_the_next_slot_in_one_pass(
    make_series: MakeSeries, cli: Cli, reads: list[Path]
) -> None:
    """At 09:02 on part 2's slot, before cron's run, with a late joiner: part 2 (and the
    late joiner's part 1) are due now, and the next slot is planned as if they went out.
    Each report reads the list once, with the same answers as before."""
    root = make_series(drafts=3, subscribers=2, extra_toml=SCHEDULE)
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", "late@example.com"))
        clock.move_to(local(8, 9, 2))
        reads.clear()
        text = ok(cli(root, "status")).stdout
        status_reads = len(reads)
        reads.clear()
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        json_reads = len(reads)
        reads.clear()
        ok(cli(root, "subscribers", "list", "--next"))
        listing_reads = len(reads)
    due = "Due now: part 1 → 1, part 2 → 2. At Tue 2026-12-15 09:00: part 2 → 1, part 3 → 2."
    assert due in text, text
    assert readers["due_now"] == {"parts": {"1": 1, "2": 2}}
    assert readers["next_slot"] == {"at": local(15, 9).isoformat(), "parts": {"2": 1, "3": 2}}
    assert (status_reads, json_reads) == (1, 1)
    assert listing_reads == 2  # the plan's pass, and the listing's own rows


@pytest.mark.parametrize("rewrites", [1, 3])
def test_a_list_rewritten_mid_pass_is_planned_again_with_a_part_due_now(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch, rewrites: int
) -> None:
    """The one pass behind what is due now and the next slot is made again from the new
    file when the list is replaced under it (a repeated address makes it read the list a
    second time, which finds the change); three times in a row, it gives up."""
    root = make_series(drafts=3, subscribers=2, extra_toml=SCHEDULE)
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", "late@example.com"))
    with (root / "subscribers.csv").open("a", encoding="utf-8") as handle:
        handle.write("READER0001@example.com,,active,\n")  # a repeat: the first row counts
    with session(find_series(explicit=root), "test", now=local(8, 9, 2), readonly=True) as s:
        want = promises.upcoming(s, s.drafts(strict=False))
    assert want.due is not None and want.due.counts() == {1: 1, 2: 2}
    reads = rewritten_mid_read(monkeypatch, root / "subscribers.csv", rewrites)
    with session(find_series(explicit=root), "test", now=local(8, 9, 2), readonly=True) as s:
        if rewrites == 3:
            with pytest.raises(tracking.ListChanged, match="kept changing"):
                promises.upcoming(s, s.drafts(strict=False))
            return
        got = promises.upcoming(s, s.drafts(strict=False))
    assert reads == [2]
    assert got.due is not None and want.due is not None
    assert got.due.counts() == want.due.counts()
    assert dict(got.due.plan.late) == dict(want.due.plan.late)
    assert got.plan.counts() == want.plan.counts() == {2: 1, 3: 2}
    assert dict(got.plan.late) == dict(want.plan.late)
    assert (got.plan.front, got.front_part) == (want.plan.front, want.front_part)


def sequential(s: Session) -> tuple[tracking.DueNow | None, SlotPlan]:
    """What is due now and the next slot's plan as two passes give them: `due_now`, then
    the next slot planned as if it had gone out."""
    drafts = s.drafts(strict=False)
    planned = releases_by_number(s.series, drafts, s.ledger, s.now)
    now = promises.due_now(s, drafts, planned)
    new = tracking.front_next(drafts, s, now.front_parts if now else ())
    plan, _ = tracking.slot_plan(s, drafts, new, upcoming=True, after=now)
    return now, plan


def test_one_pass_after_a_limited_run_gives_what_two_passes_give(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Part 2's run stopped after 2 of 5 front readers (`--limit`; the late joiner had
    part 1 in it): part 2 is still due now for the other 3; the next slot brings part 3 to
    the front and part 2 to the late joiner. The front readers the ledger has part 2 for
    are counted per plan, as two passes count them."""
    root = make_series(drafts=3, subscribers=5, extra_toml=SCHEDULE)
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", "late@example.com"))
        clock.move_to(local(8, 9, 1))
        ok(cli(root, "send", "next", "--yes", "--limit", "2"))
    with session(find_series(explicit=root), "test", now=local(8, 9, 30), readonly=True) as s:
        got = promises.upcoming(s, s.drafts(strict=False))
        now, plan = sequential(s)
    assert got.due is not None and now is not None
    assert got.due.counts() == now.counts() == {2: 3}
    assert dict(got.due.plan.late) == dict(now.plan.late)
    assert got.due.plan.front_new == now.plan.front_new == 3
    assert got.plan.counts() == plan.counts() == {2: 1, 3: 5}
    assert dict(got.plan.late) == dict(plan.late)
    assert (got.plan.front, got.plan.catching_up, got.plan.caught_up) == (
        plan.front,
        plan.catching_up,
        plan.caught_up,
    )


def test_one_pass_with_nothing_due_after_all_gives_what_two_passes_give(
    make_series: MakeSeries, cli: Cli, reads: list[Path]
) -> None:
    """The day after part 2's round (the late joiner had part 1 in it): no part is due, and
    the late joiner's turn this slot is taken, so `send due` sends nothing now; the next
    slot is planned as it stands, in the one pass that found nothing due."""
    root = make_series(drafts=3, subscribers=3, extra_toml=SCHEDULE)
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(3, 12))
        ok(cli(root, "subscribers", "add", "late@example.com"))
        clock.move_to(local(8, 9, 1))
        ok(cli(root, "send", "due"))
    reads.clear()
    with session(find_series(explicit=root), "test", now=local(9, 10), readonly=True) as s:
        got = promises.upcoming(s, s.drafts(strict=False))
        assert len(reads) == 1
        now, plan = sequential(s)
    assert got.due is None and now is None
    assert got.plan.counts() == plan.counts() == {2: 1, 3: 3}
    assert dict(got.plan.late) == dict(plan.late) == {"late@example.com": 2}
    assert (got.plan.front, got.front_part) == (plan.front, 3)


def _random_list(path: Path, rng: random.Random) -> None:
    """A list of 60 rows around part 1's release (09:00 on 1 December): readers who joined
    before it, after it (late by date, on the front for part 1's own round), on its day (a
    bare date), at no or an unreadable date; some not active, some invalid, and repeated
    addresses (another case, another date: the first active row counts)."""
    dates = [
        "",
        "soon",
        "2026-11-30",
        "2026-12-01",
        "2026-11-20T08:00:00",
        "2026-12-01T08:59:00",
        "2026-12-01T09:00:00",
        "2026-12-01T09:00:30Z",
        "2026-12-01T10:00:00+01:00",
    ]
    rows, seen = ["email,name,status,subscribed_at"], list[str]()
    for i in range(60):
        if seen and rng.random() < 0.15:
            address = rng.choice(seen).upper()
        elif rng.random() < 0.05:
            address = f"broken{i}"
        else:
            address = f"r{i:03d}@example.com"
            seen.append(address)
        status = rng.choice(["active"] * 6 + ["unsubscribed", "bounced", ""])
        rows.append(f"{address},Reader {i},{status},{rng.choice(dates)}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.mark.parametrize("catch_up", ["oldest", "all"])
@pytest.mark.parametrize("seed", range(4))
def test_part_ones_own_round_is_planned_in_one_pass_as_two_passes_plan_it(
    make_series: MakeSeries, cli: Cli, reads: list[Path], seed: int, catch_up: str
) -> None:
    """In part 1's own round everyone is on the front for what is due now, and the next
    slot is planned by part 1's release: one pass over a random list (late joiners by
    date, repeats, inactive and invalid rows) gives what two passes give, before part 1
    goes out and after its run stopped part-way (`--limit`). With catch_up = "all", the
    parts after part 1 whose slots passed go out to the front with it."""
    first = "2026-12-01T09:00:00" if catch_up == "oldest" else "2026-11-17T09:00:00"
    toml = SCHEDULE.replace("2026-12-01T09:00:00", first) + f'catch_up = "{catch_up}"\n'
    root = make_series(drafts=4, subscribers=0, extra_toml=toml)
    rng = random.Random(seed)
    _random_list(root / "subscribers.csv", rng)
    for stopped in (False, True):
        if stopped:
            with time_machine.travel(local(1, 9, 1), tick=False):
                limit = str(rng.randint(3, 20))
                ok(cli(root, "send", "next", "--yes", "--skip-invalid", "--limit", limit))
        reads.clear()
        with session(find_series(explicit=root), "test", now=local(1, 9, 30), readonly=True) as s:
            got = promises.upcoming(s, s.drafts(strict=False))
            assert len(reads) == 1
            now, plan = sequential(s)
        assert got.due is not None and now is not None
        assert got.due.counts() == now.counts()
        assert 1 in now.counts() and (catch_up == "oldest" or 2 in now.counts())
        assert dict(got.due.plan.late) == dict(now.plan.late)
        assert got.due.plan.front_new == now.plan.front_new
        assert got.plan.counts() == plan.counts()
        assert dict(got.plan.late) == dict(plan.late)
        assert (got.plan.front, got.plan.catching_up, got.plan.caught_up) == (
            plan.front,
            plan.catching_up,
            plan.caught_up,
        )
