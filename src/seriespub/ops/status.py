"""`seriespub status` and `seriespub log` as library calls: read-only reports.

Every function here reads the ledger, the drafts and the run log through a read-only session
(`ops.session`, `readonly=True`): no lock, nothing created or changed, so a report works on a
read-only copy of a series and beside a running send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from seriespub import promises, publishing, runlog, subscribers
from seriespub import tracking as tracks_ops
from seriespub.drafts import DraftSet, require_part_number
from seriespub.errors import InputError, SeriespubError
from seriespub.ledger import DeliveryRow, Ledger
from seriespub.models import SETTLED, DeliveryStatus
from seriespub.ops.session import Session
from seriespub.schedule import PlannedRelease
from seriespub.scheduling import releases_by_number
from seriespub.series import Series
from seriespub.subscribers import ProblemTally

__all__ = [
    "DeliveryListing",
    "DeliveryRow",
    "InstalmentState",
    "ReadersState",
    "StatusOutcome",
    "deliveries",
    "delivery_json",
    "delivery_listing",
    "run_log",
    "status",
]


@dataclass(frozen=True)
class InstalmentState:
    number: int
    title: str
    state: str  # draft | ready | sending | scheduled | sent | failed
    sent_at: dt.datetime | None
    delivered: int
    failed: int
    # Readers the part still has to reach: for a part going out (started, not finished),
    # the active readers its run owes it and who have no settled delivery of it (none yet,
    # pending, deferred, cancelled or unknown; `--limit` left them; unreadable rows count);
    # 0 for a part not started or finished (late joiners catching up: `readers`).
    open: int
    scheduled: int
    release: dt.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("sent_at", "release"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def instalment_states(
    drafts: DraftSet,
    ledger: Ledger,
    releases: Mapping[int, dt.datetime] | None = None,
) -> list[InstalmentState]:
    """Every instalment's state from the ledger, with its calendar slot where one is set."""
    releases = releases or {}
    records = ledger.instalment_records()
    counts = ledger.all_counts()
    states = []
    for i in drafts.instalments:
        c = counts.get(i.number, {})
        record = records.get(i.number)
        open_ = sum(
            c.get(s, 0)
            for s in (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.UNKNOWN)
        )
        scheduled = c.get(DeliveryStatus.SCHEDULED, 0)
        delivered, failed = c.get(DeliveryStatus.SENT, 0), c.get(DeliveryStatus.FAILED, 0)
        if record is not None and record.finished_at is not None:
            # Finished with every delivery refused (say, a header SMTP would not take):
            # nothing went out, so it is not "sent".
            # Held for the front (`send --at`) only while nobody has it: a released part
            # with late joiners' copies held stays "sent".
            refused = failed and not (delivered or scheduled)
            held = scheduled and not delivered
            state = "scheduled" if held else "failed" if refused else "sent"
        elif record is not None and record.started_at is not None:
            state = "sending"
        else:
            state = i.status.value
        states.append(
            InstalmentState(
                i.number,
                i.title,
                state,
                record.started_at if record else None,
                delivered,
                failed,
                open_,
                scheduled,
                releases.get(i.number),
            )
        )
    return states


@dataclass(frozen=True)
class ReadersState:
    """Where readers stand (`seriespub.tracks`), and who gets which part at the next slot."""

    mode: str
    front: int
    catching_up: int
    caught_up: int
    next_slot: dt.datetime | None  # None: no calendar (the next `send next`)
    parts: dict[int, int]  # part → readers who get it then
    # The front's next part when the calendar releases it after the next slot (a part went
    # out late): (part, readers on the front, release).
    front_later: tuple[int, int, dt.datetime] | None = None
    # What the next `send due` sends now, before the next slot (a part whose slot has
    # passed): part → readers; empty when nothing is due.
    due_now: dict[int, int] = field(default_factory=dict)
    # The draft the next send waits for (it refuses the round until it is ready).
    waits_for: int | None = None

    def as_json(self) -> dict[str, Any]:
        later = self.front_later
        return {
            "late_joiners": self.mode,
            "front": self.front,
            "catching_up": self.catching_up,
            "caught_up": self.caught_up,
            "waits_for": self.waits_for,
            "due_now": (
                {"parts": {str(n): c for n, c in self.due_now.items()}} if self.due_now else None
            ),
            "next_slot": {
                "at": self.next_slot.isoformat() if self.next_slot else None,
                "parts": {str(n): c for n, c in self.parts.items()},
            },
            "front_next": (
                {"part": later[0], "readers": later[1], "at": later[2].isoformat()}
                if later
                else None
            ),
        }


