"""Retries, backoff and rate limiting: written once, for every provider.

Typed errors drive it: `RateLimited` waits `retry_after` (or backs off), other
`TransientSendError`s back off exponentially with jitter, everything else is final.
All waiting happens on a `threading.Event`, so Ctrl-C stops it at once. A wait is never
silent: its reason goes to `seriespub.notices` as it begins (the CLI prints each reason once
per command), so an author whose provider cannot be reached hears of it before the minutes
`max_retry_seconds` allows, not after them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from seriespub.errors import AmbiguousSendError, RateLimited, SendError, TransientSendError
from seriespub.models import Outcome, RecipientResult
from seriespub.providers.base import Batch, Provider

_T = TypeVar("_T")


class Stopped(Exception):
    """The run was asked to stop while waiting to retry."""


@dataclass
class RetryPolicy:
    max_seconds: float = 300.0  # total time one batch may spend retrying
    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter on the upper half: base·2^n·[0.5, 1)."""
        return float(min(self.cap, self.base * 2**attempt) * (0.5 + self.rng.random() / 2))


class RateLimiter:
    """Spaces requests so that, across threads, at most `rate` messages go out a second."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, messages: int, stop: threading.Event) -> None:
        if not self.rate:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + messages / self.rate
        if start > now and stop.wait(start - now):
            raise Stopped


def send_with_retries(
    provider: Provider,
    batch: Batch,
    policy: RetryPolicy,
    limiter: RateLimiter,
    stop: threading.Event,
) -> list[RecipientResult]:
    """Send a batch, retrying transient failures of the whole batch and of single recipients.

    Results of earlier attempts are never lost: if a retry of some recipients fails, those
    already accepted stay accepted and only the retried ones are reported as not sent.
    """
    deadline = time.monotonic() + policy.max_seconds
    final: dict[str, RecipientResult] = {}
    current, attempt = batch, 0
    while True:
        try:
            results = _attempt(provider, current, policy, limiter, stop, deadline, attempt)
        except (SendError, Stopped) as exc:
            if not final:
                raise
            return _merge_after_failure(batch, current, final, exc)
        final.update((r.email.lower(), r) for r in results)
        retry = [
            r for r in current.recipients if final[r.email.lower()].outcome is Outcome.TRANSIENT
        ]
        wait = policy.backoff(attempt)
        if not retry or time.monotonic() + wait > deadline or stop.wait(wait):
            return [final[r.email.lower()] for r in batch.recipients]
        attempt += 1
        current = batch.retry(attempt, retry)


def _attempt(
    provider: Provider,
    batch: Batch,
    policy: RetryPolicy,
    limiter: RateLimiter,
    stop: threading.Event,
    deadline: float,
    attempt: int,
) -> list[RecipientResult]:
    """One batch until the provider answers for it, retrying failures of the whole request."""

    def send() -> list[RecipientResult]:
        limiter.wait(len(batch.recipients), stop)
        return provider.send_batch(batch)

    return retry_passing(send, policy, stop, deadline, attempt)


def retry_passing(
    call: Callable[[], _T],
    policy: RetryPolicy,
    stop: threading.Event,
    deadline: float,
    attempt: int = 0,
    *,
    lost_answers_too: bool = False,
) -> _T:
    """`call()`, retried through passing failures until `deadline`: `RateLimited` waits its
    `retry_after`, other `TransientSendError`s back off. With `lost_answers_too`, also an
    `AmbiguousSendError`: only for calls that change nothing (a read), never a send."""
    while True:
        try:
            return call()
        except (TransientSendError, AmbiguousSendError) as exc:
            if isinstance(exc, AmbiguousSendError) and not lost_answers_too:
                raise
            wait = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else None
            _pause(
                wait if wait is not None else policy.backoff(attempt), deadline, stop, exc, policy
            )
            attempt += 1


def _merge_after_failure(
    batch: Batch, current: Batch, final: dict[str, RecipientResult], exc: BaseException
) -> list[RecipientResult]:
    """Earlier results stand; the recipients of the failed retry are transient or unknown."""
    retried = {r.email.lower() for r in current.recipients}
    reason = exc.reason if isinstance(exc, SendError) else "interrupted"
    # A retry that may have gone out is in doubt; one that clearly failed is not sent.
    outcome = Outcome.UNKNOWN if isinstance(exc, AmbiguousSendError) else Outcome.TRANSIENT
    rest = {e: RecipientResult(final[e].email, outcome, reason=reason) for e in retried}
    return [rest.get(r.email.lower()) or final[r.email.lower()] for r in batch.recipients]


def _tell(error: SendError, policy: RetryPolicy) -> None:
    """Why a wait begins; the same text for the same reason, so that it is said once."""
    from seriespub import notices
    from seriespub.redact import scrub

    notices.warn(
        f"{scrub(str(error))}: trying again for up to {policy.max_seconds:g} s "
        "(delivery.max_retry_seconds)"
    )


def _pause(
    seconds: float, deadline: float, stop: threading.Event, error: SendError, policy: RetryPolicy
) -> None:
    if time.monotonic() + seconds > deadline:
        raise error
    _tell(error, policy)
    if stop.wait(seconds):
        raise Stopped
