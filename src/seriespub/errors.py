"""The one exception tree of seriespub.

    SeriespubError                 anything the user can act on; the CLI prints it on one line
    ├── ConfigError                seriespub.toml, .env or a missing secret (names key/variable)
    ├── InputError                 a draft, subscriber file or template we cannot use (file:line)
    ├── SeriesNotFound             no series folder above the current directory
    ├── LockHeld                   another seriespub run holds the series lock
    ├── NothingToSend              not an error for the exit code: the CLI reports and exits 0
    ├── UnresolvedDeliveries       deliveries of unknown outcome: the author must decide first
    └── SendError                  a provider refused or failed (names provider and HTTP status)
        ├── PermanentSendError     never retried (bad request, bad credentials, refused address)
        ├── TransientSendError     retried with backoff (5xx, connection errors, SMTP 4xx)
        │   └── RateLimited        retried after `retry_after` seconds (429)
        └── AmbiguousSendError     the request may or may not have gone out (timeout after sending)

Every message, hint and reason is scrubbed of registered secrets when the error is made
(`seriespub.redact`): a provider that echoes credentials in its answer cannot get them
printed, logged or stored through an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seriespub.redact import scrub

if TYPE_CHECKING:
    from seriespub.lock import LockHolder


class SeriespubError(Exception):
    """Base of every error a user can act on."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(scrub(message))
        if hint is not None:
            self.hint = scrub(hint)


class ConfigError(SeriespubError):
    """Invalid settings, or a secret that is missing.

    `where` is the file (`path` or `path:line`) or variable the error is about when it is
    not the settings themselves; the message then starts with it, as `path:line: ` does
    an InputError's."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.where = where

    @property
    def what(self) -> str:
        """The message without its `where: ` (for a report that shows `where` on its own)."""
        text = str(self)
        return text.removeprefix(f"{self.where}: ") if self.where else text


class InputError(SeriespubError):
    """A file the author wrote (draft, CSV, template) that cannot be used."""

    def __init__(
        self, message: str, *, path: object = None, line: int | None = None, hint: str | None = None
    ) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}", hint=hint)
        self.path = path
        self.line = line


class SeriesNotFound(SeriespubError):
    """No seriespub.toml in the current directory or any parent."""


class LockHeld(SeriespubError):
    """Another run is sending for this series; `holder` is who, when its note says."""

    def __init__(self, message: str, *, holder: LockHolder | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class NothingToSend(SeriespubError):
    """Every instalment has been delivered; not a failure."""


class UnresolvedDeliveries(SeriespubError):
    """Deliveries of unknown outcome block the send until the author decides."""


class SendError(SeriespubError):
    """A provider failed to take a batch."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        prefix = provider + (f" (HTTP {status})" if status else "")
        super().__init__(f"{prefix}: {message}" if prefix else message, hint=hint)
        self.provider = provider
        self.status = status
        self.reason = scrub(message)


class PermanentSendError(SendError):
    """Retrying will not help."""


class TransientSendError(SendError):
    """Worth retrying after a pause."""


class RateLimited(TransientSendError):
    """The provider asked us to slow down; `retry_after` is in seconds when known."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class AmbiguousSendError(SendError):
    """The request was sent but no answer came back, and nothing of the batch is known.

    Once anything is known (a provider that sends one request per recipient lost the answer
    to the third), the provider returns one result per recipient instead, the doubtful ones
    `Outcome.UNKNOWN`: an exception never carries results.
    """


def interrupted(exc: BaseException) -> bool:
    """`exc` is a Ctrl-C, or an error Python raised because of one: a KeyboardInterrupt
    inside a class body's `__set_name__` (a cached_property being created) comes out as a
    RuntimeError whose cause is the interrupt."""
    seen: BaseException | None = exc
    for _ in range(16):  # chains are short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
