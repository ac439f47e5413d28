"""The instalment as a message built once, then filled in per recipient.

Rendering (Markdown → MJML → HTML) happens once per instalment. What differs per reader —
name, merge fields, unsubscribe link — sits in *slots* (`%%SPn%%` tokens) that are filled
per recipient: HTML-escaped in the HTML part, raw in the text part. The MIME form is
pre-encoded too (`transfer`: quoted-printable or base64, whichever is smaller), so one message
costs a join.

Guarantees of `mime_for`: every header is folded (`headers`: ≤ 78 octets where it can fold,
never over 998, non-ASCII as encoded words); no line in the body starts with "From "; the
Message-ID is unique per series, instalment and reader, the same for a resend of that delivery
and different for a `send test` copy; the unsubscribe key appears in no repr.
"""

from __future__ import annotations

import copy
import email.utils
import functools
import hashlib
import hmac
import html
import re
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

from seriespub import headers, transfer
from seriespub.addresses import Mailbox, ascii_address, name_problem
from seriespub.errors import InputError
from seriespub.headers import LINE, check_header_value
from seriespub.models import Recipient, Subscriber
from seriespub.transfer import EncodedPart

SLOT_RE = re.compile(r"%%SP(\d+)%%")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 '-]{1,60}")  # atext and spaces: no quoting, no encoding
UNSUBSCRIBE_FIELD = "unsubscribe_url"
ONE_CLICK = "List-Unsubscribe=One-Click"
# Finds a character html.escape changes: a value without one (most: names, URLs) is its own
# HTML form, told by one C call instead of escaping it to compare (per reader, per slot).
html_special = re.compile("[&<>\"']").search


def slot_token(slot_id: int) -> str:
    """The token a slot is written as in the rendered text (what SLOT_RE finds)."""
    return f"%%SP{slot_id}%%"


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


def unsubscribe_token(secret: bytes, address: str) -> str:
    """An unguessable per-address token: HMAC-SHA256 of the lower-cased address."""
    return hmac.new(secret, address.lower().encode(), hashlib.sha256).hexdigest()[:32]


class UnsubscribeKey:
    """The unsubscribe key as a keyed HMAC, so the key's bytes are held by no message.

    Its repr shows nothing and it refuses to be pickled: a batch, a log line or a traceback
    that prints a message cannot carry the secret.
    """

    __slots__ = ("_mac",)

    def __init__(self, secret: bytes) -> None:
        mac = hmac.new(secret, digestmod=hashlib.sha256)
        # OpenSSL's HMAC object itself where CPython has one: copying it is one C call, not
        # hmac.HMAC.copy's Python (a token per reader per send).
        self._mac: Any = getattr(mac, "_hmac", None) or mac

    def token(self, address: str) -> str:
        """`unsubscribe_token(secret, address)`, without a new key schedule each time."""
        return self.derive(address.lower())

    def derive(self, label: str) -> str:
        mac = self._mac.copy()
        mac.update(label.encode())
        token: str = mac.hexdigest()[:32]
        return token

    def fingerprint(self) -> str:
        """64 bits that tell this key from another and reveal nothing of it: the HMAC of a
        label of its own (a token's is an address, which holds no NUL; the series id's
        differs), so it is no reader's token and helps forge none."""
        return self.derive("\0unsubscribe-key-fingerprint\0")[:16]

    def __repr__(self) -> str:
        return "UnsubscribeKey('***')"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("an UnsubscribeKey is not serialisable")


@dataclass(frozen=True)
class SentSize:
    """What one message weighs as sent: octets in all, and per part after its encoding."""

    total: int
    html: int
    text: int
    html_encoding: str
    text_encoding: str


