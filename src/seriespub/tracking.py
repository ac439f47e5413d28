"""Per-reader tracks applied to a series, as `scheduling` is the calendar applied: the
readers, the released parts and the slot that `seriespub.tracks` plans from, read from the
list, the drafts, the calendar and the ledger.

Read-only: nothing here writes. A reader's position is the ledger's record of what they
received (`Ledger.received`), never a second record.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seriespub import schedule, subscribers
from seriespub.drafts import DraftSet
from seriespub.errors import SeriespubError
from seriespub.models import DeliveryStatus, Subscriber
from seriespub.scheduling import has_calendar, releases_by_number
from seriespub.tracks import (
    CURRENT,
    FROM_START,
    Reader,
    SlotPlan,
    is_front,
    parse_joined,
    plan_slot,
)

if TYPE_CHECKING:
    from seriespub.ops.session import Session

__all__ = ["FROM_START", "Inputs", "draft_warnings", "inputs", "mode", "readers", "slot_plan"]

SETTLED = {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SCHEDULED}


def mode(session: Session) -> str:
    return session.series.settings.series.late_joiners


@dataclass(frozen=True)
class Inputs:
    """What one slot is planned from."""

    released: list[int]  # sent to the front
    held: frozenset[int]  # of those, drafts again: late joiners wait there
    part_one: dt.datetime | None  # part 1's release (started_at, else its slot)
    slot: dt.datetime | None  # when this slot began (None: no calendar, no send)


def inputs(session: Session, drafts: DraftSet, new: int | None) -> Inputs:
    """The released parts, part 1's release and the current slot, at `session.now`."""
    records = session.ledger.instalment_records()
    ready = {i.number for i in drafts.instalments if i.is_ready}
    on_disk = {i.number for i in drafts.instalments}
    released = sorted(
        n for n, r in records.items() if r.started_at is not None and n in on_disk and n != new
    )
    held = frozenset(n for n in released if n not in ready)
    part_one: dt.datetime | None = None
    first = min((i.number for i in drafts.instalments), default=None)
    if first is not None and first != new:  # part 1's own round: everyone is the front
        record = records.get(first)
        if record is not None and record.started_at is not None:
            part_one = _aware(record.started_at)
        else:
            planned = releases_by_number(session.series, drafts, session.ledger, session.now)
            part_one = planned[first].release if first in planned else None
            if part_one is not None and part_one > session.now:
                part_one = None  # not released yet: everyone is on the front
    return Inputs(released, held, part_one, current_slot(session, new))


def current_slot(session: Session, new: int | None) -> dt.datetime | None:
    """When this slot began: the latest calendar slot at or before now; without a calendar,
    when the front's new part started going out (a resumed `send next` is the same round),
    else now."""
    settings = session.series.settings.schedule
    if has_calendar(session.series):
        latest = None
        for when in schedule.slot_times(settings):
            if when > session.now:
                break
            latest = when
        return latest
    if new is not None:
        record = session.ledger.instalment_records().get(new)
        if record is not None and record.started_at is not None and record.finished_at is None:
            return _aware(record.started_at)
    return session.now


def next_slot(session: Session) -> dt.datetime | None:
    """The first calendar slot after now; None without a calendar (the next `send next`)."""
    if not has_calendar(session.series):
        return None
    return schedule.first_slot_from(
        session.series.settings.schedule, session.now + dt.timedelta(seconds=1)
    )


def front_next(drafts: DraftSet, session: Session) -> int | None:
    """The part the front gets next: the first not started, when it is ready."""
    records = session.ledger.instalment_records()
    for i in drafts.instalments:
        record = records.get(i.number)
        if record is None or record.started_at is None:
            return i.number if i.is_ready else None
    return None


def find(session: Session, address: str) -> Subscriber | None:
    key = address.strip().lower()
    for s in subscribers.iter_subscribers(
        session.series.subscribers_path, subscribers.ProblemTally()
    ):
        if s.key == key:
            return s
    return None


