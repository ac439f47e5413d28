"""Per-reader tracks applied to a series, as `scheduling` is the calendar applied: the
readers, the released parts and the slot that `seriespub.tracks` plans from, read from the
list, the drafts, the calendar and the ledger.

Read-only. A reader's position is the ledger's record of what they received
(`Ledger.received`), never a second record. What the next sends will do, as `status`
promises it, is `seriespub.promises`; a round's late joiners' rows, `seriespub.laterows`.

Memory: one streamed pass over the list per plan (`ListedReaders`; an idle `send due`
after the front's last part feeds its two plans, now and the next slot, from one pass:
`idle_plans`). Front readers are
counted, never held; late joiners are held once per plan, as key → part
(`seriespub.lateparts`: about 100 bytes each in memory up to 10,000, beyond that in SQLite's
private temporary database), plus a fixed 8 MB bitmap for repeated addresses and an
8 MB filter of who may have fallen behind the latest part, when anyone may have. A send that no
reader can be a late joiner for (part 1 not out yet) does not read the list.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from seriespub import schedule, subscribers
from seriespub.drafts import DraftSet
from seriespub.errors import InputError, SeriespubError
from seriespub.hashbits import HashBits
from seriespub.lateparts import LateParts
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
)

if TYPE_CHECKING:
    from seriespub.ops.session import Session

__all__ = [
    "FROM_START",
    "Inputs",
    "Planned",
    "draft_warnings",
    "idle_plans",
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
    return next(subscribers.where_key(session.series.subscribers_path, key.__eq__), None)


def one_reader(
    session: Session,
    subscriber: Subscriber,
    latest: int | None = None,
    slot: dt.datetime | None = None,
) -> Reader:
    """One reader with everything the ledger holds for them, front or not; `latest`: the
    last part the front finished (`Inputs.latest`), to tell who fell behind it, and
    `slot` the current one (`Inputs.slot`), to tell who caught up with it in the slot."""
    tz = schedule.zone(session.series.settings.schedule.timezone)
    reader = Reader(subscriber.key, parse_joined(subscriber.subscribed_at, tz))
    found = _with_ledger(reader, session.ledger.received([subscriber.key]))
    [found] = _with_front(session, [found], first_round(session))
    now = subscriber.key in caught_up_in_slot(session, latest, slot)
    return _returned(found) if fell_behind(found.has, found.open, latest, now) else found


def caught_up_in_slot(
    session: Session, latest: int | None, slot: dt.datetime | None
) -> frozenset[str]:
    """Readers who got `latest` (the last part the front finished) in the slot that began
    at `slot`, after the front's run of it had finished: on a track (a returned reader's
    late run), not with the front. Empty but in a slot where someone caught up so."""
    if latest is None or slot is None:
        return frozenset()
    record = session.ledger.instalment_records().get(latest)
    finished = _aware(record.finished_at) if record is not None else None
    if finished is None:
        return frozenset()
    return session.ledger.sent_later(latest, finished, slot)


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
        r._replace(with_front=True)
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
    slot: dt.datetime | None = None,
) -> Iterator[Reader]:
    """Every active reader once (the first row of a repeated address wins), with what the
    ledger holds for them, streamed in flat memory (see `ListedReaders`). `known`: the late
    joiners yielded so far, if the caller keeps them (the plan's map); `latest`: the last
    part the front finished (a front reader without it who had others fell behind, and
    one who got it on their track since `slot` began is still on it)."""
    return iter(ListedReaders(session, new, part_one, known, latest, slot=slot))


CHUNK = 500  # readers per ledger query


class ListChanged(InputError):
    """The list was rewritten between the pass and the settling of its suspects."""


class ListedReaders:
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

    A front reader's history is asked of the ledger only when they may have fallen behind
    the latest part (`Ledger.lacking`, kept in a fixed 8 MB filter; none when the ledger
    says nobody can have) or got it on their track in this slot.
    """

    def __init__(
        self,
        session: Session,
        new: int | None,
        part_one: dt.datetime | None,
        known: Mapping[str, object] | None = None,
        latest: int | None = None,
        also: Iterable[int | None] = (),
        *,
        slot: dt.datetime | None = None,
        also_caught_up: frozenset[str] | None = None,
    ) -> None:
        self.session, self.new, self.part_one = session, new, part_one
        self.latest = latest
        self.mode = mode(session)
        # Readers who got `latest` on their track in this slot: still on it (`fell_behind`).
        self.caught_up = (
            caught_up_in_slot(session, latest, slot) if self.mode != CURRENT else frozenset()
        )
        # A second plan fed from the pass at another slot (`twins`): who caught up there.
        # Its reader is this plan's but for those who caught up in one slot only, kept
        # apart (a handful) until `twins` yields them.
        self.also_caught_up = also_caught_up if self.mode != CURRENT else None
        self.look_up = self.caught_up | (self.also_caught_up or frozenset())
        self.twin_of: dict[str, Reader] = {}
        # Front readers who may have fallen behind `latest`: only they are looked up.
        self.maybe_behind = (
            _maybe_behind(session, latest) if latest is not None and self.mode != CURRENT else None
        )
        self.first_round = first_round(session)
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

    def twins(self) -> Iterator[tuple[Reader, Reader]]:
        """Each reader once as `__iter__` gives it (the plan at `slot`) and as a plan at a
        second slot, where `also_caught_up` caught up, reads them: one pass for both."""
        twin_of, new = self.twin_of, self.new
        for reader, settled in self.pairs():
            twin = twin_of.pop(reader.key, reader) if twin_of else reader
            if settled:
                reader, twin = as_of(reader, settled, new), as_of(twin, settled, new)
            yield reader, twin

    def pairs(self) -> Iterator[tuple[Reader, frozenset[int]]]:
        """Each reader once, with the parts of `new` and `also` the ledger has settled for
        them when they are on the front (`as_of` gives each plan its reader)."""
        repeats = subscribers.Repeats()
        late: list[Reader] = []
        rows = subscribers.active_joined(self.path, subscribers.ProblemTally())
        for chunk in subscribers.chunks(rows, CHUNK):
            repeats.add([key for _, key, _ in chunk])
            front: list[Reader] = []
            for row, key, since in chunk:
                # A key seen before has its bit set: only a candidate's is looked up.
                candidate = hash(key) in repeats.candidates
                if candidate and (
                    key in self.late_seen or key in self.known or key in self.suspects
                ):
                    continue  # a repeat: the first row counts
                reader = Reader(key, parse_joined(since, self.tz))
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
        returned readers with their history: the ledger's history is asked only of those
        who may lack the latest part (`maybe_behind`) or got it on their track in this slot;
        the rest had it, and are yielded as they are."""
        maybe, caught_up = self.maybe_behind, self.look_up
        if maybe is None and not caught_up:
            yield from front
            return
        if isinstance(maybe, _ProbeEach):  # too many parts to merge: a probe a reader
            had = self.session.ledger.having(maybe.latest, [r.key for r in front])
            lacking = [r.key for r in front if r.key not in had or r.key in caught_up]
        else:
            lacking = [
                r.key for r in front if r.key in caught_up or (maybe is not None and r.key in maybe)
            ]
        if not lacking:
            yield from front
            return
        received = self.session.ledger.received(lacking)
        too = self.also_caught_up
        for r in front:
            found = _with_ledger(r, received) if r.key in received else r
            behind = found is not r and self._behind(found, self.caught_up)
            if too is not None and found is not r and self._behind(found, too) != behind:
                self.twin_of[r.key] = r if behind else _returned(found)
            yield _returned(found) if behind else r

    def _late(self, late: list[Reader]) -> Iterator[tuple[Reader, frozenset[int]]]:
        if not late:
            return
        received = self.session.ledger.received([r.key for r in late])
        found = [_with_ledger(r, received) for r in late]
        too = self.also_caught_up
        for r in _with_front(self.session, found, self.first_round):
            behind = r.with_front and self._behind(r, self.caught_up)
            if too is not None and r.with_front and self._behind(r, too) != behind:
                self.twin_of[r.key] = r if behind else _returned(r)
            yield _returned(r) if behind else r, NOTHING

    def _behind(self, reader: Reader, caught_up: frozenset[str]) -> bool:
        """Whether `reader` fell behind the latest part, in a slot where `caught_up` got
        it on their track (still on it there)."""
        now = reader.key in caught_up
        return self.mode != CURRENT and fell_behind(reader.has, reader.open, self.latest, now)

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


@dataclass(frozen=True)
class _ProbeEach:
    """`_maybe_behind`'s answer when the ledger has too many parts to merge: any front reader
    may lack part `latest`, and each is asked (`Ledger.having`)."""

    latest: int


def _maybe_behind(session: Session, latest: int) -> HashBits | _ProbeEach | None:
    """Who may have fallen behind part `latest` (`Ledger.lacking`: a row of another part,
    none of it), or None when nobody can have: the front readers to look up."""
    lacking = session.ledger.lacking(latest)
    if lacking is None:
        return _ProbeEach(latest)
    first = next(lacking, None)
    if first is None:
        return None
    found = HashBits()
    found.add(first)
    found.update(lacking)
    return found


def _settled_any(session: Session, new: int) -> bool:
    """Whether the ledger has settled part `new` for anyone (a run of it stopped part-way)."""
    counts = session.ledger.counts(new)
    return any(counts.get(status) for status in SETTLED)


def as_of(reader: Reader, settled: frozenset[int], new: int | None) -> Reader:
    """A front reader as a plan of part `new` counts them: one the ledger has settled it
    for has it (`ListedReaders.pairs`'s `settled`)."""
    return Reader(reader.key, reader.joined, frozenset({new})) if new in settled else reader


def _is_active(row: dict[str, str]) -> bool:
    try:
        return subscribers.parse_row(row).status is SubscriberStatus.ACTIVE
    except ValueError:
        return False


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
    given, at = slot_inputs(
        session, drafts, new, upcoming=upcoming, sent=after.front_parts if after else ()
    )
    how = mode(session)
    if not count_front and (given.part_one is None or how == CURRENT):
        return SlotPlan(new, {}, 0, 0, 0, counted=False), given

    def plan(listed: Iterable[Reader], late: MutableMapping[str, int | None]) -> SlotPlan:
        planner = _planner(how, given, at, new, late)
        for reader in listed:
            planner.add(reader)
        return planner.plan()

    for _ in range(3):
        late = LateParts()
        try:
            listed = readers(session, new, given.part_one, late, given.latest, given.slot)
            if after is not None:
                listed = once_sent(listed, after, given.part_one, how)
            return plan(listed, late), given
        except ListChanged:
            continue  # rewritten mid-plan (an import, a sync): plan again from the new file
        except SeriespubError:
            return plan((), {}), given  # an unreadable list: nobody (check and send say why)
    raise kept_changing()


Planned = tuple[SlotPlan, Inputs]  # a slot's plan and what it was planned from


def idle_plans(session: Session, drafts: DraftSet) -> tuple[Planned, Planned]:
    """`slot_plan` with no new part and count_front=False at the current slot and at the
    next (`upcoming`), from one pass over the list: what an idle `send due` asks after the
    front's last part (whose turn is it now, and whose next). Each plan is the one
    `slot_plan` makes; the second reads a reader differently only when they caught up on
    their track in one of the two slots (`ListedReaders.twins`)."""
    given, at = slot_inputs(session, drafts, None, upcoming=False, sent=())
    then, then_at = slot_inputs(session, drafts, None, upcoming=True, sent=())
    how = mode(session)
    if given.part_one != then.part_one or given.latest != then.latest:  # read alike, or:
        return slot_plan(session, drafts, None, count_front=False), slot_plan(
            session, drafts, None, upcoming=True, count_front=False
        )
    if given.part_one is None or how == CURRENT:  # nobody can be a late joiner: no pass
        return (SlotPlan(None, {}, 0, 0, 0, counted=False), given), (
            SlotPlan(None, {}, 0, 0, 0, counted=False),
            then,
        )
    for _ in range(3):
        now, later = _planner(how, given, at), _planner(how, then, then_at)
        listed = ListedReaders(
            session,
            None,
            given.part_one,
            now.late,
            given.latest,
            slot=given.slot,
            also_caught_up=caught_up_in_slot(session, then.latest, then.slot),
        )
        try:
            for reader, twin in listed.twins():
                now.add(reader)
                later.add(twin)
        except ListChanged:
            continue  # rewritten mid-plan (an import, a sync): plan again from the new file
        except SeriespubError:  # an unreadable list: nobody (check and send say why)
            now, later = _planner(how, given, at), _planner(how, then, then_at)
        return (now.plan(), given), (later.plan(), then)
    raise kept_changing()


def _planner(
    how: str,
    given: Inputs,
    at: dt.datetime | None,
    new: int | None = None,
    late: MutableMapping[str, int | None] | None = None,
) -> SlotPlanner:
    """An empty plan of part `new` (None: no new part) at slot `at`, from `given`; its late
    joiners kept in `late` (default: a new `LateParts`)."""
    return SlotPlanner(
        released=given.released,
        new=new,
        slot=at,
        part_one=given.part_one,
        mode=how,
        held=given.held,
        late=LateParts() if late is None else late,
        fresh=given.fresh,
    )


def kept_changing() -> ListChanged:
    return ListChanged(
        "subscribers.csv kept changing while planning who gets which part",
        hint="run the command again when nothing else is editing the list",
    )


def slot_inputs(
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


ON_THE_FRONT: Any = object()  # `once_sent`'s: not a late joiner of the round due now


def once_sent(
    listed: Iterable[Reader], due: DueNow, part_one: dt.datetime | None, how: str
) -> Iterator[Reader]:
    """`listed` as the ledger will hold them once `due` went out: the front of `due`'s
    round with its parts, each late joiner with theirs, received now (so one slot later
    they get the next). A reader late by date whom `due` counts on the front (part 1's own
    round, late: everyone gets it) had part 1 with everyone: the front from then on."""
    front_parts = frozenset(due.front_parts)
    for reader in listed:
        part = due.plan.late.get(reader.key, ON_THE_FRONT)
        yield as_sent(reader, part, front_parts, due.at, part_one, how)


def as_sent(
    reader: Reader,
    part: Any,
    front_parts: frozenset[int],
    at: dt.datetime,
    part_one: dt.datetime | None,
    how: str,
) -> Reader:
    """One reader of `once_sent`; `part`: theirs in the round due now, or ON_THE_FRONT."""
    # Built field by field: `dataclasses.replace` costs three times as much, per reader.
    key, joined, returned = reader.key, reader.joined, reader.returned
    if part is ON_THE_FRONT:
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
    for reader in readers(session, None, given.part_one, late, given.latest, given.slot):
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
