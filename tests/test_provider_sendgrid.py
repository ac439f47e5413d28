"""The SendGrid adapter: what goes over the wire (MockTransport) and end to end (fake server)."""

from __future__ import annotations

import datetime as dt
import html
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.httpserver import serve
from fakes.messages import NASTY, build_provider
from fakes.messages import make_batch as build_batch
from fakes.messages import make_message as build_message
from fakes.sendgrid import API_KEY, SendgridHandler, SendgridState
from seriespub.config import (
    DeliverySettings,
    SendgridSettings,
)
from seriespub.errors import (
    AmbiguousSendError,
    ConfigError,
    PermanentSendError,
    RateLimited,
    TransientSendError,
)
from seriespub.message import PreparedMessage
from seriespub.models import Outcome, SubscriberStatus
from seriespub.providers.base import Batch
from seriespub.providers.sendgrid import SendgridProvider


def make_message(reply_to: str | None = None) -> PreparedMessage:
    return build_message(3, "Part three", reply_to=reply_to)


def make_batch(
    *people: tuple[str, str],
    test: bool = False,
    send_at: dt.datetime | None = None,
    message: PreparedMessage | None = None,
) -> Batch:
    return build_batch(message or make_message(), *people, test=test, send_at=send_at)


def readers(n: int) -> list[tuple[str, str]]:
    return [(f"reader{i}@example.com", f"Reader {i}") for i in range(n)]


def make(
    url: str = "https://api.sendgrid.com",
    transport: httpx.BaseTransport | None = None,
    key: str | None = API_KEY,
    asm: int | None = None,
    timeout: float = 10.0,
) -> SendgridProvider:
    delivery = DeliverySettings(
        provider="sendgrid",
        timeout=timeout,
        sendgrid=SendgridSettings(api_url=url, asm_group_id=asm),
    )
    env = {"SENDGRID_API_KEY": key} if key else {}
    provider = build_provider("sendgrid", delivery, env, transport)
    assert isinstance(provider, SendgridProvider)
    return provider


def recording(
    seen: list[httpx.Request],
    status: int = 202,
    payload: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v3/mail/batch":
            return httpx.Response(201, json={"batch_id": "sg-batch-1"})
        if status == 202:
            return httpx.Response(202, headers={"X-Message-Id": "sg-msg-1"})
        return httpx.Response(status, json=payload, headers=headers)

    return httpx.MockTransport(handler)


# -- over the wire ---------------------------------------------------------------------------


def test_one_request_with_content_once_and_substitutions() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(("ann@example.com", NASTY), ("bo@example.com", "Smith, Bo"))
    results = make(transport=recording(seen)).send_batch(batch)

    assert [(r.outcome, r.message_id) for r in results] == [(Outcome.SENT, "sg-msg-1")] * 2
    assert len(seen) == 1
    post = seen[0]
    assert post.url.path == "/v3/mail/send"
    assert post.headers["Authorization"] == f"Bearer {API_KEY}"
    assert post.headers["Content-Type"] == "application/json"
    body = json.loads(post.content)
    assert body["from"] == {"email": "author@example.com", "name": "Author"}
    assert body["subject"] == "Part three"
    assert body["content"] == [
        {"type": "text/plain", "value": "Hi -sp0t-\nUnsubscribe: -sp1t-"},
        {"type": "text/html", "value": '<p>Hi -sp0h-</p><a href="-sp1h-">unsubscribe</a>'},
    ]
    ann = batch.recipients[0]
    first = body["personalizations"][0]
    assert first["to"] == [{"email": "ann@example.com", "name": NASTY}]
    assert first["substitutions"] == {
        "-sp0h-": "&lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;",
        "-sp0t-": NASTY,
        "-sp1h-": ann.unsubscribe_url,
        "-sp1t-": ann.unsubscribe_url,
    }
    assert first["custom_args"] == {"seriespub_delivery": ann.delivery_id}
    assert first["headers"] == {
        "List-Unsubscribe": f"<{ann.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["personalizations"][1]["to"] == [{"email": "bo@example.com", "name": "Smith  Bo"}]
    assert "asm" not in body and "send_at" not in body
    assert body["headers"] == {"List-Id": batch.message.list_id_header}  # every message's


def test_mailto_unsubscribe_and_a_name_of_separators_only() -> None:
    """Without an https unsubscribe URL the reader's mailto: is the header (no one-click
    header), and a name that is only ',' and ';' leaves `to` without a name."""
    seen: list[httpx.Request] = []
    message = build_message(3, "Part three", unsubscribe_url="")
    batch = make_batch(("ann@example.com", " , ; "), message=message)
    make(transport=recording(seen)).send_batch(batch)
    person = json.loads(seen[0].content)["personalizations"][0]
    mailto = message.mailto_unsubscribe("ann@example.com")
    assert person["to"] == [{"email": "ann@example.com"}]
    assert person["headers"] == {"List-Unsubscribe": f"<{mailto}>"}
    assert person["substitutions"]["-sp1t-"] == mailto
    assert person["substitutions"]["-sp1h-"] == mailto  # nothing in it to escape


def test_test_send_and_reply_to() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(
        ("ann@example.com", "Ann"),
        test=True,
        message=make_message(reply_to="Desk <desk@example.com>"),
    )
    make(transport=recording(seen)).send_batch(batch)
    body = json.loads(seen[0].content)
    assert body["subject"] == "Part three"  # the core marks test subjects
    assert body["reply_to"] == {"email": "desk@example.com", "name": "Desk"}


def test_unsubscribe_group_uses_sendgrid_links() -> None:
    seen: list[httpx.Request] = []
    make(transport=recording(seen), asm=42).send_batch(make_batch(("ann@example.com", "Ann")))
    body = json.loads(seen[0].content)
    assert body["asm"] == {"group_id": 42}
    person = body["personalizations"][0]
    assert person["substitutions"]["-sp1t-"] == "<%asm_group_unsubscribe_raw_url%>"
    assert person["substitutions"]["-sp1h-"] == "&lt;%asm_group_unsubscribe_raw_url%&gt;"
    assert "headers" not in person


def test_scheduled_send_gets_a_batch_id_and_can_be_cancelled() -> None:
    seen: list[httpx.Request] = []
    provider = make(transport=recording(seen))
    when = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)
    results = provider.send_batch(make_batch(("ann@example.com", "Ann"), send_at=when))
    assert [r.url.path for r in seen] == ["/v3/mail/batch", "/v3/mail/send"]
    body = json.loads(seen[1].content)
    assert body["send_at"] == int(when.timestamp()) and body["batch_id"] == "sg-batch-1"
    assert results[0].message_id == "sg-batch-1"
    assert provider.max_schedule_ahead == dt.timedelta(hours=72)

    provider.cancel_scheduled("key-1", [r.message_id for r in results] * 2)
    cancels = [r for r in seen if r.url.path == "/v3/user/scheduled_sends"]
    assert [json.loads(r.content) for r in cancels] == [
        {"batch_id": "sg-batch-1", "status": "cancel"}
    ]


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_refusals_are_permanent(status: int) -> None:
    payload = {"errors": [{"message": "The from address does not match", "field": "from"}]}
    provider = make(transport=recording([], status, payload), key="SG.sekrit-value")
    with pytest.raises(PermanentSendError) as caught:
        provider.send_batch(make_batch(("ann@example.com", "Ann")))
    assert caught.value.status == status
    assert "The from address does not match (from)" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(provider), str(vars(provider))):
        assert "sekrit" not in text


