"""subscribers.csv: stream, validate, snapshot, and rewrite atomically under a lock.

Every read-modify-write (`add`, `remove`, `update_statuses`, `rewrite`, the importer) holds
`locked(path)` (see listlock) and re-reads the file under it, then writes a temp file and
renames it over the list; if an editor saved the file in place meanwhile, it starts again.
A send reads a snapshot (listsnapshot) instead of the live file, so an editor cannot shift
rows under it.
Lines are capped at MAX_LINE characters, headers at MAX_COLUMNS names, each named once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from seriespub import appendundo
from seriespub.addresses import invalid_address, is_valid_address, name_problem
from seriespub.csvrows import encode_like
from seriespub.errors import InputError
from seriespub.listlock import REWRITE_PREFIX, locked
from seriespub.models import Subscriber, SubscriberStatus
from seriespub.statefiles import os_error
from seriespub.textfiles import csv_delimiter, garbled, is_sep_line, not_utf8

_T = TypeVar("_T")

COLUMNS = ("email", "name", "status", "subscribed_at")
_BASE = frozenset((*COLUMNS, ""))
_STATUSES = {s.value: s for s in SubscriberStatus}
MAX_LINE = 1 << 16  # characters in one line of the file
MAX_COLUMNS = 1000
ABSENT = sys.maxsize  # the index of a column the header lacks
ATTEMPTS = 5  # re-reads when an editor saves the file during a rewrite


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str


@dataclass
class ProblemTally:
    """Counts invalid rows and keeps the first few (a broken file may have millions)."""

    keep: int = 5
    count: int = 0
    first: list[RowProblem] = field(default_factory=list)

    def append(self, problem: RowProblem) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(problem)


Problems = list[RowProblem] | ProblemTally


@dataclass
class SubscriberFile:
    """Rows and problems from reading a subscriber file."""

    columns: list[str]
    subscribers: list[Subscriber] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


UNCLOSED = "unclosed quote (the row runs to the end of the file)"


def _lines(handle: io.TextIOWrapper, path: Path, ended: list[bool] | None = None) -> Iterator[str]:
    """The file's lines, refusing one longer than MAX_LINE (a file with no line breaks
    would otherwise be read whole into memory). At the end, `ended[0]` turns True: a row
    the csv reader gives after that ran into the end of the file inside a quoted value
    (the reader, not strict, yields it instead of failing)."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE + 1)
        if not line:
            if ended is not None:
                ended[0] = True
            return
        number += 1
        if len(line) > MAX_LINE and line[-1] not in "\r\n":
            raise InputError(
                f"a line longer than {MAX_LINE:,} characters: not a subscriber list",
                path=path,
                line=number,
            )
        yield line


def open_csv(path: Path, shown: Path | None = None) -> tuple[Any, io.TextIOWrapper]:
    """A csv reader over the file (streamed), its delimiter guessed from the header; errors
    name `shown` (the author's file, when reading a copy of it)."""
    reader, handle, _ = open_rows(path, shown)
    return reader, handle


def open_rows(
    path: Path, shown: Path | None = None, encoding: str = "utf-8-sig", *, checked: bool = True
) -> tuple[Any, io.TextIOWrapper, list[bool]]:
    """`open_csv`, and a flag that is True once the file is read to its end: a row read
    while it is True is unclosed (see `_lines`). `encoding` is for a file only read (an
    import's source); the list is UTF-8, as every edit writes it. `checked=False` reads a
    file a pass with the checks already read whole and found sound (see `active`): no
    line cap, no end flag."""
    real, shown = path, shown or path
    try:
        handle = _open_text(path, encoding)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=shown) from None
    try:
        header = next(_lines(handle, shown), "")
    except (UnicodeDecodeError, InputError) as exc:
        handle.close()
        if isinstance(exc, InputError):
            raise
        raise not_utf8(real, shown) from None
    if "\0" in header:  # UTF-16 without a byte-order mark decodes as UTF-8, NULs and all
        handle.close()
        raise not_utf8(real, shown)
    handle.seek(0)
    ended = [False]
    lines = _lines(handle, shown, ended) if checked else handle
    reader = csv.reader(lines, delimiter=csv_delimiter(header))
    return reader, handle, ended


class _Prefix(io.RawIOBase):
    """The first `size` bytes of a binary file."""

    def __init__(self, raw: io.FileIO, size: int) -> None:
        self.raw, self.size = raw, size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        room = self.size - self.raw.tell()
        return self.raw.readinto(memoryview(buffer)[: max(0, min(len(buffer), room))]) or 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    """The file at `path` as text; as far as its size before an append under way or killed
    (`appendundo.unfinished`), the bytes after it not read."""
    handle = open(path, newline="", encoding=encoding)  # noqa: SIM115
    try:
        short = appendundo.unfinished(path, os.fstat(handle.fileno()))
        if short is None:
            return handle
        # The same open file, bounded: not the path again (an editor may have saved since).
        raw = io.FileIO(os.dup(handle.fileno()), "rb")
    except BaseException:
        handle.close()
        raise
    handle.close()
    return io.TextIOWrapper(io.BufferedReader(_Prefix(raw, short)), encoding=encoding, newline="")


