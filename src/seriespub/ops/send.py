"""`seriespub send …` as library calls: next, retry, due, settle, cancel, test, suppression sync.

Each operation takes a `Session` (the lock, the ledger, the provider; see `ops.session`), a
typed options object and `SendHooks` (confirm, progress, stop, and where to show the plan and
notices), and returns a typed outcome. Nothing here prints or exits: the CLI renders outcomes
and turns `SeriespubError`s into one line. A library caller, a cron wrapper or a test sends the
next instalment with `send(session, SendOptions(), SendHooks(confirm=...))`.

Guarantees, on top of `seriespub.sending`'s (exactly once per reader, resumable):
- deliveries of unknown outcome block a send until the author decides (`UnresolvedDeliveries`);
- an instalment found complete (say after `send settle`) is marked finished, and `next` then
  means the one after it;
- what a permanent refusal means for a reader (bounced, complained) is written to
  subscribers.csv as part of the send, from the ledger (`write_back`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from seriespub import publishing, runlog, schedule, subscribers
from seriespub.addresses import is_valid_address
from seriespub.errors import InputError, SendError, SeriespubError, UnresolvedDeliveries
from seriespub.models import DeliveryStatus, Instalment, RecipientResult, Subscriber
from seriespub.ops.session import Session
from seriespub.providers.base import Batch
from seriespub.retry import RateLimiter, RetryPolicy, send_with_retries
from seriespub.schedule import PlannedRelease, format_local, relative
from seriespub.scheduling import calendar, provider_send_time, releases_by_number
from seriespub.sending import (
    ProgressSink,
    Sender,
    SendPlan,
    SendReport,
    assume_delivered,
    choose_next,
)
from seriespub.suppressions import sync_suppressions

__all__ = [
    "DueOutcome",
    "Level",
    "PlannedRelease",
    "ProgressSink",
    "SendHooks",
    "SendOptions",
    "SendOutcome",
    "SendPlan",
    "SendReport",
    "cancel",
    "due",
    "format_local",
    "next_release",
    "relative",
    "retry_statuses",
    "send",
    "send_test",
    "settle",
    "sync",
    "unresolved",
]

Level = Literal["info", "warning", "error"]


def _ignore(*_: object) -> None:
    pass


@dataclass(frozen=True)
class SendOptions:
    """What `send next` and `send retry` were asked to do."""

    ref: str = "next"                                   # next, a number, or a draft file
    dry_run: bool = False
    at: str | None = None                               # let the provider release it then
    only: frozenset[DeliveryStatus] | None = None       # `retry`: resend just these
    skip_invalid: bool = False
    limit: int | None = None                            # at most this many readers this run


def retry_statuses(unknown: bool) -> frozenset[DeliveryStatus]:
    """The deliveries `send retry` resends (with `--unknown`, also those)."""
    only = {DeliveryStatus.DEFERRED, DeliveryStatus.CANCELLED}
    return frozenset(only | ({DeliveryStatus.UNKNOWN} if unknown else set()))


@dataclass
class SendHooks:
    """How an operation talks to its caller; every hook is optional."""

    confirm: Callable[[SendPlan], None] = _ignore       # raise to refuse
    show_plan: Callable[[SendPlan], None] = _ignore
    notice: Callable[[str, Level], None] = _ignore
    sent: Callable[[SendReport], None] = _ignore        # after each instalment's run
    # Entered around each run (not the plan or the prompt): a progress display, signals that
    # set `stop` rather than raise.
    running: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext
    stop_signal: Callable[[], int | None] = lambda: None    # which signal set `stop`
    progress: ProgressSink | None = None
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class SendOutcome:
    """What one `send`/`retry` did. `report` is None when nothing was sent."""

    plan: SendPlan
    report: SendReport | None = None
    built: int | None = None             # dry run: messages rendered
    completed: bool = False              # found complete without sending; marked finished

    @property
    def number(self) -> int:
        return self.plan.instalment.number


# -- send next / send retry ------------------------------------------------------------------
def send(session: Session, options: SendOptions, hooks: SendHooks) -> SendOutcome:
    """Resolve, render and send one instalment (see the module docstring)."""
    if not options.dry_run:
        write_back(session, hooks)      # first: even when nothing is left to send
    drafts = session.drafts()
    instalment = publishing.resolve(session.series, drafts, options.ref, session.ledger)
    while True:
        outcome = _send_instalment(session, instalment, options, hooks)
        if not outcome.completed or options.ref != "next":
            return outcome
        # NothingToSend when it was the last: every instalment has gone out.
        instalment = choose_next(drafts.instalments, session.ledger)


def _send_instalment(session: Session, instalment: Instalment, options: SendOptions,
                     hooks: SendHooks) -> SendOutcome:
    publishing.ensure_ready(instalment)
    drafts = session.drafts()
    message = publishing.render(session.series, drafts, instalment)
    send_at = _send_at(session, instalment, options.at)
    if not options.dry_run:
        _sync_before_send(session, hooks)
    sender = Sender(session.series, session.ledger, session.provider, progress=hooks.progress,
                    stop=hooks.stop, snapshot=not options.dry_run)
    plan = sender.plan(instalment, message, only=options.only, send_at=send_at,
                       limit=options.limit)
    hooks.show_plan(plan)
    if plan.unknown and not plan.resends_unknown:
        raise unresolved(instalment.number, plan.unknown)
    if plan.invalid and not (options.skip_invalid or options.dry_run):
        raise _invalid_rows(plan)
    if plan.to_send == 0 and plan.pending == 0:
        done = options.only is None and not options.dry_run and sender.finish_if_complete(plan)
        return SendOutcome(plan, completed=done)
    if options.dry_run:
        return SendOutcome(plan, built=_render_all(session, plan))
    hooks.confirm(plan)
    with hooks.running():
        report = sender.run(plan)
    report.stop_signal = hooks.stop_signal()
    write_back(session, hooks)
    return SendOutcome(plan, report)


def _send_at(session: Session, instalment: Instalment, at: str | None) -> dt.datetime | None:
    if at is None:
        return None
    drafts = session.drafts()
    release = releases_by_number(session.series, drafts, session.ledger, session.now)
    return provider_send_time(session.series, session.provider, instalment, at,
                              release.get(instalment.number), session.now)


def _sync_before_send(session: Session, hooks: SendHooks) -> None:
    """Pull the provider's unsubscribes and bounces first; if it will not tell (a sending-only
    key), warn and go on: the provider still refuses those addresses."""
    try:
        synced = sync(session)
    except SendError as exc:
        hooks.notice(f"warning: could not read suppressions: {exc}; sending anyway", "warning")
        return
    if synced:
        hooks.notice(f"{synced} subscriber(s) marked from {session.provider.name}'s "
                     "suppressions", "info")


def sync(session: Session) -> int:
    """Mark everyone the provider suppresses in subscribers.csv; how many rows changed."""
    return sync_suppressions(session.series, session.provider)


def unresolved(number: int, count: int) -> UnresolvedDeliveries:
    """Before a send or after one: the author must decide about unknown deliveries."""
    return UnresolvedDeliveries(
        f"part {number} has {count} deliveries whose outcome is unknown "
        "(the provider may or may not have sent them)",
        hint=f"see the deliveries with an unknown outcome: seriespub log {number} --unknown; "
             f"then either seriespub send retry {number} --unknown (may duplicate) or "
             f"seriespub send settle {number} --assume-delivered")


def _invalid_rows(plan: SendPlan) -> InputError:
    n = plan.instalment.number
    return InputError(f"{plan.invalid:,} row(s) of subscribers.csv cannot be read, so those "
                      f"readers would not get part {n}; nothing was sent",
                      hint="fix them (seriespub check lists them), or send to everyone else "
                           "with --skip-invalid (the part stays open for them)")


DRY_RUN_FULL = 20      # a dry run builds this many messages in full and counts the rest


def _render_all(session: Session, plan: SendPlan) -> int:
    """Readers a send would build a message for (the plan counted them in the live list);
    the first DRY_RUN_FULL are built in full, which is what can fail (a million took 129 s)."""
    readers = subscribers.active(session.series.subscribers_path)
    for subscriber in itertools.islice(readers, DRY_RUN_FULL):
        plan.message.mime_for(plan.message.recipient(subscriber))
    return plan.active


# -- writing refusals back to the list -------------------------------------------------------
def write_back(session: Session, hooks: SendHooks) -> int:
    """Write what the ledger knows of refusals (bounced, complained) to subscribers.csv.

    Derived from the ledger, so a run killed right after the provider answered loses
    nothing: the next run writes the marks. Each row is marked applied once the list holds
    it. A list that cannot be written is an error notice; the marks stay owed.
    """
    owed = session.ledger.unapplied_status_changes()
    if not owed:
        return 0
    try:
        changed = subscribers.update_statuses(session.series.subscribers_path, owed)
    except SeriespubError as exc:
        marks = ", ".join(f"{a} {st.value}" for a, st in list(owed.items())[:10])
        hooks.notice(f"error: {len(owed)} subscriber(s) NOT marked in subscribers.csv "
                     f"({exc}); mark them by hand: {marks}", "error")
        return 0
    session.ledger.mark_status_changes_applied(owed)
    if changed:
        hooks.notice(f"{changed} subscriber(s) marked bounced/unsubscribed in subscribers.csv",
                     "info")
    return changed


# -- send due ----------------------------------------------------------------------------------
@dataclass
class DueOutcome:
    reports: list[SendReport]
    upcoming: PlannedRelease | None


def due(session: Session, hooks: SendHooks) -> DueOutcome:
    """Send the oldest due instalment (with catch_up = "all", every overdue one).

    Each step is written to the run log as it happens, so a failure part-way still leaves
    the record of what went out before it. `hooks.sent` sees each report as it is made.
    """
    write_back(session, hooks)          # even when nothing is due
    reports: list[SendReport] = []
    last: int | None = None
    while True:
        release = schedule.due(calendar(session.series, session.drafts(), session.ledger,
                                        session.now))
        if release is None or release.number == last:
            break
        last = release.number
        report = _send_due(session, release, hooks)
        if report is None:
            break
        reports.append(report)
        if not report.finished:
            break
    return DueOutcome(reports, next_release(session))


def _send_due(session: Session, release: PlannedRelease,
              hooks: SendHooks) -> SendReport | None:
    state = session.series.state_dir
    runlog.append(state, {"event": "due", "instalment": release.number,
                          "release": release.release.isoformat()})
    try:
        report = send(session, SendOptions(ref=str(release.number)), hooks).report
    except SeriespubError as exc:
        runlog.append(state, {"event": "error", "instalment": release.number,
                              "error": str(exc)})
        raise
    if report is not None:
        hooks.sent(report)
        runlog.append(state, {"event": "sent", **report_json(report)})
    return report


def next_release(session: Session) -> PlannedRelease | None:
    drafts = session.drafts(strict=False)
    return schedule.next_release(calendar(session.series, drafts, session.ledger, session.now))


def report_json(report: SendReport) -> dict[str, object]:
    """A report as the stable keys of `--json` and the run log."""
    return {"instalment": report.number, "sent": report.sent, "failed": report.failed,
            "deferred": report.deferred, "unknown": report.unknown,
            "scheduled": report.scheduled, "settled": report.settled,
            "finished": report.finished, "interrupted": report.interrupted,
            "error": str(report.stopped_by) if report.stopped_by else None,
            "seconds": round(report.elapsed, 3)}


# -- settle, cancel --------------------------------------------------------------------------
def settle(session: Session, number: int) -> int:
    """Record part `number`'s unknown deliveries as delivered; how many."""
    if session.drafts(strict=False).by_number(number) is None and not (
            session.ledger.counts(number) or number in session.ledger.instalment_records()):
        raise InputError(f"part {number} does not exist: no draft and nothing in the ledger",
                         hint="seriespub status lists the instalments")
    return assume_delivered(session.ledger, number)


