"""Turn classified messages into marks: subscribers.csv statuses, failed deliveries in the
ledger, and the count of temporary bounces (`.seriespub/soft-bounces.json`).

Every mark is idempotent: a status set twice is one change, a delivery already failed stays
as it is, and a temporary bounce counts once per instalment (or per DSN when the instalment
is unknown), so a DSN read twice — or Postfix's "delayed" warnings before its final notice
about the same message — never adds up to more. The counts and the statuses are written
under the list's lock (`seriespub.listlock`), so runs reading the inbox at once lose none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from seriespub import listlock, subscribers
from seriespub.inbox.classify import Bounce, Complaint, Outcome, Unsubscribe
from seriespub.models import DeliveryStatus, SubscriberStatus
from seriespub.series import Series
from seriespub.statefiles import open_private, os_error, private_dir

SOFT_BOUNCE_LIMIT = 3  # instalments that bounced temporarily → the reader is bounced
SOFT_FILE = "soft-bounces.json"
_RANK = {
    SubscriberStatus.UNSUBSCRIBED: 1,
    SubscriberStatus.BOUNCED: 2,
    SubscriberStatus.COMPLAINED: 3,
}


@dataclass
class Marks:
    statuses: dict[str, SubscriberStatus] = field(default_factory=dict)
    failed: list[Bounce] = field(default_factory=list)
    soft: list[tuple[str, str]] = field(default_factory=list)  # (address, key)

    def add(self, outcome: Outcome, key: str) -> None:
        if isinstance(outcome, Unsubscribe):
            self._status(outcome.email, SubscriberStatus.UNSUBSCRIBED)
        elif isinstance(outcome, Complaint):
            self._status(outcome.email, SubscriberStatus.COMPLAINED)
        elif isinstance(outcome, Bounce) and outcome.permanent:
            self._status(outcome.email, SubscriberStatus.BOUNCED)
            self.failed.append(outcome)
        elif isinstance(outcome, Bounce):
            soft_key = f"#{outcome.instalment}" if outcome.instalment else key
            self.soft.append((outcome.email, soft_key))

    def _status(self, address: str, status: SubscriberStatus) -> None:
        current = self.statuses.get(address)
        if current is None or _RANK[status] > _RANK[current]:
            self.statuses[address] = status


@dataclass(frozen=True)
class Applied:
    changed: int  # rows of subscribers.csv changed
    failed_deliveries: int  # ledger rows marked failed
    soft_bounced: list[str]  # readers marked bounced after SOFT_BOUNCE_LIMIT


def apply(series: Series, marks: Marks) -> Applied:
    """Write the marks; safe to repeat, and beside another run reading the inbox."""
    failed = _fail_deliveries(series, marks.failed)
    # Under the list's lock: two runs at once (a sync beside a send) never write the
    # counts' one temp file together, nor count from the same old copy.
    with listlock.locked(series.subscribers_path):
        worn_out = _count_soft(series.state_dir, marks.soft)
        for address in worn_out:
            marks._status(address, SubscriberStatus.BOUNCED)
        changed = subscribers.update_statuses(series.subscribers_path, marks.statuses)
    return Applied(changed, failed, worn_out)


def _count_soft(state_dir: Path, soft: Iterable[tuple[str, str]]) -> list[str]:
    soft = list(soft)
    if not soft:
        return []
    path = state_dir / SOFT_FILE
    counts = _read_counts(path)
    for address, key in soft:
        keys = counts.setdefault(address, [])
        if key not in keys:
            keys.append(key)
    _write_counts(state_dir, path, counts)
    return sorted({a for a, _ in soft if len(counts[a]) >= SOFT_BOUNCE_LIMIT})


def _read_counts(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # a damaged count restarts; the DSNs that made it are gone
    if not isinstance(data, dict):
        return {}
    return {str(k): [str(x) for x in v] for k, v in data.items() if isinstance(v, list)}


def _write_counts(state_dir: Path, path: Path, counts: dict[str, list[str]]) -> None:
    private_dir(state_dir)
    temporary = path.with_name(path.name + ".tmp")
    fd = open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(counts, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise os_error(exc, path, "cannot write") from None


def _fail_deliveries(series: Series, bounces: list[Bounce]) -> int:
    """Mark the bounced delivery failed, with the reason; only one the ledger calls sent."""
    if not bounces or not series.ledger_path.exists():
        return 0
    from seriespub.ledger import Ledger

    marked = 0
    with Ledger.open(series.ledger_path) as ledger:
        numbers = sorted(ledger.instalment_records(), reverse=True)
        for bounce in bounces:
            candidates = [bounce.instalment] if bounce.instalment in numbers else numbers
            for number in candidates:
                if ledger.statuses(number, [bounce.email]).get(bounce.email) == DeliveryStatus.SENT:
                    ledger.set_status(
                        number, [bounce.email], DeliveryStatus.FAILED, f"bounced: {bounce.reason}"
                    )
                    marked += 1
                    break
    return marked