def header_columns(values: list[str], path: Path) -> list[str]:
    """The header's column names (lower case); refuses one named twice or too many."""
    if len(values) > MAX_COLUMNS:
        raise InputError(
            f"{len(values):,} columns in the header (at most {MAX_COLUMNS:,})", path=path, line=1
        )
    columns = [c.strip().lower() for c in values]
    twice = sorted(c for c, n in Counter(columns).items() if c and n > 1)
    if twice:
        raise InputError(
            f"column {twice[0]!r} appears more than once in the header (rename or delete one)",
            path=path,
            line=1,
        )
    return columns


def list_header(reader: Any, path: Path) -> tuple[list[str], list[str]]:
    """The header row as written and its column names (lower case); an InputError when
    it has no `email` column (`header_columns` refuses the rest)."""
    header: list[str] = next(reader, [])
    columns = header_columns(header, path)
    if header and is_sep_line(header):
        raise InputError(
            "the first line is Excel's 'sep=' line, not the header",
            path=path,
            line=1,
            hint="delete that line (the delimiter is read from the header)",
        )
    if "email" not in columns:
        raise InputError("no 'email' column in the header", path=path, line=1)
    return header, columns


def iter_subscribers(
    path: Path,
    problems: Problems | None = None,
    shown: Path | None = None,
    *,
    checked: bool = True,
) -> Iterator[Subscriber]:
    """Stream subscribers.csv; invalid rows are skipped and reported in `problems`. Errors
    name `shown` when `path` is a snapshot of it. For `checked=False` see `active`."""
    if not checked:
        return _rows(path, problems, shown, lambda parse: parse.unchecked, checked=False)
    return _rows(path, problems, shown, lambda parse: parse)


def where_key(
    path: Path, keep: Callable[[str], bool], shown: Path | None = None
) -> Iterator[Subscriber]:
    """The subscribers `iter_subscribers` gives whose key `keep` accepts, in file order, for
    a pass that wants a few readers of a long list: each row's address cell is read raw
    (stripped, lower-cased: the key of a sound row), and only a row `keep` accepts is
    checked and read. Rows that fail the checks are skipped, none recorded as a problem."""
    return _rows(path, None, shown, _keeping(keep))


def _keeping(
    keep: Callable[[str], bool],
) -> Callable[[_RowParser], Callable[[list[str]], Subscriber | None]]:
    def make(parse: _RowParser) -> Callable[[list[str]], Subscriber | None]:
        at = parse.email

        def row(values: list[str]) -> Subscriber | None:
            key = values[at].strip().lower() if at < len(values) else ""
            return parse(values) if keep(key) else None

        return row

    return make


def active_keys(
    path: Path,
    problems: Problems | None = None,
    shown: Path | None = None,
) -> Iterator[str]:
    """The ledger key (lower-cased address) of each active subscriber, in file order, with
    the same checks and problems as `active` but no record built per row: for a pass that
    only counts (planning a first send)."""
    return _rows(path, problems, shown, _active_key)


def active_joined(
    path: Path,
    problems: Problems | None = None,
    shown: Path | None = None,
) -> Iterator[tuple[int, str, str]]:
    """Each active subscriber's data row number (counting every non-empty row after the
    header, unreadable ones too, as a raw read of the file numbers them), ledger key and
    `subscribed_at` (stripped), in file order, with the same checks and problems as
    `active` but no record built per row: for a pass that plans who gets which part
    (`tracking.ListedReaders`)."""
    return _rows(path, problems, shown, _active_joined)


def _active_joined(parse: _RowParser) -> Callable[[list[str]], tuple[int, str, str] | None]:
    since, row = parse.since, 0

    def joined(values: list[str]) -> tuple[int, str, str] | None:
        nonlocal row
        row += 1  # before the checks: an unreadable row has its number too
        address, status = parse.checked(values)
        if status is not SubscriberStatus.ACTIVE:
            return None
        return row, address.lower(), values[since].strip() if since < len(values) else ""

    return joined


def keyed_rows(
    path: Path,
    problems: Problems | None = None,
    shown: Path | None = None,
) -> Iterator[tuple[str, list[str]]]:
    """Each readable row's ledger key (whatever its status) and its raw values, in file
    order, with the same checks and problems as `iter_subscribers` but no record built per
    row: for a pass that copies some rows elsewhere (a round picking its late joiners)."""
    return _rows(path, problems, shown, _keyed)


