"""Per-reader tracks through a series: who gets which part at one release slot. Pure.

A reader's position is what the ledger holds for them (`Reader.has`, `Reader.open`): there
is no second record. Every function takes its inputs, including `now` and the slot; no
clock, disk or network.

Cohorts
    The *front* are readers whose `subscribed_at` is empty, unparseable, or before part 1's
    release (the ledger's `started_at` for part 1, else its calendar slot; no release yet:
    everyone), or who had part 1 in the front's own round (`Reader.with_front`). They get
    the new instalment of the slot, and nothing else: for them nothing changes. Everyone
    else is a *late joiner*. A front reader who *returned* (the ledger shows a part they
    had, but not the latest part the front got: they left and came back) is on a track
    too, from the first part they missed: never a gap; one who got that latest part on
    their track in the current slot stays on it until the next slot (`fell_behind`).

Guarantees of `decide` (late_joiners = "from_start")
    - a late joiner gets at most one part per slot: nothing when the ledger shows any
      delivery of theirs at or after the slot began (`Reader.last >= slot`), except
      that a part left open for them (pending, deferred, unknown: a run killed or refused
      mid-way) is always theirs to finish first, and that one who had caught up when the
      slot began reads with the front (`in_step`): with catch_up = "all" they get every
      part the front gets in the slot, one round after another;
    - they start at the first slot after they joined (`joined < slot`);
    - they get their lowest-numbered part they have not had, among the `released` parts
      (already sent to the front and not a draft) and the slot's `new` instalment (which
      goes out to the front in the same run): never a draft, never before the front;
    - with no `new` instalment (a finished series) they still go through the released
      parts: an evergreen course.
    With late_joiners = "current" everyone is the front (join where the series stands).

Dates: a `subscribed_at` with a time (ISO 8601) is read in the series' zone unless it
carries an offset; a bare date (what `subscribers add` writes) counts from the *end* of that
day, so a reader who joined on release day after the send is never taken for the front
(which would skip part 1): at worst they get part 1 one slot later.
A reader added on release day before the send had part 1 with everyone: the ledger shows
it (`Reader.with_front`), and they are the front from then on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

FROM_START = "from_start"
CURRENT = "current"


class Reader(NamedTuple):
    """One active reader as the planner sees them. A named tuple, immutable: a plan builds
    one or two per row of the list, and a frozen dataclass takes twice as long to build."""

    key: str  # lower-cased address
    joined: dt.datetime | None  # aware; None: empty or unparseable
    has: frozenset[int] = frozenset()  # parts settled for them (sent, scheduled, failed)
    open: frozenset[int] = frozenset()  # parts left pending/deferred/unknown/cancelled
    last: dt.datetime | None = None  # their latest delivery activity in the ledger
    returned: bool = False  # the front by date, but behind the front (`fell_behind`)
    # Late by date, but had part 1 in the front's own round (added on release day before
    # the send): the front from then on.
    with_front: bool = False


def parse_joined(text: str, tz: ZoneInfo) -> dt.datetime | None:
    """`subscribed_at` as an aware time, or None (empty or unparseable: the front)."""
    value = text.strip()
    if not value:
        return None
    try:
        if len(value) == 10:  # a bare date: the end of that day
            day = dt.date.fromisoformat(value)
            if day == _LAST_DAY:  # its end is past what a datetime holds
                return dt.datetime.max.replace(tzinfo=tz)
            return dt.datetime.combine(day + _DAY, _MIDNIGHT, tz)
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        return when
    # `when.replace(tzinfo=tz)`, the same time and fold, at a fifth of its cost (once a row)
    return dt.datetime.combine(when, when.time(), tz)


_LAST_DAY = dt.date.max
_DAY = dt.timedelta(days=1)
_MIDNIGHT = dt.time()


def is_front(reader: Reader, part_one: dt.datetime | None, mode: str = FROM_START) -> bool:
    """Whether `reader` is on the front (see the module docstring)."""
    if mode == CURRENT:
        return True
    if reader.returned:
        return False
    if reader.with_front:
        return True
    return part_one is None or reader.joined is None or reader.joined < part_one


def fell_behind(
    has: frozenset[int], open_: frozenset[int], latest: int | None, caught_up_now: bool = False
) -> bool:
    """Whether a reader the ledger shows with deliveries (`has`, `open_`) lacks `latest`,
    the last part the front got: they left and came back, and resume where they left off.
    (A reader with no delivery at all is new, and the front if their date says so.)
    `caught_up_now`: they got `latest` on their track in this slot (after the front's run
    of it finished): still on it until the next slot, so a round killed after their late
    run and resumed in the slot gives them nothing more (one part per reader per slot)."""
    if latest is None or not (has or open_):
        return False
    return caught_up_now or latest not in has | open_


def first_owed(reader: Reader) -> int:
    """The lowest part a reader can be owed: a returned front reader never had the parts
    before their first (they joined the front later), so those are not theirs."""
    return min(reader.has | reader.open, default=0) if reader.returned else 0


def in_step(reader: Reader, released: Sequence[int], fresh: frozenset[int]) -> bool:
    """Whether a late joiner who had a part in this slot reads with the front in it: they
    got a part the front first got in this slot (`fresh`) and lack none released. A late
    joiner's one part a slot is their lowest missing one, so a fresh part means they had
    every earlier part when the slot began: caught up, not catching up. One who caught up
    with a part sent earlier in the slot is still one part a slot until the next."""
    return bool(reader.has & fresh) and has_every(reader, released)


def has_every(reader: Reader, released: Sequence[int]) -> bool:
    """Whether `reader` had every part of `released` they owe (`first_owed`): caught up."""
    first, has = first_owed(reader), reader.has
    return all(n in has for n in released if n >= first)


def decide(
    reader: Reader,
    *,
    released: Sequence[int],
    new: int | None,
    slot: dt.datetime | None,
    part_one: dt.datetime | None,
    mode: str = FROM_START,
    held: frozenset[int] = frozenset(),
    fresh: frozenset[int] = frozenset(),
) -> int | None:
    """The part `reader` gets at `slot`, or None. `released` is sorted ascending; a part in
    `held` (released, but a draft again) stops the track there: never a skip. `fresh`: the
    released parts the front got in this slot (`in_step`)."""
    if is_front(reader, part_one, mode):
        return new if new is not None and new not in reader.has else None
    if reader.open:
        return min(reader.open)  # finish what a run left open first
    # The track starts at the first slot after joining; once a reader has received a part
    # (a bare `subscribed_at` date counts from the end of that day, so someone added on
    # release day before the send got part 1 with everyone), only one part per slot holds.
    # A returned front reader may have no date at all: they have started.
    if slot is not None:
        waiting = not reader.has and reader.joined is not None and reader.joined >= slot
        busy = reader.last is not None and reader.last >= slot
        if waiting or (busy and not in_step(reader, released, fresh)):
            return None
    first = first_owed(reader)
    for number in released:
        if number >= first and number not in reader.has:
            return None if number in held else number
    if new is not None and new not in reader.has:
        return new
    return None


_FRONT: Any = object()  # `SlotPlan.late.get`'s default: not a late joiner


@dataclass(frozen=True)
class SlotPlan:
    """Who gets which part at one slot, in memory that follows the late joiners only: the
    front is counted, never held (a million readers would be hundreds of MB of keys); each
    late joiner is one entry, their key → their part (None: nothing this slot)."""

    new: int | None
    late: Mapping[str, int | None]  # late joiner's key → their part this slot, or None
    front: int  # readers on the front
    catching_up: int  # late joiners not (yet) caught up
    caught_up: int  # late joiners with every released part
    front_new: int = 0  # of the front, how many get `new` (the others have it already)
    counted: bool = True  # False: nobody can be a late joiner, the list was not read

    def counts(self) -> dict[int, int]:
        """Part → how many readers get it, in part order."""
        tally = Counter(part for part in self.late.values() if part is not None)
        if self.new is not None and self.front_new:
            tally[self.new] += self.front_new
        return dict(sorted(tally.items()))

    def in_step_count(self) -> int:
        """How many readers get each part the same run sends the front after `new` (with
        catch_up = "all"): the front, and the late joiners who get `new` (caught up, they
        read with the front)."""
        if self.new is None:
            return self.front
        return self.front + sum(1 for part in self.late.values() if part == self.new)

    def late_parts(self) -> list[int]:
        """The parts late joiners get this slot besides `new`, in order: one run each."""
        return sorted({p for p in self.late.values() if p is not None and p != self.new})

    def excludes(self, key: str) -> bool:
        """Whether the front's run leaves `key` out: a late joiner whose part is not `new`."""
        part = self.late.get(key, _FRONT)
        return part is not _FRONT and (part is None or part != self.new)

    @property
    def any_excluded(self) -> bool:
        return any(p is None or p != self.new for p in self.late.values())


