"""`seriespub send due` (for cron) and `seriespub send cancel` as library calls.

`due` sends what the calendar says is due now, as a round of `ops.send` (late joiners' parts
first, the front's new part last), and is safe to run every minute: it takes the series lock,
and a tick while another send of the series runs on the same host is quiet (`running_send`).
`cancel` withdraws a part the provider still holds (`send next --at`); readers who already
have it keep it. Nothing here prints or exits (see `ops.send`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seriespub import idletick, runlog, schedule
from seriespub import tracking as tracks_ops
from seriespub.arenas import limit_arenas
from seriespub.drafts import DraftSet
from seriespub.errors import LockHeld, SeriespubError
from seriespub.lock import LockHolder, alive_here, since
from seriespub.models import DeliveryStatus
from seriespub.ops.send import (
    SendHooks,
    SendOptions,
    SendOutcome,
    report_json,
    require_newest_record,
    require_part_exists,
    run_round,
    same_key,
    send,
    write_back,
)
from seriespub.ops.session import Session
from seriespub.schedule import PlannedRelease, format_local, relative
from seriespub.scheduling import calendar
from seriespub.sending import SendReport
from seriespub.sending.plan import reached
from seriespub.series import Series as Series  # re-exported for the CLI's types
from seriespub.tracks import SlotPlan

__all__ = [
    "Cancelled",
    "DueOutcome",
    "LateNext",
    "LockHeld",
    "LockHolder",
    "PlannedRelease",
    "SendReport",
    "Series",
    "cancel",
    "due",
    "format_local",
    "next_release",
    "relative",
    "report_json",
    "running_line",
    "running_send",
]


# -- send due ----------------------------------------------------------------------------------
@dataclass
class DueOutcome:
    reports: list[SendReport]
    upcoming: PlannedRelease | None
    # With no front release ahead (the series has ended), the next slot where late joiners
    # still get a part: an idle tick names it rather than "no release is planned".
    late_next: LateNext | None = None


@dataclass(frozen=True)
class LateNext:
    """The next slot's parts for readers catching up: part → how many readers."""

    release: dt.datetime
    parts: dict[int, int]


def due(session: Session, hooks: SendHooks, *, new_key: bool = False) -> DueOutcome:
    """Send the oldest due instalment (with catch_up = "all", every overdue one), and with
    late_joiners = "from_start" each late joiner's next part (`seriespub.tracks`), also in
    a slot where no new part is due.

    Each step is written to the run log as it happens, so a failure part-way still leaves
    the record of what went out before it. `hooks.sent` sees each report as it is made.
    `new_key`: the unsubscribe key in use replaces the recorded one (`keyguard`).
    """
    limit_arenas()  # before any thread: see seriespub.arenas
    same_key(session, hooks, "send due", new_key)  # also when nothing is due: cron says it now
    write_back(session, hooks)  # even when nothing is due
    reports: list[SendReport] = []
    last: int | None = None
    while True:
        release = schedule.due(
            calendar(session.series, session.drafts(), session.ledger, session.now)
        )
        if release is None or release.number == last:
            break
        last = release.number
        step = _send_due(session, release, hooks)
        if step is None:
            break
        reports.extend(step)
        if not step[-1].finished:
            break
    found_next: _Found | None = None
    if last is None and tracks_ops.mode(session) == tracks_ops.FROM_START:
        sent, found_next = _late_only(session, hooks)
        reports.extend(sent)
    upcoming = next_release(session)
    if reports or upcoming is not None:
        return DueOutcome(reports, upcoming)
    if found_next is not None:  # worked out in `_late_only`'s pass over the list
        return DueOutcome(reports, None, found_next.answer)
    return DueOutcome(reports, None, late_next(session))


@dataclass(frozen=True)
class _Found:
    """`late_next`'s answer, worked out with whose turn it is now (one pass for both)."""

    answer: LateNext | None


def late_next(session: Session) -> LateNext | None:
    """After the front's last part: the next slot's late joiners' parts, if any (one
    pass over the list, only then: the ticks of a series still going out pay nothing;
    and a tick that asks again, with nothing changed, reuses the answer: `idletick`)."""
    if tracks_ops.mode(session) != tracks_ops.FROM_START:
        return None
    drafts = session.drafts(strict=False)
    memo, slot = _memo(session, drafts, "late joiners next", upcoming=True)
    kept = _parts_kept(memo.recalled())
    if kept is not None:  # the key holds the slot: the one worked out now is the same
        return LateNext(slot, kept) if slot is not None and kept else None
    memo.start()
    plan, given = tracks_ops.slot_plan(session, drafts, None, upcoming=True, count_front=False)
    return _late_next_of(memo, plan, given)


