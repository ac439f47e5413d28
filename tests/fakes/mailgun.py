"""A fake Mailgun API on 127.0.0.1, following the documented contract.

`POST /v3/{domain}/messages` (multipart or urlencoded form, Basic auth `api:<key>`),
recipient-variables substituted per address, `{"id","message"}` on success; plain-text 401,
`{"message"}` 400s, a plain 429; `GET /v3/{domain}/{unsubscribes,bounces,complaints}`
with `items` + `paging` pages; `GET /v3/domains/{domain}/tracking`. With unsubscribe
tracking on (the domain's `unsubscribe_tracking`, or per message `o:tracking`), every
`%unsubscribe_url%` becomes a per-recipient fake link and Mailgun's own List-Unsubscribe /
List-Unsubscribe-Post headers are added. Every accepted message is recorded per recipient.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import email.utils
import hashlib
import itertools
import json
import re
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fakes.faults import Faults
from fakes.httpserver import FakeHandler, Reply, serve

MAX_RECIPIENTS = 1000
VARIABLE_RE = re.compile(r"%recipient\.([A-Za-z0-9_-]+)%")
MG_UNSUBSCRIBE = "%unsubscribe_url%"
YES, NO = ("yes", "true"), ("no", "false")


@dataclass
class Sent:
    """One message as a recipient would get it."""

    id: str
    to: str
    subject: str
    html: str
    text: str
    headers: dict[str, str]
    fields: dict[str, list[str]]


@dataclass
class MailgunState:
    api_key: str = "key-test"
    domain: str = "mg.example.com"
    accepted: dict[str, list[Sent]] = field(default_factory=lambda: defaultdict(list))
    requests: list[dict[str, Any]] = field(default_factory=list)
    invalid_addresses: set[str] = field(default_factory=set)
    faults: Faults = field(default_factory=Faults)
    suppressions: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"unsubscribes": [], "bounces": [], "complaints": []}
    )
    base_url: str = ""
    unsubscribe_tracking: bool = False  # the domain's Tracking › Unsubscribes setting
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def messages_to(self, address: str) -> list[Sent]:
        return self.accepted.get(address.lower(), [])


class MailgunHandler(FakeHandler):
    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        state: MailgunState = self.server.state
        url = urllib.parse.urlsplit(path)
        if not _authorised(headers, state.api_key):
            return Reply(401, b"Forbidden", {"Content-Type": "text/plain"})
        if state.faults.take("rate_limited"):
            return Reply(
                429,
                b"Too many requests - An API request limit has been reached",
                {"Content-Type": "text/plain"},
            )
        if state.faults.take("server_errors"):
            return Reply.json(state.faults.server_status, {"message": "Internal Server Error"})
        parts = url.path.strip("/").split("/")
        if method == "GET" and parts == ["v3", "domains", state.domain, "tracking"]:
            return _tracking(state)
        if len(parts) != 3 or parts[0] != "v3" or parts[1] != state.domain:
            return Reply.json(404, {"message": "Domain not found"})
        if method == "POST" and parts[2] == "messages":
            return _messages(state, headers, body)
        if method == "GET" and parts[2] in state.suppressions:
            return _suppression_page(state, parts[2], urllib.parse.parse_qs(url.query))
        return Reply.json(404, {"message": "not found"})


def _authorised(headers: dict[str, str], key: str) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        return base64.b64decode(value).decode() == f"api:{key}"
    except ValueError:
        return False


def parse_form(content_type: str, body: bytes) -> dict[str, list[str]]:
    """Form fields from multipart/form-data or application/x-www-form-urlencoded."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        return urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, list[str]] = defaultdict(list)
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)].append(payload.decode("utf-8") if isinstance(payload, bytes) else "")
    return dict(fields)


