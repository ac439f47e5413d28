"""Opening the ledger file without ever mistaking a lost record for a new series.

`connect` refuses (LedgerError, with how to restore) a ledger that is empty, not SQLite,
without seriespub's tables, or from a newer seriespub. seriespub itself never leaves an empty
or half-made file: a new ledger is built under a temporary name and linked into place whole,
so an empty `ledger.db` always means the record was lost (a failed copy, a full disk, a bad
merge of the committed ledger), whatever else the state folder holds, and it is refused even
when nothing else shows that the series has sent. A *missing* file is a new series unless the
caller passes `history` (what shows that this series has sent before; see
`publishing.open_ledger`). Read-only opens (`mode=ro`) create nothing, and a missing ledger
then reads as an empty one, so reporting commands work on a read-only copy of a series.
The ledger and its -wal/-shm files are owner-only (0600).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from seriespub.errors import SeriespubError
from seriespub.pathtext import shown
from seriespub.statefiles import FILE_MODE, fsync_folder, os_error, private_dir, tighten

# 2: deliveries remember what a refusal means for the reader (`subscriber_status`) and
#    whether subscribers.csv holds it yet (`subscriber_applied`); a version-1 ledger is
#    migrated in place when opened for writing (read-only opens see the old columns only).
# 3: no new column; `meta` keeps what a schema-2 seriespub ignores and would misread, so it
#    must refuse the ledger (it refuses any newer schema): `series_id`, the first send's
#    (it would derive other delivery ids after a key, title or sender change, and resend a
#    pending batch the provider cannot find), and `unsubscribe_keys_earlier` with
#    secret.previous (it would refuse the links of a replaced key). A schema-2 ledger is
#    brought to 3 when opened for writing, like a version-1 one.
# A ledger without a `meta` row reads as "not recorded yet". `unsubscribe_key`: the
# fingerprint of the key the series sends with (`seriespub.keyguard`), written by the first
# real send. A new row that an older seriespub would misread needs a new version.
#
# The layout of `deliveries` is not part of the version: any seriespub reads and writes it
# through the same statements (`ON CONFLICT(instalment, email)` needs only the uniqueness).
# Ledgers made since 2026-11-29 keep the rows in the order they were written (a rowid table,
# its `(instalment, email)` pairs unique through an index of their own); earlier ones keep
# them in (instalment, address) order (WITHOUT ROWID) and stay so. The order matters to a
# send: a list in sign-up order has its addresses in no alphabetical order, so in the older
# layout each batch of 500 wrote rows, and rewrote them when settled, on pages all over the
# table (59 µs a reader at 100,000); here a batch's rows sit together, and only the small
# index takes the scattered writes (22 µs; `bench/bench_ledger.py --n 100000 --order
# shuffled --vs OLD/src`, alternating runs).
SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instalments(
    number INTEGER PRIMARY KEY, title TEXT, subject TEXT,
    started_at TEXT, finished_at TEXT);
CREATE TABLE IF NOT EXISTS batches(
    key TEXT PRIMARY KEY, instalment INTEGER NOT NULL, provider TEXT NOT NULL,
    created_at TEXT NOT NULL, send_at TEXT, settled INTEGER NOT NULL DEFAULT 0,
    recipients TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS deliveries(
    instalment INTEGER NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL,
    batch_key TEXT, provider TEXT, message_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL, send_at TEXT,
    subscriber_status TEXT, subscriber_applied INTEGER NOT NULL DEFAULT 1,
    UNIQUE(instalment, email));
CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries(instalment, status);
"""


class LedgerError(SeriespubError):
    """The ledger file cannot be used."""