def _keyed(parse: _RowParser) -> Callable[[list[str]], tuple[str, list[str]]]:
    def keyed(values: list[str]) -> tuple[str, list[str]]:
        return parse.checked(values)[0].lower(), values

    return keyed


def _active_key(parse: _RowParser) -> Callable[[list[str]], str | None]:
    def key(values: list[str]) -> str | None:
        address, status = parse.checked(values)
        return address.lower() if status is SubscriberStatus.ACTIVE else None

    return key


def _rows(
    path: Path,
    problems: Problems | None,
    shown: Path | None,
    make: Callable[[_RowParser], Callable[[list[str]], _T | None]],
    lines: list[int] | None = None,
    *,
    checked: bool = True,
) -> Iterator[_T]:
    """Each row through `make(parser)`; with `lines`, its (first, last) line numbers are
    in lines[0], lines[1] when the row is yielded."""
    reader, handle, ended = open_rows(path, shown, checked=checked)
    real, path = path, shown or path
    with handle:
        try:
            _, columns = list_header(reader, path)
            parse = make(_RowParser(columns))
            start = reader.line_num + 1  # a row's first line (quoted line breaks)
            for values in reader:
                if values:
                    if ended[0]:
                        if problems is not None:
                            problems.append(RowProblem(start, UNCLOSED))
                        break
                    try:
                        item = parse(values)
                    except ValueError as exc:
                        if problems is not None:
                            problems.append(RowProblem(start, str(exc)))
                    else:
                        if item is not None:
                            if lines is not None:
                                lines[0], lines[1] = start, reader.line_num
                            yield item
                start = reader.line_num + 1
        except UnicodeDecodeError:
            raise not_utf8(real, path) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None


class _RowParser:
    """`parse_row` for the values of one CSV row, by column position: the same checks and
    messages, without a dict per row (a send reads the list more than once; this is most of
    the cost of reading it)."""

    def __init__(self, columns: list[str]) -> None:
        def at(name: str) -> int:
            # A missing column's index is past any row (rows have no cell cap).
            return columns.index(name) if name in columns else ABSENT

        self.email, self.name, self.status, self.since = (at(c) for c in COLUMNS)
        self.width = len(columns)
        self.extra = [(i, c) for i, c in enumerate(columns) if c not in _BASE]

    def checked(self, values: list[str]) -> tuple[str, SubscriberStatus]:
        """The row's address and status, after every check `__call__` makes (ValueError)."""
        n = len(values)
        address = values[self.email].strip() if self.email < n else ""
        if not is_valid_address(address):
            raise ValueError(invalid_address(address))
        if self.name < n and not values[self.name].isprintable():
            # printable text has no control character; only then is the name looked at
            problem = name_problem(values[self.name].strip())
            if problem:
                raise ValueError(f"{address}: {problem}")
        raw = values[self.status] if self.status < n else ""
        status = _STATUSES.get(raw)
        if status is None:
            status_text = (raw or "active").strip().lower()
            status = _STATUSES.get(status_text)
            if status is None:
                raise ValueError(f"unknown status {status_text!r} for {address}")
        return address, status

    def __call__(self, values: list[str]) -> Subscriber:
        address, status = self.checked(values)
        return self._subscriber(values, address, status)

    def unchecked(self, values: list[str]) -> Subscriber:
        """The row as `__call__` reads it, without the checks: for a file whose every row
        passed them in an earlier pass (see `active`)."""
        n = len(values)
        address = values[self.email].strip() if self.email < n else ""
        raw = values[self.status] if self.status < n else ""
        status = _STATUSES.get(raw) or _STATUSES.get((raw or "active").strip().lower())
        if status is None:  # not a row the earlier pass passed after all: check it
            return self(values)
        return self._subscriber(values, address, status)

    def _subscriber(self, values: list[str], address: str, status: SubscriberStatus) -> Subscriber:
        n = len(values)
        name = values[self.name].strip() if self.name < n else ""
        since = values[self.since].strip() if self.since < n else ""
        fields = {c: values[i] for i, c in self.extra if i < n} if self.extra else {}
        return Subscriber(address, name, status, since, fields)


def parse_row(row: Mapping[str, str | None]) -> Subscriber:
    """One CSV row → Subscriber; ValueError says what is wrong with it."""
    address = (row.get("email") or "").strip()
    if not is_valid_address(address):
        raise ValueError(invalid_address(address))
    name = (row.get("name") or "").strip()
    problem = name_problem(name)
    if problem:
        raise ValueError(f"{address}: {problem}")
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


