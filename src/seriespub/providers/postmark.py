"""Postmark: `POST /email/batch`, one message per reader, up to 500 messages and 50 MB a call.

The JSON body is built from pieces: each literal segment of the HTML and text parts is
JSON-escaped once per instalment, and per reader only their (escaped) slot values are
joined in. That keeps a 500 × 40 KB batch to a few string joins instead of 500 dumps.

Each message's metadata carries its delivery id and its batch's key, and its tag is its part's
(`part-N`): settling a batch whose answer was lost (a kill, a timeout) is one outbound search
for the batch's key. The readers that one does not find (they may have had the part in another
batch; a batch killed before its request reached Postmark finds none) are found in one listing
of the part's tag, 500 messages a search, when that takes fewer searches than one search by
delivery id a reader (Postmark's search has no query for many ids at once, and lists at most
10,000 messages: a part tag beyond that, on a server other series share too, is searched
reader by reader). Only readers another batch may have carried are looked for at all: one the
ledger records in no other batch of the part, and whom the batch's search did not find, was
not sent (once one such reader's own lookup has shown that a batch found empty is not an
older seriespub's, whose messages carried no batch key).

On a stream where Postmark manages unsubscribes (Broadcasts), the unsubscribe slot becomes
Postmark's `{{{ pm:unsubscribe }}}` and our own List-Unsubscribe headers are left out;
Postmark adds its own and will not let them be edited.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html import escape

# The C escaper without dumps' setup. ASCII-only JSON (\u escapes): no charset questions on
# the way, and parsers read pure-ASCII text fastest.
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import httpx

from seriespub.config import PostmarkSettings, Secret
from seriespub.errors import (
    AmbiguousSendError,
    ConfigError,
    PermanentSendError,
    SendError,
)
from seriespub.message import (
    ONE_CLICK,
    UNSUBSCRIBE_FIELD,
    PreparedMessage,
    SlottedText,
    html_special,
)
from seriespub.models import (
    Outcome,
    Recipient,
    RecipientResult,
    SubscriberStatus,
    Suppression,
)
from seriespub.providers import SPECS, ProviderContext
from seriespub.providers.base import Batch, ProviderBase, with_account
from seriespub.providers.http import make_client, request

SPEC = SPECS["postmark"]
NAME = SPEC.name
MAX_MESSAGES = SPEC.max_batch
MAX_REQUEST_BYTES = 50 * 1000 * 1000  # Postmark counts "50 MB"; stay under the decimal MB
PM_UNSUBSCRIBE = "{{{ pm:unsubscribe }}}"
METADATA_KEY = "seriespub_delivery"
BATCH_METADATA_KEY = "seriespub_batch"  # Postmark allows keys of up to 20 characters
SEARCH_PAGE = 500  # Postmark's most per search; count + offset may not pass 10,000
SEARCH_LIMIT = 10_000
TRANSIENT_CODES = frozenset({100, 429})  # maintenance, rate limit: worth sending again
SETTLE_THREADS = 4
CHUNK = 1 << 18  # bytes per socket write of a batch body


def _js(value: str) -> bytes:
    """`value` as the inside of a JSON string literal (ASCII)."""
    return _quote(value)[1:-1].encode("ascii")


def _jv(value: str) -> bytes:
    """`value` as a JSON string (ASCII)."""
    return _quote(value).encode("ascii")


class _Part:
    """One body part with its literals JSON-escaped and encoded once."""

    def __init__(self, text: SlottedText) -> None:
        self.literals = [_js(lit) for lit in text.literals]
        self.slot_ids = text.slot_ids

    def extend(self, out: list[bytes], values: Sequence[bytes]) -> None:
        out.append(self.literals[0])
        for slot_id, literal in zip(self.slot_ids, self.literals[1:], strict=True):
            out.append(values[slot_id])
            out.append(literal)


class _Template:
    """An instalment pre-encoded as Postmark batch JSON, minus what differs per reader."""

    def __init__(self, message: PreparedMessage, stream: str, managed: bool, test: bool) -> None:
        head = {
            "From": message.from_header,
            "Subject": message.subject,
            "MessageStream": stream,
            "Tag": f"part-{message.number}",
        }
        if message.reply_to:
            head["ReplyTo"] = message.reply_to
        self.message = message
        self.managed = managed
        self.head = json.dumps(head).encode("ascii")[:-1] + b',"To":'
        self.html = _Part(message.html)
        self.text = _Part(message.text)
        self.overrides = {UNSUBSCRIBE_FIELD: PM_UNSUBSCRIBE} if managed else None
        self.list_id = _header("List-Id", message.list_id_header)

    def encode(self, recipient: Recipient, batch_tag: bytes) -> list[bytes]:
        """One message object of the batch array, as pieces of UTF-8 JSON; `batch_tag`:
        the metadata entry naming its batch (`_batch_tag`)."""
        values = self.message.slot_values(recipient, self.overrides)
        # A value with nothing to escape in HTML (most: names, URLs) is quoted once for both.
        html, text = [], []
        for v in values:
            quoted = _js(v)
            html.append(quoted if html_special(v) is None else _js(escape(v)))
            text.append(quoted)
        out = [self.head, _jv(self.message.to_header(recipient)), b',"HtmlBody":"']
        self.html.extend(out, html)
        out.append(b'","TextBody":"')
        self.text.extend(out, text)
        out += (_METADATA, _jv(recipient.delivery_id), batch_tag)
        if self.managed:  # Postmark writes the list headers itself and lets no one edit them
            out.append(b"}}")
            return out
        out += (b'},"Headers":[', self.list_id)
        url = recipient.unsubscribe_url
        if url:  # list_unsubscribe_headers' one-click pair, its fixed parts encoded once
            out += (_LIST_UNSUBSCRIBE, _jv(f"<{url}>"), _ONE_CLICK)
            return out
        headers = self.message.list_unsubscribe_headers(recipient)
        out.append(b"".join([b"," + _header(k, v) for k, v in headers]))
        out.append(b"]}")
        return out


def _header(name: str, value: str) -> bytes:
    return b'{"Name":' + _jv(name) + b',"Value":' + _jv(value) + b"}"


_METADATA = b'","Metadata":{"' + METADATA_KEY.encode() + b'":'
_LIST_UNSUBSCRIBE = b',{"Name":' + _jv("List-Unsubscribe") + b',"Value":'
_ONE_CLICK = b"}," + _header("List-Unsubscribe-Post", ONE_CLICK) + b"]}"


def _batch_tag(batch: Batch) -> bytes:
    """The metadata entry naming the batch the ledger recorded (a retry's messages are
    found with its batch's own)."""
    return b',"' + BATCH_METADATA_KEY.encode() + b'":' + _jv(batch.ledger_key)


@dataclass
class _Request:
    """One batch request body, kept as pieces: (messages, bytes, pieces)."""

    count: int = 0
    size: int = 2
    pieces: list[bytes] = field(default_factory=lambda: [b"["])

    def stream(self) -> Iterator[bytes]:
        """The body in chunks of about CHUNK bytes: few socket writes, little extra memory."""
        chunk: list[bytes] = []
        size = 0
        for piece in self.pieces:
            chunk.append(piece)
            size += len(piece)
            if size >= CHUNK:
                yield b"".join(chunk)
                chunk, size = [], 0
        chunk.append(b"]")
        yield b"".join(chunk)


def _requests(messages: list[list[bytes]], limit: int) -> Iterator[_Request]:
    """Group encoded messages into request bodies of at most `limit` bytes. A message's
    pieces go into the body as they are: `stream` joins them once, into socket-sized chunks
    (joining each message first would copy every byte twice)."""
    current = _Request()
    for message in messages:
        length = sum(map(len, message)) + 1  # with the comma before it
        if current.count and current.size + length > limit:
            yield current
            current = _Request()
        if current.count:
            current.pieces.append(b",")
            current.size += 1
        current.pieces += message
        current.size += length - 1
        current.count += 1
    yield current


def _error_message(response: httpx.Response) -> str:
    body = response.json()
    if isinstance(body, dict) and "ErrorCode" in body:
        return f"ErrorCode {body['ErrorCode']}: {body.get('Message', '')}"
    return ""


def _inactive_status(reason: str) -> SubscriberStatus:
    """What a 406 says about the reader; Postmark's stock text names all three causes."""
    if "SpamComplaint" in reason:
        return SubscriberStatus.COMPLAINED
    if "ManualSuppression" in reason or "unsubscribe" in reason.lower():
        return SubscriberStatus.UNSUBSCRIBED
    return SubscriberStatus.BOUNCED


def _not_found(recipient: Recipient) -> RecipientResult:
    return RecipientResult(
        recipient.email, Outcome.TRANSIENT, reason="not found in Postmark's outbound messages"
    )


def _result(recipient: Recipient, entry: Any) -> RecipientResult:
    """One entry of the batch answer → our result for that reader."""
    if not isinstance(entry, dict):
        return RecipientResult(recipient.email, Outcome.TRANSIENT, reason="no result entry")
    code = entry.get("ErrorCode")
    reason = str(entry.get("Message") or "")
    message_id = str(entry.get("MessageID") or "")
    if code == 0:
        return RecipientResult(recipient.email, Outcome.SENT, message_id)
    text = f"ErrorCode {code}: {reason}"
    if code in TRANSIENT_CODES:
        return RecipientResult(recipient.email, Outcome.TRANSIENT, reason=text)
    status = _inactive_status(reason) if code == 406 else None
    return RecipientResult(recipient.email, Outcome.FAILED, message_id, text, status)


_SUPPRESSION_STATUS = {
    "SpamComplaint": SubscriberStatus.COMPLAINED,
    "HardBounce": SubscriberStatus.BOUNCED,
    "ManualSuppression": SubscriberStatus.UNSUBSCRIBED,
}


class PostmarkProvider(ProviderBase, spec=SPEC):
    """Postmark's batch API over one shared httpx client."""

    def __init__(
        self,
        settings: PostmarkSettings,
        token: Secret,
        client: httpx.Client,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.settings = settings
        self.client = client
        self.max_request_bytes = max_request_bytes
        self.settle_after = dt.timedelta(seconds=settings.settle_delay)
        # Settling searches one stream of one server (the token's): a batch is found only
        # along its own.
        self.route = with_account(f"{settings.api_url} stream {settings.message_stream}", token)
        self._token = token
        self._lock = threading.Lock()
        self._managed: bool | None = None
        self._templates: dict[tuple[int, bool], _Template] = {}

    def __repr__(self) -> str:
        return f"PostmarkProvider(stream={self.settings.message_stream!r})"

    # -- sending -------------------------------------------------------------------------

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        if batch.send_at is not None:
            raise PermanentSendError("Postmark cannot schedule sends", provider=NAME)
        template = self._template(batch.message, batch.test)
        tag = _batch_tag(batch)
        encoded = [template.encode(r, tag) for r in batch.recipients]
        results: list[RecipientResult] = []
        for body in _requests(encoded, self.max_request_bytes):
            recipients = batch.recipients[len(results) : len(results) + body.count]
            try:
                results += self._post_chunk(body, recipients, done=results)
            except AmbiguousSendError as exc:
                if not results:
                    raise  # nothing is known: the whole batch is in doubt
                # This chunk may have gone out; the ones after it were not tried, but are
                # settled with it (one question to Postmark for all the doubtful).
                doubt = batch.recipients[len(results) :]
                return results + [
                    RecipientResult(r.email, Outcome.UNKNOWN, "", exc.reason) for r in doubt
                ]
        return results

    def _post_chunk(
        self, body: _Request, recipients: Sequence[Recipient], done: list[RecipientResult]
    ) -> list[RecipientResult]:
        """Post one request. Once an earlier chunk has gone out (`done`), a clear failure
        becomes per-reader results, so the core does not resend that chunk; an unknown
        outcome still raises (`send_batch` turns it into unknown results after `done`)."""
        try:
            return self._post(body, recipients)
        except AmbiguousSendError:
            raise
        except SendError as exc:
            if not done:
                raise
            outcome = Outcome.FAILED if isinstance(exc, PermanentSendError) else Outcome.TRANSIENT
            return [RecipientResult(r.email, outcome, reason=str(exc)) for r in recipients]

    def _post(self, body: _Request, recipients: Sequence[Recipient]) -> list[RecipientResult]:
        # Streamed with an explicit length: no chunked encoding, and no 25 MB join.
        response = self._request(
            "POST",
            "/email/batch",
            content=body.stream(),
            headers={"Content-Type": "application/json", "Content-Length": str(body.size)},
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, list) or len(answer) != len(recipients):
            raise AmbiguousSendError(
                "the batch answer does not list one result per message",
                provider=NAME,
                status=response.status_code,
            )
        return [_result(r, entry) for r, entry in zip(recipients, answer, strict=True)]

    def _template(self, message: PreparedMessage, test: bool) -> _Template:
        key = (id(message), test)
        with self._lock:
            template = self._templates.get(key)
        if template is None or template.message is not message:
            template = _Template(
                message, self.settings.message_stream, self._stream_managed(), test
            )
            with self._lock:
                if len(self._templates) > 8:
                    self._templates.clear()
                self._templates[key] = template
        return template

    def _stream_managed(self) -> bool:
        """Whether Postmark handles unsubscribes on our stream (asked once)."""
        if self._managed is None:
            stream = self.settings.message_stream
            try:
                info = self._request("GET", f"/message-streams/{stream}").json()
            except PermanentSendError as exc:
                if exc.status == 404:
                    raise ConfigError(
                        f"Postmark has no message stream '{stream}'",
                        hint="check delivery.postmark.message_stream",
                    ) from None
                raise
            config = info.get("SubscriptionManagementConfiguration") or {}
            self._managed = config.get("UnsubscribeHandlingType") == "Postmark"
        return self._managed

    # -- settling, suppressions ----------------------------------------------------------

    def settle(self, batch: Batch) -> list[RecipientResult]:
        """What became of `batch`: one search for its key, then the readers it did not find
        (see the module docstring)."""
        found = self._listed({f"metadata_{BATCH_METADATA_KEY}": batch.ledger_key})[0]
        missing = [r for r in batch.recipients if r.delivery_id not in found]
        if self._only_here_unsent(batch, found, missing):
            missing = [r for r in missing if r.email.lower() not in batch.never_elsewhere]
        part = self._sent_of_part(batch.message.number, len(missing)) if len(missing) > 1 else None
        looked_up: dict[str, RecipientResult] = {}
        if part is not None:  # every message of the part: a reader not in it was not sent
            found = {**part, **found}
        elif missing:
            with ThreadPoolExecutor(SETTLE_THREADS) as pool:
                results = pool.map(self._settle_one, missing)
                looked_up = {
                    r.delivery_id: result for r, result in zip(missing, results, strict=True)
                }
        return [
            RecipientResult(r.email, Outcome.SENT, found[r.delivery_id])
            if r.delivery_id in found
            else looked_up.get(r.delivery_id) or _not_found(r)
            for r in batch.recipients
        ]

    def _only_here_unsent(
        self, batch: Batch, found: dict[str, str], missing: list[Recipient]
    ) -> bool:
        """Whether the missing readers no other batch carried (`Batch.never_elsewhere`) can
        be taken as not sent without a search each: they could have had the part in this
        batch only, and its search did not find them. When it found nothing at all, one of
        them is looked up first: a batch an older seriespub sent had no key in its metadata,
        and its search finds nothing though it went out."""
        alone = [r for r in missing if r.email.lower() in batch.never_elsewhere]
        if not alone:
            return False
        return bool(found) or self._settle_one(alone[0]).outcome is not Outcome.SENT

    def _sent_of_part(self, number: int, readers: int) -> dict[str, str] | None:
        """Delivery id → MessageID of every message tagged as part `number` on this stream
        (every series' part `number` on this server), when listing them all takes fewer
        searches than looking `readers` readers up one by one; else None."""
        query = {"tag": f"part-{number}"}
        first, total = self._listed(query, max_pages=1)
        if total <= SEARCH_PAGE:
            return first
        if total > SEARCH_LIMIT or -(-total // SEARCH_PAGE) - 1 >= readers:
            return None
        return {**self._listed(query, start=SEARCH_PAGE)[0], **first}

    def _listed(
        self, query: dict[str, str], start: int = 0, max_pages: int | None = None
    ) -> tuple[dict[str, str], int]:
        """Delivery id → MessageID of the messages `query` finds, from the `start`th, and
        how many it finds in all (Postmark lists the first 10,000)."""
        found: dict[str, str] = {}
        offset, pages, total = start, 0, 0
        while offset + SEARCH_PAGE <= SEARCH_LIMIT and (max_pages is None or pages < max_pages):
            page = self._search(query, offset)
            messages = page.get("Messages") or []
            total, pages = int(page.get("TotalCount") or 0), pages + 1
            for message in messages:
                delivery = (message.get("Metadata") or {}).get(METADATA_KEY)
                if delivery:
                    found.setdefault(str(delivery), str(message.get("MessageID", "")))
            offset += SEARCH_PAGE
            if len(messages) < SEARCH_PAGE or offset >= total:
                break
        return found, total

    def _search(self, query: dict[str, str], offset: int = 0) -> dict[str, Any]:
        params = {
            "count": SEARCH_PAGE,
            "offset": offset,
            **query,
            "messagestream": self.settings.message_stream,
        }
        response = self._request("GET", "/messages/outbound", params=params)
        try:
            page = response.json()
        except ValueError:
            page = None
        # Read as "found nothing", a garbled answer would resend the batch: it is an error,
        # and the batch becomes unknown for the author to decide.
        if (
            not isinstance(page, dict)
            or not isinstance(page.get("Messages") or [], list)
            or not isinstance(page.get("TotalCount") or 0, int)
        ):
            raise AmbiguousSendError(
                "Postmark's outbound search answered with no message list",
                provider=NAME,
                status=response.status_code,
            )
        return page

    def _settle_one(self, recipient: Recipient) -> RecipientResult:
        found = self._search({f"metadata_{METADATA_KEY}": recipient.delivery_id})
        messages = found.get("Messages") or []
        if messages:
            return RecipientResult(
                recipient.email, Outcome.SENT, str(messages[0].get("MessageID", ""))
            )
        return _not_found(recipient)

    def suppressions(self) -> list[Suppression]:
        stream = self.settings.message_stream
        dump = self._request("GET", f"/message-streams/{stream}/suppressions/dump").json()
        out = []
        for entry in dump.get("Suppressions") or []:
            reason = str(entry.get("SuppressionReason", ""))
            status = _SUPPRESSION_STATUS.get(reason, SubscriberStatus.BOUNCED)
            out.append(
                Suppression(
                    str(entry["EmailAddress"]), status, f"{reason} ({entry.get('Origin', '?')})"
                )
            )
        return out

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Postmark-Server-Token": self._token.reveal(), **kwargs.pop("headers", {})}
        try:
            return request(
                self.client,
                method,
                path,
                provider=NAME,
                error_message=_error_message,
                headers=headers,
                **kwargs,
            )
        except PermanentSendError as exc:
            if exc.status == 401:
                exc.hint = "check POSTMARK_SERVER_TOKEN (a Server API token, not an Account one)"
            raise


def create(context: ProviderContext) -> PostmarkProvider:
    """Build the adapter from `[delivery.postmark]` and POSTMARK_SERVER_TOKEN."""
    settings = context.settings.delivery.postmark
    token = context.secrets.require("POSTMARK_SERVER_TOKEN", "the postmark provider")
    client = make_client(
        context.settings.delivery.timeout, context.http_transport, base_url=settings.api_url
    )
    return PostmarkProvider(settings, token, client)
