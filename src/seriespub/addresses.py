"""Email addresses and mailboxes: the one place that says what seriespub accepts.

Guarantees:
- an accepted address is `local@domain`: a dot-atom local part of at most 64 octets (no dot
  at either end, no two dots in a row), a domain of two or more labels of letters, digits and
  inner hyphens, 254 characters at most in all;
- an internationalised domain (`bücher.example`) is accepted when IDNA 2008 (UTS #46) can
  encode it; `ascii_address` gives the A-label form (`xn--bcher-kva.example`) that goes into
  the envelope and the headers, so no server needs SMTPUTF8 for it;
- a configured mailbox list (`from`, `reply_to`) parses to exactly the mailboxes written, each
  with a domain, or is refused with the reason: an unquoted comma, an encoded word, a control
  character or a missing `@` never turn silently into another sender.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*\.(?=[A-Za-z0-9-]*[A-Za-z]){_LABEL}"  # TLD: not all digits
# The common case in one match: ASCII, local part 1..64 octets, a host name with a TLD.
_ASCII_ADDRESS = re.compile(rf"(?=[^@]{{1,64}}@){_LOCAL}@{_DOMAIN}")
_LOCAL_RE = re.compile(_LOCAL)
_DOMAIN_RE = re.compile(_DOMAIN)
_NAME_SPECIALS = frozenset('"()<>[]:;@\\,')
MAX_ADDRESS = 254
MAX_LOCAL = 64


@dataclass(frozen=True)
class Mailbox:
    """A display name (may be empty) and an address as written (its domain may be Unicode)."""

    name: str
    address: str

    @property
    def ascii_address(self) -> str:
        return ascii_address(self.address)


def is_valid_address(address: str) -> bool:
    """True when `address` is one we can send to (see the module's guarantees)."""
    if len(address) <= MAX_ADDRESS and _ASCII_ADDRESS.fullmatch(address):
        return True
    return address_problem(address) is None


def invalid_address(address: str) -> str:
    """The one line that refuses `address`: what it is and why."""
    return f"invalid address {address!r}: {address_problem(address) or 'not an address'}"


def address_problem(address: str) -> str | None:
    """Why `address` is refused, or None when it is fine."""
    if not address:
        return "empty address"
    if _control(address) or any(c.isspace() for c in address):
        return "space or control character in the address"
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "no local part and '@'" if not at else "nothing before '@'"
    if len(local.encode()) > MAX_LOCAL:
        return f"local part over {MAX_LOCAL} characters"
    if not local.isascii():
        # Only the domain has an ASCII form (IDNA); such a local part needs SMTPUTF8 end
        # to end, which the providers' APIs and most servers do not offer.
        return "a non-ASCII character before '@' (such an address needs SMTPUTF8, not supported)"
    if not _LOCAL_RE.fullmatch(local):
        return _local_part_problem(local)
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None or not _DOMAIN_RE.fullmatch(ascii_domain):
        return f"invalid domain {domain!r}"
    if len(local) + 1 + len(ascii_domain) > MAX_ADDRESS:
        return f"longer than {MAX_ADDRESS} characters"
    return None


def _local_part_problem(local: str) -> str:
    """The one thing wrong with a local part `_LOCAL_RE` refuses (an author fixes that one
    thing, so name it rather than list what could be wrong)."""
    if "@" in local:
        return "more than one '@'"
    if local.startswith("."):
        return "a dot at the start of the part before '@'"
    if local.endswith("."):
        return "a dot at the end of the part before '@'"
    if ".." in local:
        return "two dots in a row before '@'"
    odd = next(c for c in local if c != "." and not re.fullmatch(_ATEXT, c))
    return f"{odd!r} before '@' (allowed only in quotes, which seriespub does not accept)"


def ascii_address(address: str) -> str:
    """The address with its domain as IDNA A-labels (unchanged when already ASCII)."""
    if address.isascii():
        return address
    local, _, domain = address.rpartition("@")
    return f"{local}@{_ascii_domain(domain) or domain}"


def is_domain_name(name: str) -> bool:
    """Whether `name` is an ASCII host name as an address's domain must be: two or more
    labels, a TLD that is not all digits, 253 characters at most."""
    return len(name) <= 253 and _DOMAIN_RE.fullmatch(name) is not None


def ascii_domain(domain: str) -> str | None:
    """`domain` as IDNA A-labels (unchanged when ASCII), or None when it is no domain."""
    return _ascii_domain(domain)


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str | None:
    if domain.isascii():
        return domain
    import idna

    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return None


def name_problem(name: str) -> str | None:
    """Why a display name cannot go into a header, or None."""
    if "\r" in name or "\n" in name:
        return "line break in the name (header injection)"
    bad = _control(name)
    if bad:
        return f"control character U+{ord(bad):04X} in the name"
    return None


def _control(text: str) -> str:
    """The first control or line-separator character in `text`, or ''."""
    if text.isprintable():
        return ""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return char
    return ""


def parse_mailboxes(value: str) -> list[Mailbox]:
    """`"Ann" <a@x>, b@y` → mailboxes; ValueError says what is wrong, in the author's terms."""
    bad = _control(value)
    if bad:
        raise ValueError(f"control character U+{ord(bad):04X}")
    pieces = _split_commas(value)
    if any(not piece.strip() for piece in pieces):
        raise ValueError("empty address" if len(pieces) == 1 else "empty entry between commas")
    return [_mailbox(piece.strip()) for piece in pieces]


def parse_mailbox(value: str) -> Mailbox:
    """Exactly one mailbox; a comma outside quotes makes two and is refused."""
    count = len(_split_commas(value))
    if count != 1:
        raise ValueError(
            f"{count} addresses where one is expected (a name with a comma "
            'must be quoted: "Ann, Writer" <ann@example.com>)'
        )
    return parse_mailboxes(value)[0]


def _split_commas(value: str) -> list[str]:
    """Split at commas outside quoted strings and angle brackets."""
    pieces, start, quoted, angle, escaped = [], 0, False, False, False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            escaped, quoted = char == "\\", char != '"'
        elif char == '"':
            quoted = True
        elif char in "<>":
            angle = char == "<"
        elif char == "," and not angle:
            pieces.append(value[start:index])
            start = index + 1
    if quoted:
        raise ValueError("unbalanced quote")
    pieces.append(value[start:])
    return pieces


def _mailbox(piece: str) -> Mailbox:
    name, address = "", piece
    if piece.endswith(">"):
        opening = _last_unquoted(piece, "<")
        if opening < 0:
            raise ValueError(f"'>' without '<' in {piece!r}")
        name, address = _display_name(piece[:opening].strip()), piece[opening + 1 : -1].strip()
    if "<" in address or ">" in address:
        raise ValueError(f"stray '<' or '>' in {piece!r}")
    problem = address_problem(address)
    if problem:
        raise ValueError(f"{address!r}: {problem}")
    return Mailbox(name, address)


def _last_unquoted(text: str, wanted: str) -> int:
    found, quoted, escaped = -1, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == wanted and not quoted:
            found = index
    return found


def _display_name(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        inner = raw[1:-1]
        if re.search(r'(?<!\\)(?:\\\\)*"', inner):
            raise ValueError(f"a quote inside the quoted name {raw}")
        name = re.sub(r"\\(.)", r"\1", inner)
    elif _NAME_SPECIALS.intersection(raw):
        raise ValueError(
            f"the name {raw!r} has one of {''.join(sorted(_NAME_SPECIALS))}: "
            "put it in double quotes"
        )
    else:
        name = " ".join(raw.split())
    if "=?" in name:
        raise ValueError(
            f"the name {name!r} looks like an RFC 2047 encoded word: write it as "
            "plain text (seriespub encodes it)"
        )
    return name
