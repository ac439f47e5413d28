"""The Mailgun adapter: what goes over the wire (MockTransport) and end to end (fake server)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fakes.mailgun import MailgunState, fake_mailgun, parse_form, unsubscribe_url
from fakes.messages import NASTY, build_provider
from fakes.messages import make_batch as build_batch
from fakes.messages import make_message as build_message
from seriespub.config import (
    DeliverySettings,
    MailgunSettings,
    Secrets,
    SeriesSettings,
    Settings,
    load_settings,
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
from seriespub.providers import ProviderContext, make_provider
from seriespub.providers.base import Batch
from seriespub.providers.mailgun import MailgunProvider

KEY = "key-test"
Handler = Callable[[httpx.Request], httpx.Response]


def make_message() -> PreparedMessage:
    return build_message(1, "Part 1")


def make_batch(
    *people: tuple[str, str], test: bool = False, send_at: dt.datetime | None = None
) -> Batch:
    return build_batch(make_message(), *people, key="001-batchkey", test=test, send_at=send_at)


def make(
    tmp_path: Path,
    *,
    api_url: str | None = None,
    region: str = "us",
    transport: httpx.BaseTransport | None = None,
    key: str = KEY,
    unsubscribe: str = "own",
) -> MailgunProvider:
    delivery = DeliverySettings(
        provider="mailgun",
        mailgun=MailgunSettings(
            domain="mg.example.com", region=region, api_url=api_url, unsubscribe=unsubscribe
        ),
    )
    provider = build_provider("mailgun", delivery, {"MAILGUN_API_KEY": key}, transport, tmp_path)
    assert isinstance(provider, MailgunProvider)
    return provider


def capture(seen: list[httpx.Request], response: httpx.Response | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return response or httpx.Response(200, json={"id": "<1@mg>", "message": "Queued."})

    return handler


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_form(request.headers["content-type"], request.content)


# --- over the wire -------------------------------------------------------------------------


def test_one_multipart_request_with_basic_auth_and_recipient_variables(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, transport=httpx.MockTransport(capture(seen)))
    batch = make_batch(("ann@example.com", NASTY), ("bo@example.com", "Bo"))

    results = provider.send_batch(batch)

    assert [(r.email, r.outcome, r.message_id) for r in results] == [
        ("ann@example.com", Outcome.SENT, "<1@mg>"),
        ("bo@example.com", Outcome.SENT, "<1@mg>"),
    ]
    [request] = seen
    assert str(request.url) == "https://api.mailgun.net/v3/mg.example.com/messages"
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"api:{KEY}".encode()).decode()
    )
    assert request.headers["content-type"].startswith("multipart/form-data")
    fields = form(request)
    assert fields["to"] == ["ann@example.com", "bo@example.com"]
    assert fields["html"] == [
        '<p>Hi %recipient.sp0h%</p><a href="%recipient.sp1h%">unsubscribe</a>'
    ]
    assert fields["text"] == ["Hi %recipient.sp0t%\nUnsubscribe: %recipient.sp1t%"]
    assert fields["h:List-Unsubscribe"] == ["<%recipient.unsub%>"]
    assert fields["h:List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]
    assert fields["h:List-Id"] == [batch.message.list_id_header]
    assert fields["v:seriespub-batch"] == ["001-batchkey"]
    assert fields["o:tag"] == ["seriespub", "part-1"]
    assert fields["subject"] == ["Part 1"]
    assert "o:deliverytime" not in fields


def test_recipient_variables_escape_html_but_not_text(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, transport=httpx.MockTransport(capture(seen)))
    batch = make_batch(("ann@example.com", NASTY))
    provider.send_batch(batch)

    variables = json.loads(form(seen[0])["recipient-variables"][0])
    ann = variables["ann@example.com"]
    assert ann["sp0h"] == "&lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;"
    assert ann["sp0t"] == NASTY
    url = batch.recipients[0].unsubscribe_url
    assert url and url.startswith("https://example.com/u?t=")
    assert ann["unsub"] == url and ann["sp1t"] == url


def test_eu_region_test_prefix_and_scheduling(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, region="eu", transport=httpx.MockTransport(capture(seen)))
    when = dt.datetime(2026, 10, 13, 20, 2, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    provider.send_batch(make_batch(("ann@example.com", "Ann"), test=True, send_at=when))

    assert seen[0].url.host == "api.eu.mailgun.net"
    fields = form(seen[0])
    assert fields["subject"] == ["Part 1"]  # the core marks test subjects
    assert fields["o:deliverytime"] == ["Tue, 13 Oct 2026 18:02:00 +0000"]
    assert provider.max_schedule_ahead == dt.timedelta(days=3)
    assert provider.can_settle is False


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PermanentSendError),
        (401, PermanentSendError),
        (429, RateLimited),
        (503, TransientSendError),
    ],
)
def test_whole_request_failures_are_typed_and_never_show_the_key(
    tmp_path: Path, status: int, error: type[Exception]
) -> None:
    reply = httpx.Response(status, json={"message": "to parameter is not a valid address"})
    provider = make(tmp_path, transport=httpx.MockTransport(capture([], reply)))

    with pytest.raises(error) as caught:
        provider.send_batch(make_batch(("ann@example.com", "Ann")))

    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert KEY not in repr(provider)
    assert "mailgun" in str(caught.value)


def test_missing_settings_and_secret_are_config_errors(tmp_path: Path) -> None:
    settings = Settings(SeriesSettings("T", "a@example.com"), DeliverySettings(provider="mailgun"))
    with pytest.raises(ConfigError, match="domain"):
        make_provider(
            "mailgun", ProviderContext(settings, Secrets({"MAILGUN_API_KEY": "x"}), tmp_path)
        )
    with pytest.raises(ConfigError, match="MAILGUN_API_KEY"):
        make(tmp_path, key="")


# --- end to end against the fake -----------------------------------------------------------


def test_every_reader_gets_exactly_one_personal_message(tmp_path: Path) -> None:
    with fake_mailgun(MailgunState(api_key=KEY)) as (url, state):
        provider = make(tmp_path, api_url=url)
        people = [("ann@example.com", NASTY), ("bo@example.com", "Bo"), ("cy@example.com", "")]
        batch = make_batch(*people)
        results = provider.send_batch(batch)
        provider.close()

    assert {r.outcome for r in results} == {Outcome.SENT}
    for (address, _), recipient in zip(people, batch.recipients, strict=True):
        [got] = state.messages_to(address)
        assert got.html == batch.message.html_for(recipient)
        assert got.text == batch.message.text_for(recipient)
        assert got.headers["List-Unsubscribe"] == f"<{recipient.unsubscribe_url}>"
    assert "&lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;" in state.messages_to(people[0][0])[0].html
    assert "Hi reader" in state.messages_to("cy@example.com")[0].text


def test_wrong_key_is_permanent(tmp_path: Path) -> None:
    with (
        fake_mailgun(MailgunState(api_key="another")) as (url, state),
        pytest.raises(PermanentSendError) as caught,
    ):
        make(tmp_path, api_url=url).send_batch(make_batch(("ann@example.com", "Ann")))
    assert caught.value.status == 401 and KEY not in str(caught.value)
    assert not state.accepted


def test_rate_limit_then_success_sends_once(tmp_path: Path) -> None:
    with fake_mailgun(MailgunState(api_key=KEY)) as (url, state):
        state.faults.rate_limited = 1
        provider = make(tmp_path, api_url=url)
        batch = make_batch(("ann@example.com", "Ann"))
        with pytest.raises(RateLimited):
            provider.send_batch(batch)
        provider.send_batch(batch)
    assert len(state.messages_to("ann@example.com")) == 1


def test_server_error_is_transient_and_nothing_is_sent(tmp_path: Path) -> None:
    with fake_mailgun(MailgunState(api_key=KEY)) as (url, state):
        state.faults.server_errors = 1
        with pytest.raises(TransientSendError) as caught:
            make(tmp_path, api_url=url).send_batch(make_batch(("ann@example.com", "Ann")))
    assert caught.value.status == 500 and not state.accepted


def test_invalid_address_refuses_the_whole_batch(tmp_path: Path) -> None:
    state = MailgunState(api_key=KEY, invalid_addresses={"bad@example.com"})
    with (
        fake_mailgun(state) as (url, _),
        pytest.raises(PermanentSendError, match="not a valid address"),
    ):
        make(tmp_path, api_url=url).send_batch(
            make_batch(("ann@example.com", "Ann"), ("bad@example.com", "Bad"))
        )
    assert not state.accepted


def test_dropped_connection_after_acceptance_is_ambiguous(tmp_path: Path) -> None:
    with fake_mailgun(MailgunState(api_key=KEY)) as (url, state):
        state.faults.drops = 1
        provider = make(tmp_path, api_url=url)
        with pytest.raises(AmbiguousSendError):
            provider.send_batch(make_batch(("ann@example.com", "Ann")))
        assert provider.settle(make_batch(("ann@example.com", "Ann"))) is None
    assert len(state.messages_to("ann@example.com")) == 1


def test_suppressions_follow_paging_over_all_three_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("seriespub.providers.mailgun.PAGE_LIMIT", 2)
    state = MailgunState(api_key=KEY)
    state.suppressions["unsubscribes"] = [
        {"address": f"u{i}@example.com", "tags": ["*"], "created_at": "x"} for i in range(5)
    ]
    state.suppressions["unsubscribes"].append(
        {"address": "other-tag@example.com", "tags": ["promo"], "created_at": "x"}
    )
    state.suppressions["bounces"] = [
        {"address": "b@example.com", "code": "550", "error": "No such user", "created_at": "x"}
    ]
    state.suppressions["complaints"] = [{"address": "c@example.com", "created_at": "x"}]
    with fake_mailgun(state) as (url, _):
        found = make(tmp_path, api_url=url).suppressions()

    by_address = {s.email: s for s in found}
    assert {f"u{i}@example.com" for i in range(5)} <= set(by_address)
    assert "other-tag@example.com" not in by_address
    assert by_address["b@example.com"].status is SubscriberStatus.BOUNCED
    assert by_address["b@example.com"].reason == "550 No such user"
    assert by_address["c@example.com"].status is SubscriberStatus.COMPLAINED
    assert by_address["u0@example.com"].status is SubscriberStatus.UNSUBSCRIBED
    assert len(found) == 7


def test_the_three_suppression_lists_are_asked_for_together(tmp_path: Path) -> None:
    """Each first page is held until all three requests are in flight: asked one after
    another, the first would wait alone and time out."""
    together = threading.Barrier(3, timeout=5)

    def handler(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        if "page" in request.url.params:
            return httpx.Response(200, json={"items": []})
        together.wait()
        item = {"address": f"{kind}@example.com", "tags": ["*"], "created_at": "x"}
        return httpx.Response(
            200, json={"items": [item], "paging": {"next": f"{request.url}&page=2"}}
        )

    found = make(tmp_path, transport=httpx.MockTransport(handler)).suppressions()
    assert [(s.email, s.status) for s in found] == [
        ("unsubscribes@example.com", SubscriberStatus.UNSUBSCRIBED),
        ("bounces@example.com", SubscriberStatus.BOUNCED),
        ("complaints@example.com", SubscriberStatus.COMPLAINED),
    ]


# --- Mailgun-managed unsubscribes (unsubscribe = "mailgun") --------------------------------


def tracking_answer(active: bool) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "tracking": {
                "open": {"active": False, "place_at_the_top": False},
                "click": {"active": False},
                "unsubscribe": {"active": active, "html_footer": "", "text_footer": ""},
                "web_scheme": "https",
            }
        },
    )


def managed_transport(seen: list[httpx.Request], active: bool = True) -> httpx.MockTransport:
    send = capture(seen)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            seen.append(request)
            return tracking_answer(active)
        return send(request)

    return httpx.MockTransport(handler)


def test_managed_unsubscribe_wire_format(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, unsubscribe="mailgun", transport=managed_transport(seen))
    provider.send_batch(make_batch(("ann@example.com", NASTY), ("bo@example.com", "Bo")))
    provider.send_batch(make_batch(("cy@example.com", "Cy")))

    check, post, second = seen
    assert (check.method, str(check.url)) == (
        "GET",
        "https://api.mailgun.net/v3/domains/mg.example.com/tracking",
    )
    assert second.method == "POST"  # the domain is asked once, not per batch
    fields = form(post)
    assert fields["html"] == [
        '<p>Hi %recipient.sp0h%</p><a href="%unsubscribe_url%">unsubscribe</a>'
    ]
    assert fields["text"] == ["Hi %recipient.sp0t%\nUnsubscribe: %unsubscribe_url%"]
    assert fields["o:tracking"] == ["yes"]
    assert not [name for name in fields if name.startswith("h:List-Unsubscribe")]
    variables = json.loads(fields["recipient-variables"][0])
    assert set(variables["ann@example.com"]) == {"sp0h", "sp0t"}  # no own unsubscribe URL
    assert "example.com/u?t=" not in post.content.decode()


def test_managed_unsubscribe_refuses_a_domain_without_unsubscribe_tracking(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, unsubscribe="mailgun", transport=managed_transport(seen, False))
    with pytest.raises(ConfigError, match="unsubscribe tracking is off") as caught:
        provider.send_batch(make_batch(("ann@example.com", "Ann")))
    assert caught.value.hint and 'unsubscribe = "own"' in caught.value.hint
    assert [r.method for r in seen] == ["GET"]  # nothing was sent


def test_managed_unsubscribe_end_to_end(tmp_path: Path) -> None:
    with fake_mailgun(MailgunState(api_key=KEY, unsubscribe_tracking=True)) as (url, state):
        provider = make(tmp_path, api_url=url, unsubscribe="mailgun")
        people = [("ann@example.com", NASTY), ("bo@example.com", "Bo")]
        batch = make_batch(*people)
        results = provider.send_batch(batch)
        provider.close()

    assert {r.outcome for r in results} == {Outcome.SENT}
    for (address, _), recipient in zip(people, batch.recipients, strict=True):
        [got] = state.messages_to(address)
        link = unsubscribe_url(state, address)
        assert f'<a href="{link}">unsubscribe</a>' in got.html
        assert got.text.endswith(f"Unsubscribe: {link}")
        assert got.headers == {
            "List-Id": batch.message.list_id_header,
            "List-Unsubscribe": f"<{link}>",  # Mailgun's, not ours
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        assert recipient.unsubscribe_url
        assert recipient.unsubscribe_url not in got.html + got.text
        assert "%" not in got.html + got.text
    assert "&lt;b&gt;Ann &amp; &quot;Bo&quot;&lt;/b&gt;" in state.messages_to(people[0][0])[0].html


def test_managed_unsubscribe_end_to_end_refuses_before_sending(tmp_path: Path) -> None:
    with (
        fake_mailgun(MailgunState(api_key=KEY)) as (url, state),
        pytest.raises(ConfigError, match=r"mg\.example\.com"),
    ):
        make(tmp_path, api_url=url, unsubscribe="mailgun").send_batch(
            make_batch(("ann@example.com", "Ann"))
        )
    assert not state.accepted


def test_unsubscribe_setting_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "seriespub.toml"
    head = '[series]\ntitle = "T"\nfrom = "a@example.com"\n[delivery.mailgun]\n'
    path.write_text(head + 'unsubscribe = "mailgun"\n', encoding="utf-8")
    assert load_settings(path).delivery.mailgun.unsubscribe == "mailgun"
    path.write_text(head + 'unsubscribe = "list"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"delivery\.mailgun\.unsubscribe"):
        load_settings(path)


def test_an_idn_domain_goes_to_mailgun_as_its_a_label_with_its_variables(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    provider = make(tmp_path, transport=httpx.MockTransport(capture(seen)))
    provider.send_batch(make_batch(("ann@bücher.example", "Ann")))
    fields = form(seen[0])
    assert fields["to"] == ["ann@xn--bcher-kva.example"]
    # Mailgun finds a reader's variables by the address "to" names
    assert list(json.loads(fields["recipient-variables"][0])) == ["ann@xn--bcher-kva.example"]


def test_the_form_carries_non_ascii_text_and_values_that_look_like_parts(tmp_path: Path) -> None:
    """Our own multipart body: UTF-8 values, CR LF inside a value and a line that looks like
    a boundary reach Mailgun's form parser as they were."""
    seen: list[httpx.Request] = []
    provider = make(tmp_path, transport=httpx.MockTransport(capture(seen)))
    text = "Grüße — 日本語\r\n--notaboundary\r\nContent-Disposition: form-data\r\n\r\nend"
    message = build_message(1, "Café — part 1", text=text)
    provider.send_batch(build_batch(message, ("ann@example.com", "Ann"), key="001-k"))
    fields = form(seen[0])
    assert fields["subject"] == ["Café — part 1"]
    assert fields["text"] == [text]
    assert seen[0].headers["content-type"].startswith("multipart/form-data; boundary=")
