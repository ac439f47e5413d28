"""What every HTTP mail API adapter shares: one httpx client, and errors mapped to our tree.

Adapters call `request()`; it returns the response for 2xx and raises a typed error
otherwise. Retrying is not done here: the sending core does it, once for all providers.
"""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from seriespub import __version__
from seriespub.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RateLimited,
    TransientSendError,
)
from seriespub.providers import tls
from seriespub.redact import scrub

USER_AGENT = f"seriespub/{__version__}"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


_T = TypeVar("_T")
_R = TypeVar("_R")


def at_once(fetch: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """`[fetch(i) for i in items]` with the requests in flight together (a provider's
    suppression lists: one round trip of waiting instead of one per list); the first
    error is raised."""
    if len(items) < 2:
        return [fetch(i) for i in items]
    with ThreadPoolExecutor(len(items), thread_name_prefix="fetch") as pool:
        return list(pool.map(fetch, items))


def make_client(
    timeout: float, transport: httpx.BaseTransport | None = None, **kwargs: Any
) -> httpx.Client:
    """An httpx client with our User-Agent; tests pass an httpx transport."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    headers.update(kwargs.pop("headers", {}))
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    if transport is None:
        # Bodies are written in pieces: without TCP_NODELAY, Nagle's algorithm holds the
        # small ones back until the peer's delayed ACK (tens of milliseconds per request).
        transport = httpx.HTTPTransport(
            verify=tls.context(),  # httpx's default, loaded ahead when the send asked
            limits=limits,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
    return httpx.Client(
        timeout=timeout, headers=headers, limits=limits, transport=transport, **kwargs
    )


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    provider: str,
    error_message: Any = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; map transport failures and non-2xx answers to typed errors.

    `error_message(response) -> str` extracts the provider's reason from an error body.
    """
    try:
        response = client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # Nothing reached the provider: safe to retry.
        raise TransientSendError(
            f"cannot connect to {_host(client, url)}: {type(exc).__name__}", provider=provider
        ) from None
    except httpx.TransportError as exc:
        # The request may have been received: the outcome is unknown.
        raise AmbiguousSendError(
            f"no answer from {_host(client, url)} ({type(exc).__name__}); the "
            "request may have been accepted",
            provider=provider,
        ) from None
    if response.is_success:
        return response
    reason = _reason(response, error_message)
    status = response.status_code
    if status == 429:
        raise RateLimited(reason, provider=provider, retry_after=retry_after(response.headers))
    if status in RETRYABLE_STATUS:
        raise TransientSendError(reason, provider=provider, status=status)
    raise PermanentSendError(
        reason, provider=provider, status=status, hint=_auth_hint(provider, status)
    )


def _auth_hint(provider: str, status: int) -> str | None:
    """For a refused key (401, 403): the variables to check. Adapters that know their
    provider's usual mix-ups (Postmark's Account token) replace it with their own."""
    from seriespub.providers import SPECS

    spec = SPECS.get(provider)
    if status not in (401, 403) or spec is None or not spec.required_secrets:
        return None
    return f"check {' and '.join(spec.required_secrets)}: the key, and what it is allowed to do"


def _reason(response: httpx.Response, error_message: Any) -> str:
    try:
        if error_message is not None:
            text = error_message(response)
            if text:
                return scrub(str(text))[:500]  # scrubbed before the cut splits a secret
        body = response.json()
        if isinstance(body, dict):
            for key in ("message", "Message", "error"):
                if isinstance(body.get(key), str):
                    return scrub(str(body[key]))[:500]
    except ValueError:
        pass
    return response.reason_phrase or f"HTTP {response.status_code}"


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from Retry-After, ratelimit-reset (seconds) or X-RateLimit-Reset (epoch)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value)
        parsed = email.utils.parsedate_to_datetime(value) if "," in value else None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - now)
    value = headers.get("ratelimit-reset")
    if value and _is_number(value):
        return max(0.0, float(value))
    value = headers.get("x-ratelimit-reset")
    if value and _is_number(value):
        reset = float(value)
        # An epoch (SendGrid) or, from some gateways, seconds from now.
        return max(0.0, reset - now) if reset > 1_000_000_000 else reset
    return None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _host(client: httpx.Client, url: str) -> str:
    """The host a request went to, also for URLs relative to the client's base_url."""
    full = httpx.URL(url)
    if not full.is_absolute_url:
        full = client.base_url.join(url)
    return f"{full.host}:{full.port}" if full.port else full.host or url
