"""A slotted MIME text part, pre-encoded once so that each recipient costs a join.

Two Content-Transfer-Encodings, chosen once per part from its literal text (`choose`):
quoted-printable, readable and smallest for mostly-ASCII text, and base64, smallest for
text in other scripts (quoted-printable triples Cyrillic: 83 KB became 224 KB).

Guarantees, for any literals and any per-recipient values:
- the encoded part decodes to exactly the filled-in text, with CRLF line breaks;
- every line is at most 76 characters and ends in CRLF; no line starts with "From ", nor with
  ">From ", ">>From "… (RFC 2049 §3: its first character is written `=46` or `=3E`, so an mbox
  delivery, which quotes those as ">From " and, as mboxrd (Postfix), ">>From ", changes
  nothing);
- base64 lines hold whole 4-character groups, so decoders that work line by line agree; the
  literal text is encoded once, and a recipient's values only re-align the 0–2 bytes around
  them (a 3-byte group never straddles a pre-encoded literal).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from typing import Protocol

CRLF = b"\r\n"
_FROM_LINE = re.compile(rb"^>*From ", re.MULTILINE)
_QP_LINE = 76
_QP_SAFE = re.compile(r"[!-<>-~][ !-<>-~]{0,70}[!-<>-~]|[!-<>-~]?")
_B64_LINE = 57  # bytes per 76-character base64 line


class EncodedPart(Protocol):
    encoding: str

    def fill(self, values: Sequence[str]) -> bytes: ...


def choose(literals: Sequence[str], slot_ids: Sequence[int]) -> EncodedPart:
    """Quoted-printable unless base64 is smaller for this literal text."""
    qp = QPPart(literals, slot_ids)
    raw = sum(len(_canonical(lit)) for lit in literals)
    base64_size = (raw + 2) // 3 * 4 * 78 // 76
    if base64_size < qp.size:
        return Base64Part(literals, slot_ids)
    return qp


class QPPart:
    """Segments pre-encoded as quoted-printable; values join them after soft line breaks."""

    encoding = "quoted-printable"

    def __init__(self, literals: Sequence[str], slot_ids: Sequence[int]) -> None:
        self.slot_ids = tuple(slot_ids)
        self.encoded = [qp(lit) for lit in literals]
        self.size = sum(map(len, self.encoded))

    def fill(self, values: Sequence[str]) -> bytes:
        out = [self.encoded[0]]
        for slot_id, literal in zip(self.slot_ids, self.encoded[1:], strict=True):
            out += (b"=\r\n", qp_value(values[slot_id]), b"=\r\n", literal)
        return b"".join(out)


def qp_value(value: str) -> bytes:
    """A per-recipient value: most (names, URLs) are short printable ASCII without `=` or
    edge spaces, which quoted-printable leaves as they are. It starts a line (after a soft
    break), so a value starting "From " (or ">From "…) takes the slow path."""
    if _QP_SAFE.fullmatch(value) and not value.lstrip(">").startswith("From "):
        return value.encode("ascii")
    return qp(value)


def qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends only: hard breaks and soft ones (`=` CRLF)."""
    data = text.replace("\r\n", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if b"From " in encoded:
        encoded = b"\n".join(part for line in encoded.split(b"\n") for part in _unquotable(line))
    return encoded.replace(b"\n", b"\r\n")


def _unquotable(line: bytes) -> list[bytes]:
    """One encoded line as lines an mbox delivery leaves alone: the first character of a
    line starting ">*From " encoded; a line that grows past 76 characters so is broken
    softly (never inside an `=XX`), and its rest checked in turn."""
    out = []
    while _FROM_LINE.match(line):
        line = b"=%02X" % line[0] + line[1:]
        if len(line) <= _QP_LINE:
            break
        cut = _QP_LINE - 1  # room for the soft break's "="
        escape = line.rfind(b"=", cut - 2, cut)
        cut = escape if escape != -1 else cut
        out.append(line[:cut] + b"=")
        line = line[cut:]
    out.append(line)
    return out


def _canonical(text: str) -> bytes:
    """Text as MIME's canonical form: UTF-8 with CRLF line breaks."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _b64_lines(data: bytes) -> bytes:
    """`data` (a multiple of 3 bytes, or the last piece) as base64 lines of ≤ 76 characters."""
    if len(data) <= _B64_LINE:
        return binascii.b2a_base64(data, newline=False)
    return CRLF.join(
        binascii.b2a_base64(data[i : i + _B64_LINE], newline=False)
        for i in range(0, len(data), _B64_LINE)
    )


class _Literal:
    """One literal, pre-encoded for each count (0, 1, 2) of bytes left over before it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        # carry → (bytes taken to complete the carry's group, encoded middle, bytes left over)
        self.by_carry: list[tuple[int, bytes, bytes]] = []
        for carry in range(3):
            head = min((3 - carry) % 3, len(data))
            whole = head + (len(data) - head) // 3 * 3
            self.by_carry.append((head, _b64_lines(data[head:whole]), data[whole:]))


class Base64Part:
    """Literals pre-encoded as base64 at each of the three byte alignments a value can leave."""

    encoding = "base64"

    def __init__(self, literals: Sequence[str], slot_ids: Sequence[int]) -> None:
        self.slot_ids = tuple(slot_ids)
        self.literals = [_Literal(_canonical(lit)) for lit in literals]

    def fill(self, values: Sequence[str]) -> bytes:
        out: list[bytes] = []
        pending = self._literal(self.literals[0], b"", out)
        for slot_id, literal in zip(self.slot_ids, self.literals[1:], strict=True):
            data = pending + _canonical(values[slot_id])
            whole = len(data) // 3 * 3
            if whole:
                out.append(_b64_lines(data[:whole]))
            pending = self._literal(literal, data[whole:], out)
        if pending:
            out.append(binascii.b2a_base64(pending, newline=False))
        return CRLF.join(out)

    @staticmethod
    def _literal(literal: _Literal, pending: bytes, out: list[bytes]) -> bytes:
        """Append `pending` + `literal`'s whole groups to `out`; return the bytes left over."""
        head, middle, rest = literal.by_carry[len(pending)]
        if pending:
            group = pending + literal.data[:head]
            if len(group) < 3:
                return group  # the literal was too short to complete the group
            out.append(binascii.b2a_base64(group, newline=False))
        if middle:
            out.append(middle)
        return rest
