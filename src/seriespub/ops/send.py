"""`seriespub send …` as library calls: next, retry, settle, test, suppression sync (`send
due` and `send cancel`: `ops.send_due`, over the round this module runs: `run_round`).

Each operation takes a `Session` (the lock, the ledger, the provider; see `ops.session`), a
typed options object and `SendHooks` (confirm, progress, stop, and where to show the plan and
notices), and returns a typed outcome. Nothing here prints or exits: the CLI renders outcomes
and turns `SeriespubError`s into one line. A library caller, a cron wrapper or a test sends the
next instalment with `send(session, SendOptions(), SendHooks(confirm=...))`.

Guarantees, on top of `seriespub.sending`'s (exactly once per reader, resumable):
- no delivery or release is recorded before the author says yes: every run of a round (late
  joiners' parts, the front's) is planned and asked about at once, and the front's part is
  started (released) by the round's first batch, not before;
- a send with another unsubscribe key than the series sent with is refused before anything
  is written or sent, unless the author changes keys on purpose (`seriespub.keyguard`);
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
from pathlib import Path
from typing import Literal

from seriespub import keyguard, laterows, publishing, schedule, subscribers, upstream
from seriespub import tracking as tracks_ops
from seriespub.addresses import invalid_address, is_valid_address
from seriespub.arenas import limit_arenas
from seriespub.drafts import DraftSet, require_part_number
from seriespub.errors import (
    InputError,
    LockHeld,
    NothingToSend,
    SendError,
    SeriespubError,
    UnresolvedDeliveries,
)
from seriespub.lock import LockHolder, series_lock
from seriespub.models import (
    DeliveryStatus,
    Instalment,
    RecipientResult,
    Subscriber,
    SubscriberStatus,
)
from seriespub.ops.session import Session
from seriespub.providers import SPECS
from seriespub.providers.base import Batch
from seriespub.retry import RateLimiter, RetryPolicy, send_with_retries
from seriespub.schedule import PlannedRelease, format_local, relative
from seriespub.scheduling import has_calendar, provider_send_time, releases_by_number
from seriespub.sending import (
    ProgressSink,
    Sender,
    SendPlan,
    SendReport,
    assume_delivered,
    choose_next,
    finish_if_settled,
)
from seriespub.sending.plan import NO_INSTALMENT_YET, Picked, require_same_part
from seriespub.series import Series as Series  # re-exported for the CLI's types
from seriespub.site import urls
from seriespub.suppressions import pull_suppressions, sync_inbox_before_send, sync_suppressions
from seriespub.tracks import SlotPlan

__all__ = [
    "Level",
    "LockHeld",
    "LockHolder",
    "NothingToSend",
    "PlannedRelease",
    "ProgressSink",
    "SendHooks",
    "SendOptions",
    "SendOutcome",
    "SendPlan",
    "SendReport",
    "Settled",
    "dry_run_json",
    "format_local",
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

    ref: str = "next"  # next, a number, or a draft file
    dry_run: bool = False
    at: str | None = None  # let the provider release it then
    only: frozenset[DeliveryStatus] | None = None  # `retry`: resend just these
    skip_invalid: bool = False
    limit: int | None = None  # at most this many readers this run
    new_key: bool = False  # the unsubscribe key in use replaces the recorded one


def retry_statuses(unknown: bool) -> frozenset[DeliveryStatus]:
    """The deliveries `send retry` resends (with `--unknown`, also those)."""
    only = {DeliveryStatus.DEFERRED, DeliveryStatus.CANCELLED}
    return frozenset(only | ({DeliveryStatus.UNKNOWN} if unknown else set()))


@dataclass
class SendHooks:
    """How an operation talks to its caller; every hook is optional."""

    confirm: Callable[[SendPlan], None] = _ignore  # raise to refuse
    # A round's runs (late joiners' parts first, the front's last), asked once before any
    # is sent or recorded; None: `confirm` each of them.
    confirm_round: Callable[[Sequence[SendPlan]], None] | None = None
    show_plan: Callable[[SendPlan], None] = _ignore
    notice: Callable[[str, Level], None] = _ignore
    sent: Callable[[SendReport], None] = _ignore  # after each instalment's run
    # Entered around each run (not the plan or the prompt): a progress display, signals that
    # set `stop` rather than raise.
    running: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext
    stop_signal: Callable[[], int | None] = lambda: None  # which signal set `stop`
    progress: ProgressSink | None = None
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class SendOutcome:
    """What one `send`/`retry` did. `report` is None when nothing was sent."""

    plan: SendPlan
    report: SendReport | None = None
    built: int | None = None  # dry run: messages rendered
    completed: bool = False  # found complete without sending; marked finished
    groups: list[SendOutcome] = field(default_factory=list)  # late joiners' runs (tracks)
    slot: SlotPlan | None = None  # who got which part this round (tracks)

    @property
    def outcomes(self) -> list[SendOutcome]:
        """The late joiners' runs, then this one (the front's)."""
        return [*self.groups, self]

    @property
    def number(self) -> int:
        return self.plan.instalment.number

    def dry_run_counts(self) -> tuple[int, int]:
        """A dry run's messages (this run's and the late joiners'): built in full, and only
        counted (past DRY_RUN_FULL per run)."""
        split = [built_split(o.built) for o in self.outcomes]
        return sum(full for full, _ in split), sum(counted for _, counted in split)


# -- send next / send retry ------------------------------------------------------------------
def send(session: Session, options: SendOptions, hooks: SendHooks) -> SendOutcome:
    """Resolve, render and send one instalment (see the module docstring).

    With late_joiners = "from_start" (`seriespub.tracks`), a send is a *round*: each late
    joiner also gets their next part, one Sender run per part, before the front's run.
    """
    limit_arenas()  # before any thread (the provider's loads ahead): see seriespub.arenas
    if not options.dry_run:
        command = "send next" if options.only is None else "send retry"
        same_key(session, hooks, command, options.new_key)  # before anything is written
        require_newest_record(session, hooks)
        if options.only is None:  # a retry resends a part whose page is up
            require_site_builds(session)
        session.load_provider_ahead()
        write_back(session, hooks)  # first: even when nothing is left to send
    else:
        _dry_run_key_notes(session, hooks, options.new_key)
        _dry_run_record_note(session, hooks)
        _dry_run_site_note(session, hooks)
    drafts = session.drafts()
    tracked = options.only is None and tracks_ops.mode(session) == tracks_ops.FROM_START
    try:
        instalment: Instalment | None = publishing.resolve(
            session.series, drafts, options.ref, session.ledger
        )
    except NothingToSend:
        if not tracked:
            raise
        instalment = None  # a finished series: late joiners still go through it
    late = True  # late joiners go once per round, not per part tried
    while True:
        if tracked:
            outcome = run_round(session, instalment, options, hooks, late=late)
            late = False
        else:
            assert instalment is not None
            outcome = _send_instalment(session, instalment, options, hooks)
        if not outcome.completed or options.ref != "next":
            return outcome
        # NothingToSend when it was the last: every instalment has gone out.
        instalment = choose_next(drafts.instalments, session.ledger)


def same_key(session: Session, hooks: SendHooks, command: str, new_key: bool) -> None:
    """Refuse to send with another unsubscribe key than the series sent with (`keyguard`;
    the hint names `command`); record the key in use (with `new_key`, in place of the
    recorded one, before any prompt: the option is the author's decision)."""
    series, ledger = session.series, session.ledger
    changed = keyguard.require_same_key(series, ledger, command, accept_new=new_key)
    if changed:
        hooks.notice(f"warning: {changed}", "warning")


def require_newest_record(session: Session, hooks: SendHooks) -> None:
    """Refuse to send from a checkout behind its upstream's committed ledger
    (`seriespub.upstream`); warn when that could not be checked. Once per command."""
    _upstream_once(session, hooks, upstream.require_newest)


def require_site_builds(session: Session) -> None:
    """With `[site]`, refuse to send while a published part's draft is gone or set back to
    draft: `site` refuses to build then, so the new part's page would never go up (and
    "Previously" would leave the lost part out). `send retry` is not refused: it resends a
    part whose page is up already."""
    unbuilt = _site_unbuilt(session)
    if unbuilt is not None:
        raise unbuilt


def _dry_run_site_note(session: Session, hooks: SendHooks) -> None:
    unbuilt = _site_unbuilt(session)
    if unbuilt is not None:
        hooks.notice(f"warning: {unbuilt}; the send would be refused", "warning")


def _site_unbuilt(session: Session) -> InputError | None:
    series = session.series
    if series.settings.site.base_url is None:
        return None
    from seriespub.site.build import lost_pages
    from seriespub.site.urls import read_record

    records = session.ledger.instalment_records()
    slugs = read_record(series.state_dir)
    return lost_pages(series, session.drafts(), records, slugs, sending=True)


def _dry_run_record_note(session: Session, hooks: SendHooks) -> None:
    """A dry run checks the upstream's record as the send would (`require_newest_record`),
    and warns instead of refusing: its plan comes from this checkout's older ledger."""
    try:
        require_newest_record(session, hooks)
    except InputError as exc:
        hooks.notice(f"warning: {exc}; a real send is refused: {exc.hint}", "warning")


def _tell_to_push(session: Session, hooks: SendHooks) -> None:
    """After a send that went out from a checkout whose ledger is committed."""
    _upstream_once(session, hooks, upstream.unpushed_warning)


def _upstream_once(
    session: Session, hooks: SendHooks, check: Callable[[Path, Path], str | None]
) -> None:
    """`check` (of `seriespub.upstream`) once per command, its warning shown: a round of
    several parts fetches and reminds once."""
    if check in session.upstream_done:
        return
    session.upstream_done.add(check)
    warning = check(session.series.root, session.series.ledger_path)
    if warning:
        hooks.notice(f"warning: {warning}", "warning")


def _dry_run_key_notes(session: Session, hooks: SendHooks, new_key: bool) -> None:
    """What a real send would say about the unsubscribe key, as a warning or a note."""
    series = session.series
    problem = None if new_key else keyguard.problem(series, session.ledger)
    if problem is not None:
        hooks.notice(f"warning: {problem}; a real send would be refused", "warning")
    elif note := series.throwaway_key_note("the dry run's"):
        hooks.notice(f"note: {note}", "info")


def run_round(
    session: Session,
    instalment: Instalment | None,
    options: SendOptions,
    hooks: SendHooks,
    *,
    late: bool = True,
    slot: SlotPlan | None = None,
) -> SendOutcome:
    """The front's new part and each late joiner's next one; late groups first, so a run
    killed part-way resumes in the same round (the front's part is started, not finished).
    `slot`: the plan already made for this round (`send due` in a slot with no new part).

    Every run is planned, and the author asked once about all of them, before any is sent
    or recorded: a round refused at the prompt leaves the ledger as it was.

    The plan reads the list once, and not at all while nobody can be a late joiner (part
    1's own round): the front is only counted. The late parts' runs read their own rows,
    picked out of one snapshot (`_late_runs`); the front's run reads the whole list."""
    drafts = session.drafts()
    new = instalment.number if instalment is not None else None
    if slot is None:
        slot, _ = tracks_ops.slot_plan(session, drafts, new, count_front=False)
    parts = slot.late_parts() if late else []
    if parts or slot.catching_up:
        hooks.notice(tracks_line(slot), "info")
    if not parts:
        if instalment is None:
            if not drafts.instalments and not session.ledger.instalment_records():
                raise NothingToSend(NO_INSTALMENT_YET)
            raise NothingToSend(
                "every instalment has been delivered and no late joiner is "
                'owed one now; write the next one with: seriespub new "Title"'
            )
        send_at = _resolve_send_at(session, instalment, options, hooks)
        alone = _front(session, instalment, options, hooks, slot, send_at)
        return _with_groups(_confirmed(session, alone, hooks), [], slot)
    outcomes, front = _late_runs(session, drafts, slot, parts, instalment, options, hooks)
    if front is None:
        first, *rest = outcomes
        return _with_groups(first, rest, slot)
    return _with_groups(_carry_out(session, front, hooks), outcomes, slot)


def _with_groups(outcome: SendOutcome, groups: list[SendOutcome], slot: SlotPlan) -> SendOutcome:
    outcome.groups, outcome.slot = groups, slot
    return outcome


def _front(
    session: Session,
    instalment: Instalment,
    options: SendOptions,
    hooks: SendHooks,
    slot: SlotPlan,
    send_at: dt.datetime | None,
) -> SendOutcome | _Step:
    """The front's run, planned: late joiners whose next part is not the new one are left
    out of it."""
    who = _not_in(slot) if slot.any_excluded else None
    return _prepare(session, instalment, options, hooks, send_at, who=who)


def _round_start(
    session: Session, front: SendOutcome | _Step | None
) -> tuple[Instalment, dt.datetime] | None:
    """The front's part, started by the round's first batch (whichever run sends it), so a
    run killed among the late joiners' runs resumes in the same round. A start is a
    release (status, the site, late joiners' tracks): recorded only once the author said
    yes and a batch is going out, never for a round refused or stopped before that.
    Without late joiners the front's run records its own start (`Sender.run`)."""
    if not isinstance(front, _Step) or has_calendar(session.series):
        return None  # with a calendar the round is its slot, not the front's start
    plan = front.plan
    return plan.instalment, plan.send_at or session.now


def _late_runs(
    session: Session,
    drafts: DraftSet,
    slot: SlotPlan,
    parts: list[int],
    instalment: Instalment | None,
    options: SendOptions,
    hooks: SendHooks,
) -> tuple[list[SendOutcome], SendOutcome | _Step | None]:
    """One run per late part, each over its own readers' rows, picked out of one snapshot
    in one pass (a run over the whole list per part read it parts × 2 times); and the
    front's run, planned and confirmed with them but not yet carried out.

    A held send (`--at`) holds the whole round: every run goes with the same `send_at`, so
    what the author scheduled arrives at the time they said, late joiners' parts too."""
    held = _part(drafts, parts[0]) if instalment is None else instalment
    send_at = _resolve_send_at(session, held, options, hooks)  # a bad --at: nothing written
    _pull_before_send(session, hooks, dry_run=options.dry_run)
    # No `who`: a part's picked rows are its readers' and nobody else's (`late_rows`).
    with laterows.late_rows(session, slot.late, parts, snapshot=not options.dry_run) as rows:
        steps = [
            _prepare(
                session,
                _part(drafts, n),
                _late_options(options, n),
                hooks,
                send_at,
                finish=False,
                picked=Picked(rows.source, rows.paths[n], rows.problems),
            )
            for n in parts
        ]
        front = (
            None
            if instalment is None
            else _front(session, instalment, options, hooks, slot, send_at)
        )
        _confirm(hooks, [s.plan for s in [*steps, front] if isinstance(s, _Step) and s.asks])
        if not options.dry_run:
            _write_pulled(session, hooks)  # the author said yes (or was asked nothing)
        starts = _round_start(session, front)
        return [_carry_out(session, step, hooks, starts) for step in steps], front


def _not_in(slot: SlotPlan) -> Callable[[Subscriber], bool]:
    """The front's run: everyone but the late joiners whose part is not the new one."""
    return lambda s: not slot.excludes(s.key)


def _late_options(options: SendOptions, number: int) -> SendOptions:
    return SendOptions(str(number), options.dry_run, None, None, options.skip_invalid)


def _part(drafts: DraftSet, number: int) -> Instalment:
    found = drafts.by_number(number)
    assert found is not None  # released parts are drafts on disk (tracks_ops.inputs)
    return found


def tracks_line(slot: SlotPlan) -> str:
    """'this slot: part 3 → 120 readers, part 1 → 4 readers (8 catching up)'."""
    parts = (
        ", ".join(
            f"part {n} → {c:,} reader{'' if c == 1 else 's'}" for n, c in slot.counts().items()
        )
        or "nobody"
    )
    return f"this slot: {parts} ({slot.front:,} on the front, {slot.catching_up:,} catching up)"


@dataclass(frozen=True)
class _Step:
    """A run planned and checked, not yet confirmed: its sender and plan."""

    sender: Sender
    plan: SendPlan
    sends: bool = True  # False: nobody to send to; carried out, it may finish the part
    # Finishing it would also release it (nobody was owed a part never started): asked too.
    releases: bool = False

    @property
    def asks(self) -> bool:
        return self.sends or self.releases


def _send_instalment(
    session: Session, instalment: Instalment, options: SendOptions, hooks: SendHooks
) -> SendOutcome:
    """Plan one run, ask, send."""
    send_at = _resolve_send_at(session, instalment, options, hooks)
    return _confirmed(session, _prepare(session, instalment, options, hooks, send_at), hooks)


def _confirmed(session: Session, step: SendOutcome | _Step, hooks: SendHooks) -> SendOutcome:
    """Ask about one planned run, then carry it out."""
    if isinstance(step, _Step):
        if step.asks:
            _confirm(hooks, [step.plan])
        _write_pulled(session, hooks)  # the author said yes (or was asked nothing)
    return _carry_out(session, step, hooks)


def _prepare(
    session: Session,
    instalment: Instalment,
    options: SendOptions,
    hooks: SendHooks,
    send_at: dt.datetime | None,
    *,
    who: Callable[[Subscriber], bool] | None = None,
    finish: bool = True,
    picked: Picked | None = None,
) -> SendOutcome | _Step:
    """Render and plan one run and check it can go (unknown deliveries, unreadable rows):
    a `_Step` to confirm and carry out, or the outcome of a run with nothing to send (to
    carry out too: it may find the part complete) or of a dry run. Records nothing.
    `send_at`: the provider holds the run's mail until then (`_resolve_send_at`)."""
    publishing.ensure_ready(instalment)
    require_same_part(session.ledger, instalment)
    drafts = session.drafts()
    message = publishing.render(session.series, drafts, instalment, create_key=not options.dry_run)
    _pull_before_send(session, hooks, dry_run=options.dry_run)
    gone = _suppressed_keys(session)
    sender = Sender(
        session.series,
        session.ledger,
        session.provider,
        progress=hooks.progress,
        stop=hooks.stop,
        snapshot=not options.dry_run,
        who=who,
        finish=finish,
        picked=picked,
        suppressed=gone,
    )
    plan = sender.plan(instalment, message, only=options.only, send_at=send_at, limit=options.limit)
    hooks.show_plan(plan)
    if plan.unknown and not plan.resends_unknown:
        raise unresolved(instalment.number, plan.unknown)
    if plan.invalid and not (options.skip_invalid or options.dry_run):
        raise _invalid_rows(plan)
    if options.dry_run:
        nothing = plan.to_send == 0 and plan.pending == 0
        built = None if nothing else _render_all(session, plan, _not_in_set(gone, who), picked)
        return SendOutcome(plan, built=built)
    if plan.to_send == 0 and plan.pending == 0:
        record = session.ledger.instalment_records().get(instalment.number)
        unreleased = record is None or record.started_at is None
        return _Step(
            sender, plan, sends=False, releases=finish and options.only is None and unreleased
        )
    return _Step(sender, plan)


def _confirm(hooks: SendHooks, plans: list[SendPlan]) -> None:
    """Ask once about every run that will send (raises to refuse); none: nothing to ask."""
    if not plans:
        return
    if hooks.confirm_round is not None:
        hooks.confirm_round(plans)
        return
    for plan in plans:
        hooks.confirm(plan)


def _carry_out(
    session: Session,
    step: SendOutcome | _Step,
    hooks: SendHooks,
    starts: tuple[Instalment, dt.datetime] | None = None,
) -> SendOutcome:
    """Run a confirmed step; `starts`: a round's front part, released by its first batch."""
    if isinstance(step, SendOutcome):
        return step
    sender, plan = step.sender, step.plan
    if not step.sends:
        done = sender.may_finish and plan.only is None and sender.finish_if_complete(plan)
        return SendOutcome(plan, completed=done)
    sender.also_starts = starts
    with hooks.running():
        report = sender.run(plan)
    report.stop_signal = hooks.stop_signal()
    write_back(session, hooks)
    if report.sent or report.scheduled or report.failed:
        _tell_to_push(session, hooks)
    return SendOutcome(plan, report)


def _resolve_send_at(
    session: Session, instalment: Instalment, options: SendOptions, hooks: SendHooks
) -> dt.datetime | None:
    """`--at` as the time the provider holds a run (a round: all its runs) until; once per
    command, with the warning when the provider cannot withdraw it."""
    slot = _slot_of(session, instalment) if options.at is not None else None
    send_at = _send_at(session, instalment, options.at, slot)
    _require_in_order(session, instalment, send_at, options.dry_run, hooks)
    if send_at is not None and not SPECS[session.provider.name].can_cancel:
        hooks.notice(_cannot_withdraw(session.provider.name, send_at), "warning")
    if send_at is not None and (page := _page_goes_up(session, instalment, send_at)):
        hooks.notice(page, "info")
    return send_at


def _slot_of(session: Session, instalment: Instalment) -> PlannedRelease | None:
    """The part's place on the calendar (None without one)."""
    drafts = session.drafts()
    release = releases_by_number(session.series, drafts, session.ledger, session.now)
    return release.get(instalment.number)


def _require_in_order(
    session: Session,
    instalment: Instalment,
    send_at: dt.datetime | None,
    dry_run: bool,
    hooks: SendHooks,
) -> None:
    """Refuse a run that would reach readers before an earlier part the provider still
    holds (`send next --at`): read in order, and its "Previously" links would find no page
    yet. Held for the same time or later, it goes; a dry run warns."""
    goes = send_at or session.now
    records = session.ledger.instalment_records()
    for number in sorted(n for n, r in records.items() if n < instalment.number and r.started_at):
        until = session.ledger.held_until(number)
        if until is None or until <= goes:
            continue
        local = until.astimezone(schedule.zone(session.series.settings.schedule.timezone))
        problem = (
            f"part {number} is held by the provider until {local:%Y-%m-%d %H:%M %Z}: part "
            f"{instalment.number} would reach readers before it"
        )
        if dry_run:
            hooks.notice(f"warning: {problem}; the send would be refused", "warning")
            return
        raise InputError(
            problem,
            hint=f"hold it as long: seriespub send next --at '{local:%Y-%m-%d %H:%M}' (or "
            f"later); or withdraw part {number} first: seriespub send cancel {number}",
        )


def _send_at(
    session: Session, instalment: Instalment, at: str | None, slot: PlannedRelease | None
) -> dt.datetime | None:
    if at is None:
        return None
    return provider_send_time(session.series, session.provider, instalment, at, slot, session.now)


def _page_goes_up(session: Session, instalment: Instalment, send_at: dt.datetime) -> str | None:
    """With `[site]`, when a held part's page goes up (`Ledger.held_only`): not at the
    hand-over (nor at its slot, if that passed) but with the first build from `send_at`.
    None for a part already released (sent) or whose page is up: it stays up."""
    from seriespub.site import published

    base_url = session.series.settings.site.base_url
    record = session.ledger.instalment_records().get(instalment.number)
    if base_url is None or (record is not None and record.started_at is not None):
        return None
    slugs = urls.read_record(session.series.state_dir)
    if instalment.number in published.on_the_site(session.series.state_dir, slugs):
        return None
    slug = urls.slug_for(instalment, slugs)
    return (
        f"part {instalment.number}'s page ({urls.page_url(base_url, instalment.number, slug)}) "
        f"goes up with the first `seriespub site` from {send_at:%Y-%m-%d %H:%M %Z}; "
        "the GitHub Actions workflow builds at every run"
    )


def _cannot_withdraw(provider: str, send_at: dt.datetime) -> str:
    """Said before the question: once handed over, `send cancel` cannot stop it."""
    when = send_at.strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"warning: {provider} cannot withdraw a held send: once handed over it goes out at "
        f"{when} unless you delete it in {provider.capitalize()} (send cancel cannot reach it)"
    )


