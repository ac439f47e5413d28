"""The `host` of `[inbox]` and `[delivery.smtp]`: a host name or an IP address, alone.

Both tables take the port under its own key (`port`), so `host = "127.0.0.1:9"`, a URL or
a bracketed IPv6 address would only be looked up as a name and fail far from its cause (a
resolver error). Each is refused on load, in one line naming the key and the port key, with
the two values to write instead. A bare IPv6 address (`::1`: more than one colon) is a host.
"""

from __future__ import annotations

from seriespub.errors import ConfigError

_NOT_IN_A_HOST = frozenset(" \t/@?#[]")


def check_host(table: str, host: str) -> None:
    """Refuse `table.host` unless it names a host alone (see the module)."""
    key, port_key = f"'{table}.host'", f"{table}.port"
    if "://" in host:
        raise ConfigError(
            f"{key} must be a host name, not a URL: {host!r}",
            hint=f"write the name alone, and the port as {port_key}",
        )
    if host.startswith("["):
        raise ConfigError(
            f"{key} takes an IPv6 address without brackets, not {host!r}",
            hint=f'e.g. host = "::1", and the port as {port_key}',
        )
    name, colon, port = host.rpartition(":")
    if colon and ":" not in name:  # one colon: host:port (an IPv6 address has two or more)
        say = f"port = {port}" if port.isdigit() else "port"
        raise ConfigError(
            f"{key} must be the host alone, not {host!r}: write "
            f'host = "{name}" and {say} ({port_key})'
        )
    if not host or _NOT_IN_A_HOST.intersection(host):
        raise ConfigError(f"{key} must be a host name or IP address alone, not {host!r}")
