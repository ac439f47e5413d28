"""Resend: `POST /emails/batch` (≤100) under an `Idempotency-Key` derived from the batch key.

Resend replays the original answer for a repeated key within 24 h and sends nothing new, so
an ambiguous batch is settled by sending the identical request again. Scheduled sends go
one `POST /emails` per recipient, since the batch endpoint takes no `scheduled_at`.

Suppressions come from the team-wide `GET /suppressions` (hard bounces, complaints, manual
entries) and `GET /contacts` (contacts marked `unsubscribed`), both paged with
`limit`/`after`; neither needs an audience id. Reading them needs a full-access API key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Generator, Iterator, Sequence
from html import escape

# The C escaper, non-ASCII kept: the form httpx's json= sends (and Resend has always had).
from json.encoder import encode_basestring as _quote
from typing import Any

import httpx

from seriespub.config import Secret
from seriespub.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RateLimited,
    SendError,
    TransientSendError,
)
from seriespub.message import PreparedMessage
from seriespub.models import Outcome, Recipient, RecipientResult, SubscriberStatus, Suppression
from seriespub.providers import SPECS, ProviderContext
from seriespub.providers.base import Batch, ProviderBase, with_account
from seriespub.providers.http import at_once, make_client, request

SPEC = SPECS["resend"]

MAX_KEY = 256
QUOTA_ERRORS = frozenset({"daily_quota_exceeded", "monthly_quota_exceeded"})
QUOTA_WAIT = 24 * 3600.0  # a quota does not come back within any retry window
PART_TAG = "seriespub_part"
PAGE_LIMIT = 100  # the maximum `limit` of Resend's paginated list endpoints
# `origin` of a suppression → what it says about the reader (resend.com/docs/dashboard/
# emails/email-suppressions: bounce, complaint, manual).
SUPPRESSION_ORIGINS = {
    "bounce": SubscriberStatus.BOUNCED,
    "complaint": SubscriberStatus.COMPLAINED,
    "manual": SubscriberStatus.UNSUBSCRIBED,
}


class ResendProvider(ProviderBase, spec=SPEC):
    """One batch request per batch; errored indexes (permissive mode) fail alone."""

    # Resend keeps idempotency keys for 24 h; leave a margin for clock skew.
    settle_within: dt.timedelta | None = dt.timedelta(hours=23)

    def __init__(self, client: httpx.Client, base_url: str, key: Secret | None = None) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        # Idempotency keys are kept per API and team: replayed where sent, with its key.
        self.route = self.base_url if key is None else with_account(self.base_url, key)

    def __repr__(self) -> str:
        return f"ResendProvider(base_url={self.base_url!r})"

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        if batch.send_at is not None:
            return self._send_scheduled(batch)
        headers = {
            "Idempotency-Key": idempotency_key(batch.key),
            "x-batch-validation": "permissive",
        }
        emails = Emails(batch.message)
        body = self._post(
            "/emails/batch",
            headers,
            ("[" + ",".join([emails.encode(r) for r in batch.recipients]) + "]").encode(),
        )
        return batch_results(batch.recipients, body)

    def settle(self, batch: Batch) -> list[RecipientResult] | None:
        """Replay the identical request: Resend answers from its record, sending nothing new.
        Its refusal (a message changed since: another payload) is raised, for the reason."""
        return self.send_batch(batch)

    def cancel_scheduled(self, batch_key: str, message_ids: Sequence[str]) -> None:
        """Cancel each scheduled email of one batch."""
        for message_id in message_ids:
            self._post(f"/emails/{message_id}/cancel", {})

    def suppressions(self) -> list[Suppression]:
        """Suppressed addresses and unsubscribed contacts of the team, all pages."""
        found = []
        suppressed, contacts = at_once(
            lambda path: list(self._pages(path)), ["/suppressions", "/contacts"]
        )
        for item in suppressed:
            origin = str(item.get("origin", ""))
            status = SUPPRESSION_ORIGINS.get(origin, SubscriberStatus.BOUNCED)
            found.append(Suppression(str(item["email"]), status, f"suppressed ({origin})"))
        for contact in contacts:
            if contact.get("unsubscribed") is True:
                found.append(
                    Suppression(
                        str(contact["email"]), SubscriberStatus.UNSUBSCRIBED, "unsubscribed contact"
                    )
                )
        return found

    def _pages(self, path: str) -> Iterator[dict[str, Any]]:
        """Cursor pages: `after` = the last id, while `has_more` (resend.com/docs/
        api-reference/pagination)."""
        after: str | None = None
        while True:
            params = {"limit": PAGE_LIMIT, **({"after": after} if after else {})}
            body = self._get(path, params)
            items = body.get("data") or []
            yield from items
            last = str(items[-1].get("id", "")) if items else ""
            if not body.get("has_more") or not last or last == after:
                return
            after = last

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        names: list[str] = []
        try:
            response = request(
                self.client,
                "GET",
                f"{self.base_url}{path}",
                provider=self.name,
                params=params,
                error_message=_error_reader(names),
            )
        except PermanentSendError as exc:
            if names and names[0] == "restricted_api_key":
                exc.hint = (
                    "RESEND_API_KEY may only send; reading suppressions needs a key "
                    "with Full access"
                )
            raise
        return response.json()

    def _send_scheduled(self, batch: Batch) -> list[RecipientResult]:
        """One `POST /emails` per recipient, each under its own idempotency key."""
        assert batch.send_at is not None
        scheduled = ',"scheduled_at":' + _quote(iso8601(batch.send_at))
        emails = Emails(batch.message)
        results: list[RecipientResult] = []
        for index, recipient in enumerate(batch.recipients):
            payload = emails.encode(recipient, scheduled).encode()
            key = idempotency_key(f"{batch.key}/{recipient.delivery_id}")
            try:
                body = self._post("/emails", {"Idempotency-Key": key}, payload)
            except AmbiguousSendError as exc:
                # Only this one is in doubt (settle replays it under the same key).
                doubt = RecipientResult(recipient.email, Outcome.UNKNOWN, "", exc.reason)
                rest = _transient(batch.recipients[index + 1 :], "not attempted")
                return [*results, doubt, *rest]
            except (PermanentSendError, TransientSendError) as exc:
                if exc.status == 422:  # this address or its payload was refused
                    results.append(RecipientResult(recipient.email, Outcome.FAILED, "", exc.reason))
                    continue
                if index == 0:
                    raise
                # Those before were accepted; the rest may go again under their own keys.
                return results + _transient(batch.recipients[index:], exc.reason)
            results.append(RecipientResult(recipient.email, Outcome.SENT, str(body.get("id"))))
        return results

    def _post(self, path: str, headers: dict[str, str], body: bytes | None = None) -> Any:
        """POST `body` (JSON text, or nothing)."""
        names: list[str] = []
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            response = request(
                self.client,
                "POST",
                f"{self.base_url}{path}",
                provider=self.name,
                content=body,
                headers=headers,
                error_message=_error_reader(names),
            )
        except SendError as exc:
            raise _reclassify(exc, names[0] if names else "") from None
        return response.json() if response.content else {}


class Emails:
    """An instalment's Resend email objects as JSON text, its fixed parts escaped once.

    Per reader only their own values are escaped and spliced in; a 100-email batch of a long
    instalment was otherwise mostly `json.dumps` of the same HTML a hundred times. The text
    is exactly what `json.dumps(email, ensure_ascii=False, separators=(",", ":"))` gives
    for the object below (httpx's own `json=` form), so an idempotent replay of a batch is
    byte for byte the request it repeats:

        {"from", "to": [address], "subject", "html", "text",
         "headers": {"List-Id", "List-Unsubscribe", …}, "tags": [{"name", "value"}],
         "reply_to"?}
    """

    def __init__(self, message: PreparedMessage) -> None:
        self.message = message
        self.html = [_inner(literal) for literal in message.html.literals]
        self.text = [_inner(literal) for literal in message.text.literals]
        self.head = '{"from":' + _quote(message.from_header) + ',"to":['
        self.subject = '],"subject":' + _quote(message.subject) + ',"html":"'
        self.list_id = '","headers":{"List-Id":' + _quote(message.list_id_header)
        tags = [{"name": PART_TAG, "value": str(message.number)}]
        self.tail = '},"tags":' + json.dumps(tags, ensure_ascii=False, separators=(",", ":"))
        if message.reply_to:
            self.tail += ',"reply_to":' + _quote(message.reply_to)

    def encode(self, recipient: Recipient, extra: str = "") -> str:
        """One email object; `extra` adds members at its end (`,"scheduled_at":…`)."""
        message = self.message
        values = message.slot_values(recipient)
        out = [self.head, _quote(recipient.envelope), self.subject]  # IDN domains as A-labels
        _fill(out, self.html, message.html.slot_ids, [_inner(escape(v)) for v in values])
        out.append('","text":"')
        _fill(out, self.text, message.text.slot_ids, [_inner(v) for v in values])
        out.append(self.list_id)
        out += [f",{_quote(k)}:{_quote(v)}" for k, v in message.list_unsubscribe_headers(recipient)]
        out += (self.tail, extra, "}")
        return "".join(out)


def _inner(value: str) -> str:
    """`value` as the inside of a JSON string, non-ASCII kept (the C escaper)."""
    return _quote(value)[1:-1]


def _fill(out: list[str], literals: list[str], slot_ids: Sequence[int], values: list[str]) -> None:
    out.append(literals[0])
    for slot_id, literal in zip(slot_ids, literals[1:], strict=True):
        out.append(values[slot_id])
        out.append(literal)


def batch_results(recipients: Sequence[Recipient], body: Any) -> list[RecipientResult]:
    """Map `data` (created emails only, in order) and `errors[{index, message}]` back."""
    errors = {int(e["index"]): str(e.get("message", "")) for e in body.get("errors") or []}
    ids = iter(body.get("data") or [])
    results = []
    for index, recipient in enumerate(recipients):
        if index in errors:
            results.append(RecipientResult(recipient.email, Outcome.FAILED, "", errors[index]))
            continue
        created = next(ids, None)
        if created is None:
            results.append(
                RecipientResult(
                    recipient.email, Outcome.TRANSIENT, "", "missing from Resend's answer"
                )
            )
        else:
            results.append(RecipientResult(recipient.email, Outcome.SENT, str(created["id"])))
    return results


def idempotency_key(seed: str) -> str:
    """A deterministic key of at most 256 characters; long seeds are hashed."""
    key = f"seriespub/{seed}"
    if len(key) <= MAX_KEY:
        return key
    return f"seriespub/sha256/{hashlib.sha256(seed.encode()).hexdigest()}"


def iso8601(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise PermanentSendError("scheduled time has no time zone", provider="resend")
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _error_reader(names: list[str]) -> Callable[[httpx.Response], str]:
    """Read Resend's `{statusCode, name, message}` envelope, keeping `name` aside."""

    def read(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        if not isinstance(body, dict):
            return ""
        names.append(str(body.get("name", "")))
        return f"{body.get('message', '')} ({body.get('name', '')})"

    return read


def _reclassify(exc: SendError, name: str) -> SendError:
    """Resend's error names refine the status: some 409s are retryable, quota 429s are not."""
    if name == "concurrent_idempotent_requests":
        return TransientSendError(
            exc.reason,
            provider=exc.provider,
            status=exc.status,
            hint="the same batch is still being processed; retry",
        )
    if name in QUOTA_ERRORS:
        return RateLimited(
            exc.reason, provider=exc.provider, status=exc.status, retry_after=QUOTA_WAIT
        )
    if name == "invalid_idempotent_request":
        return PermanentSendError(
            exc.reason,
            provider=exc.provider,
            status=exc.status,
            hint="the batch changed since it was first sent; the first version was delivered",
        )
    return exc


def _transient(recipients: Sequence[Recipient], reason: str) -> list[RecipientResult]:
    return [RecipientResult(r.email, Outcome.TRANSIENT, "", reason) for r in recipients]


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer …`, revealed only while a request is being built."""

    def __init__(self, key: Secret) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._key.reveal()}"
        yield request


def create(context: ProviderContext) -> ResendProvider:
    settings = context.settings.delivery
    key = context.secrets.require("RESEND_API_KEY", "the resend provider")
    client = make_client(settings.timeout, context.http_transport, auth=BearerAuth(key))
    return ResendProvider(client, settings.resend.api_url, key)
