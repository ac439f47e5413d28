"""Running a plan: batches to the provider, the ledger before and after each request.

Order of work for one instalment:
1. settle batches left `pending` by an earlier run (sending.settle);
2. refuse to go on while deliveries are `unknown`: the author decides;
3. stream the plan's readers, skip those the ledger has settled, record each batch as
   `pending` *before* its request and its per-recipient results *after* it. A result
   `Outcome.UNKNOWN` (the request may have gone out) is settled with the provider at once,
   or recorded `unknown`.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Iterator

from seriespub.errors import (
    AmbiguousSendError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from seriespub.models import (
    DeliveryStatus,
    Instalment,
    Outcome,
    RecipientResult,
)
from seriespub.providers.base import Batch
from seriespub.retry import Stopped, send_with_retries
from seriespub.sending.plan import SHOWN_FAILURES, SendPlan, SendReport
from seriespub.sending.settle import Settler
from seriespub.subscribers import chunks


class Sender(Settler):
    """Runs sends for one series through one provider; `ops.send` makes one per instalment."""

    # Another part this run's first batch also releases, and when: a round's front part,
    # started by whichever of the round's runs sends first (`ops.send`).
    also_starts: tuple[Instalment, dt.datetime] | None = None

    def run(self, plan: SendPlan) -> SendReport:
        """Send `plan`; returns what happened. Never raises for a provider failure."""
        started = time.monotonic()
        plan = self._with_kept_series_id(plan)
        report = SendReport(plan.instalment.number, send_at=plan.send_at)
        self.settle_pending(plan.instalment.number, plan.message, report)
        unknown = self.ledger.counts(plan.instalment.number).get(DeliveryStatus.UNKNOWN, 0)
        if unknown and not plan.resends_unknown:
            report.unknown = unknown
            return report
        try:
            self.provider.open()  # a server that never answers leaves nothing pending
        except SendError as exc:
            report.stopped_by = exc
            return report
        # A run that sends moves the part's start earlier (a copy held for later, then the
        # rest sent now: readers have it from now); one with nothing to send does not.
        start = self.ledger.mark_started if self._total(plan) else self.ledger.ensure_started
        start(
            plan.instalment.number,
            plan.instalment.title,
            plan.instalment.subject,
            plan.send_at or self._now(),
        )
        if self.also_starts is not None:
            part, when = self.also_starts
            self.ledger.mark_started(part.number, part.title, part.subject, when)
        self.progress.start(self._total(plan), plan.send_at)
        self._send_all(plan, report)
        report.finished = self._finish_if_complete(plan, report)
        report.elapsed = time.monotonic() - started
        return report

    def _total(self, plan: SendPlan) -> int:
        """What the progress counts to: the plan's readers, and those a stopped run's pending
        batch turned out not to have reached (the plan counted them as had), within `--limit`."""
        total = plan.to_send + len(self.returned)
        return total if plan.limit is None else min(total, plan.limit)

    def _with_kept_series_id(self, plan: SendPlan) -> SendPlan:
        """`plan` sending with the delivery ids of the series' first send. They derive from
        the key, title and sender as they were then: a resume that settles a killed run's
        batches after the author edited one of them must ask about the ids that went out
        (and a resend keep them), or the provider finds nothing and the batch goes twice."""
        kept = self.ledger.series_id()
        if kept is None:
            self.ledger.record_series_id(plan.message.series_id)
            return plan
        if kept == plan.message.series_id:
            return plan
        return dataclasses.replace(plan, message=plan.message.with_series_id(kept))

    def _finish_if_complete(self, plan: SendPlan, report: SendReport) -> bool:
        # A late joiners' run (seriespub.tracks) sends a part the front already has: its
        # record (started, finished) is the front's, and stays as it is.
        return self.may_finish and super()._finish_if_complete(plan, report)

    def _send_all(self, plan: SendPlan, report: SendReport) -> None:
        inflight: dict[cf.Future[list[RecipientResult]], Batch] = {}
        pool = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="send")
        try:
            for batch in self._batches(plan, report):
                # The next batch is built while the workers are busy; it is recorded
                # `pending` and submitted only when one is free. No batch waits in the
                # pool: one recorded `pending` but queued behind busy workers would, after
                # a kill, be `unknown` though it never went out.
                while len(inflight) >= self.concurrency:
                    self._collect(inflight, report)
                if self.stop.is_set() or report.stopped_by is not None:
                    break
                self.ledger.begin_batch(
                    plan.instalment.number,
                    batch.key,
                    self.provider.name,
                    [r.email for r in batch.recipients],
                    batch.send_at,
                    self.provider.route,
                )
                inflight[
                    pool.submit(
                        send_with_retries,
                        self.provider,
                        batch,
                        self.policy,
                        self.limiter,
                        self.stop,
                    )
                ] = batch
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

    def _batches(self, plan: SendPlan, report: SendReport) -> Iterator[Batch]:
        number, room = plan.instalment.number, plan.limit
        for chunk in chunks(self._active(), self.batch_size):
            wanted = self._wanted(number, chunk, plan.only)
            if room is not None:
                wanted, room = wanted[:room], room - len(wanted[:room])
            if self.returned:
                report.resent += sum(s.key in self.returned for s in wanted)
            if wanted:
                recipients = [plan.message.recipient(s) for s in wanted]
                yield Batch(
                    f"{number:03d}-{uuid.uuid4().hex[:20]}", plan.message, recipients, plan.send_at
                )
            if room == 0:
                return

    def _collect(
        self, inflight: dict[cf.Future[list[RecipientResult]], Batch], report: SendReport
    ) -> None:
        done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
        for future in done:
            batch = inflight.pop(future)
            try:
                results = future.result()
            except Exception as exc:  # typed outcomes below; anything else is a bug
                results = self._after_failure(batch, exc, report)
            if results:
                self._record_or_settle(batch, results, report)

    def _record_or_settle(
        self, batch: Batch, results: list[RecipientResult], report: SendReport
    ) -> None:
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

    def _after_failure(
        self, batch: Batch, exc: BaseException, report: SendReport
    ) -> list[RecipientResult]:
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

    def _after_ambiguous(
        self, batch: Batch, exc: AmbiguousSendError, report: SendReport
    ) -> list[RecipientResult]:
        return self._settle_doubtful(batch, exc.reason, report)

    def _record(
        self,
        batch: Batch,
        results: list[RecipientResult],
        report: SendReport,
    ) -> None:
        scheduled = batch.send_at is not None
        self.ledger.record_results(batch.message.number, batch.key, results, scheduled)
        sent = failed = 0
        for r in results:
            if r.outcome is Outcome.SENT:
                sent += 1
            elif r.outcome is Outcome.FAILED:
                failed += 1
                if len(report.failures) < SHOWN_FAILURES:
                    report.failures.append(r)
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