def one_reader(session: Session, subscriber: Subscriber) -> Reader:
    """One reader with everything the ledger holds for them, front or not."""
    tz = schedule.zone(session.series.settings.schedule.timezone)
    reader = Reader(subscriber.key, parse_joined(subscriber.subscribed_at, tz))
    return _with_ledger(reader, session.ledger.received([subscriber.key]), set(), None)


def readers(
    session: Session,
    new: int | None,
    part_one: dt.datetime | None,
    people: Iterable[Subscriber] | None = None,
    *,
    exact: bool = True,
) -> list[Reader]:
    """Every active reader (or `people`) with what the ledger holds for them."""
    tz = schedule.zone(session.series.settings.schedule.timezone)
    listed = (
        people
        if people is not None
        else subscribers.active(session.series.subscribers_path, subscribers.ProblemTally())
    )
    out: list[Reader] = []
    seen: set[str] = set()
    for s in listed:
        if s.key in seen:
            continue
        seen.add(s.key)
        out.append(Reader(s.key, parse_joined(s.subscribed_at, tz)))
    late = [
        r.key for r in out if part_one is not None and r.joined is not None and r.joined >= part_one
    ]
    received = session.ledger.received(late) if late and mode(session) != CURRENT else {}
    # Who on the front already has the new part only matters for the counts; a send with no
    # late joiners skips the lookup (the Sender asks the ledger anyway).
    front_has = _front_has(session, new, [r.key for r in out]) if late or exact else set()
    return [_with_ledger(r, received, front_has, new) for r in out]


def _front_has(session: Session, new: int | None, keys: list[str]) -> set[str]:
    if new is None:
        return set()
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        statuses = session.ledger.statuses(new, keys[start : start + 500])
        found.update(k for k, st in statuses.items() if st in SETTLED)
    return found


def _with_ledger(
    reader: Reader,
    received: dict[str, tuple[frozenset[int], frozenset[int], str]],
    front_has: set[str],
    new: int | None,
) -> Reader:
    if reader.key in received:
        has, open_, last = received[reader.key]
        return Reader(
            reader.key,
            reader.joined,
            has,
            open_,
            _aware(dt.datetime.fromisoformat(last)) if last else None,
        )
    mine = frozenset({new}) if new is not None and reader.key in front_has else frozenset()
    return Reader(reader.key, reader.joined, mine)


def slot_plan(
    session: Session,
    drafts: DraftSet,
    new: int | None,
    people: Iterable[Subscriber] | None = None,
    *,
    upcoming: bool = False,
    exact: bool = True,
) -> tuple[SlotPlan, Inputs]:
    """Who gets which part at the current slot (with `upcoming`, the next one), and what
    it was planned from."""
    given = inputs(session, drafts, new)
    if upcoming:
        given = Inputs(given.released, given.held, given.part_one, next_slot(session))
    try:
        listed = readers(session, new, given.part_one, people, exact=exact)
    except SeriespubError:
        listed = []
    plan = plan_slot(
        listed,
        released=given.released,
        new=new,
        slot=given.slot,
        part_one=given.part_one,
        mode=mode(session),
        held=given.held,
    )
    return plan, given


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=dt.UTC)


def draft_warnings(session: Session) -> list[str]:
    """Late joiners whose next part is still a draft (the planner holds them until it is
    ready): one line per part, for `seriespub check`."""
    if mode(session) == CURRENT:
        return []
    drafts = session.drafts(strict=False)
    records = session.ledger.instalment_records()
    started = sorted(n for n, r in records.items() if r.started_at is not None)
    unready = {i.number for i in drafts.instalments if not i.is_ready}
    upcoming = next((i.number for i in drafts.instalments if i.number not in started), None)
    given = inputs(session, drafts, None)
    waiting: Counter[int] = Counter()
    for reader in readers(session, None, given.part_one, exact=False):
        if is_front(reader, given.part_one):
            continue
        part = next((n for n in started if n not in reader.has), upcoming)
        if part in unready:
            waiting[part] += 1
    return [
        f"part {n} is still a draft and is the next part of {c:,} late joiner(s): "
        f"set status: ready in its front matter"
        for n, c in sorted(waiting.items())
    ]