def columns_of(path: Path, shown: Path | None = None) -> list[str]:
    """The header's column names; errors name `shown` (default: path)."""
    reader, handle = open_csv(path, shown)
    with handle:
        try:
            return header_columns(next(reader, []), shown or path)
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=shown or path, line=1) from None


def active(
    path: Path,
    problems: Problems | None = None,
    shown: Path | None = None,
    *,
    checked: bool = True,
) -> Iterator[Subscriber]:
    """Active subscribers, streamed in file order (duplicates are the ledger's to skip).

    `checked=False` skips the checks on each row (an address that can be sent to, a name
    without control characters, a line under the cap, a closed quote): only for a file
    that cannot have changed since a pass with the checks read it whole and found no
    problem (a send's own snapshot, after its plan). About half the cost of reading a row.
    """
    for subscriber in iter_subscribers(path, problems, shown, checked=checked):
        if subscriber.status is SubscriberStatus.ACTIVE:
            yield subscriber


def count_active(path: Path) -> int:
    return sum(1 for _ in active(path))


DUPLICATE_BITS = 1 << 26  # 8 MB of bitmap: ~1.5 % of rows are re-checked at 1M readers


class Repeats:
    """Hashes of addresses that may appear twice in a list, in flat memory (as
    `duplicate_addresses`): a bit per hash; a hash whose bit is set already is kept. An
    address whose hash is not kept appears once."""

    def __init__(self) -> None:
        self.seen = bytearray(DUPLICATE_BITS // 8)
        self.candidates: set[int] = set()

    def add(self, keys: Iterable[str]) -> int:
        """Take `keys` in; returns how many there were."""
        seen, bits, count = self.seen, DUPLICATE_BITS, 0
        for key in keys:
            count += 1
            h = hash(key)
            bit = h % bits
            if seen[bit >> 3] & (1 << (bit & 7)):
                self.candidates.add(h)
            else:
                seen[bit >> 3] |= 1 << (bit & 7)
        return count


def duplicate_addresses(
    path: Path,
    problems: Problems | None = None,
    wide: Problems | None = None,
    garbled: Problems | None = None,
) -> dict[str, int]:
    """Addresses that appear more than once (case-insensitive) → how often, in two streamed
    passes and flat memory (a set of a million addresses would be ~100 MB).

    Pass one sets a bit per address hash in a fixed bitmap; an address whose bit is already
    set is a candidate (a real repeat or a bitmap collision) and its 64-bit hash is kept.
    Pass two counts, exactly, only the rows whose hash is a candidate's: every repeat of an
    address has the same hash, so none is missed, and collisions count once and drop out.

    With `wide`, pass one also notes the rows with cells past the header's columns (a
    non-empty one: a trailing delimiter is nothing), which no column names. With `garbled`,
    the rows with a cell that reads as UTF-8 taken for Windows-1252 ("JosÃ©").
    """
    seen = bytearray(DUPLICATE_BITS // 8)
    candidates: set[int] = set()
    lines, width = [0, 0], len(columns_of(path))
    for key, cells, undone in _rows(path, problems, None, _key_and_width, lines):
        if cells and wide is not None:
            wide.append(RowProblem(lines[0], f"{cells} cells, the header has {width}"))
        if undone and garbled is not None:
            garbled.append(RowProblem(lines[0], undone))
        h = hash(key)
        bit = h % DUPLICATE_BITS
        if seen[bit >> 3] & (1 << (bit & 7)):
            candidates.add(h)
        else:
            seen[bit >> 3] |= 1 << (bit & 7)
    if not candidates:
        return {}
    counts = Counter(s.key for s in where_key(path, lambda key: hash(key) in candidates))
    return {key: n for key, n in counts.items() if n > 1}


def _key_and_width(parse: _RowParser) -> Callable[[list[str]], tuple[str, int, str]]:
    """A row's key, its number of cells if it has a non-empty one past the header, and
    what is garbled in it ('' when nothing is)."""
    width = parse.width

    def row(values: list[str]) -> tuple[str, int, str]:
        key = parse.checked(values)[0].lower()
        cells = len(values)
        return key, cells if cells > width and any(values[width:]) else 0, garbled(values)

    return row


def write_atomically(
    path: Path,
    columns: list[str],
    subscribers: Iterable[Subscriber],
    expect: Signature | None = None,
) -> bool:
    """Rewrite the file via a temp file in the same folder and a rename: never half-written.

    With `expect` (the file's signature when it was read), nothing is written and False is
    returned if the file changed since (an editor saved it in place); the caller re-reads.
    """
    columns = list(COLUMNS) + [c for c in columns if c not in COLUMNS]
    rows = (
        [s.email, s.name, s.status.value, s.subscribed_at]
        + [s.fields.get(c, "") for c in columns[4:]]
        for s in subscribers
    )
    return _write_rows(path, itertools.chain([columns], rows), expect)


def _write_rows(
    path: Path,
    rows: Iterable[list[str]],
    expect: Signature | None,
    delimiter: str = ",",
    newline: str = "\n",
    encoding: str = "utf-8",
) -> bool:
    """The rows (the header first) as the file, atomically (see `_replace_atomically`)."""

    def fill(out: BinaryIO) -> bool:
        text = io.TextIOWrapper(out, newline="", encoding=encoding)
        writer = csv.writer(text, delimiter=delimiter, lineterminator=newline)
        writer.writerows(rows)
        text.flush()
        text.detach()  # `out` stays open: the caller fsyncs and closes it
        return True

    return bool(_replace_atomically(path, expect, fill))


def _replace_atomically(
    path: Path, expect: Signature | None, fill: Callable[[BinaryIO], bool]
) -> bool | None:
    """Replace the file with what `fill` writes, via a temp file in the same folder, fsync
    and a rename: never half-written. With `expect` (the file's signature when it was
    read), nothing is replaced and False is returned if the file changed since (an editor
    saved it in place); None, with nothing replaced, if `fill` declined (returned False)."""
    import tempfile  # here: `status` and the other reports never rewrite the list

    fd, tmp = tempfile.mkstemp(prefix=REWRITE_PREFIX, suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if not fill(handle):
                Path(tmp).unlink()
                return None
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        if expect is not None and signature(path) != expect:
            Path(tmp).unlink()
            return False
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # the list is untouched: say which file, in words
            raise os_error(exc, path, "cannot write") from None
        raise
    return True


Signature = tuple[int, int, int, int] | None


def signature(path: Path) -> Signature:
    """What changes when anyone writes the file: inode, size, mtime (None: no file)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


Edit = Callable[[SubscriberFile], tuple[list[str], list[Subscriber]] | None]


def rewrite(path: Path, edit: Edit) -> None:
    """Read-modify-write under the list's lock: `edit` gets the current file and returns
    (columns, rows) to write, or None for no change. Re-run if an editor (who takes no
    lock) saved the file meanwhile."""
    with locked(path):
        for _ in range(ATTEMPTS):
            before = signature(path)
            data = read_file(path) if before is not None else SubscriberFile(list(COLUMNS))
            result = edit(data)
            if result is None or write_atomically(path, *result, expect=before):
                return
    raise _kept_changing(path)


def _kept_changing(path: Path) -> InputError:
    return InputError(
        "the file kept changing while seriespub rewrote it (an editor "
        "saving it?); nothing was changed",
        path=path,
        hint="save it, close the editor and run the command again",
    )


def update_statuses(path: Path, changes: Mapping[str, SubscriberStatus]) -> int:
    """Set the status of the given addresses (case-insensitive); returns rows changed.

    Works on the raw rows, so a row `check` rejects is kept as it is instead of refusing
    the write-back of bounces after a send that skipped it, and every cell of a changed
    row is kept (those past the header too). One pass finds the rows that change (none:
    no rewrite); only their bytes are replaced (see `splice`), or, for a list without a
    status column, it is rewritten a row at a time with one added.
    """
    if not changes:
        return 0
    lowered = {k.lower(): v.value for k, v in changes.items()}
    with locked(path):
        for _ in range(ATTEMPTS):
            before = signature(path)
            edits, has_status = _status_edits(path, lowered)
            if not edits:
                return 0
            done = splice(path, edits, before) if has_status else None
            if done is None:
                done = rewrite_rows(path, before, add=["status"], edit=_setting(lowered))
            if done:
                return len(edits)
    raise _kept_changing(path)


def _status_edits(path: Path, changes: dict[str, str]) -> tuple[dict[int, Splice], bool]:
    """The rows whose status changes, as splices (raw rows: unreadable ones are kept as
    they are), and whether the header has a status column (if not, a rewrite adds one
    and these splices only count the rows). An unclosed last row that would change is
    refused: writing it would close its quote on whatever the quote swallowed."""
    reader, handle, ended = open_rows(path)
    with handle:
        try:
            _, columns = list_header(reader, path)
            email = columns.index("email")
            status = columns.index("status") if "status" in columns else len(columns)
            edits: dict[int, Splice] = {}
            start = reader.line_num + 1
            for row in reader:
                new = changes.get(row[email].strip().lower()) if len(row) > email else None
                if new is not None:
                    edited = _with_status(row, status, new)
                    if edited is not None:
                        if ended[0]:
                            raise _unclosed(path, start)
                        edits[start] = Splice(reader.line_num, edited, reader.dialect.delimiter)
                start = reader.line_num + 1
        except UnicodeDecodeError:
            raise not_utf8(path) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None
    return edits, "status" in columns


def _with_status(row: list[str], status: int, new: str) -> list[str] | None:
    """A copy of the raw row with `new` in its status cell; None if it has that already."""
    if status < len(row) and row[status].strip().lower() == new:
        return None
    edited = row + [""] * (status + 1 - len(row))
    edited[status] = new
    return edited


def _setting(changes: dict[str, str]) -> Callable[[list[str]], RowEdit]:
    """For `rewrite_rows`: each raw row whose address is in `changes` gets its new status."""

    def edit_for(columns: list[str]) -> RowEdit:
        email, status = columns.index("email"), columns.index("status")

        def edit(row: list[str]) -> list[str]:
            new = changes.get(row[email].strip().lower()) if len(row) > email else None
            return row if new is None else (_with_status(row, status, new) or row)

        return edit

    return edit_for


def _dropping(key: str) -> Callable[[list[str]], RowEdit]:
    """For `rewrite_rows`: the raw rows of the address `key` are left out."""

    def edit_for(columns: list[str]) -> RowEdit:
        email = columns.index("email")

        def edit(row: list[str]) -> list[str] | None:
            return None if len(row) > email and row[email].strip().lower() == key else row

        return edit

    return edit_for


def _unclosed(path: Path, line: int) -> InputError:
    return InputError(
        f"{UNCLOSED}; fix it before seriespub rewrites this file", path=path, line=line
    )


def _already_there(address: str, rows: list[Subscriber]) -> InputError:
    """Why `add` will not add someone the list has: active, or gone (and how they return)."""
    statuses = {s.status for s in rows}
    shown = rows[0].email
    if SubscriberStatus.ACTIVE in statuses:
        return InputError(f"{address} is already in the list")
    if SubscriberStatus.UNSUBSCRIBED in statuses:
        return InputError(
            f"{shown} is in the list as unsubscribed; they left, so seriespub will not add "
            "them back (edit subscribers.csv if they asked to return)"
        )
    return InputError(
        f"{shown} is in the list as {rows[0].status.value}; seriespub will not add them back "
        "(edit subscribers.csv if their address works again)"
    )


def add(path: Path, address: str, name: str = "", today: dt.date | None = None) -> Subscriber:
    """Add one active subscriber; an existing address is an error.

    Streams the list once (duplicates, unreadable rows), then appends one line under the
    lock (see `append`); the whole file is rewritten only when it lacks a column the new
    row needs or does not end with a line break.
    """
    if not is_valid_address(address):
        raise InputError(invalid_address(address))
    problem = name_problem(name)
    if problem:
        raise InputError(problem)
    new = Subscriber(address, name, SubscriberStatus.ACTIVE, (today or dt.date.today()).isoformat())
    with locked(path):
        for _ in range(ATTEMPTS):
            before = signature(path)
            if before is None:
                if write_atomically(path, list(COLUMNS), [new], expect=None):
                    return new
                continue
            scan = scan_file(path, {new.key})
            refuse_problems(path, scan.problems)
            if scan.found:
                error = _already_there(address, scan.found[new.key])
                error.path = path
                raise error
            if append(path, scan, [new], before):
                return new
    raise _kept_changing(path)


def remove(path: Path, address: str, *, forget: bool = False) -> None:
    """Mark someone unsubscribed (so no import brings them back), or forget them.

    Streams the list to find them first: an address that is not there, or is already
    unsubscribed, costs no rewrite; otherwise only their rows' bytes are replaced (every
    cell kept, and the quotes the author put on them), or, when the file cannot be cut by
    lines or has no status column, it is rewritten a row at a time.
    """
    key = address.lower()
    with locked(path):
        for _ in range(ATTEMPTS):
            before = signature(path)
            if before is None:
                raise InputError("cannot read: No such file or directory", path=path)
            scan = scan_file(path, {key})
            refuse_problems(path, scan.problems)
            if key not in scan.found:
                raise InputError(f"{address} is not in the list", path=path)
            if not forget and all(
                s.status is SubscriberStatus.UNSUBSCRIBED for s in scan.found[key]
            ):
                return
            if _remove_rows(path, scan, key, forget, before):
                return
    raise _kept_changing(path)


def _remove_rows(path: Path, scan: Scan, key: str, forget: bool, before: Signature) -> bool:
    """Their rows dropped (`forget`) or marked unsubscribed; False if the file changed."""
    gone = SubscriberStatus.UNSUBSCRIBED.value
    spliced = None
    if forget or "status" in scan.columns:
        status = scan.columns.index("status") if "status" in scan.columns else 0
        edits = {}
        for (start, end), row in zip(scan.spans[key], scan.raws[key], strict=True):
            edited = None if forget else _with_status(row, status, gone)
            if forget or edited is not None:
                edits[start] = Splice(end, edited, scan.delimiter)
        spliced = splice(path, edits, before)
    if spliced is None:
        edit = _dropping(key) if forget else _setting({key: gone})
        spliced = rewrite_rows(path, before, add=[] if forget else ["status"], edit=edit)
    return spliced


# -- edits without holding the list in memory ------------------------------------------------


@dataclass
class Scan:
    """One streamed pass over the list: its header, unreadable rows (the first kept), and
    the rows whose address is in the set asked about (memory: that set, not the list)."""

    columns: list[str]
    delimiter: str
    problems: ProblemTally
    found: dict[str, list[Subscriber]] = field(default_factory=dict)
    # each found row's (first, last) line numbers, in `found`'s order: a quoted line break
    # makes a row span lines
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    raws: dict[str, list[list[str]]] = field(default_factory=dict)  # their cells, as read


def scan_file(path: Path, keys: set[str]) -> Scan:
    """Stream the list once, keeping only the rows whose (lower-case) address is in `keys`."""
    reader, handle = open_csv(path)
    delimiter = reader.dialect.delimiter
    handle.close()
    problems = ProblemTally(keep=1)
    scan = Scan(columns_of(path), delimiter, problems)
    lines = [0, 0]

    def matching(
        parse: _RowParser,
    ) -> Callable[[list[str]], tuple[Subscriber, list[str]] | None]:
        def row(values: list[str]) -> tuple[Subscriber, list[str]] | None:
            address, _ = parse.checked(values)  # every row checked, few built
            return (parse(values), values) if address.lower() in keys else None

        return row

    for subscriber, values in _rows(path, problems, None, matching, lines):
        scan.found.setdefault(subscriber.key, []).append(subscriber)
        scan.spans.setdefault(subscriber.key, []).append((lines[0], lines[1]))
        scan.raws.setdefault(subscriber.key, []).append(values)
    return scan


@dataclass(frozen=True)
class Splice:
    """A row to replace: its last line, and the cells that take its lines' place (None:
    nothing), written with `delimiter` and the row's own quoting."""

    last: int
    row: list[str] | None
    delimiter: str = ","


def splice(path: Path, edits: Mapping[int, Splice], before: Signature) -> bool | None:
    """Write the list with the rows starting at the lines in `edits` replaced, every other
    byte copied as it is (atomically, as `write_atomically`): a few rows edited in a list
    of a million cost a copy of its bytes, not a million rows parsed and written again.

    A replacement keeps the line break its row ended with, and the quotes on the cells the
    author quoted. False if the file changed since `before`; None if it cannot be cut by
    lines as the csv reader counted them (a CR that is not part of a CR LF): the caller
    rewrites it row by row.
    """

    def fill(out: BinaryIO) -> bool:
        with open(path, "rb") as source:
            editing: Splice | None = None
            original: list[bytes] = []
            for number, line in enumerate(source, 1):
                if b"\r" in line and (line.count(b"\r") > 1 or not line.endswith(b"\r\n")):
                    return False
                if editing is None:
                    editing = edits.get(number)
                    if editing is None:
                        out.write(line)
                        continue
                original.append(line)
                if number == editing.last:
                    out.write(_replacement(b"".join(original), editing))
                    editing, original = None, []
        return True

    return _replace_atomically(path, before, fill)


def _replacement(original: bytes, edit: Splice) -> bytes:
    """The bytes that replace a row's `original` bytes (its line break kept)."""
    if edit.row is None:
        return b""
    text = original.decode("utf-8")
    body = text.rstrip("\r\n")
    return (encode_like(body, edit.row, edit.delimiter) + text[len(body) :]).encode("utf-8")


def refuse_problems(path: Path, problems: ProblemTally) -> None:
    """Refuse to edit a list with rows seriespub cannot read (a rewrite would drop them)."""
    if problems.count:
        first = problems.first[0]
        raise InputError(
            f"{first.message}; fix it before seriespub rewrites this file",
            path=path,
            line=first.line,
        )


RowEdit = Callable[[list[str]], list[str] | None]


def rewrite_rows(
    path: Path,
    before: Signature,
    *,
    add: Iterable[str] = (),
    edit: Callable[[list[str]], RowEdit] | None = None,
    new: Iterable[Subscriber] = (),
) -> bool:
    """Rewrite the list a raw row at a time (atomically, as `write_atomically`).

    The columns of `add` the header lacks are added at its end, each row widened to match
    (see `_widen`); each row goes through
    `edit(columns)` (None drops it); then the `new` readers. Every cell is kept, and the
    file's delimiter, column order, line break and byte-order mark; only quoting becomes
    minimal. An unclosed last row is refused. False if the file changed since `before`.
    """
    reader, handle, ended = open_rows(path)
    with handle:
        try:
            header, columns = list_header(reader, path)
            added = [c for c in dict.fromkeys(add) if c not in columns]
            columns += added
            change = edit(columns) if edit is not None else None
            width = len(header)

            def rows() -> Iterator[list[str]]:
                yield header + added
                start = reader.line_num + 1
                for row in reader:
                    if ended[0]:
                        raise _unclosed(path, start)
                    if added and row:
                        _widen(row, width, len(columns))
                    edited = change(row) if change is not None and row else row
                    if edited is not None:
                        yield edited
                    start = reader.line_num + 1
                yield from (_cells(columns, s) for s in new)

            style = _style(path)
            return _write_rows(path, rows(), before, reader.dialect.delimiter, *style)
        except UnicodeDecodeError:
            raise not_utf8(path) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=path, line=reader.line_num) from None


