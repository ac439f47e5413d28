"""Verify a reader's token, for an unsubscribe endpoint to call (RFC 8058 one-click).

The token is the one in the reader's `unsubscribe_url` and `mailto:`: an HMAC of their
address under the series key, compared in constant time.
"""

from __future__ import annotations

import hmac

from seriespub import subscribers
from seriespub.errors import SeriespubError
from seriespub.message import UnsubscribeKey
from seriespub.models import SubscriberStatus
from seriespub.series import Series


class TokenRefused(SeriespubError):
    """The token is not the one this series gave that address."""


def verify(series: Series, address: str, token: str) -> bool:
    if not token.isascii():
        return False
    expected = UnsubscribeKey(series.unsubscribe_secret()).token(address.strip())
    return hmac.compare_digest(expected, token.strip().lower())


def unsubscribe(series: Series, address: str, token: str) -> int:
    """Mark `address` unsubscribed if `token` is theirs; rows changed (0: already was)."""
    if not verify(series, address, token):
        raise TokenRefused(f"the token does not match {address}: nothing changed")
    return subscribers.update_statuses(
        series.subscribers_path, {address.strip(): SubscriberStatus.UNSUBSCRIBED}
    )
