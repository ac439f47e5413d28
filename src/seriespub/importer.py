"""Merge another CSV (a list exported from elsewhere) into subscribers.csv, under its lock.

Memory follows the file imported, not the list: the list is streamed, never held whole.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seriespub import exported_status
from seriespub.addresses import parse_mailbox
from seriespub.errors import InputError
from seriespub.listlock import locked
from seriespub.models import Subscriber, SubscriberStatus
from seriespub.subscribers import (
    ATTEMPTS,
    COLUMNS,
    UNCLOSED,
    ProblemTally,
    RowProblem,
    Scan,
    Signature,
    append,
    header_columns,
    open_rows,
    parse_row,
    refuse_problems,
    rewrite_rows,
    scan_file,
    signature,
    update_statuses,
    write_atomically,
)
from seriespub.textfiles import (
    SAVE_AS_UTF8,
    garbled,
    is_sep_line,
    not_utf8,
    source_encoding,
)

# Headers other tools export, mapped to ours.
HEADER_ALIASES = {
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "emailaddress",
        "mail",
        "email_address",
        "subscriber email",
    ),
    "name": ("name", "full name", "fullname", "display name", "full_name"),
    "first_name": ("first name", "firstname", "first_name", "given name"),
    "last_name": ("last name", "lastname", "last_name", "surname", "family name"),
    "status": ("status", "subscription status"),
    "subscribed_at": (
        "subscribed_at",
        "subscribed at",
        "created",
        "created_at",
        "creation_date",  # Buttondown
        "signup date",
        "optin_time",
        "date added",
    ),
}


Row = dict[str, str | None]  # a source row by our column names


@dataclass
class ImportReport:
    """What an import did, a count per row of the source: added (new subscribers), already
    present (active in the list), kept unsubscribed (in the list, not active), duplicates
    (an address an earlier row of the source has) and skipped (unreadable) add up to its
    rows."""

    added_keys: set[str] = field(default_factory=set)
    already_present: int = 0
    kept_unsubscribed: int = 0
    duplicates: int = 0
    skipped: list[RowProblem] = field(default_factory=list)

    @property
    def added(self) -> int:
        return len(self.added_keys)

    # Of those added, the ones the source says left (added with that status, so a later
    # import cannot make them active); and readers active in the list the source says left.
    added_not_active: Counter[SubscriberStatus] = field(default_factory=Counter)
    now_not_active: Counter[SubscriberStatus] = field(default_factory=Counter)
    # Active readers added with a date the source gives that `Dating.early` finds before
    # part 1 went out: taken for the front, they never get the parts already sent.
    added_early: int = 0


@dataclass(frozen=True)
class Dating:
    """The `subscribed_at` an added reader gets: the source's, else `today`; `restamp`:
    `today` whatever the source says. `early`: whether a date is before part 1 went out
    (None: nothing went out yet, or late joiners start where the series stands)."""

    today: dt.date
    restamp: bool = False
    early: Callable[[str], bool] | None = None


def import_csv(target: Path, source: Path, dating: Dating | None = None) -> ImportReport:
    """Merge `source` into `target`: dedupe case-insensitively, never resubscribe anyone.

    The source is read first (streamed, lines capped), then merged under the list's lock
    into what the list holds at that moment. The list itself is streamed, keeping only its
    rows whose address the source names (memory grows with the source, not the list); new
    readers are appended (see subscribers.append), or the list is rewritten a row at a time
    when the source brings new columns.
    """
    rows, columns = _read_source(source)
    keys = {(row.get("email") or "").strip().lower() for _, row in rows if isinstance(row, dict)}
    with locked(target):
        for _ in range(ATTEMPTS):
            before = signature(target)
            if before is None:
                existing = Scan(list(COLUMNS), ",", ProblemTally(keep=1))
            else:
                existing = scan_file(target, keys)
                refuse_problems(target, existing.problems)
            report, added, left = _merge(rows, existing, dating or Dating(dt.date.today()))
            if added and not _write(target, existing, columns, added, before):
                continue
            # Readers the source says left since: their rows' status only (under the lock).
            update_statuses(target, left)
            return report
    raise InputError(
        "the file kept changing while seriespub rewrote it (an editor "
        "saving it?); nothing was changed",
        path=target,
        hint="save it, close the editor and run the command again",
    )


def _merge(
    rows: list[tuple[int, Row | RowProblem]], existing: Scan, dating: Dating
) -> tuple[ImportReport, list[Subscriber], dict[str, SubscriberStatus]]:
    report = ImportReport()
    known = {key: found[0] for key, found in existing.found.items()}
    seen: set[str] = set()
    added: list[Subscriber] = []
    left: dict[str, SubscriberStatus] = {}
    for line, row in rows:
        if isinstance(row, RowProblem):
            report.skipped.append(row)
        else:
            _merge_row(row, line, known, seen, added, left, report, dating)
    return report, added, left


def _write(
    target: Path, existing: Scan, columns: list[str], added: list[Subscriber], before: Signature
) -> bool:
    new_columns = [c for c in columns if c not in existing.columns]
    if before is None:
        return write_atomically(target, existing.columns + new_columns, added, expect=None)
    if new_columns:
        return rewrite_rows(target, before, add=[*COLUMNS, *new_columns], new=added)
    return append(target, existing, added, before)


def _merge_row(
    row: Row,
    line: int,
    known: dict[str, Subscriber],
    seen: set[str],
    added: list[Subscriber],
    left: dict[str, SubscriberStatus],
    report: ImportReport,
    dating: Dating,
) -> None:
    try:
        subscriber = parse_row(row)
    except ValueError as exc:
        report.skipped.append(RowProblem(line, str(exc)))
        return
    if subscriber.key in seen:  # a repeat within the source, whatever the list holds
        report.duplicates += 1
        return
    seen.add(subscriber.key)
    previous = known.get(subscriber.key)
    if previous is not None:
        if previous.status is not SubscriberStatus.ACTIVE:
            report.kept_unsubscribed += 1
        elif subscriber.status is not SubscriberStatus.ACTIVE:
            left[subscriber.key] = subscriber.status
            report.now_not_active[subscriber.status] += 1
        else:
            report.already_present += 1
        return
    if dating.restamp or not subscriber.subscribed_at:
        subscriber = Subscriber(
            subscriber.email,
            subscriber.name,
            subscriber.status,
            dating.today.isoformat(),
            subscriber.fields,
        )
    elif subscriber.status is SubscriberStatus.ACTIVE and dating.early is not None:
        report.added_early += dating.early(subscriber.subscribed_at)
    added.append(subscriber)
    report.added_keys.add(subscriber.key)
    if subscriber.status is not SubscriberStatus.ACTIVE:
        report.added_not_active[subscriber.status] += 1


def _read_source(source: Path) -> tuple[list[tuple[int, Row | RowProblem]], list[str]]:
    """Rows keyed by our column names, or why one cannot be taken (cells past the header:
    a delimiter inside an unquoted value shifts the row); refuses a file with no address
    column, or whose last row runs to its end inside a quote."""
    reader, handle, ended = open_rows(source, encoding=source_encoding(source))
    rows: list[tuple[int, Row | RowProblem]] = []
    with handle:
        try:
            header: list[str] = next(reader, [])
            if header and is_sep_line(header):  # Excel's `sep=;`: the delimiter, then the header
                header = next(reader, [])
            mapping = _map_header(header, source)
            start = reader.line_num + 1
            for values in reader:
                if ended[0]:
                    raise InputError(UNCLOSED, path=source, line=start)
                if any(values):
                    refuse_garbled(values, source, start)
                    rows.append((reader.line_num, _row_or_problem(values, mapping, start)))
                start = reader.line_num + 1
        except UnicodeDecodeError:
            raise not_utf8(source) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=source, line=reader.line_num) from None
    # A column with no name (a trailing delimiter) is no merge field: not added to the list.
    return _with_standing(rows, list(mapping.values())), [
        c for c in mapping.values() if c and c != "last_name"
    ]


def refuse_garbled(values: list[str], source: Path, line: int) -> None:
    """Refuse the file when a cell is UTF-8 that was read as Windows-1252 and saved again
    ("JosÃ©"): every name of it would reach the readers so. Nothing is imported."""
    problem = garbled(values)
    if problem:
        raise InputError(
            f"{problem}; nothing was imported",
            path=source,
            line=line,
            hint="export the list again and import that file as it is, or "
            + SAVE_AS_UTF8.replace("save it as", "open it as UTF-8 and save it as"),
        )


def _with_standing(
    rows: list[tuple[int, Row | RowProblem]], columns: list[str]
) -> list[tuple[int, Row | RowProblem]]:
    """Each row with the status every sign in it gives (`seriespub.exported_status`), or
    why it cannot be taken (a status word not known, a reader who never confirmed)."""
    readable = [row for _, row in rows if isinstance(row, dict)]
    status_columns = exported_status.status_columns(columns, readable)
    out: list[tuple[int, Row | RowProblem]] = []
    for line, row in rows:
        if isinstance(row, dict):
            try:
                row = {**row, "status": exported_status.standing(row, status_columns).value}
            except ValueError as exc:
                row = RowProblem(line, str(exc))
        out.append((line, row))
    return out


def _row_or_problem(values: list[str], mapping: dict[int, str], start: int) -> Row | RowProblem:
    if len(values) > len(mapping) and any(v.strip() for v in values[len(mapping) :]):
        return RowProblem(
            start,
            f"{len(values)} cells, the header has {len(mapping)} "
            "(a delimiter inside an unquoted value?)",
        )
    return _row(values, mapping)


def _map_header(header: list[str], source: Path) -> dict[int, str]:
    header_columns(header, source)  # no name twice, not too many
    mapping: dict[int, str] = {}
    origin: dict[str, str] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        ours = next((k for k, aliases in HEADER_ALIASES.items() if name in aliases), None)
        column = ours or name.replace(" ", "_")
        if column and column in origin:
            raise InputError(
                f"columns {origin[column]!r} and {raw.strip()!r} both mean "
                f"{column!r}; delete or rename one",
                path=source,
                line=1,
            )
        origin[column] = raw.strip()
        mapping[index] = column
    if "email" not in mapping.values():
        raise InputError(
            "no address column (looked for Email, Email Address, E-mail…)", path=source, line=1
        )
    return mapping


def _row(values: list[str], mapping: dict[int, str]) -> Row:
    row: Row = {mapping[i]: v.strip() for i, v in enumerate(values) if i in mapping}
    row["email"], shown_name = _address_of(row.get("email") or "")
    if not row.get("name") and shown_name:
        row["name"] = shown_name
    if not row.get("name"):
        full = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
        row["name"] = full
    row.pop("last_name", None)
    return row


def _address_of(cell: str) -> tuple[str, str]:
    """The address in an address cell, and the name written with it: `mailto:a@b` (a link
    copied from a page) and `Name <a@b>` (copied from a mail client) give `a@b`. Anything
    else, or a cell that does not parse as one mailbox, is kept as written (and checked)."""
    if cell[:7].lower() == "mailto:":
        cell = cell[7:].strip()
    if not cell.endswith(">"):
        return cell, ""
    try:
        mailbox = parse_mailbox(cell)
    except ValueError:
        return cell, ""
    return mailbox.address, mailbox.name
