"""The Postmark adapter: what goes over the wire (MockTransport) and end to end (fake server)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.httpserver import serve
from fakes.messages import NASTY, build_provider
from fakes.messages import make_batch as build_batch
from fakes.messages import make_message as build_message
from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState
from seriespub.config import (
    DeliverySettings,
    PostmarkSettings,
)
from seriespub.errors import (
    AmbiguousSendError,
    ConfigError,
    PermanentSendError,
    RateLimited,
    SendError,
    TransientSendError,
)
from seriespub.message import PreparedMessage, SlottedText
from seriespub.models import Outcome, SubscriberStatus
from seriespub.providers import postmark
from seriespub.providers.base import Batch
from seriespub.providers.postmark import PostmarkProvider


def make_message(number: int = 1) -> PreparedMessage:
    return build_message(number, "Part one")


def make_batch(
    *people: tuple[str, str], test: bool = False, message: PreparedMessage | None = None
) -> Batch:
    return build_batch(message or make_message(), *people, test=test)


def readers(n: int) -> list[tuple[str, str]]:
    return [(f"reader{i}@example.com", f"Reader {i}") for i in range(n)]


def make(
    url: str = "https://api.postmarkapp.com",
    stream: str = "outbound",
    transport: httpx.BaseTransport | None = None,
    token: str | None = TOKEN,
    timeout: float = 10.0,
) -> PostmarkProvider:
    delivery = DeliverySettings(
        provider="postmark",
        timeout=timeout,
        postmark=PostmarkSettings(api_url=url, message_stream=stream),
    )
    env = {"POSTMARK_SERVER_TOKEN": token} if token else {}
    provider = build_provider("postmark", delivery, env, transport)
    assert isinstance(provider, PostmarkProvider)
    return provider


Handler = Callable[[httpx.Request], httpx.Response]


def stream_info(handling: str = "None") -> dict[str, Any]:
    return {
        "ID": "outbound",
        "MessageStreamType": "Transactional",
        "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": handling},
    }


def mock(
    batch_answer: Callable[[list[Any]], httpx.Response],
    handling: str = "None",
    seen: list[httpx.Request] | None = None,
) -> httpx.MockTransport:
    """A transport answering the stream lookup and passing batch bodies to `batch_answer`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path.startswith("/message-streams/"):
            return httpx.Response(200, json=stream_info(handling))
        return batch_answer(json.loads(request.content))

    return httpx.MockTransport(handler)


def ok(messages: list[Any]) -> httpx.Response:
    return httpx.Response(
        200,
        json=[
            {"ErrorCode": 0, "Message": "OK", "MessageID": f"id-{i}", "To": m["To"]}
            for i, m in enumerate(messages)
        ],
    )


# -- over the wire ---------------------------------------------------------------------------


def test_batch_request_carries_one_personal_message_per_reader() -> None:
    seen: list[httpx.Request] = []
    provider = make(transport=mock(ok, seen=seen))
    batch = make_batch(("ann@example.com", NASTY), ("bo@example.com", ""))
    results = provider.send_batch(batch)

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert [r.message_id for r in results] == ["id-0", "id-1"]
    post = seen[-1]
    assert post.method == "POST" and post.url.path == "/email/batch"
    assert post.headers["X-Postmark-Server-Token"] == TOKEN
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["User-Agent"].startswith("seriespub/")
    body = json.loads(post.content)
    ann, bo = batch.recipients
    assert body[0]["To"] == batch.message.to_header(ann)
    assert body[0]["HtmlBody"] == batch.message.html_for(ann)
    assert "&lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;" in body[0]["HtmlBody"]
    assert body[0]["TextBody"].startswith(f"Hi {NASTY}\n")
    assert body[1]["TextBody"] == batch.message.text_for(bo)  # empty name → slot default
    assert body[0]["Metadata"] == {
        "seriespub_delivery": ann.delivery_id,
        "seriespub_batch": "key-1",
    }
    assert body[0]["Tag"] == "part-1" and body[0]["MessageStream"] == "outbound"
    assert body[0]["Subject"] == "Part one"
    assert body[0]["From"] == "Author <author@example.com>"
    assert body[0]["Headers"] == [
        {"Name": "List-Id", "Value": batch.message.list_id_header},
        {"Name": "List-Unsubscribe", "Value": f"<{ann.unsubscribe_url}>"},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
    ]