def connect(
    path: Path,
    *,
    readonly: bool = False,
    history: str | None = None,
) -> sqlite3.Connection:
    """A connection to the checked ledger at `path` (see the module docstring)."""
    if not path.exists():
        if history:
            raise LedgerError(
                f"{path} is missing, but {history}. Nothing was sent: without "
                "the record every reader would get every part again",
                hint=f"restore it from git (git checkout HEAD -- {shown(path)}) or from a "
                "backup; if nothing real was ever sent from this series, move aside what "
                "says it was",
            )
        if readonly:
            return _empty_in_memory()
        _create(path)
    _check_file(path, history)
    conn = _connect(path, readonly)
    try:
        version = _check_schema(conn, path, history)
        if version < SCHEMA_VERSION and not readonly:
            _migrate(conn, version)
    except BaseException:
        conn.close()
        raise
    return conn


_SQLITE_HEADER = b"SQLite format 3\x00"


def _restore_hint(path: Path) -> str:
    return (
        f"restore it from git (git checkout HEAD -- {shown(path)}) or from a backup; "
        f"if this series has really never sent anything, delete {shown(path)} "
        "(and its -wal and -shm files)"
    )


def _lost(path: Path, what: str, history: str | None) -> LedgerError:
    since = f"; {history}" if history else ""
    return LedgerError(
        f"{path} {what}: the record of who has had each instalment is gone "
        f"(a failed copy, a full disk or a bad merge?){since}. Nothing was "
        "sent: without it every reader would get every part again",
        hint=_restore_hint(path),
    )


def _check_file(path: Path, history: str | None) -> None:
    """Refuse an empty file or one that is not SQLite, before SQLite sees it."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except IsADirectoryError:
        raise LedgerError(
            f"{path} is a folder, not the send ledger", hint=f"move {path} aside"
        ) from None
    except OSError as exc:
        raise os_error(exc, path, "cannot read the send ledger") from None
    if not head:
        raise _lost(path, "is empty", history)
    if head != _SQLITE_HEADER:
        raise LedgerError(
            f"{path} is not a SQLite database, so not a seriespub ledger", hint=_restore_hint(path)
        )


def _check_schema(conn: sqlite3.Connection, path: Path, history: str | None) -> int:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise LedgerError(
                f"{path}: cannot read the send ledger: {_words(exc, path)}",
                hint=_db_hint(exc, path) or _restore_hint(path),
            ) from None
        row = None
    except sqlite3.DatabaseError as exc:  # a damaged file: "database disk image is malformed"
        raise LedgerError(
            f"{path} is damaged ({exc}); nothing was sent", hint=_restore_hint(path)
        ) from None
    if row is None or not str(row[0]).isdigit():
        raise _lost(path, "has no seriespub tables", history)
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{path} was written by a newer seriespub (ledger schema {version}; "
            f"this one knows {SCHEMA_VERSION}); nothing was changed",
            hint="upgrade seriespub: pip install -U seriespub",
        )
    return version


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring an older ledger up to SCHEMA_VERSION in one transaction (all or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if version < 2:
            conn.execute("ALTER TABLE deliveries ADD COLUMN subscriber_status TEXT")
            conn.execute(
                "ALTER TABLE deliveries ADD COLUMN subscriber_applied INTEGER NOT NULL DEFAULT 1"
            )
        # 2 -> 3 is the version alone: what it guards is in `meta` (see SCHEMA_VERSION).
        conn.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            return _connect_readonly(path)
        tighten_ledger(path)
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=rw",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Fold the WAL into the ledger every ~40 MB rather than every 4 MB: a send rewrites
            # the same pages batch after batch (pending, then settled), and each checkpoint
            # copies them and syncs twice. Closing still folds everything in.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
        except BaseException:
            conn.close()
            raise
        return conn
    except sqlite3.DatabaseError as exc:
        raise LedgerError(
            f"{path}: cannot open the send ledger: {_words(exc, path)}",
            hint=_db_hint(exc, path) or (_restore_hint(path) if _damaged(exc) else None),
        ) from None


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """`mode=ro`; where SQLite cannot open or make the WAL index beside a WAL ledger (a
    read-only file system), `immutable=1`: nothing can change the file there. Never as a
    way round a lock: a busy ledger is an error, not a reason to read it unguarded."""
    uri = path.absolute().as_uri()
    try:
        return _read_connection(uri + "?mode=ro")
    except sqlite3.OperationalError as exc:
        name = getattr(exc, "sqlite_errorname", "")
        if name != "SQLITE_CANTOPEN" and not name.startswith("SQLITE_READONLY"):
            raise
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size:
        # immutable=1 would read past them and show an older record without a word
        raise LedgerError(
            f"{wal} holds deliveries not yet folded into the ledger, and SQLite cannot read "
            "them here (a read-only file system?)",
            hint="fold them in where the series is writable: "
            f"sqlite3 {shown(path)} 'PRAGMA wal_checkpoint(TRUNCATE)'",
        )
    return _read_connection(uri + "?mode=ro&immutable=1")


def _read_connection(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _damaged(exc: sqlite3.Error) -> bool:
    return "malformed" in str(exc) or "not a database" in str(exc)


def _disk_full(exc: sqlite3.Error, path: Path) -> bool:
    """SQLite's own 'database or disk is full', or an I/O error where the file system has
    no room left: growing the -shm it maps fails as 'disk I/O error' (SQLITE_IOERR_SHMSIZE)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return True
    if not name.startswith("SQLITE_IOERR"):
        return False
    try:
        info = os.statvfs(path.parent)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < _ROOM_NEEDED