def _pull_before_send(session: Session, hooks: SendHooks, *, dry_run: bool) -> None:
    """Pull the provider's unsubscribes and bounces first, once per command, into
    `session.suppressed`: the plan (and so the question's count) leaves them out, and they
    are written to the list only once the author says yes (`_write_pulled`). If the
    provider will not tell (a sending-only key), warn and go on: it still refuses them.
    The inbox (`[inbox]`) is read and applied here, except by a dry run."""
    if session.suppressions_pulled:
        return
    session.suppressions_pulled = True
    try:
        session.suppressed = pull_suppressions(session.series, session.provider)
    except SendError as exc:
        hooks.notice(f"warning: could not read suppressions: {exc}; sending anyway", "warning")
    if not dry_run and (inboxed := sync_inbox_before_send(session.series)):
        hooks.notice(f"{inboxed} subscriber(s) marked from the inbox", "info")


def _suppressed_keys(session: Session) -> frozenset[str]:
    """The readers the provider's suppressions mark (not yet written to the list): each
    run leaves them out, and its plan says how many."""
    return frozenset(a for a, st in session.suppressed.items() if st is not SubscriberStatus.ACTIVE)


def _not_in_set(
    gone: frozenset[str], who: Callable[[Subscriber], bool] | None
) -> Callable[[Subscriber], bool] | None:
    """`who`, leaving out the readers in `gone` (a dry run's messages are built so)."""
    if not gone:
        return who
    if who is None:
        return lambda s: s.key not in gone
    return lambda s: s.key not in gone and who(s)