def _late_next_of(memo: idletick.Memo, plan: SlotPlan, given: tracks_ops.Inputs) -> LateNext | None:
    """`late_next`'s answer from the next slot's plan, kept in `memo` (started before the
    plan was made)."""
    parts = plan.counts()
    memo.keep(list(parts.items()))
    if given.slot is None or not parts:
        return None
    return LateNext(given.slot, parts)


def _parts_kept(kept: Any) -> dict[int, int] | None:
    """A kept `late_next` answer (part → readers), or None when there is none."""
    try:
        return {int(n): int(c) for n, c in kept}
    except (TypeError, ValueError):
        return None


def _memo(
    session: Session, drafts: DraftSet, question: str, *, upcoming: bool
) -> tuple[idletick.Memo, dt.datetime | None]:
    """An idle tick's `question`, keyed by what its plan is made from (`tracking`), and
    the slot it is planned for."""
    given, at = tracks_ops.slot_inputs(session, drafts, None, upcoming=upcoming, sent=())
    basis = [
        tracks_ops.mode(session),
        [(i.number, i.is_ready) for i in drafts.instalments],
        given.released,
        sorted(given.held),
        given.part_one,
        given.slot,
        given.latest,
        sorted(given.fresh),
        at,
    ]
    return idletick.Memo(session, question, basis), given.slot


# What a command that holds the lock names itself (`session(..., purpose)`): `send next`,
# `send retry` and `send due` send ("send next", "send 3", "send due"); these do not.
NOT_SENDING = frozenset({"send settle", "send cancel"})


def running_line(holder: LockHolder) -> str:
    """What `send due` says when it leaves a running send alone."""
    return f"another send (pid {holder.pid}, since {since(holder)}) is running: nothing to do"


# A send holding the lock longer than this may be stuck: `send due` reports it again.
QUIET_FOR = dt.timedelta(days=1)


def running_send(held: LockHeld, now: dt.datetime) -> LockHolder | None:
    """Who holds the lock, when it is another send of this series alive on this host and
    started less than QUIET_FOR before `now`: what `send due` from cron waits out quietly.
    None for any other holder, one on another host, one whose process is gone, one that
    has run for longer, or one that cannot be told."""
    holder = held.holder
    if holder is None or not holder.purpose.startswith("send "):
        return None
    if holder.purpose in NOT_SENDING or not alive_here(holder):
        return None
    try:
        started = dt.datetime.fromisoformat(holder.started_at)
    except (TypeError, ValueError):
        return None
    if started.tzinfo is None or now - started > QUIET_FOR:
        return None
    return holder


def _send_due(
    session: Session, release: PlannedRelease, hooks: SendHooks
) -> list[SendReport] | None:
    state = session.series.state_dir
    runlog.append(
        state,
        {"event": "due", "instalment": release.number, "release": release.release.isoformat()},
    )
    try:
        outcome = send(session, SendOptions(ref=str(release.number)), hooks)
    except SeriespubError as exc:
        runlog.append(state, {"event": "error", "instalment": release.number, "error": str(exc)})
        raise
    return _log_round(session, outcome, hooks) or None


NOBODY = "nobody"  # what `_late_only` keeps: no late joiner's turn at this slot


def _late_only(session: Session, hooks: SendHooks) -> tuple[list[SendReport], _Found | None]:
    """A slot with no new part: the late joiners whose turn it is, if any (a tick that
    found nobody, asking again with nothing changed, does not read the list: `idletick`).
    After the front's last part, when nobody's turn is now, `due` asks whose is next
    (`late_next`): unless that is remembered, the same pass over the list answers it too
    (`tracking.idle_plans`), returned as found."""
    drafts = session.drafts(strict=False)
    memo = _memo(session, drafts, "late joiners now", upcoming=False)[0]
    if memo.recalled() == NOBODY:
        return [], None
    memo.start()
    memo_next = _next_to_ask(session, drafts)
    later: tracks_ops.Planned | None = None
    if memo_next is None:
        plan, given = tracks_ops.slot_plan(session, drafts, None, count_front=False)
    else:
        memo_next.start()
        (plan, given), later = tracks_ops.idle_plans(session, drafts)
    if given.slot is None or not plan.late_parts():
        memo.keep(NOBODY)
        if memo_next is None or later is None:
            return [], None
        return [], _Found(_late_next_of(memo_next, *later))
    state = session.series.state_dir
    runlog.append(
        state,
        {
            "event": "due",
            "instalment": None,
            "release": given.slot.isoformat(),
            "late_joiners": True,
        },
    )
    require_newest_record(session, hooks)
    try:
        outcome = run_round(session, None, SendOptions(), hooks, slot=plan)
    except SeriespubError as exc:
        runlog.append(state, {"event": "error", "instalment": None, "error": str(exc)})
        raise
    return _log_round(session, outcome, hooks), None