def plan_slot(
    readers: Iterable[Reader],
    *,
    released: Sequence[int],
    new: int | None,
    slot: dt.datetime | None,
    part_one: dt.datetime | None,
    mode: str = FROM_START,
    held: frozenset[int] = frozenset(),
    late: MutableMapping[str, int | None] | None = None,
    fresh: frozenset[int] = frozenset(),
) -> SlotPlan:
    """`decide` for every reader of a stream (each once: duplicates are the caller's to
    drop), keeping only the late joiners' parts; the front is counted. `late` is the map
    to fill (a streaming caller asks it who is in already, rather than keep a copy)."""
    planner = SlotPlanner(
        released=released,
        new=new,
        slot=slot,
        part_one=part_one,
        mode=mode,
        held=held,
        late=late,
        fresh=fresh,
    )
    for reader in readers:
        planner.add(reader)
    return planner.plan()


class SlotPlanner:
    """`plan_slot` one reader at a time, for a caller that feeds one pass over the list
    into several plans."""

    def __init__(
        self,
        *,
        released: Sequence[int],
        new: int | None,
        slot: dt.datetime | None,
        part_one: dt.datetime | None,
        mode: str = FROM_START,
        held: frozenset[int] = frozenset(),
        late: MutableMapping[str, int | None] | None = None,
        fresh: frozenset[int] = frozenset(),
    ) -> None:
        self.released = sorted(set(released) - ({new} if new is not None else set()))
        self.new, self.slot, self.part_one, self.mode, self.held = new, slot, part_one, mode, held
        self.fresh = fresh
        self.late: MutableMapping[str, int | None] = {} if late is None else late
        self.tally: Counter[str] = Counter()  # the late joiners
        # The front's counts, kept apart: plain integers cost a third of a Counter's, per row.
        self.front = self.front_new = 0

    def add(self, reader: Reader) -> tuple[bool, int | None]:
        """Plan `reader`: whether they are on the front, and the part they get (or None)."""
        new = self.new
        if is_front(reader, self.part_one, self.mode):  # `decide`'s first case, inline
            self.front += 1
            if new is not None and new not in reader.has:
                self.front_new += 1
                return True, new
            return True, None
        part = decide(
            reader,
            released=self.released,
            new=new,
            slot=self.slot,
            part_one=self.part_one,
            mode=self.mode,
            held=self.held,
            fresh=self.fresh,
        )
        # Caught up: every part the front had when the slot began (not `new`: it goes out in
        # the slot).
        self.tally["caught_up" if has_every(reader, self.released) else "catching_up"] += 1
        self.late[reader.key] = part
        return False, part

    def plan(self) -> SlotPlan:
        """The plan of the readers added so far."""
        tally = self.tally
        return SlotPlan(
            self.new,
            self.late,
            self.front,
            tally["catching_up"],
            tally["caught_up"],
            self.front_new,
        )


