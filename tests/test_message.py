"""The per-recipient MIME form: standards-conformant, and exactly the filled-in parts."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import quopri
import re
import urllib.parse
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailcheck import body_bytes, body_text, check_message
from seriespub.errors import InputError
from seriespub.message import (
    UNSUBSCRIBE_FIELD,
    PreparedMessage,
    Slot,
    SlottedText,
    unsubscribe_token,
)
from seriespub.models import Recipient, Subscriber


def make_message(
    html: str = '<p>Hi %%SP0%%</p><a href="%%SP1%%">unsubscribe</a>',
    text: str = "Hi %%SP0%%\nUnsubscribe: %%SP1%%",
    subject: str = "Part 1: Hello",
) -> PreparedMessage:
    return PreparedMessage(
        number=1,
        subject=subject,
        from_header="Author <author@example.com>",
        reply_to="reply@example.com",
        html=SlottedText.parse(html),
        text=SlottedText.parse(text),
        slots=(Slot("name", "reader"), Slot("unsubscribe_url")),
        unsubscribe_url="https://example.com/u?t={token}&e={email}",
        secret=b"k",
    )


def parse(data: bytes) -> email.message.EmailMessage:
    return check_message(data)


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
    assert (
        body_text(msg, "plain") == f"Hi Ann\r\nUnsubscribe: {url}"
        or body_text(msg, "plain") == f"Hi Ann\nUnsubscribe: {url}"
    )
    html = body_text(msg, "html")
    assert html == f'<p>Hi Ann</p><a href="{url.replace("&", "&amp;")}">unsubscribe</a>'


def test_without_url_the_unsubscribe_is_mailto_the_reply_address() -> None:
    message = make_message()
    message.unsubscribe_url = None
    msg = parse(message.mime_for(message.recipient(Subscriber("ann@example.com"))))
    token, tag = message.key.token("ann@example.com"), f"s-{message.series_id[:8]}"
    assert msg["List-Unsubscribe"] == (
        f"<mailto:reply@example.com?subject=unsubscribe%20{token}%20{tag}>"
    )
    assert msg["List-Unsubscribe-Post"] is None
    assert "mailto:reply@example.com" in body_text(msg, "html")


def test_the_mailto_tag_follows_the_kept_series_id_even_after_an_earlier_use() -> None:
    """A send works with the series id its ledger kept (`with_series_id`); a mailto: link
    made from the message before (a sample, a size check) must not leave the old tag."""
    message = make_message()
    message.unsubscribe_url = None
    before = message.mailto_unsubscribe("ann@example.com")
    kept = message.with_series_id("0123abcd" + "0" * 24)
    assert before.endswith(f"%20s-{message.series_id[:8]}")
    assert kept.mailto_unsubscribe("ann@example.com").endswith("%20s-0123abcd")


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
    assert body_text(msg, "html").startswith("<p>Hi Chloé</p>")


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120)
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
bodies = st.text(
    st.characters(blacklist_categories=SURROGATES, blacklist_characters="\r"), max_size=400
)


@settings(max_examples=150, deadline=None)
@given(name=names, before=bodies, after=bodies)
def test_quoted_printable_round_trips_any_text(name: str, before: str, after: str) -> None:
    """Pre-encoded segments joined by soft breaks decode to exactly the filled-in text."""
    message = make_message(html=f"{before}%%SP0%%{after}", text=f"{before}%%SP0%%{after}")
    r = message.recipient(Subscriber("p@example.com", name.strip()))
    data = message.mime_for(r)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF line ends only (RFC 5322)
    msg = parse(data)
    html = body_bytes(msg, "html").decode("utf-8")
    text = body_bytes(msg, "plain").decode("utf-8")
    crlf = message.html_for(r).replace("\n", "\r\n")
    assert html == crlf
    assert text == message.text_for(r).replace("\n", "\r\n")
    for line in msg.as_bytes().split(b"\n"):
        assert len(line.rstrip(b"\r")) <= 998


def series_message(
    title: str = "Series A",
    secret: bytes = b"k",
    number: int = 1,
    from_header: str = "Author <author@example.com>",
) -> PreparedMessage:
    message = make_message()
    return PreparedMessage(
        number=number,
        subject="Part",
        from_header=from_header,
        reply_to=None,
        html=message.html,
        text=message.text,
        slots=message.slots,
        unsubscribe_url=message.unsubscribe_url,
        secret=secret,
        series_title=title,
    )


def message_id(message: PreparedMessage, address: str = "ann@example.com") -> str:
    return str(parse(message.mime_for(message.recipient(Subscriber(address))))["Message-ID"])


def test_two_series_by_one_author_give_a_reader_different_message_ids() -> None:
    assert message_id(series_message("Series A")) != message_id(series_message("Series B"))
    # Same title and sender but another series folder (another key): still different.
    assert message_id(series_message(secret=b"k1")) != message_id(series_message(secret=b"k2"))
    assert message_id(series_message(number=1)) != message_id(series_message(number=2))


def test_a_resend_of_the_same_delivery_keeps_its_ids() -> None:
    first, again = series_message(), series_message()  # e.g. a run, then its resume
    ann = Subscriber("ann@example.com", "Ann")
    assert first.recipient(ann).delivery_id == again.recipient(ann).delivery_id
    assert message_id(first) == message_id(again)
    assert message_id(first, "ANN@example.com") == message_id(first)


def test_a_test_copy_has_its_own_message_id_and_delivery_id() -> None:
    real = series_message()
    test, test_again = real.for_test(), real.for_test()
    ann = Subscriber("ann@example.com")
    ids = {m.recipient(ann).delivery_id for m in (real, test, test_again)}
    assert len(ids) == 3
    assert len({message_id(real), message_id(test), message_id(test_again)}) == 3
    assert parse(test.mime_for(test.recipient(ann)))["Subject"] == "[TEST] Part"
    assert real.subject == "Part"


def test_the_secret_is_in_no_repr() -> None:
    from seriespub.config import SeriesSettings, Settings
    from seriespub.providers.base import Batch
    from seriespub.render.email import RenderInputs

    secret = b"s3cr3t-unsubscribe-key-0123456789abcdef"
    message = series_message(secret=secret)
    recipient = message.recipient(Subscriber("ann@example.com", "Ann"))
    objects = [
        message,
        recipient,
        Batch("k", message, [recipient]),
        message.key,
        Settings(SeriesSettings("T", "a@example.com")),
        RenderInputs(SeriesSettings("T", "a@example.com"), secret),
    ]
    for thing in objects:
        assert secret.decode() not in repr(thing) and secret.hex() not in repr(thing)
    assert not any(v == secret for v in vars(message).values())
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(message.key)


def test_lines_starting_with_from_are_encoded_in_literals_and_values() -> None:
    text = "From the start\nHello %%SP0%%,\nFrom here on\n%%SP0%%"
    message = make_message(html=text, text=text)
    name = "From the Ground Up"
    data = message.mime_for(message.recipient(Subscriber("a@example.com", name)))
    assert b"\r\nFrom " not in data
    assert b"=46rom the" in data
    msg = parse(data)
    body = body_text(msg, "plain")
    assert body.replace("\r\n", "\n") == (f"From the start\nHello {name},\nFrom here on\n{name}")


def test_a_long_subject_is_folded_and_reads_back_whole() -> None:
    subject = " ".join(f"word{i}" for i in range(400))  # ~3,600 octets
    for text in (subject, "Résumé " + subject, "Х" * 700, "x" * 1200, "a =?utf-8?q?b?= c"):
        message = make_message(subject=text)
        msg = parse(message.mime_for(message.recipient(Subscriber("a@example.com"))))
        assert msg["Subject"] == text


def test_long_and_unusual_names_are_folded_quoted_or_encoded() -> None:
    message = make_message()
    for name in (
        "Ann " * 400,
        'Ann, the "Writer" (Esq.)',
        "Zoë " * 300,
        "Ann.B",
        "x" * 1500,
        "Bob =?utf-8?q?evil?= ",
        "Ann\x00Bee",
    ):
        msg = parse(message.mime_for(message.recipient(Subscriber("a@example.com", name))))
        to = msg["To"].addresses[0]
        assert to.addr_spec == "a@example.com"
        # Python's parser keeps the space between adjacent encoded words in a display name
        # (RFC 2047 §6.2 says to drop it, as mail clients do): compare without spaces.
        assert to.display_name.split() == name.replace("\x00", "").split() or "".join(
            to.display_name.split()
        ) == "".join(name.split())


def test_idn_addresses_go_out_as_a_labels() -> None:
    message = series_message(from_header="Ann <ann@bücher.example>")
    msg = parse(
        message.mime_for(message.recipient(Subscriber("zoë@example.com".replace("ë", "e"), "Zoë")))
    )
    assert msg["From"].addresses[0].addr_spec == "ann@xn--bcher-kva.example"
    assert message.from_email == "ann@xn--bcher-kva.example"
    other = parse(message.mime_for(message.recipient(Subscriber("bo@münchen.example", "Bo"))))
    assert other["To"].addresses[0].addr_spec == "bo@xn--mnchen-3ya.example"
    assert "xn--bcher-kva.example>" in str(other["Message-ID"])


def test_list_id_names_the_series() -> None:
    message = series_message("Developing a culture of 'Teaming'")
    msg = parse(message.mime_for(message.recipient(Subscriber("a@example.com"))))
    assert (
        str(msg["List-Id"])
        == ("\"Developing a culture of 'Teaming'\" <developing-a-culture-of-teaming.example.com>")
        or msg["List-Id"]
        == "Developing a culture of 'Teaming' <developing-a-culture-of-teaming.example.com>"
    )
    russian = series_message("Лидерство")
    msg = parse(russian.mime_for(russian.recipient(Subscriber("a@example.com"))))
    assert re.search(r"<series-[0-9a-f]{10}\.example\.com>$", msg["List-Id"])
    assert series_message("Лидерство").list_id != series_message("Команды").list_id


def test_reply_to_with_several_addresses_keeps_every_one() -> None:
    message = make_message()
    message.reply_to = "A <a@example.com>, b@example.com"
    msg = parse(message.mime_for(message.recipient(Subscriber("c@example.com"))))
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["a@example.com", "b@example.com"]


def test_base64_is_chosen_where_it_is_smaller_and_fills_correctly() -> None:
    russian = (
        "Привет, %%SP0%%! " + "Это длинный текст о лидерстве и командах. " * 400 + "\n%%SP1%%\n"
    )
    message = make_message(html=f"<p>{russian}</p>", text=russian)
    size = message.sent_size()
    assert (size.html_encoding, size.text_encoding) == ("base64", "base64")
    literal = len(message.html.literals[0].encode()) + len(message.html.literals[1].encode())
    assert size.html < literal * 1.4  # quoted-printable: ~3×
    r = message.recipient(Subscriber("a@example.com", "Аня"))
    msg = parse(message.mime_for(r))
    assert body_text(msg, "plain").replace("\r\n", "\n") == message.text_for(r)
    assert body_text(msg, "html").replace("\r\n", "\n") == message.html_for(r)
    english = make_message()
    assert english.sent_size().html_encoding == "quoted-printable"


cyrillic = st.text(
    st.characters(whitelist_categories=("Ll", "Lu", "Zs"), max_codepoint=0x4FF), max_size=300
)


@settings(max_examples=150, deadline=None)
@given(name=names, before=cyrillic, middle=bodies, after=cyrillic)
def test_base64_round_trips_any_text(name: str, before: str, middle: str, after: str) -> None:
    """Each of the three byte alignments a value can leave, at every literal length."""
    bulk = "Ж" * 200
    html_text = f"{bulk}{before}%%SP0%%{middle}%%SP0%%%%SP1%%{after}"
    message = make_message(html=html_text, text=html_text)
    r = message.recipient(Subscriber("p@example.com", name.strip()))
    data = message.mime_for(r)
    msg = parse(data)
    html_part = msg.get_body(("html",))
    assert html_part is not None
    assert html_part["Content-Transfer-Encoding"] == "base64"
    body = data.split(b"base64\r\n\r\n")[2].split(b"\r\n--")[0]
    assert all(len(line) % 4 == 0 and 0 < len(line) <= 76 for line in body.split(b"\r\n"))
    assert html_part.get_content() == message.html_for(r).replace("\n", "\r\n")
    assert body_text(msg, "plain") == message.text_for(r).replace("\n", "\r\n")


subjects = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=1500)


@settings(max_examples=100, deadline=None)
@given(subject=subjects)
def test_any_subject_is_folded_and_reads_back(subject: str) -> None:
    message = make_message(subject=subject)
    msg = parse(message.mime_for(message.recipient(Subscriber("a@example.com"))))
    assert msg["Subject"].split() == subject.split()


def test_list_id_header_for_api_providers() -> None:
    assert series_message("Series A").list_id_header == "Series A <series-a.example.com>"


fragments = st.lists(
    st.sampled_from(["From ", "\n", "From", ">", "x", " ", "=", "é", "Ж" * 30]), max_size=60
).map("".join)


@settings(max_examples=150, deadline=None)
@given(name=fragments, before=fragments, after=fragments)
def test_no_line_starts_with_from_in_either_encoding(name: str, before: str, after: str) -> None:
    message = make_message(html=f"{before}%%SP0%%{after}", text=f"{before}%%SP0%%{after}")
    r = message.recipient(Subscriber("p@example.com", name.replace("\n", " ")))
    msg = parse(message.mime_for(r))  # asserts no line starts with "From "
    assert body_text(msg, "plain") == message.text_for(r).replace("\n", "\r\n")


@pytest.mark.parametrize(
    "text",
    [
        "From here",
        ">From here",
        ">>From here",
        "x" * 75 + "\n>From x",
        "a" * 75 + "From " + "b" * 90,
        "a" * 75 + ">From " + "b" * 90,
    ],
)
def test_a_quoted_printable_line_never_starts_with_from_even_after_quote_marks(text: str) -> None:
    """Postfix and other mboxrd deliveries turn ">From " into ">>From " as well."""
    from seriespub.transfer import qp

    encoded = qp(text)
    for line in encoded.split(b"\r\n"):
        assert not line.lstrip(b">").startswith(b"From "), line
        assert len(line) <= 76, line
    assert quopri.decodestring(encoded).replace(b"\r\n", b"\n") == text.encode()


def _recipient_by_the_old_formulas(
    message: PreparedMessage, secret: bytes, subscriber: Subscriber
) -> Recipient:
    """`PreparedMessage.recipient` as it was written before it inlined its parts: the
    token by `unsubscribe_token`, the delivery id by a fresh sha256, the URL by replace."""
    email = subscriber.email
    prefix = f"{message.series_id}\0{message.number}\0"
    delivery = hashlib.sha256(f"{prefix}{email.lower()}\0{message.send_tag}".encode())
    url = None
    if message.unsubscribe_url:
        url = message.unsubscribe_url.replace("{token}", unsubscribe_token(secret, email))
        if "{email}" in url:
            url = url.replace("{email}", urllib.parse.quote(email, safe=""))
    values = dict(subscriber.fields)
    values["name"] = subscriber.name
    values["email"] = email
    values[UNSUBSCRIBE_FIELD] = url or message.mailto_unsubscribe(email)
    return Recipient(email, subscriber.name, delivery.hexdigest()[:32], values, url)


@settings(max_examples=150, deadline=None)
@given(
    local=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20),
    domain=st.sampled_from(["example.com", "EXAMPLE.org", "bücher.de", "x.İo"]),
    name=st.text(max_size=20),
    fields=st.dictionaries(st.sampled_from(["city", "unsubscribe_url", "plan"]), st.text()),
    template=st.sampled_from(
        [None, "https://e.com/u?t={token}", "https://e.com/u/{token}?e={email}&t={token}"]
    ),
    copy=st.sampled_from(["real", "test", "kept id"]),
)
def test_recipient_matches_the_old_formulas_on_any_address(
    local: str, domain: str, name: str, fields: dict[str, str], template: str | None, copy: str
) -> None:
    secret = b"random-key-" + local.encode()
    message = dataclasses.replace(make_message(), unsubscribe_url=template, secret=secret)
    if copy == "test":
        message = message.for_test()
    elif copy == "kept id":
        message = message.with_series_id("f" * 32)
    subscriber = Subscriber(f"{local}@{domain}", name, fields=fields)
    expected = _recipient_by_the_old_formulas(message, secret, subscriber)
    assert message.recipient(subscriber) == expected
    assert message.delivery_id(subscriber.email) == expected.delivery_id
    assert message.unsubscribe_url_for(subscriber.email) == expected.unsubscribe_url
