"""A fake Postmark server API: /email/batch, outbound search, message streams, suppressions.

Follows the documented contract: X-Postmark-Server-Token or 401 `{ErrorCode: 10}`, the token
choosing the server whose messages are sent and searched (`PostmarkState.tokens`); a batch
answers HTTP 200 with one `{ErrorCode, Message, MessageID, SubmittedAt, To}` per message in
order, even when some fail (406 inactive, 300 invalid); a whole-request failure is one error
object (422 + ErrorCode, e.g. 410 for more than 500 messages); 429 has no Retry-After.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from .faults import Faults
from .httpserver import FakeHandler, Reply

TOKEN = "pm-test-token"
MAIN = "main"  # the server `PostmarkState.token` belongs to
MAX_MESSAGES = 500
MAX_BYTES = 50 * 1000 * 1000
INACTIVE = (
    "You tried to send to recipient(s) that have been marked as inactive. Found "
    "inactive addresses: {}. Inactive recipients are ones that have generated a hard "
    "bounce, a spam complaint, or a manual suppression."
)


@dataclass
class PostmarkState:
    token: str = TOKEN
    # More Server API tokens on the same API, token → its server: Postmark keeps each
    # server's messages apart, so a search with another server's token finds none of
    # MAIN's (a second token of the same server maps to MAIN).
    tokens: dict[str, str] = field(default_factory=dict)
    streams: dict[str, str] = field(
        default_factory=lambda: {"outbound": "None", "broadcast": "Postmark"}
    )  # stream id → UnsubscribeHandlingType
    accepted: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)  # address → code, text
    suppressions: list[dict[str, str]] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    requests: list[tuple[str, str]] = field(default_factory=list)
    bench: bool = False  # count recipients, keep nothing
    search_lag: float = 0.0  # seconds before an accepted message shows up in search
    bench_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, address: str, code: int = 406, message: str = "") -> None:
        """Make every message to `address` come back with ErrorCode `code`."""
        text = message or (
            INACTIVE.format(address) if code == 406 else f"Invalid 'To' address: '{address}'."
        )
        self.failures[address.lower()] = (code, text)

    def server_of(self, token: str | None) -> str | None:
        """The server a Server API token belongs to (None: no such token)."""
        return MAIN if token == self.token else self.tokens.get(token or "")

    def to(self, address: str) -> list[dict[str, Any]]:
        """Accepted messages addressed to `address`."""
        return [m for m in self.accepted if m["_to"] == address.lower()]

    @property
    def sent_count(self) -> int:
        return self.bench_count if self.bench else len(self.accepted)


def _error(status: int, code: int, message: str) -> Reply:
    return Reply.json(status, {"ErrorCode": code, "Message": message})


def _check(message: Any, streams: dict[str, str]) -> str:
    """Why one batch element is invalid (ErrorCode 300), or ''."""
    if not isinstance(message, dict):
        return "Each batch element must be a message object."
    if not message.get("From") or not message.get("To"):
        return "Invalid 'From' or 'To' address."
    if not message.get("HtmlBody") and not message.get("TextBody"):
        return "Provide either email TextBody or HtmlBody or both."
    metadata = message.get("Metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        return "Metadata values must be strings."
    headers = message.get("Headers", [])
    if not isinstance(headers, list) or any(set(h) != {"Name", "Value"} for h in headers):
        return "Headers must be a list of {Name, Value}."
    if message.get("MessageStream", "outbound") not in streams:
        return "The 'MessageStream' provided does not exist on this server."
    return ""


class PostmarkHandler(FakeHandler):
    """Routes one request against `self.server.state` (a PostmarkState)."""

    @property
    def state(self) -> PostmarkState:
        state: PostmarkState = self.server.state
        return state

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urllib.parse.urlsplit(path)
        self.state.requests.append((method, url.path))
        server = self.state.server_of(headers.get("x-postmark-server-token"))
        if server is None:
            return _error(401, 10, "Request does not contain a valid Server token.")
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        if method == "POST" and url.path == "/email/batch":
            return self.batch(body, server)
        if method == "GET" and url.path == "/messages/outbound":
            return self.search(query, server)
        if method == "GET" and parts[0] == "message-streams" and len(parts) == 2:
            return self.stream(parts[1])
        if (
            method == "GET"
            and parts[0] == "message-streams"
            and parts[2:] == ["suppressions", "dump"]
        ):
            return Reply.json(200, {"Suppressions": self.state.suppressions})
        return _error(404, 404, f"No route for {method} {url.path}")

    def batch(self, body: bytes, server: str = MAIN) -> Reply:
        faults = self.state.faults
        if faults.take("rate_limited"):
            return _error(
                429, 429, "Rate limit exceeded, reduce the rate at which you query the API."
            )
        if faults.take("server_errors"):
            return _error(faults.server_status, 100, "Internal server error.")
        if len(body) > MAX_BYTES:
            return _error(413, 413, "Request entity too large.")
        if self.state.bench:
            return self.bench_batch(body)
        try:
            messages = json.loads(body)
        except ValueError:
            return _error(422, 402, "Received invalid JSON input.")
        if not isinstance(messages, list):
            return _error(422, 403, "The batch endpoint expects a JSON array of messages.")
        if len(messages) > MAX_MESSAGES:
            return _error(
                422, 410, f"Too many batch messages ({len(messages)}); the limit is {MAX_MESSAGES}."
            )
        results = [self.one(m, server) for m in messages]
        return self.answer(Reply.json(200, results))

    def answer(self, reply: Reply) -> Reply:
        if self.state.faults.delay:
            time.sleep(self.state.faults.delay)
        return Reply.dropped() if self.state.faults.take("drops") else reply

    def one(self, message: Any, server: str = MAIN) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).isoformat()
        invalid = _check(message, self.state.streams)
        to = email.utils.parseaddr(message.get("To", "") if isinstance(message, dict) else "")
        address = to[1].lower()
        code, text = (300, invalid) if invalid else self.state.failures.get(address, (0, "OK"))
        message_id = str(uuid.uuid4())
        if code == 0:
            record = {
                **message,
                "MessageID": message_id,
                "_to": address,
                "_name": to[0],
                "ReceivedAt": now,
                "_accepted": time.monotonic(),
                "_server": server,
            }
            with self.state.lock:
                self.state.accepted.append(record)
        return {
            "ErrorCode": code,
            "Message": text,
            "MessageID": message_id,
            "SubmittedAt": now,
            "To": to[1],
        }

    def bench_batch(self, body: bytes) -> Reply:
        """Parsed and checked like any batch, answered per message; only nothing is kept."""
        try:
            messages = json.loads(body)
        except ValueError:
            return _error(422, 402, "Received invalid JSON input.")
        results = []
        for message in messages:
            invalid = _check(message, self.state.streams)
            results.append(
                {
                    "ErrorCode": 300 if invalid else 0,
                    "Message": invalid or "OK",
                    "MessageID": str(uuid.uuid4()),
                    "To": message.get("To", ""),
                }
            )
        with self.state.lock:
            self.state.bench_count += len(messages)
        return Reply.json(200, results)

    def search(self, query: dict[str, str], server: str = MAIN) -> Reply:
        count, offset = int(query.get("count", 0)), int(query.get("offset", 0))
        if not 0 < count <= 500 or count + offset > 10000:
            return _error(422, 300, "count must be 1..500 and count + offset ≤ 10000.")
        filters = {k[len("metadata_") :]: v for k, v in query.items() if k.startswith("metadata_")}
        if len(filters) > 1:
            return _error(422, 300, "Only one metadata filter is allowed.")
        visible_before = time.monotonic() - self.state.search_lag
        found = [
            m
            for m in self.state.accepted
            if m["_accepted"] <= visible_before
            and m.get("_server", MAIN) == server
            and all(m.get("Metadata", {}).get(k) == v for k, v in filters.items())
            and query.get("tag", m.get("Tag")) == m.get("Tag")
            and query.get("messagestream", m.get("MessageStream"))
            == m.get("MessageStream", "outbound")
        ]
        page = found[offset : offset + count]
        return Reply.json(
            200,
            {
                "TotalCount": len(found),
                "Messages": [
                    {
                        "MessageID": m["MessageID"],
                        "To": [{"Email": m["_to"], "Name": m["_name"]}],
                        "Recipients": [m["_to"]],
                        "Subject": m.get("Subject", ""),
                        "From": m["From"],
                        "Tag": m.get("Tag", ""),
                        "MessageStream": m.get("MessageStream", "outbound"),
                        "Metadata": m.get("Metadata", {}),
                        "Status": "Sent",
                        "ReceivedAt": m["ReceivedAt"],
                    }
                    for m in page
                ],
            },
        )

    def stream(self, stream_id: str) -> Reply:
        handling = self.state.streams.get(stream_id)
        if handling is None:
            return _error(404, 1226, "The message stream for the provided 'ID' was not found.")
        kind = "Broadcasts" if handling == "Postmark" else "Transactional"
        return Reply.json(
            200,
            {
                "ID": stream_id,
                "ServerID": 1,
                "Name": stream_id,
                "MessageStreamType": kind,
                "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": handling},
            },
        )