def cancel(session: Session, number: int, confirm: Callable[[int], None]) -> int:
    """Withdraw a send held by the provider (`send next --at`); how many deliveries.

    `confirm(count)` is asked first and raises to refuse.
    """
    batches = session.ledger.scheduled_batches(number)
    if not batches:
        raise InputError(f"part {number} has no scheduled deliveries")
    count = sum(len(rows) for rows in batches.values())
    confirm(count)
    for key, rows in batches.items():
        session.provider.cancel_scheduled(key, [message_id for _, message_id in rows])
        session.ledger.set_status(number, [a for a, _ in rows], DeliveryStatus.CANCELLED,
                                  "cancelled by the author")
    session.ledger.reset_instalment(number)
    return count


# -- send test -------------------------------------------------------------------------------
def send_test(session: Session, ref: str, addresses: Sequence[str]) -> list[RecipientResult]:
    """Send a "[TEST]" copy of `ref` to `addresses` (names from the list where known);
    nothing is recorded as delivered."""
    for address in addresses:
        if not is_valid_address(address):
            raise InputError(f"invalid address {address!r}")
    series, drafts = session.series, session.drafts()
    instalment = publishing.resolve(series, drafts, ref, session.ledger)
    message = publishing.render(series, drafts, instalment)
    message = message.for_test()       # "[TEST] …", with its own delivery and Message-IDs
    known = _known(session, addresses)
    recipients = [message.recipient(known.get(a.lower()) or Subscriber(a)) for a in addresses]
    batch = Batch(f"test-{uuid.uuid4().hex[:16]}", message, recipients, test=True)
    policy = RetryPolicy(max_seconds=series.settings.delivery.max_retry_seconds)
    return send_with_retries(session.provider, batch, policy, RateLimiter(None),
                             threading.Event())


def _known(session: Session, addresses: Sequence[str]) -> dict[str, Subscriber]:
    wanted = {a.lower() for a in addresses}
    path = session.series.subscribers_path
    if not path.exists():
        return {}
    return {s.key: s for s in subscribers.iter_subscribers(path) if s.key in wanted}