def reader_calendar(
    reader: Reader,
    *,
    released: Sequence[int],
    upcoming: Sequence[int],
    slots: Iterable[dt.datetime],
    now: dt.datetime,
    part_one: dt.datetime | None,
    fronts: Mapping[int, dt.datetime],
    mode: str = FROM_START,
    limit: int = 52,
    held: frozenset[int] = frozenset(),
) -> list[tuple[int, dt.datetime]]:
    """One reader's coming parts and their slots, as if every send went as planned.

    `slots` are the grid's slots from now on; `fronts` maps each unreleased part to the
    slot the front gets it (with catch_up = "all", several parts may share one: the front
    gets them all in that slot's run, a late joiner one part); `upcoming` are those parts
    in order.
    """
    has, out = set(reader.has), list[tuple[int, dt.datetime]]()
    last, opened = reader.last, reader.open
    first = first_owed(reader)
    order = [n for n in sorted(set(released)) if n >= first]
    order += [n for n in upcoming if n not in released]
    for slot in slots:
        if len(out) >= limit or all(n in has or n in held for n in order):
            break
        news = [n for n in upcoming if fronts.get(n) == slot]
        new = news[0] if news else None
        done = [
            n for n in order if n in released or (fronts.get(n) is not None and fronts[n] < slot)
        ]
        current = reader._replace(has=frozenset(has), open=opened, last=last)
        part = decide(
            current, released=done, new=new, slot=slot, part_one=part_one, mode=mode, held=held
        )
        if part is not None and slot >= now:
            got = [part]
            if part == new:  # the front, or a late joiner caught up: they read with it
                got += [n for n in news[1:] if n not in has]  # the same run (catch_up)
            out += [(n, slot) for n in got]
            has.update(got)
            last, opened = slot, frozenset()
    return out