@dataclass
class PreparedMessage:
    """One instalment, rendered once, ready to be addressed to any subscriber.

    `from_header` and `reply_to` are single-line header values (RFC 2047-encoded names,
    IDNA domains), as API providers take them; the MIME form folds them.
    """

    number: int
    subject: str
    from_header: str
    reply_to: str | None
    html: SlottedText
    text: SlottedText
    slots: tuple[Slot, ...]
    unsubscribe_url: str | None  # format string with {token} and {email}
    secret: InitVar[bytes]  # kept only as a keyed HMAC (UnsubscribeKey), never stored
    series_title: str = ""
    preheader: str = ""
    # Empty for a real delivery; unique per `send test`, so a test copy has its own ids.
    send_tag: str = ""
    key: UnsubscribeKey = field(init=False, repr=False, compare=False)
    _mime: tuple[bytes, EncodedPart, bytes, EncodedPart, bytes] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self, secret: bytes) -> None:
        self.key = UnsubscribeKey(secret)

    def with_subject(self, subject: str) -> PreparedMessage:
        """A copy with another subject; the MIME form is rebuilt."""
        return self._copy(subject=subject)

    def for_test(self) -> PreparedMessage:
        """The "[TEST]" copy for `send test`: its own delivery ids and Message-IDs, so no
        provider or mailbox takes it for the real delivery (or the real one for it)."""
        return self._copy(subject=f"[TEST] {self.subject}", send_tag=f"test-{uuid.uuid4().hex}")

    def with_series_id(self, series_id: str) -> PreparedMessage:
        """A copy whose delivery ids and Message-IDs derive from `series_id` (the one the
        ledger kept from the first send) rather than from the settings as they are now."""
        new = self._copy()
        new.__dict__["series_id"] = series_id  # the cached_property's own slot
        new.__dict__.pop("_delivery_prefix", None)
        return new

    def _copy(self, **changes: str) -> PreparedMessage:
        new = copy.copy(self)
        for name, value in changes.items():
            setattr(new, name, value)
        new._mime = None
        return new

    @functools.cached_property
    def sender(self) -> Mailbox:
        return _header_mailboxes(self.from_header)[0]

    @functools.cached_property
    def reply_to_mailboxes(self) -> list[Mailbox]:
        return list(_header_mailboxes(self.reply_to)) if self.reply_to else []

    @functools.cached_property
    def from_email(self) -> str:
        """The sender's address in its ASCII form: the envelope sender."""
        return ascii_address(self.sender.address)

    @functools.cached_property
    def domain(self) -> str:
        return _domain_of(self.from_email)

    @functools.cached_property
    def series_id(self) -> str:
        # What makes two series different for Message-IDs and delivery ids: their key (a
        # generated one differs per series folder), their title and their sender; a second
        # series by the same author (even one that shares SERIESPUB_SECRET) gets other ids.
        # Derived through the key: nothing guessable. The ledger keeps the first send's
        # (`with_series_id`), so an edit between a crash and its resume changes no id.
        return series_id_of(self.key, self.series_title, self.from_email)

    @functools.cached_property
    def list_id(self) -> str:
        """RFC 2919 list id: `slug.domain`, from the series title and the sender's domain."""
        return list_id_of(self.series_title, self.domain)

    @functools.cached_property
    def list_id_header(self) -> str:
        """The List-Id value on one line, for API providers that take extra headers."""
        name = headers.phrase(self.series_title) if self.series_title else []
        return headers.unfolded([*name, f" <{self.list_id}>"])

    def recipient(self, subscriber: Subscriber) -> Recipient:
        """The recipient record for one subscriber: delivery id, merge values, unsubscribe URL."""
        email = subscriber.email
        values = dict(subscriber.fields)
        values["name"] = subscriber.name
        values["email"] = email
        url = self.unsubscribe_url_for(email)
        values[UNSUBSCRIBE_FIELD] = url or self.mailto_unsubscribe(email)
        return Recipient(email, subscriber.name, self.delivery_id(email), values, url)

    def delivery_id(self, address: str) -> str:
        """Stable per (series, instalment, address), and per test send: see `series_id`.
        sha256 of `series_id NUL number NUL address NUL send_tag`, the prefix hashed once."""
        digest = self._delivery_prefix.copy()
        digest.update(f"{address.lower()}\0{self.send_tag}".encode())
        found: str = digest.hexdigest()[:32]
        return found

    @functools.cached_property
    def _delivery_prefix(self) -> Any:
        return _delivery_digest(self.series_id, self.number)

    def unsubscribe_url_for(self, address: str) -> str | None:
        if not self.unsubscribe_url:
            return None
        url = self.unsubscribe_url.replace("{token}", self.key.token(address))
        if "{email}" in url:
            url = url.replace("{email}", urllib.parse.quote(address, safe=""))
        return url

    @functools.cached_property
    def _mailto_target(self) -> str:
        boxes = self.reply_to_mailboxes
        return ascii_address(boxes[0].address) if boxes else self.from_email

    def mailto_unsubscribe(self, address: str) -> str:
        """`mailto:` with the reader's token in the subject: `seriespub.inbox` unsubscribes
        whoever the token belongs to, so a request without it (forged) changes nothing. The
        series' tag follows it: two series sharing a key give a reader the same token, and
        the inbox of each takes only its own requests."""
        # The tag is derived each time, not cached: `with_series_id` swaps the series id.
        token, tag = self.key.token(address), series_tag(self.series_id)
        return f"mailto:{self._mailto_target}?subject=unsubscribe%20{token}%20{tag}"

    def slot_values(
        self,
        recipient: Recipient,
        overrides: dict[str, str] | None = None,
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
            return [
                ("List-Unsubscribe", f"<{recipient.unsubscribe_url}>"),
                ("List-Unsubscribe-Post", ONE_CLICK),
            ]
        return [("List-Unsubscribe", f"<{self.mailto_unsubscribe(recipient.email)}>")]

    def to_header(self, recipient: Recipient) -> str:
        """The To value on one line (API providers take it so); `mime_for` folds it."""
        address = recipient.email if recipient.email.isascii() else ascii_address(recipient.email)
        name = recipient.name
        if not name:
            return address
        if _PLAIN_NAME.fullmatch(name):  # the common case, without the general work
            return f"{name} <{address}>"
        return headers.unfolded(self._to_tokens(recipient))

    def _to_tokens(self, recipient: Recipient) -> list[str]:
        name = recipient.name
        problem = name_problem(name)
        if problem and ("\r" in name or "\n" in name):
            raise InputError(f"{problem}: {name!r} <{recipient.email}>")
        if problem:
            # The list refuses such rows; one that got past them loses the characters here
            # rather than stopping a send halfway.
            name = "".join(c for c in name if c.isprintable() or c == " ")
        return headers.mailbox(Mailbox(name, recipient.email))

    def message_id(self, recipient: Recipient) -> str:
        return f"<{recipient.delivery_id}.{self.number}@{self.domain}>"

    def mime_for(
        self,
        recipient: Recipient,
        *,
        date: str | None = None,
        message_id: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """A complete RFC 5322 multipart/alternative message for one recipient (CRLF)."""
        head, text_part, middle, html_part, tail = self._mime_parts()
        values = self.slot_values(recipient)
        escaped = [html.escape(v) for v in values]
        to = self.to_header(recipient)
        lines = [
            f"To: {to}\r\n"
            if len(to) <= LINE - 4 and to.isascii()
            else headers.fold("To", self._to_tokens(recipient)),
            f"Date: {date or email.utils.formatdate(localtime=True)}\r\n"
            f"Message-ID: {message_id or self.message_id(recipient)}\r\n",
        ]
        # One URI: nowhere to fold, and config keeps the line under 998 (`_URL_MAX`).
        if recipient.unsubscribe_url:
            lines.append(
                f"List-Unsubscribe: <{recipient.unsubscribe_url}>\r\n"
                f"List-Unsubscribe-Post: {ONE_CLICK}\r\n"
            )
        else:
            lines.append(f"List-Unsubscribe: <{self.mailto_unsubscribe(recipient.email)}>\r\n")
        for k, v in extra_headers:
            lines.append(headers.fold(k, headers.unstructured(check_header_value(k, v))))
        return b"".join(
            (
                "".join(lines).encode("ascii"),
                head,
                text_part.fill(values),
                middle,
                html_part.fill(escaped),
                tail,
            )
        )

    def sent_size(self, recipient: Recipient | None = None) -> SentSize:
        """Octets of the message as sent to `recipient` (default: a typical reader)."""
        recipient = recipient or self.recipient(Subscriber("reader@example.com", "Reader"))
        _, text_part, _, html_part, _ = self._mime_parts()
        values = self.slot_values(recipient)
        return SentSize(
            len(self.mime_for(recipient)),
            len(html_part.fill([html.escape(v) for v in values])),
            len(text_part.fill(values)),
            html_part.encoding,
            text_part.encoding,
        )

    @property
    def mime_tail(self) -> bytes:
        """The closing boundary every complete MIME form of this message ends with."""
        return self._mime_parts()[4]

    def validate(self) -> None:
        """Build the fixed part of the MIME form now, so a bad header fails before sending."""
        self._mime_parts()

    def _fixed_headers(self) -> str:
        check_header_value("Subject", self.subject)
        fields = [
            headers.fold("From", headers.mailbox(self.sender)),
            headers.fold("Subject", headers.unstructured(self.subject)),
        ]
        if self.reply_to_mailboxes:
            fields.append(headers.fold("Reply-To", headers.mailboxes(self.reply_to_mailboxes)))
        list_name = headers.phrase(self.series_title) if self.series_title else []
        fields.append(headers.fold("List-Id", [*list_name, f" <{self.list_id}>"]))
        return "".join(fields)

    def _mime_parts(self) -> tuple[bytes, EncodedPart, bytes, EncodedPart, bytes]:
        if self._mime is None:
            digest = hashlib.sha1(self.html.literals[0].encode()).hexdigest()
            boundary = f"=_seriespub_{digest[:16]}"  # "=_" occurs in neither encoding
            text_part = transfer.choose(self.text.literals, self.text.slot_ids)
            html_part = transfer.choose(self.html.literals, self.html.slot_ids)
            part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: {}\r\n\r\n'
            head = (
                self._fixed_headers() + "MIME-Version: 1.0\r\n"
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
                f"\r\n--{boundary}\r\n" + part.format("plain", text_part.encoding)
            )
            middle = f"\r\n--{boundary}\r\n" + part.format("html", html_part.encoding)
            tail = f"\r\n--{boundary}--\r\n"
            self._mime = (
                head.encode("ascii"),
                text_part,
                middle.encode(),
                html_part,
                tail.encode(),
            )
        return self._mime


@functools.lru_cache(maxsize=64)
def _header_mailboxes(value: str) -> tuple[Mailbox, ...]:
    """Mailboxes of a header value this package formatted (encoded words decoded)."""
    from email.headerregistry import HeaderRegistry

    parsed = HeaderRegistry()("From", value)
    found = [Mailbox(a.display_name, a.addr_spec) for a in parsed.addresses]  # type: ignore[attr-defined]
    if not found or parsed.defects or any("@" not in m.address for m in found):
        raise InputError(f"not a valid address header: {value!r}")
    return tuple(found)


def series_id_of(key: UnsubscribeKey, series_title: str, from_email: str) -> str:
    """`PreparedMessage.series_id` without a message (the inbox tells its own reports by it)."""
    return key.derive(f"\0series-id\0{series_title}\0{from_email.lower()}")


def series_tag(series_id: str) -> str:
    """What follows the token in a mailto: unsubscribe subject: `s-` and the first 8 hex of
    the series id (kept from the first send, so a new title or sender keeps the tag)."""
    return f"s-{series_id[:8]}"


SERIES_TAG = re.compile(r"(?<![0-9a-z-])s-([0-9a-f]{8})(?![0-9a-z])")  # `series_tag`'s, lower


def delivery_id_of(series_id: str, number: int, address: str) -> str:
    """`PreparedMessage.delivery_id` of a real delivery (no test send): the Message-ID's
    left part, so a report that quotes it says which series sent it."""
    digest = _delivery_digest(series_id, number)
    digest.update(f"{address.lower()}\0".encode())
    found: str = digest.hexdigest()[:32]
    return found


def _delivery_digest(series_id: str, number: int) -> Any:
    return hashlib.sha256(f"{series_id}\0{number}\0".encode())


def list_id_of(series_title: str, domain: str) -> str:
    """A series' List-Id (`slug.domain`): every message's, and what a report names."""
    return f"{_slug(series_title, 250 - len(domain))}.{domain}"


def sender_domain(from_header: str) -> str:
    """The domain of a `from` header's address, in its ASCII form (`PreparedMessage.domain`
    without a message: the inbox names the series' List-Id with it)."""
    return _domain_of(sender_address(from_header))


def sender_address(from_header: str) -> str:
    """A `from` header's address in its ASCII form (`PreparedMessage.from_email`)."""
    return ascii_address(_header_mailboxes(from_header)[0].address)


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def _slug(title: str, limit: int) -> str:
    """The title as a dot-atom label: ASCII letters, digits and hyphens."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    # A title with no Latin letters (Лидерство) still needs its own, stable label.
    fallback = "series-" + hashlib.sha256(title.encode()).hexdigest()[:10]
    return slug[: min(limit, 60)].strip("-") or fallback
