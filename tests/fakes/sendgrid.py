"""A fake SendGrid v3 API: mail send, batch ids, scheduled-send cancels, suppression lists.

Follows the documented contract: `Authorization: Bearer <key>` or 401; validation errors are
400 `{"errors":[{"message","field"}]}` (more than 1000 personalizations, an address twice,
`,`/`;` in a name, send_at over 72 h ahead, an unknown batch_id); success is 202 with an
empty body and `X-Message-Id`; 429 carries X-RateLimit-Limit/-Remaining/-Reset (epoch).
Accepted requests are expanded into one record per reader, with substitutions applied.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from .faults import Faults
from .httpserver import FakeHandler, Reply

API_KEY = "SG.test-key"
MAX_PERSONALIZATIONS = 1000
MAX_AHEAD = 72 * 3600
MAX_SUBSTITUTION_BYTES = 10_000


@dataclass
class SendgridState:
    key: str = API_KEY
    accepted: list[dict[str, Any]] = field(default_factory=list)  # one per reader
    requests: list[dict[str, Any]] = field(default_factory=list)  # accepted mail/send bodies
    batch_ids: set[str] = field(default_factory=set)
    cancelled: dict[str, str] = field(default_factory=dict)  # batch id → status
    suppressions: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"unsubscribes": [], "bounces": [], "spam_reports": []}
    )
    group_suppressions: dict[int, list[str]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    reset_in: int = 2  # seconds until X-RateLimit-Reset on a 429
    bench: bool = False
    bench_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[dict[str, Any]]:
        return [m for m in self.accepted if m["to"].lower() == address.lower()]

    @property
    def sent_count(self) -> int:
        return self.bench_count if self.bench else len(self.accepted)


def _errors(
    status: int, message: str, field_name: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    return Reply.json(
        status, {"errors": [{"message": message, "field": field_name, "help": None}]}, headers
    )


def _substitute(text: str, substitutions: dict[str, str]) -> str:
    for token, value in substitutions.items():
        text = text.replace(token, value)
    return text


def _check_personalization(item: Any, i: int, seen: set[str], now: float) -> str:
    """The reason personalizations[i] is refused, or ''."""
    where = f"personalizations.{i}"
    if not isinstance(item, dict) or not item.get("to"):
        return f"{where}.to: The to array is required for all personalization objects"
    for to in item["to"]:
        address = str(to.get("email", "")).lower()
        if "@" not in address:
            return f"{where}.to: Does not contain a valid address."
        if address in seen:
            return (
                f"{where}.to: Each email address in the personalization block should be "
                "unique between to, cc, and bcc."
            )
        seen.add(address)
        if any(c in to.get("name", "") for c in ",;"):
            return f"{where}.to.name: name may not contain ';' or ','"
    subs = item.get("substitutions", {})
    if len(json.dumps(subs).encode()) > MAX_SUBSTITUTION_BYTES:
        return f"{where}.substitutions: substitutions exceed 10000 bytes"
    for name in ("headers", "custom_args", "substitutions"):
        if not all(isinstance(v, str) for v in item.get(name, {}).values()):
            return f"{where}.{name}: values must be strings"
    return ""


def _check_request(body: dict[str, Any], batch_ids: set[str], now: float) -> tuple[str, str]:
    """(field, reason) when the mail/send body is refused, else ('', '')."""
    people = body.get("personalizations")
    if not isinstance(people, list) or not people:
        return "personalizations", "The personalizations field is required."
    if len(people) > MAX_PERSONALIZATIONS:
        return "personalizations", "The personalizations field must have 1000 or fewer items."
    if not isinstance(body.get("from"), dict) or "@" not in body["from"].get("email", ""):
        return "from.email", "The from email does not contain a valid address."
    content = body.get("content")
    if not content or any(not c.get("value") for c in content):
        return "content", "The content value must be a string at least one character long."
    if "reply_to" in body and "reply_to_list" in body:
        return "reply_to", "reply_to and reply_to_list cannot both be set."
    send_at = body.get("send_at")
    if send_at is not None and (not isinstance(send_at, int) or send_at > now + MAX_AHEAD):
        return "send_at", "The send_at must be a unix timestamp no more than 72 hours ahead."
    if "batch_id" in body and body["batch_id"] not in batch_ids:
        return "batch_id", "The batch ID is not valid."
    seen: set[str] = set()
    for i, item in enumerate(people):
        reason = _check_personalization(item, i, seen, now)
        if reason:
            return "personalizations", reason
    return "", ""


class SendgridHandler(FakeHandler):
    """Routes one request against `self.server.state` (a SendgridState)."""

    @property
    def state(self) -> SendgridState:
        state: SendgridState = self.server.state
        return state

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urllib.parse.urlsplit(path)
        if headers.get("authorization") != f"Bearer {self.state.key}":
            return _errors(401, "The provided authorization grant is invalid, expired, or revoked")
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        if method == "POST" and url.path == "/v3/mail/send":
            return self.send(body)
        if method == "POST" and url.path == "/v3/mail/batch":
            return self.new_batch()
        if method == "POST" and url.path == "/v3/user/scheduled_sends":
            return self.cancel(body)
        if method == "GET" and parts[:2] == ["v3", "suppression"] and len(parts) == 3:
            return self.suppression_page(parts[2], query)
        if (
            method == "GET"
            and parts[:3] == ["v3", "asm", "groups"]
            and parts[4:] == ["suppressions"]
        ):
            return Reply.json(200, self.state.group_suppressions.get(int(parts[3]), []))
        return _errors(404, f"no route for {method} {url.path}")

    def send(self, body: bytes) -> Reply:
        faults = self.state.faults
        if faults.take("rate_limited"):
            reset = str(int(time.time()) + self.state.reset_in)
            return _errors(
                429,
                "too many requests",
                None,
                {
                    "X-RateLimit-Limit": "600",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                },
            )
        if faults.take("server_errors"):
            return _errors(faults.server_status, "internal server error")
        if len(body) >= 30 * 1024 * 1024:
            return _errors(413, "content too large")
        try:
            request = json.loads(body)
        except ValueError:
            return _errors(400, "Bad Request", None)
        if not isinstance(request, dict):
            return _errors(400, "Bad Request", None)
        field_name, reason = _check_request(request, self.state.batch_ids, time.time())
        if reason:
            return _errors(400, reason, field_name)
        if self.state.bench:  # parsed and validated like any request; only not stored
            with self.state.lock:
                self.state.bench_count += len(request["personalizations"])
            return self.answer()
        message_id = uuid.uuid4().hex[:22]
        self.record(request, message_id)
        return self.answer(message_id)

    def answer(self, message_id: str = "bench") -> Reply:
        if self.state.faults.delay:
            time.sleep(self.state.faults.delay)
        if self.state.faults.take("drops"):
            return Reply.dropped()
        return Reply(202, b"", {"X-Message-Id": message_id})

    def record(self, request: dict[str, Any], message_id: str) -> None:
        content = {c["type"]: c["value"] for c in request["content"]}
        rows = []
        for item in request["personalizations"]:
            subs = item.get("substitutions", {})
            rows += [
                {
                    "to": to["email"],
                    "name": to.get("name", ""),
                    "subject": _substitute(item.get("subject", request.get("subject", "")), subs),
                    "html": _substitute(content.get("text/html", ""), subs),
                    "text": _substitute(content.get("text/plain", ""), subs),
                    "headers": {**request.get("headers", {}), **item.get("headers", {})},
                    "custom_args": {
                        **request.get("custom_args", {}),
                        **item.get("custom_args", {}),
                    },
                    "send_at": request.get("send_at"),
                    "batch_id": request.get("batch_id"),
                    "asm": request.get("asm"),
                    "message_id": message_id,
                }
                for to in item["to"]
            ]
        with self.state.lock:
            self.state.requests.append(request)
            self.state.accepted += rows

    def new_batch(self) -> Reply:
        batch_id = uuid.uuid4().hex
        with self.state.lock:
            self.state.batch_ids.add(batch_id)
        return Reply.json(201, {"batch_id": batch_id})

    def cancel(self, body: bytes) -> Reply:
        request = json.loads(body or b"{}")
        batch_id, status = request.get("batch_id"), request.get("status")
        if status not in ("cancel", "pause"):
            return _errors(400, "status must be cancel or pause", "status")
        if batch_id not in self.state.batch_ids or batch_id in self.state.cancelled:
            return _errors(400, "batch id is not valid or already has a status", "batch_id")
        self.state.cancelled[batch_id] = status
        return Reply.json(201, {"batch_id": batch_id, "status": status})

    def suppression_page(self, kind: str, query: dict[str, str]) -> Reply:
        if kind not in self.state.suppressions:
            return _errors(404, f"unknown suppression list {kind}")
        limit = min(int(query.get("limit", 500)), 500)
        offset = int(query.get("offset", 0))
        return Reply.json(200, self.state.suppressions[kind][offset : offset + limit])
