"""`seriespub send due` (for cron) and `seriespub send cancel` (provider-held sends)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    JsonOption,
    SeriesOption,
    YesOption,
    confirm,
    err,
    load_series,
    out,
    print_json,
)
from seriespub.cli.send import app, exit_for, hooks_for, summary

if TYPE_CHECKING:  # imported where used: `seriespub --help` loads none of the core
    from seriespub.ops import send as ops


@app.command("due")
def due(series: SeriesOption = None, as_json: JsonOption = False) -> None:
    """Send what the calendar says is due now; safe to run every minute from cron."""
    from seriespub.ops import send as ops
    from seriespub.ops.session import session, utc_now

    hooks = hooks_for(yes=True)
    if not as_json:
        hooks.sent = lambda report: summary(report, as_json=False)
    now = utc_now()
    with session(load_series(series), "send due", now=now) as held:
        outcome = ops.due(held, hooks)
    upcoming = outcome.upcoming
    if as_json:
        print_json(
            {
                "sent": [ops.report_json(r) for r in outcome.reports],
                "next": upcoming
                and {
                    "number": upcoming.number,
                    "title": upcoming.title,
                    "release": upcoming.release.isoformat(),
                },
            }
        )
    if not outcome.reports:
        err().print(_nothing_due_line(upcoming, now), markup=False)
    for report in outcome.reports:
        exit_for(report, resume="seriespub send due")


def _nothing_due_line(upcoming: ops.PlannedRelease | None, now: dt.datetime) -> str:
    from seriespub.ops import send as ops

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
    """Withdraw a send handed to the provider with `send next --at`, before its release."""
    from seriespub.ops import send as ops
    from seriespub.ops.session import session, utc_now

    def ask(count: int) -> None:
        confirm(f"Withdraw part {number} from {count:,} scheduled deliveries?", yes)

    with session(load_series(series), "send cancel", now=utc_now()) as held:
        count = ops.cancel(held, number, ask)
    out().print(f"part {number}: {count:,} scheduled deliveries cancelled")