def _write_pulled(session: Session, hooks: SendHooks) -> None:
    """Write the pulled suppressions to subscribers.csv, once; the author has said yes. A
    list that cannot be written is an error notice: the plan leaves them out anyway, and
    the next send pulls them again."""
    pulled, session.suppressed = session.suppressed, {}
    try:
        changed = subscribers.update_statuses(session.series.subscribers_path, pulled)
    except SeriespubError as exc:
        hooks.notice(f"error: suppressions NOT marked in subscribers.csv ({exc})", "error")
        return
    if changed:
        hooks.notice(
            f"{changed} subscriber(s) marked from {session.provider.name}'s suppressions", "info"
        )


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
        f"seriespub send settle {number} --assume-delivered",
    )


def _invalid_rows(plan: SendPlan) -> InputError:
    n = plan.instalment.number
    return InputError(
        f"{plan.invalid:,} row(s) of subscribers.csv cannot be read, so those "
        f"readers would not get part {n}; nothing was sent",
        hint=f"fix them (seriespub check lists them){_skip_invalid_would(plan)}",
    )


def _skip_invalid_would(plan: SendPlan) -> str:
    """What `--skip-invalid` would do, for the refusal's hint: offered only when it would
    send to someone (a reader to send to, or a stopped run's pending batch to settle)."""
    if plan.to_send or plan.pending:
        return (
            f", or send to the {plan.to_send:,} other reader(s) with --skip-invalid "
            "(the part stays open for them)"
        )
    if not plan.active:
        return ": no reader of subscribers.csv can be read, so there is nobody else to send to"
    return f": every reader that can be read has had part {plan.instalment.number}"