_ROOM_NEEDED = 1 << 20  # less free space than this: an I/O error is taken for a full disk


def _words(exc: sqlite3.Error, path: Path) -> str:
    return "the disk is full" if _disk_full(exc, path) else str(exc)


def _db_hint(exc: sqlite3.Error, path: Path) -> str | None:
    if _disk_full(exc, path):  # nothing is lost: the record is whole, only unwritable
        return (
            "free some space, then run the command again (a send resumes exactly where "
            "it stopped)"  # the same command: after `site` or `import` it is not `send next`
        )
    if "locked" in str(exc) or "busy" in str(exc):
        return (
            "another program holds the ledger (a sqlite3 shell, a backup or sync tool?); "
            "close it and run the command again"
        )
    return None


def _create(path: Path) -> None:
    """A new ledger with its schema, linked into place whole (never seen half-made)."""
    private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{os.getpid()}.new")
    companions = [Path(f"{temp}{suffix}") for suffix in ("-journal", "-wal", "-shm")]
    try:
        for leftover in (temp, *companions):
            leftover.unlink(missing_ok=True)  # of a creation killed under this pid
        _write_schema(temp)
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temp, path)
        fsync_folder(path.parent)  # the new name survives a power cut
    except sqlite3.DatabaseError as exc:
        raise LedgerError(
            f"{path}: cannot create the send ledger: {_words(exc, path)}",
            hint=_db_hint(exc, path),
        ) from None
    except OSError as exc:
        raise os_error(exc, path, "cannot create the send ledger") from None
    finally:
        for made in (temp, *companions):
            with contextlib.suppress(OSError):
                made.unlink(missing_ok=True)


def _write_schema(temp: Path) -> None:
    """The schema in `temp`, committed in the file itself. A rollback journal, not WAL: a
    full disk then fails the COMMIT, where a WAL's closing checkpoint fails silently and
    leaves a file that holds nothing without its -wal. The ledger turns to WAL when opened."""
    conn = sqlite3.connect(temp, isolation_level=None)
    try:
        os.chmod(temp, FILE_MODE)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(
            f"BEGIN IMMEDIATE;{SCHEMA}INSERT INTO meta VALUES('schema', '{SCHEMA_VERSION}');COMMIT;"
        )
    finally:
        conn.close()


def _empty_in_memory() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.executescript(SCHEMA)
    return conn


def tighten_ledger(path: Path) -> None:
    """The ledger and its -wal/-shm files: owner only (SQLite gives the latter the ledger's
    mode when it creates them)."""
    for name in ("", "-wal", "-shm"):
        tighten(Path(f"{path}{name}"))
