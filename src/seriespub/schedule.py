"""The weekly release calendar. Pure: every function takes `now`; no clock, disk or network.

The grid
    Slot k is `first_release + k * every_weeks` weeks in the wall-clock time of the series'
    zone, so 09:00 stays 09:00 across daylight-saving changes. A wall-clock time that does not
    exist on a slot's date (spring-forward gap) moves forward by the gap (02:30 → 03:30); one
    that happens twice (autumn) is its first occurrence. Slots on a `skip` date are left out.
    The grid ends with the year 8999 (`config.LAST_YEAR`), so that a cadence added to any
    slot still fits in a datetime; a part that would need a later slot is one error naming
    the setting, never an overflow (a pinned release outside 1970..8999 never gets here:
    `drafts.py` refuses it, file:line, where it reads the draft).

Placing instalments (`plan`), in number order
    - A pinned `release:` wins (a naive value is read in the series' zone).
    - catch_up="all": the others take the first slot one cadence after their predecessor's
      *planned* release, so instalment N keeps slot N however late the sends are.
    - catch_up="oldest" (default): the first slot one cadence after the predecessor *went out*
      (`started_at`). A predecessor not (fully) sent yet is expected to go out at the later of
      its release and `now`, since `send due` sends it then; so after a missed backlog only the
      oldest is due and the rest follow in later slots. A send that needed more than
      STALLED_SEND to finish (laptop shut mid-send, resumed days later) counts from
      `finished_at`, so the next instalment does not follow on its heels.
    "One cadence" is wall-clock time, like the grid, with ON_TIME_GRACE of slack: a send that
    starts within 12 h of its slot is on time and the next instalment takes the next slot; a
    later one pushes the rest on by a whole slot. Nothing is *planned* closer than cadence -
    grace to its predecessor; pins and sends by hand are the author's choice.

Public API
    zone(name) -> ZoneInfo                      the series zone, ConfigError if unknown
    localize(naive, tz) -> datetime             wall-clock → aware, gap/fold rules above
    slot_times(settings) -> Iterator[datetime]  the grid (up to the year 8999)
    first_slot_from(settings, earliest)         the first slot at or after `earliest`
    plan(instalments, records, settings, now)   -> list[PlannedRelease], in number order
    due(plan) / overdue(plan) / next_release(plan)
    warnings(plan, now) -> list[str]            drafts close to (or past) their slot, gaps, pins
    skip_warnings(settings, now) -> list[str]   coming `skip` dates no release falls on
    relative(when, now) / format_local(when)    "in 3 days" / "Tue 2026-03-10 09:00 GMT"
    parse_when(text, tz, now) -> datetime       `--at "2026-12-01 09:00"`, InputError if bad
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from seriespub.config import LAST_YEAR, YEARS, ScheduleSettings, in_calendar_years
from seriespub.errors import ConfigError, InputError
from seriespub.models import Instalment

ON_TIME_GRACE = dt.timedelta(hours=12)
STALLED_SEND = dt.timedelta(days=1)
DRAFT_WARNING = dt.timedelta(hours=48)
CALENDAR_END = dt.datetime(LAST_YEAR + 1, 1, 1)  # wall-clock: the grid has no slot from here


class ReleaseStatus(enum.StrEnum):
    SENT = "sent"  # started and finished
    SENDING = "sending"  # started, not finished: running now, or interrupted (resume it)
    DUE = "due"  # its release has passed: `send due` sends it now
    WAITING = "waiting"  # its (pinned) release has passed, but an earlier one goes first
    UPCOMING = "upcoming"  # release still ahead
    # Handed to the provider to go out at a time still ahead (`send next --at`), nobody has it
    # yet: `schedule` shows it so (`ops.calendar`); the plan itself counts it as sent.
    HELD = "held"


class SendRecord(Protocol):
    """What the ledger knows of one instalment (`ledger.InstalmentRecord` fits)."""

    @property
    def started_at(self) -> dt.datetime | None: ...

    @property
    def finished_at(self) -> dt.datetime | None: ...


@dataclass(frozen=True)
class PlannedRelease:
    number: int
    title: str
    release: dt.datetime  # aware, in the series' zone
    status: ReleaseStatus
    pinned: bool = False
    ready: bool = True
    sent_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def unsent(self) -> bool:
        return self.sent_at is None

    @property
    def shown(self) -> dt.datetime:
        """When it went out (in the series' zone), else its release: what people are shown,
        as `status` does; a calendar changed after a send moves only its slot."""
        if self.sent_at is None:
            return self.release
        return self.sent_at.astimezone(self.release.tzinfo)


# -- the grid ----------------------------------------------------------------------------
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a ConfigError naming the setting."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"'schedule.timezone': unknown time zone {name!r}",
            hint="use an IANA name such as Europe/London",
        ) from None


def localize(when: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Aware `when` in `tz`; naive values are wall-clock (gap → forward, fold → first)."""
    if when.tzinfo is not None:
        return when.astimezone(tz)
    # fold=0 in a gap uses the offset from before the change; the round trip through UTC
    # turns 02:30 (nonexistent) into 03:30 and leaves every other time as it is.
    return when.replace(tzinfo=tz, fold=0).astimezone(dt.UTC).astimezone(tz)


def slot_times(settings: ScheduleSettings) -> Iterator[dt.datetime]:
    """The release grid: first_release every `every_weeks` weeks, minus skip dates."""
    return _slots_from(settings, 0)


def first_slot_from(settings: ScheduleSettings, earliest: dt.datetime) -> dt.datetime:
    """The first slot at or after the aware datetime `earliest`; ConfigError past the grid."""
    slot = _first_slot(settings, earliest)
    if slot is None:
        raise _calendar_ended(f"no slot after {format_local(earliest)}")
    return slot


def _first_slot(settings: ScheduleSettings, earliest: dt.datetime | None) -> dt.datetime | None:
    """The first slot at or after `earliest` (None: the first of all); None past the grid."""
    if earliest is None:
        return next(slot_times(settings), None)
    tz, earliest = zone(settings.timezone), earliest.astimezone(dt.UTC)
    local = earliest.astimezone(tz).replace(tzinfo=None)
    start = max(0, (local - _first_local(settings, tz)) // _cadence(settings) - 1)
    return next((s for s in _slots_from(settings, start) if s >= earliest), None)


def _slots_from(settings: ScheduleSettings, start: int) -> Iterator[dt.datetime]:
    tz = zone(settings.timezone)
    first, cadence, skip = _first_local(settings, tz), _cadence(settings), set(settings.skip)
    for k in itertools.count(start):
        if k * cadence >= CALENDAR_END - first:  # compared, not added: it may not fit
            return
        when = localize(first + k * cadence, tz)
        if when.date() not in skip:
            yield when


def _calendar_ended(what: str) -> ConfigError:
    return ConfigError(
        f"the release calendar ends with the year {LAST_YEAR}: {what}",
        hint="lower 'schedule.every_weeks', or set an earlier 'schedule.first_release'",
    )


def _first_local(settings: ScheduleSettings, tz: ZoneInfo) -> dt.datetime:
    first = settings.first_release
    if first is None:
        raise ConfigError(
            "no release calendar: 'schedule.first_release' is not set",
            hint="add [schedule] first_release = 2026-01-06T09:00:00 to seriespub.toml",
        )
    return first.astimezone(tz).replace(tzinfo=None) if first.tzinfo else first


def _cadence(settings: ScheduleSettings) -> dt.timedelta:
    return dt.timedelta(weeks=settings.every_weeks)


# -- placing instalments -----------------------------------------------------------------
def plan(
    instalments: Sequence[Instalment],
    records: Mapping[int, SendRecord],
    settings: ScheduleSettings,
    now: dt.datetime,
) -> list[PlannedRelease]:
    """Each instalment's release and status at `now` (see the module docstring)."""
    tz, now = zone(settings.timezone), now.astimezone(dt.UTC)
    keep_slots = settings.catch_up == "all"
    out: list[PlannedRelease] = []
    anchor: dt.datetime | None = None  # when the previous one went (or will go) out
    pending = False  # an earlier instalment is not finished
    for inst in sorted(instalments, key=lambda i: i.number):
        record = records.get(inst.number)
        started = _aware(record.started_at) if record else None
        finished = _aware(record.finished_at) if record and started else None
        release = _release(inst, anchor, settings, tz)
        status = _status(release, started, finished, now, pending and not keep_slots)
        out.append(
            PlannedRelease(
                inst.number,
                inst.title,
                release,
                status,
                inst.release is not None,
                inst.is_ready,
                started,
                finished,
            )
        )
        anchor = release if keep_slots else _went_out(release, started, finished, now)
        pending = pending or finished is None
    return out


def _release(
    inst: Instalment, anchor: dt.datetime | None, settings: ScheduleSettings, tz: ZoneInfo
) -> dt.datetime:
    if inst.release is not None:
        return _pinned(inst, tz)
    earliest = None if anchor is None else _later(anchor, _cadence(settings) - ON_TIME_GRACE, tz)
    slot = _first_slot(settings, earliest)
    if slot is None:
        raise _calendar_ended(f"part {inst.number} has no slot")
    return slot


def _pinned(inst: Instalment, tz: ZoneInfo) -> dt.datetime:
    """A draft's own `release:`, in the series' zone (within the calendar's years: drafts.py
    refuses any other where it reads the draft)."""
    assert inst.release is not None
    return localize(inst.release, tz)


def _later(when: dt.datetime, delta: dt.timedelta, tz: ZoneInfo) -> dt.datetime:
    """`when + delta` in the wall-clock time of `tz`, like the grid itself (`when` is in
    the calendar's years and `delta` at most ten years, so this fits in a datetime)."""
    return localize(when.astimezone(tz).replace(tzinfo=None) + delta, tz)


def _went_out(
    release: dt.datetime,
    started: dt.datetime | None,
    finished: dt.datetime | None,
    now: dt.datetime,
) -> dt.datetime:
    if started is None:
        return max(release, now)
    if finished is None:
        return max(started, now)
    return finished if finished - started > STALLED_SEND else started


def _status(
    release: dt.datetime,
    started: dt.datetime | None,
    finished: dt.datetime | None,
    now: dt.datetime,
    behind_earlier: bool,
) -> ReleaseStatus:
    if started is not None:
        return ReleaseStatus.SENT if finished is not None else ReleaseStatus.SENDING
    if release > now:
        return ReleaseStatus.UPCOMING
    return ReleaseStatus.WAITING if behind_earlier else ReleaseStatus.DUE


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    """Ledger times are UTC; a naive one is read as UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=dt.UTC)


# -- what to send ------------------------------------------------------------------------
def overdue(releases: Sequence[PlannedRelease]) -> list[PlannedRelease]:
    """What `send due` should send now, oldest first: interrupted sends, then due ones."""
    return [p for p in releases if p.status in (ReleaseStatus.SENDING, ReleaseStatus.DUE)]


def due(releases: Sequence[PlannedRelease]) -> PlannedRelease | None:
    """The one instalment to send now, or None; catch_up is already in the plan."""
    found = overdue(releases)
    return found[0] if found else None


def next_release(releases: Sequence[PlannedRelease]) -> PlannedRelease | None:
    """The first instalment still waiting for its release."""
    return next((p for p in releases if p.status is ReleaseStatus.UPCOMING), None)


# -- warnings ----------------------------------------------------------------------------
def warnings(releases: Sequence[PlannedRelease], now: dt.datetime) -> list[str]:
    """Drafts within 48 h of (or past) their release, missing numbers, pins out of order."""
    now = now.astimezone(dt.UTC)
    out = _gaps([p.number for p in releases])
    for prev, cur in itertools.pairwise(releases):
        out += _order_problems(prev, cur)
    for p in releases:
        if p.unsent and not p.ready and p.release - now <= DRAFT_WARNING:
            when = "was due" if p.release <= now else "goes out"
            out.append(
                f"part {p.number} is still a draft and {when} "
                f"{relative(p.release, now)} ({format_local(p.release)}): "
                f"set status: ready in its front matter"
            )
    return out


def skip_warnings(settings: ScheduleSettings, now: dt.datetime) -> list[str]:
    """Each `skip` date from today on (in the series' zone) that is not a release day: it
    skips nothing, so the week it was meant to keep free goes out as usual (a weekday
    moved after the skip was written, a date mistyped). Past dates are history."""
    if settings.first_release is None or not settings.skip:
        return []
    tz = zone(settings.timezone)
    first = _first_local(settings, tz).date()
    today = now.astimezone(tz).date()
    days = _cadence(settings).days
    weekday = first.strftime("%A")
    rhythm = (
        f"releases are on {weekday}s"
        if settings.every_weeks == 1
        else f"releases are every {settings.every_weeks} weeks on {weekday}s from "
        f"{first.strftime('%a %Y-%m-%d')}"
    )
    return [
        f"schedule.skip: no release falls on {day.strftime('%a %Y-%m-%d')} ({rhythm}), "
        "so it skips nothing"
        for day in sorted(set(settings.skip))
        if day >= today and (day < first or (day - first).days % days)
    ]


def _gaps(numbers: Sequence[int]) -> list[str]:
    out = []
    for a, b in itertools.pairwise(sorted(numbers)):
        if b - a > 1:
            missing = f"part {a + 1}" if b - a == 2 else f"parts {a + 1}–{b - 1}"
            out.append(f"no {missing}: the series jumps from part {a} to part {b}")
    return out


def _order_problems(prev: PlannedRelease, cur: PlannedRelease) -> list[str]:
    out = []
    if cur.pinned and cur.unsent and cur.release < prev.release:
        out.append(
            f"part {cur.number} is pinned to {format_local(cur.release)}, before part "
            f"{prev.number} ({format_local(prev.release)}): it will go out after it"
        )
    if prev.unsent and not cur.unsent:
        out.append(
            f"part {cur.number} went out but part {prev.number} has not: "
            f"part {prev.number} will be sent next"
        )
    return out


# -- presentation helpers ----------------------------------------------------------------
_UNITS = (("minute", 60, 3570), ("hour", 3600, 36 * 3600), ("day", 86400, math.inf))


def relative(when: dt.datetime, now: dt.datetime) -> str:
    """'in 3 days', 'in 5 hours', '2 days ago', 'now' (within a minute)."""
    seconds = (when.astimezone(dt.UTC) - now.astimezone(dt.UTC)).total_seconds()
    size = abs(seconds)
    if size < 60:
        return "now"
    unit, length = next((u, n) for u, n, limit in _UNITS if size < limit)
    count = math.floor(size / length + 0.5)
    text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def format_local(when: dt.datetime) -> str:
    """'Tue 2026-03-10 09:00 GMT' in the zone `when` carries."""
    return when.strftime("%a %Y-%m-%d %H:%M %Z").rstrip()


_HAS_TIME = re.compile(r"\d[Tt ]\d")


def parse_when(text: str, tz: str, now: dt.datetime) -> dt.datetime:
    """A future time from `--at`: ISO date and time, in `tz` unless it carries an offset."""
    value = text.strip()
    example = "write it like 2026-12-01 09:00 (series time) or 2026-12-01T09:00+01:00"
    if not _HAS_TIME.search(value):
        raise InputError(f"{text!r} is not a date and time: {example}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{text!r} is not a date and time: {example}") from None
    if not in_calendar_years(parsed):  # before converting it: the year 9999 may not convert
        past = parsed.year < now.year
        raise InputError(
            f"{text!r} is {'in the past' if past else 'too far ahead'}: it must be {YEARS}",
            hint=PAST_HINT if past else None,
        )
    when = localize(parsed, zone(tz))
    if when <= now:
        raise InputError(
            f"{text!r} is in the past ({format_local(when)}, {relative(when, now)})",
            hint=PAST_HINT,
        )
    return when


# What a refused `--at` in the past (or a calendar slot gone by) says to type instead.
SEND_NOW = "seriespub send next"
PAST_HINT = f"send it now with: {SEND_NOW}, or give a later time"
