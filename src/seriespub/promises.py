"""What the next sends do, as `status`, `subscribers list --next` and `schedule --reader`
promise it: what `send due` sends now (`due_now`: a part whose slot passed) and what the
next slot brings (`upcoming`), planned from the list, the drafts, the calendar and the ledger
as `seriespub.tracking` plans a send.

Read-only. One streamed pass over the list plans both what is due now and the next slot
(`_one_pass`), part 1's own round included (everyone is on the front for it, so the pass
reads the list by part 1's release, as the next slot's plan does); two passes, one after
the other, only when the plans would read a reader differently (`_read_by`). A front
draft the next send takes up holds the whole round (`draft_ahead`), as the send refuses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seriespub import schedule
from seriespub.drafts import DraftSet
from seriespub.errors import SeriespubError
from seriespub.lateparts import LateParts
from seriespub.scheduling import releases_by_number
from seriespub.tracking import (
    ON_THE_FRONT,
    DueNow,
    Inputs,
    ListChanged,
    ListedReaders,
    as_of,
    as_sent,
    front_next,
    inputs,
    kept_changing,
    mode,
    next_slot,
    slot_inputs,
    slot_plan,
)
from seriespub.tracks import CURRENT, Reader, SlotPlan, SlotPlanner, plan_slot

if TYPE_CHECKING:
    from seriespub.ops.session import Session
    from seriespub.schedule import PlannedRelease


@dataclass(frozen=True)
class _DueRound:
    """What `send due` would send now, before the list is read: its new part (None: only
    late joiners' parts), the inputs of its plan and, with catch_up = "all", the parts it
    sends the front after `new`."""

    new: int | None
    given: Inputs
    also: tuple[int, ...]

    @property
    def front_parts(self) -> tuple[int, ...]:
        return ((self.new,) if self.new is not None else ()) + self.also


def _due_round(
    session: Session, drafts: DraftSet, planned: Mapping[int, PlannedRelease]
) -> _DueRound | None:
    """The round `due_now` plans, or None when it sends nothing whoever the readers are."""
    if not planned:
        return None
    due = schedule.due([planned[n] for n in sorted(planned)])
    if due is not None and not due.ready:
        return None  # `send due` refuses a draft: nothing goes out until it is ready
    new = due.number if due is not None else None
    if new is None and mode(session) == CURRENT:
        return None  # nobody is a late joiner: nothing due but a new part
    given = inputs(session, drafts, new)
    if given.slot is None and new is None:
        return None  # before the first slot
    return _DueRound(new, given, _caught_up(session, drafts, planned, new, session.now))


def due_now(
    session: Session,
    drafts: DraftSet,
    planned: Mapping[int, PlannedRelease],
    only: Reader | None = None,
) -> DueNow | None:
    """What `send due` would send now (`ops.send.due`): the due part, if ready, with every
    reader whose turn it is in the current slot; without a due part, the late joiners'
    (late_joiners = "from_start"). None when it sends nothing, or without a calendar
    (`planned` empty: the next send is a `send next`, planned at the current slot).
    `only` (`one_reader`): what it sends that one reader, without reading the list."""
    round_ = _due_round(session, drafts, planned)
    if round_ is None:
        return None
    if only is None:
        plan, _ = slot_plan(session, drafts, round_.new)
    else:
        given = round_.given
        plan = plan_slot(
            [only],
            released=given.released,
            new=round_.new,
            slot=given.slot,
            part_one=given.part_one,
            mode=mode(session),
            held=given.held,
            fresh=given.fresh,
        )
    found = DueNow(plan, session.now, round_.also)
    return found if found.counts() else None


def front_due(
    session: Session, drafts: DraftSet, planned: Mapping[int, PlannedRelease]
) -> tuple[int, ...]:
    """The parts the front gets from the next `send due` now (`DueNow.front_parts`),
    without planning anyone's: the due part when it is ready, and with catch_up = "all"
    the ready ones after it that are due by now."""
    due = schedule.due([planned[n] for n in sorted(planned)]) if planned else None
    if due is None or not due.ready:
        return ()
    return (due.number, *_caught_up(session, drafts, planned, due.number, session.now))


@dataclass(frozen=True)
class Upcoming:
    """What the next calendar slot brings (`plan`, at `inputs.slot`), and the front's next
    part: in that plan when the calendar releases it by then, else at `front_at`; and what
    `send due` sends before then (`due`: a part whose slot has passed)."""

    plan: SlotPlan
    inputs: Inputs
    front_part: int | None  # the part the front gets next (None: none ready)
    front_at: dt.datetime | None  # its release, when later than the next slot
    # With catch_up = "all", the parts after `front_part` the same slot sends the front.
    also: tuple[int, ...] = ()
    due: DueNow | None = None
    # The draft the next send waits for: planned as `front_part`, it goes out (and the
    # late joiners' parts with it) once it is ready.
    waits_for: int | None = None


@dataclass(frozen=True)
class _NextSlot:
    """The next slot's plan before the list is read, given the parts the front gets before
    then (`sent`: what is due now): the front's part, and what it is planned from."""

    front_part: int | None
    front_at: dt.datetime | None
    also: tuple[int, ...]
    waits_for: int | None
    given: Inputs
    at: dt.datetime | None  # the slot readers' turns are taken at

    @property
    def new(self) -> int | None:
        """The plan's new part: none when the front's comes later than the slot."""
        return None if self.front_at else self.front_part


def _next_slot(
    session: Session,
    drafts: DraftSet,
    planned: Mapping[int, PlannedRelease] | None,
    slot: dt.datetime | None,
    sent: tuple[int, ...],
) -> _NextSlot:
    new = front_next(drafts, session, sent)
    waits = None if new is not None else draft_ahead(session, drafts, sent, slot, planned)
    new = new if waits is None else waits
    later: dt.datetime | None = None
    if new is not None and slot is not None and planned is not None:
        release = planned[new].release if new in planned else None
        if release is not None and release > slot:
            later = release
    given, at = slot_inputs(session, drafts, None if later else new, upcoming=True, sent=sent)
    also = () if later or planned is None else _caught_up(session, drafts, planned, new, slot)
    return _NextSlot(new, later, also, waits, given, at)


def upcoming(
    session: Session, drafts: DraftSet, planned: Mapping[int, PlannedRelease] | None = None
) -> Upcoming:
    """Who gets which part at the next slot (`slot_plan(upcoming=True)`), as `send due` will
    send it: after a part went out late the next ones move to later slots (`schedule`), so
    the front's next part is planned for the next slot only when the calendar releases it
    by then; that slot may bring only late joiners' parts, or nothing. What is due now
    (`due_now`) goes first, and the next slot is planned as if it had gone out.
    `planned`: the calendar (`releases_by_number`) when the caller has it already.
    One pass over the list, for what is due now and the next slot alike (`_with_due`)."""
    slot = next_slot(session)
    if slot is not None and planned is None:
        planned = releases_by_number(session.series, drafts, session.ledger, session.now)
    due = _due_round(session, drafts, planned) if planned else None
    idle = _next_slot(session, drafts, planned, slot, ())
    if due is None:
        plan, given = slot_plan(session, drafts, idle.new, upcoming=True)
        return Upcoming(
            plan, given, idle.front_part, idle.front_at, idle.also, None, idle.waits_for
        )
    busy = _next_slot(session, drafts, planned, slot, due.front_parts)
    now, plan = _with_due(session, drafts, due, idle, busy)
    chosen = busy if now is not None else idle
    return Upcoming(
        plan, chosen.given, chosen.front_part, chosen.front_at, chosen.also, now, chosen.waits_for
    )


def _with_due(
    session: Session, drafts: DraftSet, due: _DueRound, idle: _NextSlot, busy: _NextSlot
) -> tuple[DueNow | None, SlotPlan]:
    """What is due now (None: nothing), and the next slot's plan: `busy`'s, as if it had
    gone out, else `idle`'s. One pass feeds them all (`_one_pass`) when their readers can
    be read alike (`_read_by`); else two, one after the other."""
    alike, part_one = _read_by(due.given, idle.given, busy.given)
    if alike:
        for _ in range(3):
            try:
                now, later = _one_pass(session, due, idle, busy, part_one)
            except ListChanged:
                continue  # rewritten mid-plan: plan again from the new file
            except SeriespubError:  # an unreadable list: nobody (check and send say why)
                now = _planner(session, due.new, due.given, due.given.slot)
                later = _planner(session, idle.new, idle.given, idle.at)
            found = DueNow(now.plan(), session.now, due.also)
            return (found if found.counts() else None), later.plan()
        raise kept_changing()
    plan, _ = slot_plan(session, drafts, due.new)
    found = DueNow(plan, session.now, due.also)
    if found.counts():
        return found, slot_plan(session, drafts, busy.new, upcoming=True, after=found)[0]
    return None, slot_plan(session, drafts, idle.new, upcoming=True)[0]


def _planner(
    session: Session, new: int | None, given: Inputs, at: dt.datetime | None
) -> SlotPlanner:
    return SlotPlanner(
        released=given.released,
        new=new,
        slot=at,
        part_one=given.part_one,
        mode=mode(session),
        held=given.held,
        late=LateParts(),
        fresh=given.fresh,
    )


def _read_by(*plans: Inputs) -> tuple[bool, dt.datetime | None]:
    """Whether one pass over the list can feed every plan of `plans`, and the part 1
    release it reads the list by (`ListedReaders`' front and late joiners by date).

    Each plan asks a reader for their date and their ledger, and a plan whose part 1 is
    not out (`part_one` None: everyone is its front) asks only whether they have its new
    part: a late joiner by date is read with the ledger's record of every part (`has`, the
    settled ones), a front reader with the new part's settled status, which say the same.
    So plans with one part 1 release, or none, read alike, given one latest part (a reader
    behind it is a returned one: `fell_behind`); with none, a plan without a release could
    take a late joiner for a returned reader of the front (two passes then)."""
    latest = {p.latest for p in plans}
    dates = {p.part_one for p in plans}
    dated = dates - {None}
    if len(latest) > 1 or len(dated) > 1 or (None in dates and dated and latest != {None}):
        return False, None
    return True, next(iter(dated), None)


def _one_pass(
    session: Session,
    due: _DueRound,
    idle: _NextSlot,
    busy: _NextSlot,
    part_one: dt.datetime | None,
) -> tuple[SlotPlanner, SlotPlanner]:
    """One pass over the list, read by `part_one` (`_read_by`), into the plan due now and
    the next slot's that holds after it: `busy`'s (each reader as `once_sent` leaves them,
    from their own part in the round due now) once that round sends anyone anything
    (`DueNow.counts` is not empty), else `idle`'s (nothing goes out before the next slot).
    Till the first reader the round sends a part, `idle` is planned alongside."""
    given, how = due.given, mode(session)
    now = _planner(session, due.new, given, given.slot)
    later_idle = _planner(session, idle.new, idle.given, idle.at)
    later_busy = _planner(session, busy.new, busy.given, busy.at)
    sent, idle_too = frozenset(due.front_parts), True
    listed = ListedReaders(
        session,
        due.new,
        part_one,
        now.late,
        given.latest,
        (idle.new, busy.new),
        slot=given.slot,
    )
    for reader, settled in listed.pairs():
        front, part = now.add(as_of(reader, settled, due.new))
        if idle_too:
            later_idle.add(as_of(reader, settled, idle.new))
            # `DueNow.counts` is not empty from here on: `idle` cannot hold.
            idle_too = part is None and not (front and due.also)
        mine = as_of(reader, settled, busy.new)
        later_busy.add(
            as_sent(
                mine, ON_THE_FRONT if front else part, sent, session.now, busy.given.part_one, how
            )
        )
    return now, later_idle if idle_too else later_busy


def draft_ahead(
    session: Session,
    drafts: DraftSet,
    front_now: Iterable[int],
    slot: dt.datetime | None,
    planned: Mapping[int, PlannedRelease] | None,
) -> int | None:
    """The front's next part after `front_now` (what it gets due now) when it is still a
    draft and the next send takes it up (no calendar: `send next`; else its release is by
    `slot`): the send refuses the whole round (`publishing.ensure_ready`), late joiners'
    parts too, until it is ready."""
    records = session.ledger.instalment_records()
    skipped = frozenset(front_now)
    for i in drafts.instalments:
        record = records.get(i.number)
        if i.number in skipped or (record is not None and record.finished_at is not None):
            continue
        if i.is_ready:
            return None
        if slot is None:
            return i.number
        release = planned.get(i.number) if planned else None
        return i.number if release is not None and release.release <= slot else None
    return None


def _caught_up(
    session: Session,
    drafts: DraftSet,
    planned: Mapping[int, PlannedRelease],
    new: int | None,
    slot: dt.datetime | None,
) -> tuple[int, ...]:
    """With catch_up = "all", the ready parts after `new` whose release is by `slot`:
    `send due` sends each to the front after `new`, in the same slot."""
    if new is None or slot is None or session.series.settings.schedule.catch_up != "all":
        return ()
    out: list[int] = []
    for i in drafts.instalments:
        if i.number <= new:
            continue
        release = planned.get(i.number)
        if not i.is_ready or release is None or release.release > slot:
            break
        out.append(i.number)
    return tuple(out)