DRY_RUN_FULL = 20  # a dry run builds this many messages in full and counts the rest


def _render_all(
    session: Session,
    plan: SendPlan,
    who: Callable[[Subscriber], bool] | None = None,
    picked: Picked | None = None,
) -> int:
    """Messages the send would build: the plan's `to_send` (not every active reader: a
    part partly sent, or a `--limit`, sends fewer). Up to DRY_RUN_FULL of them are built in
    full, which is what can fail (building a million took 129 s), from the readers `who`
    accepts in the live list or in `picked`'s rows: the list is read only that far."""
    listed = session.series.subscribers_path if picked is None else picked.rows
    readers = subscribers.active(listed, shown=session.series.subscribers_path)
    chosen = readers if who is None else filter(who, readers)
    for subscriber in itertools.islice(chosen, min(plan.to_send, DRY_RUN_FULL)):
        plan.message.mime_for(plan.message.recipient(subscriber))
    return plan.to_send


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
        hooks.notice(
            f"error: {len(owed)} subscriber(s) NOT marked in subscribers.csv "
            f"({exc}); mark them by hand: {marks}",
            "error",
        )
        return 0
    session.ledger.mark_status_changes_applied(owed)
    if changed:
        hooks.notice(
            f"{changed} subscriber(s) marked bounced/unsubscribed in subscribers.csv", "info"
        )
    return changed


