"""Plain data shared across the core: instalments, subscribers, recipients, delivery results."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seriespub.redact import scrub


class DraftStatus(enum.StrEnum):
    DRAFT = "draft"
    READY = "ready"


@dataclass(frozen=True)
class Instalment:
    """One Markdown draft: front matter plus body."""

    number: int
    title: str
    subject: str
    body: str
    path: Path
    status: DraftStatus = DraftStatus.DRAFT
    preheader: str = ""
    release: dt.datetime | None = None  # within 1970..8999 (drafts.py refuses others)
    extra: dict[str, Any] = field(default_factory=dict)
    body_line: int = 1

    @property
    def is_ready(self) -> bool:
        return self.status is DraftStatus.READY


class SubscriberStatus(enum.StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# Subscriber and Recipient are built for every reader of every send: plain slotted classes,
# not frozen ones, whose __init__ costs three times as much on Python 3.11 (0.9 against
# 0.3 us). Neither could be hashed anyway (each holds a dict); treat them as read-only.
@dataclass(slots=True)
class Subscriber:
    email: str
    name: str = ""
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    subscribed_at: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The address as the ledger knows it: case-insensitive."""
        return self.email.lower()


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # recorded before the request; unknown if found after a crash
    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # permanently refused; never retried
    DEFERRED = "deferred"  # failed transiently; `send retry` or the next run resends
    UNKNOWN = "unknown"  # outcome could not be settled; the author decides
    SCHEDULED = "scheduled"  # handed to the provider to release at a later time
    CANCELLED = "cancelled"  # a scheduled delivery withdrawn before release


# A reader whose delivery is one of these has the part (or was refused it for good): no run
# sends it to them again.
SETTLED = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SCHEDULED})


class Outcome(enum.StrEnum):
    SENT = "sent"
    FAILED = "failed"
    TRANSIENT = "transient"
    # The request went out but no answer came back: it may or may not have been delivered.
    # The sending core settles it with the provider, else records it `unknown`.
    UNKNOWN = "unknown"


@dataclass(slots=True)  # see Subscriber
class Recipient:
    """One subscriber as a provider needs them for one instalment."""

    email: str
    name: str
    delivery_id: str  # stable per (series, instalment, address): dedupe/metadata key
    values: dict[str, str]  # merge fields, including unsubscribe_url
    unsubscribe_url: str | None = None

    @property
    def envelope(self) -> str:
        """The address for RCPT TO and APIs: an IDN domain as IDNA A-labels (ASCII)."""
        if self.email.isascii():
            return self.email
        from seriespub.addresses import ascii_address

        return ascii_address(self.email)


@dataclass(slots=True)  # see Subscriber: one per reader of every send
class RecipientResult:
    """What the provider said about one recipient of a batch (treat it as read-only)."""

    email: str
    outcome: Outcome
    message_id: str = ""
    reason: str = ""
    # Set when the refusal says the person should not be mailed again.
    new_status: SubscriberStatus | None = None

    def __post_init__(self) -> None:
        if self.reason:  # provider text (an SMTP reply, an API's message) may echo a secret
            self.reason = scrub(self.reason)


@dataclass(frozen=True)
class Suppression:
    """A provider-side record that someone must not be mailed."""

    email: str
    status: SubscriberStatus
    reason: str = ""
