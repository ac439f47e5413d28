"""subscribers.csv: stream, validate, import, and rewrite atomically (temp file + rename)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seriespub.errors import InputError
from seriespub.models import Subscriber, SubscriberStatus
from seriespub.textfiles import csv_delimiter

COLUMNS = ("email", "name", "status", "subscribed_at")
_BASE = frozenset((*COLUMNS, ""))
_STATUSES = {s.value: s for s in SubscriberStatus}
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def is_valid_address(address: str) -> bool:
    from seriespub.addresses import is_valid_address as valid

    return valid(address)


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str


@dataclass
class SubscriberFile:
    """Rows and problems from reading a subscriber file."""

    columns: list[str]
    subscribers: list[Subscriber] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def _open_csv(path: Path) -> tuple[Any, io.TextIOWrapper]:
    """A csv reader over the file (streamed), its delimiter guessed from the header."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        header = handle.readline()
    except UnicodeDecodeError:
        handle.close()
        raise InputError("not UTF-8 text", path=path) from None
    handle.seek(0)
    return csv.reader(handle, delimiter=csv_delimiter(header)), handle


def iter_subscribers(path: Path, problems: list[RowProblem] | None = None,
                     ) -> Iterator[Subscriber]:
    """Stream subscribers.csv; invalid rows are skipped and reported in `problems`."""
    reader, handle = _open_csv(path)
    with handle:
        try:
            columns = [c.strip().lower() for c in next(reader, [])]
            if "email" not in columns:
                raise InputError("no 'email' column in the header", path=path, line=1)
            for values in reader:
                if not values:
                    continue
                row = dict(zip(columns, values, strict=False))
                subscriber = _subscriber(row, reader.line_num, problems)
                if subscriber is not None:
                    yield subscriber
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text", path=path) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None


def _subscriber(row: Mapping[str, str | None], line: int,
                problems: list[RowProblem] | None) -> Subscriber | None:
    try:
        return parse_row(row)
    except ValueError as exc:
        if problems is not None:
            problems.append(RowProblem(line, str(exc)))
        return None


def parse_row(row: Mapping[str, str | None]) -> Subscriber:
    """One CSV row → Subscriber; ValueError says what is wrong with it."""
    address = (row.get("email") or "").strip()
    if not is_valid_address(address):
        raise ValueError(f"invalid address {address!r}")
    name = (row.get("name") or "").strip()
    if "\r" in name or "\n" in name:
        raise ValueError(f"line break in the name of {address} (header injection)")
    status_text = (row.get("status") or "active").strip().lower()
    status = _STATUSES.get(status_text)
    if status is None:
        raise ValueError(f"unknown status {status_text!r} for {address}")
    fields = {k: (v or "") for k, v in row.items() if k not in _BASE}
    return Subscriber(address, name, status, (row.get("subscribed_at") or "").strip(), fields)


def read_file(path: Path) -> SubscriberFile:
    """The whole file in memory (for edits and checks), with per-row problems."""
    problems: list[RowProblem] = []
    subscribers = list(iter_subscribers(path, problems))
    return SubscriberFile(columns_of(path), subscribers, problems)


def columns_of(path: Path) -> list[str]:
    reader, handle = _open_csv(path)
    with handle:
        return [c.strip().lower() for c in next(reader, [])]


def active(path: Path) -> Iterator[Subscriber]:
    """Active subscribers, streamed in file order (duplicates are the ledger's to skip)."""
    for subscriber in iter_subscribers(path):
        if subscriber.status is SubscriberStatus.ACTIVE:
            yield subscriber


def count_active(path: Path) -> int:
    return sum(1 for _ in active(path))


def write_atomically(path: Path, columns: list[str], subscribers: list[Subscriber]) -> None:
    """Rewrite the file via a temp file in the same folder and a rename: never half-written."""
    columns = list(COLUMNS) + [c for c in columns if c not in COLUMNS]
    fd, tmp = tempfile.mkstemp(prefix=".subscribers-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            for s in subscribers:
                base = [s.email, s.name, s.status.value, s.subscribed_at]
                writer.writerow(base + [s.fields.get(c, "") for c in columns[4:]])
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_statuses(path: Path, changes: Mapping[str, SubscriberStatus]) -> int:
    """Set the status of the given addresses (case-insensitive); returns rows changed."""
    if not changes:
        return 0
    data = read_file(path)
    lowered = {k.lower(): v for k, v in changes.items()}
    changed = 0
    rows = []
    for s in data.subscribers:
        new = lowered.get(s.key)
        if new is not None and new is not s.status:
            s = Subscriber(s.email, s.name, new, s.subscribed_at, s.fields)
            changed += 1
        rows.append(s)
    if changed:
        refuse_lossy_rewrite(path, data)
        write_atomically(path, data.columns, rows)
    return changed


def refuse_lossy_rewrite(path: Path, data: SubscriberFile) -> None:
    """A rewrite keeps only valid rows: refuse rather than drop what the author wrote."""
    if data.problems:
        first = data.problems[0]
        raise InputError(f"{first.message}; fix it before seriespub rewrites this file",
                         path=path, line=first.line)


def add(path: Path, address: str, name: str = "", today: dt.date | None = None) -> Subscriber:
    """Add one active subscriber; an existing address is an error."""
    if not is_valid_address(address):
        raise InputError(f"invalid address {address!r}")
    if "\r" in name or "\n" in name:
        raise InputError("line break in the name (header injection)")
    data = read_file(path) if path.exists() else SubscriberFile(list(COLUMNS))
    refuse_lossy_rewrite(path, data)
    if any(s.key == address.lower() for s in data.subscribers):
        raise InputError(f"{address} is already in the list", path=path)
    new = Subscriber(address, name, SubscriberStatus.ACTIVE,
                     (today or dt.date.today()).isoformat())
    write_atomically(path, data.columns, [*data.subscribers, new])
    return new


def remove(path: Path, address: str, *, forget: bool = False) -> None:
    """Mark someone unsubscribed (so no import brings them back), or forget them."""
    data = read_file(path)
    refuse_lossy_rewrite(path, data)
    if not any(s.key == address.lower() for s in data.subscribers):
        raise InputError(f"{address} is not in the list", path=path)
    if forget:
        rows = [s for s in data.subscribers if s.key != address.lower()]
    else:
        rows = [Subscriber(s.email, s.name, SubscriberStatus.UNSUBSCRIBED, s.subscribed_at,
                           s.fields) if s.key == address.lower() else s
                for s in data.subscribers]
    write_atomically(path, data.columns, rows)
