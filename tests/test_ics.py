"""The calendar export, read back with icalendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Calendar

from seriespub.ics import event_uid, export_ics
from seriespub.schedule import PlannedRelease, ReleaseStatus

LONDON = ZoneInfo("Europe/London")
NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)
SENT_AT = dt.datetime(2026, 3, 17, 9, 2, tzinfo=dt.UTC)


def releases() -> list[PlannedRelease]:
    return [
        PlannedRelease(
            1,
            "The Beginning",
            dt.datetime(2026, 3, 17, 9, tzinfo=LONDON),
            ReleaseStatus.SENT,
            sent_at=SENT_AT,
            finished_at=SENT_AT,
        ),
        PlannedRelease(
            2, "Spring, Forward", dt.datetime(2026, 3, 24, 9, tzinfo=LONDON), ReleaseStatus.UPCOMING
        ),
        PlannedRelease(
            3,
            "After the change",
            dt.datetime(2026, 3, 31, 9, tzinfo=LONDON),
            ReleaseStatus.UPCOMING,
            pinned=True,
            ready=False,
        ),
    ]


def parsed() -> Calendar:
    return Calendar.from_ical(export_ics(releases(), "My Series: Vol. 1", "Europe/London", NOW))


def test_one_event_per_release_with_stable_uid_and_summary() -> None:
    events = parsed().walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [
        "part-1@my-series-vol-1.seriespub",
        "part-2@my-series-vol-1.seriespub",
        "part-3@my-series-vol-1.seriespub",
    ]
    assert [str(e["SUMMARY"]) for e in events] == [
        "Part 1: The Beginning",
        "Part 2: Spring, Forward",
        "Part 3: After the change",
    ]
    assert event_uid(2, "My Series: Vol. 1") == str(events[1]["UID"])


def test_times_carry_the_series_zone_across_dst() -> None:
    events = parsed().walk("VEVENT")
    starts = [e.decoded("DTSTART") for e in events]
    assert [e["DTSTART"].params["TZID"] for e in events] == ["Europe/London"] * 3
    assert [s.strftime("%Y-%m-%d %H:%M") for s in starts] == [
        "2026-03-17 09:02",
        "2026-03-24 09:00",
        "2026-03-31 09:00",
    ]  # sent: when it went
    assert starts[2].astimezone(dt.UTC).hour == 8  # 09:00 BST
    assert all(e.decoded("DURATION") == dt.timedelta(minutes=30) for e in events)
    assert all(e.decoded("DTSTAMP") == NOW for e in events)


def test_the_calendar_ships_its_vtimezone() -> None:
    cal = parsed()
    zones = cal.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Europe/London"]
    assert str(cal["X-WR-CALNAME"]) == "My Series: Vol. 1"


def test_output_is_stable_for_the_same_input() -> None:
    one = export_ics(releases(), "S", "Europe/London", NOW)
    assert one == export_ics(releases(), "S", "Europe/London", NOW)
    assert one.startswith(b"BEGIN:VCALENDAR\r\n")


def test_an_empty_plan_is_a_valid_calendar() -> None:
    cal = Calendar.from_ical(export_ics([], "S", "UTC", NOW))
    assert cal.walk("VEVENT") == []


def test_a_time_in_the_repeated_hour_reads_back_as_the_same_instant() -> None:
    """01:30 happens twice when the clocks go back: a TZID time means the first, so a part
    sent (or pinned) in the second must not move an hour earlier in the author's calendar."""
    first = dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)  # 01:30 BST
    second = dt.datetime(2027, 10, 31, 1, 30, tzinfo=dt.UTC)  # 01:30 GMT
    plan = [
        PlannedRelease(1, "First", first.astimezone(LONDON), ReleaseStatus.UPCOMING),
        PlannedRelease(
            2,
            "Second",
            second.astimezone(LONDON),
            ReleaseStatus.SENT,
            sent_at=second,
            finished_at=second,
        ),
        PlannedRelease(3, "Pinned", second.astimezone(LONDON), ReleaseStatus.UPCOMING, True),
    ]
    cal = Calendar.from_ical(export_ics(plan, "Series", "Europe/London", NOW))
    starts = [e.decoded("dtstart").astimezone(dt.UTC) for e in cal.walk("VEVENT")]
    assert starts == [first, second, second]