def test_without_an_unsubscribe_url_the_header_is_the_readers_mailto() -> None:
    seen: list[httpx.Request] = []
    provider = make(transport=mock(ok, seen=seen))
    message = build_message(1, "Part one", unsubscribe_url="")
    provider.send_batch(make_batch(("ann@example.com", "Ann"), message=message))
    sent = json.loads(seen[-1].content)[0]
    mailto = message.mailto_unsubscribe("ann@example.com")
    assert sent["Headers"] == [
        {"Name": "List-Id", "Value": message.list_id_header},
        {"Name": "List-Unsubscribe", "Value": f"<{mailto}>"},
    ]
    assert sent["TextBody"] == f"Hi Ann\nUnsubscribe: {mailto}"


def test_broadcast_stream_lets_postmark_manage_unsubscribes() -> None:
    seen: list[httpx.Request] = []
    provider = make(stream="broadcast", transport=mock(ok, "Postmark", seen))
    provider.send_batch(make_batch(("ann@example.com", "Ann")))
    message = json.loads(seen[-1].content)[0]
    assert "Headers" not in message
    assert '<a href="{{{ pm:unsubscribe }}}">' in message["HtmlBody"]
    assert message["TextBody"].endswith("Unsubscribe: {{{ pm:unsubscribe }}}")
    assert message["MessageStream"] == "broadcast"
    assert [r.url.path for r in seen].count("/message-streams/broadcast") == 1


def test_test_send_keeps_the_subject_it_is_given() -> None:
    seen: list[httpx.Request] = []
    provider = make(transport=mock(ok, seen=seen))
    provider.send_batch(make_batch(("ann@example.com", "Ann"), test=True))
    assert json.loads(seen[-1].content)[0]["Subject"] == "Part one"  # the core marks test subjects


@settings(max_examples=60, deadline=None)
@given(
    # The characters html.escape changes, often: a value without one is not escaped at all.
    name=st.text(st.sampled_from("&<>\"' é") | st.characters()).filter(
        lambda s: "\r" not in s and "\n" not in s
    ),
    extra=st.text(),
)
def test_hand_built_json_matches_rendered_bodies(name: str, extra: str) -> None:
    message = make_message()
    message.html = SlottedText.parse(f"<p>{extra}%%SP0%%</p>%%SP1%%\u2028")
    seen: list[httpx.Request] = []
    provider = make(transport=mock(ok, seen=seen))
    batch = make_batch(("ann@example.com", name), message=message)
    provider.send_batch(batch)
    sent = json.loads(seen[-1].content.decode("utf-8"))[0]
    assert sent["HtmlBody"] == message.html_for(batch.recipients[0])
    assert sent["TextBody"] == message.text_for(batch.recipients[0])
    headers = [(h["Name"], h["Value"]) for h in sent["Headers"]]
    one_click = message.list_unsubscribe_headers(batch.recipients[0])
    assert headers == [("List-Id", message.list_id_header), *one_click]


