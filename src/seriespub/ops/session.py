"""One command's hold on a series: the lock, the ledger, and a provider built when first needed.

`session(series, purpose, now=...)` takes the series lock (named after `purpose`, so a second
command says who holds it), opens the ledger, and on exit closes the provider (if one was
built), the ledger, and releases the lock, in that order, whatever happened inside. A
`readonly` session takes no lock and opens the ledger read-only: it creates and changes
nothing (a dry run, a report). `now` is the command's one reading of the clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seriespub import publishing
from seriespub.drafts import DraftSet
from seriespub.ledger import Ledger
from seriespub.models import SubscriberStatus
from seriespub.providers import SPECS
from seriespub.series import Series

if TYPE_CHECKING:
    from seriespub.providers import Provider


@dataclass
class Session:
    """What an operation works with; made by `session`, never by hand."""

    series: Series
    ledger: Ledger
    now: dt.datetime
    readonly: bool = False
    _provider: Provider | None = field(default=None, repr=False)
    # The provider's suppressions were pulled (or tried) in this command: a round of several
    # parts pulls them once, not once per part.
    suppressions_pulled: bool = False
    # What they say (address → status), planned with at once but written to the list only
    # once the author said yes (`ops.send`): declining changes nothing.
    suppressed: dict[str, SubscriberStatus] = field(default_factory=dict)
    # The checks of a committed ledger's upstream made in this command (`seriespub.upstream`:
    # fetched, told to push): once per command, not once per part.
    upstream_done: set[object] = field(default_factory=set)

    @property
    def provider(self) -> Provider:
        """The configured provider, built on first use (a report never needs one)."""
        if self._provider is None:
            self._provider = publishing.provider_for(self.series)
        return self._provider

    def load_provider_ahead(self) -> None:
        """Start loading in the background what building the configured provider will wait
        for (an HTTPS adapter's TLS context), so it overlaps the work before the send."""
        if self._provider is None:
            spec = SPECS.get(self.series.settings.delivery.provider)
            if spec is not None:  # an unknown name is reported when the provider is built
                spec.load_ahead()

    @property
    def has_provider(self) -> bool:
        return self._provider is not None

    def drafts(self, strict: bool = True) -> DraftSet:
        return publishing.drafts_of(self.series, strict=strict)

    def close_provider(self) -> None:
        if self._provider is not None:
            provider, self._provider = self._provider, None
            provider.close()


@contextlib.contextmanager
def session(
    series: Series,
    purpose: str,
    *,
    now: dt.datetime,
    readonly: bool = False,
    provider: Provider | None = None,
) -> Iterator[Session]:
    """Hold `series` for one command (see the module docstring); `provider`, when given,
    is used instead of the configured one (a library caller's or a test's), and closed too."""
    if readonly:
        lock: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        from seriespub.lock import series_lock  # here: a read-only report imports no lock

        lock = series_lock(series.state_dir, purpose)
    with lock, publishing.open_ledger(series, readonly=readonly) as ledger:
        held = Session(series, ledger, now, readonly, provider)
        try:
            yield held
        finally:
            held.close_provider()


def utc_now() -> dt.datetime:
    """The default clock of every command: read once, at its start."""
    return dt.datetime.now(dt.UTC)
