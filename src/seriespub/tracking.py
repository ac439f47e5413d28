"""Per-reader tracks applied to a series, as `scheduling` is the calendar applied: the
readers, the released parts and the slot that `seriespub.tracks` plans from, read from the
list, the drafts, the calendar and the ledger.

Read-only, but for a send's `late_rows` (the list's snapshot and scratch files in the state
folder). A reader's position is the ledger's record of what they received
(`Ledger.received`), never a second record.

Memory: one streamed pass over the list per plan (`_Readers`; `upcoming` plans what is due
now and the next slot from the same pass). Front readers are counted, never held; late
joiners are held once per plan, as key → part (`LateParts`: about 100 bytes each in memory
up to SPILL = 10,000, beyond that in SQLite's private temporary database), plus a fixed
8 MB bitmap for repeated addresses. A send that no reader can be a late joiner for
(part 1 not out yet) does not read the list.

A round's late parts (`late_rows`): one more pass, over the send's snapshot of the list
(taken under the list's lock), copies every row of each late joiner's address into that
part's file (on disk, in the series' state folder, removed after the round; in memory, a
chunk of rows at a time), so each part's run reads its own readers' rows rather than the
whole list twice: a round costs two passes plus work in proportion to its late joiners,
whatever the number of parts.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import itertools
import os
import shutil
import sqlite3
import tempfile
import weakref
from collections import Counter
from collections.abc import ItemsView, Iterable, Iterator, Mapping, MutableMapping, ValuesView
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seriespub import schedule, subscribers
from seriespub.drafts import DraftSet
from seriespub.errors import InputError, SeriespubError
from seriespub.models import SETTLED, Subscriber, SubscriberStatus
from seriespub.scheduling import has_calendar, releases_by_number
from seriespub.tracks import (
    CURRENT,
    FROM_START,
    Reader,
    SlotPlan,
    SlotPlanner,
    fell_behind,
    first_owed,
    is_front,
    parse_joined,
    plan_slot,
)

if TYPE_CHECKING:
    from seriespub.ops.session import Session
    from seriespub.schedule import PlannedRelease

__all__ = [
    "FROM_START",
    "Inputs",
    "draft_warnings",
    "inputs",
    "mode",
    "readers",
    "settled_keys",
    "slot_plan",
]


def mode(session: Session) -> str:
    return session.series.settings.series.late_joiners


@dataclass(frozen=True)
class Inputs:
    """What one slot is planned from."""

    released: list[int]  # sent to the front
    held: frozenset[int]  # of those, drafts again: late joiners wait there
    part_one: dt.datetime | None  # part 1's release (started_at, else its slot)
    slot: dt.datetime | None  # when this slot began (None: no calendar, no send)
    latest: int | None = None  # the last part the front finished: who lacks it fell behind
    # Of `released`, those the front got in this slot: a late joiner who had one of them
    # had caught up when the slot began, and reads with the front (`tracks.in_step`).
    fresh: frozenset[int] = frozenset()


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
    finished = [n for n in released if records[n].finished_at is not None]
    latest = max(finished, default=None)
    slot = current_slot(session, new)
    fresh = frozenset(n for n in released if _started_by(records[n].started_at, slot))
    return Inputs(released, held, part_one, slot, latest, fresh)


def _started_by(started_at: dt.datetime | None, slot: dt.datetime | None) -> bool:
    """Whether a part the front got started going out at or after `slot` began."""
    started = _aware(started_at)
    return slot is not None and started is not None and started >= slot


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


def front_next(drafts: DraftSet, session: Session, after: Iterable[int] = ()) -> int | None:
    """The part the front gets next, as `send next` and `send due` choose it
    (`sending.choose_next`): the first not finished, when it is ready. One going out but
    not finished (`--limit`, a stopped run) is finished first: its readers who lack it get
    it, the others nothing. `after`: parts the front gets before then (due now)."""
    records = session.ledger.instalment_records()
    skipped = frozenset(after)
    for i in drafts.instalments:
        record = records.get(i.number)
        if i.number in skipped:
            continue
        if record is None or record.finished_at is None:
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


def one_reader(session: Session, subscriber: Subscriber, latest: int | None = None) -> Reader:
    """One reader with everything the ledger holds for them, front or not; `latest`: the
    last part the front finished (`Inputs.latest`), to tell who fell behind it."""
    tz = schedule.zone(session.series.settings.schedule.timezone)
    reader = Reader(subscriber.key, parse_joined(subscriber.subscribed_at, tz))
    found = _with_ledger(reader, session.ledger.received([subscriber.key]))
    [found] = _with_front(session, [found], first_round(session))
    return _returned(found) if fell_behind(found.has, found.open, latest) else found


def first_round(session: Session) -> tuple[int, dt.datetime | None] | None:
    """The first part the front got and when its own round finished (None: it has not),
    or None before any part went out."""
    records = session.ledger.instalment_records()
    started = [n for n, r in records.items() if r.started_at is not None]
    if not started:
        return None
    first = min(started)
    return first, _aware(records[first].finished_at)


def _with_front(
    session: Session, late: list[Reader], round_: tuple[int, dt.datetime | None] | None
) -> list[Reader]:
    """`late` (late by date, with their ledger), those who had the first part in the front's
    own round marked `with_front`: a late joiner gets it only after that round finished (a
    batch created later), so an earlier batch is the front's."""
    if round_ is None:
        return late
    first, finished = round_
    holders = [r.key for r in late if first in r.has | r.open]
    made = session.ledger.batch_times(first, holders) if holders else {}
    return [
        replace(r, with_front=True)
        if r.key in made and (finished is None or made[r.key] <= finished)
        else r
        for r in late
    ]


