"""Per-reader tracks at any size (issue 13): the plan streams the list once and holds the
late joiners only; a send nobody can be a late joiner of does not read the list for tracks.

Reads of the list are counted through `open` in `seriespub.subscribers` (every read of the
list, the live file or the send's snapshot, goes through it), comparing a `from_start`
series with a `current` one, which has no tracks: the difference is what tracks cost.
Repeated addresses are planned as before, also when every row's address hash collides in
the bitmap (`DUPLICATE_BITS` = 8) and chunks are small, which sends the plan down its exact
second look at the list.
"""

from __future__ import annotations

import builtins
import datetime as dt
import email
import email.policy
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import time_machine

from conftest import rewritten_mid_read
from seriespub import lateparts, schedule, subscribers, tracking
from seriespub.models import SETTLED
from seriespub.ops import send as ops
from seriespub.ops import send_due
from seriespub.ops.session import Session, session
from seriespub.series import find_series
from seriespub.tracks import Reader, SlotPlan, is_front, parse_joined, plan_slot
from sqlitefile import sqlite_file

MakeSeries = Callable[..., Path]
T0 = dt.datetime(2027, 1, 5, 9, 0, tzinfo=dt.UTC)
WEEK = dt.timedelta(weeks=1)
CURRENT = '[series]\nlate_joiners = "current"\n'


@contextmanager
def held(root: Path, now: dt.datetime, *, readonly: bool = False) -> Iterator[Session]:
    with session(find_series(explicit=root), "test", now=now, readonly=readonly) as s:
        yield s


def send_next(root: Path, now: dt.datetime) -> ops.SendOutcome:
    with held(root, now) as s:
        return ops.send(s, ops.SendOptions(), ops.SendHooks())


def current_mode(root: Path) -> None:
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("[series]\n", CURRENT, 1), encoding="utf-8")


