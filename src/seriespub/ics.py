"""The release calendar as an iCalendar file, so the author sees it in a calendar app.

One VEVENT per instalment: UID `part-N@<series-slug>.seriespub` (stable, so re-importing
updates events instead of duplicating them), DTSTART with TZID plus the VTIMEZONE it needs,
a 30-minute duration, SUMMARY "Part N: Title". A sent instalment is placed when it went out.
A time in the hour that happens twice when the clocks go back is written in UTC instead: a
TZID time names the first of the two (RFC 5545 3.3.5), so it reads back as the same instant.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from seriespub.schedule import PlannedRelease, ReleaseStatus, zone

DURATION = dt.timedelta(minutes=30)
PRODID = "-//seriespub//release calendar//EN"


def slug(title: str) -> str:
    """'My Series!' → 'my-series'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "series"


def event_uid(number: int, series_title: str) -> str:
    """The stable UID of instalment `number`."""
    return f"part-{number}@{slug(series_title)}.seriespub"


def export_ics(
    releases: Sequence[PlannedRelease], series_title: str, tz: str, now: dt.datetime
) -> bytes:
    """The calendar as bytes; `now` becomes every event's DTSTAMP."""
    tzinfo = zone(tz)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", series_title)
    cal.add("x-wr-timezone", tz)
    for release in releases:
        cal.add_component(_event(release, series_title, tzinfo, now))
    starts = [(r.sent_at or r.release).date() for r in releases] or [now.date()]
    # The VTIMEZONE only needs the years the releases span (icalendar's default is 1970-2038).
    cal.add_missing_timezones(
        first_date=dt.date(min(starts).year, 1, 1), last_date=dt.date(max(starts).year + 2, 1, 1)
    )
    return bytes(cal.to_ical())


def _event(release: PlannedRelease, series_title: str, tzinfo: ZoneInfo, now: dt.datetime) -> Event:
    event = Event()
    event.add("uid", event_uid(release.number, series_title))
    event.add("dtstamp", now.astimezone(dt.UTC))
    event.add("dtstart", _start((release.sent_at or release.release).astimezone(tzinfo)))
    event.add("duration", DURATION)
    event.add("summary", f"Part {release.number}: {release.title}")
    event.add("description", _description(release, series_title))
    event.add("transp", "TRANSPARENT")  # a release does not make the author busy
    return event


def _start(local: dt.datetime) -> dt.datetime:
    """`local`, or the same instant in UTC when its wall-clock time is the second of two."""
    first = local.replace(fold=0)
    if local.fold == 1 and first.utcoffset() != local.utcoffset():
        return local.astimezone(dt.UTC)
    return local


def _description(release: PlannedRelease, series_title: str) -> str:
    state = {ReleaseStatus.SENT: "sent", ReleaseStatus.SENDING: "being sent"}.get(
        release.status, "scheduled" if release.ready else "scheduled, still a draft"
    )
    return f"{series_title}, part {release.number} ({state})"
