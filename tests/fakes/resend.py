"""A fake Resend API on 127.0.0.1, following the documented contract.

`POST /emails`, `POST /emails/batch` (≤100, strict or permissive `x-batch-validation`,
no `scheduled_at`/`attachments`), `POST /emails/{id}/cancel`; Bearer auth, a required
User-Agent (403), `Idempotency-Key` replay for 24 h (the keys kept per team: see
`ResendState.keys`) with 409 `invalid_idempotent_request` / `concurrent_idempotent_requests`;
the `{statusCode, name, message}` error envelope; 429 with `retry-after` and `ratelimit-*`
headers. Every created email is recorded per recipient.
`GET /suppressions` and `GET /contacts` page with `limit` (1-100) / `after` (an id) and
answer `{object: "list", has_more, data}`; a sending-only key gets 401 `restricted_api_key`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fakes.faults import Faults
from fakes.httpserver import FakeHandler, Reply, serve

MAX_BATCH = 100
MAX_TO = 50
TAG_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ADDRESS_RE = re.compile(r"^(?:[^<>]*<)?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?$")
MAIN = "main"  # the team `ResendState.api_key` belongs to


@dataclass
class Email:
    id: str
    to: list[str]
    payload: dict[str, Any]
    scheduled_at: str | None = None
    cancelled: bool = False


@dataclass
class ResendState:
    api_key: str = "re_test_key"
    # More API keys, key → its team (account): idempotency keys are kept per team, so a
    # replay under another team's key is a new request (a second key of MAIN's maps to MAIN).
    keys: dict[str, str] = field(default_factory=dict)
    accepted: dict[str, list[Email]] = field(default_factory=lambda: defaultdict(list))
    emails: dict[str, Email] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    list_requests: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, tuple[str, Reply]] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)  # keys answered with 409 concurrent
    invalid_addresses: set[str] = field(default_factory=set)
    suppressions: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    sending_only: bool = False  # the API key has "Sending access" only
    quota_next: str = ""  # "daily_quota_exceeded" or "monthly_quota_exceeded"
    faults: Faults = field(default_factory=Faults)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def team_of(self, key: str) -> str | None:
        """The team an API key belongs to (None: no such key)."""
        return MAIN if key == self.api_key else self.keys.get(key)

    def messages_to(self, address: str) -> list[Email]:
        return [e for e in self.accepted.get(address.lower(), []) if not e.cancelled]


def error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, {"statusCode": status, "name": name, "message": message}, headers)


class ResendHandler(FakeHandler):
    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        state: ResendState = self.server.state
        url = urllib.parse.urlsplit(path)
        reads = method == "GET" and url.path in ("/suppressions", "/contacts")
        # `requests` stays the log of email calls; list reads are kept apart.
        log = state.list_requests if reads else state.requests
        log.append({"method": method, "path": path, "headers": headers, "body": body})
        refusal = _gate(state, headers)
        if refusal is not None:
            return refusal
        if reads:
            return _list(state, url.path, urllib.parse.parse_qs(url.query))
        if method == "POST" and path.startswith("/emails/") and path.endswith("/cancel"):
            return _cancel(state, path.split("/")[2])
        if method != "POST" or path not in ("/emails", "/emails/batch"):
            return error(404, "not_found", "The requested endpoint does not exist.")
        before = len(state.emails)
        team = state.team_of(headers["authorization"][7:]) or MAIN
        reply = _idempotent(state, headers, body, path, team)
        if len(state.emails) > before and state.faults.take("drops"):
            return Reply.dropped()  # the emails were created; the answer never arrives
        if state.faults.delay:
            time.sleep(state.faults.delay)  # recorded (and its key kept); the answer waits
        return reply


def _gate(state: ResendState, headers: dict[str, str]) -> Reply | None:
    """User-Agent, auth, then the injected rate-limit / quota / 5xx faults."""
    if not headers.get("user-agent"):
        return Reply(403, b"error code: 1010", {"Content-Type": "text/plain"})
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:]:
        return error(401, "missing_api_key", "Missing API key in the authorization header.")
    if state.team_of(auth[7:]) is None:
        return error(403, "invalid_api_key", "API key is invalid")
    if state.faults.take("rate_limited"):
        return error(
            429,
            "rate_limit_exceeded",
            "Too many requests. You can only make 5 requests per second.",
            {
                "retry-after": "1",
                "ratelimit-limit": "5",
                "ratelimit-remaining": "0",
                "ratelimit-reset": "1",
            },
        )
    if state.quota_next:
        name, state.quota_next = state.quota_next, ""
        return error(429, name, "You have reached your sending quota.")
    if state.faults.take("server_errors"):
        return error(
            state.faults.server_status, "internal_server_error", "An unexpected error occurred."
        )
    return None


def _idempotent(
    state: ResendState, headers: dict[str, str], body: bytes, path: str, team: str = MAIN
) -> Reply:
    sent_key = headers.get("idempotency-key")
    if sent_key is None:
        return _create(state, headers, body, path)
    key = sent_key if team == MAIN else f"{team}\0{sent_key}"  # each team's keys apart
    if len(sent_key) > 256 or not sent_key:
        return error(400, "invalid_idempotency_key", "The key must be 1-256 characters.")
    if key in state.in_flight:
        return error(
            409,
            "concurrent_idempotent_requests",
            "Same idempotency key request is still in progress.",
        )
    digest = hashlib.sha256(path.encode() + b"\0" + body).hexdigest()
    if key in state.idempotency:
        seen, reply = state.idempotency[key]
        if seen != digest:
            return error(
                409,
                "invalid_idempotent_request",
                "Same idempotency key used with a different request payload.",
            )
        return reply
    reply = _create(state, headers, body, path)
    if reply.status == 200:
        state.idempotency[key] = (digest, reply)
    return reply


def _create(state: ResendState, headers: dict[str, str], body: bytes, path: str) -> Reply:
    try:
        payload = json.loads(body)
    except ValueError:
        return error(422, "validation_error", "Invalid JSON body.")
    if path == "/emails":
        return _create_one(state, payload)
    return _create_batch(state, payload, headers.get("x-batch-validation", "strict"))


def _create_one(state: ResendState, payload: Any) -> Reply:
    problem = _problem(state, payload, batch=False)
    if problem:
        return error(422, "validation_error", problem)
    return Reply.json(200, {"id": _store(state, payload)})


def _create_batch(state: ResendState, payload: Any, mode: str) -> Reply:
    if not isinstance(payload, list) or not payload:
        return error(422, "validation_error", "The batch must be a non-empty array.")
    if len(payload) > MAX_BATCH:
        return error(422, "validation_error", f"Too many emails: at most {MAX_BATCH}.")
    problems = [(i, _problem(state, item, batch=True)) for i, item in enumerate(payload)]
    errors = [{"index": i, "message": p} for i, p in problems if p]
    if errors and mode != "permissive":
        return error(422, "validation_error", str(errors[0]["message"]))
    data = [
        {"id": _store(state, item)} for (_, p), item in zip(problems, payload, strict=True) if not p
    ]
    answer: dict[str, Any] = {"data": data}
    if mode == "permissive":
        answer["errors"] = errors
    return Reply.json(200, answer)


def _problem(state: ResendState, item: Any, *, batch: bool) -> str:
    if not isinstance(item, dict):
        return "Each email must be an object."
    for name in ("from", "to", "subject"):
        if not item.get(name):
            return f"The `{name}` field is missing."
    if not (item.get("html") or item.get("text")):
        return "Either `html` or `text` must be provided."
    if batch and ("scheduled_at" in item or "attachments" in item):
        return "`scheduled_at` and `attachments` are not supported in batch emails."
    to = item["to"] if isinstance(item["to"], list) else [item["to"]]
    if len(to) > MAX_TO:
        return f"The `to` field can have at most {MAX_TO} addresses."
    for address in to:
        if not ADDRESS_RE.match(address) or address.lower() in state.invalid_addresses:
            return f"Invalid `to` field: {address}"
    for tag in item.get("tags") or []:
        if not TAG_RE.match(str(tag.get("name", ""))) or not TAG_RE.match(
            str(tag.get("value", ""))
        ):
            return "Tags should only contain ASCII letters, numbers, underscores, or dashes."
    if not isinstance(item.get("headers", {}), dict):
        return "The `headers` field must be an object."
    return ""


def _store(state: ResendState, item: dict[str, Any]) -> str:
    email_id = f"00000000-0000-4000-8000-{next(state._ids):012d}"
    to = item["to"] if isinstance(item["to"], list) else [item["to"]]
    record = Email(email_id, to, item, item.get("scheduled_at"))
    state.emails[email_id] = record
    for address in to:
        state.accepted[address.lower()].append(record)
    return email_id


def _list(state: ResendState, path: str, query: dict[str, list[str]]) -> Reply:
    """One page of a cursor-paginated list (newest first in Resend; stored order here)."""
    if state.sending_only:
        return error(401, "restricted_api_key", "This API key is restricted to only send emails.")
    items = state.suppressions if path == "/suppressions" else state.contacts
    limit = int((query.get("limit") or ["20"])[0])
    if not 1 <= limit <= 100:
        return error(422, "validation_error", "The `limit` must be between 1 and 100.")
    start = 0
    if query.get("after"):
        ids = [str(item["id"]) for item in items]
        if query["after"][0] not in ids:
            return error(422, "validation_error", "The `after` cursor is not a valid id.")
        start = ids.index(query["after"][0]) + 1
    page = items[start : start + limit]
    return Reply.json(200, {"object": "list", "has_more": start + limit < len(items), "data": page})


def _cancel(state: ResendState, email_id: str) -> Reply:
    record = state.emails.get(email_id)
    if record is None:
        return error(404, "not_found", "Email not found")
    if record.scheduled_at is None:
        return error(422, "validation_error", "Only scheduled emails can be cancelled.")
    record.cancelled = True
    return Reply.json(200, {"object": "email", "id": email_id})


@contextmanager
def fake_resend(state: ResendState | None = None) -> Iterator[tuple[str, ResendState]]:
    """Run the fake; yields (base_url, state)."""
    with serve(ResendHandler, state or ResendState()) as (url, running):
        yield url, running
