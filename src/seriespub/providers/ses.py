"""Amazon SES v2 over httpx: one SigV4-signed `SendEmail` with raw MIME per recipient.

Raw MIME keeps our own `List-Unsubscribe` headers intact. Signing uses botocore's
maintained `SigV4Auth`; the request itself goes through the shared httpx client so tests
can inject a transport. Recipients of a batch are sent in order and the batch stops at the
first request-level failure, so every result is known: SES has no idempotency key.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Generator, Sequence
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from seriespub.config import Secret
from seriespub.errors import (
    AmbiguousSendError,
    PermanentSendError,
    RateLimited,
    SendError,
    TransientSendError,
)
from seriespub.message import PreparedMessage
from seriespub.models import Outcome, Recipient, RecipientResult
from seriespub.providers import SPECS, ProviderContext
from seriespub.providers.base import Batch, ProviderBase
from seriespub.providers.http import make_client, request

SPEC = SPECS["ses"]

SIGNING_NAME = "ses"
SEND_PATH = "/v2/email/outbound-emails"
THROTTLING = frozenset(
    {"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException"}
)
# Refusals of this one message or address; anything else about the account stops the batch.
RECIPIENT_ERRORS = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})
PART_TAG = "seriespub_part"


@dataclasses.dataclass(frozen=True)
class SesOptions:
    configuration_set: str | None = None
    contact_list: str | None = None


class SigV4(httpx.Auth):
    """Signs each request with botocore's SigV4 signer; secrets are revealed only here."""

    requires_request_body = True

    def __init__(self, key_id: Secret, secret: Secret, token: Secret | None, region: str) -> None:
        self._key_id, self._secret, self._token = key_id, secret, token
        self.region = region

    def __repr__(self) -> str:
        return f"SigV4(region={self.region!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        credentials = Credentials(
            self._key_id.reveal(),
            self._secret.reveal(),
            self._token.reveal() if self._token else None,
        )
        signed = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={"Content-Type": request.headers.get("Content-Type", "")},
        )
        SigV4Auth(credentials, SIGNING_NAME, self.region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


class SesProvider(ProviderBase, spec=SPEC):
    """SES v2 `SendEmail` with `Content.Raw`, one request per recipient."""

    def __init__(self, client: httpx.Client, base_url: str, options: SesOptions) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.options = options

    def __repr__(self) -> str:
        return f"SesProvider(base_url={self.base_url!r})"

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        message = _for_batch(batch)
        results: list[RecipientResult] = []
        for index, recipient in enumerate(batch.recipients):
            try:
                message_id = self._send_one(message, recipient)
            except _Refused as refused:
                results.append(RecipientResult(recipient.email, Outcome.FAILED, "", refused.reason))
                continue
            except AmbiguousSendError as exc:
                # Only this one is in doubt: those before were accepted, none after was tried.
                doubt = RecipientResult(recipient.email, Outcome.UNKNOWN, "", exc.reason)
                rest = _transient(batch.recipients[index + 1 :], "not attempted")
                return [*results, doubt, *rest]
            except (PermanentSendError, TransientSendError) as exc:
                if index == 0:
                    raise
                # Those before were accepted; nothing after was attempted.
                return results + _transient(batch.recipients[index:], exc.reason)
            results.append(RecipientResult(recipient.email, Outcome.SENT, message_id))
        return results

    def close(self) -> None:
        self.client.close()

    def _send_one(self, message: PreparedMessage, recipient: Recipient) -> str:
        body = json.dumps(self.payload(message, recipient))
        names: list[str] = []
        try:
            response = request(
                self.client,
                "POST",
                f"{self.base_url}{SEND_PATH}",
                provider=self.name,
                content=body.encode(),
                headers={"Content-Type": "application/json"},
                error_message=_error_reader(names),
            )
        except SendError as exc:
            raise _reclassify(exc, names[0] if names else "") from None
        return str(response.json().get("MessageId", ""))

    def payload(self, message: PreparedMessage, recipient: Recipient) -> dict[str, Any]:
        """The `SendEmail` request body for one recipient."""
        raw = base64.b64encode(message.mime_for(recipient)).decode("ascii")
        body: dict[str, Any] = {
            "FromEmailAddress": message.from_email,
            "Destination": {"ToAddresses": [recipient.envelope]},  # IDN domains as A-labels
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": PART_TAG, "Value": str(message.number)}],
        }
        if self.options.configuration_set:
            body["ConfigurationSetName"] = self.options.configuration_set
        if self.options.contact_list:
            body["ListManagementOptions"] = {"ContactListName": self.options.contact_list}
        return body


class _Refused(SendError):
    """SES refused this one message (MessageRejected and the like)."""


def _for_batch(batch: Batch) -> PreparedMessage:
    return batch.message


def _error_reader(names: list[str]) -> Callable[[httpx.Response], str]:
    """Error code from `x-amzn-errortype` (before `:`), else body `__type`/`code` (after `#`)."""

    def read(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = response.headers.get("x-amzn-errortype", "").split(":")[0]
        code = code or str(body.get("__type") or body.get("code") or body.get("Code") or "")
        names.append(code.rsplit("#", 1)[-1])
        message = body.get("message") or body.get("Message") or response.reason_phrase
        return f"{message} ({names[-1]})" if names[-1] else str(message)

    return read


def _reclassify(exc: SendError, code: str) -> SendError:
    if code in THROTTLING:
        return RateLimited(
            exc.reason,
            provider=exc.provider,
            status=exc.status,
            retry_after=exc.retry_after if isinstance(exc, RateLimited) else None,
        )
    if code in RECIPIENT_ERRORS:
        return _Refused(exc.reason, provider=exc.provider, status=exc.status)
    return exc


def _transient(recipients: Sequence[Recipient], reason: str) -> list[RecipientResult]:
    return [RecipientResult(r.email, Outcome.TRANSIENT, "", reason) for r in recipients]


def endpoint(context: ProviderContext) -> str:
    """`api_url` setting, else AWS_ENDPOINT_URL_SESV2, else the regional endpoint."""
    ses = context.settings.delivery.ses
    if ses.api_url:
        return ses.api_url
    override = context.secrets.get("AWS_ENDPOINT_URL_SESV2")
    return override.reveal() if override else f"https://email.{ses.region}.amazonaws.com"


def create(context: ProviderContext) -> SesProvider:
    settings = context.settings.delivery
    why = "the ses provider"
    auth = SigV4(
        context.secrets.require("AWS_ACCESS_KEY_ID", why),
        context.secrets.require("AWS_SECRET_ACCESS_KEY", why),
        context.secrets.credential("AWS_SESSION_TOKEN"),
        settings.ses.region,
    )
    client = make_client(settings.timeout, context.http_transport, auth=auth)
    options = SesOptions(settings.ses.configuration_set, settings.ses.contact_list)
    return SesProvider(client, endpoint(context), options)
