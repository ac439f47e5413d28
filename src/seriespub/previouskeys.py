"""Unsubscribe keys a series no longer sends with, still accepted when verifying a token.

After a key change (`--new-unsubscribe-key`) the links already in readers' inboxes carry
tokens made with the earlier key. As Django's SECRET_KEY_FALLBACKS, those keys may be kept:

- `SERIESPUB_SECRET_PREVIOUS` (environment or `.env`, never the config): one or more keys,
  separated by commas or spaces;
- `.seriespub/secret.previous` (mode 0600, one key a line): where a generated key replaced on
  purpose is kept, so its links keep working with nothing to set.

Guarantees: these keys verify tokens (the inbox, the token commands) and never make one; each
is scrubbed from everything printed or stored (`seriespub.redact`) as soon as it is read; a
key under MIN_SECRET_BYTES is refused by its position, never shown. Keeping a key appends
it (fsynced) before the key in use is replaced, so a crash between the two loses neither.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from seriespub import redact
from seriespub.errors import ConfigError
from seriespub.statefiles import fsync_folder, open_private, private_dir

PREVIOUS_ENV = "SERIESPUB_SECRET_PREVIOUS"
PREVIOUS_FILE = "secret.previous"
MIN_SECRET_BYTES = 32  # as seriespub.series: a shorter key makes forgeable tokens
_SEPARATORS = re.compile(r"[,\s]+")


def previous_secrets(state_dir: Path, given: str | None) -> list[bytes]:
    """The keys of `given` (SERIESPUB_SECRET_PREVIOUS's value), then the kept ones."""
    keys = [_strong(k, PREVIOUS_ENV, f"key {n}") for n, k in enumerate(_split(given), 1)]
    path = state_dir / PREVIOUS_FILE
    try:
        kept = path.read_text(encoding="ascii").splitlines() if path.exists() else []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the previous unsubscribe keys: {exc}", where=str(path)
        ) from None
    kept = [k.strip() for k in kept if k.strip()]
    for key in kept:
        redact.register(key)
    keys += [_strong(k.encode(), str(path), f"line {n}") for n, k in enumerate(kept, 1)]
    return list(dict.fromkeys(keys))


def keep(state_dir: Path, key: bytes) -> None:
    """Append `key` to .seriespub/secret.previous (0600, fsynced) unless it is there."""
    path = state_dir / PREVIOUS_FILE
    if path.exists() and key in path.read_bytes().split():
        return
    private_dir(state_dir)
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_generated(key_path: Path) -> None:
    """Keep the generated key at `key_path` (`keep`), then put a new random one in its place
    (a temp file, fsynced, renamed over it)."""
    import tempfile  # here: a key is replaced rarely; reading commands never need it

    keep(key_path.parent, key_path.read_bytes().strip())
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=key_path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(32).hex().encode())  # as secrets.token_hex(32)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, key_path)
        fsync_folder(key_path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _split(given: str | None) -> list[bytes]:
    keys = [k for k in _SEPARATORS.split(given or "") if k]
    for key in keys:
        redact.register(key)  # the whole value is registered; each key alone too
    return [k.encode() for k in keys]


def _strong(key: bytes, where: str, which: str) -> bytes:
    """`key`, unless it is too short: then an error naming it by `which` (never the key)."""
    if len(key) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{which} has {len(key)} bytes; an unsubscribe key must have at least "
            f"{MIN_SECRET_BYTES} bytes",
            where=where,
            hint=f"remove it from {PREVIOUS_ENV} (or {PREVIOUS_FILE}): a short key makes "
            "tokens anyone could forge",
        )
    return key
