"""`subscribers …` as library calls: add, remove, list, import, sync, verify a token.

Every change to subscribers.csv goes through `seriespub.subscribers` (locked, re-read under
the lock, never half-written); listing streams the file, so any size of list costs the same
memory. Nothing here knows about the terminal: the CLI prints what these return.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seriespub import subscribers
from seriespub.errors import InputError
from seriespub.models import Subscriber as Subscriber  # re-exported for the CLI's types
from seriespub.models import SubscriberStatus as SubscriberStatus  # re-exported, as Subscriber
from seriespub.series import Series as Series  # re-exported for the CLI's types

if TYPE_CHECKING:  # the importer and the inbox load only for the commands using them
    from seriespub.importer import ImportReport
    from seriespub.inbox import InboxReport
    from seriespub.ops.session import Session
    from seriespub.tracking import DueNow

STATUSES = tuple(s.value for s in SubscriberStatus)


def add(series: Series, address: str, name: str = "") -> Subscriber:
    """Add one active subscriber (an existing address is an error)."""
    return subscribers.add(series.subscribers_path, address, name)


def remove(series: Series, address: str, *, forget: bool = False) -> None:
    """Mark someone unsubscribed (so no import brings them back), or forget the row."""
    subscribers.remove(series.subscribers_path, address, forget=forget)


@dataclass
class Listing:
    """The rows of the list, streamed; `problems.count` is final once `rows` is exhausted."""

    rows: Iterator[Subscriber]
    problems: subscribers.ProblemTally


def listing(series: Series, status: str | None = None) -> Listing:
    """Subscribers in file order, optionally of one status (unknown status: InputError)."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    problems = subscribers.ProblemTally()
    rows = (
        r
        for r in subscribers.iter_subscribers(series.subscribers_path, problems)
        if status is None or r.status.value == status
    )
    return Listing(rows, problems)


_FRONT: Any = object()  # not a late joiner


@dataclass(frozen=True)
class NextParts:
    """Which part each active reader gets at the next slot (`seriespub.tracks`), in memory
    that follows the late joiners only: the front's part is one number."""

    at: dt.datetime | None  # the next slot; None: no calendar, the next `send next`
    new: int | None = None  # the front's next part
    late: Mapping[str, int | None] = field(default_factory=dict)  # late joiner → part
    front_has: frozenset[str] = frozenset()  # front readers the ledger has `new` for
    front_at: dt.datetime | None = None  # when `new` goes out, if later than `at`
    # What the next `send due` sends now, before `at` (its own `at`: now), or None.
    now: NextParts | None = None
    waits_for: int | None = None  # the draft the next send waits for
    # With catch_up = "all", the parts the same run sends the front after `new`: a front
    # reader who has `new` already (a run stopped part-way) gets the first of them.
    also: tuple[int, ...] = ()

    def part_of(self, subscriber: Subscriber) -> int | None:
        due = self.now.slot_part(subscriber) if self.now is not None else None
        return due if due is not None else self.slot_part(subscriber)

    def slot_part(self, subscriber: Subscriber) -> int | None:
        """The reader's part at `at` alone (`part_of` puts a part due now first)."""
        key = subscriber.key
        late: int | None = self.late.get(key, _FRONT)
        if late is not _FRONT:
            return late
        if subscriber.status is not SubscriberStatus.ACTIVE:
            return None
        if key in self.front_has:
            return self.also[0] if self.also else None
        return self.new

    def at_of(self, subscriber: Subscriber) -> dt.datetime | None:
        """When `subscriber` gets `part_of(subscriber)`: the next slot, or for the front,
        the later release of its next part (after a part went out late); now, for a
        part due now."""
        if self.now is not None and self.now.slot_part(subscriber) is not None:
            return self.now.at
        if self.front_at is not None and subscriber.key not in self.late:
            return self.front_at
        return self.at

    def when(self, subscriber: Subscriber) -> str:
        """`at_of` in the series' zone, or "next send" without a calendar."""
        from seriespub import schedule

        if self.now is not None and self.now.slot_part(subscriber) is not None:
            return "due now"
        at = self.at_of(subscriber)
        when = schedule.format_local(at) if at is not None else "next send"
        waits = self.waits_for is not None and at == self.at
        return f"{when}, once part {self.waits_for} is ready" if waits else when


