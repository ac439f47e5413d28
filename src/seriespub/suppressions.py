"""Provider-side suppressions (unsubscribes, bounces, complaints) → subscribers.csv, and,
when `[inbox]` is configured, the ones read from the author's inbox (`seriespub.inbox`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from seriespub import subscribers
from seriespub.series import Series

if TYPE_CHECKING:
    from seriespub.providers import Provider


def sync_suppressions(series: Series, provider: Provider, *, inbox: bool = True) -> int:
    """Mark everyone the provider suppresses; returns how many rows changed (and were kept:
    update_statuses re-reads and rewrites the list under its lock). With `inbox`, the
    inbox is read too (`sync_inbox_before_send`)."""
    changes = {s.email.lower(): s.status for s in provider.suppressions()}
    changed = subscribers.update_statuses(series.subscribers_path, changes)
    return changed + (sync_inbox_before_send(series) if inbox else 0)


def sync_inbox_before_send(series: Series) -> int:
    """Read `[inbox]` if configured; an unreachable inbox warns and never stops a send
    (the next run reads it). Returns rows changed."""
    if series.settings.inbox is None:
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
