"""The instalment as a message built once, then filled in per recipient.

Rendering (Markdown → MJML → HTML) happens once per instalment. What differs per reader —
name, merge fields, unsubscribe link — sits in *slots* (`%%SPn%%` tokens) that are filled
per recipient: HTML-escaped in the HTML part, raw in the text part. The MIME form is
pre-encoded too (quoted-printable, segment by segment), so one message costs a join.
"""

from __future__ import annotations

import binascii
import dataclasses
import email.utils
import functools
import hashlib
import hmac
import html
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from seriespub.errors import InputError
from seriespub.models import Recipient, Subscriber

SLOT_RE = re.compile(r"%%SP(\d+)%%")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 '-]{1,60}")   # atext and spaces: no quoting, no encoding
UNSUBSCRIBE_FIELD = "unsubscribe_url"
ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class Slot:
    """A per-recipient value: a subscriber field with a fallback."""

    field: str
    default: str = ""


@dataclass(frozen=True)
class SlottedText:
    """Text cut at its slots: literal, slot index, literal, …, literal."""

    literals: tuple[str, ...]
    slot_ids: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> SlottedText:
        pieces = SLOT_RE.split(text)
        return cls(tuple(pieces[0::2]), tuple(int(i) for i in pieces[1::2]))

    def fill(self, values: Sequence[str]) -> str:
        out = [self.literals[0]]
        for slot_id, literal in zip(self.slot_ids, self.literals[1:], strict=True):
            out.append(values[slot_id])
            out.append(literal)
        return "".join(out)

    def with_tokens(self, token: Callable[[int], str]) -> str:
        """The text with each slot replaced by a provider's own placeholder."""
        return self.fill([token(i) for i in range(max(self.slot_ids, default=-1) + 1)])


class _QPText:
    """A SlottedText pre-encoded as quoted-printable; slots are joined by soft line breaks."""

    def __init__(self, text: SlottedText) -> None:
        self.slot_ids = text.slot_ids
        self.encoded = [_qp(lit) for lit in text.literals]

    def fill(self, values: Sequence[str]) -> bytes:
        out = [self.encoded[0]]
        for slot_id, literal in zip(self.slot_ids, self.encoded[1:], strict=True):
            out += (b"=\r\n", _qp_value(values[slot_id]), b"=\r\n", literal)
        return b"".join(out)


_QP_SAFE = re.compile(r"[!-<>-~][ !-<>-~]{0,70}[!-<>-~]|[!-<>-~]?")


