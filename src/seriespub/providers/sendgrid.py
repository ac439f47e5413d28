"""SendGrid v3: one `POST /v3/mail/send` per batch, the content once, readers as substitutions.

Each slot i becomes `-sp{i}h-` in the HTML part and `-sp{i}t-` in the text part; every
personalization (one envelope = one message) carries its reader's values, HTML-escaped for
the HTML tokens. SendGrid answers a whole request at once (202 + X-Message-Id), so every
reader of an accepted batch gets that id. With `send_at` the batch also gets a SendGrid
batch id (from `POST /v3/mail/batch`), stored as each reader's message id so that
`cancel_scheduled` can withdraw it through `/v3/user/scheduled_sends`.
"""

from __future__ import annotations

import email.utils
import json
import threading
from collections.abc import Sequence
from html import escape
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import httpx

from seriespub.config import Secret, SendgridSettings
from seriespub.errors import PermanentSendError
from seriespub.message import ONE_CLICK, UNSUBSCRIBE_FIELD, PreparedMessage, html_special
from seriespub.models import (
    Outcome,
    Recipient,
    RecipientResult,
    SubscriberStatus,
    Suppression,
)
from seriespub.providers import SPECS, ProviderContext
from seriespub.providers.base import Batch, ProviderBase
from seriespub.providers.http import at_once, make_client, request

SPEC = SPECS["sendgrid"]
NAME = SPEC.name
MAX_PERSONALIZATIONS = SPEC.max_batch
ASM_UNSUBSCRIBE = "<%asm_group_unsubscribe_raw_url%>"
METADATA_KEY = "seriespub_delivery"
_ASM_OVERRIDES = {UNSUBSCRIBE_FIELD: ASM_UNSUBSCRIBE}
_LIST_UNSUBSCRIBE = _quote("List-Unsubscribe")
_ONE_CLICK = f"{_quote('List-Unsubscribe-Post')}:{_quote(ONE_CLICK)}"
PAGE = 500  # the suppression endpoints' largest page
SUPPRESSION_LISTS = (
    ("unsubscribes", SubscriberStatus.UNSUBSCRIBED),
    ("bounces", SubscriberStatus.BOUNCED),
    ("spam_reports", SubscriberStatus.COMPLAINED),
)


def html_token(slot: int) -> str:
    return f"-sp{slot}h-"


def text_token(slot: int) -> str:
    return f"-sp{slot}t-"


def _address(header: str) -> dict[str, str]:
    name, addr = email.utils.parseaddr(header)
    return {"email": addr, "name": name} if name else {"email": addr}


def _to_name(name: str) -> str:
    """The `"name"` member of a personalization's `to` (with its comma), or nothing.
    SendGrid refuses ';' and ',' in to.name (400); the name in the body is unaffected."""
    if not name:
        return ""
    name = name.replace(",", " ").replace(";", " ").strip()
    return f',"name":{_quote(name)}' if name else ""


def _error_message(response: httpx.Response) -> str:
    body = response.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = [
        f"{e.get('message', '')}" + (f" ({e['field']})" if e.get("field") else "")
        for e in errors[:3]
        if isinstance(e, dict)
    ]
    return "; ".join(parts)


