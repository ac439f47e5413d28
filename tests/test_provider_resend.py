"""The Resend adapter: what goes over the wire (MockTransport) and end to end (fake server)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.messages import NASTY, build_provider
from fakes.messages import make_batch as build_batch
from fakes.messages import make_message as build_message
from fakes.resend import ResendState, fake_resend
from seriespub.config import DeliverySettings, ResendSettings
from seriespub.errors import (
    AmbiguousSendError,
    ConfigError,
    PermanentSendError,
    RateLimited,
    TransientSendError,
)
from seriespub.message import PreparedMessage
from seriespub.models import Outcome, Recipient, SubscriberStatus
from seriespub.providers.base import Batch
from seriespub.providers.resend import Emails, ResendProvider, idempotency_key

KEY = "re_test_key"
Handler = Callable[[httpx.Request], httpx.Response]
SOON = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def make_message() -> PreparedMessage:
    return build_message(3, "Part 3", reply_to="Replies <replies@example.com>")


def make_batch(
    *people: tuple[str, str],
    key: str = "003-batchkey",
    test: bool = False,
    send_at: dt.datetime | None = None,
) -> Batch:
    return build_batch(make_message(), *people, key=key, test=test, send_at=send_at)


def readers(n: int) -> list[tuple[str, str]]:
    return [(f"reader{i}@example.com", f"Reader {i}") for i in range(n)]


def make(
    tmp_path: Path,
    *,
    api_url: str = "https://api.resend.com",
    transport: httpx.BaseTransport | None = None,
    key: str = KEY,
) -> ResendProvider:
    delivery = DeliverySettings(provider="resend", resend=ResendSettings(api_url=api_url))
    provider = build_provider("resend", delivery, {"RESEND_API_KEY": key}, transport, tmp_path)
    assert isinstance(provider, ResendProvider)
    return provider


def answering(
    seen: list[httpx.Request],
    status: int = 200,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if body is not None:
            return httpx.Response(status, json=body, headers=headers)
        items = json.loads(request.content)
        return httpx.Response(
            200, json={"data": [{"id": f"id-{i}"} for i in range(len(items))], "errors": []}
        )

    return handler


# --- over the wire -------------------------------------------------------------------------


def test_batch_request_shape(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, transport=httpx.MockTransport(answering(seen)))
    batch = make_batch(("ann@example.com", NASTY), ("bo@example.com", "Bo"))

    results = provider.send_batch(batch)

    assert [(r.outcome, r.message_id) for r in results] == [
        (Outcome.SENT, "id-0"),
        (Outcome.SENT, "id-1"),
    ]
    [request] = seen
    assert str(request.url) == "https://api.resend.com/emails/batch"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("seriespub/")
    assert request.headers["x-batch-validation"] == "permissive"
    assert request.headers["idempotency-key"] == idempotency_key("003-batchkey")
    ann, bo = json.loads(request.content)
    assert ann["to"] == ["ann@example.com"] and bo["to"] == ["bo@example.com"]
    assert ann["from"] == "Author <author@example.com>"
    assert ann["reply_to"] == "Replies <replies@example.com>"
    assert ann["subject"] == "Part 3"
    assert ann["html"].startswith("<p>Hi &lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;</p>")
    assert ann["text"].startswith(f"Hi {NASTY}\n")
    url = batch.recipients[0].unsubscribe_url
    assert ann["headers"] == {
        "List-Id": batch.message.list_id_header,
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert ann["tags"] == [{"name": "seriespub_part", "value": "3"}]
    assert "scheduled_at" not in ann


def test_idempotency_key_is_stable_and_bounded(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, transport=httpx.MockTransport(answering(seen)))
    provider.send_batch(make_batch(("ann@example.com", "Ann")))
    provider.send_batch(make_batch(("ann@example.com", "Ann")))
    provider.send_batch(make_batch(("ann@example.com", "Ann"), key="003-other"))

    keys = [r.headers["idempotency-key"] for r in seen]
    assert keys[0] == keys[1] != keys[2]
    assert seen[0].content == seen[1].content
    long_key = idempotency_key("x" * 1000)
    assert len(long_key) <= 256 and long_key == idempotency_key("x" * 1000)


def test_permissive_errors_fail_only_their_index(tmp_path: Path) -> None:
    body = {
        "data": [{"id": "a"}, {"id": "c"}],
        "errors": [{"index": 1, "message": "Invalid `to` field"}],
    }
    provider = make(tmp_path, transport=httpx.MockTransport(answering([], 200, body)))
    results = provider.send_batch(make_batch(*readers(3)))
    assert [(r.outcome, r.message_id) for r in results] == [
        (Outcome.SENT, "a"),
        (Outcome.FAILED, ""),
        (Outcome.SENT, "c"),
    ]
    assert results[1].reason == "Invalid `to` field"


@pytest.mark.parametrize(
    ("status", "name", "error"),
    [
        (409, "concurrent_idempotent_requests", TransientSendError),
        (409, "invalid_idempotent_request", PermanentSendError),
        (429, "rate_limit_exceeded", RateLimited),
        (429, "daily_quota_exceeded", RateLimited),
        (403, "invalid_api_key", PermanentSendError),
        (422, "validation_error", PermanentSendError),
        (500, "internal_server_error", TransientSendError),
    ],
)
def test_error_names_refine_the_status(
    tmp_path: Path, status: int, name: str, error: type[Exception]
) -> None:
    body = {"statusCode": status, "name": name, "message": "nope"}
    headers = {"retry-after": "2"} if name == "rate_limit_exceeded" else None
    provider = make(tmp_path, transport=httpx.MockTransport(answering([], status, body, headers)))
    with pytest.raises(error) as caught:
        provider.send_batch(make_batch(("ann@example.com", "Ann")))
    assert type(caught.value) is error
    assert name in str(caught.value) and KEY not in str(caught.value)
    assert KEY not in repr(provider)
    if name == "rate_limit_exceeded":
        assert isinstance(caught.value, RateLimited) and caught.value.retry_after == 2
    if name == "daily_quota_exceeded":  # far beyond any retry window: deferred, not failed
        assert isinstance(caught.value, RateLimited) and caught.value.retry_after == 86400


def test_scheduled_sends_one_email_each_with_scheduled_at(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    replies = iter(["e1", "e2"])

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200, json={"id": next(replies)})

    provider = make(tmp_path, transport=httpx.MockTransport(handler))
    later = SOON.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    results = provider.send_batch(make_batch(*readers(2), send_at=later))

    assert [r.message_id for r in results] == ["e1", "e2"]
    assert [str(r.url) for r in seen] == ["https://api.resend.com/emails"] * 2
    bodies = [json.loads(r.content) for r in seen]
    assert {b["scheduled_at"] for b in bodies} == {"2026-11-02T09:00:00Z"}
    keys = {r.headers["idempotency-key"] for r in seen}
    assert len(keys) == 2 and "x-batch-validation" not in seen[0].headers
    assert provider.max_schedule_ahead == dt.timedelta(days=30)


def test_missing_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RESEND_API_KEY"):
        make(tmp_path, key="")


# --- end to end against the fake -----------------------------------------------------------


def test_every_reader_gets_exactly_one_message(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        provider = make(tmp_path, api_url=url)
        batch = make_batch(*readers(100))
        results = provider.send_batch(batch)
        provider.close()
    assert {r.outcome for r in results} == {Outcome.SENT}
    for recipient in batch.recipients:
        [got] = state.messages_to(recipient.email)
        assert got.payload["html"] == batch.message.html_for(recipient)
        assert got.payload["headers"]["List-Unsubscribe"] == f"<{recipient.unsubscribe_url}>"


def test_user_agent_is_required(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        reply = httpx.post(
            f"{url}/emails", headers={"User-Agent": "", "Authorization": f"Bearer {KEY}"}, json={}
        )
    assert reply.status_code == 403 and not state.accepted


def test_wrong_key_is_permanent(tmp_path: Path) -> None:
    with (
        fake_resend(ResendState(api_key="re_other")) as (url, state),
        pytest.raises(PermanentSendError, match="invalid_api_key") as caught,
    ):
        make(tmp_path, api_url=url).send_batch(make_batch(("ann@example.com", "Ann")))
    assert caught.value.status == 403 and KEY not in str(caught.value)
    assert not state.accepted


def test_dropped_answer_is_settled_by_replaying_the_same_key(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        state.faults.drops = 1
        provider = make(tmp_path, api_url=url)
        batch = make_batch(*readers(3))
        with pytest.raises(AmbiguousSendError):
            provider.send_batch(batch)
        settled = provider.settle(batch)
        again = provider.send_batch(batch)  # a later retry is a replay too
    assert settled is not None and {r.outcome for r in settled} == {Outcome.SENT}
    assert [r.message_id for r in again] == [r.message_id for r in settled]
    for email, _ in readers(3):
        assert len(state.messages_to(email)) == 1


def test_settle_of_a_batch_that_never_arrived_sends_it_once(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        provider = make(tmp_path, api_url=url)
        settled = provider.settle(make_batch(*readers(2)))
    assert settled is not None and {r.outcome for r in settled} == {Outcome.SENT}
    assert all(len(state.messages_to(e)) == 1 for e, _ in readers(2))


def test_changed_batch_under_the_same_key_is_refused_not_resent(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        provider = make(tmp_path, api_url=url)
        provider.send_batch(make_batch(*readers(2)))
        with pytest.raises(PermanentSendError, match="invalid_idempotent_request"):
            provider.send_batch(make_batch(*readers(3)))
        with pytest.raises(PermanentSendError, match="invalid_idempotent_request"):
            provider.settle(make_batch(*readers(3)))  # the core records why it cannot tell
    assert "reader2@example.com" not in state.accepted


def test_invalid_address_fails_alone_in_permissive_mode(tmp_path: Path) -> None:
    state = ResendState(api_key=KEY, invalid_addresses={"reader1@example.com"})
    with fake_resend(state) as (url, _):
        results = make(tmp_path, api_url=url).send_batch(make_batch(*readers(3)))
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert results[0].message_id != results[2].message_id
    assert state.messages_to("reader2@example.com")[0].id == results[2].message_id
    assert not state.messages_to("reader1@example.com")


def test_rate_limit_carries_retry_after_and_sends_nothing(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        state.faults.rate_limited = 1
        provider = make(tmp_path, api_url=url)
        with pytest.raises(RateLimited) as caught:
            provider.send_batch(make_batch(*readers(2)))
        assert not state.accepted
        provider.send_batch(make_batch(*readers(2)))
    assert caught.value.retry_after == 1
    assert all(len(state.messages_to(e)) == 1 for e, _ in readers(2))


def test_concurrent_request_with_the_same_key_is_transient(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        state.in_flight.add(idempotency_key("003-batchkey"))
        with pytest.raises(TransientSendError, match="concurrent_idempotent_requests"):
            make(tmp_path, api_url=url).send_batch(make_batch(*readers(1)))


def test_batch_over_the_limit_is_refused_by_the_fake(tmp_path: Path) -> None:
    with (
        fake_resend(ResendState(api_key=KEY)) as (url, state),
        pytest.raises(PermanentSendError, match="at most 100"),
    ):
        make(tmp_path, api_url=url).send_batch(make_batch(*readers(101)))
    assert not state.accepted


def test_schedule_then_cancel(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        provider = make(tmp_path, api_url=url)
        batch = make_batch(*readers(2), send_at=SOON)
        results = provider.send_batch(batch)
        assert provider.send_batch(batch) == results  # replayed, not scheduled twice
        assert all(len(state.messages_to(e)) == 1 for e, _ in readers(2))
        assert state.messages_to("reader0@example.com")[0].scheduled_at == "2026-11-02T09:00:00Z"
        provider.cancel_scheduled(batch.key, [r.message_id for r in results])
    assert all(not state.messages_to(e) for e, _ in readers(2))


def test_scheduled_drop_keeps_the_known_results(tmp_path: Path) -> None:
    with fake_resend(ResendState(api_key=KEY)) as (url, state):
        provider = make(tmp_path, api_url=url)
        batch = make_batch(*readers(3), send_at=SOON)
        provider.send_batch(Batch(batch.key, batch.message, batch.recipients[:1], SOON))
        state.faults.drops = 1  # the second recipient's answer is lost
        results = provider.send_batch(batch)
        assert [(r.email, r.outcome) for r in results] == [
            ("reader0@example.com", Outcome.SENT),
            ("reader1@example.com", Outcome.UNKNOWN),
            ("reader2@example.com", Outcome.TRANSIENT),
        ]
        settled = provider.settle(Batch(batch.key, batch.message, batch.recipients[1:2], SOON))
    assert settled is not None and settled[0].outcome is Outcome.SENT
    assert all(len(state.messages_to(e)) == 1 for e, _ in readers(2))
    assert not state.messages_to("reader2@example.com")


# --- suppressions ---------------------------------------------------------------------------


def suppression(i: int, origin: str) -> dict[str, Any]:
    return {
        "object": "suppression",
        "id": f"sup-{i}",
        "email": f"s{i}@example.com",
        "origin": origin,
        "source_id": None,
        "created_at": "2026-10-06T23:47:56.678Z",
    }


def contact(i: int, unsubscribed: bool) -> dict[str, Any]:
    return {
        "id": f"con-{i}",
        "email": f"c{i}@example.com",
        "first_name": "",
        "last_name": "",
        "created_at": "2026-10-06T23:47:56.678Z",
        "unsubscribed": unsubscribed,
    }


def test_suppressions_request_shape(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    pages = {
        "/suppressions": [
            {"object": "list", "has_more": True, "data": [suppression(1, "bounce")]},
            {"object": "list", "has_more": False, "data": [suppression(2, "complaint")]},
        ],
        "/contacts": [
            {"object": "list", "has_more": False, "data": [contact(1, True), contact(2, False)]}
        ],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.path].pop(0))

    found = make(tmp_path, transport=httpx.MockTransport(handler)).suppressions()

    assert [(r.method, r.url.path, dict(r.url.params)) for r in seen] == [
        ("GET", "/suppressions", {"limit": "100"}),
        ("GET", "/suppressions", {"limit": "100", "after": "sup-1"}),
        ("GET", "/contacts", {"limit": "100"}),
    ]
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert [(s.email, s.status) for s in found] == [
        ("s1@example.com", SubscriberStatus.BOUNCED),
        ("s2@example.com", SubscriberStatus.COMPLAINED),
        ("c1@example.com", SubscriberStatus.UNSUBSCRIBED),
    ]


def test_suppressions_follow_every_page_of_the_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("seriespub.providers.resend.PAGE_LIMIT", 2)
    origins = ["bounce", "complaint", "manual", "bounce", "bounce"]
    state = ResendState(
        api_key=KEY,
        suppressions=[suppression(i, o) for i, o in enumerate(origins)],
        contacts=[contact(i, i % 2 == 0) for i in range(5)],
    )
    with fake_resend(state) as (url, _):
        found = make(tmp_path, api_url=url).suppressions()

    assert len(state.list_requests) == 6 and not state.requests  # 3 pages of each list
    by_address = {s.email: s for s in found}
    assert len(found) == 8
    assert by_address["s0@example.com"].status is SubscriberStatus.BOUNCED
    assert by_address["s1@example.com"].status is SubscriberStatus.COMPLAINED
    assert by_address["s2@example.com"].status is SubscriberStatus.UNSUBSCRIBED
    assert by_address["s2@example.com"].reason == "suppressed (manual)"
    assert {a for a, s in by_address.items() if a.startswith("c")} == {
        "c0@example.com",
        "c2@example.com",
        "c4@example.com",
    }


def test_suppressions_with_a_sending_only_key_say_what_to_do(tmp_path: Path) -> None:
    with (
        fake_resend(ResendState(api_key=KEY, sending_only=True)) as (url, _),
        pytest.raises(PermanentSendError, match="restricted_api_key") as caught,
    ):
        make(tmp_path, api_url=url).suppressions()
    assert caught.value.status == 401
    assert caught.value.hint and "Full access" in caught.value.hint
    assert KEY not in str(caught.value)


def test_an_idn_domain_goes_to_resend_as_its_a_label(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, transport=httpx.MockTransport(answering(seen)))
    results = provider.send_batch(make_batch(("ann@bücher.example", "Ann")))
    assert [(r.email, r.outcome) for r in results] == [("ann@bücher.example", Outcome.SENT)]
    [request] = seen
    assert json.loads(request.content)[0]["to"] == ["ann@xn--bcher-kva.example"]


def _as_httpx_would_send(message: PreparedMessage, recipient: Recipient) -> str:
    """The email object as a dict, encoded the way httpx's `json=` does (the reference)."""
    email: dict[str, Any] = {
        "from": message.from_header,
        "to": [recipient.envelope],
        "subject": message.subject,
        "html": message.html_for(recipient),
        "text": message.text_for(recipient),
        "headers": {
            "List-Id": message.list_id_header,
            **dict(message.list_unsubscribe_headers(recipient)),
        },
        "tags": [{"name": "seriespub_part", "value": str(message.number)}],
    }
    if message.reply_to:
        email["reply_to"] = message.reply_to
    return json.dumps(email, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("reply_to", [None, "Réponses <replies@example.com>"])
@pytest.mark.parametrize("unsubscribe_url", ["https://example.com/u?t={token}", ""])
def test_emails_are_the_json_text_httpx_would_send_byte_for_byte(
    reply_to: str | None, unsubscribe_url: str
) -> None:
    """Spliced from pieces escaped once, yet exactly `json.dumps` of the email object: an
    idempotent replay (settling) repeats the very request, whichever version sent it."""
    message = build_message(
        3,
        'Part "3" — ünïcode </script>',
        reply_to=reply_to,
        unsubscribe_url=unsubscribe_url,
        html='<p class="x">Hi \\\u2028 %%SP0%%</p>\n\t<a href="%%SP1%%">unsubscribe</a>',
    )
    batch = build_batch(
        message,
        ("nasty@example.com", NASTY),
        ("ann@bücher.example", 'Ann "Q" \\ ü'),
        ("bo@example.com", ""),
    )
    emails = Emails(message)
    for recipient in batch.recipients:
        assert emails.encode(recipient) == _as_httpx_would_send(message, recipient)