def _qp_value(value: str) -> bytes:
    """A per-recipient value: most (names, URLs) are short printable ASCII without `=` or
    edge spaces, which quoted-printable leaves as they are."""
    if _QP_SAFE.fullmatch(value):
        return value.encode("ascii")
    return _qp(value)


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends only: hard breaks and soft ones (`=` CRLF)."""
    data = text.replace("\r\n", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")


def unsubscribe_token(secret: bytes, address: str) -> str:
    """An unguessable per-address token: HMAC-SHA256 of the lower-cased address."""
    return hmac.new(secret, address.lower().encode(), hashlib.sha256).hexdigest()[:32]


def check_header_value(name: str, value: str, where: str = "") -> str:
    """Refuse CR or LF in a header value: that would let input write its own headers."""
    if "\r" in value or "\n" in value:
        raise InputError(f"line break in {name} {value!r} (header injection)", path=where or None)
    return value


@dataclass
class PreparedMessage:
    """One instalment, rendered once, ready to be addressed to any subscriber."""

    number: int
    subject: str
    from_header: str
    reply_to: str | None
    html: SlottedText
    text: SlottedText
    slots: tuple[Slot, ...]
    unsubscribe_url: str | None      # format string with {token} and {email}
    secret: bytes
    series_title: str = ""
    preheader: str = ""
    _mime: tuple[bytes, _QPText, bytes, _QPText, bytes] | None = field(
        default=None, init=False, repr=False, compare=False)

    def with_subject(self, subject: str) -> PreparedMessage:
        """A copy with another subject (e.g. "[TEST] …"); the MIME form is rebuilt."""
        return dataclasses.replace(self, subject=subject)

    @functools.cached_property
    def from_email(self) -> str:
        return email.utils.parseaddr(self.from_header)[1]

    @functools.cached_property
    def domain(self) -> str:
        return self.from_email.rpartition("@")[2] or "localhost"

    def recipient(self, subscriber: Subscriber) -> Recipient:
        """The recipient record for one subscriber: delivery id, merge values, unsubscribe URL."""
        values = dict(subscriber.fields)
        values["name"] = subscriber.name
        values["email"] = subscriber.email
        url = self.unsubscribe_url_for(subscriber.email)
        values[UNSUBSCRIBE_FIELD] = url or self.mailto_unsubscribe()
        return Recipient(email=subscriber.email, name=subscriber.name,
                         delivery_id=self.delivery_id(subscriber.email),
                         values=values, unsubscribe_url=url)

    def delivery_id(self, address: str) -> str:
        seed = f"{self.from_email.lower()}\0{self.number}\0{address.lower()}".encode()
        return hashlib.sha256(seed).hexdigest()[:32]

    def unsubscribe_url_for(self, address: str) -> str | None:
        if not self.unsubscribe_url:
            return None
        url = self.unsubscribe_url.replace("{token}", unsubscribe_token(self.secret, address))
        if "{email}" in url:
            url = url.replace("{email}", urllib.parse.quote(address, safe=""))
        return url

    @functools.cached_property
    def _mailto(self) -> str:
        target = email.utils.parseaddr(self.reply_to or "")[1] or self.from_email
        return f"mailto:{target}?subject=unsubscribe"

    def mailto_unsubscribe(self) -> str:
        return self._mailto

    def slot_values(self, recipient: Recipient, overrides: dict[str, str] | None = None,
                    ) -> list[str]:
        """Raw per-recipient values, one per slot; `overrides` wins (e.g. provider tags)."""
        merged = recipient.values if not overrides else {**recipient.values, **overrides}
        return [merged.get(s.field) or s.default for s in self.slots]

    def html_for(self, recipient: Recipient, overrides: dict[str, str] | None = None) -> str:
        values = [html.escape(v) for v in self.slot_values(recipient, overrides)]
        return self.html.fill(values)

    def text_for(self, recipient: Recipient, overrides: dict[str, str] | None = None) -> str:
        return self.text.fill(self.slot_values(recipient, overrides))

    def list_unsubscribe_headers(self, recipient: Recipient) -> list[tuple[str, str]]:
        """RFC 8058 one-click headers when an https URL exists, else a mailto: header."""
        if recipient.unsubscribe_url:
            return [("List-Unsubscribe", f"<{recipient.unsubscribe_url}>"),
                    ("List-Unsubscribe-Post", ONE_CLICK)]
        return [("List-Unsubscribe", f"<{self.mailto_unsubscribe()}>")]

    def to_header(self, recipient: Recipient) -> str:
        name = check_header_value("name", recipient.name)
        if not name:
            return recipient.email
        if _PLAIN_NAME.fullmatch(name):       # the common case, without formataddr's work
            return f"{name} <{recipient.email}>"
        return email.utils.formataddr((name, recipient.email), charset="utf-8")

    def message_id(self, recipient: Recipient) -> str:
        return f"<{recipient.delivery_id}.{self.number}@{self.domain}>"

    def mime_for(self, recipient: Recipient, *, date: str | None = None,
                 message_id: str | None = None,
                 extra_headers: Sequence[tuple[str, str]] = ()) -> bytes:
        """A complete RFC 5322 multipart/alternative message for one recipient (CRLF)."""
        head, text_qp, middle, html_qp, tail = self._mime_parts()
        values = self.slot_values(recipient)
        escaped = [html.escape(v) for v in values]
        headers = [("To", self.to_header(recipient)),
                   ("Date", date or email.utils.formatdate(localtime=True)),
                   ("Message-ID", message_id or self.message_id(recipient)),
                   *self.list_unsubscribe_headers(recipient)]
        # Only what comes from outside needs the line-break check: the name (in to_header)
        # and extra headers; the rest is built here from checked parts.
        headers += [(k, check_header_value(k, v)) for k, v in extra_headers]
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
        return b"".join((lines.encode("utf-8"), head, text_qp.fill(values), middle,
                         html_qp.fill(escaped), tail))

    @property
    def mime_tail(self) -> bytes:
        """The closing boundary every complete MIME form of this message ends with."""
        return self._mime_parts()[4]

    def validate(self) -> None:
        """Build the fixed part of the MIME form now, so a bad header fails before sending."""
        self._mime_parts()

    def _mime_parts(self) -> tuple[bytes, _QPText, bytes, _QPText, bytes]:
        if self._mime is None:
            digest = hashlib.sha1(self.html.literals[0].encode()).hexdigest()
            boundary = f"=_seriespub_{digest[:16]}"  # "=_" never occurs in quoted-printable
            for name, value in (("From", self.from_header), ("Subject", self.subject),
                                ("Reply-To", self.reply_to or "")):
                check_header_value(name, value)
            fixed = [("From", self.from_header), ("Subject", _encode_header(self.subject))]
            if self.reply_to:
                fixed.append(("Reply-To", self.reply_to))
            fixed += [("MIME-Version", "1.0"),
                      ("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
            part = ('Content-Type: text/{}; charset="utf-8"\r\n'
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
            head = "".join(f"{k}: {v}\r\n" for k, v in fixed)
            head += f"\r\n--{boundary}\r\n" + part.format("plain")
            middle = f"\r\n--{boundary}\r\n" + part.format("html")
            tail = f"\r\n--{boundary}--\r\n"
            self._mime = (head.encode(), _QPText(self.text), middle.encode(),
                          _QPText(self.html), tail.encode())
        return self._mime


def _encode_header(value: str) -> str:
    """RFC 2047-encode a header value only when it is not plain ASCII."""
    if value.isascii():
        return value
    from email.header import Header

    return Header(value, "utf-8").encode(linesep="\r\n")