def report_json(report: SendReport) -> dict[str, object]:
    """A report as the stable keys of `--json` and the run log."""
    return {
        "instalment": report.number,
        "sent": report.sent,
        "failed": report.failed,
        "deferred": report.deferred,
        "unknown": report.unknown,
        "scheduled": report.scheduled,
        "send_at": report.send_at.isoformat() if report.send_at else None,
        "settled": report.settled,
        "finished": report.finished,
        "interrupted": report.interrupted,
        "error": str(report.stopped_by) if report.stopped_by else None,
        "seconds": round(report.elapsed, 3),
    }


def dry_run_json(outcome: SendOutcome) -> dict[str, object]:
    """A dry run as the stable keys of `--dry-run --json`: the front's plan, and one plan per
    late joiners' part (`late_joiners`, first to go, as in a real run's report)."""
    return {
        **plan_json(outcome.plan, outcome.built),
        "late_joiners": [plan_json(o.plan, o.built) for o in outcome.groups],
    }


def plan_json(plan: SendPlan, built: int | None) -> dict[str, object]:
    """One run's plan; `built`: the messages it rendered in full, `counted`: the rest."""
    full, counted = built_split(built)
    return {
        "dry_run": True,
        "instalment": plan.instalment.number,
        "title": plan.instalment.title,
        "subject": plan.instalment.subject,
        "provider": plan.provider,
        "send_at": plan.send_at.isoformat() if plan.send_at else None,
        "active": plan.active,
        "readers": plan.readers,
        "to_send": plan.to_send,
        "done": plan.done,
        "left": plan.left,
        "unknown": plan.unknown,
        "pending": plan.pending,
        "invalid": plan.invalid,
        "suppressed": plan.suppressed,
        "built": full,
        "counted": counted,
    }


