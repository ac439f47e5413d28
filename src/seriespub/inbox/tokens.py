"""Verify a reader's token, for an unsubscribe endpoint to call (RFC 8058 one-click).

The token is the one in the reader's `unsubscribe_url` and `mailto:`: an HMAC of their
address under the series key, compared in constant time. A token alone (a URL without
`{email}`) is matched against every reader's (`owner`). A token made with a previous key
(`seriespub.previouskeys`: SERIESPUB_SECRET_PREVIOUS, .seriespub/secret.previous) verifies
too. Verifying never makes a key (a new one matches no token ever sent), and a token refused
while the key is not the one the series sent with, or was made with a replaced key that is
not kept, says so (`seriespub.keyguard`).
"""

from __future__ import annotations

import hmac

from seriespub import keyguard, subscribers
from seriespub.errors import SeriespubError
from seriespub.models import SubscriberStatus
from seriespub.series import Series


class TokenRefused(SeriespubError):
    """The token is not the one this series gave that address."""


def verify(series: Series, address: str, token: str) -> bool:
    if not token.isascii():
        return False
    given = token.strip().lower().encode()
    # Every key compared, in constant time each: which one matched is not for a timer to see.
    matches = [
        hmac.compare_digest(key.token(address.strip()).encode(), given)
        for key in keyguard.verifying_keys(series)
    ]
    return any(matches)


def owner(series: Series, token: str) -> str | None:
    """The address in the list whose token `token` is (under any verifying key), for an
    `unsubscribe_url` that carries the token alone: one streamed pass, one HMAC per row and
    key, no table kept. Each row's address cell is read raw, and only a row whose token
    matches is checked and read as every reading of the list does
    (`subscribers.where_key`): no record built and no address checked per row (at
    1,000,000 readers those were about half the time; the HMACs are the rest)."""
    given = token.strip().lower()
    if not given.isascii():
        return None
    keys = keyguard.verifying_keys(series)

    def theirs(key: str) -> bool:
        return any(hmac.compare_digest(k.token(key), given) for k in keys)

    found = next(subscribers.where_key(series.subscribers_path, theirs), None)
    return found.email if found is not None else None


def refused(series: Series, address: str, then: str = "") -> TokenRefused:
    """The error for a token that does not match `address`; `then`: what follows."""
    changed = keyguard.key_changed(series)
    if changed is not None:
        return TokenRefused(
            f"the token does not match {address}: {changed}{then}", hint=keyguard.hint(series)
        )
    why = keyguard.earlier_key_missing(series)  # says itself what to do
    return TokenRefused(f"the token does not match {address}{f': {why}' if why else ''}{then}")


def unsubscribe(series: Series, address: str, token: str) -> int:
    """Mark `address` unsubscribed if `token` is theirs; rows changed (0: already was)."""
    if not verify(series, address, token):
        raise refused(series, address, ": nothing changed")
    return subscribers.update_statuses(
        series.subscribers_path, {address.strip(): SubscriberStatus.UNSUBSCRIBED}
    )