def test_rate_limit_waits_until_the_reset_epoch() -> None:
    reset = str(int(time.time()) + 30)
    payload = {"errors": [{"field": None, "message": "too many requests"}]}
    provider = make(transport=recording([], 429, payload, {"X-RateLimit-Reset": reset}))
    with pytest.raises(RateLimited) as caught:
        provider.send_batch(make_batch(("ann@example.com", "Ann")))
    assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 30


def test_server_error_is_transient_and_timeout_ambiguous() -> None:
    with pytest.raises(TransientSendError):
        make(transport=recording([], 503, {"errors": []})).send_batch(
            make_batch(("ann@example.com", ""))
        )

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    with pytest.raises(AmbiguousSendError):
        make(transport=httpx.MockTransport(slow)).send_batch(make_batch(("a@example.com", "")))


def test_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        make(key=None)


# -- end to end, over a real socket ----------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[tuple[str, SendgridState]]:
    with serve(SendgridHandler, SendgridState()) as running:
        yield running


def test_fake_receives_one_personal_message_each(fake: tuple[str, SendgridState]) -> None:
    url, state = fake
    batch = make_batch(("ann@example.com", NASTY), *readers(3))
    results = make(url).send_batch(batch)
    assert [r.outcome for r in results] == [Outcome.SENT] * 4
    assert len(state.requests) == 1 and len(state.accepted) == 4
    ann = state.to("ann@example.com")[0]
    assert ann["html"] == batch.message.html_for(batch.recipients[0])
    assert ann["text"] == batch.message.text_for(batch.recipients[0])
    assert ann["message_id"] == results[0].message_id
    assert ann["custom_args"] == {"seriespub_delivery": batch.recipients[0].delivery_id}


def test_fake_limits_and_validation(fake: tuple[str, SendgridState]) -> None:
    url, state = fake
    provider = make(url)
    with pytest.raises(PermanentSendError, match="1000 or fewer"):
        provider.send_batch(make_batch(*readers(1001)))
    with pytest.raises(PermanentSendError, match="unique"):
        provider.send_batch(make_batch(("a@example.com", ""), ("A@example.com", "")))
    too_late = dt.datetime.now(dt.UTC) + dt.timedelta(hours=80)
    with pytest.raises(PermanentSendError, match="72 hours"):
        provider.send_batch(make_batch(("a@example.com", ""), send_at=too_late))
    assert state.accepted == []


