"""Settling: what became of requests whose answer was lost, and finishing an instalment.

Deliveries left `pending` by an earlier run (killed or cut off mid-request) are settled with
the provider before anything else is sent, waiting at most one `settle_after` in all whatever
the wall clock does; what the provider cannot tell becomes `unknown`, for the author to decide
(`assume_delivered`, or a resend). An instalment is marked finished only when none of its
deliveries is open and every active reader of the run's snapshot and of the list as it is at
the end has a settled delivery; `send retry` and `send settle` apply the same rule, so the
one that decides the last open delivery finishes the part.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seriespub import subscribers as subscriber_file
from seriespub.errors import (
    SendError,
    SeriespubError,
)
from seriespub.ledger import Ledger, UnsettledBatch
from seriespub.message import PreparedMessage
from seriespub.models import (
    SETTLED,
    DeliveryStatus,
    Outcome,
    Recipient,
    RecipientResult,
    Subscriber,
)
from seriespub.providers import SPECS
from seriespub.providers.base import Batch, split_route
from seriespub.sending.plan import Planner, SendPlan, SendReport
from seriespub.series import Series
from seriespub.subscribers import ProblemTally, chunks, signature

# A delivery left open: the part is not finished while any of its deliveries is one of these.
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN)


class Settler(Planner):
    """Asks the provider about doubtful deliveries and decides when a part is finished."""

    # Batch key → the provider's answer when asked about it failed (see `_why_unknown`).
    settle_errors: dict[str, SendError]
    # Readers of pending batches the provider says never went out (`settle_pending`): the
    # plan counted them as had, and this run sends them with the rest.
    returned: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settle_errors = {}
        self.returned = set()

    def _settle_doubtful(
        self, batch: Batch, reason: str, report: SendReport
    ) -> list[RecipientResult]:
        """What became of `batch`, whose request may have gone out: the provider's answer,
        or [] when it cannot tell (recorded `unknown`) or the run was asked to stop while
        waiting (left `pending` for the next run)."""
        settled = self._try_settle(batch, dt.timedelta(0))
        if settled is None and self.stop.is_set() and self.provider.can_settle:
            return []
        if settled is None:
            self.ledger.set_status(
                batch.message.number,
                [r.email for r in batch.recipients],
                DeliveryStatus.UNKNOWN,
                reason,
            )
            report.unknown += len(batch.recipients)
            return []
        return settled

    def _try_settle(
        self,
        batch: Batch,
        age: dt.timedelta | None,
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
        except SendError as exc:
            self.settle_errors[batch.key] = exc  # why it could not tell, for the ledger
            return None

    def settle_pending(self, number: int, message: PreparedMessage, report: SendReport) -> None:
        """Settle deliveries an earlier run left `pending` (it stopped mid-request).

        Waits at most one `settle_after` in all, whatever the wall clock does (see `_age`).
        Asked to stop, it leaves the rest `pending` for the next run.
        """
        start, clock = self._now(), time.monotonic()
        unsettled = self.ledger.unsettled_batches(number)
        # Decided before the list is read: a batch the provider cannot settle (or no longer
        # can, past its window) needs no recipients, and those it can are rebuilt together
        # in one pass over the list (once per batch was quadratic on a big resume).
        askable = {
            u.key
            for u in unsettled
            if self.provider.can_settle and self._ours(u) and self._still_settleable(u)
        }
        batches = self._rebuild([u for u in unsettled if u.key in askable], message)
        for batch_of in unsettled:
            if self.stop.is_set():
                return
            results = (
                self._try_settle(batches[batch_of.key], _age(batch_of.created_at, start, clock))
                if batch_of.key in askable
                else None
            )
            if results is None and self.stop.is_set() and self.provider.can_settle:
                return
            if results is None:
                why = self._why_unknown(batch_of, number)
                self.ledger.set_status(number, batch_of.emails, DeliveryStatus.UNKNOWN, why)
                continue
            scheduled = batch_of.send_at is not None
            self.ledger.record_results(number, batch_of.key, results, scheduled)
            report.settled += sum(r.outcome is not Outcome.TRANSIENT for r in results)
            self.returned.update(r.email.lower() for r in results if r.outcome is Outcome.TRANSIENT)

    def _ours(self, unsettled: UnsettledBatch) -> bool:
        """Sent through this run's provider, along its route: another provider (the series
        switched after a kill), another server or Postmark stream, or another account's
        key, cannot tell what became of it, and its "not found" (or Resend's fresh replay)
        would resend it. Batches recorded without a provider, route or key are taken as
        this run's (ledgers from before they were kept): what both recorded is compared."""
        provider, route = unsettled.provider, unsettled.route
        same_provider = not provider or provider == self.provider.name
        if not same_provider or not route:
            return same_provider
        (place, key), (here, key_now) = split_route(route), split_route(self.provider.route)
        return place == here and (not key or key == key_now)

    def _why_unknown(self, unsettled: UnsettledBatch, number: int) -> str:
        """What the ledger says of a pending batch that could not be settled: why not."""
        if not self._ours(unsettled):
            return self._why_elsewhere(unsettled, number)
        stopped = "the run stopped before the provider answered"
        name, window = self.provider.name, self.provider.settle_within
        if window is not None and not self._still_settleable(unsettled):
            hours = int(window.total_seconds() // 3600)
            return f"{stopped}; {name} can tell only within {hours} h of a request"
        error = self.settle_errors.get(unsettled.key)
        if error is not None:
            return f"{stopped}; asked since, {name} could not tell: {error}"
        return stopped

    def _why_elsewhere(self, unsettled: UnsettledBatch, number: int) -> str:
        """A batch sent through another provider, along another route of this one, or with
        another account's key."""
        name = unsettled.provider
        if name != self.provider.name:
            return (
                f"the run stopped before {name} answered, and this series "
                f"now sends through {self.provider.name}, which cannot tell"
            )
        place, key = split_route(unsettled.route)
        here, key_now = split_route(self.provider.route)
        if place != here:
            return (
                f"the run stopped before {name} answered; it went to {place}, and the "
                f"series now sends to {here}, which cannot tell"
            )
        return (
            f"the run stopped before {name} answered; it was sent with another "
            f"{_credential(name)} (key #{key}) than the one set now (key #{key_now}), which "
            "cannot tell; for a new key of the same account, check who got it in its "
            f"activity, then: seriespub send settle {number} --assume-delivered, or "
            f"seriespub send retry {number} --unknown"
        )

    def _still_settleable(self, unsettled: UnsettledBatch) -> bool:
        """Within the provider's window (a request time in the future counts as now)."""
        window = self.provider.settle_within
        if window is None or unsettled.created_at is None:
            return True
        return self._now() - unsettled.created_at < window

    def _rebuild(
        self,
        unsettled: list[UnsettledBatch],
        message: PreparedMessage,
    ) -> dict[str, Batch]:
        """The batches as they were sent (key → batch), their readers' fields from one pass
        over the list (none when there is nothing to rebuild)."""
        if not unsettled:
            return {}
        wanted = {e.lower() for u in unsettled for e in u.emails}
        found: dict[str, Recipient] = {}
        for s in subscriber_file.where_key(
            self.list_path, wanted.__contains__, shown=self.series.subscribers_path
        ):
            if s.key not in found:
                found[s.key] = message.recipient(s)
        return {
            u.key: Batch(
                u.key,
                message,
                [found.get(e.lower()) or message.recipient(Subscriber(e)) for e in u.emails],
                u.send_at,
                never_elsewhere=u.first_tries,
            )
            for u in unsettled
        }

    def _finish_if_complete(self, plan: SendPlan, report: SendReport) -> bool:
        if report.interrupted or report.stopped_by is not None:
            return False
        # The run's own pass met every reader of its snapshot (unless `--limit` cut it
        # short): each was settled already, sent now, or open in the ledger. `send retry`
        # reaches only the readers the ledger already knows: a pass over the whole snapshot
        # tells whether anyone else is missing.
        return self.finish_if_complete(plan, covered=plan.limit is None and plan.only is None)

    def finish_if_complete(self, plan: SendPlan, *, covered: bool = False) -> bool:
        """Mark a plan's instalment finished when no delivery is left open (`none_open`)
        and every active reader has a settled one.

        Also for a plan with nothing to send: after `send settle` decided the last unknown
        deliveries, the instalment is complete without another send. Never while a row of
        the list was skipped as unreadable: that reader is still owed it. `covered`: a
        whole pass over the snapshot sent to every reader it did not find settled.
        """
        number = plan.instalment.number
        if plan.invalid or not none_open(self.ledger, number):
            return False
        if not self._everyone_settled(number, covered):
            return False
        # A part nobody was owed (every reader left) was never started by a send; a
        # finished part without a start would stay "next" and be planned again forever.
        now = self._now()
        self.ledger.ensure_started(number, plan.instalment.title, plan.instalment.subject, now)
        self.ledger.mark_finished(number, now)
        return True

    def _everyone_settled(self, number: int, covered: bool = False) -> bool:
        """Every active reader of the run's list, and of the list as it is now (edited during
        the send?), has a settled delivery; a list that cannot be read now settles nothing.

        The live list is read again only if it changed since the snapshot: while its
        signature is the one it had when copied, it is exactly the snapshot."""
        try:
            if not covered and not self._settled_in(self.list_path, number):
                return False
            live = self.series.subscribers_path
            if self.list_signature is not None and signature(live) == self.list_signature:
                return True
            return self._settled_in(self._take_snapshot(), number)
        except SeriespubError:
            return False

    def _settled_in(self, path: Path, number: int) -> bool:
        problems = ProblemTally()
        return all_settled(self.ledger, number, self._active(problems, path), problems)


def _credential(provider: str) -> str:
    """What the author sets to choose the provider's account (POSTMARK_SERVER_TOKEN)."""
    spec = SPECS.get(provider)
    return spec.required_secrets[0] if spec and spec.required_secrets else f"{provider} key"


def none_open(ledger: Ledger, number: int) -> bool:
    """No delivery of part `number` is pending, deferred or of unknown outcome."""
    counts = ledger.counts(number)
    return not any(counts.get(s, 0) for s in OPEN)


def all_settled(
    ledger: Ledger, number: int, readers: Iterable[Subscriber], problems: ProblemTally
) -> bool:
    """Every one of `readers` has a settled delivery of part `number`, and no row was
    unreadable (`problems`, filled as `readers` is read): that reader is still owed it."""
    for chunk in chunks(readers, 500):
        statuses = ledger.statuses(number, [s.email for s in chunk])
        if any(statuses.get(s.key) not in SETTLED for s in chunk):
            return False
    return not problems.count


def finish_if_settled(series: Series, ledger: Ledger, number: int, now: dt.datetime) -> bool:
    """After `send settle` decided part `number`'s last open deliveries: mark it finished
    by the rule a send uses (`Settler.finish_if_complete`), over the list as it is now.
    A part never started, or already finished, is left as it is."""
    record = ledger.instalment_records().get(number)
    if record is None or record.started_at is None or record.finished_at is not None:
        return False
    if not none_open(ledger, number):
        return False
    problems = ProblemTally()
    try:
        readers = subscriber_file.active(series.subscribers_path, problems)
        if not all_settled(ledger, number, readers, problems):
            return False
    except SeriespubError:  # a list that cannot be read settles nothing
        return False
    ledger.mark_finished(number, now)
    return True


def _age(
    created_at: dt.datetime | None,
    start: dt.datetime,
    clock: float,
) -> dt.timedelta | None:
    """How long ago a request recorded at `created_at` went out: by the wall clock at `start`
    (a time in the future, written before the clock stepped back, counts as `start`), plus
    the monotonic time since `start`, which no change of the clock moves."""
    if created_at is None:
        return None
    return max(dt.timedelta(0), start - created_at) + dt.timedelta(seconds=time.monotonic() - clock)


def assume_delivered(ledger: Ledger, number: int) -> int:
    """The author's decision for unknown deliveries: count them as delivered."""
    return ledger.change_status(number, DeliveryStatus.UNKNOWN, DeliveryStatus.SENT)
