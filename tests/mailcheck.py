"""One check for every message the tests produce, by Python's own `email` parser.

`check_message(data)` parses with `email.policy.default` and asserts what servers and clients
rely on: no parser defects anywhere; exactly one recipient; no line over 998 octets; no line
starting with "From " (mbox would mangle it); every header line ≤ 998 and ≤ 78 unless it is
one unbreakable token (a long List-Unsubscribe URL), and ≤ 76 when it holds an encoded
word; a well-formed Message-ID; a well-formed List-Unsubscribe (each URI in <…>, https or
mailto, no spaces). It returns the parsed message so a test can go on to assert its content.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from collections.abc import Iterable
from pathlib import Path

MESSAGE_ID = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>")
UNSUBSCRIBE_URI = re.compile(r"<(https://[!-;=?-~]+|mailto:[!-;=?-~]+)>")


def check_message(data: bytes) -> email.message.EmailMessage:
    """Assert `data` is a message every server and client takes as it was meant."""
    assert b"\n" not in data.replace(b"\r\n", b""), "a bare LF line end"
    lines = data.split(b"\r\n")
    for number, line in enumerate(lines, 1):
        assert len(line) <= 998, f"line {number} is {len(line)} octets"
        # mbox delivery quotes "From " and, as mboxrd, ">From ", ">>From "…: either alters it
        assert not line.lstrip(b">").startswith(b"From "), f"line {number}: {line[:60]!r}"
    _check_folding(data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    for part in msg.walk():
        assert not part.defects, f"defects in {part.get_content_type()}: {part.defects}"
        for name, value in part.items():
            assert not getattr(value, "defects", ()), f"{name}: {value.defects}"
    to = msg["To"]
    assert to is not None and len(to.addresses) == 1, f"To: {to!r}"
    assert msg["Cc"] is None and msg["Bcc"] is None
    assert len(msg["From"].addresses) == 1, f"From: {msg['From']!r}"
    assert MESSAGE_ID.fullmatch(str(msg["Message-ID"])), f"Message-ID: {msg['Message-ID']!r}"
    _check_unsubscribe(msg)
    return msg


def body_text(msg: email.message.EmailMessage, subtype: str) -> str:
    """The decoded `text/<subtype>` body of `msg`; asserts there is one."""
    content = _body(msg, subtype).get_content()
    assert isinstance(content, str)
    return content


def html_of(path: Path) -> str:
    """The decoded HTML part of the message file at `path`, checked as `check_message` does."""
    return body_text(check_message(path.read_bytes()), "html")


def body_bytes(msg: email.message.EmailMessage, subtype: str) -> bytes:
    """The `text/<subtype>` body's octets, transfer encoding undone, charset not."""
    payload = _body(msg, subtype).get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def _body(msg: email.message.EmailMessage, subtype: str) -> email.message.EmailMessage:
    part = msg.get_body((subtype,))
    assert isinstance(part, email.message.EmailMessage), f"no text/{subtype} body"
    return part


def check_files(paths: Iterable[Path]) -> list[email.message.EmailMessage]:
    """`check_message` on each file; at least one file is expected."""
    checked = [check_message(path.read_bytes()) for path in paths]
    assert checked, "no message to check"
    return checked


def _check_folding(head: list[bytes]) -> None:
    for line in head:
        assert line.isascii(), f"non-ASCII header line {line[:60]!r}"
        if len(line) > 78:
            value = line if line[:1] in b" \t" else line.split(b":", 1)[1]
            assert len(value.split()) == 1, (
                f"header line of {len(line)} octets could have been folded: {line[:80]!r}"
            )
        assert line.strip() or line == b"", "a whitespace-only header line"
        if b"=?" in line:
            assert len(line) <= 76, f"an encoded word on a line over 76 (RFC 2047): {line!r}"


def _check_unsubscribe(msg: email.message.EmailMessage) -> None:
    value = msg["List-Unsubscribe"]
    if value is None:
        return
    uris = [u.strip() for u in str(value).split(",")]
    for uri in uris:
        assert UNSUBSCRIBE_URI.fullmatch(uri), f"List-Unsubscribe: {uri!r}"
    if msg["List-Unsubscribe-Post"] is not None:
        assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert any(u.startswith("<https://") for u in uris)
