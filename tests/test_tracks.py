"""The per-reader track planner (`seriespub.tracks`): pure, so driven slot by slot here.

A small simulator plays a series week by week on the real calendar grid
(`schedule.slot_times`, DST and skip dates included): each slot the front gets the new part
(if one is written), and the planner decides each reader's part. The properties: every
reader receives 1, 2, 3… exactly once, in order, at most one per slot, late joiners from the
first slot after they joined, never a part before the front had it, never a draft.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from seriespub import schedule
from seriespub.config import ScheduleSettings
from seriespub.tracks import (
    CURRENT,
    FROM_START,
    Reader,
    decide,
    fell_behind,
    parse_joined,
    plan_slot,
)

LONDON = ZoneInfo("Europe/London")


def grid(skip: tuple[dt.date, ...] = ()) -> list[dt.datetime]:
    settings = ScheduleSettings(
        first_release=dt.datetime(2027, 1, 5, 9, 0), timezone="Europe/London", skip=skip
    )
    slots = schedule.slot_times(settings)
    return [next(slots) for _ in range(40)]


def simulate(
    joins: dict[str, dt.datetime | None],
    written: int,
    slots: list[dt.datetime],
    mode: str = FROM_START,
    drafts: frozenset[int] = frozenset(),
) -> dict[str, list[tuple[int, dt.datetime]]]:
    """Play `slots`: the front gets part k at slot k (while parts are written and ready);
    returns each reader's deliveries (part, slot) in order."""
    got: dict[str, list[tuple[int, dt.datetime]]] = {k: [] for k in joins}
    released: list[int] = []
    part_one: dt.datetime | None = None
    for slot in slots:
        nxt = len(released) + 1
        new = nxt if nxt <= written and nxt not in drafts else None
        if new == 1:
            part_one = slot
        readers = []
        for key, joined in joins.items():
            if joined is not None and joined > slot:
                continue  # not subscribed yet
            has = frozenset(n for n, _ in got[key])
            last = got[key][-1][1] if got[key] else None
            readers.append(Reader(key, joined, has, frozenset(), last))
        plan = plan_slot(
            readers, released=released, new=new, slot=slot, part_one=part_one, mode=mode
        )
        # The plan holds the late joiners' parts; the front (only counted) gets `new`.
        delivered: list[int] = []
        for reader in readers:
            front = reader.key not in plan.late
            number = plan.late.get(reader.key) if not front else new
            if number is None or (front and number in reader.has):
                continue
            assert number == new or number in released, "never before the front"
            got[reader.key].append((number, slot))
            delivered.append(number)
        assert plan.counts() == dict(sorted(Counter(delivered).items()))
        if new is not None:
            released.append(new)
    return got


def test_front_and_late_joiners_over_twelve_weeks_across_dst_and_a_skip() -> None:
    slots = grid(skip=(dt.date(2027, 3, 30),))  # BST starts 2027-03-28
    assert dt.date(2027, 3, 30) not in {s.date() for s in slots}
    joins = {
        "front@x": None,
        "early@x": dt.datetime(2027, 1, 1, 12, tzinfo=LONDON),
        "week3@x": parse_joined("2027-01-20", LONDON),
        "dst@x": dt.datetime(2027, 3, 27, 23, 30, tzinfo=LONDON),  # the night before BST
        "late@x": parse_joined("2027-04-07", LONDON),
    }
    got = simulate(joins, written=8, slots=slots[:24])
    assert [n for n, _ in got["front@x"]] == list(range(1, 9))
    assert [n for n, _ in got["early@x"]] == list(range(1, 9))
    for key in ("week3@x", "dst@x", "late@x"):
        numbers = [n for n, _ in got[key]]
        assert numbers == list(range(1, 9)), key
        when = [w for _, w in got[key]]
        joined = joins[key]
        assert joined is not None
        assert len(set(when)) == len(when), "at most one per slot"
        assert when[0] == next(s for s in slots if s > joined), "first slot after joining"
        assert all(w.hour == 9 for w in when), "the series' own time, across DST"
    # week3 joined the day after part 3 went out: part 1 when the front gets part 4.
    assert got["week3@x"][0][1] == slots[3]


def test_current_mode_joins_where_the_series_stands() -> None:
    slots = grid()
    joins = {"front@x": None, "late@x": dt.datetime(2027, 1, 20, tzinfo=LONDON)}
    got = simulate(joins, written=6, slots=slots[:8], mode=CURRENT)
    assert [n for n, _ in got["late@x"]] == [4, 5, 6]
    assert [n for n, _ in got["front@x"]] == [1, 2, 3, 4, 5, 6]


def test_a_finished_series_keeps_working_as_an_evergreen_course() -> None:
    slots = grid()
    joins = {"front@x": None, "new@x": dt.datetime(2027, 6, 1, tzinfo=LONDON)}
    got = simulate(joins, written=3, slots=slots[:30])
    assert [n for n, _ in got["new@x"]] == [1, 2, 3]
    assert got["new@x"][0][1] > dt.datetime(2027, 6, 1, tzinfo=LONDON)


