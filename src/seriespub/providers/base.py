"""The one interface every transport implements: outbox, SMTP and each HTTP mail API.

A provider turns a `Batch` (one instalment, up to `max_batch` recipients, each getting
their own message) into one `RecipientResult` per recipient, or raises one of the typed
errors in `seriespub.errors`. Retries, backoff, rate limiting, concurrency and the ledger
live once, in `seriespub.sending`; adapters only speak their provider's protocol.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from seriespub.config import Secret
from seriespub.message import PreparedMessage
from seriespub.models import Recipient, RecipientResult, Suppression
from seriespub.providers.spec import ProviderSpec


@dataclass(frozen=True)
class Batch:
    """Recipients of one instalment sent in one provider request.

    `key` is deterministic (series, instalment, first recipient, size) and is recorded in
    the ledger before the request: it is the idempotency key where a provider has one.
    """

    key: str
    message: PreparedMessage
    recipients: Sequence[Recipient]
    send_at: dt.datetime | None = None  # provider-side scheduling (aware, UTC)
    test: bool = False  # `send test`: the core has marked the subject
    retry_of: str = ""  # a retry of some of a batch's readers: that batch's key
    # Settling a pending batch: its readers (lower-cased) the ledger records in no other
    # batch of the part. Whatever they got of it came in this batch, so a provider that
    # finds nothing of the batch need not look for them elsewhere (`settle`).
    never_elsewhere: frozenset[str] = frozenset()

    @property
    def ledger_key(self) -> str:
        """The key the ledger recorded this batch under (a retry's request has its own)."""
        return self.retry_of or self.key

    def retry(self, attempt: int, recipients: Sequence[Recipient]) -> Batch:
        """Some of this batch's readers again, in a request of their own. It needs its own
        key: idempotency keys are bound to the payload."""
        key = self.ledger_key
        return Batch(f"{key}.r{attempt}", self.message, recipients, self.send_at, self.test, key)


@runtime_checkable
class Provider(Protocol):
    """What the sending core needs from a transport."""

    name: str
    max_batch: int
    # Requests in flight when `[delivery] concurrency` is not set: what suits the transport.
    concurrency: int
    # True where the provider can tell afterwards whether an ambiguous batch went out
    # (Postmark metadata search, Resend idempotency keys, the outbox's files).
    can_settle: bool
    # How long after a request `settle` can still tell (Resend forgets keys after 24 h).
    settle_within: dt.timedelta | None
    # How long after a request `settle` can first tell (a search index that lags).
    settle_after: dt.timedelta
    # Latest time ahead the provider can hold a message; None = no provider-side scheduling.
    max_schedule_ahead: dt.timedelta | None
    # Where requests go, as far as `settle` depends on it (Postmark: the API, the message
    # stream and the server token's `account_key`): a batch sent along another route cannot
    # be settled along this one.
    route: str

    def open(self) -> None:
        """Reach the provider before the core records anything (SMTP: connect, greet, log
        in); raises a SendError when it cannot, so nothing is left pending."""
        ...

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Send one message per recipient; one result per recipient, in order."""
        ...

    def settle(self, batch: Batch) -> list[RecipientResult] | None:
        """For a batch whose outcome is unknown: results if knowable, else None (or a
        SendError saying why it cannot tell, which the core records with the batch)."""
        ...

    def suppressions(self) -> list[Suppression]:
        """Addresses the provider will not mail (unsubscribed, bounced, complained)."""
        ...

    def cancel_scheduled(self, batch_key: str, message_ids: Sequence[str]) -> None:
        """Withdraw one scheduled batch (its ledger key and the provider's message ids)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# Between a route's place and its credential's `account_key` (`with_account`).
_ACCOUNT = " key #"


def account_key(credential: Secret) -> str:
    """A short digest naming a credential (and so the account it opens) in the ledger and in
    messages: 8 hex digits of a salted SHA-256, never the credential itself."""
    digest = hashlib.sha256(b"seriespub account\0" + credential.reveal().encode())
    return digest.hexdigest()[:8]


def with_account(place: str, credential: Secret) -> str:
    """The route of a provider that settles by asking the account that sent: `place` (the
    API, the stream) and which credential, by `account_key`."""
    return f"{place}{_ACCOUNT}{account_key(credential)}"


def split_route(route: str) -> tuple[str, str]:
    """(place, account key) of a route; the key is "" where none was recorded (a provider
    that does not ask, or a ledger row of a seriespub from before keys were kept)."""
    place, found, key = route.rpartition(_ACCOUNT)
    return (place, key) if found else (route, "")


class ProviderBase:
    """Defaults for the optional parts of the interface.

    An adapter names its spec, `class PostmarkProvider(ProviderBase, spec=SPEC)`, and takes
    its name and capabilities from it.
    """

    name = "provider"
    max_batch = 100
    concurrency = 4
    can_settle = False
    settle_within: dt.timedelta | None = None
    settle_after = dt.timedelta(0)
    max_schedule_ahead: dt.timedelta | None = None
    route = ""

    def __init_subclass__(cls, spec: ProviderSpec | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if spec is not None:
            cls.name = spec.name
            cls.max_batch = spec.max_batch
            cls.concurrency = spec.concurrency
            cls.can_settle = spec.can_settle
            cls.max_schedule_ahead = spec.max_schedule_ahead

    def open(self) -> None:
        return None

    def settle(self, batch: Batch) -> list[RecipientResult] | None:
        return None

    def suppressions(self) -> list[Suppression]:
        return []

    def cancel_scheduled(self, batch_key: str, message_ids: Sequence[str]) -> None:
        from seriespub.errors import PermanentSendError

        raise PermanentSendError("this provider cannot cancel scheduled sends", provider=self.name)

    def close(self) -> None:
        return None