@dataclass(frozen=True)
class StatusOutcome:
    title: str
    provider: str
    states: list[InstalmentState]
    readers: ReadersState | None = None
    now: dt.datetime | None = None
    timezone: str = "UTC"  # the series' zone: times are shown in it, as `schedule` does

    @property
    def held(self) -> list[InstalmentState]:
        """Parts the provider still holds for a release time to come (`send --at`)."""
        now = self.now
        return [
            st
            for st in self.states
            if st.state == "scheduled"
            and st.sent_at is not None
            and (now is None or st.sent_at > now)
        ]

    @property
    def upcoming(self) -> InstalmentState | None:
        """The first instalment that has not gone out."""
        return next(
            (st for st in self.states if st.state not in ("sent", "scheduled", "failed")), None
        )

    def as_json(self) -> dict[str, Any]:
        upcoming = self.upcoming
        return {
            "series": self.title,
            "provider": self.provider,
            "instalments": [st.as_json() for st in self.states],
            "next": upcoming.number if upcoming else None,
            "readers": self.readers.as_json() if self.readers else None,
        }


def status(session: Session) -> StatusOutcome:
    """Each instalment's state and deliveries, with its calendar slot where one is set."""
    s, drafts = session.series, session.drafts(strict=False)
    publishing.warn_sent_without_draft(s, drafts, session.ledger)
    releases = releases_by_number(s, drafts, session.ledger, session.now)
    states = instalment_states(drafts, session.ledger, {n: r.release for n, r in releases.items()})
    states = [_with_owed(session, drafts, st) for st in states]
    return StatusOutcome(
        s.settings.series.title,
        s.settings.delivery.provider,
        states,
        readers_state(session, drafts, releases),
        session.now,
        s.settings.schedule.timezone,
    )


def _with_owed(session: Session, drafts: DraftSet, st: InstalmentState) -> InstalmentState:
    """`st` with its `open` count (the status table's Waiting): readers still owed it,
    for a part going out."""
    if st.state != "sending":
        return replace(st, open=0)
    try:
        return replace(st, open=owed(session, drafts, st.number))
    except SeriespubError:  # a list that cannot be read: what the ledger holds open
        return st


def owed(session: Session, drafts: DraftSet, number: int) -> int:
    """Active readers the run of part `number` still owes it (those a `send next` of it
    would send to, without `--limit`), and unreadable rows of the list (readers too)."""
    slot, _ = tracks_ops.slot_plan(session, drafts, number, count_front=False)
    problems = ProblemTally()
    readers = subscribers.active(session.series.subscribers_path, problems)
    if slot.any_excluded:  # late joiners whose own part this slot is another one
        readers = (s for s in readers if not slot.excludes(s.key))
    seen: set[str] = set()
    count = 0
    for chunk in subscribers.chunks(readers, 500):
        statuses = session.ledger.statuses(number, [s.email for s in chunk])
        for s in chunk:
            if s.key not in seen and statuses.get(s.key) not in SETTLED:
                count += 1
            seen.add(s.key)
    return count + problems.count