class SendgridProvider(ProviderBase, spec=SPEC):
    """SendGrid's Mail Send API over one shared httpx client."""

    def __init__(self, settings: SendgridSettings, key: Secret, client: httpx.Client) -> None:
        self.settings = settings
        self.route = settings.api_url
        self.client = client
        self._key = key
        self._lock = threading.Lock()
        self._bodies: dict[
            tuple[int, bool], tuple[PreparedMessage, tuple[str, list[tuple[str, str]]]]
        ] = {}

    def __repr__(self) -> str:
        return f"SendgridProvider(api_url={self.settings.api_url!r})"

    # -- sending -------------------------------------------------------------------------

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        head, tokens = self._common(batch.message, batch.test)
        parts = [
            head,
            ',"personalizations":[',
            ",".join(self._personalization(batch.message, r, tokens) for r in batch.recipients),
            "]",
        ]
        scheduled_id = ""
        if batch.send_at is not None:
            scheduled_id = self._new_batch_id()
            parts.append(
                f',"send_at":{int(batch.send_at.timestamp())},"batch_id":{_q(scheduled_id)}'
            )
        parts.append("}")
        response = self._request(
            "POST",
            "/v3/mail/send",
            content="".join(parts).encode("ascii"),
            headers={"Content-Type": "application/json"},
        )
        message_id = scheduled_id or response.headers.get("x-message-id", "")
        return [RecipientResult(r.email, Outcome.SENT, message_id) for r in batch.recipients]

    def _common(self, message: PreparedMessage, test: bool) -> tuple[str, list[tuple[str, str]]]:
        """The request's shared JSON (open at the end) and the quoted slot tokens, built once
        per instalment: per reader only the personalization is written."""
        key = (id(message), test)
        with self._lock:
            cached = self._bodies.get(key)
        if cached is not None and cached[0] is message:
            return cached[1]
        common = _json(self._build_common(message, test)).decode("ascii")[:-1]
        tokens = [(_q(html_token(i)), _q(text_token(i))) for i in range(len(message.slots))]
        body = (common, tokens)
        with self._lock:
            if len(self._bodies) > 8:
                self._bodies.clear()
            self._bodies[key] = (message, body)
        return body

    def _build_common(self, message: PreparedMessage, test: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "from": _address(message.from_header),
            "subject": message.subject,
            "content": [
                {"type": "text/plain", "value": message.text.with_tokens(text_token)},
                {"type": "text/html", "value": message.html.with_tokens(html_token)},
            ],
            "categories": [f"part-{message.number}"],
            # Every message's List-Id; a personalization's own headers add to these.
            "headers": {"List-Id": message.list_id_header},
        }
        if message.reply_to:
            body["reply_to"] = _address(message.reply_to)
        if self.settings.asm_group_id is not None:
            body["asm"] = {"group_id": self.settings.asm_group_id}
        return body

    def _personalization(
        self, message: PreparedMessage, recipient: Recipient, tokens: list[tuple[str, str]]
    ) -> str:
        """One reader's personalization as JSON text, written directly: per-reader work is
        the whole cost of a 1,000-reader request, and dicts plus json.dumps double it."""
        asm = self.settings.asm_group_id is not None
        values = message.slot_values(recipient, _ASM_OVERRIDES if asm else None)
        # Lists, not generators, and the C escaper called directly. A value with nothing
        # to escape (most: names, URLs) is quoted once for both parts.
        subs = []
        for (th, tt), v in zip(tokens, values, strict=True):
            quoted = _quote(v)
            html = quoted if html_special(v) is None else _quote(escape(v))
            subs.append(f"{th}:{html},{tt}:{quoted}")
        item = (
            f'{{"to":[{{"email":{_quote(recipient.email)}{_to_name(recipient.name)}}}],'
            f'"substitutions":{{{",".join(subs)}}},'
            f'"custom_args":{{"{METADATA_KEY}":{_quote(recipient.delivery_id)}}}'
        )
        if asm:  # with an unsubscribe group SendGrid writes List-Unsubscribe itself
            return item + "}"
        url = recipient.unsubscribe_url
        if url:  # list_unsubscribe_headers' one-click pair, its fixed parts quoted once
            return f'{item},"headers":{{{_LIST_UNSUBSCRIBE}:{_quote(f"<{url}>")},{_ONE_CLICK}}}}}'
        headers = ",".join(
            [f"{_quote(k)}:{_quote(v)}" for k, v in message.list_unsubscribe_headers(recipient)]
        )
        return f'{item},"headers":{{{headers}}}}}'

    # -- scheduling ----------------------------------------------------------------------

    def _new_batch_id(self) -> str:
        answer = self._request("POST", "/v3/mail/batch").json()
        batch_id = answer.get("batch_id") if isinstance(answer, dict) else None
        if not isinstance(batch_id, str) or not batch_id:
            raise PermanentSendError(
                "no batch_id in the answer to POST /v3/mail/batch", provider=NAME
            )
        return batch_id

    def cancel_scheduled(self, batch_key: str, message_ids: Sequence[str]) -> None:
        """Cancel the SendGrid batch ids recorded for one scheduled batch."""
        for batch_id in dict.fromkeys(m for m in message_ids if m):
            self._request(
                "POST",
                "/v3/user/scheduled_sends",
                content=_json({"batch_id": batch_id, "status": "cancel"}),
                headers={"Content-Type": "application/json"},
            )

    # -- suppressions --------------------------------------------------------------------

    def suppressions(self) -> list[Suppression]:
        out: list[Suppression] = []
        paths = [f"/v3/suppression/{kind}" for kind, _ in SUPPRESSION_LISTS]
        group = self.settings.asm_group_id
        if group is not None:
            paths.append(f"/v3/asm/groups/{group}/suppressions")
        found = at_once(self._list, paths)  # the lists together, not one after another
        for (kind, status), entries in zip(SUPPRESSION_LISTS, found, strict=False):
            for entry in entries:
                reason = str(entry.get("reason") or kind)
                out.append(Suppression(str(entry["email"]), status, reason))
        if group is not None:
            for address in found[-1]:
                out.append(
                    Suppression(str(address), SubscriberStatus.UNSUBSCRIBED, "unsubscribe group")
                )
        return out

    def _list(self, path: str) -> list[Any]:
        """A suppression list in all its pages; the unsubscribe group's is one page of
        addresses."""
        if "/asm/groups/" in path:
            return list(self._request("GET", path).json())
        return self._pages(path)

    def _pages(self, path: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        while True:
            page = self._request("GET", path, params={"limit": PAGE, "offset": len(entries)}).json()
            entries += [e for e in page if isinstance(e, dict)]
            if len(page) < PAGE:
                return entries

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._key.reveal()}", **kwargs.pop("headers", {})}
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
            if exc.status in (401, 403):
                exc.hint = (
                    "check SENDGRID_API_KEY (Mail Send permission) and that the "
                    "from address is a verified sender"
                )
            raise


def _q(value: str) -> str:
    """`value` as an ASCII JSON string literal (the C escaper, without dumps' setup)."""
    return str(_quote(value))


def _json(payload: Any) -> bytes:
    # ASCII-only JSON (\u escapes): no charset questions, and the fastest form to parse.
    return json.dumps(payload, separators=(",", ":")).encode("ascii")


def create(context: ProviderContext) -> SendgridProvider:
    """Build the adapter from `[delivery.sendgrid]` and SENDGRID_API_KEY."""
    settings = context.settings.delivery.sendgrid
    key = context.secrets.require("SENDGRID_API_KEY", "the sendgrid provider")
    client = make_client(
        context.settings.delivery.timeout, context.http_transport, base_url=settings.api_url
    )
    return SendgridProvider(settings, key, client)