def test_per_message_errors_map_to_outcomes() -> None:
    answers = [
        (0, "OK"),
        (
            406,
            "Found inactive addresses: b@example.com. Inactive "
            "recipients are ones that have generated a hard bounce, a spam complaint, "
            "or a manual suppression.",
        ),
        (406, "Inactive recipient (SpamComplaint)"),
        (406, "Inactive recipient (ManualSuppression)"),
        (300, "Invalid 'To' address"),
        (429, "Rate limit"),
        (100, "Maintenance"),
        (405, "Not allowed to send"),
    ]

    def answer(messages: list[Any]) -> httpx.Response:
        pairs = zip(answers, messages, strict=True)
        return httpx.Response(
            200,
            json=[
                {"ErrorCode": c, "Message": t, "MessageID": "m", "To": m["To"]}
                for (c, t), m in pairs
            ],
        )

    results = make(transport=mock(answer)).send_batch(make_batch(*readers(len(answers))))
    assert [r.outcome for r in results] == [
        Outcome.SENT,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.TRANSIENT,
        Outcome.TRANSIENT,
        Outcome.FAILED,
    ]
    assert [r.new_status for r in results[1:4]] == [
        SubscriberStatus.BOUNCED,
        SubscriberStatus.COMPLAINED,
        SubscriberStatus.UNSUBSCRIBED,
    ]
    assert results[4].new_status is None and "ErrorCode 300" in results[4].reason


def test_bad_token_is_permanent_and_never_shown() -> None:
    def answer(messages: list[Any]) -> httpx.Response:
        return httpx.Response(401, json={"ErrorCode": 10, "Message": "Bad token"})

    def handler(request: httpx.Request) -> httpx.Response:
        return answer([])

    provider = make(transport=httpx.MockTransport(handler), token="sekrit-token-123")
    with pytest.raises(PermanentSendError) as caught:
        provider.send_batch(make_batch(("ann@example.com", "Ann")))
    assert caught.value.status == 401
    assert "ErrorCode 10" in str(caught.value) and caught.value.hint
    for text in (str(caught.value), repr(caught.value), repr(provider), str(vars(provider))):
        assert "sekrit-token-123" not in text


def test_missing_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="POSTMARK_SERVER_TOKEN"):
        make(token=None)


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (422, {"ErrorCode": 410, "Message": "Too many batch messages"}, PermanentSendError),
        (429, {"ErrorCode": 429, "Message": "Rate limit exceeded"}, RateLimited),
        (500, {"ErrorCode": 100, "Message": "Maintenance"}, TransientSendError),
        (200, {"ErrorCode": 0, "Message": "not a list"}, AmbiguousSendError),
    ],
)
def test_whole_request_failures_raise_typed_errors(
    status: int, payload: Any, error: type[Exception]
) -> None:
    provider = make(transport=mock(lambda _: httpx.Response(status, json=payload)))
    with pytest.raises(error) as caught:
        provider.send_batch(make_batch(("ann@example.com", "Ann")))
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after is None  # Postmark sends no Retry-After


def test_a_timeout_after_sending_is_ambiguous() -> None:
    def answer(messages: list[Any]) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    with pytest.raises(AmbiguousSendError):
        make(transport=mock(answer)).send_batch(make_batch(("ann@example.com", "Ann")))


def test_unknown_stream_is_a_config_error() -> None:
    transport = httpx.MockTransport(
        lambda r: httpx.Response(404, json={"ErrorCode": 1226, "Message": "not found"})
    )
    with pytest.raises(ConfigError, match="message stream 'nope'"):
        make(stream="nope", transport=transport).send_batch(make_batch(("a@example.com", "")))


def test_oversized_batches_are_split_under_the_byte_limit() -> None:
    seen: list[httpx.Request] = []
    provider = make(transport=mock(ok, seen=seen))
    provider.max_request_bytes = 1500
    results = provider.send_batch(make_batch(*readers(7)))
    posts = [r for r in seen if r.method == "POST"]
    assert len(posts) > 1 and all(len(p.content) <= 1500 for p in posts)
    assert sum(len(json.loads(p.content)) for p in posts) == 7
    assert [r.email for r in results] == [f"reader{i}@example.com" for i in range(7)]


def test_a_failed_second_chunk_does_not_resend_the_first() -> None:
    calls: list[int] = []

    def answer(messages: list[Any]) -> httpx.Response:
        calls.append(len(messages))
        return ok(messages) if len(calls) == 1 else httpx.Response(503, json={})

    provider = make(transport=mock(answer))
    provider.max_request_bytes = 1500
    results = provider.send_batch(make_batch(*readers(7)))
    assert [r.outcome for r in results[: calls[0]]] == [Outcome.SENT] * calls[0]
    assert {r.outcome for r in results[calls[0] :]} == {Outcome.TRANSIENT}


