"""Provider registry: one `ProviderSpec` per `[delivery] provider` name; adapters load lazily.

Everything that depends on which providers exist reads `SPECS`: config validation (the
choices of `[delivery] provider`, each provider's table), the secrets `schedule install` lists
and scrubbing knows, `init`'s template, the `--at` hint and the tests. Importing this module
imports no adapter, hence neither httpx nor botocore.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seriespub.config import (
    MailgunSettings,
    PostmarkSettings,
    ResendSettings,
    Secrets,
    SendgridSettings,
    SesSettings,
    Settings,
    SmtpSettings,
)
from seriespub.errors import ConfigError
from seriespub.providers.spec import ProviderSpec, describe_ahead

if TYPE_CHECKING:
    import httpx

    from seriespub.providers.base import Batch, Provider, ProviderBase

__all__ = [
    "SPECS",
    "Batch",
    "Provider",
    "ProviderBase",
    "ProviderContext",
    "ProviderSpec",
    "make_provider",
    "provider_spec",
    "scheduling_hint",
]


@dataclass(frozen=True)
class ProviderContext:
    """Everything an adapter may need to build itself."""

    settings: Settings
    secrets: Secrets
    state_dir: Path  # the series' .seriespub/ folder
    # Tests hand HTTP adapters an httpx transport (MockTransport) instead of the network.
    http_transport: httpx.BaseTransport | None = None


_SPECS = (
    ProviderSpec(
        "outbox",
        "one .eml file per reader in .seriespub/outbox/, nothing sent",
        max_batch=500,
        concurrency=2,  # one disk: more writers only queue on it
        can_settle=True,
    ),  # the files say what was written
    ProviderSpec(
        "smtp",
        "your mail server",
        settings=SmtpSettings,
        required_secrets=("SMTP_PASSWORD",),  # needed once `username` is set
        choices={"security": ("starttls", "tls", "none")},
        max_batch=50,
    ),  # bounds the recipients an ambiguous failure can leave in doubt
    ProviderSpec(
        "postmark",
        "Postmark's batch API",
        settings=PostmarkSettings,
        required_secrets=("POSTMARK_SERVER_TOKEN",),
        can_settle=True,
        syncs_suppressions=True,
        manages_unsubscribes=True,
        https=True,
        max_batch=500,
        concurrency=8,
    ),  # large batch bodies: keep the connection pipe full
    ProviderSpec(
        "sendgrid",
        "SendGrid's v3 mail API",
        settings=SendgridSettings,
        required_secrets=("SENDGRID_API_KEY",),
        max_schedule_ahead=dt.timedelta(hours=72),
        can_cancel=True,
        syncs_suppressions=True,
        manages_unsubscribes=True,
        https=True,
        max_batch=1000,
        concurrency=8,
    ),
    ProviderSpec(
        "mailgun",
        "Mailgun's messages API",
        settings=MailgunSettings,
        required_secrets=("MAILGUN_API_KEY",),
        choices={"region": ("us", "eu"), "unsubscribe": ("own", "mailgun")},
        max_schedule_ahead=dt.timedelta(days=3),
        syncs_suppressions=True,
        manages_unsubscribes=True,
        https=True,
        max_batch=1000,
    ),
    ProviderSpec(
        "resend",
        "Resend's batch API",
        settings=ResendSettings,
        required_secrets=("RESEND_API_KEY",),
        max_schedule_ahead=dt.timedelta(days=30),
        can_cancel=True,
        can_settle=True,
        syncs_suppressions=True,
        https=True,
        max_batch=100,
        concurrency=2,
    ),  # Resend allows a few requests per second per team
    ProviderSpec(
        "ses",
        "Amazon SES v2",
        settings=SesSettings,
        required_secrets=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        optional_secrets=("AWS_SESSION_TOKEN",),
        https=True,
        max_batch=50,
    ),
)
SPECS: dict[str, ProviderSpec] = {spec.name: spec for spec in _SPECS}


def __getattr__(name: str) -> object:
    """`Batch`, `Provider` and `ProviderBase` on first use: validating a config file needs
    the specs, not the message machinery `base` imports."""
    if name in ("Batch", "Provider", "ProviderBase"):
        from seriespub.providers import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def provider_spec(name: str) -> ProviderSpec:
    """The spec called `name`; a ConfigError naming the choices otherwise."""
    spec = SPECS.get(name)
    if spec is None:
        raise ConfigError(f"unknown provider {name!r}: choose one of {', '.join(SPECS)}")
    return spec


def make_provider(name: str, context: ProviderContext) -> Provider:
    """Build the adapter called `name` (its module is imported only now)."""
    return provider_spec(name).build(context)


def scheduling_hint() -> str:
    """The providers `send --at` works with: "sendgrid (72 hours), mailgun (3 days), …"."""
    return ", ".join(
        f"{spec.name} ({describe_ahead(spec.max_schedule_ahead)})"
        for spec in SPECS.values()
        if spec.max_schedule_ahead is not None
    )
