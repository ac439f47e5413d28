"""`seriespub status` and `seriespub log`."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from seriespub.cli.common import (
    JsonOption,
    SeriesOption,
    json_begun,
    load_series,
    out,
    peeked,
    print_json,
    write_aligned,
    write_table,
)

if TYPE_CHECKING:
    from seriespub.ops.status import (
        DeliveryListing,
        InstalmentState,
        StatusOutcome,
    )


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("log")(log)


def status(series: SeriesOption = None, as_json: JsonOption = False) -> None:
    """A table of the series: each instalment's state, deliveries, and readers waiting."""
    from seriespub.ops import status as ops
    from seriespub.ops.session import session, utc_now

    with session(load_series(series), "status", now=utc_now(), readonly=True) as held:
        outcome = ops.status(held)
    if as_json:
        print_json(outcome.as_json())
    else:
        _print_status(outcome)


# "Waiting": readers a part going out has still to reach (`InstalmentState.open`), as a
# send's plan says "100 of 2,500 waiting"; not "Open", which reads as opened mail.
STATUS_HEADER = ("#", "Title", "State", "When", "Delivered", "Failed", "Waiting")


def _print_status(outcome: StatusOutcome) -> None:
    """The series' title, one aligned line per instalment, then what comes next."""
    zone = ZoneInfo(outcome.timezone)
    rows = [
        (
            str(st.number),
            st.title,
            st.state,
            _when(st, zone),  # when it went out, else its release slot
            f"{st.delivered:,}",
            f"{st.failed:,}",
            f"{st.open:,}",
        )
        for st in outcome.states
    ]
    write_table(outcome.title, STATUS_HEADER, rows, right=frozenset({0, 4, 5, 6}))
    write = sys.stdout.write
    upcoming = outcome.upcoming
    write(f"Next: part {upcoming.number}, {upcoming.title}\n" if upcoming else _all_out(outcome))
    readers = outcome.readers
    if readers is not None:
        when = (
            readers.next_slot.strftime("%a %Y-%m-%d %H:%M")
            if readers.next_slot
            else "the next send"
        )
        if readers.waits_for is not None:
            when += f", once part {readers.waits_for} is ready"
        parts = ", ".join(f"part {n} → {c:,}" for n, c in readers.parts.items()) or "nobody"
        if readers.front_later is not None:
            part, count, at = readers.front_later
            parts += f"; part {part} → {count:,} at {at.strftime('%a %Y-%m-%d %H:%M')}"
        due = ", ".join(f"part {n} → {c:,}" for n, c in readers.due_now.items())
        write(
            f"Readers: {readers.front:,} on the front, {readers.catching_up:,} "
            f"catching up, {readers.caught_up:,} caught up "
            f"(late_joiners = {readers.mode}). {f'Due now: {due}. ' if due else ''}"
            f"At {when}: {parts}.\n"
        )


def _all_out(outcome: StatusOutcome) -> str:
    """Every part is past: sent, or handed to a provider that holds some until their time."""
    if not outcome.states:  # no draft and nothing sent: not "all gone out"
        return 'No instalment yet: write the first with: seriespub new "Title"\n'
    held = outcome.held
    if not held:
        return "Every instalment has gone out.\n"
    zone = ZoneInfo(outcome.timezone)
    parts = ", ".join(
        f"part {st.number} is held by the provider until {_when(st, zone)}" for st in held
    )
    return f"Every instalment is handed over; {parts}.\n"


def _when(st: InstalmentState, zone: ZoneInfo) -> str:
    """When it went out (the ledger's UTC, shown in the series' zone), else its slot."""
    if st.sent_at is not None:
        sent = st.sent_at if st.sent_at.tzinfo else st.sent_at.replace(tzinfo=dt.UTC)
        return sent.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")
    return st.release.strftime("%a %Y-%m-%d %H:%M") if st.release else ""


def log(
    number: Annotated[
        int | None, typer.Argument(help="The instalment (default: the log of unattended runs).")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed deliveries.")] = False,
    unknown: Annotated[
        bool, typer.Option("--unknown", help="Only deliveries whose outcome is unknown.")
    ] = False,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every recipient of instalment N (status, message id, reason), or the run log."""
    from seriespub.ops import status as ops
    from seriespub.ops.session import session, utc_now

    if number is None:
        _print_run_log(ops.run_log(load_series(series)), as_json)
        return
    # One snapshot of the ledger: the count, then the rows it counted.
    with (
        session(load_series(series), "log", now=utc_now(), readonly=True) as held,
        held.ledger.snapshot(),
    ):
        listing = ops.delivery_listing(held, number, failed=failed, unknown=unknown)
        if as_json:
            _stream_json(listing)
        else:
            _stream_lines(listing)


HEADER = ("Address", "Status", "Message id", "Reason")
CHUNK = 1000  # rows formatted at a time: columns widen (never narrow) as rows come


def _stream_json(listing: DeliveryListing) -> None:
    """One JSON document on stdout, written a delivery at a time (each scrubbed of
    registered secrets, as `print_json` does)."""
    import json

    from seriespub.ops.status import delivery_json

    rows = peeked(listing.rows)
    json_begun()
    write = sys.stdout.write
    write(f'{{\n  "instalment": {listing.number},\n  "deliveries": [')
    count = 0
    for count, r in enumerate(rows, 1):
        write(("," if count > 1 else "") + "\n    " + json.dumps(delivery_json(r)))
    write("\n  ]\n}\n" if count else "]\n}\n")


def _stream_lines(listing: DeliveryListing) -> None:
    """A title with the count, then plain aligned lines, a chunk at a time."""
    sys.stdout.write(f"{_title(listing)}\n")
    cells = ((r.email, r.status.value, r.message_id, _one_line(r.reason)) for r in listing.rows)
    write_aligned(HEADER, cells, CHUNK)


def _title(listing: DeliveryListing) -> str:
    """'Part 1: 4 deliveries', or with a filter 'Part 1: 0 unknown of 4 deliveries'."""
    if not listing.only:
        return f"Part {listing.number}: {listing.count:,} deliveries"
    which = " or ".join(listing.only)
    return f"Part {listing.number}: {listing.count:,} {which} of {listing.total:,} deliveries"


def _one_line(text: str) -> str:
    """A reason on one line (an SMTP reply can span several), so every row is one line."""
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def _print_run_log(events: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json({"events": events})
        return
    for event in events:
        rest = ", ".join(
            f"{k}={v}"
            for k, v in event.items()
            if k not in ("ts", "event") and v not in (None, 0, False)
        )
        out().print(
            f"{event.get('ts', '')}  {event.get('event', '')}  {rest}", markup=False, soft_wrap=True
        )
    if not events:
        out().print("No unattended runs yet (`seriespub send due` writes here).")
