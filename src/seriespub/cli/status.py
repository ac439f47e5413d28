"""`seriespub status` and `seriespub log`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from seriespub.ledger import Ledger
    from seriespub.overview import InstalmentState
    from seriespub.series import Series

from seriespub.cli.common import JsonOption, SeriesOption, load_series, out, print_json


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("log")(log)


def status(series: SeriesOption = None, as_json: JsonOption = False) -> None:
    """A table of the series: each instalment's state and deliveries."""
    from rich.table import Table

    from seriespub import publishing
    from seriespub.overview import instalment_states
    from seriespub.scheduling import releases_by_number

    s = load_series(series)
    drafts = publishing.drafts_of(s, strict=False)
    now = dt.datetime.now(dt.UTC)
    with publishing.open_ledger(s, readonly=True) as ledger:
        releases = releases_by_number(s, drafts, ledger, now)
        states = instalment_states(drafts, ledger,
                                   {n: r.release for n, r in releases.items()})
    upcoming = next((st for st in states if st.state not in ("sent", "scheduled", "failed")),
                    None)
    if as_json:
        print_json({"series": s.settings.series.title, "provider":
                    s.settings.delivery.provider, "instalments": [st.as_json() for st in states],
                    "next": upcoming.number if upcoming else None})
        return
    table = Table(title=s.settings.series.title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Title", ratio=1, min_width=16)
    table.add_column("State", no_wrap=True)
    table.add_column("When", no_wrap=True)         # when it went out, else its release slot
    for column in ("Delivered", "Failed", "Open"):
        table.add_column(column, justify="right", no_wrap=True)
    for st in states:
        table.add_row(str(st.number), st.title, st.state, _when(st), f"{st.delivered:,}",
                      f"{st.failed:,}", f"{st.open:,}")
    out().print(table)
    out().print(f"Next: part {upcoming.number}, {upcoming.title}" if upcoming
                else "Every instalment has gone out.")


def _when(st: InstalmentState) -> str:
    if st.sent_at is not None:
        return st.sent_at.strftime("%a %Y-%m-%d %H:%M")
    return st.release.strftime("%a %Y-%m-%d %H:%M") if st.release else ""


def log(
    number: Annotated[int | None, typer.Argument(
        help="The instalment (default: the log of unattended runs).")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed deliveries.")] = False,
    unknown: Annotated[bool, typer.Option("--unknown", help="Only deliveries whose outcome "
                                          "is unknown.")] = False,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every recipient of instalment N (status, message id, reason), or the run log."""
    from rich.table import Table

    from seriespub import publishing
    from seriespub.models import DeliveryStatus

    if number is None:
        _run_log(series, as_json)
        return
    wanted: list[DeliveryStatus] | None = None
    if failed or unknown:
        wanted = ([DeliveryStatus.FAILED, DeliveryStatus.DEFERRED] if failed else []) + (
            [DeliveryStatus.UNKNOWN] if unknown else [])
    s = load_series(series)
    with publishing.open_ledger(s, readonly=True) as ledger:
        rows = list(ledger.deliveries(number, wanted))
        if not rows:
            _ensure_exists(s, ledger, number)
    if as_json:
        print_json({"instalment": number, "deliveries": [
            {"email": r.email, "status": r.status.value, "provider": r.provider,
             "message_id": r.message_id, "reason": r.reason, "attempts": r.attempts,
             "updated_at": r.updated_at} for r in rows]})
        return
    table = Table(title=f"Part {number}: {len(rows):,} deliveries", title_justify="left")
    for column in ("Address", "Status", "Message id", "Reason"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r.email, r.status.value, r.message_id, r.reason)
    out().print(table)


def _ensure_exists(s: Series, ledger: Ledger, number: int) -> None:
    """`log 99` names a part that has neither a draft nor a record: say so (exit 1)."""
    from seriespub import publishing
    from seriespub.errors import InputError

    drafts = publishing.drafts_of(s, strict=False)
    if drafts.by_number(number) is None and number not in ledger.instalment_records() \
            and not ledger.counts(number):
        raise InputError(f"no instalment number {number}: no draft in {s.drafts_dir} and no "
                         "deliveries recorded", hint="seriespub status lists them")


def _run_log(series: SeriesOption, as_json: bool) -> None:
    from seriespub import runlog

    events = runlog.read(load_series(series).state_dir, limit=200)
    if as_json:
        print_json({"events": events})
        return
    for event in events:
        rest = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("ts", "event")
                         and v not in (None, 0, False))
        out().print(f"{event.get('ts', '')}  {event.get('event', '')}  {rest}", markup=False,
                    soft_wrap=True)
    if not events:
        out().print("No unattended runs yet (`seriespub send due` writes here).")