def test_settle_searches_by_batch_then_by_the_parts_tag_then_by_delivery_metadata() -> None:
    """As a batch sent before messages carried their batch's key: its search finds nothing;
    the part's tag lists Ann's message (with its delivery id) and no other. A lone reader
    missing is looked up by their delivery id."""
    batch = make_batch(("ann@example.com", "Ann"), ("bo@example.com", "Bo"))
    ann_id = batch.recipients[0].delivery_id
    queries: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        queries.append(query)
        ann = [{"MessageID": "pm-1", "Metadata": {"seriespub_delivery": ann_id}}]
        hit = query.get("metadata_seriespub_delivery") == ann_id or query.get("tag") == "part-1"
        found = ann if hit else []
        return httpx.Response(200, json={"TotalCount": len(found), "Messages": found})

    provider = make(transport=httpx.MockTransport(handler))
    results = provider.settle(batch)
    assert [(r.outcome, r.message_id) for r in results] == [
        (Outcome.SENT, "pm-1"),
        (Outcome.TRANSIENT, ""),
    ]
    assert all(
        q["count"] == "500" and q["offset"] == "0" and q["messagestream"] == "outbound"
        for q in queries
    )
    assert queries[0]["metadata_seriespub_batch"] == "key-1"
    assert [
        sorted(k for k in q if k not in ("count", "offset", "messagestream")) for q in queries
    ] == [
        ["metadata_seriespub_batch"],
        ["tag"],
    ]
    queries.clear()
    assert [r.outcome for r in provider.settle(make_batch(("ann@example.com", "Ann")))] == [
        Outcome.SENT
    ]
    assert [sorted(k for k in q if k.startswith("metadata_")) for q in queries] == [
        ["metadata_seriespub_batch"],
        ["metadata_seriespub_delivery"],
    ]


def test_suppressions_dump_maps_reasons() -> None:
    dump = {
        "Suppressions": [
            {
                "EmailAddress": "a@example.com",
                "SuppressionReason": "HardBounce",
                "Origin": "Recipient",
                "CreatedAt": "2026-01-01T00:00:00Z",
            },
            {
                "EmailAddress": "b@example.com",
                "SuppressionReason": "SpamComplaint",
                "Origin": "Recipient",
                "CreatedAt": "2026-01-01T00:00:00Z",
            },
            {
                "EmailAddress": "c@example.com",
                "SuppressionReason": "ManualSuppression",
                "Origin": "Customer",
                "CreatedAt": "2026-01-01T00:00:00Z",
            },
        ]
    }
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json=dump)

    found = make(transport=httpx.MockTransport(handler)).suppressions()
    assert paths == ["/message-streams/outbound/suppressions/dump"]
    assert [(s.email, s.status) for s in found] == [
        ("a@example.com", SubscriberStatus.BOUNCED),
        ("b@example.com", SubscriberStatus.COMPLAINED),
        ("c@example.com", SubscriberStatus.UNSUBSCRIBED),
    ]
    assert found[2].reason == "ManualSuppression (Customer)"


# -- end to end, over a real socket ----------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[tuple[str, PostmarkState]]:
    with serve(PostmarkHandler, PostmarkState()) as running:
        yield running


def test_fake_receives_every_message(fake: tuple[str, PostmarkState]) -> None:
    url, state = fake
    provider = make(url)
    batch = make_batch(("ann@example.com", NASTY), *readers(3))
    results = provider.send_batch(batch)
    provider.close()
    assert [r.outcome for r in results] == [Outcome.SENT] * 4
    assert len(state.accepted) == 4
    ann = state.to("ann@example.com")
    assert len(ann) == 1 and ann[0]["HtmlBody"] == batch.message.html_for(batch.recipients[0])
    assert ann[0]["MessageID"] == results[0].message_id