def _returned(reader: Reader) -> Reader:
    return Reader(reader.key, reader.joined, reader.has, reader.open, reader.last, True)


def readers(
    session: Session,
    new: int | None,
    part_one: dt.datetime | None,
    known: Mapping[str, object] | None = None,
    latest: int | None = None,
) -> Iterator[Reader]:
    """Every active reader once (the first row of a repeated address wins), with what the
    ledger holds for them, streamed in flat memory (see `_Readers`). `known`: the late
    joiners yielded so far, if the caller keeps them (the plan's map); `latest`: the last
    part the front finished (a front reader without it who had others fell behind)."""
    return iter(_Readers(session, new, part_one, known, latest))


CHUNK = 500  # readers per ledger query


class ListChanged(InputError):
    """The list was rewritten between the pass and the settling of its suspects."""


class _Readers:
    """One streamed pass over the active readers: the front is yielded a chunk at a time
    (with the new part if the ledger has settled it for them) and never kept; late joiners
    are kept as keys, to drop their repeats, and looked up in the ledger 500 at a time.

    Repeated addresses without a set of every key (~100 MB at a million readers): a row
    whose address hash may have been seen (`subscribers.Repeats`, a fixed 8 MB bitmap)
    is set aside as a *suspect*, unless its key is a late joiner's or a suspect's already
    (then it is a repeat for sure). After the pass, suspects are settled exactly: one
    with an earlier active row of the same address repeats a front reader (a late row
    would have been kept) and is dropped; the others are yielded. That takes a second,
    raw read of the list (the address column only, up to the last suspect's row), only
    when there are suspects: at 100,000 readers a few dozen, mostly bitmap collisions.
    """

    def __init__(
        self,
        session: Session,
        new: int | None,
        part_one: dt.datetime | None,
        known: Mapping[str, object] | None = None,
        latest: int | None = None,
        also: Iterable[int | None] = (),
    ) -> None:
        self.session, self.new, self.part_one = session, new, part_one
        self.latest = latest
        self.first_round = first_round(session)
        self.mode = mode(session)
        self.tz = schedule.zone(session.series.settings.schedule.timezone)
        self.path = session.series.subscribers_path
        # Who on the front already has the new part only matters for the counts, and only
        # after a run that was stopped part-way: otherwise nobody does and nothing is asked.
        # `also`: the new parts of other plans fed from the same pass (`pairs`).
        self.asked: tuple[int, ...] = tuple(
            n for n in dict.fromkeys((new, *also)) if n is not None and _settled_any(session, n)
        )
        # Late joiners read so far: those yielded are in `known` when the caller keeps them
        # (no second copy of a key); `late_seen` holds the rest.
        self.known: Mapping[str, object] = known if known is not None else {}
        self.forget = known is not None
        self.late_seen: set[str] = set()
        self.suspects: dict[str, tuple[int, Reader]] = {}  # key → (its data row, reader)
        # The second read must see the file the pass read: a rewrite (a rename) between
        # them is found here and the plan made again (`slot_plan`).
        self.signature = subscribers.signature(self.path)

    def __iter__(self) -> Iterator[Reader]:
        for reader, settled in self.pairs():
            yield as_of(reader, settled, self.new)

    def pairs(self) -> Iterator[tuple[Reader, frozenset[int]]]:
        """Each reader once, with the parts of `new` and `also` the ledger has settled for
        them when they are on the front (`as_of` gives each plan its reader)."""
        repeats = subscribers.Repeats()
        late: list[Reader] = []
        for rows in _batches(self._active(), CHUNK):
            repeats.add([s.key for _, s in rows])
            front: list[Reader] = []
            for row, s in rows:
                key = s.key
                # A key seen before has its bit set: only a candidate's is looked up.
                candidate = hash(key) in repeats.candidates
                if candidate and (
                    key in self.late_seen or key in self.known or key in self.suspects
                ):
                    continue  # a repeat: the first row counts
                reader = Reader(key, parse_joined(s.subscribed_at, self.tz))
                if candidate:
                    self.suspects[key] = (row, reader)
                elif is_front(reader, self.part_one, self.mode):
                    front.append(reader)
                else:
                    self.late_seen.add(key)
                    late.append(reader)
            yield from self._front(front)
            if len(late) >= CHUNK:
                yield from self._late(late)
                late = []
                if self.forget:
                    self.late_seen.clear()  # yielded: in `known` now
        yield from self._late(late)
        yield from self._settled_suspects()

    def _active(self) -> Iterator[tuple[int, Subscriber]]:
        """Active readers with their data row's number (invalid rows count too: a raw
        read numbers rows the same way)."""
        problems = subscribers.ProblemTally()
        for read, s in enumerate(subscribers.iter_subscribers(self.path, problems), start=1):
            if s.status is SubscriberStatus.ACTIVE:
                yield read + problems.count, s

    def _front(self, front: list[Reader]) -> Iterator[tuple[Reader, frozenset[int]]]:
        front = list(self._returning(front))
        if not self.asked or not front:
            for r in front:
                yield r, NOTHING
            return
        keys = [r.key for r in front]
        statuses = {n: self.session.ledger.statuses(n, keys) for n in self.asked}
        for r in front:
            yield r, frozenset(n for n, st in statuses.items() if st.get(r.key) in SETTLED)

    def _returning(self, front: list[Reader]) -> Iterator[Reader]:
        """The front by date, with those who fell behind it (they left and came back) as
        returned readers with their history: one look-up of the latest part by primary key
        for the chunk, and the ledger's history only of those who lack it."""
        if self.latest is None or self.mode == CURRENT or not front:
            yield from front
            return
        had = self.session.ledger.statuses(self.latest, [r.key for r in front])
        lacking = [r.key for r in front if r.key not in had]
        received = self.session.ledger.received(lacking) if lacking else {}
        for r in front:
            found = _with_ledger(r, received)
            yield _returned(found) if fell_behind(found.has, found.open, self.latest) else r

    def _late(self, late: list[Reader]) -> Iterator[tuple[Reader, frozenset[int]]]:
        if not late:
            return
        received = self.session.ledger.received([r.key for r in late])
        found = [_with_ledger(r, received) for r in late]
        for r in _with_front(self.session, found, self.first_round):
            yield _returned(r) if r.with_front and self._behind(r) else r, NOTHING

    def _behind(self, reader: Reader) -> bool:
        return self.mode != CURRENT and fell_behind(reader.has, reader.open, self.latest)

    def _settled_suspects(self) -> Iterator[tuple[Reader, frozenset[int]]]:
        if not self.suspects:
            return
        repeated = self._repeated()
        first = [r for key, (_, r) in self.suspects.items() if key not in repeated]
        front = [r for r in first if is_front(r, self.part_one, self.mode)]
        for start in range(0, len(front), CHUNK):
            yield from self._front(front[start : start + CHUNK])
        late = [r for r in first if not is_front(r, self.part_one, self.mode)]
        for start in range(0, len(late), CHUNK):
            yield from self._late(late[start : start + CHUNK])

    def _repeated(self) -> set[str]:
        """Suspects with an earlier active row of the same address: the list read raw (the
        address column), each row parsed only when its address is a suspect's."""
        hashes = {hash(key) for key in self.suspects}
        last = max(row for row, _ in self.suspects.values())
        repeated: set[str] = set()
        if subscribers.signature(self.path) != self.signature:
            raise ListChanged("subscribers.csv changed while planning who gets which part")
        reader, handle = subscribers.open_csv(self.path)
        with handle:
            try:
                columns = subscribers.header_columns(next(reader, []), self.path)
                at, row = columns.index("email"), 0
                for values in reader:
                    if not values:
                        continue
                    row += 1
                    if row >= last:
                        break
                    key = values[at].strip().lower() if at < len(values) else ""
                    if (
                        hash(key) in hashes
                        and key in self.suspects
                        and row < self.suspects[key][0]
                        and _is_active(dict(zip(columns, values, strict=False)))
                    ):
                        repeated.add(key)
            except (csv.Error, UnicodeDecodeError, ValueError) as exc:
                raise InputError(f"cannot read: {exc}", path=self.path) from None
        return repeated


