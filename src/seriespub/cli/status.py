"""`seriespub status` and `seriespub log`."""

from __future__ import annotations

from typing import Annotated

import typer

from seriespub.cli.common import JsonOption, SeriesOption, load_series, out, print_json


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("log")(log)


def status(series: SeriesOption = None, as_json: JsonOption = False) -> None:
    """A table of the series: each instalment's state and deliveries."""
    from rich.table import Table

    from seriespub import publishing
    from seriespub.overview import instalment_states

    s = load_series(series)
    drafts = publishing.drafts_of(s, strict=False)
    with publishing.open_ledger(s) as ledger:
        states = instalment_states(drafts, ledger)
    upcoming = next((st for st in states if st.state not in ("sent", "scheduled")), None)
    if as_json:
        print_json({"series": s.settings.series.title, "provider":
                    s.settings.delivery.provider, "instalments": [st.as_json() for st in states],
                    "next": upcoming.number if upcoming else None})
        return
    table = Table(title=s.settings.series.title, title_justify="left")
    for column in ("#", "Title", "State", "Sent", "Delivered", "Failed", "Open"):
        table.add_column(column, justify="right" if column in ("#", "Delivered", "Failed",
                                                                "Open") else "left")
    for st in states:
        when = st.sent_at.strftime("%Y-%m-%d %H:%M") if st.sent_at else ""
        table.add_row(str(st.number), st.title, st.state, when, f"{st.delivered:,}",
                      f"{st.failed:,}", f"{st.open:,}")
    out().print(table)
    out().print(f"Next: part {upcoming.number}, {upcoming.title}" if upcoming
                else "Every instalment has gone out.")


def log(
    number: Annotated[int, typer.Argument(help="The instalment number.")],
    failed: Annotated[bool, typer.Option("--failed", help="Only failed deliveries.")] = False,
    unknown: Annotated[bool, typer.Option("--unknown", help="Only deliveries whose outcome "
                                          "is unknown.")] = False,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every recipient of instalment N: status, provider message id, reason."""
    from rich.table import Table

    from seriespub import publishing
    from seriespub.models import DeliveryStatus

    wanted: list[DeliveryStatus] | None = None
    if failed or unknown:
        wanted = ([DeliveryStatus.FAILED, DeliveryStatus.DEFERRED] if failed else []) + (
            [DeliveryStatus.UNKNOWN] if unknown else [])
    s = load_series(series)
    with publishing.open_ledger(s) as ledger:
        rows = list(ledger.deliveries(number, wanted))
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
