"""The release calendar: grid, DST, skips, pins, lateness, backlog, warnings, parsing."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriespub.config import ScheduleSettings
from seriespub.errors import ConfigError, InputError
from seriespub.models import DraftStatus, Instalment
from seriespub.schedule import (
    ON_TIME_GRACE,
    PlannedRelease,
    ReleaseStatus,
    due,
    first_slot_from,
    format_local,
    localize,
    next_release,
    overdue,
    parse_when,
    plan,
    relative,
    slot_times,
    warnings,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC
TUESDAY = dt.datetime(2026, 3, 3, 9, 0)  # a Tuesday, before the March DST change
WEEK = dt.timedelta(weeks=1)


@dataclass(frozen=True)
class Rec:
    started_at: dt.datetime | None
    finished_at: dt.datetime | None = None


def sched(
    first: dt.datetime | None = TUESDAY, tz: str = "Europe/London", **kw: object
) -> ScheduleSettings:
    return ScheduleSettings(first_release=first, timezone=tz, **kw)  # type: ignore[arg-type]


def inst(n: int, *, ready: bool = True, release: dt.datetime | None = None) -> Instalment:
    status = DraftStatus.READY if ready else DraftStatus.DRAFT
    return Instalment(
        n, f"Title {n}", f"Subject {n}", "body", Path(f"{n:02d}.md"), status, release=release
    )


def parts(count: int) -> list[Instalment]:
    return [inst(n) for n in range(1, count + 1)]


def slots(s: ScheduleSettings, count: int) -> list[dt.datetime]:
    return list(itertools.islice(slot_times(s), count))


def sent(when: dt.datetime) -> Rec:
    return Rec(when, when + dt.timedelta(minutes=3))


def by_number(releases: list[PlannedRelease]) -> dict[int, PlannedRelease]:
    return {p.number: p for p in releases}


# -- the grid ----------------------------------------------------------------------------
def test_grid_is_weekly_at_the_first_release_time() -> None:
    grid = slots(sched(), 3)
    assert [g.isoformat() for g in grid] == [
        "2026-03-03T09:00:00+00:00",
        "2026-03-10T09:00:00+00:00",
        "2026-03-17T09:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("tz", "first", "offsets"),
    [
        ("Europe/London", dt.datetime(2026, 3, 24, 9), (0, 1)),  # spring forward 29 March
        ("Europe/London", dt.datetime(2026, 10, 20, 9), (1, 0)),  # fall back 25 October
        ("America/New_York", dt.datetime(2026, 3, 1, 9), (-5, -4)),  # spring forward 8 March
        ("America/New_York", dt.datetime(2026, 10, 25, 9), (-4, -5)),  # fall back 1 November
    ],
)
def test_wall_clock_holds_across_dst(tz: str, first: dt.datetime, offsets: tuple[int, int]) -> None:
    before, after = slots(sched(first, tz), 2)
    assert (before.hour, before.minute, after.hour, after.minute) == (9, 0, 9, 0)
    assert after.date() - before.date() == dt.timedelta(days=7)
    assert [x.utcoffset() for x in (before, after)] == [dt.timedelta(hours=h) for h in offsets]
    # so the absolute gap is a week plus or minus the hour that changed
    gap = after.astimezone(UTC) - before.astimezone(UTC)
    assert gap == WEEK + dt.timedelta(hours=offsets[0] - offsets[1])


def test_a_time_in_the_spring_gap_moves_forward_and_returns_the_week_after() -> None:
    grid = slots(sched(dt.datetime(2026, 3, 1, 2, 30), "America/New_York"), 3)
    assert [g.strftime("%m-%d %H:%M %Z") for g in grid] == [
        "03-01 02:30 EST",
        "03-08 03:30 EDT",
        "03-15 02:30 EDT",
    ]


def test_a_repeated_autumn_time_takes_its_first_occurrence() -> None:
    grid = slots(sched(dt.datetime(2026, 10, 25, 1, 30), "America/New_York"), 2)
    assert grid[1].strftime("%m-%d %H:%M %Z") == "11-01 01:30 EDT"


def test_skip_dates_leave_holes_and_the_rhythm_continues() -> None:
    grid = slots(sched(skip=(dt.date(2026, 3, 10), dt.date(2026, 3, 24))), 3)
    assert [g.date().isoformat() for g in grid] == ["2026-03-03", "2026-03-17", "2026-03-31"]


def test_skipping_the_first_release_starts_a_week_later() -> None:
    assert slots(sched(skip=(dt.date(2026, 3, 3),)), 1)[0].date() == dt.date(2026, 3, 10)


def test_every_two_weeks_and_an_aware_first_release() -> None:
    first = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    grid = slots(sched(first, every_weeks=2), 3)
    assert [g.strftime("%m-%d %H:%M") for g in grid] == [
        "03-03 09:00",
        "03-17 09:00",
        "03-31 09:00",
    ]


def test_first_slot_from_finds_the_next_slot_far_ahead() -> None:
    when = dt.datetime(2031, 6, 5, 12, tzinfo=UTC)
    found = first_slot_from(sched(), when)
    assert found >= when and found - when < WEEK
    assert (found.weekday(), found.hour) == (1, 9)


def test_missing_first_release_or_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="first_release"):
        next(slot_times(sched(None)))
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        next(slot_times(sched(tz="Mars/Olympus")))


# -- placing instalments -----------------------------------------------------------------
def test_when_all_goes_well_instalment_n_sits_in_slot_n() -> None:
    grid = slots(sched(), 4)
    records = {1: sent(grid[0] + dt.timedelta(minutes=4)), 2: sent(grid[1] + dt.timedelta(hours=2))}
    now = grid[2] + dt.timedelta(minutes=1)
    releases = plan(parts(4), records, sched(), now)
    assert [p.release for p in releases] == grid
    assert [p.status for p in releases] == ["sent", "sent", "due", "upcoming"]
    assert due(releases) == releases[2]
    assert next_release(releases) == releases[3]


def test_one_late_send_moves_the_following_ones_by_a_whole_slot() -> None:
    grid = slots(sched(), 6)
    records = {1: sent(grid[0]), 2: sent(grid[1] + dt.timedelta(days=2))}
    releases = plan(parts(4), records, sched(), grid[1] + dt.timedelta(days=3))
    assert [p.release for p in releases] == [grid[0], grid[1], grid[3], grid[4]]
    assert releases[2].status is ReleaseStatus.UPCOMING


def test_catch_up_all_keeps_slot_n_however_late() -> None:
    grid = slots(sched(), 4)
    records = {1: sent(grid[0]), 2: sent(grid[1] + dt.timedelta(days=2))}
    releases = plan(parts(4), records, sched(catch_up="all"), grid[2] + dt.timedelta(hours=1))
    assert [p.release for p in releases] == grid
    assert due(releases) == releases[2]


def test_missed_backlog_sends_only_the_oldest_and_the_rest_follow() -> None:
    grid = slots(sched(), 6)
    now = grid[3] + dt.timedelta(days=1)  # machine off since just after slot 1
    releases = plan(parts(5), {1: sent(grid[0])}, sched(), now)
    assert [p.number for p in overdue(releases)] == [2]
    assert [p.release for p in releases[2:]] == [grid[5], grid[5] + WEEK, grid[5] + 2 * WEEK]
    # sending part 2 now keeps the rest where the calendar said
    after = plan(parts(5), {1: sent(grid[0]), 2: sent(now)}, sched(), now + dt.timedelta(1 / 24))
    assert [p.release for p in after] == [p.release for p in releases]
    assert due(after) is None


def test_missed_backlog_with_catch_up_all_sends_everything_overdue_in_order() -> None:
    grid = slots(sched(), 6)
    now = grid[3] + dt.timedelta(days=1)
    releases = plan(parts(5), {1: sent(grid[0])}, sched(catch_up="all"), now)
    assert [p.number for p in overdue(releases)] == [2, 3, 4]
    assert releases[4].release == grid[4]


def test_nothing_is_planned_closer_than_a_cadence_after_a_send_by_hand() -> None:
    grid = slots(sched(), 4)
    by_hand = grid[0] + dt.timedelta(days=3)  # part 2 sent by hand on Friday
    releases = plan(parts(3), {1: sent(grid[0]), 2: sent(by_hand)}, sched(), by_hand)
    assert releases[2].release == grid[2]
    assert releases[2].release - by_hand >= WEEK - ON_TIME_GRACE


def test_a_pinned_release_wins_and_the_next_follows_it() -> None:
    pinned = inst(2, release=dt.datetime(2026, 3, 12, 18, 0))
    releases = plan([inst(1), pinned, inst(3)], {}, sched(), dt.datetime(2026, 3, 1, tzinfo=UTC))
    assert releases[1].pinned and releases[1].release == dt.datetime(2026, 3, 12, 18, tzinfo=LONDON)
    assert releases[2].release == dt.datetime(2026, 3, 24, 9, tzinfo=LONDON)


def test_an_aware_pin_is_shown_in_the_series_zone() -> None:
    pin = dt.datetime(2026, 3, 12, 18, 0, tzinfo=NEW_YORK)
    releases = plan([inst(1, release=pin)], {}, sched(), dt.datetime(2026, 3, 1, tzinfo=UTC))
    assert releases[0].release.tzinfo == LONDON and releases[0].release == pin


def test_a_past_pin_waits_for_an_unsent_predecessor() -> None:
    grid = slots(sched(), 3)
    early = inst(3, release=dt.datetime(2026, 3, 9, 9, 0))
    now = grid[1] + dt.timedelta(days=2)
    releases = plan([inst(1), inst(2), early], {1: sent(grid[0])}, sched(), now)
    assert [p.status for p in releases] == ["sent", "due", "waiting"]
    assert [p.number for p in overdue(releases)] == [2]
    assert any("part 3 is pinned" in w for w in warnings(releases, now))


def test_an_interrupted_send_is_resumed_first_and_holds_back_the_next() -> None:
    grid = slots(sched(), 4)
    now = grid[1] + dt.timedelta(days=9)
    releases = plan(parts(3), {1: sent(grid[0]), 2: Rec(grid[1])}, sched(), now)
    assert releases[1].status is ReleaseStatus.SENDING
    assert due(releases) == releases[1]
    assert releases[2].release == first_slot_from(sched(), now + WEEK - ON_TIME_GRACE)


def test_a_send_resumed_days_later_counts_from_when_it_finished() -> None:
    grid = slots(sched(), 6)
    finished = grid[1] + dt.timedelta(days=10)
    records = {1: sent(grid[0]), 2: Rec(grid[1], finished)}
    releases = plan(parts(3), records, sched(), finished)
    assert releases[2].release == grid[4]


def test_naive_ledger_times_are_utc() -> None:
    grid = slots(sched(), 2)
    naive = grid[0].astimezone(UTC).replace(tzinfo=None)
    releases = plan(parts(2), {1: Rec(naive, naive)}, sched(), grid[0])
    assert releases[0].sent_at == grid[0] and releases[1].release == grid[1]


# -- warnings ----------------------------------------------------------------------------
def test_warnings_for_drafts_near_or_past_their_slot() -> None:
    grid = slots(sched(), 4)
    now = grid[1] - dt.timedelta(hours=20)
    items = [inst(1), inst(2, ready=False), inst(3, ready=False)]
    found = warnings(plan(items, {}, sched(), now - WEEK), now)
    assert found == [
        "part 2 is still a draft and goes out in 20 hours "
        "(Tue 2026-03-10 09:00 GMT): set status: ready in its front matter"
    ]
    later = warnings(plan(items, {1: sent(grid[0])}, sched(), grid[1]), grid[1] + WEEK)
    assert any("part 2 is still a draft and was due 7 days ago" in w for w in later)


def test_warnings_for_missing_numbers_and_out_of_order_sends() -> None:
    grid = slots(sched(), 6)
    items = [inst(1), inst(2), inst(3), inst(6)]
    found = warnings(plan(items, {1: sent(grid[0]), 3: sent(grid[1])}, sched(), grid[1]), grid[1])
    assert "no parts 4–5: the series jumps from part 3 to part 6" in found
    assert "part 3 went out but part 2 has not: part 2 will be sent next" in found


# -- relative and parse_when -------------------------------------------------------------
NOW = dt.datetime(2026, 3, 3, 9, 0, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(seconds=30), "now"),
        (dt.timedelta(seconds=-59), "now"),
        (dt.timedelta(minutes=1), "in 1 minute"),
        (dt.timedelta(minutes=45), "in 45 minutes"),
        (dt.timedelta(hours=5), "in 5 hours"),
        (dt.timedelta(hours=-1), "1 hour ago"),
        (dt.timedelta(days=3), "in 3 days"),
        (dt.timedelta(days=2, hours=20), "in 3 days"),
        (dt.timedelta(days=-2), "2 days ago"),
        (dt.timedelta(days=1, hours=1), "in 25 hours"),
    ],
)
def test_relative(delta: dt.timedelta, text: str) -> None:
    assert relative(NOW + delta, NOW) == text


def test_format_local() -> None:
    assert format_local(dt.datetime(2026, 3, 31, 9, tzinfo=LONDON)) == "Tue 2026-03-31 09:00 BST"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 09:00", dt.datetime(2026, 12, 1, 9, tzinfo=LONDON)),
        ("2026-12-01T09:00:30", dt.datetime(2026, 12, 1, 9, 0, 30, tzinfo=LONDON)),
        ("2026-12-01T09:00+01:00", dt.datetime(2026, 12, 1, 8, tzinfo=UTC)),
        ("2026-12-01T09:00Z", dt.datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("  2026-07-01 09:00 ", dt.datetime(2026, 7, 1, 8, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: dt.datetime) -> None:
    parsed = parse_when(text, "Europe/London", NOW)
    assert parsed == expected and parsed.tzinfo is not None


def test_parse_when_in_a_dst_gap_moves_forward() -> None:
    parsed = parse_when("2026-03-29 01:30", "Europe/London", NOW)
    assert parsed.strftime("%H:%M %Z") == "02:30 BST"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tomorrow", "not a date and time"),
        ("2026-12-01", "not a date and time"),
        ("2026-13-01 09:00", "not a date and time"),
        ("", "not a date and time"),
        ("2026-12-01 25:00", "not a date and time"),
        ("2026-03-01 09:00", "in the past"),
    ],
)
def test_parse_when_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_when(text, "Europe/London", NOW)


# -- properties --------------------------------------------------------------------------
ZONES = (
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
    "America/St_Johns",
    "Pacific/Chatham",
)
firsts = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31))


@settings(max_examples=200, deadline=None)
@given(
    first=firsts,
    tz=st.sampled_from(ZONES),
    every=st.integers(1, 4),
    skip_weeks=st.sets(st.integers(0, 40), max_size=6),
)
def test_slots_keep_wall_clock_cadence_and_skips(
    first: dt.datetime, tz: str, every: int, skip_weeks: set[int]
) -> None:
    cadence = dt.timedelta(weeks=every)
    skip = tuple((first + k * cadence).date() for k in skip_weeks)
    grid = slots(sched(first, tz, every_weeks=every, skip=skip), 30)
    for when in grid:
        assert when.date() not in skip
        k, rest = divmod(when.replace(tzinfo=None) - first, cadence)
        wall = first + k * cadence
        if localize(wall, ZoneInfo(tz)).replace(tzinfo=None) == wall:
            assert rest == dt.timedelta(0)  # exactly on the wall-clock grid
        else:
            assert dt.timedelta(0) < rest <= dt.timedelta(hours=1)  # pushed past a gap
    assert grid == sorted(grid) and len(set(grid)) == len(grid)


@settings(max_examples=150, deadline=None)
@given(
    tz=st.sampled_from(ZONES),
    every=st.integers(1, 3),
    delays=st.lists(st.integers(0, 12 * 24 * 60), min_size=1, max_size=8),
)
def test_planned_releases_respect_the_cadence_after_each_send(
    tz: str, every: int, delays: list[int]
) -> None:
    s = sched(TUESDAY, tz, every_weeks=every)
    cadence = dt.timedelta(weeks=every)
    items = parts(len(delays) + 1)
    records: dict[int, Rec] = {}
    for number, minutes in enumerate(delays, start=1):
        release = plan(items, records, s, dt.datetime(2000, 1, 1, tzinfo=UTC))[number - 1].release
        records[number] = sent(release + dt.timedelta(minutes=minutes))
    releases = plan(items, records, s, dt.datetime(2000, 1, 1, tzinfo=UTC))
    grid = set(itertools.islice(slot_times(s), 200))
    for prev, cur in itertools.pairwise(releases):
        assert cur.release in grid
        assert prev.sent_at is not None
        local = prev.sent_at.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        earliest = localize(local + cadence - ON_TIME_GRACE, ZoneInfo(tz))  # wall-clock
        assert cur.release >= earliest
        assert max(s for s in grid if s < cur.release) < earliest  # the first such
    if all(dt.timedelta(minutes=m) <= ON_TIME_GRACE for m in delays):
        assert [p.release for p in releases] == slots(s, len(items))


@settings(max_examples=150, deadline=None)
@given(on_time=st.integers(0, 5), days_off=st.integers(0, 60), count=st.integers(1, 10))
def test_a_backlog_never_makes_more_than_one_due(on_time: int, days_off: int, count: int) -> None:
    grid = slots(sched(), count + 20)
    records = {n: sent(grid[n - 1]) for n in range(1, min(on_time, count) + 1)}
    now = grid[0] + dt.timedelta(days=days_off, hours=3)
    releases = plan(parts(count), records, sched(), now)
    assert len(overdue(releases)) <= 1
    assert all(p.release > now for p in releases if p.status is ReleaseStatus.UPCOMING)
    everything = plan(parts(count), records, sched(catch_up="all"), now)
    assert [p.release for p in everything] == grid[:count]


@given(
    when=st.datetimes(
        min_value=dt.datetime(2026, 3, 4),
        max_value=dt.datetime(2040, 1, 1),
        timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]),
        allow_imaginary=False,
    )
)
def test_parse_when_round_trips_iso_with_offset(when: dt.datetime) -> None:
    parsed = parse_when(when.isoformat(), "Europe/London", NOW)
    # compare in UTC: PEP 495 makes a time in a repeated hour unequal to any other zone's
    assert parsed.astimezone(UTC) == when.astimezone(UTC)


@given(text=st.text(max_size=30))
def test_parse_when_never_raises_anything_but_input_error(text: str) -> None:
    with contextlib.suppress(InputError):
        parse_when(text, "Europe/London", NOW)


def test_the_grid_ends_with_the_year_8999_whatever_the_settings() -> None:
    # Built directly (the config refuses these): the grid stops instead of overflowing.
    far = ScheduleSettings(first_release=dt.datetime(8990, 1, 1, 9), every_weeks=420000)
    assert list(slot_times(far)) == [dt.datetime(8990, 1, 1, 9, tzinfo=dt.UTC)]
    weekly = ScheduleSettings(first_release=dt.datetime(8999, 12, 20, 9))
    assert [s.day for s in slot_times(weekly)] == [20, 27]
