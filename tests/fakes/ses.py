"""A fake Amazon SES v2 `SendEmail` on 127.0.0.1, following the botocore model.

Checks the SigV4 signature for real (botocore recomputes it with the known secret), takes
`POST /v2/email/outbound-emails` with `Content.Raw` or `Content.Simple`, and answers errors
the rest-json way: `x-amzn-ErrorType` header plus `{"__type", "message"}`. Faults: 429
TooManyRequestsException, 500, MessageRejected per address, SendingPaused for the account,
and "accepted, then the connection drops". Every accepted message is recorded per recipient.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.message
import email.policy
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from fakes.faults import Faults
from fakes.httpserver import FakeHandler, Reply, serve

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/"
    r"(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)
MAX_RECIPIENTS = 50


@dataclass
class SesMessage:
    message_id: str
    destination: list[str]
    request: dict[str, Any]
    mime: email.message.EmailMessage | None


@dataclass
class SesState:
    access_key: str = "AKIDEXAMPLE"
    secret_key: str = "fake-secret-key"
    region: str = "us-east-1"
    base_url: str = ""
    accepted: dict[str, list[SesMessage]] = field(default_factory=lambda: defaultdict(list))
    requests: list[dict[str, Any]] = field(default_factory=list)
    rejected_addresses: set[str] = field(default_factory=set)
    sending_paused: bool = False
    faults: Faults = field(default_factory=Faults)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def messages_to(self, address: str) -> list[SesMessage]:
        return self.accepted.get(address.lower(), [])


def aws_error(status: int, code: str, message: str) -> Reply:
    return Reply.json(
        status,
        {"__type": code, "message": message},
        {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"},
    )


class SesHandler(FakeHandler):
    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        state: SesState = self.server.state
        refusal = _check_signature(state, method, path, headers, body)
        if refusal is not None:
            return refusal
        if method != "POST" or path != "/v2/email/outbound-emails":
            return aws_error(404, "NotFoundException", f"no route for {method} {path}")
        fault = _fault(state)
        if fault is not None:
            return fault
        return _send(state, body)


def _check_signature(
    state: SesState, method: str, path: str, headers: dict[str, str], body: bytes
) -> Reply | None:
    match = AUTH_RE.match(headers.get("authorization", ""))
    if match is None:
        return aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if match["key"] != state.access_key:
        return aws_error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    if match["service"] != "ses" or match["region"] != state.region:
        return aws_error(
            403,
            "InvalidSignatureException",
            "Credential should be scoped "
            f"to a valid region and service ses, not {match['service']}.",
        )
    if _signature(state, method, path, headers, body, match["signed"]) != match["sig"]:
        return aws_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    return None


def _signature(
    state: SesState, method: str, path: str, headers: dict[str, str], body: bytes, signed: str
) -> str:
    """Recompute the SigV4 signature over exactly the headers the client said it signed."""
    names = signed.split(";")
    request = AWSRequest(
        method=method,
        url=f"http://{headers.get('host', '')}{path}",
        data=body,
        headers={n: headers.get(n, "") for n in names},
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(state.access_key, state.secret_key), "ses", state.region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def _fault(state: SesState) -> Reply | None:
    if state.faults.take("rate_limited"):
        return aws_error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
    if state.faults.take("server_errors"):
        return aws_error(
            state.faults.server_status, "InternalFailure", "We encountered an internal error."
        )
    if state.sending_paused:
        return aws_error(400, "SendingPausedException", "Sending is paused for this account.")
    return None


def _send(state: SesState, body: bytes) -> Reply:
    try:
        request = json.loads(body)
    except ValueError:
        return aws_error(400, "BadRequestException", "Invalid JSON.")
    state.requests.append(request)
    destination = [
        a
        for key in ("ToAddresses", "CcAddresses", "BccAddresses")
        for a in (request.get("Destination") or {}).get(key, [])
    ]
    problem, mime = _validate(request, destination)
    if problem:
        return aws_error(400, "BadRequestException", problem)
    refused = [a for a in destination if a.lower() in state.rejected_addresses]
    if refused:
        return aws_error(400, "MessageRejected", f"Address blacklisted: {refused[0]}")
    message = SesMessage(f"0100-fake-{next(state._ids):08d}", destination, request, mime)
    for address in destination:
        state.accepted[address.lower()].append(message)
    if state.faults.take("drops"):
        return Reply.dropped()
    return Reply.json(200, {"MessageId": message.message_id})


def _validate(
    request: dict[str, Any],
    destination: list[str],
) -> tuple[str, email.message.EmailMessage | None]:
    content = request.get("Content") or {}
    kinds = [k for k in ("Simple", "Raw", "Template") if k in content]
    if len(kinds) != 1:
        return "Content must have exactly one of Simple, Raw or Template.", None
    if not destination:
        return "Destination is required.", None
    if len(destination) > MAX_RECIPIENTS:
        return "Too many recipients.", None
    if kinds[0] != "Raw":
        return "", None
    try:
        data = base64.b64decode(content["Raw"]["Data"], validate=True)
    except (binascii.Error, KeyError, TypeError):
        return "Raw.Data must be base64.", None
    mime = email.message_from_bytes(data, policy=email.policy.default)
    if not request.get("FromEmailAddress") and not mime["From"]:
        return "FromEmailAddress is required.", None
    return "", mime


@contextmanager
def fake_ses(state: SesState | None = None) -> Iterator[tuple[str, SesState]]:
    """Run the fake; yields (base_url, state)."""
    with serve(SesHandler, state or SesState()) as (url, running):
        running.base_url = url
        yield url, running