def _next_to_ask(session: Session, drafts: DraftSet) -> idletick.Memo | None:
    """`late_next`'s memo when `due` will ask it, if nobody's turn is now, and it is not
    remembered: the series has ended (no front release ahead)."""
    if next_release(session) is not None:
        return None
    memo = _memo(session, drafts, "late joiners next", upcoming=True)[0]
    return None if _parts_kept(memo.recalled()) is not None else memo


def _log_round(session: Session, outcome: SendOutcome, hooks: SendHooks) -> list[SendReport]:
    """Log who got which part (`tracks`), then each run's report; the front's last."""
    state = session.series.state_dir
    if outcome.slot is not None and (outcome.groups or outcome.slot.catching_up):
        runlog.append(
            state,
            {
                "event": "tracks",
                "parts": {str(n): c for n, c in outcome.slot.counts().items()},
                "front": outcome.slot.front,
                "catching_up": outcome.slot.catching_up,
            },
        )
    reports = []
    for step in outcome.outcomes:
        if step.report is None:
            continue
        hooks.sent(step.report)
        front = outcome.slot is None or outcome.slot.new == step.number
        cohort = "front" if step is outcome and front else "late"
        runlog.append(state, {"event": "sent", "cohort": cohort, **report_json(step.report)})
        reports.append(step.report)
    return reports


def next_release(session: Session) -> PlannedRelease | None:
    drafts = session.drafts(strict=False)
    return schedule.next_release(calendar(session.series, drafts, session.ledger, session.now))


@dataclass(frozen=True)
class Cancelled:
    """What `send cancel N` withdrew."""

    count: int  # part N's held deliveries (0: nothing held, nothing done)
    # Late joiners' parts held in the same round as the front's part N: part → deliveries.
    with_round: dict[int, int] = field(default_factory=dict)


HeldBatches = dict[str, list[tuple[str, str]]]  # batch key → (address, provider message id)


def cancel(
    session: Session, number: int, confirm: Callable[[int, dict[int, int]], None]
) -> Cancelled:
    """Withdraw a send held by the provider (`send next --at`). The part is unreleased again
    unless some reader had it already (`sending.plan.reached`).

    Withdrawing the front's held part withdraws its round: the late joiners' parts that
    `send next --at` held with it, for the same time. The author called off that release;
    a late joiner's mail going out alone at that time would be a send they cancelled (and
    the next round plans those readers again). A late joiner's held copy of a part the
    front has (`send cancel` of that part) is withdrawn alone.

    `confirm(count, with_round)` is asked first and raises to refuse.
    """
    require_part_exists(session, number)
    batches = session.ledger.scheduled_batches(number)
    if not batches:
        return Cancelled(0)
    count = sum(len(rows) for rows in batches.values())
    others = session.ledger.held_with(number) if _fronts_held_part(session, number, count) else {}
    with_round = {n: sum(len(rows) for rows in held.values()) for n, held in others.items()}
    confirm(count, with_round)
    _withdraw(session, number, batches)
    for part, held in others.items():
        _withdraw(session, part, held)
    return Cancelled(count, with_round)


def _fronts_held_part(session: Session, number: int, held: int) -> bool:
    """Whether part `number`'s `held` scheduled deliveries are all it reached: nobody has it
    yet, so this is the front's part of a held round, not a late joiner's copy."""
    return reached(session.ledger, number) == held


def _withdraw(session: Session, number: int, batches: HeldBatches) -> None:
    for key, rows in batches.items():
        session.provider.cancel_scheduled(key, [message_id for _, message_id in rows])
        session.ledger.set_status(
            number, [a for a, _ in rows], DeliveryStatus.CANCELLED, "cancelled by the author"
        )
    # Withdrawn before anyone had it: unreleased. A late joiners' held part withdrawn leaves
    # the release of a part the front received as it was.
    if not reached(session.ledger, number):
        session.ledger.reset_instalment(number)
