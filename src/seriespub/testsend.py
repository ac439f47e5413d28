"""`send test`: an instalment to a few given addresses, recorded nowhere."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

from seriespub import publishing, subscribers
from seriespub.addresses import is_valid_address
from seriespub.drafts import DraftSet
from seriespub.errors import InputError
from seriespub.models import Instalment, RecipientResult, Subscriber
from seriespub.providers.base import Batch
from seriespub.retry import RateLimiter, RetryPolicy, send_with_retries
from seriespub.series import Series


def send_test(series: Series, drafts: DraftSet, instalment: Instalment,
              addresses: Sequence[str]) -> list[RecipientResult]:
    """Send a "[TEST]" copy to `addresses` (names from the list where known)."""
    for address in addresses:
        if not is_valid_address(address):
            raise InputError(f"invalid address {address!r}")
    message = publishing.render(series, drafts, instalment)
    message = message.for_test()       # "[TEST] …", with its own delivery and Message-IDs
    known = _known(series, addresses)
    recipients = [message.recipient(known.get(a.lower()) or Subscriber(a)) for a in addresses]
    provider = publishing.provider_for(series)
    try:
        batch = Batch(f"test-{uuid.uuid4().hex[:16]}", message, recipients, test=True)
        policy = RetryPolicy(max_seconds=series.settings.delivery.max_retry_seconds)
        return send_with_retries(provider, batch, policy, RateLimiter(None), threading.Event())
    finally:
        provider.close()


def _known(series: Series, addresses: Sequence[str]) -> dict[str, Subscriber]:
    wanted = {a.lower() for a in addresses}
    if not series.subscribers_path.exists():
        return {}
    return {s.key: s for s in subscribers.iter_subscribers(series.subscribers_path)
            if s.key in wanted}
