"""`seriespub subscribers add|remove|list|import|sync|verify|unsubscribe-token`, over
`ops/subscribers.py`: options in, one call, the outcome printed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    ErrorHandlingGroup,
    JsonOption,
    SeriesOption,
    err,
    fail,
    json_begun,
    load_series,
    out,
    peeked,
    write_aligned,
)

if TYPE_CHECKING:
    from collections import Counter

    from seriespub.ops.subscribers import (
        NextParts,
        Series,
        Subscriber,
        SubscriberStatus,
        SyncOutcome,
    )

app = typer.Typer(
    help="Manage subscribers.csv (locked; a change is never half-written).", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="subscribers", cls=ErrorHandlingGroup)


@app.command("add")
def add(
    address: Annotated[str, typer.Argument(help="Email address.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    series: SeriesOption = None,
) -> None:
    """Add one active subscriber."""
    from seriespub.ops import subscribers as ops

    ops.add(load_series(series), address, name)
    sys.stdout.write(f"added {address}\n")  # plain: no rich to import for one line


@app.command("remove")
def remove(
    address: Annotated[str, typer.Argument(help="Email address.")],
    forget: Annotated[
        bool, typer.Option("--forget", help="Delete the row instead of marking it unsubscribed.")
    ] = False,
    series: SeriesOption = None,
) -> None:
    """Unsubscribe someone (kept as 'unsubscribed' so no import brings them back)."""
    from seriespub.ops import subscribers as ops

    ops.remove(load_series(series), address, forget=forget)
    sys.stdout.write(f"{'forgot' if forget else 'unsubscribed'} {address}\n")


@app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status (active, unsubscribed, bounced, complained)."),
    ] = None,
    next_: Annotated[
        bool,
        typer.Option(
            "--next",
            help="Add each reader's next part and when it goes out (holds the readers of "
            "the next slot in memory).",
        ),
    ] = False,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """List subscribers (streamed: any size of list, in file order)."""
    from seriespub.ops import subscribers as ops

    if status is not None and status not in ops.STATUSES:
        fail(f"unknown status {status!r}: use one of {', '.join(ops.STATUSES)}", code=2)
    s = load_series(series)
    coming = ops.next_parts(s) if next_ else None
    listing = ops.listing(s, status)
    rows, problems = listing.rows, listing.problems
    count = _stream_json(rows, coming) if as_json else _stream_lines(rows, coming)
    sys.stdout.flush()  # before the count on stderr
    if not as_json:  # plain: rich costs ~25 ms to import
        sys.stderr.write(f"{count:,} subscriber(s)\n")
    if problems.count:
        err().print(
            f"warning: {problems.count:,} row(s) cannot be read and are not listed "
            "(seriespub check lists them)",
            markup=False,
            style="yellow",
        )


def _stream_json(rows: Iterator[Subscriber], coming: NextParts | None) -> int:
    """One JSON array on stdout, written a row at a time (begun once the file reads)."""
    import json

    count = 0
    rows = peeked(rows)
    json_begun()
    write = sys.stdout.write
    write("[")
    for count, r in enumerate(rows, 1):
        write(("," if count > 1 else "") + "\n  " + json.dumps(_json_row(r, coming)))
    write("\n]\n" if count else "]\n")
    return count


def _json_row(r: Subscriber, coming: NextParts | None) -> dict[str, object]:
    row: dict[str, object] = {
        "email": r.email,
        "name": r.name,
        "status": r.status.value,
        "subscribed_at": r.subscribed_at,
        **r.fields,
    }
    if coming is not None:
        part, at = coming.part_of(r), coming.at_of(r)
        row["next_part"] = part
        row["next_at"] = at.isoformat() if part is not None and at is not None else None
    return row


def _stream_lines(rows: Iterator[Subscriber], coming: NextParts | None) -> int:
    """Plain aligned lines, a chunk at a time; columns widen (never narrow) as rows come."""
    header: tuple[str, ...] = ("Email", "Name", "Status", "Since")
    if coming is not None:
        header += ("Next",)
    return write_aligned(header, (_cells(r, coming) for r in rows))


def _cells(r: Subscriber, coming: NextParts | None) -> tuple[str, ...]:
    cells: tuple[str, ...] = (r.email, r.name, r.status.value, r.subscribed_at)
    if coming is None:
        return cells
    part = coming.part_of(r)
    return (*cells, f"part {part}, {coming.when(r)}" if part is not None else "")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A CSV exported from elsewhere.")],
    joined_today: Annotated[
        bool,
        typer.Option(
            "--joined-today",
            help="Date every added reader today, whatever the file says: after part 1 went "
            "out, they then start the series at part 1.",
        ),
    ] = False,
    series: SeriesOption = None,
) -> None:
    """Merge another CSV: dedupe, validate, never resubscribe anyone who left."""
    from seriespub.ops import subscribers as ops

    report = ops.import_file(load_series(series), file, joined_today=joined_today)
    for problem in report.skipped:
        err().print(f"skipped {file}:{problem.line}: {problem.message}", markup=False)
    # Readers the source says left are added with that status (never mailed, never made
    # active by a later import); active ones it says left are marked so.
    added = f"added {report.added}" + _not_active(" (not active: {})", report.added_not_active)
    left = _not_active(", now not active: {}", report.now_not_active)
    out().print(
        f"{added}, already present {report.already_present}, "
        f"kept unsubscribed {report.kept_unsubscribed}, duplicates "
        f"{report.duplicates}, skipped {len(report.skipped)}{left}",
        markup=False,
    )
    if report.added_early:
        err().print(
            f"warning: {report.added_early:,} added reader(s) joined, by the file's dates, "
            "before part 1 went out: they get the next new part, not the parts already "
            "sent (late_joiners = from_start takes them for readers who had those); to "
            f"start them at part 1, date them today (import with --joined-today, or edit "
            "their subscribed_at)",
            markup=False,
        )


def _not_active(form: str, counts: Counter[SubscriberStatus]) -> str:
    """`form` filled with 'unsubscribed 2, bounced 1', or '' when there are none."""
    if not counts:
        return ""
    return form.format(", ".join(f"{s.value} {n}" for s, n in sorted(counts.items())))


@app.command("sync")
def sync(series: SeriesOption = None) -> None:
    """Pull the provider's unsubscribes, bounces and complaints into subscribers.csv (and
    the inbox's, when seriespub.toml has an \\[inbox] table)."""
    from seriespub.ops import subscribers as ops

    def warn(line: str) -> None:
        err().print(f"warning: {line}", markup=False, style="yellow")

    outcome = ops.sync(load_series(series), warn=warn)
    _print_provider(outcome)
    _print_inbox(outcome)


