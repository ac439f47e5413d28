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
    fail,
    load_series,
    out,
    print_json,
)
from seriespub.cli.send import app, exit_for, report_json, send_one

if TYPE_CHECKING:
    from seriespub.ledger import Ledger
    from seriespub.schedule import PlannedRelease
    from seriespub.sending import SendReport
    from seriespub.series import Series


@app.command("due")
def due(series: SeriesOption = None, as_json: JsonOption = False) -> None:
    """Send what the calendar says is due now; safe to run every minute from cron."""
    from seriespub import publishing
    from seriespub.lock import series_lock

    s = load_series(series)
    with series_lock(s.state_dir, "send due"), publishing.open_ledger(s) as ledger:
        reports = _send_everything_due(s, ledger, summary=not as_json)
        upcoming = _next_release(s, ledger)
    if as_json:
        print_json({"sent": [report_json(r) for r in reports], "next": upcoming and {
            "number": upcoming.number, "title": upcoming.title,
            "release": upcoming.release.isoformat()}})
    if not reports:
        err().print(_nothing_due_line(upcoming), markup=False)
    for report in reports:
        exit_for(report, resume="seriespub send due")


def _send_everything_due(s: Series, ledger: Ledger, *, summary: bool) -> list[SendReport]:
    """The oldest due instalment (or, with catch_up = "all", every overdue one).

    Each step is written to the run log as it happens, so a failure part-way still leaves
    the record of what went out before it.
    """
    from seriespub import publishing, runlog, schedule
    from seriespub.errors import SeriespubError
    from seriespub.scheduling import calendar

    reports: list[SendReport] = []
    last: int | None = None
    while True:
        now = dt.datetime.now(dt.UTC)
        release = schedule.due(calendar(s, publishing.drafts_of(s), ledger, now))
        if release is None or release.number == last:
            return reports
        last = release.number
        runlog.append(s.state_dir, {"event": "due", "instalment": release.number,
                                    "release": release.release.isoformat()})
        try:
            report = send_one(s, ledger, str(release.number), yes=True, summary=summary)
        except SeriespubError as exc:
            runlog.append(s.state_dir, {"event": "error", "instalment": release.number,
                                        "error": str(exc)})
            raise
        if report is None:
            return reports
        reports.append(report)
        runlog.append(s.state_dir, {"event": "sent", **report_json(report)})
        if not report.finished:
            return reports


def _next_release(s: Series, ledger: Ledger) -> PlannedRelease | None:
    from seriespub import publishing, schedule
    from seriespub.scheduling import calendar

    now = dt.datetime.now(dt.UTC)
    return schedule.next_release(calendar(s, publishing.drafts_of(s, strict=False), ledger, now))


def _nothing_due_line(upcoming: PlannedRelease | None) -> str:
    from seriespub import schedule

    if upcoming is None:
        return "Nothing is due, and no release is planned: write the next instalment."
    now = dt.datetime.now(dt.UTC)
    return (f"Nothing is due. Next release: part {upcoming.number} ({upcoming.title}) on "
            f"{schedule.format_local(upcoming.release)}, "
            f"{schedule.relative(upcoming.release, now)}.")


@app.command("cancel")
def cancel(
    number: Annotated[int, typer.Argument(help="The instalment whose scheduled send to "
                                          "withdraw.")],
    yes: YesOption = False,
    series: SeriesOption = None,
) -> None:
    """Withdraw a send handed to the provider with `send next --at`, before its release."""
    from seriespub import publishing
    from seriespub.lock import series_lock
    from seriespub.models import DeliveryStatus

    s = load_series(series)
    with series_lock(s.state_dir, "send cancel"), publishing.open_ledger(s) as ledger:
        batches = ledger.scheduled_batches(number)
        if not batches:
            fail(f"part {number} has no scheduled deliveries")
        count = sum(len(rows) for rows in batches.values())
        confirm(f"Withdraw part {number} from {count:,} scheduled deliveries?", yes)
        provider = publishing.provider_for(s)
        try:
            for key, rows in batches.items():
                provider.cancel_scheduled(key, [message_id for _, message_id in rows])
                ledger.set_status(number, [a for a, _ in rows], DeliveryStatus.CANCELLED,
                                  "cancelled by the author")
        finally:
            provider.close()
        ledger.reset_instalment(number)
    out().print(f"part {number}: {count:,} scheduled deliveries cancelled")
