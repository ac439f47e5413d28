"""Checks of `[inbox]` and `[delivery.smtp] bounce_address`, and the VERP address form."""

from __future__ import annotations

import re

from seriespub.config import InboxSettings, check_at_most_a_day
from seriespub.errors import ConfigError
from seriespub.hostnames import check_host

TOKEN = "{token}"
_TOKEN_RE = r"([0-9a-f]{32})"
_LOCAL_MAX = 64  # RFC 5321: octets in a local part
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


def check_inbox(inbox: InboxSettings) -> None:
    """Refuse values that could never connect or that IMAP cannot name."""
    for key, value in (
        ("inbox.host", inbox.host),
        ("inbox.username", inbox.username),
        ("inbox.folder", inbox.folder),
        ("inbox.done_folder", inbox.done_folder),
    ):
        if not value.strip():
            raise ConfigError(f"'{key}' must not be empty")
        if not value.isascii() or not value.isprintable():
            raise ConfigError(f"'{key}' must be printable ASCII, not {value!r}")
    check_host("inbox", inbox.host)
    if inbox.folder == inbox.done_folder:
        raise ConfigError("'inbox.done_folder' must differ from 'inbox.folder'")
    if inbox.port is not None and not 1 <= inbox.port <= 65535:
        raise ConfigError(f"'inbox.port' must be 1 to 65535, not {inbox.port}")
    if not inbox.timeout > 0:
        raise ConfigError(f"'inbox.timeout' must be more than 0, not {inbox.timeout}")
    check_at_most_a_day("inbox.timeout", inbox.timeout)


def check_bounce_address(address: str) -> None:
    """An addr-spec whose local part may hold `{token}` once, and stays ≤ 64 octets."""
    key = "'delivery.smtp.bounce_address'"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "." not in domain.strip("."):
        raise ConfigError(
            f"{key} must be an address like bounces@example.com, not {address!r}",
            hint='add "+{token}" to the local part if your host allows it: '
            '"you+bounce-{token}@example.com"',
        )
    if TOKEN in domain or address.count(TOKEN) > 1:
        raise ConfigError(f"{key}: {{token}} may appear once, in the part before '@'")
    filled = local.replace(TOKEN, "0" * 32)
    if not _ATEXT.fullmatch(filled) or not domain.isascii() or not domain.isprintable():
        raise ConfigError(f"{key}: {address!r} is not a plain ASCII address")
    if len(filled) > _LOCAL_MAX:
        raise ConfigError(
            f"{key}: the part before '@' is over {_LOCAL_MAX} characters "
            "once the 32-character token is in"
        )


def verp_pattern(bounce_address: str) -> re.Pattern[str] | None:
    """A regex whose group 1 is the token in an address made from `bounce_address`."""
    if TOKEN not in bounce_address:
        return None
    before, _, after = bounce_address.partition(TOKEN)
    return re.compile(re.escape(before) + _TOKEN_RE + re.escape(after), re.IGNORECASE)