def test_fake_rate_limit_server_error_and_drop(fake: tuple[str, SendgridState]) -> None:
    url, state = fake
    provider = make(url)
    state.faults.rate_limited = 1
    state.faults.server_errors = 1
    state.faults.drops = 1
    with pytest.raises(RateLimited) as limited:
        provider.send_batch(make_batch(("ann@example.com", "")))
    assert limited.value.retry_after is not None and limited.value.retry_after <= 3
    with pytest.raises(TransientSendError):
        provider.send_batch(make_batch(("ann@example.com", "")))
    with pytest.raises(AmbiguousSendError):
        provider.send_batch(make_batch(("ann@example.com", "")))
    assert len(state.accepted) == 1  # the dropped answer still delivered
    assert provider.settle(make_batch(("ann@example.com", ""))) is None


def test_fake_schedule_and_cancel(fake: tuple[str, SendgridState]) -> None:
    url, state = fake
    provider = make(url)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    results = provider.send_batch(make_batch(*readers(2), send_at=when))
    batch_id = results[0].message_id
    assert batch_id in state.batch_ids
    assert {m["batch_id"] for m in state.accepted} == {batch_id}
    provider.cancel_scheduled("key-1", [r.message_id for r in results])
    assert state.cancelled == {batch_id: "cancel"}


def test_fake_suppressions(fake: tuple[str, SendgridState]) -> None:
    url, state = fake
    state.suppressions["unsubscribes"] = [
        {"created": 1, "email": f"u{i}@example.com"} for i in range(501)
    ]
    state.suppressions["bounces"] = [
        {"created": 1, "email": "b@example.com", "reason": "550 no such user", "status": "5.1.1"}
    ]
    state.suppressions["spam_reports"] = [
        {"created": 1, "email": "s@example.com", "ip": "10.0.0.1"}
    ]
    state.group_suppressions[7] = ["g@example.com"]
    found = make(url, asm=7).suppressions()
    statuses = {s.email: s.status for s in found}
    assert len(found) == 504
    assert statuses["u500@example.com"] is SubscriberStatus.UNSUBSCRIBED
    assert statuses["b@example.com"] is SubscriberStatus.BOUNCED
    assert statuses["s@example.com"] is SubscriberStatus.COMPLAINED
    assert statuses["g@example.com"] is SubscriberStatus.UNSUBSCRIBED


def test_fake_rejects_a_wrong_key(fake: tuple[str, SendgridState]) -> None:
    url, _ = fake
    with pytest.raises(PermanentSendError) as caught:
        make(url, key="SG.wrong").send_batch(make_batch(("ann@example.com", "")))
    assert caught.value.status == 401 and "SG.wrong" not in str(caught.value)


def test_the_suppression_lists_are_asked_for_together() -> None:
    """Three lists and the unsubscribe group in one round trip of waiting: each answer is
    held until all four requests are in flight (one after another, the first would wait
    alone and time out)."""
    together = threading.Barrier(4, timeout=5)
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        together.wait()
        if "/asm/" in request.url.path:
            return httpx.Response(200, json=["g@example.com"])
        kind = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=[{"email": f"{kind}@example.com"}])

    found = make(asm=7, transport=httpx.MockTransport(handler)).suppressions()
    assert len(paths) == 4
    assert [(s.email, s.status) for s in found] == [
        ("unsubscribes@example.com", SubscriberStatus.UNSUBSCRIBED),
        ("bounces@example.com", SubscriberStatus.BOUNCED),
        ("spam_reports@example.com", SubscriberStatus.COMPLAINED),
        ("g@example.com", SubscriberStatus.UNSUBSCRIBED),
    ]


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(
        st.sampled_from("&<>\"' ,;é") | st.characters(blacklist_categories=["Cc", "Cs"]),
        max_size=12,
    )
)
def test_substitutions_are_each_value_and_its_html_escape(name: str) -> None:
    """The adapter writes the JSON itself and skips escaping a value with nothing to
    escape: on any name, what SendGrid parses is the value and `html.escape` of it."""
    seen: list[httpx.Request] = []
    batch = make_batch(("ann@example.com", name))
    make(transport=recording(seen)).send_batch(batch)
    person = json.loads(seen[0].content)["personalizations"][0]
    ann = batch.recipients[0]
    shown = ann.values["name"] or "reader"
    assert person["substitutions"]["-sp0h-"] == html.escape(shown)
    assert person["substitutions"]["-sp0t-"] == shown
    assert person["headers"] == {
        "List-Unsubscribe": f"<{ann.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
