"""Provider-side suppressions (unsubscribes, bounces, complaints) → subscribers.csv."""

from __future__ import annotations

from seriespub import subscribers
from seriespub.providers import Provider
from seriespub.series import Series


def sync_suppressions(series: Series, provider: Provider) -> int:
    """Mark everyone the provider suppresses; returns how many rows changed (and were kept:
    update_statuses re-reads and rewrites the list under its lock)."""
    changes = {s.email.lower(): s.status for s in provider.suppressions()}
    return subscribers.update_statuses(series.subscribers_path, changes)