def test_a_draft_stops_the_front_and_late_joiners_never_get_it() -> None:
    slots = grid()
    joins = {"front@x": None, "late@x": dt.datetime(2027, 1, 6, tzinfo=LONDON)}
    got = simulate(joins, written=5, slots=slots[:12], drafts=frozenset({3}))
    assert [n for n, _ in got["front@x"]] == [1, 2]
    assert [n for n, _ in got["late@x"]] == [1, 2]


def test_open_part_is_finished_first_and_a_served_reader_waits() -> None:
    slot = dt.datetime(2027, 2, 2, 9, tzinfo=LONDON)
    joined = dt.datetime(2027, 1, 20, tzinfo=LONDON)
    one = dt.datetime(2027, 1, 5, 9, tzinfo=LONDON)

    def at(reader: Reader) -> int | None:
        return decide(reader, released=[1, 2, 3], new=4, slot=slot, part_one=one)

    assert at(Reader("a", joined, frozenset({1}), frozenset({2}), slot)) == 2
    assert at(Reader("a", joined, frozenset({1}), frozenset(), slot)) is None
    assert at(Reader("a", joined, frozenset({1}), frozenset(), slot - dt.timedelta(days=7))) == 2
    assert at(Reader("a", slot, frozenset(), frozenset(), None)) is None
    assert at(Reader("a", joined, frozenset({1, 2, 3}), frozenset(), None)) == 4
    assert at(Reader("f", None, frozenset(), frozenset(), None)) == 4


def test_a_late_joiner_caught_up_when_the_slot_began_reads_with_the_front_in_it() -> None:
    """catch_up = "all": the front got part 3 in this slot and now gets 4. A late joiner
    who got part 3 with it had every earlier part when the slot began: 4 as well. One who
    got part 2 in this slot (the late run of a round killed before the front's run) was
    catching up then: one part a slot, as before; so is one who lacks a released part."""
    slot = dt.datetime(2027, 2, 2, 9, tzinfo=LONDON)
    joined = dt.datetime(2027, 1, 6, tzinfo=LONDON)
    one = dt.datetime(2027, 1, 5, 9, tzinfo=LONDON)
    during = slot + dt.timedelta(minutes=1)

    def at(has: set[int], fresh: frozenset[int]) -> int | None:
        reader = Reader("a", joined, frozenset(has), frozenset(), during)
        return decide(reader, released=[1, 2, 3], new=4, slot=slot, part_one=one, fresh=fresh)

    assert at({1, 2, 3}, frozenset({3})) == 4
    assert at({1, 2, 3}, frozenset()) is None  # part 3 came earlier in the slot: one a slot
    assert at({1, 3}, frozenset({3})) is None
    plan = plan_slot(
        [
            Reader("a", joined, frozenset({1, 2, 3}), frozenset(), during),
            Reader("b", joined, frozenset({1}), frozenset(), slot - dt.timedelta(days=7)),
            Reader("f", None),
        ],
        released=[1, 2, 3],
        new=4,
        slot=slot,
        part_one=one,
        fresh=frozenset({3}),
    )
    assert dict(plan.late) == {"a": 4, "b": 2}
    assert plan.in_step_count() == 2, "the front and a: every part of the front's run"


def test_a_front_reader_who_returned_resumes_at_the_first_part_they_missed() -> None:
    slot = dt.datetime(2027, 2, 2, 9, tzinfo=LONDON)
    one = dt.datetime(2027, 1, 5, 9, tzinfo=LONDON)
    kw: dict[str, Any] = {"released": [1, 2, 3, 4], "new": 5, "slot": slot, "part_one": one}
    # Left after part 2, back now: part 3 next (not 5, which left a gap), one a slot.
    assert fell_behind(frozenset({1, 2}), frozenset(), 4)
    back = Reader("a", None, frozenset({1, 2}), returned=True)
    assert decide(back, **kw) == 3
    assert decide(Reader("a", None, frozenset({1, 2}), last=slot, returned=True), **kw) is None
    # Joined the front at part 3 (an old date after part 1): parts 1-2 were never theirs.
    assert decide(Reader("b", None, frozenset({3}), returned=True), **kw) == 4
    # New (no delivery at all) or not behind: the front, as before.
    assert not fell_behind(frozenset(), frozenset(), 4)
    assert not fell_behind(frozenset({1, 2, 3, 4}), frozenset(), 4)
    assert not fell_behind(frozenset({3}), frozenset({4}), 4)
    assert decide(Reader("c", None, frozenset({1, 2, 3, 4})), **kw) == 5
    assert decide(back, mode=CURRENT, **kw) == 5


def test_a_released_part_that_is_a_draft_again_holds_the_track_never_skips() -> None:
    slot = dt.datetime(2027, 2, 2, 9, tzinfo=LONDON)
    joined = dt.datetime(2027, 1, 20, tzinfo=LONDON)
    one = dt.datetime(2027, 1, 5, 9, tzinfo=LONDON)
    reader = Reader("a", joined, frozenset({1}))
    kw: dict[str, Any] = {"released": [1, 2, 3], "new": 4, "slot": slot, "part_one": one}
    assert decide(reader, **kw) == 2
    assert decide(reader, held=frozenset({2}), **kw) is None
    assert decide(reader, held=frozenset({3}), **kw) == 2


