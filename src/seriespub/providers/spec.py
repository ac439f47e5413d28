"""What seriespub knows about a provider before it loads the adapter: one `ProviderSpec`.

A spec is plain data plus a lazy constructor: reading it imports neither httpx nor botocore,
so config validation, `schedule install`, `init` and the `--at` hint can all ask it. The
adapter's class takes its capabilities from its spec, so the two cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seriespub.providers import ProviderContext
    from seriespub.providers.base import Provider


@dataclass(frozen=True)
class ProviderSpec:
    """One provider: its name, settings table, secrets, capabilities and constructor."""

    name: str
    summary: str  # how it sends, for `init`'s template
    # The dataclass of `[delivery.<name>]`; None when the provider has no table.
    settings: type | None = None
    # Environment variables (or `.env` entries) a run needs / reads when they are set.
    required_secrets: tuple[str, ...] = ()
    optional_secrets: tuple[str, ...] = ()
    # Allowed values of keys in its settings table, by key.
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # How far ahead the provider can hold a message (`send --at`); None = it cannot.
    max_schedule_ahead: dt.timedelta | None = None
    # Whether a held send can be withdrawn (`send cancel`); Mailgun has no call for one.
    can_cancel: bool = False
    # Whether an unknown outcome can be looked up afterwards (`send settle`).
    can_settle: bool = False
    # Whether it reads the provider's unsubscribes, bounces and complaints (`subscribers sync`).
    syncs_suppressions: bool = False
    # Whether, with the right settings, the provider's own unsubscribe link and headers
    # replace ours (Postmark broadcast streams, SendGrid groups, Mailgun tracking).
    manages_unsubscribes: bool = False
    concurrency: int = 4  # requests in flight unless `[delivery] concurrency`
    # Whether the adapter talks HTTPS through httpx: its TLS context can load ahead.
    https: bool = False
    max_batch: int = 100  # recipients per provider request at most

    @property
    def module(self) -> str:
        return f"seriespub.providers.{self.name}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret the provider reads, required first."""
        return self.required_secrets + self.optional_secrets

    def load_ahead(self) -> None:
        """Start loading, in the background, what building the adapter will wait for: the
        TLS context of an HTTPS adapter (`seriespub.providers.tls`)."""
        if self.https:
            from seriespub.providers import tls

            tls.load_ahead()

    def build(self, context: ProviderContext) -> Provider:
        """Import the adapter (only now) and build it from the series' settings and secrets."""
        without_httpx_cli()
        adapter = importlib.import_module(self.module)
        provider: Provider = adapter.create(context)
        return provider


def without_httpx_cli() -> None:
    """Keep httpx from loading its own command-line tool with it.

    `import httpx` imports `httpx._main` (click, rich.syntax, pygments: about half the cost of
    importing httpx, ~70 ms a command) whenever click happens to be installed; seriespub
    never runs it. A stand-in takes its place until someone calls `httpx.main`, which then
    loads the real one. Nothing changes once httpx is imported.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        del sys.modules["httpx._main"]
        real = importlib.import_module("httpx._main")
        return real.main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


def describe_ahead(delta: dt.timedelta) -> str:
    """72 hours, 3 days, 30 days: how long a provider can hold a message, as people say it."""
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} days" if hours % 24 == 0 and hours >= 48 else f"{hours} hours"