def built_split(built: int | None) -> tuple[int, int]:
    """A dry run's `built` messages as (rendered in full, only counted: past DRY_RUN_FULL)."""
    full = min(built or 0, DRY_RUN_FULL)
    return full, (built or 0) - full


# -- settle, cancel --------------------------------------------------------------------------
@dataclass(frozen=True)
class Settled:
    changed: int  # unknown deliveries now recorded as delivered
    finished: bool  # that decided the last open ones: the part is marked finished


def settle(session: Session, number: int) -> Settled:
    """Record part `number`'s unknown deliveries as delivered; when no reader is then left
    owed it, the part is finished (the rule a send uses: `sending.finish_if_settled`)."""
    require_part_exists(session, number)
    changed = assume_delivered(session.ledger, number)
    finished = finish_if_settled(session.series, session.ledger, number, session.now)
    return Settled(changed, finished)


def require_part_exists(session: Session, number: int) -> None:
    """Refuse a part number with no draft and nothing in the ledger (a typo)."""
    require_part_number(number)  # before the ledger: SQLite takes no number past 2**63
    if session.drafts(strict=False).by_number(number) is None and not (
        session.ledger.counts(number) or number in session.ledger.instalment_records()
    ):
        raise InputError(
            f"part {number} does not exist: no draft and nothing in the ledger",
            hint="seriespub status lists the instalments",
        )