def _print_provider(outcome: SyncOutcome) -> None:
    if outcome.asked_provider:
        out().print(f"{outcome.changed} subscriber(s) updated from {outcome.provider}")
        return
    # Nothing was asked: "0 updated from ses" would read as if it had been.
    out().print(f"{outcome.provider} reports no unsubscribes or bounces to seriespub")
    if outcome.inbox is None:
        err().print(
            "hint: they come back to your mailbox: point [inbox] at it "
            "(README: Unsubscribes and bounces from your inbox)",
            markup=False,
        )


def _print_inbox(outcome: SyncOutcome) -> None:
    report = outcome.inbox
    if report is not None:
        out().print(
            f"{report.changed} subscriber(s) updated from the inbox: "
            f"{report.unsubscribed} unsubscribe(s), {report.bounced} bounce(s), "
            f"{report.soft_bounced} temporary bounce(s), {report.complained} "
            f"complaint(s); {report.failed_deliveries} delivery(ies) marked failed; "
            f"{report.moved} message(s) moved to {outcome.done_folder}",
            highlight=False,
            markup=False,
        )


AddressOrToken = Annotated[
    str,
    typer.Argument(
        help="The reader's email address, or the token alone (a URL without {email}).",
        metavar="ADDRESS_OR_TOKEN",
    ),
]
TokenAfter = Annotated[
    str | None, typer.Argument(help="The token from their unsubscribe link.", show_default=False)
]


def _address_and_token(series: Series, first: str, second: str | None) -> tuple[str, str]:
    """ADDRESS TOKEN as given, or TOKEN alone: its reader found in the list."""
    from seriespub.ops import subscribers as ops

    if second is not None:
        return first, second
    if "@" in first:
        fail(f"give the token from {first}'s unsubscribe link after the address", code=2)
    return ops.token_owner(series, first), first


@app.command("verify")
def verify(first: AddressOrToken, token: TokenAfter = None, series: SeriesOption = None) -> None:
    """Exit 0 if TOKEN is this series' token for ADDRESS (or, given alone, any reader's),
    else 1 (for unsubscribe endpoints)."""
    from seriespub.ops import subscribers as ops

    held = load_series(series)
    address, given = _address_and_token(held, first, token)
    ops.verify_token(held, address, given)
    out().print(f"token matches {address}", highlight=False, markup=False)


@app.command("unsubscribe-token")
def unsubscribe_token(
    first: AddressOrToken, token: TokenAfter = None, series: SeriesOption = None
) -> None:
    """Verify TOKEN for ADDRESS (or find its reader, given alone) and mark them
    unsubscribed; exit 1 (nothing changed) if it is not theirs."""
    from seriespub.ops import subscribers as ops

    held = load_series(series)
    address, given = _address_and_token(held, first, token)
    changed = ops.unsubscribe_with_token(held, address, given)
    out().print(
        f"unsubscribed {address}" if changed else f"{address}: nothing to change",
        highlight=False,
        markup=False,
    )