def readers_state(
    session: Session, drafts: DraftSet, releases: Mapping[int, PlannedRelease] | None = None
) -> ReadersState:
    """How many readers are on the front and catching up; who gets which part now (a part
    due: the next `send due` sends it) and at the next slot, and when the front's next part
    goes out if that is later."""
    coming = promises.upcoming(session, drafts, releases)
    plan = coming.plan
    later = None
    if coming.front_part is not None and coming.front_at is not None and plan.front:
        later = (coming.front_part, plan.front, coming.front_at)
    parts = plan.counts()
    readers = plan.in_step_count() if coming.also else 0  # the front, and who caught up with it
    for number in coming.also:  # catch_up = "all": every overdue part goes to the front
        parts[number] = parts.get(number, 0) + readers
    return ReadersState(
        tracks_ops.mode(session),
        plan.front,
        plan.catching_up,
        plan.caught_up,
        coming.inputs.slot,
        {n: c for n, c in parts.items() if c},
        later,
        coming.due.counts() if coming.due else {},
        coming.waits_for,
    )


@dataclass(frozen=True)
class DeliveryListing:
    """The recipients of one part, streamed: `count` first, then `rows` in address order,
    read while the session is open (inside `Ledger.snapshot`, so the count is of these rows).
    """

    number: int
    count: int
    rows: Iterator[DeliveryRow]
    total: int = 0  # every delivery of the part, whatever `only` picks
    only: tuple[str, ...] = ()  # what was asked for: "failed" (and deferred), "unknown"


def delivery_listing(
    session: Session, number: int, *, failed: bool = False, unknown: bool = False
) -> DeliveryListing:
    """Every recipient of part `number` (only failed and/or unknown ones when asked), one
    row at a time: a million deliveries cost the memory of a few. An InputError when the
    part has neither a draft nor a record."""
    wanted = _wanted(failed, unknown)
    require_part_number(number)  # before the ledger: SQLite takes no number past 2**63
    counts = session.ledger.counts(number)  # from the status index, not the rows
    count = sum(n for st, n in counts.items() if wanted is None or st in wanted)
    if not counts:
        _ensure_exists(session, number)
    only = tuple(name for name, asked in (("failed", failed), ("unknown", unknown)) if asked)
    rows = session.ledger.deliveries(number, wanted)
    return DeliveryListing(number, count, rows, sum(counts.values()), only)


JSON_FIELDS = ("email", "status", "provider", "message_id", "reason", "attempts", "updated_at")


def delivery_json(row: DeliveryRow) -> dict[str, Any]:
    """One delivery as `log N --json` shows it, every string scrubbed of registered secrets
    (as the CLI's other JSON is)."""
    from seriespub.redact import scrub

    data: dict[str, Any] = {k: getattr(row, k) for k in JSON_FIELDS}
    data["status"] = row.status.value
    # Each string value scrubbed once; the keys are constants (no walk of the whole row).
    return {k: scrub(v) if isinstance(v, str) else v for k, v in data.items()}


def deliveries(
    session: Session, number: int, *, failed: bool = False, unknown: bool = False
) -> list[DeliveryRow]:
    """`delivery_listing`'s rows as a list (for a few; the CLI streams)."""
    return list(delivery_listing(session, number, failed=failed, unknown=unknown).rows)


def _wanted(failed: bool, unknown: bool) -> list[DeliveryStatus] | None:
    if not (failed or unknown):
        return None
    return ([DeliveryStatus.FAILED, DeliveryStatus.DEFERRED] if failed else []) + (
        [DeliveryStatus.UNKNOWN] if unknown else []
    )


def _ensure_exists(session: Session, number: int) -> None:
    ledger, s = session.ledger, session.series
    if (
        session.drafts(strict=False).by_number(number) is None
        and number not in ledger.instalment_records()
        and not ledger.counts(number)
    ):
        raise InputError(
            f"no instalment number {number}: no draft in {s.drafts_dir} and no deliveries recorded",
            hint="seriespub status lists them",
        )


def run_log(series: Series, limit: int = 200) -> list[dict[str, Any]]:
    """The last `limit` events of unattended runs (`send due`), oldest first."""
    return runlog.read(series.state_dir, limit=limit)
