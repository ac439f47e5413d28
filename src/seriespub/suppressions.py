"""Provider-side suppressions (unsubscribes, bounces, complaints) → subscribers.csv, and,
when `[inbox]` is configured, the ones read from the author's inbox (`seriespub.inbox`).
Reading them (`pull_suppressions`) and writing them are apart, so a send can plan with
them and write them only once the author says yes.

Reading changes nothing at the provider, so a passing failure (429, 5xx, a lost answer) is
retried like a send, honouring the provider's wait, for at most `max_retry_seconds`.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from seriespub import subscribers
from seriespub.config import INBOX_PASSWORD
from seriespub.series import Series

if TYPE_CHECKING:
    from seriespub.models import SubscriberStatus, Suppression
    from seriespub.providers import Provider


def sync_suppressions(series: Series, provider: Provider, *, inbox: bool = True) -> int:
    """Mark everyone the provider suppresses; returns how many rows changed (and were kept:
    update_statuses re-reads and rewrites the list under its lock). With `inbox`, the
    inbox is read too (`sync_inbox_before_send`)."""
    changes = pull_suppressions(series, provider)
    changed = subscribers.update_statuses(series.subscribers_path, changes)
    return changed + (sync_inbox_before_send(series) if inbox else 0)


def pull_suppressions(series: Series, provider: Provider) -> dict[str, SubscriberStatus]:
    """Address (lower-cased) → the status the provider's suppressions give it; nothing is
    written (a send writes them once the author said yes: `ops.send`)."""
    found = read_suppressions(provider, series.settings.delivery.max_retry_seconds)
    return {s.email.lower(): s.status for s in found}


def read_suppressions(provider: Provider, max_seconds: float) -> list[Suppression]:
    """`provider.suppressions()`, retried through passing failures for `max_seconds`."""
    import threading

    from seriespub.retry import RetryPolicy, retry_passing

    deadline = time.monotonic() + max_seconds
    return retry_passing(
        provider.suppressions,
        RetryPolicy(max_seconds=max_seconds),
        threading.Event(),
        deadline,
        lost_answers_too=True,  # a read: asking again changes nothing
    )


def sync_inbox_before_send(series: Series) -> int:
    """Read `[inbox]` if configured; an unreachable inbox warns and never stops a send
    (the next run reads it). Returns rows changed."""
    if series.settings.inbox is None:
        return 0
    if series.secrets.get(INBOX_PASSWORD) is None:  # cron or a CI job without it
        _warn(
            f"{INBOX_PASSWORD} is not set: the inbox was not read (set it in .env or the "
            "job's secrets); sending anyway"
        )
        return 0
    from seriespub.inbox import InboxError, sync_inbox

    try:
        report = sync_inbox(series, warn=_warn)
    except InboxError as exc:
        _warn(f"could not read the inbox: {exc}; sending anyway")
        return 0
    return report.changed if report else 0


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)
