"""Mailgun: one `POST /v3/{domain}/messages` per batch, personalised with recipient-variables.

Each slot becomes a recipient variable (`sp{i}h` HTML-escaped for the HTML part, `sp{i}t`
raw for the text part); because `recipient-variables` is present, Mailgun sends every
address its own message. Mailgun has no server-side idempotency, so `can_settle` is False.

`[delivery.mailgun] unsubscribe` chooses who handles unsubscribes:
- "own" (default): our unsubscribe URL (or mailto:) in the body and our own RFC 8058
  List-Unsubscribe / List-Unsubscribe-Post headers.
- "mailgun": the unsubscribe slot becomes Mailgun's `%unsubscribe_url%` in both parts, our
  own List-Unsubscribe headers are left out (Mailgun adds its own), and each message carries
  `o:tracking=yes`. Mailgun only substitutes the variable and adds the headers when
  unsubscribe tracking is active for the sending domain, so that is checked once (via
  `GET /v3/domains/{domain}/tracking`) before the first batch; an inactive domain is a
  ConfigError rather than mail with a dead unsubscribe link. Unsubscribes then land in
  the domain's unsubscribe list, which `suppressions()` already reads.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from seriespub import redact
from seriespub.errors import ConfigError, PermanentSendError
from seriespub.message import UNSUBSCRIBE_FIELD, PreparedMessage
from seriespub.models import Outcome, RecipientResult, SubscriberStatus, Suppression
from seriespub.providers import SPECS, ProviderContext
from seriespub.providers.base import Batch, ProviderBase
from seriespub.providers.http import at_once, make_client, request

SPEC = SPECS["mailgun"]

REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
TAG = "seriespub"
# Suppression list → the subscriber status it implies.
SUPPRESSION_LISTS = (
    ("unsubscribes", SubscriberStatus.UNSUBSCRIBED),
    ("bounces", SubscriberStatus.BOUNCED),
    ("complaints", SubscriberStatus.COMPLAINED),
)
PAGE_LIMIT = 1000
# Mailgun's own per-recipient unsubscribe link; substituted only while unsubscribe tracking
# is on. Variables: documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/
# tracking-unsubscribes ("%unsubscribe_url%: link to unsubscribe recipient from all messages
# sent by given domain"); Mailgun then adds List-Unsubscribe and List-Unsubscribe-Post
# itself: help.mailgun.com/hc/en-us/articles/203306610-Unsubscribe-Handling-Links.
MG_UNSUBSCRIBE = "%unsubscribe_url%"
# The per-message tracking switch. The Sending API has no unsubscribe-only option (only
# o:tracking, o:tracking-clicks, o:tracking-opens, o:tracking-pixel-location-top: mailgun/
# mailgun-java `model/message/Message.java`, mailgun/documentation `source/api-sending.rst`);
# mailgun/mailgun-go `messages.go` (SetTracking) documents that o:tracking covers
# "opens, clicks, unsubscribes". Clicks and opens stay as the domain has them.
MANAGED_OPTIONS = (("o:tracking", "yes"),)


class MailgunProvider(ProviderBase, spec=SPEC):
    """Sends a batch as one Mailgun batch message; one queued id covers every recipient."""

    def __init__(
        self, client: httpx.Client, base_url: str, domain: str, managed: bool = False
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.domain = domain
        self.managed = managed
        self._checked = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MailgunProvider(base_url={self.base_url!r}, domain={self.domain!r})"

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """One request for the whole batch; Mailgun answers with a single queued id."""
        if self.managed:
            self._check_unsubscribe_tracking()
        content_type, body = multipart(build_form(batch, managed=self.managed))
        response = request(
            self.client,
            "POST",
            f"{self.base_url}/v3/{self.domain}/messages",
            provider=self.name,
            content=body,
            headers={"Content-Type": content_type},
        )
        message_id = str(response.json().get("id", ""))
        return [RecipientResult(r.email, Outcome.SENT, message_id) for r in batch.recipients]

    def suppressions(self) -> list[Suppression]:
        """Unsubscribes, bounces and complaints of the sending domain, all pages."""
        found: list[Suppression] = []
        urls = [f"{self.base_url}/v3/{self.domain}/{name}" for name, _ in SUPPRESSION_LISTS]
        lists = at_once(lambda url: list(self._pages(url)), urls)  # together, not in turn
        for (list_name, status), items in zip(SUPPRESSION_LISTS, lists, strict=True):
            for item in items:
                if list_name == "unsubscribes" and not _unsubscribed_from_us(item):
                    continue
                found.append(Suppression(str(item["address"]), status, _reason(item)))
        return found

    def _pages(self, url: str) -> Iterator[dict[str, Any]]:
        """Follow `paging.next` until a page comes back empty."""
        next_url: str | None = url
        params: dict[str, Any] | None = {"limit": PAGE_LIMIT}
        seen: set[str] = set()
        while next_url and next_url not in seen:
            seen.add(next_url)
            body = request(self.client, "GET", next_url, provider=self.name, params=params).json()
            items = body.get("items") or []
            if not items:
                return
            yield from items
            next_url = (body.get("paging") or {}).get("next")
            params = None

    def _check_unsubscribe_tracking(self) -> None:
        """Once: refuse to send with `%unsubscribe_url%` if the domain will not fill it in."""
        with self._lock:
            if self._checked:
                return
            url = f"{self.base_url}/v3/domains/{self.domain}/tracking"
            try:
                body = request(self.client, "GET", url, provider=self.name).json()
            except PermanentSendError as exc:
                if exc.status == 404:
                    raise ConfigError(
                        f"Mailgun has no domain '{self.domain}'",
                        hint="check delivery.mailgun.domain",
                    ) from None
                raise
            tracking = (body.get("tracking") or {}).get("unsubscribe") or {}
            if tracking.get("active") is not True:
                raise ConfigError(
                    f"unsubscribe tracking is off for the Mailgun domain '{self.domain}', so "
                    "Mailgun would not fill in %unsubscribe_url%",
                    hint="turn on Unsubscribes under the domain's Tracking settings in "
                    'Mailgun, or set unsubscribe = "own" under [delivery.mailgun]',
                )
            self._checked = True

    def close(self) -> None:
        self.client.close()


def build_form(batch: Batch, *, managed: bool = False) -> list[tuple[str, str]]:
    """The multipart form fields for one batch (repeated `to` and `o:tag`)."""
    message = batch.message
    fields = [("from", message.from_header), ("subject", message.subject)]
    fields += [("to", r.envelope) for r in batch.recipients]  # IDN domains as A-labels
    fields += [
        ("html", message.html.with_tokens(_token(message, "h", managed))),
        ("text", message.text.with_tokens(_token(message, "t", managed))),
        ("recipient-variables", json.dumps(recipient_variables(batch, managed=managed))),
        ("v:seriespub-batch", batch.key),
        ("o:tag", TAG),
        ("o:tag", f"part-{message.number}"),
    ]
    if message.reply_to:
        fields.append(("h:Reply-To", message.reply_to))
    fields.append(("h:List-Id", message.list_id_header))
    fields += list(MANAGED_OPTIONS) if managed else _unsubscribe_fields(batch)
    if batch.send_at is not None:
        fields.append(("o:deliverytime", rfc2822(batch.send_at)))
    return fields


def multipart(fields: list[tuple[str, str]]) -> tuple[str, bytes]:
    """The fields as one multipart/form-data body (RFC 7578), repeated names in order: its
    Content-Type and its bytes. Built in one piece: httpx's multipart writer sends each of a
    thousand `to` fields as its own write (a quarter of a Mailgun send's CPU)."""
    values = [(name, value.encode()) for name, value in fields]
    boundary = uuid.uuid4().hex
    while any(boundary.encode() in value for _, value in values):  # never, but cheap to check
        boundary = uuid.uuid4().hex
    dash = b"--" + boundary.encode()
    parts = [
        b'%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (dash, name.encode("ascii"), value)
        for name, value in values
    ]
    parts.append(dash + b"--\r\n")
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def _token(message: PreparedMessage, part: str, managed: bool) -> Callable[[int], str]:
    """Slot i → its recipient variable; with managed unsubscribes the unsubscribe slot is
    Mailgun's own variable, written straight into the body rather than passed as a recipient
    variable's value (nothing documents a second substitution pass over those values)."""
    unsubscribe = _unsubscribe_slots(message) if managed else frozenset()

    def token(i: int) -> str:
        return MG_UNSUBSCRIBE if i in unsubscribe else f"%recipient.sp{i}{part}%"

    return token


def _unsubscribe_slots(message: PreparedMessage) -> frozenset[int]:
    return frozenset(i for i, s in enumerate(message.slots) if s.field == UNSUBSCRIBE_FIELD)


def recipient_variables(batch: Batch, *, managed: bool = False) -> dict[str, dict[str, str]]:
    """Per address: every slot value twice (escaped for HTML, raw for text) and the unsub URL;
    with managed unsubscribes, neither the unsubscribe slot nor our URL."""
    skip = _unsubscribe_slots(batch.message) if managed else frozenset()
    variables: dict[str, dict[str, str]] = {}
    for recipient in batch.recipients:
        values = batch.message.slot_values(recipient)
        mine = {f"sp{i}h": html.escape(v) for i, v in enumerate(values) if i not in skip}
        mine.update({f"sp{i}t": v for i, v in enumerate(values) if i not in skip})
        if not managed:
            header = dict(batch.message.list_unsubscribe_headers(recipient))["List-Unsubscribe"]
            mine["unsub"] = header.strip("<>")
        variables[recipient.envelope] = mine  # keyed as "to" names them
    return variables


def _unsubscribe_fields(batch: Batch) -> list[tuple[str, str]]:
    # Every recipient of an instalment has the same header names; only the URL differs.
    names = dict(batch.message.list_unsubscribe_headers(batch.recipients[0]))
    fields = [("h:List-Unsubscribe", "<%recipient.unsub%>")]
    if "List-Unsubscribe-Post" in names:
        fields.append(("h:List-Unsubscribe-Post", names["List-Unsubscribe-Post"]))
    return fields


def rfc2822(when: dt.datetime) -> str:
    """`Thu, 13 Oct 2011 18:02:00 +0000`, the form `o:deliverytime` takes."""
    if when.tzinfo is None:
        raise PermanentSendError("scheduled time has no time zone", provider="mailgun")
    return email.utils.format_datetime(when.astimezone(dt.UTC))


def _unsubscribed_from_us(item: dict[str, Any]) -> bool:
    """A tag-specific unsubscribe only blocks mail with that tag; `*` blocks everything."""
    tags = item.get("tags") or []
    return not tags or "*" in tags or TAG in tags


def _reason(item: dict[str, Any]) -> str:
    parts = [str(item[k]) for k in ("code", "error") if item.get(k)]
    return " ".join(parts) or str(item.get("created_at", ""))


def base_url_for(region: str, api_url: str | None) -> str:
    if api_url:
        return api_url
    if region not in REGIONS:
        raise ConfigError(f"'delivery.mailgun.region' must be one of us, eu, not {region!r}")
    return REGIONS[region]


def create(context: ProviderContext) -> MailgunProvider:
    settings = context.settings.delivery
    mailgun = settings.mailgun
    if not mailgun.domain:
        raise ConfigError(
            "'delivery.mailgun.domain' is not set: the mailgun provider needs the sending domain",
            hint='add domain = "mg.example.com" under [delivery.mailgun] in seriespub.toml',
        )
    key = context.secrets.require("MAILGUN_API_KEY", "the mailgun provider")
    redact.register_basic_auth("api", key.reveal())  # a gateway may echo the header
    client = make_client(
        settings.timeout, context.http_transport, auth=httpx.BasicAuth("api", key.reveal())
    )
    return MailgunProvider(
        client,
        base_url_for(mailgun.region, mailgun.api_url),
        mailgun.domain,
        managed=mailgun.unsubscribe == "mailgun",
    )
