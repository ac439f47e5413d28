"""Planning a send: who is owed an instalment, counted before anything is sent.

A plan reads the subscriber list from a snapshot taken under the list's lock (never the live
file, which an editor may rewrite mid-send) and the ledger; it changes nothing but the
snapshot. A run that never finishes its part (a round's late joiners) may instead read only
its readers' rows, picked out of such a snapshot by an earlier pass (`Picked`). `SendPlan`
and `SendReport` are the plain data a run starts from and ends with.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from seriespub import subscribers as subscriber_file
from seriespub.errors import (
    InputError,
    NothingToSend,
    SendError,
)
from seriespub.ledger import InstalmentRecord, Ledger
from seriespub.listsnapshot import snapshot_of
from seriespub.message import PreparedMessage
from seriespub.models import (
    DeliveryStatus,
    Instalment,
    RecipientResult,
    Subscriber,
)
from seriespub.pathtext import shown
from seriespub.providers.base import Provider
from seriespub.retry import RateLimiter, RetryPolicy
from seriespub.series import Series
from seriespub.subscribers import ProblemTally, RowProblem, Signature, chunks

_T = TypeVar("_T")
Readers = Literal["all", "front", "late"]  # whose readers a plan counts (`SendPlan.readers`)

# Who a run sends to when it is not limited to certain ledger statuses: nobody the ledger
# has settled (sent, failed, scheduled) or is unsure about (pending, unknown).
RESENDABLE = frozenset({DeliveryStatus.DEFERRED, DeliveryStatus.CANCELLED})


class ProgressSink(Protocol):
    # `send_at`: the provider holds the run's mail until then (advance's `sent`: scheduled).
    def start(self, total: int, send_at: dt.datetime | None = None) -> None: ...
    def advance(self, sent: int, failed: int) -> None: ...


class _NoProgress:
    def start(self, total: int, send_at: dt.datetime | None = None) -> None:
        pass

    def advance(self, sent: int, failed: int) -> None:
        pass


@dataclass(frozen=True)
class SendPlan:
    """What a send would do, computed before anything is sent."""

    instalment: Instalment
    message: PreparedMessage
    provider: str
    active: int  # active subscribers in the list
    to_send: int  # of those, how many this run will send to
    done: int  # already settled in the ledger
    unknown: int  # outcome unknown: blocks the run until settled
    pending: int  # left pending by an interrupted run: settled first
    send_at: dt.datetime | None = None
    only: frozenset[DeliveryStatus] | None = None
    invalid: int = 0  # rows of the list that cannot be read
    invalid_rows: tuple[RowProblem, ...] = ()  # the first few of them
    limit: int | None = None  # `--limit`: at most this many this run
    waiting: int = 0  # readers still owed it (to_send unlimited)
    # Active readers of the run left out because the provider suppresses them (not yet
    # written to the list: that happens once the author says yes); not in `active`.
    suppressed: int = 0
    # Whose readers `active` counts: the whole list ("all"), or in a round of several runs
    # (seriespub.tracks) the front's ("front") or the late joiners' catching up ("late").
    readers: Readers = "all"

    @property
    def left(self) -> int:
        """Readers this run leaves for the next one because of `limit`."""
        return self.waiting - self.to_send

    @property
    def resends_unknown(self) -> bool:
        """The author chose to resend deliveries of unknown outcome (`retry --unknown`)."""
        return self.only is not None and DeliveryStatus.UNKNOWN in self.only


# The refusals a report names (the CLI prints them); the ledger keeps every one.
SHOWN_FAILURES = 10


@dataclass
class SendReport:
    number: int
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    unknown: int = 0
    scheduled: int = 0
    send_at: dt.datetime | None = None  # the provider holds this run's mail until then
    settled: int = 0  # pending deliveries from an earlier run, now settled
    # Readers of an earlier run's pending batch that never went out, sent by this run
    # (counted in `sent` and the rest; the plan had counted them as had).
    resent: int = 0
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that asked the run to stop (set by the CLI)
    stopped_by: SendError | None = None
    finished: bool = False
    # The first SHOWN_FAILURES refusals, to name them: a list with many dead addresses must
    # not hold every one in memory (the ledger keeps them all, and what each means for the
    # reader, for `log N --failed` and the list's write-back).
    failures: list[RecipientResult] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def attempted(self) -> int:
        """Deliveries this run sent, or tried to."""
        return self.sent + self.scheduled + self.failed + self.deferred + self.unknown

    @property
    def refused_all(self) -> bool:
        """The provider refused every delivery this run made, permanently: none went out."""
        return self.failed > 0 and self.failed == self.attempted and not self.settled


@dataclass(frozen=True)
class Picked:
    """A run's readers picked by an earlier pass over a copy of the list (a round's late
    joiners, `laterows.late_rows`), so that the run reads its own rows, not the whole list:
    `rows` holds every row of their addresses in the copy's order, `source` is the whole
    copy (read only to rebuild batches left pending) and `problems` its unreadable rows,
    which the run reports as its own."""

    source: Path
    rows: Path
    problems: ProblemTally


# Deliveries that mean a reader had a part, or may have: a part with any is half sent.
REACHED = (
    DeliveryStatus.SENT,
    DeliveryStatus.SCHEDULED,
    DeliveryStatus.PENDING,
    DeliveryStatus.UNKNOWN,
)


def reached(ledger: Ledger, number: int) -> int:
    """How many readers had part `number`, or may have (pending, unknown)."""
    counts = ledger.counts(number)
    return sum(counts.get(status, 0) for status in REACHED)


# A series with no draft and nothing sent: there is nothing to send, but not because it all
# went out (a new user who moved the example draft aside must not read that).
NO_INSTALMENT_YET = (
    'no instalment yet: drafts/ holds none; write the first with: seriespub new "Title"'
)


def choose_next(instalments: Iterable[Instalment], ledger: Ledger) -> Instalment:
    """The lowest-numbered instalment that has not finished going out.

    Refuses while a half-sent part has no draft (renumbered since): "next" would skip the
    readers still owed it, and send its text again under its new number."""
    instalments = list(instalments)
    records = ledger.instalment_records()
    _require_drafted(ledger, records, {i.number for i in instalments})
    for instalment in instalments:
        record = records.get(instalment.number)
        if record is None or record.finished_at is None:
            return instalment
    if not instalments and not records:
        raise NothingToSend(NO_INSTALMENT_YET)
    raise NothingToSend(
        'every instalment has been delivered; write the next one with: seriespub new "Title"'
    )


def _require_drafted(
    ledger: Ledger, records: dict[int, InstalmentRecord], drafted: set[int]
) -> None:
    """Refuse while a part some reader had (or may have) is unfinished and has no draft."""
    for number, record in sorted(records.items()):
        if number not in drafted and _half_sent(record) and reached(ledger, number):
            raise InputError(
                f'part {number} ("{record.title}") is half sent, but no draft is part {number} now',
                hint=f"give its draft number {number} again (the NN- of its file name, or "
                "'number:' in its front matter) so that the readers still owed it get it "
                "and nobody gets it twice",
            )


def _half_sent(record: InstalmentRecord) -> bool:
    return record.started_at is not None and record.finished_at is None


def require_same_part(ledger: Ledger, instalment: Instalment) -> None:
    """Refuse to go on with a half-sent part whose draft has another title than it went
    out with: another draft may have taken its number (a new part written before it), and
    its readers still owed it would get that one. A retitle cannot be told apart."""
    record = ledger.instalment_records().get(instalment.number)
    if record is None or not _half_sent(record) or record.title in ("", instalment.title):
        return
    had = reached(ledger, instalment.number)
    if not had:
        return
    raise InputError(
        f'part {instalment.number} went out to {had} reader(s) as "{record.title}", but its '
        f'draft is now "{instalment.title}" ({shown(instalment.path)})',
        hint=f'if another draft took number {instalment.number}, give "{record.title}" its '
        "number back; if you retitled it, set its title back until every reader has it, "
        "then change it",
    )


class Planner:
    """The state one send works with, and the plan; `Sender` (sending.run) builds on it."""

    def __init__(
        self,
        series: Series,
        ledger: Ledger,
        provider: Provider,
        *,
        progress: ProgressSink | None = None,
        stop: threading.Event | None = None,
        clock: type[dt.datetime] = dt.datetime,
        snapshot: bool = True,
        who: Callable[[Subscriber], bool] | None = None,
        finish: bool = True,
        picked: Picked | None = None,
        suppressed: frozenset[str] = frozenset(),
    ) -> None:
        self.series = series
        # Keys of readers the provider suppresses: left out of the run, and counted.
        self.suppressed = suppressed
        # Per-reader tracks (seriespub.tracks): this run is for the readers `who` accepts
        # only, and with finish=False (a late joiners' run) it never marks the part finished.
        # `picked`: those readers' rows, already copied out of a snapshot (a round's late
        # joiners): only a run that never finishes may skip the rest of the list.
        if picked is not None and finish:
            raise ValueError("a run of picked readers cannot tell that a part is finished")
        self.who = who
        self.may_finish = finish
        self.picked = picked
        # snapshot=False (a dry run) reads the live list and writes nothing.
        self.use_snapshot = snapshot
        self.list_path = series.subscribers_path
        self.list_signature: Signature = None  # the live list's while it was copied
        # The plan read the run's own copy of the list whole and found every row sound: the
        # send's pass over it skips the checks (subscribers.active, checked=False).
        self.rows_sound = False
        self.repeats: set[int] | None = None  # a first send: hashes that may repeat
        self.handed: set[str] = set()  # of those, the addresses this run put in a batch
        self.ledger = ledger
        self.provider = provider
        self.progress = progress or _NoProgress()
        self.stop = stop or threading.Event()
        self.clock = clock
        delivery = series.settings.delivery
        self.batch_size = min(delivery.batch_size or provider.max_batch, provider.max_batch)
        if delivery.max_rate:
            # No request carries more than a second's worth: a provider's per-second quota
            # counts recipients, and the limiter waits only after a request goes out.
            self.batch_size = min(self.batch_size, max(1, int(delivery.max_rate)))
        self.concurrency = delivery.concurrency or provider.concurrency
        self.policy = RetryPolicy(max_seconds=delivery.max_retry_seconds)
        self.limiter = RateLimiter(delivery.max_rate)

    # -- planning ------------------------------------------------------------------------
    def plan(
        self,
        instalment: Instalment,
        message: PreparedMessage,
        *,
        only: frozenset[DeliveryStatus] | None = None,
        send_at: dt.datetime | None = None,
        limit: int | None = None,
    ) -> SendPlan:
        """What a run would do; with `limit`, it sends to at most that many readers (the
        first in list order) and the instalment stays open for the rest."""
        counts = self.ledger.counts(instalment.number)
        self.rows_sound = False  # until this plan's pass has read its rows with the checks
        self.list_path = self._take_snapshot()
        invalid = ProblemTally()
        active = to_send = 0
        first = not counts and only is None
        repeats = subscriber_file.Repeats() if first else None
        left_out = 0
        if repeats is not None and self.who is None and not self.suppressed:
            # A first send has nothing in the ledger to look up (duplicate addresses, which
            # `check` reports, are still sent once: the ledger sees them while sending), so
            # the pass only counts: keys, no record per reader.
            keys = subscriber_file.active_keys(
                self._rows_path(), invalid, shown=self.series.subscribers_path
            )
            active = to_send = repeats.add(keys)
        else:
            for listed in chunks(self._active(invalid, keep_suppressed=True), 500):
                chunk = self._without_suppressed(listed)
                left_out += len(listed) - len(chunk)
                active += len(chunk)
                if repeats is not None:
                    repeats.add([s.key for s in chunk])
                to_send += (
                    len(chunk) if first else len(self._wanted(instalment.number, chunk, only))
                )
        # Only a copy no one else writes (never the live list a dry run reads).
        self.rows_sound = not invalid.count and (self.use_snapshot or self.picked is not None)
        if self.picked is not None:
            invalid = self.picked.problems  # the copy's: its rows were read before
        self.repeats = repeats.candidates if repeats is not None else None
        self.handed = set()
        done = sum(
            counts.get(s, 0)
            for s in (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SCHEDULED)
        )
        waiting, to_send = to_send, to_send if limit is None else min(to_send, limit)
        return SendPlan(
            instalment,
            message,
            self.provider.name,
            active,
            to_send,
            done,
            counts.get(DeliveryStatus.UNKNOWN, 0),
            counts.get(DeliveryStatus.PENDING, 0),
            send_at,
            only,
            invalid.count,
            tuple(invalid.first),
            limit,
            waiting,
            left_out,
            "late" if not self.may_finish else "front" if self.who is not None else "all",
        )

    def _active(
        self,
        problems: ProblemTally | None = None,
        path: Path | None = None,
        *,
        keep_suppressed: bool = False,
    ) -> Iterator[Subscriber]:
        """Active readers of the run's snapshot, or of its picked rows (or of `path`),
        without those the provider suppresses unless `keep_suppressed` (the plan counts
        them); errors name the author's file."""
        readers = subscriber_file.active(
            path or self._rows_path(),
            problems,
            shown=self.series.subscribers_path,
            checked=path is not None or not self.rows_sound,
        )
        if self.who is not None:
            readers = filter(self.who, readers)
        if self.suppressed and not keep_suppressed:
            readers = filter(lambda s: s.key not in self.suppressed, readers)
        return readers

    def _without_suppressed(self, chunk: list[Subscriber]) -> list[Subscriber]:
        if not self.suppressed:
            return chunk
        return [s for s in chunk if s.key not in self.suppressed]

    def _rows_path(self) -> Path:
        """What this run reads its readers from: its picked rows, else its snapshot."""
        return self.list_path if self.picked is None else self.picked.rows

    def _take_snapshot(self) -> Path:
        live = self.series.subscribers_path
        if self.picked is not None:
            return self.picked.source  # taken once for the round
        if not self.use_snapshot:
            return live
        path, self.list_signature = snapshot_of(live)
        self.rows_sound = False  # a new copy: nobody has read it with the checks yet
        return path

    def _wanted(
        self, number: int, chunk: list[Subscriber], only: frozenset[DeliveryStatus] | None
    ) -> list[Subscriber]:
        keys = [s.key for s in chunk]  # each lower-cased once, not four times
        if self.repeats is not None:
            return self._first_time(chunk, keys, self.repeats)
        statuses = self.ledger.statuses(number, keys)
        seen: set[str] = set()
        wanted = []
        for s, key in zip(chunk, keys, strict=True):
            status = statuses.get(key)
            ok = (status in only) if only is not None else (status is None or status in RESENDABLE)
            if ok and key not in seen:
                seen.add(key)
                wanted.append(s)
        return wanted

    def _first_time(
        self, chunk: list[Subscriber], keys: list[str], repeats: set[int]
    ) -> list[Subscriber]:
        """A first send's readers of `chunk`, each address once in the run. The part had no
        ledger row when planned, so only this run's batches can hold a reader: the run
        remembers the addresses that may repeat (their hash is a `Repeats` candidate, a
        handful) as it hands them out, and never asks the ledger. Asking would be wrong
        while this run's rows are not written yet, and each query from the main thread
        waits for the GIL while the workers send (~3 ms against 15 us alone)."""
        handed = self.handed
        wanted = []
        for s, key in zip(chunk, keys, strict=True):
            if hash(key) in repeats:
                if key in handed:
                    continue
                handed.add(key)
            wanted.append(s)
        return wanted

    def _now(self) -> dt.datetime:
        return self.clock.now(dt.UTC)