def next_parts(series: Series, now: dt.datetime | None = None) -> NextParts:
    """Each active reader's part at the next slot: the front's new part, or a late joiner's
    next missing one (read-only; one streamed pass, holding the late joiners only)."""
    from seriespub import promises, tracking
    from seriespub.ops.session import session, utc_now

    with session(series, "subscribers list", now=now or utc_now(), readonly=True) as held:
        drafts = held.drafts(strict=False)
        coming = promises.upcoming(held, drafts)
        new, plan = coming.front_part, coming.plan
        front_has = tracking.settled_keys(held, new)
        due_now = _due_parts(held, coming.due)
    if not plan.front:  # nobody on the front (or an unreadable list): no front part
        new = None
    return NextParts(
        coming.inputs.slot,
        new,
        plan.late,
        front_has,
        coming.front_at,
        due_now,
        coming.waits_for,
        coming.also if new is not None else (),
    )


def _due_parts(held: Session, due: DueNow | None) -> NextParts | None:
    """Each reader's part from `send due` now, or None when nothing is due."""
    from seriespub import tracking

    if due is None:
        return None
    plan = due.plan
    new = plan.new if plan.front else None
    also = due.also if new is not None else ()
    return NextParts(due.at, new, plan.late, tracking.settled_keys(held, new), also=also)


def import_file(
    series: Series, source: Path, *, joined_today: bool = False, today: dt.date | None = None
) -> ImportReport:
    """Merge another CSV: dedupe case-insensitively, never resubscribe anyone who left.
    Added readers keep the source's date, or get `today` (always, with `joined_today`);
    the report counts those whose date makes them the front though part 1 went out."""
    from seriespub.importer import Dating, import_csv

    early = None if joined_today else _before_part_one(series)
    dating = Dating(today or dt.date.today(), joined_today, early)
    return import_csv(series.subscribers_path, source, dating)


def _before_part_one(series: Series) -> Callable[[str], bool] | None:
    """Whether a `subscribed_at` makes its reader the front (`tracks.is_front`) once part 1
    went out: its date (or an unreadable one) is before that. None while part 1 has not
    gone out, or when late joiners start where the series stands (everyone is the front)."""
    from seriespub import publishing, schedule
    from seriespub.tracks import FROM_START, parse_joined

    if series.settings.series.late_joiners != FROM_START:
        return None
    with publishing.open_ledger(series, readonly=True) as ledger:
        record = ledger.instalment_records().get(1)
    released = record.started_at if record is not None else None
    if released is None:
        return None
    zone = schedule.zone(series.settings.schedule.timezone)

    def early(text: str) -> bool:
        joined = parse_joined(text, zone)
        return joined is None or joined < released

    return early


@dataclass(frozen=True)
class SyncOutcome:
    provider: str
    changed: int  # rows changed from the provider's suppressions
    inbox: InboxReport | None  # None when [inbox] is not configured
    done_folder: str = ""  # where the inbox's processed messages went
    asked_provider: bool = True  # False: the provider reports no suppressions (SES, SMTP)


def sync(series: Series, warn: Callable[[str], None] | None = None) -> SyncOutcome:
    """The provider's unsubscribes, bounces and complaints, then the inbox's, into the list."""
    from seriespub import publishing
    from seriespub.inbox import sync_inbox
    from seriespub.providers import SPECS
    from seriespub.suppressions import sync_suppressions

    provider = publishing.provider_for(series)
    try:
        changed = sync_suppressions(series, provider, inbox=False)
    finally:
        provider.close()
    inbox = series.settings.inbox
    return SyncOutcome(
        provider.name,
        changed,
        sync_inbox(series, warn=warn),
        inbox.done_folder if inbox is not None else "",
        SPECS[provider.name].syncs_suppressions,
    )


def verify_token(series: Series, address: str, token: str) -> None:
    """Refuse (`TokenRefused`, saying why when the key is not the one the series sent
    with) unless `token` is this series' unsubscribe token for `address` (constant time)."""
    from seriespub.inbox import tokens as inbox_tokens

    if not inbox_tokens.verify(series, address, token):
        raise inbox_tokens.refused(series, address)


def token_owner(series: Series, token: str) -> str:
    """The reader whose token `token` is; `TokenRefused` when it is nobody's."""
    from seriespub.inbox import tokens as inbox_tokens

    found = inbox_tokens.owner(series, token)
    if found is None:
        raise inbox_tokens.TokenRefused(
            "no reader of this series has that token: nothing changed",
            hint="a token from another series, or a reader removed from the list since",
        )
    return found


def unsubscribe_with_token(series: Series, address: str, token: str) -> int:
    """Mark `address` unsubscribed if `token` is theirs; rows changed (0: already was)."""
    from seriespub.inbox import tokens as inbox_tokens

    return inbox_tokens.unsubscribe(series, address, token)
