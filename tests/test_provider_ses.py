"""The SES v2 adapter: the wire (MockTransport), the fake server, and moto in server mode."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.messages import NASTY, build_provider
from fakes.messages import make_batch as build_batch
from fakes.messages import make_message as build_message
from fakes.ses import SesState, fake_ses
from seriespub.config import DeliverySettings, Secrets, SeriesSettings, SesSettings, Settings
from seriespub.errors import (
    ConfigError,
    PermanentSendError,
    RateLimited,
    TransientSendError,
)
from seriespub.message import PreparedMessage
from seriespub.models import Outcome, Subscriber
from seriespub.providers import ProviderContext, make_provider
from seriespub.providers.base import Batch
from seriespub.providers.ses import SesProvider, SigV4

KEY_ID = "AKIDEXAMPLE"
SECRET = "fake-secret-key"
Handler = Callable[[httpx.Request], httpx.Response]
AUTH_SHAPE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/ses/"
    r"aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$"
)


def make_message() -> PreparedMessage:
    return build_message(2, "Part 2")


def make_batch(*people: tuple[str, str], test: bool = False) -> Batch:
    return build_batch(make_message(), *people, key="002-batchkey", test=test)


def readers(n: int) -> list[tuple[str, str]]:
    return [(f"reader{i}@example.com", f"Reader {i}") for i in range(n)]


def make(
    tmp_path: Path,
    *,
    api_url: str | None = None,
    region: str = "us-east-1",
    transport: httpx.BaseTransport | None = None,
    env: dict[str, str] | None = None,
    configuration_set: str | None = None,
    contact_list: str | None = None,
) -> SesProvider:
    ses = SesSettings(
        region=region,
        api_url=api_url,
        configuration_set=configuration_set,
        contact_list=contact_list,
    )
    secrets = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, **(env or {})}
    provider = build_provider(
        "ses", DeliverySettings(provider="ses", ses=ses), secrets, transport, tmp_path
    )
    assert isinstance(provider, SesProvider)
    return provider


def answering(
    seen: list[httpx.Request],
    replies: list[httpx.Response] | None = None,
) -> Handler:
    queue = list(replies or [])

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if queue:
            return queue.pop(0)
        return httpx.Response(200, json={"MessageId": f"m{len(seen)}"})

    return handler


def aws_error(status: int, code: str, message: str = "no") -> httpx.Response:
    return httpx.Response(
        status,
        json={"message": message},
        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"},
    )


# --- over the wire -------------------------------------------------------------------------


def test_signed_raw_send_per_recipient(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(
        tmp_path,
        region="eu-west-1",
        transport=httpx.MockTransport(answering(seen)),
        configuration_set="newsletter",
        contact_list="readers",
    )
    batch = make_batch(("ann@example.com", NASTY), ("bo@example.com", "Bo"))

    results = provider.send_batch(batch)

    assert [(r.outcome, r.message_id) for r in results] == [
        (Outcome.SENT, "m1"),
        (Outcome.SENT, "m2"),
    ]
    assert [str(r.url) for r in seen] == [
        "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails"
    ] * 2
    request = seen[0]
    assert AUTH_SHAPE.match(request.headers["authorization"]), request.headers["authorization"]
    assert "host" in request.headers["authorization"] and "x-amz-date" in request.headers
    body = json.loads(request.content)
    assert body["FromEmailAddress"] == "author@example.com"
    assert body["Destination"] == {"ToAddresses": ["ann@example.com"]}
    assert body["ConfigurationSetName"] == "newsletter"
    assert body["ListManagementOptions"] == {"ContactListName": "readers"}
    assert body["EmailTags"] == [{"Name": "seriespub_part", "Value": "2"}]
    assert base64.b64decode(body["Content"]["Raw"]["Data"]) == batch.message.mime_for(
        batch.recipients[0], date=_date(body)
    )
    mime = email.message_from_bytes(
        base64.b64decode(body["Content"]["Raw"]["Data"]), policy=email.policy.default
    )
    assert mime["List-Unsubscribe"] == f"<{batch.recipients[0].unsubscribe_url}>"
    html = mime.get_body(("html",))
    assert html is not None
    assert "Hi &lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;" in html.get_content()


def _date(body: dict[str, Any]) -> str:
    raw = base64.b64decode(body["Content"]["Raw"]["Data"])
    return str(email.message_from_bytes(raw)["Date"])


def test_session_token_is_signed_and_endpoint_env_is_used(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(
        tmp_path,
        transport=httpx.MockTransport(answering(seen)),
        env={"AWS_SESSION_TOKEN": "tok", "AWS_ENDPOINT_URL_SESV2": "http://sesv2.test"},
    )
    provider.send_batch(make_batch(("ann@example.com", "Ann"), test=True))
    assert str(seen[0].url) == "http://sesv2.test/v2/email/outbound-emails"
    assert seen[0].headers["x-amz-security-token"] == "tok"
    raw = base64.b64decode(json.loads(seen[0].content)["Content"]["Raw"]["Data"])
    assert email.message_from_bytes(raw)["Subject"] == "Part 2"  # the core marks test subjects


def test_message_rejected_fails_that_recipient_only(tmp_path: Path) -> None:
    replies = [
        httpx.Response(200, json={"MessageId": "m1"}),
        aws_error(400, "MessageRejected", "Email address is not verified."),
    ]
    provider = make(tmp_path, transport=httpx.MockTransport(answering([], replies)))
    results = provider.send_batch(make_batch(*readers(3)))
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert "not verified" in results[1].reason


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (aws_error(429, "TooManyRequestsException"), RateLimited),
        (aws_error(400, "LimitExceededException"), RateLimited),
        (
            httpx.Response(400, json={"__type": "com.amazon#Throttling", "message": "x"}),
            RateLimited,
        ),
        (aws_error(400, "SendingPausedException"), PermanentSendError),
        (aws_error(400, "AccountSuspendedException"), PermanentSendError),
        (aws_error(400, "MailFromDomainNotVerifiedException"), PermanentSendError),
        (aws_error(403, "InvalidSignatureException"), PermanentSendError),
        (aws_error(503, "ServiceUnavailable"), TransientSendError),
    ],
)
def test_request_level_errors_on_the_first_recipient_raise(
    tmp_path: Path, reply: httpx.Response, error: type[Exception]
) -> None:
    provider = make(tmp_path, transport=httpx.MockTransport(answering([], [reply])))
    with pytest.raises(error) as caught:
        provider.send_batch(make_batch(*readers(2)))
    assert type(caught.value) is error
    for secret in (SECRET, KEY_ID):
        assert secret not in str(caught.value) and secret not in repr(provider)


def test_a_throttle_mid_batch_keeps_what_was_sent(tmp_path: Path) -> None:
    replies = [
        httpx.Response(200, json={"MessageId": "m1"}),
        aws_error(429, "TooManyRequestsException", "Maximum sending rate exceeded."),
    ]
    provider = make(tmp_path, transport=httpx.MockTransport(answering([], replies)))
    results = provider.send_batch(make_batch(*readers(3)))
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.TRANSIENT, Outcome.TRANSIENT]


def test_secrets_never_leak_through_repr(tmp_path: Path) -> None:
    provider = make(tmp_path)
    auth = provider.client.auth
    assert isinstance(auth, SigV4)
    for text in (repr(provider), repr(auth), repr(provider.client)):
        assert SECRET not in text and KEY_ID not in text


def test_missing_credentials_are_config_errors(tmp_path: Path) -> None:
    settings = Settings(SeriesSettings("T", "a@example.com"), DeliverySettings(provider="ses"))
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY"):
        make_provider(
            "ses", ProviderContext(settings, Secrets({"AWS_ACCESS_KEY_ID": "a"}), tmp_path)
        )


# --- end to end against the fake -----------------------------------------------------------


def test_fake_verifies_the_signature_and_records_each_reader_once(tmp_path: Path) -> None:
    with fake_ses(SesState(access_key=KEY_ID, secret_key=SECRET)) as (url, state):
        provider = make(tmp_path, api_url=url)
        batch = make_batch(("ann@example.com", NASTY), *readers(3))
        results = provider.send_batch(batch)
        provider.close()
    assert {r.outcome for r in results} == {Outcome.SENT}
    for recipient in batch.recipients:
        [got] = state.messages_to(recipient.email)
        assert got.mime is not None
        assert got.mime["List-Unsubscribe"] == f"<{recipient.unsubscribe_url}>"
        assert got.mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_fake_refuses_a_bad_signature(tmp_path: Path) -> None:
    with (
        fake_ses(SesState(access_key=KEY_ID, secret_key="something-else")) as (url, state),
        pytest.raises(PermanentSendError, match="InvalidSignatureException"),
    ):
        make(tmp_path, api_url=url).send_batch(make_batch(*readers(1)))
    assert not state.accepted


def test_fake_faults(tmp_path: Path) -> None:
    state = SesState(
        access_key=KEY_ID, secret_key=SECRET, rejected_addresses={"reader1@example.com"}
    )
    with fake_ses(state) as (url, _):
        provider = make(tmp_path, api_url=url)
        state.faults.rate_limited = 1
        with pytest.raises(RateLimited):
            provider.send_batch(make_batch(*readers(2)))
        state.faults.server_errors = 1
        with pytest.raises(TransientSendError):
            provider.send_batch(make_batch(*readers(2)))
        results = provider.send_batch(make_batch(*readers(3)))
        state.sending_paused = True
        with pytest.raises(PermanentSendError, match="SendingPaused"):
            provider.send_batch(make_batch(("late@example.com", "Late")))
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert [len(state.messages_to(e)) for e, _ in readers(3)] == [1, 0, 1]


def test_fake_drop_mid_batch_is_one_result_per_recipient(tmp_path: Path) -> None:
    with fake_ses(SesState(access_key=KEY_ID, secret_key=SECRET)) as (url, state):
        provider = make(tmp_path, api_url=url)
        provider.send_batch(make_batch(("first@example.com", "First")))
        state.faults.drops = 1
        results = provider.send_batch(make_batch(*readers(3)))
    assert [(r.email, r.outcome) for r in results] == [
        ("reader0@example.com", Outcome.UNKNOWN),
        ("reader1@example.com", Outcome.TRANSIENT),
        ("reader2@example.com", Outcome.TRANSIENT),
    ]
    assert len(state.messages_to("reader0@example.com")) == 1  # accepted, answer lost
    assert not state.messages_to("reader1@example.com")


# --- end to end against moto in server mode ------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto(moto_url: str) -> Iterator[str]:
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()
    from seriespub.config import Secret

    auth = SigV4(Secret(KEY_ID), Secret(SECRET), None, "us-east-1")
    reply = httpx.post(
        f"{moto_url}/v2/email/identities", auth=auth, json={"EmailIdentity": "example.com"}
    )
    assert reply.status_code == 200, reply.text
    yield moto_url


def moto_raw_messages(url: str) -> list[dict[str, Any]]:
    data = httpx.get(f"{url}/moto-api/data.json").json()
    messages: list[dict[str, Any]] = data.get("ses", {}).get("RawMessage", [])
    return messages


def test_moto_receives_one_raw_message_per_reader(tmp_path: Path, moto: str) -> None:
    provider = make(tmp_path, env={"AWS_ENDPOINT_URL_SESV2": moto})
    batch = make_batch(("ann@example.com", NASTY), *readers(2))
    results = provider.send_batch(batch)

    assert {r.outcome for r in results} == {Outcome.SENT}
    stored = moto_raw_messages(moto)
    assert sorted(m["destinations"][0] for m in stored) == sorted(r.email for r in batch.recipients)
    assert {m["id"] for m in stored} == {r.message_id for r in results}
    for recipient in batch.recipients:
        # moto lists the envelope recipient first, then what it parses from the To header.
        [raw] = [m["raw_data"] for m in stored if m["destinations"][0] == recipient.email]
        mime = email.message_from_string(raw, policy=email.policy.default)
        assert mime["List-Unsubscribe"] == f"<{recipient.unsubscribe_url}>"
        assert mime["Subject"] == "Part 2"


def test_moto_refuses_an_unverified_sender(tmp_path: Path, moto: str) -> None:
    provider = make(tmp_path, api_url=moto)
    message = make_message()
    message.from_header = "Other <other@unverified.test>"
    batch = Batch("k", message, [message.recipient(Subscriber("ann@example.com", "Ann"))])
    results = provider.send_batch(batch)
    assert results[0].outcome is Outcome.FAILED
    assert moto_raw_messages(moto) == []
