"""The per-recipient MIME form: standards-conformant, and exactly the filled-in parts."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriespub.errors import InputError
from seriespub.message import PreparedMessage, Slot, SlottedText, unsubscribe_token
from seriespub.models import Subscriber


def make_message(html: str = "<p>Hi %%SP0%%</p><a href=\"%%SP1%%\">unsubscribe</a>",
                 text: str = "Hi %%SP0%%\nUnsubscribe: %%SP1%%",
                 subject: str = "Part 1: Hello") -> PreparedMessage:
    return PreparedMessage(
        number=1, subject=subject, from_header="Author <author@example.com>",
        reply_to="reply@example.com", html=SlottedText.parse(html),
        text=SlottedText.parse(text), slots=(Slot("name", "reader"), Slot("unsubscribe_url")),
        unsubscribe_url="https://example.com/u?t={token}&e={email}", secret=b"k")


def parse(data: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_mime_has_every_header_and_both_parts() -> None:
    message = make_message()
    r = message.recipient(Subscriber("ann@example.com", "Ann"))
    msg = parse(message.mime_for(r))
    assert msg["To"] == "Ann <ann@example.com>"
    assert msg["From"] == "Author <author@example.com>"
    assert msg["Reply-To"] == "reply@example.com"
    assert msg["Subject"] == "Part 1: Hello"
    assert msg["Date"] and msg["Message-ID"].endswith("@example.com>")
    token = unsubscribe_token(b"k", "ann@example.com")
    url = f"https://example.com/u?t={token}&e=ann%40example.com"
    assert msg["List-Unsubscribe"] == f"<{url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content() == f"Hi Ann\r\nUnsubscribe: {url}" \
        or msg.get_body(("plain",)).get_content() == f"Hi Ann\nUnsubscribe: {url}"
    html = msg.get_body(("html",)).get_content()
    assert html == f'<p>Hi Ann</p><a href="{url.replace("&", "&amp;")}">unsubscribe</a>'


def test_without_url_the_unsubscribe_is_mailto_the_reply_address() -> None:
    message = make_message()
    message.unsubscribe_url = None
    msg = parse(message.mime_for(message.recipient(Subscriber("ann@example.com"))))
    assert msg["List-Unsubscribe"] == "<mailto:reply@example.com?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None
    assert "mailto:reply@example.com" in msg.get_body(("html",)).get_content()


def test_each_recipient_gets_a_distinct_message_id_and_token() -> None:
    message = make_message()
    a = parse(message.mime_for(message.recipient(Subscriber("a@example.com"))))
    b = parse(message.mime_for(message.recipient(Subscriber("b@example.com"))))
    assert a["Message-ID"] != b["Message-ID"]
    assert a["List-Unsubscribe"] != b["List-Unsubscribe"]


def test_a_line_break_in_a_name_is_refused() -> None:
    message = make_message()
    with pytest.raises(InputError, match="header injection"):
        message.mime_for(message.recipient(Subscriber("a@example.com", "Ann\r\nBcc: x@y.z")))


def test_a_line_break_in_the_subject_is_refused_before_sending() -> None:
    with pytest.raises(InputError, match="header injection"):
        make_message(subject="Hi\nBcc: victim@example.com").validate()


def test_non_ascii_subject_and_name_are_encoded() -> None:
    message = make_message(subject="Résumé — part 1")
    msg = parse(message.mime_for(message.recipient(Subscriber("c@example.com", "Chloé"))))
    assert msg["Subject"] == "Résumé — part 1"
    assert msg["To"] == "Chloé <c@example.com>"
    assert msg.get_body(("html",)).get_content().startswith("<p>Hi Chloé</p>")


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120)
bodies = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
                 max_size=400)


@settings(max_examples=150, deadline=None)
@given(name=names, before=bodies, after=bodies)
def test_quoted_printable_round_trips_any_text(name: str, before: str, after: str) -> None:
    """Pre-encoded segments joined by soft breaks decode to exactly the filled-in text."""
    message = make_message(html=f"{before}%%SP0%%{after}", text=f"{before}%%SP0%%{after}")
    r = message.recipient(Subscriber("p@example.com", name.strip()))
    data = message.mime_for(r)
    assert b"\n" not in data.replace(b"\r\n", b"")       # CRLF line ends only (RFC 5322)
    msg = parse(data)
    html = msg.get_body(("html",)).get_payload(decode=True).decode("utf-8")
    text = msg.get_body(("plain",)).get_payload(decode=True).decode("utf-8")
    crlf = message.html_for(r).replace("\n", "\r\n")
    assert html == crlf
    assert text == message.text_for(r).replace("\n", "\r\n")
    for line in msg.as_bytes().split(b"\n"):
        assert len(line.rstrip(b"\r")) <= 998