@pytest.fixture
def list_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each CSV file was opened by `seriespub.subscribers`."""
    opened: Counter[str] = Counter()

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith(".csv"):
            opened[Path(file).name] += 1
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(subscribers, "open", counting, raising=False)
    return opened


def test_part_one_reads_the_list_no_extra_time_and_part_two_once(
    make_series: MakeSeries, list_reads: Counter[str]
) -> None:
    tracked = make_series(drafts=3, subscribers=5, name="tracked")
    plain = make_series(drafts=3, subscribers=5, name="plain")
    current_mode(plain)
    reads = []
    for now in (T0, T0 + WEEK):
        counts = []
        for root in (tracked, plain):
            list_reads.clear()
            outcome = send_next(root, now)
            assert outcome.report is not None and outcome.report.sent == 5
            counts.append(sum(list_reads.values()))
        reads.append(counts)
    (one_tracked, one_plain), (two_tracked, two_plain) = reads
    assert one_plain > 0, "the counter must see the send's own reads"
    assert one_tracked == one_plain  # part 1: nobody can be a late joiner, no pass
    assert two_tracked == two_plain + 1  # part 2: one streamed pass for the plan


SCHEDULE = '[schedule]\nfirst_release = 2027-01-05T09:00:00\ntimezone = "UTC"\n'


def test_send_due_of_part_one_reads_the_list_no_extra_time(
    make_series: MakeSeries, list_reads: Counter[str]
) -> None:
    tracked = make_series(drafts=3, subscribers=5, name="tracked", extra_toml=SCHEDULE)
    plain = make_series(drafts=3, subscribers=5, name="plain", extra_toml=SCHEDULE)
    current_mode(plain)
    reads = []
    now = T0 + dt.timedelta(minutes=1)
    for root in (tracked, plain):
        list_reads.clear()
        with time_machine.travel(now, tick=False), held(root, now) as s:
            outcome = send_due.due(s, ops.SendHooks())
        assert [r.sent for r in outcome.reports] == [5]
        reads.append(sum(list_reads.values()))
    assert reads[1] > 0 and reads[0] == reads[1]


def test_a_send_nobody_can_be_late_for_plans_without_the_list(make_series: MakeSeries) -> None:
    root = make_series(drafts=2, subscribers=3)
    with held(root, T0, readonly=True) as s:
        drafts = s.drafts()
        lazy, _ = tracking.slot_plan(s, drafts, 1, count_front=False)
        full, _ = tracking.slot_plan(s, drafts, 1)
    assert not lazy.counted and lazy.late == {} and lazy.counts() == {}
    assert full.counted and full.front == 3 and full.counts() == {1: 3}


def outbox(root: Path) -> Counter[tuple[str, int]]:
    """(address, part) → how many messages the outbox holds for it."""
    got: Counter[tuple[str, int]] = Counter()
    for path in (root / ".seriespub" / "outbox").glob("*/*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        got[message["To"].addresses[0].addr_spec.lower(), int(path.parent.name)] += 1
    return got


def append_rows(root: Path, rows: list[tuple[str, str]], status: str = "active") -> None:
    with (root / "subscribers.csv").open("a", encoding="utf-8") as handle:
        handle.writelines(f"{address},,{status},{joined}\n" for address, joined in rows)


@pytest.mark.parametrize(
    ("bits", "spill"),
    [(None, None), (8, None), (None, 0)],
    ids=["bitmap", "every-row-collides", "late-joiners-on-disk"],
)
def test_repeated_late_joiners_get_one_part_per_slot_and_each_part_once(
    make_series: MakeSeries, monkeypatch: pytest.MonkeyPatch, bits: int | None, spill: int | None
) -> None:
    if bits is not None:  # and small chunks: a repeat is mostly found in a later chunk
        monkeypatch.setattr(subscribers, "DUPLICATE_BITS", bits)
        monkeypatch.setattr(tracking, "CHUNK", 2)
    if spill is not None:
        monkeypatch.setattr(lateparts, "SPILL", spill)
    root = make_series(drafts=3, subscribers=2)
    send_next(root, T0)  # part 1 to the front
    joined = (T0 + dt.timedelta(days=1)).isoformat()
    append_rows(
        root,
        [
            ("Late@Example.com", joined),
            ("reader0001@example.com", joined),  # a front reader's address again, joined late
            ("late@example.com", joined),
            ("late2@example.com", joined),
            ("LATE2@example.com", ""),  # repeated with an empty date (front, if it were first)
        ],
    )
    with held(root, T0 + WEEK, readonly=True) as s:
        plan, _ = tracking.slot_plan(s, s.drafts(), 2)
    assert dict(plan.late) == {"late@example.com": 1, "late2@example.com": 1}
    assert (plan.front, plan.catching_up, plan.counts()) == (2, 2, {1: 2, 2: 2})
    outcome = send_next(root, T0 + WEEK)
    assert [g.number for g in outcome.groups] == [1] and outcome.number == 2
    send_next(root, T0 + 2 * WEEK)
    got = outbox(root)
    assert set(got.values()) == {1}, "nobody gets a part twice"
    assert {k for k in got if k[0].startswith("late")} == {
        ("late@example.com", 1),
        ("late@example.com", 2),
        ("late2@example.com", 1),
        ("late2@example.com", 2),
    }
    assert {p for a, p in got if a == "reader0001@example.com"} == {1, 2, 3}


def scanned_received(
    s: Session, late: list[str]
) -> dict[str, tuple[frozenset[int], frozenset[int], str]]:
    """What the ledger holds for `late`, by a scan of every delivery (the reference for
    `Ledger.received`, which looks them up by primary key)."""
    settled = ("sent", "failed", "scheduled")
    seen: dict[str, tuple[set[int], set[int], str]] = {}
    with sqlite_file(f"file:{s.series.ledger_path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT email, instalment, status, updated_at FROM deliveries")
        for email, number, status, updated in rows:
            if email in late:
                has, open_, last = seen.get(email, (set(), set(), ""))
                (has if status in settled else open_).add(number)
                seen[email] = (has, open_, max(last, updated))
    return {e: (frozenset(h), frozenset(o), last) for e, (h, o, last) in seen.items()}


def naive_plan(s: Session, new: int | None, upcoming: bool = False) -> SlotPlan:
    """The plan as it was made before issue 13: every reader in memory (the reference)."""
    drafts = s.drafts(strict=False)
    given = tracking.inputs(s, drafts, new)
    slot = tracking.next_slot(s) if upcoming else given.slot
    tz = schedule.zone(s.series.settings.schedule.timezone)
    listed: dict[str, Reader] = {}
    for row in subscribers.active(s.series.subscribers_path):
        listed.setdefault(row.key, Reader(row.key, parse_joined(row.subscribed_at, tz)))
    late = [r.key for r in listed.values() if not is_front(r, given.part_one)]
    received = scanned_received(s, late)
    assert received == s.ledger.received(late)
    front_has = set()
    if new is not None:
        keys = list(listed)
        statuses = s.ledger.statuses(new, keys)
        front_has = {k for k, st in statuses.items() if st in SETTLED}
    readers = []
    for r in listed.values():
        if r.key in received:
            has, open_, last = received[r.key]
            when = dt.datetime.fromisoformat(last) if last else None
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            readers.append(Reader(r.key, r.joined, has, open_, when))
        else:
            mine = frozenset({new}) if new is not None and r.key in front_has else frozenset()
            readers.append(Reader(r.key, r.joined, mine))
    return plan_slot(
        readers,
        released=given.released,
        new=new,
        slot=slot,
        part_one=given.part_one,
        held=given.held,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_streamed_plan_is_the_in_memory_plan_with_repeats_and_collisions(
    make_series: MakeSeries, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    root = make_series(drafts=4, subscribers=40)
    send_next(root, T0)
    pool = [f"reader{i:04d}@example.com" for i in range(1, 41)]
    for week in (1, 2):
        joined = (T0 + (week - 1) * WEEK + dt.timedelta(days=1)).isoformat()
        fresh = [f"w{week}-{i}@example.com" for i in range(25)]
        rows = [(a, joined) for a in fresh]
        rows += [(rng.choice(pool + fresh).upper(), rng.choice(["", joined])) for _ in range(30)]
        rng.shuffle(rows)
        if week == 2:  # invalid rows (numbered too; a send would refuse them), then a front
            # reader repeated at once with a late date: front, by the first row
            append_rows(root, [("not an address", joined)] * 3)
            append_rows(root, [("near@example.com", ""), ("NEAR@example.com", joined)])
        append_rows(root, [(a.upper(), "") for a in rng.sample(fresh, 3)], "unsubscribed")
        append_rows(root, rows)
        pool += fresh
        if week == 1:
            send_next(root, T0 + WEEK)  # part 2 to the front, part 1 to week 1's joiners
    now = T0 + 2 * WEEK
    with held(root, now, readonly=True) as s:
        want = naive_plan(s, 3)
        got, _ = tracking.slot_plan(s, s.drafts(), 3)
        monkeypatch.setattr(tracking, "CHUNK", 1)  # a repeat is always in a later chunk
        one_by_one, _ = tracking.slot_plan(s, s.drafts(), 3)
        monkeypatch.setattr(subscribers, "DUPLICATE_BITS", 8)
        monkeypatch.setattr(tracking, "CHUNK", 3)
        collided, _ = tracking.slot_plan(s, s.drafts(), 3)
        monkeypatch.setattr(lateparts, "SPILL", 5)  # the late joiners move to disk mid-pass
        on_disk, _ = tracking.slot_plan(s, s.drafts(), 3)
    assert want.late and want.front
    assert isinstance(on_disk.late, lateparts.LateParts) and on_disk.late.spilled
    for plan in (got, one_by_one, collided, on_disk):
        assert dict(plan.late) == dict(want.late)
        assert plan.counts() == want.counts()
        assert (plan.front, plan.catching_up, plan.caught_up, plan.front_new) == (
            want.front,
            want.catching_up,
            want.caught_up,
            want.front_new,
        )


@pytest.mark.parametrize("rewrites", [1, 3])
def test_a_list_rewritten_mid_plan_is_planned_again_from_the_new_file(
    make_series: MakeSeries, monkeypatch: pytest.MonkeyPatch, rewrites: int
) -> None:
    root = make_series(drafts=3, subscribers=2)
    send_next(root, T0)
    joined = (T0 + dt.timedelta(days=1)).isoformat()
    # A front reader repeated: a suspect for sure, so the plan reads the list a second time.
    append_rows(root, [("late@example.com", joined), ("READER0001@example.com", "")])
    reads = rewritten_mid_read(monkeypatch, root / "subscribers.csv", rewrites)
    with held(root, T0 + WEEK, readonly=True) as s:
        if rewrites == 3:
            with pytest.raises(tracking.ListChanged, match="kept changing"):
                tracking.slot_plan(s, s.drafts(), 2)
            return
        plan, _ = tracking.slot_plan(s, s.drafts(), 2)
    assert reads == [2]
    assert dict(plan.late) == {"late@example.com": 1}
    assert (plan.front, plan.counts()) == (2, {1: 1, 2: 2})


@pytest.mark.parametrize("spill", [3, 0])
def test_late_parts_on_disk_behave_as_a_dict(spill: int) -> None:
    late, plain = lateparts.LateParts(spill), dict[str, int | None]()
    for i in range(12):
        late[f"r{i}@x"] = plain[f"r{i}@x"] = None if i % 4 == 0 else i % 3
    assert late.spilled
    assert dict(late) == plain and len(late) == 12
    assert sorted(late.items(), key=str) == sorted(plain.items(), key=str)
    assert sorted(late.values(), key=str) == sorted(plain.values(), key=str)
    assert "r0@x" in late and late["r0@x"] is None and late.get("front@x", -1) == -1
    with pytest.raises(KeyError):
        late["front@x"]
    del late["r1@x"], plain["r1@x"]
    assert "r1@x" not in late and len(late) == 11
    plan = SlotPlan(2, late, front=3, catching_up=11, caught_up=0, front_new=3)
    want = SlotPlan(2, plain, front=3, catching_up=11, caught_up=0, front_new=3)
    assert plan.counts() == want.counts() and plan.late_parts() == want.late_parts()
    assert plan.any_excluded == want.any_excluded
    keys = [*plain, "front@x"]
    assert late.parts_of(keys) == plain
    for key in keys:
        assert plan.excludes(key) == want.excludes(key)


@pytest.mark.parametrize("spill", [None, 0])
def test_check_counts_a_repeated_late_joiner_once(
    make_series: MakeSeries, monkeypatch: pytest.MonkeyPatch, spill: int | None
) -> None:
    if spill is not None:
        monkeypatch.setattr(lateparts, "SPILL", spill)
    monkeypatch.setattr(tracking, "CHUNK", 1)  # the repeat is checked against what check kept
    root = make_series(drafts=3, subscribers=2)
    send_next(root, T0)
    joined = (T0 + dt.timedelta(days=1)).isoformat()
    rows = [("late@example.com", joined), ("b@x.org", joined), ("LATE@example.com", joined)]
    append_rows(root, rows)
    part1 = next((root / "drafts").glob("01-*.md"))
    part1.write_text(part1.read_text().replace("status: ready", "status: draft"))
    with held(root, T0 + WEEK, readonly=True) as s:
        assert tracking.draft_warnings(s) == [
            "part 1 is still a draft and is the next part of 2 late joiner(s): set status: "
            "ready in its front matter"
        ]


@pytest.mark.parametrize("spill", [None, 0])
def test_next_parts_hold_the_late_joiners_only(
    make_series: MakeSeries, monkeypatch: pytest.MonkeyPatch, spill: int | None
) -> None:
    from seriespub.ops.subscribers import next_parts

    if spill is not None:
        monkeypatch.setattr(lateparts, "SPILL", spill)
    root = make_series(drafts=3, subscribers=2)
    send_next(root, T0)
    joined = (T0 + dt.timedelta(days=1)).isoformat()
    append_rows(root, [("late@example.com", joined), ("gone@example.com", "")], "active")
    append_rows(root, [("left@example.com", "")], "unsubscribed")
    coming = next_parts(find_series(explicit=root), now=T0 + dt.timedelta(days=2))
    assert dict(coming.late) == {"late@example.com": 1} and coming.new == 2
    parts = {
        s.key: coming.part_of(s) for s in subscribers.iter_subscribers(root / "subscribers.csv")
    }
    assert parts == {
        "reader0001@example.com": 2,
        "reader0002@example.com": 2,
        "late@example.com": 1,
        "gone@example.com": 2,
        "left@example.com": None,
    }