def test_fake_per_address_failures(fake: tuple[str, PostmarkState]) -> None:
    url, state = fake
    state.fail("gone@example.com", 406)
    state.fail("bad@example.com", 300)
    results = make(url).send_batch(
        make_batch(("gone@example.com", ""), ("bad@example.com", ""), ("ok@example.com", ""))
    )
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED, Outcome.SENT]
    assert results[0].new_status is SubscriberStatus.BOUNCED
    assert [m["_to"] for m in state.accepted] == ["ok@example.com"]


def test_fake_rate_limit_and_server_errors(fake: tuple[str, PostmarkState]) -> None:
    url, state = fake
    provider = make(url)
    state.faults.rate_limited = 1
    state.faults.server_errors = 1
    with pytest.raises(RateLimited) as limited:
        provider.send_batch(make_batch(("ann@example.com", "")))
    assert limited.value.retry_after is None
    with pytest.raises(TransientSendError):
        provider.send_batch(make_batch(("ann@example.com", "")))
    assert provider.send_batch(make_batch(("ann@example.com", "")))[0].outcome is Outcome.SENT
    assert len(state.accepted) == 1


def test_fake_refuses_more_than_500_messages(fake: tuple[str, PostmarkState]) -> None:
    url, state = fake
    with pytest.raises(PermanentSendError, match="ErrorCode 410"):
        make(url).send_batch(make_batch(*readers(501)))
    assert state.accepted == []


def test_dropped_connection_is_ambiguous_then_settled(fake: tuple[str, PostmarkState]) -> None:
    url, state = fake
    provider = make(url)
    state.faults.drops = 1
    batch = make_batch(*readers(3))
    with pytest.raises(AmbiguousSendError):
        provider.send_batch(batch)
    settled = provider.settle(batch)
    assert [r.outcome for r in settled] == [Outcome.SENT] * 3
    assert [r.message_id for r in settled] == [m["MessageID"] for m in state.accepted]
    unsent = provider.settle(make_batch(("never@example.com", "")))
    assert unsent[0].outcome is Outcome.TRANSIENT


def test_slow_answer_past_the_timeout_is_ambiguous(fake: tuple[str, PostmarkState]) -> None:
    url, state = fake
    provider = make(url, timeout=0.3)
    provider.send_batch(make_batch(("warm@example.com", "")))  # stream lookup done
    state.faults.delay = 1.0
    with pytest.raises(AmbiguousSendError):
        provider.send_batch(make_batch(("ann@example.com", "")))


def test_fake_broadcast_stream_and_suppressions(fake: tuple[str, PostmarkState]) -> None:
    url, state = fake
    state.suppressions.append(
        {
            "EmailAddress": "x@example.com",
            "SuppressionReason": "SpamComplaint",
            "Origin": "Recipient",
            "CreatedAt": "2026-01-01T00:00:00Z",
        }
    )
    provider = make(url, stream="broadcast")
    provider.send_batch(make_batch(("ann@example.com", "Ann")))
    assert "{{{ pm:unsubscribe }}}" in state.accepted[0]["HtmlBody"]
    assert "Headers" not in state.accepted[0]
    assert [(s.email, s.status) for s in provider.suppressions()] == [
        ("x@example.com", SubscriberStatus.COMPLAINED)
    ]


def test_fake_rejects_a_wrong_token(fake: tuple[str, PostmarkState]) -> None:
    url, _ = fake
    with pytest.raises(PermanentSendError) as caught:
        make(url, token="wrong-token").send_batch(make_batch(("ann@example.com", "")))
    assert caught.value.status == 401 and "wrong-token" not in str(caught.value)


def test_an_ambiguous_second_chunk_is_unknown_after_the_first_chunks_results() -> None:
    calls: list[int] = []

    def answer(messages: list[Any]) -> httpx.Response:
        calls.append(len(messages))
        if len(calls) == 1:
            return ok(messages)
        raise httpx.ReadTimeout("slow")

    provider = make(transport=mock(answer))
    provider.max_request_bytes = 1500
    results = provider.send_batch(make_batch(*readers(7)))
    assert [r.outcome for r in results] == [Outcome.SENT] * calls[0] + [Outcome.UNKNOWN] * (
        7 - calls[0]
    )
    assert [r.email for r in results] == [e for e, _ in readers(7)]