# -- send test -------------------------------------------------------------------------------
def send_test(session: Session, ref: str, addresses: Sequence[str]) -> list[RecipientResult]:
    """Send a "[TEST]" copy of `ref` to `addresses` (names from the list where known);
    nothing is recorded as delivered."""
    for address in addresses:
        if not is_valid_address(address):
            raise InputError(invalid_address(address))
    series, drafts = session.series, session.drafts()
    keyguard.refuse_other_key(series, session.ledger)  # before render makes a key
    if session.ledger.key_fingerprint() is None:
        _record_key_of_test(series)
    instalment = publishing.resolve(series, drafts, ref, session.ledger)
    message = publishing.render(series, drafts, instalment, pin_urls=False)
    message = message.for_test()  # "[TEST] …", with its own delivery and Message-IDs
    known = _known(session, addresses)
    recipients = [message.recipient(known.get(a.lower()) or Subscriber(a)) for a in addresses]
    batch = Batch(f"test-{uuid.uuid4().hex[:16]}", message, recipients, test=True)
    policy = RetryPolicy(max_seconds=series.settings.delivery.max_retry_seconds)
    return send_with_retries(session.provider, batch, policy, RateLimiter(None), threading.Event())


def _record_key_of_test(series: Series) -> None:
    """A test's links are real: record the key in use as any real send does (`keyguard`).
    `send test` only reads the ledger, so that it can run beside a send; it records under
    the lock, and not while a send holds it (that send records its key itself). The key
    is made first: on a full disk, that is the one error, and nothing is left behind."""
    series.unsubscribe_secret()
    with (
        contextlib.suppress(LockHeld),
        series_lock(series.state_dir, "send test"),
        publishing.open_ledger(series) as ledger,
    ):
        keyguard.require_same_key(series, ledger, "send next")


def _known(session: Session, addresses: Sequence[str]) -> dict[str, Subscriber]:
    wanted = {a.lower() for a in addresses}
    path = session.series.subscribers_path
    if not path.exists():
        return {}
    return {s.key: s for s in subscribers.where_key(path, wanted.__contains__)}
