"""`seriespub send due` (for cron) and `seriespub send cancel` (provider-held sends)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    SeriesOption,
    YesOption,
    confirm,
    err,
    load_series,
    out,
    print_json,
)
from seriespub.cli.send import NewKeyOption, app, exit_for, hooks_for, summary

if TYPE_CHECKING:  # imported where used: `seriespub --help` loads none of the core
    from seriespub.ops import send_due as ops


@app.command("due")
def due(
    new_key: NewKeyOption = False,
    series: SeriesOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document on stdout: sent (one report per run, as send "
            "next --json), next (the next planned release: number, title, release) and "
            "running (the other send this run left alone: pid, host, purpose, started_at).",
        ),
    ] = False,
) -> None:
    """Send what the calendar says is due now; safe to run every minute from cron.

    While another send of this series runs on this host (a long, rate-limited one), it
    says so in one line and exits 0.
    """
    from seriespub.ops import send_due as ops
    from seriespub.ops.session import session, utc_now

    hooks = hooks_for(yes=True)
    if not as_json:
        hooks.sent = lambda report: summary(report, as_json=False)
    now, s = utc_now(), load_series(series)
    try:
        with session(s, "send due", now=now) as held:
            outcome = ops.due(held, hooks, new_key=new_key)
    except ops.LockHeld as exc:
        running = ops.running_send(exc, now)
        if running is None:
            raise
        _beside(s, running, now, as_json)
        return
    if as_json:
        print_json(_due_json(outcome.reports, outcome.upcoming, None))
    if not outcome.reports:
        err().print(_nothing_due_line(outcome.upcoming, now), markup=False)
    for report in outcome.reports:
        exit_for(report, resume="seriespub send due")


def _beside(s: ops.Series, running: ops.LockHolder, now: dt.datetime, as_json: bool) -> None:
    """Another send of this series is running here: nothing to do this tick."""
    from seriespub.ops import send_due as ops

    if as_json:
        from seriespub.ops.session import session

        with session(s, "send due", now=now, readonly=True) as held:  # reads beside it
            upcoming = ops.next_release(held)
        print_json(_due_json([], upcoming, running))
    err().print(ops.running_line(running), markup=False)


def _due_json(
    reports: list[ops.SendReport],
    upcoming: ops.PlannedRelease | None,
    running: ops.LockHolder | None,
) -> dict[str, object]:
    from seriespub.ops import send_due as ops

    return {
        "sent": [ops.report_json(r) for r in reports],
        "next": upcoming
        and {
            "number": upcoming.number,
            "title": upcoming.title,
            "release": upcoming.release.isoformat(),
        },
        "running": running and asdict(running),
    }


def _nothing_due_line(upcoming: ops.PlannedRelease | None, now: dt.datetime) -> str:
    from seriespub.ops import send_due as ops

    if upcoming is None:
        return "Nothing is due, and no release is planned: write the next instalment."
    return (
        f"Nothing is due. Next release: part {upcoming.number} ({upcoming.title}) on "
        f"{ops.format_local(upcoming.release)}, {ops.relative(upcoming.release, now)}."
    )


@app.command("cancel")
def cancel(
    number: Annotated[int, typer.Argument(help="The instalment whose scheduled send to withdraw.")],
    yes: YesOption = False,
    series: SeriesOption = None,
) -> None:
    """Withdraw a send handed to the provider with `send next --at`, before its release.

    The front's held part takes its round with it: the late joiners' parts held for the
    same time are withdrawn too. A late joiner's held copy of a part the front has is
    withdrawn alone. With nothing held (never held, released, or cancelled already) there
    is nothing to do: it says so and exits 0.
    """
    from seriespub.ops import send_due as ops
    from seriespub.ops.session import session, utc_now

    def ask(count: int, with_round: dict[int, int]) -> None:
        also = "".join(f", part {n} to {c:,}" for n, c in with_round.items())
        also = f" (and the late joiners' parts held with it{also})" if also else ""
        confirm(f"Withdraw part {number} from {count:,} scheduled deliveries{also}?", yes)

    with session(load_series(series), "send cancel", now=utc_now()) as held:
        done = ops.cancel(held, number, ask)
    if not done.count:
        err().print(
            f"Nothing to cancel: part {number} has no deliveries held by the provider.",
            markup=False,
        )
        return
    out().print(f"part {number}: {done.count:,} scheduled deliveries cancelled")
    for part, count in done.with_round.items():
        noun = "delivery" if count == 1 else "deliveries"
        out().print(f"part {part}: {count:,} scheduled {noun} held in the same round cancelled")
