"""The state of every instalment, from the drafts and the ledger (for `status`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from seriespub.drafts import DraftSet
from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus


@dataclass(frozen=True)
class InstalmentState:
    number: int
    title: str
    state: str             # draft | ready | sending | scheduled | sent | failed
    sent_at: dt.datetime | None
    delivered: int
    failed: int
    open: int              # pending, deferred or unknown: not finished
    scheduled: int
    release: dt.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("sent_at", "release"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def instalment_states(drafts: DraftSet, ledger: Ledger,
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
        open_ = sum(c.get(s, 0) for s in (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED,
                                          DeliveryStatus.UNKNOWN))
        scheduled = c.get(DeliveryStatus.SCHEDULED, 0)
        delivered, failed = c.get(DeliveryStatus.SENT, 0), c.get(DeliveryStatus.FAILED, 0)
        if record is not None and record.finished_at is not None:
            # Finished with every delivery refused (say, a header SMTP would not take):
            # nothing went out, so it is not "sent".
            refused = failed and not (delivered or scheduled)
            state = "scheduled" if scheduled else "failed" if refused else "sent"
        elif record is not None and record.started_at is not None:
            state = "sending"
        else:
            state = i.status.value
        states.append(InstalmentState(
            i.number, i.title, state, record.started_at if record else None,
            delivered, failed, open_, scheduled,
            releases.get(i.number)))
    return states