def _widen(row: list[str], width: int, wider: int) -> None:
    """Make room in a row for the columns added after the header's first `width`: empty
    cells there, those past the old header moved after them (none taken for a new one)."""
    if len(row) > width:
        row[width:width] = [""] * (wider - width)
    else:
        row.extend([""] * (wider - len(row)))


def _style(path: Path) -> tuple[str, str]:
    """The file's line break (that of its first line) and encoding (with a byte-order mark
    or without)."""
    with open(path, newline="", encoding="utf-8") as handle:
        first = handle.readline(MAX_LINE)
    ending = first[len(first.rstrip("\r\n")) :] or "\n"
    return ending, "utf-8-sig" if first.startswith("\ufeff") else "utf-8"


def append(path: Path, scan: Scan, new: list[Subscriber], before: Signature) -> bool:
    """Add rows at the end of the list without rewriting it; False if the file changed since
    `before` (the caller re-reads). Falls back to a streamed rewrite (`rewrite_rows`) when
    the header lacks one of COLUMNS or the file does not end with a line break.

    Why an append cannot leave a half-written row: the rows are encoded first and handed to
    one `os.write` on an O_APPEND descriptor, after `appendundo.begin` recorded the file's
    size. A process killed in that call may die with part of the buffer written (Linux stops
    a large write at a page when a fatal signal arrives); the next holder of the list's lock
    cuts the list back to that size (`appendundo.undo`). A short write (a full disk) is cut
    back with `ftruncate` to the size the file had, as is any error up to and including the
    `fsync`, so the caller sees "nothing changed" together with the error. After a power cut
    before the fsync returns, the journal (data=ordered, the default on ext4) never shows the
    new size without its data. The file must end with a line break before we append (checked
    with pread), so an editor's last row without one is never glued to ours: that case takes
    the rewrite. A last row left inside an open quote is one of the scan's problems: the
    caller refuses before this.
    """
    if not set(COLUMNS) <= set(scan.columns):
        return rewrite_rows(path, before, add=COLUMNS, new=new)
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        st = os.fstat(fd)
        opened = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if opened != before or signature(path) != before:  # an editor saved meanwhile
            return False
        last = os.pread(fd, 2, st.st_size - 2) if st.st_size >= 2 else b""
        if not last.endswith(b"\n"):
            return rewrite_rows(path, before, new=new)
        data = _encode(scan, new, "\r\n" if last == b"\r\n" else "\n")
        try:
            appendundo.begin(path, st, st.st_size + len(data))  # a kill mid-write is undone
        except OSError as exc:  # nothing appended yet: say which file could not grow
            raise os_error(exc, path, "cannot write") from None
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, f"wrote {written} of {len(data)} bytes (disk full?)")
            os.fsync(fd)
        except BaseException as exc:
            _cut_back(fd, st.st_size)
            if isinstance(exc, OSError):  # cut back to what it was: say which file
                raise os_error(exc, path, "cannot write") from None
            raise
        appendundo.end(path)
    finally:
        os.close(fd)
    return True


def _encode(scan: Scan, rows: list[Subscriber], newline: str) -> bytes:
    """The rows as CSV lines in the file's own column order and delimiter."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=scan.delimiter, lineterminator=newline)
    writer.writerows(_cells(scan.columns, s) for s in rows)
    return buffer.getvalue().encode("utf-8")


def _cells(columns: list[str], s: Subscriber) -> list[str]:
    """A new reader's row, its cells in the order of `columns`."""
    values = {
        "email": s.email,
        "name": s.name,
        "status": s.status.value,
        "subscribed_at": s.subscribed_at,
        **{c: v for c, v in s.fields.items() if c not in COLUMNS},
    }
    return [values.get(c, "") for c in columns]


def _cut_back(fd: int, size: int) -> None:
    """Undo a partial or unsynced append: the list is left as it was."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass


def chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """`items` in lists of `size` (the last may be shorter): readers a batch at a time."""
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
