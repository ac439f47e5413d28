"""The send ledger: a SQLite record of every delivery, written before and after each request.

Each batch is recorded as `pending` *before* its request and settled *after* it, in separate
transactions. After a kill at any instant, a `pending` row means "the outcome is unknown",
never "not sent": the sending core settles it before anything is sent again.

WAL with synchronous=NORMAL survives a killed process at any instant; closing the last
connection checkpoints, so between runs the ledger is the single file `ledger.db` that a
scheduled CI job can commit back to git. That is why every reason is scrubbed of registered
secrets (`seriespub.redact`) before it is written.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from seriespub.ledgerfile import SCHEMA_VERSION, LedgerError, connect
from seriespub.models import DeliveryStatus, Outcome, RecipientResult, SubscriberStatus
from seriespub.redact import scrub

__all__ = ["SCHEMA_VERSION", "Ledger", "LedgerError"]

_OUTCOME_STATUS = {
    Outcome.SENT: DeliveryStatus.SENT,
    Outcome.FAILED: DeliveryStatus.FAILED,
    Outcome.TRANSIENT: DeliveryStatus.DEFERRED,
    Outcome.UNKNOWN: DeliveryStatus.UNKNOWN,
}
_STATUS_TEXT = {o: s.value for o, s in _OUTCOME_STATUS.items()}
_SCHEDULED_TEXT = {**_STATUS_TEXT, Outcome.SENT: DeliveryStatus.SCHEDULED.value}


@dataclass(frozen=True)
class DeliveryRow:
    instalment: int
    email: str
    status: DeliveryStatus
    batch_key: str | None
    provider: str | None
    message_id: str
    reason: str
    attempts: int
    updated_at: str
    send_at: str | None


# Between a batch's provider and its route in `batches.provider` (`begin_batch`).
_VIA = " via "


@dataclass(frozen=True)
class UnsettledBatch:
    key: str
    emails: list[str]  # as sent, in the order sent
    send_at: dt.datetime | None
    provider: str
    created_at: dt.datetime | None = None
    route: str = ""  # where its request went (`Provider.route`); "" when not recorded
    # Its readers (lower-cased) whose row no other batch of the part wrote: `attempts` is 1.
    first_tries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class InstalmentRecord:
    number: int
    title: str
    subject: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


# A batch goes to SQLite as one JSON array and one statement (`json_each`), not a row at a
# time: a statement per row costs a Python round trip and a GIL release per reader, and the
# send's worker threads then hold the main thread up at every one.
_INSERT_DELIVERY = (
    "INSERT INTO deliveries(instalment, email, status, batch_key, provider, "
    "attempts, updated_at, send_at) SELECT ?, value, 'pending', ?, ?, 1, ?, ? "
    "FROM json_each(?) WHERE true"  # `WHERE true`: SQLite's rule for an upsert after a SELECT
)
_RESEND = (
    " ON CONFLICT(instalment, email) DO UPDATE SET status='pending', "
    "batch_key=excluded.batch_key, provider=excluded.provider, reason='', "
    "attempts=deliveries.attempts+1, updated_at=excluded.updated_at, "
    "send_at=excluded.send_at"
)
# Results go in as a JSON *object* per (status, reason, new status) shared by many readers:
# {address: message id}. `json_each` yields each pair as `key` and `value` straight from one
# parse, where an array per reader cost five `json_extract`s (a render and a re-parse each).
# Only for addresses this ledger wrote `pending` in the batch (rows are never deleted, so they
# exist): no EXISTS guard, which cost a correlated look-up per reader.
_RESULTS_HEAD = (
    "INSERT INTO deliveries(instalment, email, status, message_id, reason, updated_at, "
    "subscriber_status, subscriber_applied) "
)
_RESULTS_TAIL = (
    " ON CONFLICT(instalment, email) DO UPDATE SET status=excluded.status, "
    "message_id=excluded.message_id, reason=excluded.reason, updated_at=excluded.updated_at, "
    "subscriber_status=excluded.subscriber_status, "
    "subscriber_applied=excluded.subscriber_applied"
)
_RECORD_SHARED = (
    _RESULTS_HEAD + "SELECT ?1, key, ?3, value, ?4, ?2, ?5, ?5 IS NULL FROM json_each(?6) "
    "WHERE true" + _RESULTS_TAIL  # `WHERE true`: SQLite's rule for an upsert after a SELECT
)
# The rest (a reason or a new status of their own, usually the few refusals, and any address
# not known to be in the batch): one array each, [email, status, message_id, reason,
# subscriber_status]. An address with no row is ignored (the EXISTS guard), as an UPDATE would.
# (json_extract, not `->>`: that operator needs SQLite 3.38, and Python may link an older one.)
_RECORD_EACH = (
    _RESULTS_HEAD + "SELECT ?1, json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'), "
    "json_extract(r.value, '$[2]'), json_extract(r.value, '$[3]'), ?2, "
    "json_extract(r.value, '$[4]'), json_extract(r.value, '$[4]') IS NULL "
    "FROM json_each(?3) AS r WHERE EXISTS(SELECT 1 FROM deliveries AS d "
    "WHERE d.instalment=?1 AND d.email=json_extract(r.value, '$[0]'))" + _RESULTS_TAIL
)
_OWN_GROUP = 8  # readers sharing a reason and a new status that are worth a statement of their own


# Rows of `meta`. An older seriespub that would misread one refuses the ledger by its schema
# version (`seriespub.ledgerfile.SCHEMA_VERSION`).
_KEY_ROW = "unsubscribe_key"
_SERIES_ID_ROW = "series_id"
# Fingerprints of keys replaced while readers held links made with them, comma-separated.
_EARLIER_KEYS_ROW = "unsubscribe_keys_earlier"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Ledger:
    """Open with `Ledger.open(path)`; use as a context manager.

    An emptied, foreign or newer ledger is refused when opened, never taken for a new series
    (`seriespub.ledgerfile`).
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._fresh: set[int] = set()  # instalments with no rows before this ledger's
        self._written: set[int] = set()  # instalments that had rows: always upsert
        # batch key -> (instalment, the addresses it wrote `pending`), until it is settled
        self._held: dict[str, tuple[int, set[str]]] = {}

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        history: str | None = None,
    ) -> Ledger:
        """Open the ledger, refusing one whose record was lost (see `seriespub.ledgerfile`).

        `readonly` creates nothing (a missing ledger reads as empty); `history` says why this
        series is believed to have sent before, which turns a missing ledger into an error.
        """
        return cls(connect(path, readonly=readonly, history=history), path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- instalments -------------------------------------------------------------------
    def mark_started(self, number: int, title: str, subject: str, when: dt.datetime) -> None:
        """Part `number` goes out from `when`: its start is the earliest any run gave (a
        copy held for a later time, then the rest sent at once: readers have it from now)."""
        row = self._conn.execute(
            "SELECT started_at FROM instalments WHERE number=?", (number,)
        ).fetchone()
        started = _parse(row[0]) if row and row[0] else None
        if started is not None and started <= when:
            when = started  # times of any offset compared as times, not as text
        self._conn.execute(
            "INSERT INTO instalments(number, title, subject, started_at) VALUES(?,?,?,?) "
            "ON CONFLICT(number) DO UPDATE SET title=excluded.title, subject=excluded.subject, "
            "started_at=excluded.started_at",
            (number, title, subject, when.isoformat(timespec="seconds")),
        )

    def ensure_started(self, number: int, title: str, subject: str, when: dt.datetime) -> None:
        """Give part `number` a start at `when` unless a run gave it one (a part finished
        with nobody owed it, which no send started)."""
        self._conn.execute(
            "INSERT INTO instalments(number, title, subject, started_at) VALUES(?,?,?,?) "
            "ON CONFLICT(number) DO UPDATE SET title=excluded.title, subject=excluded.subject, "
            "started_at=COALESCE(instalments.started_at, excluded.started_at)",
            (number, title, subject, when.isoformat(timespec="seconds")),
        )

    def mark_finished(self, number: int, when: dt.datetime | None) -> None:
        value = when.isoformat(timespec="seconds") if when else None
        self._conn.execute("UPDATE instalments SET finished_at=? WHERE number=?", (value, number))

    def instalment_records(self) -> dict[int, InstalmentRecord]:
        rows = self._conn.execute(
            "SELECT number, title, subject, started_at, finished_at FROM instalments"
        )
        return {
            r[0]: InstalmentRecord(r[0], r[1] or "", r[2] or "", _parse(r[3]), _parse(r[4]))
            for r in rows
        }

    # -- the unsubscribe key (seriespub.keyguard) ---------------------------------------
    def key_fingerprint(self) -> str | None:
        """The fingerprint of the unsubscribe key this series sends with (None: not yet
        recorded, or a ledger from before it was)."""
        return self._meta(_KEY_ROW)

    def record_key_fingerprint(self, fingerprint: str, *, replaced: str | None = None) -> None:
        """Record the key in use; `replaced`: the fingerprint of a key it replaces whose
        links readers hold, remembered (first) so that a token it made can be explained."""
        earlier = self.earlier_key_fingerprints()
        if replaced is not None and replaced not in earlier:
            self._set_meta(_EARLIER_KEYS_ROW, ",".join([*earlier, replaced]))
        self._set_meta(_KEY_ROW, fingerprint)

    def earlier_key_fingerprints(self) -> list[str]:
        """Fingerprints of the keys replaced on purpose while readers held their links."""
        return [f for f in (self._meta(_EARLIER_KEYS_ROW) or "").split(",") if f]

    # -- the series id its delivery ids derive from (seriespub.sending.run) -------------
    def series_id(self) -> str | None:
        """The series id of the first real send (None: nothing sent since it was kept)."""
        return self._meta(_SERIES_ID_ROW)

    def record_series_id(self, series_id: str) -> None:
        self._set_meta(_SERIES_ID_ROW, series_id)

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    def parts_with_links(self) -> list[int]:
        """Instalments that readers may hold (sent, scheduled, or of unknown outcome): their
        unsubscribe links are out there. Each instalment found by the primary key, then one
        index look-up: no scan of the deliveries."""
        parts: list[int] = []
        row = self._conn.execute("SELECT min(instalment) FROM deliveries").fetchone()
        while row[0] is not None:
            if self._conn.execute(
                "SELECT 1 FROM deliveries WHERE instalment=? AND status IN "
                "('sent', 'scheduled', 'unknown', 'pending') LIMIT 1",
                (row[0],),
            ).fetchone():
                parts.append(row[0])
            row = self._conn.execute(
                "SELECT min(instalment) FROM deliveries WHERE instalment > ?", (row[0],)
            ).fetchone()
        return parts

    # -- batches -----------------------------------------------------------------------
    def begin_batch(
        self,
        number: int,
        key: str,
        provider: str,
        emails: Sequence[str],
        send_at: dt.datetime | None = None,
        route: str = "",
    ) -> None:
        """Record that `emails` are about to be sent in batch `key` (before the request),
        through `provider` along `route` (`Provider.route`; kept in the batch's provider
        text as "name via route", which a ledger of any version can hold)."""
        now = _now()
        when = send_at.isoformat(timespec="seconds") if send_at else None
        lowered = [e.lower() for e in emails]
        recipients = json.dumps(list(emails))
        # No escape in the text: every address is plain ASCII, so lowering the text is
        # lowering each address (one encoding instead of two).
        row = (
            number,
            key,
            provider,
            now,
            when,
            recipients.lower() if "\\" not in recipients else json.dumps(lowered),
        )
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO batches(key, instalment, provider, created_at, "
                "send_at, settled, recipients) VALUES(?,?,?,?,?,0,?)",
                (key, number, _VIA.join(filter(None, (provider, route))), now, when, recipients),
            )
            if not self._insert_fresh(conn, number, row):
                conn.execute(_INSERT_DELIVERY + _RESEND, row)
        self._held[key] = (number, set(lowered))

    def _insert_fresh(self, conn: sqlite3.Connection, number: int, row: tuple[object, ...]) -> bool:
        """Plain INSERTs while the instalment had no rows when this ledger first wrote to it
        (a first send: about half the cost of the upsert). Only a hint: a row that exists
        after all (a repeated address) undoes the inserts, and the caller upserts."""
        if number not in self._fresh:
            if (
                number in self._written
                or conn.execute(
                    "SELECT 1 FROM deliveries WHERE instalment=? LIMIT 1", (number,)
                ).fetchone()
            ):
                self._written.add(number)
                return False
            self._fresh.add(number)
        conn.execute("SAVEPOINT fresh")
        try:
            conn.execute(_INSERT_DELIVERY, row)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO fresh")
            return False
        finally:
            conn.execute("RELEASE fresh")
        return True

    def record_results(
        self, number: int, key: str, results: Iterable[RecipientResult], scheduled: bool = False
    ) -> None:
        """Settle a batch: one row per recipient result, then the batch itself."""
        held = self._held.pop(key, None)
        known = held[1] if held is not None and held[0] == number else set()
        status_of = _SCHEDULED_TEXT if scheduled else _STATUS_TEXT
        groups: dict[tuple[str, str, str | None], dict[str, str]] = {}
        each: list[tuple[str, str, str, str, str | None]] = []
        # The last result for an address wins, as it did when each was upserted in turn.
        for email, r in {r.email.lower(): r for r in results}.items():
            # What the refusal means for the reader goes in with the result, in the same
            # transaction: a kill before the list is rewritten loses nothing.
            marks = r.new_status.value if r.new_status is not None else None
            shape = (status_of[r.outcome], scrub(r.reason) if r.reason else "", marks)
            if email in known:
                groups.setdefault(shape, {})[email] = r.message_id
            else:
                each.append((email, shape[0], r.message_id, shape[1], marks))
        now = _now()
        with self._transaction() as conn:
            for (status_, reason, marks), ids in groups.items():
                if len(ids) < _OWN_GROUP:
                    each += [(e, status_, m, reason, marks) for e, m in ids.items()]
                else:
                    conn.execute(
                        _RECORD_SHARED, (number, now, status_, reason, marks, json.dumps(ids))
                    )
            if each:
                conn.execute(_RECORD_EACH, (number, now, json.dumps(each)))
            conn.execute("UPDATE batches SET settled=1 WHERE key=?", (key,))

    def unsettled_batches(self, number: int) -> list[UnsettledBatch]:
        """Batches with rows still `pending`, with their recipients in the original order."""
        pending: dict[str, set[str]] = {}
        first: dict[str, set[str]] = {}
        for key, address, attempts in self._conn.execute(
            "SELECT batch_key, email, attempts FROM deliveries "
            "WHERE instalment=? AND status='pending'",
            (number,),
        ):
            pending.setdefault(key or "", set()).add(address)
            if attempts == 1:
                first.setdefault(key or "", set()).add(address)
        out = []
        for key, waiting in pending.items():
            row = self._conn.execute(
                "SELECT recipients, send_at, provider, created_at FROM batches WHERE key=?", (key,)
            ).fetchone()
            order = json.loads(row[0]) if row else sorted(waiting)
            emails = [e for e in order if e.lower() in waiting]
            provider, _, route = (row[2] if row else "").partition(_VIA)
            out.append(
                UnsettledBatch(
                    key,
                    emails,
                    _parse(row[1]) if row else None,
                    provider,
                    _parse(row[3]) if row else None,
                    route,
                    frozenset(first.get(key, ())),
                )
            )
        return out

    def set_status(
        self, number: int, emails: Sequence[str], status: DeliveryStatus, reason: str | None = None
    ) -> None:
        now = _now()
        reason = None if reason is None else scrub(reason)  # the ledger is committed by CI
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE deliveries SET status=?, reason=COALESCE(?, reason), updated_at=? "
                "WHERE instalment=? AND email=?",
                [(status.value, reason, now, number, e.lower()) for e in emails],
            )

    def change_status(self, number: int, old: DeliveryStatus, new: DeliveryStatus) -> int:
        cur = self._conn.execute(
            "UPDATE deliveries SET status=?, updated_at=? WHERE instalment=? AND status=?",
            (new.value, _now(), number, old.value),
        )
        return cur.rowcount

    # -- what the list still owes -------------------------------------------------------
    def unapplied_status_changes(self) -> dict[str, SubscriberStatus]:
        """Address → the status a refusal gave the reader, not yet in subscribers.csv
        (the latest, when several instalments refused the same reader)."""
        rows = self._conn.execute(
            "SELECT email, subscriber_status FROM deliveries WHERE subscriber_applied=0 "
            "AND subscriber_status IS NOT NULL ORDER BY updated_at, instalment"
        )
        return {email: SubscriberStatus(status) for email, status in rows}

    def mark_status_changes_applied(self, changes: dict[str, SubscriberStatus]) -> None:
        """Record that subscribers.csv now holds `changes` (from unapplied_status_changes)."""
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE deliveries SET subscriber_applied=1 WHERE email=? AND "
                "subscriber_status=? AND subscriber_applied=0",
                [(email, status.value) for email, status in changes.items()],
            )

    # -- queries -----------------------------------------------------------------------
    def statuses(self, number: int, emails: Sequence[str]) -> dict[str, DeliveryStatus]:
        """The recorded status of each address (lower-cased) that has a row."""
        found: dict[str, DeliveryStatus] = {}
        lowered = [e.lower() for e in emails]
        for start in range(0, len(lowered), 500):
            chunk = lowered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for address, status in self._conn.execute(
                f"SELECT email, status FROM deliveries WHERE instalment=? AND email IN ({marks})",
                (number, *chunk),
            ):
                found[address] = DeliveryStatus(status)
        return found

    def batch_times(self, number: int, emails: Sequence[str]) -> dict[str, dt.datetime]:
        """Address (lower-cased) → when the batch that holds its delivery of part `number`
        was created, for those of `emails` whose delivery has a recorded batch."""
        found: dict[str, dt.datetime] = {}
        lowered = sorted({e.lower() for e in emails})
        for start in range(0, len(lowered), 500):
            chunk = lowered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for address, created in self._conn.execute(
                "SELECT d.email, b.created_at FROM deliveries d JOIN batches b "
                f"ON b.key = d.batch_key WHERE d.instalment=? AND d.email IN ({marks})",
                (number, *chunk),
            ):
                when = _parse(created)
                if when is not None:
                    found[address] = when
        return found

    def sent_later(self, number: int, after: dt.datetime, since: dt.datetime) -> frozenset[str]:
        """Addresses (lower-cased) in part `number`'s batches created after `after` and at
        or after `since`: at most a handful of batches, found among the part's (a few per
        thousand readers) before any recipient list is read."""
        keys = [
            key
            for key, created in self._conn.execute(
                "SELECT key, created_at FROM batches WHERE instalment=?", (number,)
            )
            if (when := _parse(created)) is not None and when > after and when >= since
        ]
        found: set[str] = set()
        for key in keys:
            row = self._conn.execute("SELECT recipients FROM batches WHERE key=?", (key,))
            found.update(e.lower() for e in json.loads(row.fetchone()[0]))
        return frozenset(found)

    def counts(self, number: int) -> dict[DeliveryStatus, int]:
        rows = self._conn.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE instalment=? GROUP BY status", (number,)
        )
        return {DeliveryStatus(s): n for s, n in rows}

    def all_counts(self) -> dict[int, dict[DeliveryStatus, int]]:
        out: dict[int, dict[DeliveryStatus, int]] = {}
        for number, status, n in self._conn.execute(
            "SELECT instalment, status, COUNT(*) FROM deliveries GROUP BY 1, 2"
        ):
            out.setdefault(number, {})[DeliveryStatus(status)] = n
        return out

    def deliveries(
        self,
        number: int,
        statuses: Iterable[DeliveryStatus] | None = None,
    ) -> Iterator[DeliveryRow]:
        sql = (
            "SELECT instalment, email, status, batch_key, provider, message_id, reason, "
            "attempts, updated_at, send_at FROM deliveries WHERE instalment=?"
        )
        params: list[object] = [number]
        if statuses is not None:
            # Found through the status index (a few failed among a million), then read in
            # address order by primary key: no scan of the part, no sort.
            wanted = [s.value for s in statuses]
            sql += (
                " AND email IN (SELECT email FROM deliveries WHERE instalment=? AND "
                f"status IN ({','.join('?' * len(wanted))}))"
            )
            params += [number, *wanted]
        for row in self._conn.execute(sql + " ORDER BY email", params):
            yield DeliveryRow(row[0], row[1], DeliveryStatus(row[2]), *row[3:])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: every query inside sees the same ledger, even beside a
        running send (a count, then the rows it counted)."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def scheduled_batches(self, number: int) -> dict[str, list[tuple[str, str]]]:
        """Batch key → (address, provider message id) of deliveries still scheduled."""
        out: dict[str, list[tuple[str, str]]] = {}
        for key, address, message_id in self._conn.execute(
            "SELECT batch_key, email, message_id FROM deliveries WHERE instalment=? AND "
            "status='scheduled' ORDER BY batch_key, email",
            (number,),
        ):
            out.setdefault(key, []).append((address, message_id))
        return out

    def held_with(self, number: int) -> dict[int, dict[str, list[tuple[str, str]]]]:
        """The other parts' deliveries still scheduled for a time part `number`'s scheduled
        deliveries are held for (one `send next --at` round): part → `scheduled_batches`."""
        out: dict[int, dict[str, list[tuple[str, str]]]] = {}
        for part, key, address, message_id in self._conn.execute(
            "SELECT d.instalment, d.batch_key, d.email, d.message_id FROM deliveries d "
            "JOIN batches b ON b.key = d.batch_key WHERE d.status='scheduled' "
            "AND d.instalment != ? AND b.send_at IN (SELECT h.send_at FROM batches h "
            "JOIN deliveries s ON s.batch_key = h.key WHERE s.instalment=? "
            "AND s.status='scheduled' AND h.send_at IS NOT NULL) "
            "ORDER BY d.instalment, d.batch_key, d.email",
            (number, number),
        ):
            out.setdefault(part, {}).setdefault(key, []).append((address, message_id))
        return out

    def held_until(self, number: int) -> dt.datetime | None:
        """The latest time part `number`'s deliveries still scheduled are held until by the
        provider (`send next --at`); None when none is."""
        row = self._conn.execute(
            "SELECT max(send_at) FROM deliveries WHERE instalment=? AND status='scheduled'",
            (number,),
        ).fetchone()
        return _parse(row[0]) if row and row[0] else None

    def held_only(self, now: dt.datetime) -> set[int]:
        """The parts handed over to go out at a time still ahead (`send next --at`) that no
        reader has yet: held, not sent (`schedule`, the site)."""
        return {
            n
            for n, r in self.instalment_records().items()
            if r.started_at is not None and r.started_at > now and not self.reached_by(n, now)
        }

    def reached_by(self, number: int, now: dt.datetime) -> bool:
        """Whether a reader has part `number` by `now`, or may have: a delivery sent, pending
        or of unknown outcome outside a batch the provider holds until after `now`."""
        row = self._conn.execute(
            "SELECT 1 FROM deliveries d LEFT JOIN batches b ON b.key = d.batch_key "
            "WHERE d.instalment=? AND d.status IN ('sent', 'pending', 'unknown') "
            "AND (b.send_at IS NULL OR b.send_at <= ?) LIMIT 1",
            (number, now.astimezone(dt.UTC).isoformat(timespec="seconds")),
        ).fetchone()
        return row is not None

    def last_held_for(self, number: int) -> dt.datetime | None:
        """The latest time part `number` was handed over to go out at (`send next --at`),
        withdrawn since or not; None if it never was."""
        row = self._conn.execute(
            "SELECT max(send_at) FROM batches WHERE instalment=?", (number,)
        ).fetchone()
        return _parse(row[0]) if row else None

    def reset_instalment(self, number: int) -> None:
        """Forget that an instalment went out (its scheduled send was withdrawn)."""
        self._conn.execute(
            "UPDATE instalments SET started_at=NULL, finished_at=NULL WHERE number=?", (number,)
        )

    # -- plumbing ----------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- per-reader tracks (seriespub.tracks) ------------------------------------------
    def received(
        self, emails: Iterable[str]
    ) -> dict[str, tuple[frozenset[int], frozenset[int], str]]:
        """Address (lower-cased) → (parts settled for them, parts left open, the latest
        `updated_at` of their deliveries), for those of `emails` that have any delivery.
        Looked up by primary key: the cost follows the addresses asked about and the parts,
        not the size of the ledger."""
        wanted = sorted({e.lower() for e in emails})
        numbers = self._parts() if wanted else []
        out: dict[str, tuple[frozenset[int], frozenset[int], str]] = {}
        parts = ",".join("?" * len(numbers))
        for start in range(0, len(wanted) if numbers else 0, 500):
            chunk = wanted[start : start + 500]
            # Aggregated by SQLite, one row per reader; (instalment, email) pairs are looked up
            # in the primary key.
            for email, has, open_, last in self._conn.execute(
                "SELECT email, group_concat(CASE WHEN status IN ('sent','failed','scheduled') "
                "THEN instalment END), group_concat(CASE WHEN status NOT IN "
                "('sent','failed','scheduled') THEN instalment END), max(updated_at) "
                f"FROM deliveries WHERE instalment IN ({parts}) "
                f"AND email IN ({','.join('?' * len(chunk))}) GROUP BY email",
                (*numbers, *chunk),
            ):
                out[email] = (_numbers(has), _numbers(open_), last or "")
        return out

    def lacking(self, number: int) -> Iterator[str] | None:
        """Addresses (lower-cased) with a delivery of some other part but none of part
        `number`, whatever the statuses: who may have fallen behind it (`tracks.fell_behind`).
        Streamed, an address possibly more than once. Each part's slice of the
        `(instalment, email)` index is read in order and merged with `number`'s by SQLite
        (about 0.2 s a part at 1,000,000 readers): no look-up per address. None when there
        are more than LACKING_PARTS other parts: a probe a reader (`having`, about 2.5 s at
        1,000,000 whatever the parts) then costs less."""
        others = [n for n in self._parts() if n != number]
        if len(others) > LACKING_PARTS:
            return None
        if not others:
            return iter(())
        either = " UNION ".join([_EMAILS_OF_PART] * len(others))
        rows = self._conn.execute(
            f"{either} EXCEPT {_EMAILS_OF_PART} ORDER BY email", (*others, number)
        )
        return (address for (address,) in rows)

    def having(self, number: int, keys: Sequence[str]) -> set[str]:
        """Those of `keys` (lower-cased addresses) with a row for part `number`, whatever
        its status: answered from the `(instalment, email)` index alone, never the rows
        (a quarter cheaper than `statuses` at 1,000,000 look-ups)."""
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                address
                for (address,) in self._conn.execute(
                    f"SELECT email FROM deliveries WHERE instalment=? AND email IN ({marks})",
                    (number, *chunk),
                )
            )
        return found

    def _parts(self) -> list[int]:
        """Each instalment with deliveries, found by the primary key: no scan of the rows."""
        numbers: list[int] = []
        row = self._conn.execute("SELECT min(instalment) FROM deliveries").fetchone()
        while row[0] is not None:
            numbers.append(row[0])
            row = self._conn.execute(
                "SELECT min(instalment) FROM deliveries WHERE instalment > ?", (row[0],)
            ).fetchone()
        return numbers


# `Ledger.lacking`'s terms: ORDER BY makes SQLite merge the sorted index slices rather than
# build a temporary b-tree. Past LACKING_PARTS other parts (0.2 s each at 1,000,000 readers)
# the merge would cost more than a probe a reader.
_EMAILS_OF_PART = "SELECT email FROM deliveries WHERE instalment=?"
LACKING_PARTS = 12


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _numbers(joined: str | None) -> frozenset[int]:
    return frozenset(map(int, joined.split(","))) if joined else frozenset()


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