def test_parse_joined() -> None:
    assert parse_joined("", LONDON) is None
    assert parse_joined("last tuesday", LONDON) is None
    assert parse_joined("2027-01-20", LONDON) == dt.datetime(2027, 1, 21, tzinfo=LONDON)
    assert parse_joined("2027-01-20T10:00:00Z", LONDON) == dt.datetime(
        2027, 1, 20, 10, tzinfo=dt.UTC
    )
    assert parse_joined("2027-07-20 10:00", LONDON) == dt.datetime(2027, 7, 20, 10, tzinfo=LONDON)


def _joined_as_written(text: str, tz: ZoneInfo) -> dt.datetime | None:
    """`parse_joined` as first written, plainly: the reference for its faster form."""
    value = text.strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if day == dt.date.max:
                return dt.datetime.max.replace(tzinfo=tz)
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    form=st.sampled_from(["date", "naive", "minutes", "Z", "offset", "spaced", "max", "junk"]),
    zone=st.sampled_from(["Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_parse_joined_reads_every_form_as_written(when: dt.datetime, form: str, zone: str) -> None:
    """Dates, naive times (a daylight-saving gap or fold included), UTC, offsets: the same
    instant, zone and fold as the plain reading gives."""
    text = {
        "date": when.date().isoformat(),
        "naive": when.isoformat(),
        "minutes": when.strftime("%Y-%m-%d %H:%M"),
        "Z": when.isoformat() + "Z",
        "offset": when.isoformat() + "-05:30",
        "spaced": f"  {when.isoformat(sep=' ')} ",
        "max": "9999-12-31",
        "junk": when.isoformat()[:-1] + "x",
    }[form]
    tz = ZoneInfo(zone)
    got, want = parse_joined(text, tz), _joined_as_written(text, tz)
    assert got == want
    if got is not None and want is not None:
        assert (got.tzinfo, got.fold, got.utcoffset()) == (want.tzinfo, want.fold, want.utcoffset())


@settings(max_examples=60, deadline=None)
@given(
    joins=st.lists(st.one_of(st.none(), st.integers(-20, 40 * 7 * 24)), min_size=1, max_size=6),
    written=st.integers(1, 12),
    skips=st.lists(st.integers(1, 30), max_size=4),
    drafts=st.frozensets(st.integers(1, 12), max_size=2),
)
def test_every_reader_gets_each_part_once_in_order_one_per_slot(
    joins: list[int | None], written: int, skips: list[int], drafts: frozenset[int]
) -> None:
    start = dt.datetime(2027, 1, 5, 9, tzinfo=LONDON)
    skip = tuple(sorted({(start + dt.timedelta(weeks=k)).date() for k in skips}))
    slots = grid(skip)
    when = {
        f"r{i}@x": (None if h is None else start + dt.timedelta(hours=h))
        for i, h in enumerate(joins)
    }
    got = simulate(when, written, slots, drafts=drafts)
    front_got = {}
    for key, deliveries in got.items():
        numbers = [n for n, _ in deliveries]
        times = [t for _, t in deliveries]
        assert len(set(times)) == len(times)
        assert not set(numbers) & drafts
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        joined = when[key]
        if joined is None or joined < start:
            front_got[key] = deliveries
        else:
            assert numbers == list(range(1, len(numbers) + 1)), "from part 1, never a skip"
            if numbers:
                assert times[0] == next(s for s in slots if s > joined)
    released = min([written + 1, *drafts]) - 1
    for deliveries in got.values():
        assert len(deliveries) <= released
    for key, deliveries in front_got.items():
        assert [n for n, _ in deliveries] == list(range(1, released + 1)), key


def test_plan_slot_counts_and_excludes() -> None:
    slot = dt.datetime(2027, 2, 2, 9, tzinfo=LONDON)
    one = dt.datetime(2027, 1, 5, 9, tzinfo=LONDON)
    readers = [
        Reader("f1", None),
        Reader("f2", None, frozenset({4})),
        Reader("l1", dt.datetime(2027, 1, 20, tzinfo=LONDON), frozenset({1})),
        Reader("l2", dt.datetime(2027, 1, 7, tzinfo=LONDON), frozenset({1, 2, 3})),
        Reader("l3", dt.datetime(2027, 2, 3, tzinfo=LONDON)),
    ]
    plan = plan_slot(readers, released=[1, 2, 3], new=4, slot=slot, part_one=one)
    assert plan.counts() == {2: 1, 4: 2}
    # l2 has every part the front had when the slot began: caught up (it gets `new` with
    # the front); l1 and l3 are still catching up.
    assert (plan.front, plan.catching_up, plan.caught_up) == (2, 2, 1)
    assert {key for key in plan.late if plan.excludes(key)} == {"l1", "l3"}