def _messages(state: MailgunState, headers: dict[str, str], body: bytes) -> Reply:
    fields = parse_form(headers.get("content-type", ""), body)
    state.requests.append(fields)
    problem = _validate(fields, state)
    if problem:
        return Reply.json(400, {"message": problem})
    message_id = f"<{next(state._ids):06d}.fake@{state.domain}>"
    variables = json.loads(fields.get("recipient-variables", ["{}"])[0])
    unsubscribe = _unsubscribe_on(state, fields)
    for to in fields["to"]:
        address = email.utils.parseaddr(to)[1]
        state.accepted[address.lower()].append(
            _render(
                fields,
                message_id,
                address,
                variables.get(address, {}),
                unsubscribe_url(state, address) if unsubscribe else None,
            )
        )
    if state.faults.take("drops"):
        return Reply.dropped()
    return Reply.json(200, {"id": message_id, "message": "Queued. Thank you."})


def _validate(fields: dict[str, list[str]], state: MailgunState) -> str:
    for name in ("from", "to", "subject"):
        if not fields.get(name):
            return f"'{name}' parameter is missing"
    if not (fields.get("text") or fields.get("html")):
        return "Need at least one of 'text' or 'html' parameters specified"
    if len(fields["to"]) > MAX_RECIPIENTS:
        return f"Too many recipients: at most {MAX_RECIPIENTS} per batch"
    for to in fields["to"]:
        address = email.utils.parseaddr(to)[1]
        if "@" not in address or address.lower() in state.invalid_addresses:
            return f"to parameter is not a valid address. please check documentation ({to})"
    if "recipient-variables" in fields:
        try:
            json.loads(fields["recipient-variables"][0])
        except ValueError:
            return "recipient-variables parameter is not a valid JSON"
    return ""


def _unsubscribe_on(state: MailgunState, fields: dict[str, list[str]]) -> bool:
    """Per message `o:tracking` wins over the domain setting."""
    option = (fields.get("o:tracking") or [""])[0].lower()
    if option in YES or option in NO:
        return option in YES
    return state.unsubscribe_tracking


def unsubscribe_url(state: MailgunState, address: str) -> str:
    """The fake's stand-in for Mailgun's per-recipient unsubscribe link."""
    token = hashlib.sha256(f"{state.domain}\0{address.lower()}".encode()).hexdigest()[:24]
    return f"{state.base_url or 'https://mailgun.invalid'}/u/{token}"


def _render(
    fields: dict[str, list[str]],
    message_id: str,
    address: str,
    variables: dict[str, Any],
    unsubscribe: str | None,
) -> Sent:
    def fill(text: str) -> str:
        text = VARIABLE_RE.sub(lambda m: str(variables.get(m.group(1), "")), text)
        return text.replace(MG_UNSUBSCRIBE, unsubscribe) if unsubscribe else text

    headers = {
        name[2:]: fill(values[0]) for name, values in fields.items() if name.startswith("h:")
    }
    if unsubscribe:  # Mailgun adds its own one-click headers
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return Sent(
        id=message_id,
        to=address,
        subject=fill(fields["subject"][0]),
        html=fill((fields.get("html") or [""])[0]),
        text=fill((fields.get("text") or [""])[0]),
        headers=headers,
        fields=fields,
    )


def _tracking(state: MailgunState) -> Reply:
    off = {"active": False}
    return Reply.json(
        200,
        {
            "tracking": {
                "open": {**off, "place_at_the_top": False},
                "click": off,
                "unsubscribe": {
                    "active": state.unsubscribe_tracking,
                    "html_footer": "",
                    "text_footer": "",
                },
                "web_scheme": "https",
            }
        },
    )


def _suppression_page(state: MailgunState, kind: str, query: dict[str, list[str]]) -> Reply:
    items = state.suppressions[kind]
    limit = int((query.get("limit") or ["100"])[0])
    start = int((query.get("skip") or ["0"])[0])
    page = items[start : start + limit]
    base = f"{state.base_url}/v3/{state.domain}/{kind}"
    return Reply.json(
        200,
        {
            "items": page,
            "paging": {
                "first": f"{base}?limit={limit}",
                "next": f"{base}?page=next&limit={limit}&skip={start + limit}",
                "previous": f"{base}?page=previous&limit={limit}",
                "last": f"{base}?page=last&limit={limit}",
            },
        },
    )


@contextmanager
def fake_mailgun(state: MailgunState | None = None) -> Iterator[tuple[str, MailgunState]]:
    """Run the fake; yields (base_url, state)."""
    with serve(MailgunHandler, state or MailgunState()) as (url, running):
        running.base_url = url
        yield url, running