def searches(state: PostmarkState) -> int:
    return sum(1 for method, path in state.requests if path == "/messages/outbound")


def test_settling_a_batch_that_went_out_asks_postmark_once(
    fake: tuple[str, PostmarkState],
) -> None:
    """Each message carries its batch's key in its metadata: a resume after a kill asks
    Postmark one search per batch, not one per reader (4,000 for eight batches in flight)."""
    url, state = fake
    provider = make(url)
    batch = Batch("001-1a2b3c", make_message(), make_batch(*readers(120)).recipients)
    provider.send_batch(batch)
    before = searches(state)
    settled = provider.settle(batch)
    assert [r.outcome for r in settled] == [Outcome.SENT] * 120
    assert [r.message_id for r in settled] == [m["MessageID"] for m in state.accepted]
    assert searches(state) - before == 1


def test_a_retry_of_some_readers_is_found_with_its_batch(fake: tuple[str, PostmarkState]) -> None:
    """The core retries a batch's transient readers under `KEY.rN`; their messages carry the
    batch's own key, so the batch's one search finds them too."""
    url, state = fake
    provider = make(url)
    batch = Batch("002-9f8e7d", make_message(), make_batch(*readers(4)).recipients)
    provider.send_batch(Batch(batch.key, batch.message, batch.recipients[:2]))
    provider.send_batch(batch.retry(1, batch.recipients[2:]))
    before = searches(state)
    assert [r.outcome for r in provider.settle(batch)] == [Outcome.SENT] * 4
    assert searches(state) - before == 1


def test_readers_the_batch_search_misses_are_found_by_the_parts_tag(
    fake: tuple[str, PostmarkState],
) -> None:
    """A reader the batch's search does not find may have had the part in another batch (a
    resend of unknown deliveries). Before: each was looked up by their delivery id, one
    search a reader (501 for a batch killed before its request: 500 readers, none sent).
    Now: the part's tag (`part-N`) lists every message of it, 500 a search."""
    url, state = fake
    provider = make(url)
    message = make_message()
    people = make_batch(*readers(500), message=message).recipients
    provider.send_batch(Batch("003-aaaa", message, people[:2]))  # in this batch
    provider.send_batch(Batch("003-bbbb", message, people[2:3]))  # in an earlier one
    other = make_batch(*readers(4), message=make_message(2)).recipients[3:]
    provider.send_batch(Batch("004-cccc", make_message(2), other))  # another part's
    before = searches(state)
    settled = provider.settle(Batch("003-aaaa", message, people))
    assert [r.outcome for r in settled] == [Outcome.SENT] * 3 + [Outcome.TRANSIENT] * 497
    assert [r.message_id for r in settled[:3]] == [m["MessageID"] for m in state.accepted[:3]]
    assert searches(state) - before == 1 + 1


def test_readers_are_each_looked_up_when_the_tag_lists_more_than_that(
    fake: tuple[str, PostmarkState],
) -> None:
    """Two readers missing, and the part's tag lists 1,200 messages (3 searches): the two
    lookups by delivery id are fewer, after the tag's first page says how many."""
    url, state = fake
    provider = make(url)
    message = make_message()
    people = make_batch(*readers(1202), message=message).recipients
    for start in range(0, 1200, 500):
        provider.send_batch(Batch(f"005-{start}", message, people[start : min(start + 500, 1200)]))
    before = searches(state)
    settled = provider.settle(Batch("006-dddd", message, [people[0], people[1201]]))
    assert [r.outcome for r in settled] == [Outcome.SENT, Outcome.TRANSIENT]
    assert searches(state) - before == 1 + 1 + 2