NOTHING: frozenset[int] = frozenset()


def _settled_any(session: Session, new: int) -> bool:
    """Whether the ledger has settled part `new` for anyone (a run of it stopped part-way)."""
    counts = session.ledger.counts(new)
    return any(counts.get(status) for status in SETTLED)


def as_of(reader: Reader, settled: frozenset[int], new: int | None) -> Reader:
    """A front reader as a plan of part `new` counts them: one the ledger has settled it
    for has it (`_Readers.pairs`'s `settled`)."""
    return Reader(reader.key, reader.joined, frozenset({new})) if new in settled else reader


def _batches(
    rows: Iterator[tuple[int, Subscriber]], size: int
) -> Iterator[list[tuple[int, Subscriber]]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _is_active(row: dict[str, str]) -> bool:
    try:
        return subscribers.parse_row(row).status is SubscriberStatus.ACTIVE
    except ValueError:
        return False


SPILL = 10_000  # late joiners kept in a dict (~1 MB); beyond, in a temporary database
LATE_BITS = 1 << 23  # 1 MB: a filter in front of it (a false hit costs one query)


class LateParts(MutableMapping[str, "int | None"]):
    """Late joiner's key → their part (None: nothing this slot): a dict up to SPILL
    entries, then SQLite's private temporary database, which SQLite deletes itself (the
    file is unlinked as soon as it is open, so not even a kill leaves it behind), behind a
    fixed bitmap of the keys' hashes so that the front's rows are answered without a
    query. A million late joiners (an evergreen course) then cost about 3 MB (the filter
    and SQLite's page cache), not 100."""

    def __init__(self, spill: int | None = None) -> None:
        self.spill = SPILL if spill is None else spill
        self.memory: dict[str, int | None] = {}
        self.db: sqlite3.Connection | None = None
        self.bits = bytearray()
        self.pending: dict[str, int | None] = {}  # written in batches

    @property
    def spilled(self) -> bool:
        return self.db is not None

    def __setitem__(self, key: str, part: int | None) -> None:
        if self.db is None:
            self.memory[key] = part
            if len(self.memory) > self.spill:
                self._move()
            return
        self._mark(key)
        self.pending[key] = part
        if len(self.pending) >= 5_000:
            self._flush()

    def __getitem__(self, key: str) -> int | None:
        if self.db is None:
            return self.memory[key]
        if key in self.pending:
            return self.pending[key]
        if not self._marked(key):
            raise KeyError(key)  # the front, mostly: no query
        row = self.db.execute("SELECT part FROM late WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        part: int | None = row[0]
        return part

    def __contains__(self, key: object) -> bool:
        try:
            self[str(key)]
        except KeyError:
            return False
        return True

    def __delitem__(self, key: str) -> None:
        if self.db is None:
            del self.memory[key]
            return
        self[key]  # KeyError if absent
        self._flush()
        self.db.execute("DELETE FROM late WHERE key=?", (key,))

    def __len__(self) -> int:
        if self.db is None:
            return len(self.memory)
        self._flush()
        count: int = self.db.execute("SELECT count(*) FROM late").fetchone()[0]
        return count

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._rows())

    def items(self) -> ItemsView[str, int | None]:
        return _Items(self)

    def values(self) -> ValuesView[int | None]:
        return _Values(self)

    def parts_of(self, keys: Iterable[str]) -> dict[str, int | None]:
        """The late joiners among `keys` → their part: the front answered by the filter,
        the rest in one query per 500 (a round's pass asks for every row of the list)."""
        if self.db is None:
            return {key: self.memory[key] for key in keys if key in self.memory}
        self._flush()
        maybe = [key for key in keys if self._marked(key)]
        found: dict[str, int | None] = {}
        for start in range(0, len(maybe), 500):
            some = maybe[start : start + 500]
            query = f"SELECT key, part FROM late WHERE key IN ({','.join('?' * len(some))})"
            found.update(self.db.execute(query, some))
        return found

    def _rows(self) -> Iterator[tuple[str, int | None]]:
        if self.db is None:
            yield from self.memory.items()
            return
        self._flush()
        yield from self.db.execute("SELECT key, part FROM late")

    def _move(self) -> None:
        self.db = sqlite3.connect("", check_same_thread=False)  # "": private, temporary
        weakref.finalize(self, self.db.close)  # the plan is dropped: SQLite deletes the file
        self.db.execute("CREATE TABLE late(key TEXT PRIMARY KEY, part INTEGER) WITHOUT ROWID")
        self.bits = bytearray(LATE_BITS // 8)
        for key in self.memory:
            self._mark(key)
        self.pending, self.memory = self.memory, {}
        self._flush()

    def _marked(self, key: str) -> bool:
        h = hash(key) % (len(self.bits) * 8)
        return bool(self.bits[h >> 3] & (1 << (h & 7)))

    def _mark(self, key: str) -> None:
        h = hash(key) % (len(self.bits) * 8)
        self.bits[h >> 3] |= 1 << (h & 7)

    def _flush(self) -> None:
        if self.db is not None and self.pending:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO late VALUES(?, ?)", self.pending.items()
                )
            self.pending = {}


class _Items(ItemsView[str, "int | None"]):
    _mapping: LateParts

    def __iter__(self) -> Iterator[tuple[str, int | None]]:
        return self._mapping._rows()


class _Values(ValuesView["int | None"]):
    _mapping: LateParts

    def __iter__(self) -> Iterator[int | None]:
        return (part for _, part in self._mapping._rows())


def _with_ledger(
    reader: Reader, received: dict[str, tuple[frozenset[int], frozenset[int], str]]
) -> Reader:
    if reader.key not in received:
        return reader
    has, open_, last = received[reader.key]
    when = _aware(dt.datetime.fromisoformat(last)) if last else None
    return Reader(reader.key, reader.joined, has, open_, when)


def slot_plan(
    session: Session,
    drafts: DraftSet,
    new: int | None,
    *,
    upcoming: bool = False,
    count_front: bool = True,
    after: DueNow | None = None,
) -> tuple[SlotPlan, Inputs]:
    """Who gets which part at the current slot (with `upcoming`, the next one), and what
    it was planned from. One streamed pass over the list; with count_front=False (a send)
    and nobody who can be a late joiner (part 1 not released yet, or late_joiners =
    "current"), none at all: the plan is then empty and `counted` is False. `after`: what
    `send due` sends before then (`due_now`), planned as if it had gone out."""
    given, at = _slot_inputs(
        session, drafts, new, upcoming=upcoming, sent=after.front_parts if after else ()
    )
    how = mode(session)
    if not count_front and (given.part_one is None or how == CURRENT):
        return SlotPlan(new, {}, 0, 0, 0, counted=False), given

    def plan(listed: Iterable[Reader], late: MutableMapping[str, int | None]) -> SlotPlan:
        return plan_slot(
            listed,
            released=given.released,
            new=new,
            slot=at,
            part_one=given.part_one,
            mode=how,
            held=given.held,
            late=late,
            fresh=given.fresh,
        )

    for _ in range(3):
        late = LateParts()
        try:
            listed = readers(session, new, given.part_one, late, given.latest)
            if after is not None:
                listed = once_sent(listed, after, given.part_one, how)
            return plan(listed, late), given
        except ListChanged:
            continue  # rewritten mid-plan (an import, a sync): plan again from the new file
        except SeriespubError:
            return plan((), {}), given  # an unreadable list: nobody (check and send say why)
    raise _kept_changing()


def _kept_changing() -> ListChanged:
    return ListChanged(
        "subscribers.csv kept changing while planning who gets which part",
        hint="run the command again when nothing else is editing the list",
    )


def _slot_inputs(
    session: Session, drafts: DraftSet, new: int | None, *, upcoming: bool, sent: Iterable[int]
) -> tuple[Inputs, dt.datetime | None]:
    """What `slot_plan` plans from, and the slot its readers' turns are taken at. `sent`:
    the parts the front gets before then (due now), released by then."""
    given = inputs(session, drafts, new)
    released = set(given.released) | set(sent)
    given = replace(given, released=sorted(released - {new}))
    at = given.slot
    if upcoming:  # nothing has gone out in the next slot yet
        given = replace(given, slot=next_slot(session), fresh=frozenset())
        if has_calendar(session.series):
            at = given.slot
        # else the next send is a `send next` typed now: planned at the current slot, as it
        # will be (`inputs.slot` stays None: "the next send")
    return given, at


@dataclass(frozen=True)
class DueNow:
    """What the next `send due` sends now, before the next slot (a part whose slot has
    passed: the minutes before cron's run, or a calendar moved earlier): `plan` at the
    current slot, and with catch_up = "all" the parts after its new one it sends the front
    in the same run (`also`)."""

    plan: SlotPlan
    at: dt.datetime  # now
    also: tuple[int, ...] = ()

    @property
    def front_parts(self) -> tuple[int, ...]:
        """The parts the front gets now, in order."""
        return ((self.plan.new,) if self.plan.new is not None else ()) + self.also

    def counts(self) -> dict[int, int]:
        """Part → how many readers get it now (the late joiners' and the front's)."""
        parts = self.plan.counts()
        readers = self.plan.in_step_count() if self.also else 0
        for number in self.also:
            parts[number] = parts.get(number, 0) + readers
        return {n: c for n, c in sorted(parts.items()) if c}


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


_FRONT: Any = object()  # `once_sent`'s: not a late joiner of the round due now


def once_sent(
    listed: Iterable[Reader], due: DueNow, part_one: dt.datetime | None, how: str
) -> Iterator[Reader]:
    """`listed` as the ledger will hold them once `due` went out: the front of `due`'s
    round with its parts, each late joiner with theirs, received now (so one slot later
    they get the next). A reader late by date whom `due` counts on the front (part 1's own
    round, late: everyone gets it) had part 1 with everyone: the front from then on."""
    front_parts = frozenset(due.front_parts)
    for reader in listed:
        part = due.plan.late.get(reader.key, _FRONT)
        yield _as_sent(reader, part, front_parts, due.at, part_one, how)


def _as_sent(
    reader: Reader,
    part: Any,
    front_parts: frozenset[int],
    at: dt.datetime,
    part_one: dt.datetime | None,
    how: str,
) -> Reader:
    """One reader of `once_sent`; `part`: theirs in the round due now, or _FRONT."""
    # Built field by field: `dataclasses.replace` costs three times as much, per reader.
    key, joined, returned = reader.key, reader.joined, reader.returned
    if part is _FRONT:
        if front_parts:
            with_front = reader.with_front or not is_front(reader, part_one, how)
            has = reader.has | front_parts
            return Reader(key, joined, has, reader.open, at, returned, with_front)
    elif part is not None:
        # A late joiner who gets the front's new part has caught up: its run's parts too.
        got = front_parts if part in front_parts else frozenset({part})
        has, open_ = reader.has | got, reader.open - got
        return Reader(key, joined, has, open_, at, returned, reader.with_front)
    return reader


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
    given, at = _slot_inputs(session, drafts, None if later else new, upcoming=True, sent=sent)
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
    gone out, else `idle`'s. One pass feeds them all (`_one_pass`) when their readers are
    read alike (the same part 1 release and latest part: all but part 1's own round); else
    two, one after the other."""
    alike = (due.given.part_one, due.given.latest)
    if all((n.given.part_one, n.given.latest) == alike for n in (idle, busy)):
        for _ in range(3):
            try:
                now, later = _one_pass(session, due, idle, busy)
            except ListChanged:
                continue  # rewritten mid-plan: plan again from the new file
            except SeriespubError:  # an unreadable list: nobody (check and send say why)
                now = _planner(session, due.new, due.given, due.given.slot)
                later = _planner(session, idle.new, idle.given, idle.at)
            found = DueNow(now.plan(), session.now, due.also)
            return (found if found.counts() else None), later.plan()
        raise _kept_changing()
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


def _one_pass(
    session: Session, due: _DueRound, idle: _NextSlot, busy: _NextSlot
) -> tuple[SlotPlanner, SlotPlanner]:
    """One pass over the list into the plan due now and the next slot's that holds after
    it: `busy`'s (each reader as `once_sent` leaves them, from their own part in the round
    due now) once that round sends anyone anything (`DueNow.counts` is not empty), else
    `idle`'s (nothing goes out before the next slot). Till the first reader the round
    sends a part, `idle` is planned alongside."""
    given, how = due.given, mode(session)
    now = _planner(session, due.new, given, given.slot)
    later_idle = _planner(session, idle.new, idle.given, idle.at)
    later_busy = _planner(session, busy.new, busy.given, busy.at)
    sent, idle_too = frozenset(due.front_parts), True
    listed = _Readers(
        session, due.new, given.part_one, now.late, given.latest, (idle.new, busy.new)
    )
    for reader, settled in listed.pairs():
        front, part = now.add(as_of(reader, settled, due.new))
        if idle_too:
            later_idle.add(as_of(reader, settled, idle.new))
            # `DueNow.counts` is not empty from here on: `idle` cannot hold.
            idle_too = part is None and not (front and due.also)
        mine = as_of(reader, settled, busy.new)
        later_busy.add(
            _as_sent(mine, _FRONT if front else part, sent, session.now, given.part_one, how)
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


ROUND_PREFIX = "round-"  # the folder a send's round picks its late joiners' rows into
DRY_ROUND_PREFIX = "seriespub-" + ROUND_PREFIX  # a dry run's, in the system's temp folder


@dataclass(frozen=True)
class LateRows:
    """Each late part's readers, picked out of one copy of the list in one pass: a run per
    part reads its own file (its late joiners' rows only), not the whole list again."""

    source: Path  # the copy they were picked from: the send's snapshot (a dry run: the list)
    problems: subscribers.ProblemTally  # its unreadable rows (every run reports them)
    paths: dict[int, Path]  # part → a CSV of every row of its late joiners' addresses


@contextlib.contextmanager
def late_rows(
    session: Session, late: Mapping[str, int | None], parts: Iterable[int], *, snapshot: bool
) -> Iterator[LateRows]:
    """The rows of the late joiners `late` gives one of `parts`, one file per part, taken
    from a snapshot of the list (`listsnapshot`, under the list's lock) when `snapshot`,
    else from the live list (a dry run, which writes nothing in the series). The files are
    removed on the way out; a send killed meanwhile leaves them in the series' state folder
    (0700), and the next send removes them (it holds the series lock: none is in use)."""
    live = session.series.subscribers_path
    if snapshot:
        from seriespub.listsnapshot import snapshot_of  # a send's: not on a report's path

        state = session.series.state_dir
        for old in state.glob(ROUND_PREFIX + "*"):
            shutil.rmtree(old, ignore_errors=True)
        source = snapshot_of(live)[0]
        folder = Path(tempfile.mkdtemp(prefix=ROUND_PREFIX, dir=state))
    else:
        _sweep_dry_runs()
        prefix = f"{DRY_ROUND_PREFIX}{os.getpid()}-"
        source, folder = live, Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield _pick(source, live, late, sorted(set(parts)), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sweep_dry_runs() -> None:
    """Remove the folders of dry runs that were killed mid-round (readers' rows, 0700, in
    the system's temp folder): each is named after its process, and a folder whose process
    is gone is nobody's. Another dry run's, still running, is left alone."""
    for old in Path(tempfile.gettempdir()).glob(DRY_ROUND_PREFIX + "*"):
        pid = old.name.removeprefix(DRY_ROUND_PREFIX).split("-", 1)[0]
        try:
            if pid.isdigit() and old.stat().st_uid == os.getuid():
                os.kill(int(pid), 0)  # only asks whether it exists
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # removed meanwhile, or a process that is alive


def _pick(
    source: Path, shown: Path, late: Mapping[str, int | None], parts: list[int], folder: Path
) -> LateRows:
    """One pass over `source`: each row whose address is a late joiner's with one of
    `parts` is copied to that part's file (every row of the address, whatever its status,
    in file order, as a run would have read them); unreadable rows are tallied."""
    problems = subscribers.ProblemTally()
    paths = {n: folder / f"part-{n:04d}.csv" for n in parts}
    header, delimiter = _header(source, shown)
    with contextlib.ExitStack() as files:
        out: dict[int | None, Any] = {}
        for n, path in paths.items():
            handle = files.enter_context(path.open("w", newline="", encoding="utf-8"))
            handle.write(header)
            out[n] = csv.writer(handle, delimiter=delimiter)
        rows = subscribers.keyed_rows(source, problems, shown)
        while chunk := list(itertools.islice(rows, CHUNK)):
            found = _parts_of(late, [key for key, _ in chunk])
            for key, values in chunk:
                writer = out.get(found.get(key))
                if writer is not None:
                    writer.writerow(values)
    return LateRows(source, problems, paths)


def _header(path: Path, shown: Path) -> tuple[str, str]:
    """The list's header as it is written (so a copy's delimiter is guessed the same) and
    its delimiter."""
    reader, handle = subscribers.open_csv(path, shown)
    with handle:
        try:
            subscribers.header_columns(next(reader, []), shown)
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=shown, line=1) from None
        lines, delimiter = reader.line_num, reader.dialect.delimiter
        handle.seek(0)
        text = "".join(handle.readline() for _ in range(lines))
    return text if text.endswith(("\n", "\r")) else text + "\r\n", delimiter


def _parts_of(late: Mapping[str, int | None], keys: list[str]) -> dict[str, int | None]:
    if isinstance(late, LateParts):
        return late.parts_of(keys)
    return {key: late[key] for key in keys if key in late}


def settled_keys(session: Session, new: int | None) -> frozenset[str]:
    """Readers the ledger has settled part `new` for (empty unless a run of it stopped
    part-way, or it went out already)."""
    if new is None:
        return frozenset()
    counts = session.ledger.counts(new)
    if not any(counts.get(status) for status in SETTLED):
        return frozenset()
    return frozenset(row.email.lower() for row in session.ledger.deliveries(new, list(SETTLED)))


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
    if given.part_one is None:
        return []  # nobody is a late joiner before part 1 is out: the list is not read
    waiting: Counter[int] = Counter()
    late = LateParts()  # the late joiners seen, to drop their repeats (on disk past SPILL)
    for reader in readers(session, None, given.part_one, late, given.latest):
        if is_front(reader, given.part_one):
            continue
        first = first_owed(reader)  # a returned reader never had the parts before theirs
        part = next((n for n in started if n >= first and n not in reader.has), upcoming)
        late[reader.key] = part
        if part in unready:
            waiting[part] += 1
    return [
        f"part {n} is still a draft and is the next part of {c:,} late joiner(s): "
        f"set status: ready in its front matter"
        for n, c in sorted(waiting.items())
    ]
