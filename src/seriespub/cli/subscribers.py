"""`seriespub subscribers add|remove|list|import|sync`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seriespub.cli.common import JsonOption, SeriesOption, err, load_series, out, print_json

app = typer.Typer(help="Manage subscribers.csv (always rewritten atomically).",
                  no_args_is_help=True)


@app.command("add")
def add(
    address: Annotated[str, typer.Argument(help="Email address.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    series: SeriesOption = None,
) -> None:
    """Add one active subscriber."""
    from seriespub import subscribers

    s = load_series(series)
    subscribers.add(s.subscribers_path, address, name)
    out().print(f"added {address}")


@app.command("remove")
def remove(
    address: Annotated[str, typer.Argument(help="Email address.")],
    forget: Annotated[bool, typer.Option("--forget", help="Delete the row instead of marking "
                                         "it unsubscribed.")] = False,
    series: SeriesOption = None,
) -> None:
    """Unsubscribe someone (kept as 'unsubscribed' so no import brings them back)."""
    from seriespub import subscribers

    s = load_series(series)
    subscribers.remove(s.subscribers_path, address, forget=forget)
    out().print(f"{'forgot' if forget else 'unsubscribed'} {address}")


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only this status (active, "
                                               "unsubscribed, bounced, complained).")] = None,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """List subscribers."""
    from rich.table import Table

    from seriespub import subscribers

    s = load_series(series)
    rows = [r for r in subscribers.iter_subscribers(s.subscribers_path)
            if status is None or r.status.value == status]
    if as_json:
        print_json([{"email": r.email, "name": r.name, "status": r.status.value,
                     "subscribed_at": r.subscribed_at, **r.fields} for r in rows])
        return
    table = Table(title=f"{len(rows):,} subscribers", title_justify="left")
    for column in ("Email", "Name", "Status", "Since"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.email, r.name, r.status.value, r.subscribed_at)
    out().print(table)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A CSV exported from elsewhere.")],
    series: SeriesOption = None,
) -> None:
    """Merge another CSV: dedupe, validate, never resubscribe anyone who left."""
    from seriespub.importer import import_csv

    s = load_series(series)
    report = import_csv(s.subscribers_path, file)
    for problem in report.skipped:
        err().print(f"skipped {file}:{problem.line}: {problem.message}", markup=False)
    out().print(f"added {report.added}, already present {report.already_present}, "
                f"kept unsubscribed {report.kept_unsubscribed}, duplicates "
                f"{report.duplicates}, skipped {len(report.skipped)}")


@app.command("sync")
def sync(series: SeriesOption = None) -> None:
    """Pull the provider's unsubscribes, bounces and complaints into subscribers.csv."""
    from seriespub import publishing
    from seriespub.suppressions import sync_suppressions

    s = load_series(series)
    provider = publishing.provider_for(s)
    try:
        changed = sync_suppressions(s, provider)
    finally:
        provider.close()
    out().print(f"{changed} subscriber(s) updated from {provider.name}")
