"""`seriespub send next|test|retry|settle`: the author's daily commands."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    JsonOption,
    SeriesOption,
    YesOption,
    confirm,
    err,
    fail,
    load_series,
    out,
    print_json,
)

if TYPE_CHECKING:
    from seriespub.drafts import DraftSet
    from seriespub.ledger import Ledger
    from seriespub.message import PreparedMessage
    from seriespub.models import DeliveryStatus, Instalment
    from seriespub.providers import Provider
    from seriespub.sending import SendPlan, SendReport
    from seriespub.series import Series

app = typer.Typer(help="Send instalments.", no_args_is_help=True)

class _Complete:
    """_Run's answer when the instalment needed nothing more and is now marked finished."""


ALREADY_COMPLETE = _Complete()

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Render everything, send "
                                            "nothing, change nothing.")]
SkipInvalidOption = Annotated[bool, typer.Option(
    "--skip-invalid", help="Send although some rows of subscribers.csv cannot be read; the "
    "part stays open for those readers.")]


@app.command("next")
def next_(
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    at: Annotated[str | None, typer.Option("--at", help="Let the provider release it at this "
                                           "time ('2026-12-01 09:00', or 'slot').")] = None,
    skip_invalid: SkipInvalidOption = False,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send the next instalment to every active subscriber who has not had it."""
    s = load_series(series)
    _send(s, "next", yes=yes, dry_run=dry_run, at=at, as_json=as_json, only=None,
          skip_invalid=skip_invalid)


@app.command("retry")
def retry(
    number: Annotated[int | None, typer.Argument(help="Instalment (default: the one "
                                                 "going out).")] = None,
    unknown: Annotated[bool, typer.Option("--unknown", help="Also resend deliveries whose "
                                          "outcome is unknown (may duplicate).")] = False,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    skip_invalid: SkipInvalidOption = False,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resend exactly the deliveries that failed transiently (and, with --unknown, those)."""
    from seriespub.models import DeliveryStatus

    only = {DeliveryStatus.DEFERRED, DeliveryStatus.CANCELLED}
    if unknown:
        only.add(DeliveryStatus.UNKNOWN)
    s = load_series(series)
    ref = str(number) if number is not None else "next"
    _send(s, ref, yes=yes, dry_run=dry_run, at=None, as_json=as_json, only=frozenset(only),
          skip_invalid=skip_invalid)


@app.command("settle")
def settle(
    number: Annotated[int, typer.Argument(help="The instalment.")],
    assume_delivered: Annotated[bool, typer.Option(
        "--assume-delivered", help="Record unknown deliveries as delivered.")] = False,
    series: SeriesOption = None,
) -> None:
    """Decide about deliveries whose outcome is unknown."""
    from seriespub import publishing
    from seriespub.lock import series_lock
    from seriespub.sending import assume_delivered as assume

    if not assume_delivered:
        fail("say what to do: --assume-delivered (or resend them: seriespub send retry "
             f"{number} --unknown)", code=2)
    s = load_series(series)
    with series_lock(s.state_dir, "send settle"), publishing.open_ledger(s) as ledger:
        if publishing.drafts_of(s, strict=False).by_number(number) is None and not (
                ledger.counts(number) or number in ledger.instalment_records()):
            fail(f"part {number} does not exist: no draft and nothing in the ledger",
                 hint="seriespub status lists the instalments")
        changed = assume(ledger, number)
    out().print(f"part {number}: {changed} unknown deliveries recorded as delivered")


@app.command("test")
def test(
    to: Annotated[list[str], typer.Option("--to", help="Address to send to (repeatable).")],
    ref: Annotated[str, typer.Argument(help="next, a number, or a draft file.")] = "next",
    series: SeriesOption = None,
) -> None:
    """Send an instalment to the given addresses only; nothing is recorded as delivered."""
    from seriespub import publishing
    from seriespub.testsend import send_test

    s = load_series(series)
    drafts = publishing.drafts_of(s)
    instalment = publishing.resolve(s, drafts, ref)
    results = send_test(s, drafts, instalment, to)
    for r in results:
        line = f"{r.email}: {r.outcome.value}" + (f" ({r.reason})" if r.reason else "")
        out().print(line, markup=False)
    if any(r.outcome != "sent" for r in results):
        raise typer.Exit(1)


def _send(s: Series, ref: str, *, yes: bool, dry_run: bool, at: str | None, as_json: bool,
          only: frozenset[DeliveryStatus] | None, skip_invalid: bool = False) -> None:
    from seriespub import publishing
    from seriespub.lock import series_lock

    # A dry run changes nothing, so it takes no lock and opens the ledger read-only.
    lock = contextlib.nullcontext() if dry_run else series_lock(s.state_dir, f"send {ref}")
    with lock, publishing.open_ledger(s, readonly=dry_run) as ledger:
        report = send_one(s, ledger, ref, yes=yes, dry_run=dry_run, at=at, as_json=as_json,
                          only=only, skip_invalid=skip_invalid)
    if report is not None:
        exit_for(report)


def send_one(s: Series, ledger: Ledger, ref: str, *, yes: bool, dry_run: bool = False,
             at: str | None = None, as_json: bool = False,
             only: frozenset[DeliveryStatus] | None = None,
             summary: bool = True, skip_invalid: bool = False) -> SendReport | None:
    """Resolve, render and send one instalment; the caller holds the series lock."""
    from seriespub import publishing

    drafts = publishing.drafts_of(s)
    for _ in range(len(drafts.instalments) + 1):
        instalment = publishing.resolve(s, drafts, ref, ledger)
        publishing.ensure_ready(instalment)
        message = publishing.render(s, drafts, instalment)
        provider = publishing.provider_for(s)
        try:
            send_at = _send_at(s, provider, instalment, at, drafts, ledger)
            run = _Run(s, ledger, provider, dry_run=dry_run, as_json=as_json, summary=summary,
                       skip_invalid=skip_invalid)
            report = run(instalment, message, only, send_at, yes)
        finally:
            provider.close()
        # An instalment found complete (say after `send settle`) is marked finished; `next`
        # then means the one after it.
        if not isinstance(report, _Complete):
            return report
        if ref != "next":
            return None
    return None


class _Run:
    """Plan, show, confirm, send, summarise."""

    def __init__(self, s: Series, ledger: Ledger, provider: Provider, *, dry_run: bool,
                 as_json: bool, summary: bool = True, skip_invalid: bool = False) -> None:
        self.s, self.ledger, self.provider = s, ledger, provider
        self.dry_run, self.as_json, self.summary = dry_run, as_json, summary
        self.skip_invalid = skip_invalid

    def _sync_suppressions(self) -> None:
        """Pull the provider's unsubscribes and bounces first; if it will not tell (a
        sending-only key), warn and go on: the provider still refuses those addresses."""
        from seriespub.errors import SendError
        from seriespub.suppressions import sync_suppressions

        try:
            synced = sync_suppressions(self.s, self.provider)
        except SendError as exc:
            err().print(f"warning: could not read suppressions: {exc}; sending anyway",
                        markup=False, style="yellow")
            return
        if synced:
            err().print(f"{synced} subscriber(s) marked from {self.provider.name}'s "
                        "suppressions")

    def __call__(self, instalment: Instalment, message: PreparedMessage,
                 only: frozenset[DeliveryStatus] | None, send_at: dt.datetime | None,
                 yes: bool) -> SendReport | _Complete | None:
        from seriespub.cli.progress import make_progress
        from seriespub.sending import Sender

        if not self.dry_run:
            self._sync_suppressions()
        progress = make_progress()
        sender = Sender(self.s, self.ledger, self.provider, progress=progress,
                        snapshot=not self.dry_run)
        plan = sender.plan(instalment, message, only=only, send_at=send_at)
        _show_plan(plan)
        if plan.unknown and not plan.resends_unknown:
            _unknown_error(instalment.number, plan.unknown)
        if plan.invalid and not (self.skip_invalid or self.dry_run):
            _refuse_invalid(plan)
        if plan.to_send == 0 and plan.pending == 0:
            if only is None and not self.dry_run and sender.finish_if_complete(plan):
                return ALREADY_COMPLETE
            err().print("Nothing to send: everyone has had it." if not plan.invalid else
                        f"Nothing to send to the readers that can be read; part "
                        f"{instalment.number} stays open for the {plan.invalid:,} row(s) "
                        "that cannot.")
            if self.as_json:
                print_json({"instalment": instalment.number, "to_send": 0})
            return None
        if self.dry_run:
            _dry_run(self.s, plan)
            return None
        confirm(f"Send part {instalment.number} to {plan.to_send:,} subscriber(s) via "
                f"{plan.provider}?", yes)
        with progress, _signals_stop(sender.stop) as received:
            report = sender.run(plan)
        report.stop_signal = received.signum
        _apply_status_changes(self.s, report)
        if self.summary:
            _summary(report, self.as_json)
        return report


# Ctrl-C; systemd, `timeout`, Docker and CI cancellation; the terminal going away.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Received:
    """The signal that asked the run to stop, if any (the exit code is 128 + its number)."""

    signum: int | None = None


@contextlib.contextmanager
def _signals_stop(stop: threading.Event) -> Iterator[_Received]:
    """The first SIGINT, SIGTERM or SIGHUP asks the send to stop between batches (each one
    in flight is then recorded whole); a second one quits at once."""
    received = _Received()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            _quit_now(signum)
        received.signum = signum
        stop.set()
        again = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        # After SIGHUP the terminal may be gone: a failed print must not break the run.
        with contextlib.suppress(Exception):
            err().print(f"Stopping after the batches in flight ({again} again to quit now)…")

    # A signal the caller ignores stays ignored (`nohup`, `cmd &` in a script).
    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS
                if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _quit_now(signum: int) -> None:
    """Die by the signal itself, so the caller sees 128 + its number. What is in flight stays
    `pending` in the ledger, and the next run settles it, as after a kill."""
    with contextlib.suppress(Exception):
        err().print("Quitting now; the next run settles what was in flight.")
        err().show_cursor(True)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _send_at(s: Series, provider: Provider, instalment: Instalment, at: str | None,
             drafts: DraftSet, ledger: Ledger) -> dt.datetime | None:
    if at is None:
        return None
    from seriespub.scheduling import provider_send_time, releases_by_number

    now = dt.datetime.now(dt.UTC)
    release = releases_by_number(s, drafts, ledger, now).get(instalment.number)
    return provider_send_time(s, provider, instalment, at, release, now)


def _show_plan(plan: SendPlan) -> None:
    i = plan.instalment
    when = f", released by the provider at {plan.send_at:%Y-%m-%d %H:%M %Z}" \
        if plan.send_at else ""
    err().print(f"Part {i.number}: {i.title!r}\n  subject: {i.subject}\n  recipients: "
                f"{plan.to_send:,} of {plan.active:,} active ({plan.done:,} already done)\n"
                f"  provider: {plan.provider}{when}", markup=False, highlight=False,
                soft_wrap=True)
    if plan.invalid:
        err().print(f"  unreadable rows: {plan.invalid:,} (these readers get nothing)",
                    markup=False, highlight=False, soft_wrap=True, style="yellow")
        for problem in plan.invalid_rows:
            err().print(f"    subscribers.csv:{problem.line}: {problem.message}",
                        markup=False, highlight=False, soft_wrap=True)
        if plan.invalid > len(plan.invalid_rows):
            err().print(f"    … and {plan.invalid - len(plan.invalid_rows):,} more "
                        "(seriespub check lists them all)", markup=False, soft_wrap=True)


def _refuse_invalid(plan: SendPlan) -> None:
    """An error, not typer.Exit: `send due` logs it in the run log."""
    from seriespub.errors import InputError

    n = plan.instalment.number
    raise InputError(f"{plan.invalid:,} row(s) of subscribers.csv cannot be read, so those "
                     f"readers would not get part {n}; nothing was sent",
                     hint="fix them (seriespub check lists them), or send to everyone else "
                          "with --skip-invalid (the part stays open for them)")


def _unknown_error(n: int, count: int) -> None:
    """Before a send or after one: the author must decide about unknown deliveries."""
    fail(f"part {n} has {count} deliveries whose outcome is unknown "
         "(the provider may or may not have sent them)",
         hint=f"see the deliveries with an unknown outcome: seriespub log {n} --unknown; "
              f"then either seriespub send retry {n} --unknown (may duplicate) or "
              f"seriespub send settle {n} --assume-delivered")


def _dry_run(s: Series, plan: SendPlan) -> None:
    from seriespub import subscribers

    built = 0
    for subscriber in subscribers.active(s.subscribers_path):
        plan.message.mime_for(plan.message.recipient(subscriber))
        built += 1
    err().print(f"dry run: rendered {built:,} message(s); nothing was sent or recorded.")


def _apply_status_changes(s: Series, report: SendReport) -> None:
    """Write refusals back to the list (under its lock); say only what was kept."""
    from seriespub import subscribers
    from seriespub.errors import SeriespubError

    if not report.status_changes:
        return
    try:
        changed = subscribers.update_statuses(s.subscribers_path, report.status_changes)
    except SeriespubError as exc:
        marks = ", ".join(f"{a} {st.value}" for a, st in list(report.status_changes.items())[:10])
        err().print(f"error: {len(report.status_changes)} subscriber(s) NOT marked in "
                    f"subscribers.csv ({exc}); mark them by hand: {marks}", markup=False,
                    style="red", soft_wrap=True)
        return
    if changed:
        err().print(f"{changed} subscriber(s) marked bounced/unsubscribed in subscribers.csv")


def report_json(report: SendReport) -> dict[str, object]:
    return {"instalment": report.number, "sent": report.sent, "failed": report.failed,
            "deferred": report.deferred, "unknown": report.unknown,
            "scheduled": report.scheduled, "settled": report.settled,
            "finished": report.finished, "interrupted": report.interrupted,
            "error": str(report.stopped_by) if report.stopped_by else None,
            "seconds": round(report.elapsed, 3)}


def _summary(report: SendReport, as_json: bool) -> None:
    if as_json:
        print_json(report_json(report))
        return
    out().print(f"Part {report.number}: sent {report.sent:,}, scheduled {report.scheduled:,}, "
                f"failed {report.failed:,}, deferred {report.deferred:,}, unknown "
                f"{report.unknown:,} in {report.elapsed:.1f}s", highlight=False)
    for f in report.failures[:10]:
        out().print(f"  failed {f.email}: {f.reason}", markup=False)
    if report.failed and not report.refused_all:
        err().print(f"warning: {report.failed:,} of {report.attempted:,} deliveries of part "
                    f"{report.number} were refused permanently (see them with: seriespub log "
                    f"{report.number} --failed)", markup=False, style="yellow")


def exit_for(report: SendReport, resume: str = "seriespub send next") -> None:
    """Exit 128 + the signal after SIGINT/SIGTERM/SIGHUP (130, 143, 129); 1 when anything is
    left to do or the provider refused every delivery; else return (some refusals are
    recorded and listed, with a warning: the run did its job)."""
    n = report.number
    if report.interrupted:
        signum = report.stop_signal or signal.SIGINT
        err().print(f"Interrupted by {signal.Signals(signum).name}; every batch in flight was "
                    f"recorded. Resume with: {resume}", markup=False)
        raise typer.Exit(128 + signum)
    if report.stopped_by is not None:
        cause = report.stopped_by.hint or "fix the cause"       # the provider's is specific
        fail(f"stopped: {report.stopped_by}", hint=f"{cause}, then resume with: "
             f"{resume} (only the missing recipients are sent)")
    if report.unknown:
        _unknown_error(n, report.unknown)
    if report.deferred:
        fail(f"{report.deferred} deliveries failed transiently",
             hint=f"resend exactly those with: seriespub send retry {n}")
    if report.refused_all:
        fail(f"part {n}: all {report.failed:,} deliveries were refused permanently: "
             f"{report.failures[0].reason}", hint=f"see them with: seriespub log {n} --failed")
