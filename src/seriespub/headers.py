"""Header fields as RFC 5322 and RFC 2047 want them.

Guarantees of `fold`: the field is ASCII; a line is at most 76 octets wherever the value has a
place to fold (whitespace between words, between encoded words, after a comma between
addresses) and never over 998 (a single token — a long URL in `List-Unsubscribe` — may pass 78
but each caller keeps it under 998); no folded line is whitespace only. Non-ASCII text becomes
`=?utf-8?q?…?=` or `=?utf-8?b?…?=` encoded words (whichever is shorter) of at most 60
characters (RFC 2047 allows 75), never splitting a character, so that every line holding one
stays within RFC 2047's 76. Of a run of B words only the last ends in `=` padding, so that a
parser that decodes the run as one base64 stream (GMime: notmuch, Geary, Balsa) reads it all.

A header value is built as *tokens*, each beginning with the whitespace before it, so folding
is inserting CRLF before a token.
"""

from __future__ import annotations

import base64
import re

from seriespub.addresses import Mailbox, ascii_address
from seriespub.errors import InputError

# RFC 5322 §2.1.1: lines SHOULD be ≤ 78 and MUST be ≤ 998; RFC 2047 §2: a line holding an
# encoded word ≤ 76. Folding at 76 meets all three.
LINE = 76
HARD_LINE = 998
# RFC 2047 allows 75; 60 leaves room for "Reply-To: " on the first line within 76.
ENCODED_WORD = 60
_PREFIX_Q, _PREFIX_B, _SUFFIX = "=?utf-8?q?", "=?utf-8?b?", "?="
_Q_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")  # a phrase of atoms: no quoting
_WORDS = re.compile(r"\s*\S+")
_LONG_WORD = 900  # an ASCII word longer than this is encoded so that it can fold


def fold(name: str, tokens: list[str]) -> str:
    """`Name: value` with CRLF line ends, folded before tokens to keep lines ≤ 78."""
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if len(line) + len(token) > LINE and line != f"{name}:":
            lines.append(line)
            line = token
        else:
            line += token
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def unfolded(tokens: list[str]) -> str:
    """The value on one line, as an API provider takes it."""
    return "".join(tokens).strip()


def unstructured(text: str) -> list[str]:
    """Tokens for Subject and other free text: words, or encoded words when needed."""
    words = _WORDS.findall(text)
    if text.isascii() and "=?" not in text and all(len(w) <= _LONG_WORD for w in words):
        return [w if w[0].isspace() else " " + w for w in words]
    return [" " + w for w in encoded_words(text)]


def phrase(text: str) -> list[str]:
    """Tokens for a display name: atoms, one quoted string, or encoded words."""
    if not text:
        return []
    words = text.split()
    if _ATOMS.fullmatch(text) and "=?" not in text and all(len(w) <= _LONG_WORD for w in words):
        return [" " + w for w in words]
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if text.isascii() and text.isprintable() and len(quoted) < LINE - 12 and "=?" not in text:
        return [" " + quoted]
    return [" " + w for w in encoded_words(text)]


def mailbox(box: Mailbox) -> list[str]:
    address = ascii_address(box.address)
    return [*phrase(box.name), f" <{address}>"] if box.name else [f" {address}"]


def mailboxes(boxes: list[Mailbox]) -> list[str]:
    """Tokens for From, To, Reply-To: mailboxes separated by commas (a place to fold)."""
    tokens: list[str] = []
    for index, box in enumerate(boxes):
        if index:
            tokens[-1] += ","
        tokens += mailbox(box)
    return tokens


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words of ≤ 75 characters, Q or B, whichever is shorter."""
    q = _q_words(text)
    b = _b_words(text)
    return q if sum(map(len, q)) <= sum(map(len, b)) else b


def _q_words(text: str) -> list[str]:
    room = ENCODED_WORD - len(_PREFIX_Q) - len(_SUFFIX)
    words, current = [], ""
    for char in text:
        if char in _Q_SAFE:
            piece = char
        elif char == " ":
            piece = "_"
        else:
            piece = "".join(f"={b:02X}" for b in char.encode("utf-8"))
        if len(current) + len(piece) > room:
            words.append(current)
            current = ""
        current += piece
    words.append(current)
    return [f"{_PREFIX_Q}{w}{_SUFFIX}" for w in words if w]


def _b_words(text: str) -> list[str]:
    """B words, each but the last of a run a whole number of 3-byte groups (no `=` padding).

    RFC 2047 wants each word decoded alone, but GMime (notmuch, Geary, Balsa) decodes a run
    of B words as one base64 stream and drops all that follows a padded word. So a word is cut
    where its bytes are a multiple of 3; where no such cut falls on a character boundary
    within the room ("a" and then only 3-byte characters), that one character goes as a Q
    word, which ends the run and shifts the count."""
    room = (ENCODED_WORD - len(_PREFIX_B) - len(_SUFFIX)) // 4 * 3  # bytes per word
    chars = [char.encode("utf-8") for char in text]
    words, start = [], 0
    while start < len(chars):
        end, size, whole = start, 0, start  # whole: the last cut with no padding
        while end < len(chars) and size + len(chars[end]) <= room:
            size += len(chars[end])
            end += 1
            if size % 3 == 0:
                whole = end
        if end == len(chars) or whole > start:
            cut = end if end == len(chars) else whole  # the last word may be padded
            chunk = b"".join(chars[start:cut])
            words.append(f"{_PREFIX_B}{base64.b64encode(chunk).decode('ascii')}{_SUFFIX}")
            start = cut
        else:
            words += _q_words(text[start])
            start += 1
    return words


def check_header_value(name: str, value: str, where: str = "") -> str:
    """Refuse CR, LF and other control characters in a header value (header injection)."""
    if "\r" in value or "\n" in value:
        raise InputError(f"line break in {name} {value!r} (header injection)", path=where or None)
    if not value.isprintable() and any((c < " " and c != "\t") or c == "\x7f" for c in value):
        raise InputError(f"control character in {name} {value!r}", path=where or None)
    return value
