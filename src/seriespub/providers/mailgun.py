"""Mailgun: one `POST /v3/{domain}/messages` per batch, personalised with recipient-variables.

Each slot becomes a recipient variable (`sp{i}h` HTML-escaped for the HTML part, `sp{i}t`
raw for the text part); because `recipient-variables` is present, Mailgun sends every
address its own message. Mailgun has no server-side idempotency, so `can_settle` is False.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
from collections.abc import Iterator
from typing import Any

import httpx

from seriespub.errors import ConfigError, PermanentSendError
from seriespub.models import Outcome, RecipientResult, SubscriberStatus, Suppression
from seriespub.providers import ProviderContext
from seriespub.providers.base import Batch, ProviderBase
from seriespub.providers.http import make_client, request

REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
TAG = "seriespub"
# Suppression list → the subscriber status it implies.
SUPPRESSION_LISTS = (("unsubscribes", SubscriberStatus.UNSUBSCRIBED),
                     ("bounces", SubscriberStatus.BOUNCED),
                     ("complaints", SubscriberStatus.COMPLAINED))
PAGE_LIMIT = 1000


class MailgunProvider(ProviderBase):
    """Sends a batch as one Mailgun batch message; one queued id covers every recipient."""

    name = "mailgun"
    max_batch = 1000
    can_settle = False
    max_schedule_ahead = dt.timedelta(days=3)

    def __init__(self, client: httpx.Client, base_url: str, domain: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.domain = domain

    def __repr__(self) -> str:
        return f"MailgunProvider(base_url={self.base_url!r}, domain={self.domain!r})"

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """One request for the whole batch; Mailgun answers with a single queued id."""
        response = request(self.client, "POST", f"{self.base_url}/v3/{self.domain}/messages",
                           provider=self.name, files=_multipart(build_form(batch)))
        message_id = str(response.json().get("id", ""))
        return [RecipientResult(r.email, Outcome.SENT, message_id) for r in batch.recipients]

    def suppressions(self) -> list[Suppression]:
        """Unsubscribes, bounces and complaints of the sending domain, all pages."""
        found: list[Suppression] = []
        for list_name, status in SUPPRESSION_LISTS:
            for item in self._pages(f"{self.base_url}/v3/{self.domain}/{list_name}"):
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
            body = request(self.client, "GET", next_url, provider=self.name,
                           params=params).json()
            items = body.get("items") or []
            if not items:
                return
            yield from items
            next_url = (body.get("paging") or {}).get("next")
            params = None

    def close(self) -> None:
        self.client.close()


def build_form(batch: Batch) -> list[tuple[str, str]]:
    """The multipart form fields for one batch (repeated `to` and `o:tag`)."""
    message = batch.message
    fields = [("from", message.from_header), ("subject", message.subject)]
    fields += [("to", r.email) for r in batch.recipients]
    fields += [("html", message.html.with_tokens(lambda i: f"%recipient.sp{i}h%")),
               ("text", message.text.with_tokens(lambda i: f"%recipient.sp{i}t%")),
               ("recipient-variables", json.dumps(recipient_variables(batch))),
               ("v:seriespub-batch", batch.key),
               ("o:tag", TAG), ("o:tag", f"part-{message.number}")]
    if message.reply_to:
        fields.append(("h:Reply-To", message.reply_to))
    fields += _unsubscribe_fields(batch)
    if batch.send_at is not None:
        fields.append(("o:deliverytime", rfc2822(batch.send_at)))
    return fields


def _multipart(fields: list[tuple[str, str]]) -> list[tuple[str, tuple[None, str]]]:
    """Plain multipart form fields (no file name); keeps repeated names and their order."""
    return [(name, (None, value)) for name, value in fields]


def recipient_variables(batch: Batch) -> dict[str, dict[str, str]]:
    """Per address: every slot value twice (escaped for HTML, raw for text) and the unsub URL."""
    variables: dict[str, dict[str, str]] = {}
    for recipient in batch.recipients:
        values = batch.message.slot_values(recipient)
        mine = {f"sp{i}h": html.escape(v) for i, v in enumerate(values)}
        mine.update({f"sp{i}t": v for i, v in enumerate(values)})
        header = dict(batch.message.list_unsubscribe_headers(recipient))["List-Unsubscribe"]
        mine["unsub"] = header.strip("<>")
        variables[recipient.email] = mine
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
        raise ConfigError("'delivery.mailgun.domain' is not set: the mailgun provider needs "
                          "the sending domain", hint='add domain = "mg.example.com" under '
                          "[delivery.mailgun] in seriespub.toml")
    key = context.secrets.require("MAILGUN_API_KEY", "the mailgun provider")
    client = make_client(settings.timeout, context.http_transport,
                         auth=httpx.BasicAuth("api", key.reveal()))
    return MailgunProvider(client, base_url_for(mailgun.region, mailgun.api_url), mailgun.domain)
