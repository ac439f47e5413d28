"""The `host` of `[inbox]` and `[delivery.smtp]`: a host name or an IP address, alone.

Both tables take the port under its own key (`port`), so `host = "127.0.0.1:9"`, a URL or
a bracketed IPv6 address would only be looked up as a name and fail far from its cause (a
resolver error). Each is refused on load, in one line naming the key and the port key, with
the two values to write instead. A bare IPv6 address (`::1`: more than one colon) is a host.

`[delivery.smtp] helo_name`, the name seriespub gives in EHLO, is a domain or an address
literal (RFC 5321 4.1.2: `[192.0.2.1]`, `[IPv6:2001:db8::1]`); anything else (a space, a line
break that would smuggle a command) is refused on load.
"""

from __future__ import annotations

import ipaddress

from seriespub.errors import ConfigError

_NOT_IN_A_HOST = frozenset(" \t/@?#[]")


def address_literal(address: str) -> str:
    """`address` as EHLO writes an address (RFC 5321 4.1.3)."""
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def check_helo_name(name: str) -> None:
    """Refuse a `helo_name` that is neither a domain nor an address literal."""
    from seriespub.addresses import is_domain_name

    if name[:1] == "[" and name[-1:] == "]":
        ok = _is_ip(name[1:-1].removeprefix("IPv6:"))
    else:
        ok = is_domain_name(name)
    if not ok:
        raise ConfigError(
            f"'delivery.smtp.helo_name' must be a domain or an address literal, not {name!r}",
            hint='e.g. helo_name = "mail.example.org", or "[192.0.2.1]"',
        )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


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
