"""instalment × active subscribers − ledger → provider, with retries, exactly once.

Order of work for one instalment:
1. settle batches left `pending` by an earlier run (killed or cut off mid-request);
2. refuse to go on while deliveries are `unknown`: the author decides (`send retry --unknown`
   or `send settle --assume-delivered`);
3. stream active subscribers, skip those the ledger has settled, record each batch as
   `pending` *before* its request and its per-recipient results *after* it.

The list is read from a snapshot taken under the list's lock when the plan is made, never
from the live file, which an editor may rewrite in place mid-send. An instalment is marked
finished only when every active reader of that snapshot and of the list as it is at the end
has a settled delivery (sent, failed, scheduled) and no row was skipped as unreadable.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from seriespub import subscribers as subscriber_file
from seriespub.errors import (
    AmbiguousSendError,
    NothingToSend,
    PermanentSendError,
    SendError,
    SeriespubError,
    TransientSendError,
)
from seriespub.ledger import Ledger, UnsettledBatch
from seriespub.listsnapshot import snapshot
from seriespub.message import PreparedMessage
from seriespub.models import (
    DeliveryStatus,
    Instalment,
    Outcome,
    Recipient,
    RecipientResult,
    Subscriber,
    SubscriberStatus,
)
from seriespub.providers.base import Batch, Provider
from seriespub.retry import RateLimiter, RetryPolicy, Stopped, send_with_retries
from seriespub.series import Series
from seriespub.subscribers import ProblemTally, RowProblem

# Who a run sends to when it is not limited to certain ledger statuses: nobody the ledger
# has settled (sent, failed, scheduled) or is unsure about (pending, unknown).
RESENDABLE = frozenset({DeliveryStatus.DEFERRED, DeliveryStatus.CANCELLED})
SETTLED = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SCHEDULED})


class ProgressSink(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, sent: int, failed: int) -> None: ...


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, sent: int, failed: int) -> None:
        pass


@dataclass(frozen=True)
class SendPlan:
    """What a send would do, computed before anything is sent."""

    instalment: Instalment
    message: PreparedMessage
    provider: str
    active: int                # active subscribers in the list
    to_send: int               # of those, how many this run will send to
    done: int                  # already settled in the ledger
    unknown: int               # outcome unknown: blocks the run until settled
    pending: int               # left pending by an interrupted run: settled first
    send_at: dt.datetime | None = None
    only: frozenset[DeliveryStatus] | None = None
    invalid: int = 0                              # rows of the list that cannot be read
    invalid_rows: tuple[RowProblem, ...] = ()     # the first few of them
    limit: int | None = None                      # `--limit`: at most this many this run
    waiting: int = 0                              # readers still owed it (to_send unlimited)

    @property
    def left(self) -> int:
        """Readers this run leaves for the next one because of `limit`."""
        return self.waiting - self.to_send

    @property
    def resends_unknown(self) -> bool:
        """The author chose to resend deliveries of unknown outcome (`retry --unknown`)."""
        return self.only is not None and DeliveryStatus.UNKNOWN in self.only


@dataclass
class SendReport:
    number: int
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    unknown: int = 0
    scheduled: int = 0
    settled: int = 0                   # pending deliveries from an earlier run, now settled
    interrupted: bool = False
    stop_signal: int | None = None     # the signal that asked the run to stop (set by the CLI)
    stopped_by: SendError | None = None
    finished: bool = False
    status_changes: dict[str, SubscriberStatus] = field(default_factory=dict)
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


def choose_next(instalments: Iterable[Instalment], ledger: Ledger) -> Instalment:
    """The lowest-numbered instalment that has not finished going out."""
    records = ledger.instalment_records()
    for instalment in instalments:
        record = records.get(instalment.number)
        if record is None or record.finished_at is None:
            return instalment
    raise NothingToSend("every instalment has been delivered; write the next one with: "
                        "seriespub new \"Title\"")


class Sender:
    """Runs sends for one series through one provider; the CLI makes one per command."""

    def __init__(self, series: Series, ledger: Ledger, provider: Provider, *,
                 progress: ProgressSink | None = None, stop: threading.Event | None = None,
                 clock: type[dt.datetime] = dt.datetime, snapshot: bool = True) -> None:
        self.series = series
        # snapshot=False (a dry run) reads the live list and writes nothing.
        self.use_snapshot = snapshot
        self.list_path = series.subscribers_path
        self.ledger = ledger
        self.provider = provider
        self.progress = progress or _NoProgress()
        self.stop = stop or threading.Event()
        self.clock = clock
        delivery = series.settings.delivery
        self.batch_size = min(delivery.batch_size or provider.max_batch, provider.max_batch)
        self.concurrency = delivery.concurrency or provider.concurrency
        self.policy = RetryPolicy(max_seconds=delivery.max_retry_seconds)
        self.limiter = RateLimiter(delivery.max_rate)

    # -- planning ------------------------------------------------------------------------
    def plan(self, instalment: Instalment, message: PreparedMessage, *,
             only: frozenset[DeliveryStatus] | None = None,
             send_at: dt.datetime | None = None, limit: int | None = None) -> SendPlan:
        """What a run would do; with `limit`, it sends to at most that many readers (the
        first in list order) and the instalment stays open for the rest."""
        counts = self.ledger.counts(instalment.number)
        self.list_path = self._take_snapshot()
        invalid = ProblemTally()
        active = to_send = 0
        for chunk in _chunks(self._active(invalid), 500):
            active += len(chunk)
            # A first send has nothing in the ledger to look up (duplicate addresses, which
            # `check` reports, are still sent once: the ledger sees them while sending).
            to_send += len(chunk) if not counts and only is None else len(
                self._wanted(instalment.number, chunk, only))
        done = sum(counts.get(s, 0) for s in (DeliveryStatus.SENT, DeliveryStatus.FAILED,
                                              DeliveryStatus.SCHEDULED))
        waiting, to_send = to_send, to_send if limit is None else min(to_send, limit)
        return SendPlan(instalment, message, self.provider.name, active, to_send, done,
                        counts.get(DeliveryStatus.UNKNOWN, 0),
                        counts.get(DeliveryStatus.PENDING, 0), send_at, only, invalid.count,
                        tuple(invalid.first), limit, waiting)

    def _active(self, problems: ProblemTally | None = None,
                path: Path | None = None) -> Iterator[Subscriber]:
        """Active readers of the run's snapshot (or `path`); errors name the author's file."""
        return subscriber_file.active(path or self.list_path, problems,
                                      shown=self.series.subscribers_path)

    def _take_snapshot(self) -> Path:
        live = self.series.subscribers_path
        return snapshot(live) if self.use_snapshot else live

    def _wanted(self, number: int, chunk: list[Subscriber],
                only: frozenset[DeliveryStatus] | None) -> list[Subscriber]:
        statuses = self.ledger.statuses(number, [s.email for s in chunk])
        seen: set[str] = set()
        wanted = []
        for s in chunk:
            status = statuses.get(s.key)
            ok = (status in only) if only is not None else (status is None or status in RESENDABLE)
            if ok and s.key not in seen:
                seen.add(s.key)
                wanted.append(s)
        return wanted

    # -- running -------------------------------------------------------------------------
    def run(self, plan: SendPlan) -> SendReport:
        """Send `plan`; returns what happened. Never raises for a provider failure."""
        started = time.monotonic()
        report = SendReport(plan.instalment.number)
        self.settle_pending(plan.instalment.number, plan.message, report)
        unknown = self.ledger.counts(plan.instalment.number).get(DeliveryStatus.UNKNOWN, 0)
        if unknown and not plan.resends_unknown:
            report.unknown = unknown
            return report
        try:
            self.provider.open()      # a server that never answers leaves nothing pending
        except SendError as exc:
            report.stopped_by = exc
            return report
        self.ledger.mark_started(plan.instalment.number, plan.instalment.title,
                                 plan.instalment.subject, plan.send_at or self._now())
        self.progress.start(plan.to_send)
        self._send_all(plan, report)
        report.finished = self._finish_if_complete(plan, report)
        report.elapsed = time.monotonic() - started
        return report

    def _send_all(self, plan: SendPlan, report: SendReport) -> None:
        inflight: dict[cf.Future[list[RecipientResult]], Batch] = {}
        pool = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="send")
        try:
            for batch in self._batches(plan):
                if self.stop.is_set() or report.stopped_by is not None:
                    break
                self.ledger.begin_batch(plan.instalment.number, batch.key, self.provider.name,
                                        [r.email for r in batch.recipients], batch.send_at)
                inflight[pool.submit(send_with_retries, self.provider, batch, self.policy,
                                     self.limiter, self.stop)] = batch
                # No batch waits in the pool: one recorded `pending` but queued behind busy
                # workers would, after a kill, be `unknown` though it never went out.
                while len(inflight) >= self.concurrency:
                    self._collect(inflight, report)
            while inflight:
                self._collect(inflight, report)
        except KeyboardInterrupt:
            # Ctrl-C raised here (the caller did not turn it into `stop`): send nothing new,
            # record every batch still in flight. A batch whose bookkeeping the interrupt cut
            # short stays `pending` and is settled by the next run.
            self.stop.set()
            while inflight:
                self._collect(inflight, report)
        finally:
            pool.shutdown(wait=True)
        report.interrupted = self.stop.is_set()

    def _batches(self, plan: SendPlan) -> Iterator[Batch]:
        number, room = plan.instalment.number, plan.limit
        for chunk in _chunks(self._active(), self.batch_size):
            wanted = self._wanted(number, chunk, plan.only)
            if room is not None:
                wanted, room = wanted[:room], room - len(wanted[:room])
            if wanted:
                recipients = [plan.message.recipient(s) for s in wanted]
                yield Batch(f"{number:03d}-{uuid.uuid4().hex[:20]}", plan.message, recipients,
                            plan.send_at)
            if room == 0:
                return

    def _collect(self, inflight: dict[cf.Future[list[RecipientResult]], Batch],
                 report: SendReport) -> None:
        done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
        for future in done:
            batch = inflight.pop(future)
            try:
                results = future.result()
            except Exception as exc:  # typed outcomes below; anything else is a bug
                results = self._after_failure(batch, exc, report)
            if results:
                self._record_or_settle(batch, results, report)

    def _record_or_settle(self, batch: Batch, results: list[RecipientResult],
                          report: SendReport) -> None:
        """Record what the provider knows; ask it again about what may have gone out."""
        doubtful = {r.email.lower(): r.reason for r in results if r.outcome is Outcome.UNKNOWN}
        known = [r for r in results if r.outcome is not Outcome.UNKNOWN]
        if known:
            self._record(batch, known, report)
        if doubtful:
            rest = [r for r in batch.recipients if r.email.lower() in doubtful]
            reason = next(iter(doubtful.values()))
            in_doubt = Batch(batch.key, batch.message, rest, batch.send_at, batch.test)
            settled = self._settle_doubtful(in_doubt, reason, report)
            if settled:
                self._record(batch, settled, report)

    def _after_failure(self, batch: Batch, exc: BaseException,
                       report: SendReport) -> list[RecipientResult]:
        number, emails = batch.message.number, [r.email for r in batch.recipients]
        if isinstance(exc, Stopped):
            self.ledger.set_status(number, emails, DeliveryStatus.DEFERRED, "interrupted")
            report.deferred += len(emails)
        elif isinstance(exc, AmbiguousSendError):
            return self._after_ambiguous(batch, exc, report)
        elif isinstance(exc, TransientSendError | PermanentSendError):
            # The whole request was refused: nobody got it, so nobody is marked failed.
            self.ledger.set_status(number, emails, DeliveryStatus.DEFERRED, exc.reason)
            report.deferred += len(emails)
            report.stopped_by = report.stopped_by or exc
        else:
            raise exc
        return []

    def _after_ambiguous(self, batch: Batch, exc: AmbiguousSendError,
                         report: SendReport) -> list[RecipientResult]:
        return self._settle_doubtful(batch, exc.reason, report)

    def _settle_doubtful(self, batch: Batch, reason: str,
                         report: SendReport) -> list[RecipientResult]:
        """What became of `batch`, whose request may have gone out: the provider's answer,
        or [] when it cannot tell (recorded `unknown`) or the run was asked to stop while
        waiting (left `pending` for the next run)."""
        settled = self._try_settle(batch, dt.timedelta(0))
        if settled is None and self.stop.is_set() and self.provider.can_settle:
            return []
        if settled is None:
            self.ledger.set_status(batch.message.number, [r.email for r in batch.recipients],
                                   DeliveryStatus.UNKNOWN, reason)
            report.unknown += len(batch.recipients)
            return []
        return settled

    def _try_settle(self, batch: Batch, age: dt.timedelta | None,
                    ) -> list[RecipientResult] | None:
        """Ask the provider what became of a batch whose request went out `age` ago, once it
        can know (`settle_after`; None: long enough ago).

        None when it cannot tell, or when the run was asked to stop while waiting.
        """
        if not self.provider.can_settle:
            return None
        if age is not None:
            wait = (self.provider.settle_after - age).total_seconds()
            if wait > 0 and self.stop.wait(wait):
                return None
        try:
            return self.provider.settle(batch)
        except SendError:
            return None

    def _record(self, batch: Batch, results: list[RecipientResult], report: SendReport,
                ) -> None:
        scheduled = batch.send_at is not None
        self.ledger.record_results(batch.message.number, batch.key, results, scheduled)
        sent = failed = 0
        for r in results:
            if r.outcome is Outcome.SENT:
                sent += 1
            elif r.outcome is Outcome.FAILED:
                failed += 1
                report.failures.append(r)
                if r.new_status is not None:
                    report.status_changes[r.email.lower()] = r.new_status
            elif r.outcome is Outcome.UNKNOWN:
                report.unknown += 1
            else:
                report.deferred += 1
        if scheduled:
            report.scheduled += sent
        else:
            report.sent += sent
        report.failed += failed
        self.progress.advance(sent, failed)

    # -- settling and finishing --------------------------------------------------------------
    def settle_pending(self, number: int, message: PreparedMessage, report: SendReport) -> None:
        """Settle deliveries an earlier run left `pending` (it stopped mid-request).

        Waits at most one `settle_after` in all, whatever the wall clock does (see `_age`).
        Asked to stop, it leaves the rest `pending` for the next run.
        """
        start, clock = self._now(), time.monotonic()
        for unsettled in self.ledger.unsettled_batches(number):
            if self.stop.is_set():
                return
            batch = self._rebuild(unsettled, message)
            results = (self._try_settle(batch, _age(unsettled.created_at, start, clock))
                       if self._still_settleable(unsettled) else None)
            if results is None and self.stop.is_set() and self.provider.can_settle:
                return
            if results is None:
                self.ledger.set_status(number, unsettled.emails, DeliveryStatus.UNKNOWN,
                                       "the run stopped before the provider answered")
                continue
            scheduled = unsettled.send_at is not None
            self.ledger.record_results(number, unsettled.key, results, scheduled)
            report.settled += sum(r.outcome is not Outcome.TRANSIENT for r in results)

    def _still_settleable(self, unsettled: UnsettledBatch) -> bool:
        """Within the provider's window (a request time in the future counts as now)."""
        window = self.provider.settle_within
        if window is None or unsettled.created_at is None:
            return True
        return self._now() - unsettled.created_at < window

    def _rebuild(self, unsettled: UnsettledBatch, message: PreparedMessage) -> Batch:
        wanted = {e.lower() for e in unsettled.emails}
        found: dict[str, Recipient] = {}
        for s in subscriber_file.iter_subscribers(self.list_path,
                                                  shown=self.series.subscribers_path):
            if s.key in wanted and s.key not in found:
                found[s.key] = message.recipient(s)
        recipients = [found.get(e.lower()) or message.recipient(Subscriber(e))
                      for e in unsettled.emails]
        return Batch(unsettled.key, message, recipients, unsettled.send_at)

    def _finish_if_complete(self, plan: SendPlan, report: SendReport) -> bool:
        # Only a run over the whole list can tell that nobody is missing: `send retry`
        # reaches only the readers the ledger already knows.
        if report.interrupted or report.stopped_by is not None or plan.only is not None:
            return False
        return self.finish_if_complete(plan)

    def finish_if_complete(self, plan: SendPlan) -> bool:
        """Mark a whole-list plan's instalment finished when no delivery is left open.

        Also for a plan with nothing to send: after `send settle` decided the last unknown
        deliveries, the instalment is complete without another send. Never while a row of
        the list was skipped as unreadable: that reader is still owed it.
        """
        if plan.only is not None or plan.invalid:
            return False
        counts = self.ledger.counts(plan.instalment.number)
        open_ = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN)
        if any(counts.get(s, 0) for s in open_):
            return False
        if not self._everyone_settled(plan.instalment.number):
            return False
        self.ledger.mark_finished(plan.instalment.number, self._now())
        return True

    def _everyone_settled(self, number: int) -> bool:
        """Every active reader of the run's list, and of the list as it is now (edited during
        the send?), has a settled delivery; a list that cannot be read now settles nothing."""
        try:
            return (self._settled_in(self.list_path, number)
                    and self._settled_in(self._take_snapshot(), number))
        except SeriespubError:
            return False

    def _settled_in(self, path: Path, number: int) -> bool:
        problems = ProblemTally()
        for chunk in _chunks(self._active(problems, path), 500):
            statuses = self.ledger.statuses(number, [s.email for s in chunk])
            if any(statuses.get(s.key) not in SETTLED for s in chunk):
                return False
        return not problems.count

    def _now(self) -> dt.datetime:
        return self.clock.now(dt.UTC)


def _age(created_at: dt.datetime | None, start: dt.datetime, clock: float,
         ) -> dt.timedelta | None:
    """How long ago a request recorded at `created_at` went out: by the wall clock at `start`
    (a time in the future, written before the clock stepped back, counts as `start`), plus
    the monotonic time since `start`, which no change of the clock moves."""
    if created_at is None:
        return None
    return max(dt.timedelta(0), start - created_at) + dt.timedelta(
        seconds=time.monotonic() - clock)


def _chunks(items: Iterable[Subscriber], size: int) -> Iterator[list[Subscriber]]:
    chunk: list[Subscriber] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def assume_delivered(ledger: Ledger, number: int) -> int:
    """The author's decision for unknown deliveries: count them as delivered."""
    return ledger.change_status(number, DeliveryStatus.UNKNOWN, DeliveryStatus.SENT)