@pytest.mark.parametrize(
    "answer",
    [
        b"not json",
        b'["a list"]',
        b'{"Messages": "none", "TotalCount": 1}',
        b'{"Messages": [], "TotalCount": "many"}',
    ],
)
def test_a_search_answer_that_is_no_message_list_fails_the_settle(answer: bytes) -> None:
    """Read as "found nothing", a garbled answer would resend the batch; it is an error, and
    the core records the batch unknown for the author to decide."""
    batch = make_batch(("ann@example.com", "Ann"))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer, headers={"Content-Type": "application/json"})

    with pytest.raises(SendError, match="search"):
        make(transport=httpx.MockTransport(handler)).settle(batch)


def _past_the_listing(
    state_url: str, message: PreparedMessage, monkeypatch: pytest.MonkeyPatch, sent: int
) -> list[Any]:
    """`sent` messages of the part already on the server, more than Postmark's search lists
    (10,000, lowered here to 500 to keep the test small): the part's tag cannot be listed."""
    monkeypatch.setattr(postmark, "SEARCH_LIMIT", 500)
    people = make_batch(*readers(sent + 500), message=message).recipients
    provider = make(state_url)
    for start in range(0, sent, 500):
        provider.send_batch(Batch(f"007-{start}", message, people[start : start + 500]))
    return list(people[sent:])


def test_a_batch_that_never_went_out_is_settled_in_two_searches_however_big_the_part(
    fake: tuple[str, PostmarkState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed before its request: Postmark has nothing of the batch. Its readers were in no
    other batch of the part (the ledger's record, `Batch.never_elsewhere`), so the batch's
    own search and one reader's lookup (is it an older seriespub's batch, sent without its
    key?) tell for all of them. Before: past what the part's tag lists, one search a reader
    (502 here; at 100,000 readers a resume spent 20-45 s on a few such batches)."""
    url, state = fake
    message = make_message()
    unsent = _past_the_listing(url, message, monkeypatch, 1000)
    batch = Batch(
        "008-eeee", message, unsent, never_elsewhere=frozenset(r.email.lower() for r in unsent)
    )
    before = searches(state)
    settled = make(url).settle(batch)
    assert [r.outcome for r in settled] == [Outcome.TRANSIENT] * 500
    assert searches(state) - before == 2


def test_an_older_batch_sent_without_its_key_is_still_found_reader_by_reader(
    fake: tuple[str, PostmarkState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch an older seriespub sent (no batch key in its messages' metadata) and left
    pending: its search finds nothing, but the one reader looked up was sent, so every reader
    is looked up, and none is sent twice."""
    url, state = fake
    message = make_message()
    people = _past_the_listing(url, message, monkeypatch, 1000)[:20]
    make(url).send_batch(Batch("009-ffff", message, people))
    for sent in state.accepted[-20:]:
        del sent["Metadata"][postmark.BATCH_METADATA_KEY]
    batch = Batch(
        "009-ffff", message, people, never_elsewhere=frozenset(r.email.lower() for r in people)
    )
    before = searches(state)
    settled = make(url).settle(batch)
    assert [r.outcome for r in settled] == [Outcome.SENT] * 20
    assert searches(state) - before == 1 + 1 + 1 + 20


def test_only_readers_another_batch_may_have_carried_are_looked_up(
    fake: tuple[str, PostmarkState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Of an unsent batch, the two readers who were also in an earlier batch (a resend of
    unknown deliveries) are looked up; one of them had the part then."""
    url, state = fake
    message = make_message()
    people = _past_the_listing(url, message, monkeypatch, 1000)
    make(url).send_batch(Batch("010-gggg", message, people[:1]))  # an earlier batch's
    elsewhere = {people[0].email.lower(), people[1].email.lower()}
    batch = Batch(
        "010-hhhh",
        message,
        people,
        never_elsewhere=frozenset(r.email.lower() for r in people) - elsewhere,
    )
    before = searches(state)
    settled = make(url).settle(batch)
    assert [r.outcome for r in settled] == [Outcome.SENT] + [Outcome.TRANSIENT] * 499
    assert searches(state) - before == 1 + 1 + 1 + 2
