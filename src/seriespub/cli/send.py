"""`seriespub send next|test|retry|settle`: options, the prompt, signals, progress, printing.

Everything else is `seriespub.ops.send`; `send due` and `send cancel` are in `cli/send_due.py`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    ErrorHandlingGroup,
    SeriesOption,
    YesOption,
    confirm,
    err,
    fail,
    load_series,
    out,
    print_json,
)
from seriespub.cli.progress import make_progress, release_time
from seriespub.cli.signals import Received, signal_name, signals_stop

if TYPE_CHECKING:  # imported where used: `seriespub --help` loads none of the core
    from seriespub.ops import send as ops

app = typer.Typer(help="Send instalments.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    from seriespub.cli import send_due  # noqa: F401  (adds `send due` and `send cancel`)

    root.add_typer(app, name="send", cls=ErrorHandlingGroup)


DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Render everything, send nothing, change nothing.")
]
SkipInvalidOption = Annotated[
    bool,
    typer.Option(
        "--skip-invalid",
        help="Send although some rows of subscribers.csv cannot be read; the "
        "part stays open for those readers.",
    ),
]
SendJsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout: the run's report (instalment, sent, failed, "
        "deferred, unknown, scheduled, send_at (when the provider releases the scheduled "
        "ones; null: sent now), settled, finished, interrupted, error, seconds; "
        "late_joiners: one report per late joiners' part); with nothing to send, instalment "
        "and to_send 0 (instalment null when every part has gone out). With --dry-run, the "
        "plan: dry_run, instalment, title, subject, provider, send_at, active (readers in the "
        "list), to_send (of them, this run), done (deliveries already settled), left (for "
        "the next run: --limit), unknown, pending, invalid (unreadable rows), suppressed "
        "(active readers the provider suppresses, left out of active), built "
        "(messages rendered in full), counted (the rest), late_joiners (one plan per part).",
    ),
]
NewKeyOption = Annotated[
    bool,
    typer.Option(
        "--new-unsubscribe-key",
        help="Make the unsubscribe key in use the series' key, although it sent with "
        "another. Recorded at once, even if nothing is then sent. Links already sent keep "
        "working while the old key is in SERIESPUB_SECRET_PREVIOUS; a generated "
        ".seriespub/secret is kept in .seriespub/secret.previous (and, with no "
        "SERIESPUB_SECRET, replaced by a new key).",
    ),
]
STYLES = {"info": None, "warning": "yellow", "error": "red"}


@app.command("next")
def next_(
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="Let the provider release it at this time ('2026-12-01 09:00', or 'slot')."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="Send to at most this many readers this run; the rest go out on the next run.",
        ),
    ] = None,
    skip_invalid: SkipInvalidOption = False,
    new_key: NewKeyOption = False,
    series: SeriesOption = None,
    as_json: SendJsonOption = False,
) -> None:
    """Send the next instalment to every active subscriber who has not had it."""
    from seriespub.ops import send as ops

    options = ops.SendOptions("next", dry_run, at, None, skip_invalid, limit, new_key)
    _send(series, options, yes, as_json)


@app.command("retry")
def retry(
    number: Annotated[
        int | None, typer.Argument(help="Instalment (default: the one going out).")
    ] = None,
    unknown: Annotated[
        bool,
        typer.Option(
            "--unknown", help="Also resend deliveries whose outcome is unknown (may duplicate)."
        ),
    ] = False,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    skip_invalid: SkipInvalidOption = False,
    new_key: NewKeyOption = False,
    series: SeriesOption = None,
    as_json: SendJsonOption = False,
) -> None:
    """Resend exactly the deliveries that failed transiently (and, with --unknown, those)."""
    from seriespub.ops import send as ops

    ref = str(number) if number is not None else "next"
    only = ops.retry_statuses(unknown)
    options = ops.SendOptions(ref, dry_run, None, only, skip_invalid, new_key=new_key)
    _send(series, options, yes, as_json)


@app.command("settle")
def settle(
    number: Annotated[int, typer.Argument(help="The instalment.")],
    assume_delivered: Annotated[
        bool, typer.Option("--assume-delivered", help="Record unknown deliveries as delivered.")
    ] = False,
    series: SeriesOption = None,
) -> None:
    """Decide about deliveries whose outcome is unknown."""
    from seriespub.ops import send as ops
    from seriespub.ops.session import session, utc_now

    if not assume_delivered:
        fail(
            "say what to do: --assume-delivered (or resend them: seriespub send retry "
            f"{number} --unknown)",
            code=2,
        )
    with session(load_series(series), "send settle", now=utc_now()) as held:
        settled = ops.settle(held, number)
    out().print(f"part {number}: {settled.changed} unknown deliveries recorded as delivered")
    if settled.finished:
        out().print(f"part {number} is complete: every active reader has had it")


@app.command("test")
def test(
    to: Annotated[list[str], typer.Option("--to", help="Address to send to (repeatable).")],
    ref: Annotated[str, typer.Argument(help="next, a number, or a draft file.")] = "next",
    series: SeriesOption = None,
) -> None:
    """Send an instalment to the given addresses only; nothing is recorded as delivered."""
    from seriespub.ops import send as ops
    from seriespub.ops.session import session, utc_now

    with session(load_series(series), "send test", now=utc_now(), readonly=True) as held:
        results = ops.send_test(held, ref, to)
    for r in results:
        line = f"{r.email}: {r.outcome.value}" + (f" ({r.reason})" if r.reason else "")
        out().print(line, markup=False)
    if any(r.outcome != "sent" for r in results):
        raise typer.Exit(1)


def _send(series: SeriesOption, options: ops.SendOptions, yes: bool, as_json: bool) -> None:
    from seriespub.ops import send as ops
    from seriespub.ops.session import session, utc_now

    s, hooks = load_series(series), hooks_for(yes)
    try:
        # A dry run changes nothing, so it takes no lock and opens the ledger read-only.
        with session(s, f"send {options.ref}", now=utc_now(), readonly=options.dry_run) as held:
            outcome = ops.send(held, options, hooks)
    except ops.NothingToSend:
        if as_json:  # every part has gone out: still one document (the words on stderr)
            print_json({"instalment": None, "to_send": 0})
        raise
    if options.dry_run:
        _dry_run_done(outcome, as_json)
        return
    # Per-reader tracks: late joiners' runs (one per part) come before the front's.
    late = [o.report for o in outcome.groups if o.report is not None]
    if outcome.report is None and not late:
        _nothing_sent(outcome, as_json)
        return
    if as_json:
        data = (
            ops.report_json(outcome.report)
            if outcome.report is not None
            else {"instalment": outcome.number, "to_send": 0}
        )
        print_json(
            {**data, "late_joiners": [ops.report_json(r) for r in late]} if outcome.groups else data
        )
    else:
        for report in [*late, *([outcome.report] if outcome.report else [])]:
            summary(report, as_json=False)
    for report in [*late, *([outcome.report] if outcome.report else [])]:
        exit_for(report)
    if outcome.plan.left:
        err().print(
            f"{outcome.plan.left:,} reader(s) left for the next run: seriespub send "
            f"next --limit {options.limit}",
            markup=False,
        )


def hooks_for(yes: bool) -> ops.SendHooks:
    """Hooks that print the plan and notices on stderr, ask before sending, show progress,
    and turn Ctrl-C, SIGTERM and SIGHUP during a run into a stop between batches."""
    from seriespub.ops import send as ops

    progress, stop, received = make_progress(), threading.Event(), Received()

    def ask(plans: Sequence[ops.SendPlan]) -> None:
        confirm(send_question(plans), yes)

    def notice(text: str, level: ops.Level) -> None:
        err().print(text, markup=False, style=STYLES[level], soft_wrap=True)

    @contextlib.contextmanager
    def running() -> Iterator[None]:
        with progress, signals_stop(stop, received):
            yield

    return ops.SendHooks(
        confirm=lambda plan: ask([plan]),
        confirm_round=ask,  # a round (late joiners' parts, the front's): one question
        show_plan=show_plan,
        notice=notice,
        progress=progress,
        stop=stop,
        running=running,
        stop_signal=lambda: received.signum,
    )


def send_question(plans: Sequence[ops.SendPlan]) -> str:
    """'Send part 1 to 3, part 2 to 1 and part 4 to 120 subscriber(s) via postmark?'; and
    with deliveries a stopped run left pending, that those it never sent go too."""
    each = [f"part {p.instalment.number} to {p.to_send:,}" for p in plans]
    listed = each[-1] if len(each) == 1 else f"{', '.join(each[:-1])} and {each[-1]}"
    pending = sum(p.pending for p in plans)
    also = f" (and to those of the {pending:,} pending that never went out)" if pending else ""
    return f"Send {listed} subscriber(s){also} via {plans[-1].provider}?"


def _dry_run_done(outcome: ops.SendOutcome, as_json: bool) -> None:
    from seriespub.ops import send as ops

    full, more = outcome.dry_run_counts()
    if full or more:
        rest = f" in full and counted {more:,} more" if more > 0 else ""
        err().print(f"dry run: rendered {full:,} message(s){rest}; nothing was sent or recorded.")
    else:
        _nothing_line(outcome.plan, outcome.number)
    if as_json:
        print_json(ops.dry_run_json(outcome))


def _nothing_sent(outcome: ops.SendOutcome, as_json: bool) -> None:
    _nothing_line(outcome.plan, outcome.number)
    if as_json:
        print_json({"instalment": outcome.number, "to_send": 0})


def _nothing_line(plan: ops.SendPlan, number: int) -> None:
    if plan.invalid:
        line = (
            f"Nothing to send to the readers that can be read; part {number} "
            f"stays open for the {plan.invalid:,} row(s) that cannot."
        )
    elif plan.only is not None:  # a retry: a late joiner may not have the part yet
        line = f"Nothing to send: no delivery of part {number} failed or was left open."
    else:
        line = "Nothing to send: everyone has had it."
    err().print(line)


def show_plan(plan: ops.SendPlan) -> None:
    i = plan.instalment
    when = f", released by the provider at {release_time(plan.send_at)}" if plan.send_at else ""
    err().print(
        f"Part {i.number}: {i.title!r}\n  subject: {i.subject}\n  recipients: "
        f"{_recipients(plan)}\n  provider: {plan.provider}{when}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if not plan.invalid:
        return
    err().print(
        f"  unreadable rows: {plan.invalid:,} (these readers get nothing)",
        markup=False,
        highlight=False,
        soft_wrap=True,
        style="yellow",
    )
    for problem in plan.invalid_rows:
        err().print(
            f"    subscribers.csv:{problem.line}: {problem.message}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if plan.invalid > len(plan.invalid_rows):
        err().print(
            f"    … and {plan.invalid - len(plan.invalid_rows):,} more "
            "(seriespub check lists them all)",
            markup=False,
            soft_wrap=True,
        )


def _recipients(plan: ops.SendPlan) -> str:
    """'3 of 5 active readers (2 already had it)': every number counts readers of the list
    as it is now, so they add up (the ledger's count of deliveries also holds readers who
    have left it since)."""
    readers = (
        f"{plan.to_send:,} of {plan.active:,} "
        + {
            "all": "active readers",
            "front": "active readers on the front",
            "late": f"reader{'' if plan.active == 1 else 's'} catching up",
        }[plan.readers]
    )
    if plan.only is not None:  # `send retry`: the others are not its business
        which = sorted(status.value for status in plan.only)
        return f"{readers} (those whose delivery was {', '.join(which[:-1])} or {which[-1]})"
    limited = (
        f" (--limit {plan.limit}: {plan.to_send:,} of {plan.waiting:,} waiting)"
        if plan.left
        else ""
    )
    # Deliveries a stopped run left pending count as had: they are settled before any
    # send, and said so, as "already had it" alone would be taken for settled; those that
    # never went out are sent by this run, on top of its count.
    pending = (
        f", {plan.pending:,} of them pending from a stopped run: checked first, sent if "
        "they never went out"
        if plan.pending
        else ""
    )
    left_out = (
        f"; {plan.suppressed:,} left out: suppressed by {plan.provider}" if plan.suppressed else ""
    )
    had = f"{plan.active - plan.waiting:,} already had it{pending}{left_out}"
    return f"{readers} ({had}){limited}"


def summary(report: ops.SendReport, as_json: bool) -> None:
    from seriespub.ops import send as ops

    if as_json:
        print_json(ops.report_json(report))
        return
    # A held send (--at) has sent nothing yet: it says what the provider holds, and until when.
    done = (
        f"sent {report.sent:,}, scheduled {report.scheduled:,}"
        if report.send_at is None
        else f"scheduled {report.scheduled:,} for {release_time(report.send_at)}"
    )
    out().print(
        f"Part {report.number}: {done}, failed {report.failed:,}, deferred "
        f"{report.deferred:,}, unknown {report.unknown:,} in {report.elapsed:.1f}s",
        highlight=False,
    )
    if report.resent:
        out().print(f"  {report.resent:,} of them a stopped run had left pending and not sent")
    for f in report.failures[:10]:
        out().print(f"  failed {f.email}: {f.reason}", markup=False)
    if report.failed and not report.refused_all:
        err().print(
            f"warning: {report.failed:,} of {report.attempted:,} deliveries of part "
            f"{report.number} were refused permanently (see them with: seriespub log "
            f"{report.number} --failed)",
            markup=False,
            style="yellow",
        )


def exit_for(report: ops.SendReport, resume: str = "seriespub send next") -> None:
    """Exit 128 + the signal after SIGINT/SIGTERM/SIGHUP (130, 143, 129); 1 when anything is
    left to do or the provider refused every delivery; else return (some refusals are
    recorded and listed, with a warning: the run did its job)."""
    from seriespub.ops import send as ops

    n = report.number
    if report.interrupted:
        name, code = signal_name(report.stop_signal)
        err().print(
            f"Interrupted by {name}; every batch in flight was recorded. Resume with: {resume}",
            markup=False,
        )
        raise typer.Exit(code)
    if report.stopped_by is not None:
        cause = report.stopped_by.hint or "fix the cause"  # the provider's is specific
        fail(
            f"stopped: {report.stopped_by}",
            hint=f"{cause}, then resume with: {resume} (only the missing recipients are sent)",
        )
    if report.unknown:
        error = ops.unresolved(n, report.unknown)
        fail(str(error), error.hint)
    if report.deferred:
        fail(
            f"{report.deferred} deliveries failed transiently",
            hint=f"resend exactly those with: seriespub send retry {n}",
        )
    if report.refused_all:
        fail(
            f"part {n}: all {report.failed:,} deliveries were refused permanently: "
            f"{report.failures[0].reason}",
            hint=f"see them with: seriespub log {n} --failed",
        )
