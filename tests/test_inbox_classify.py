"""Classifying what lands in the author's inbox: a corpus of bounces in the formats big
providers send (tests/bounces/), complaints (ARF), unsubscribe requests with and without a
valid token, and mail that is none of these. Pure: no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TEST_SECRET
from seriespub.inbox.classify import (
    Bounce,
    Complaint,
    Ignored,
    Lookup,
    Unreadable,
    Unsubscribe,
    classify,
)
from seriespub.message import UnsubscribeKey

CORPUS = Path(__file__).parent / "bounces"
KEY = UnsubscribeKey(TEST_SECRET.encode())
READERS = (
    "gone.reader@gmail.com",
    "old.reader@contoso.com",
    "closed.account@yahoo.com",
    "full.box@isp.example",
    "moved.away@hosting.example",
    "no.mailbox@qmail.example.org",
    "annoyed@isp.example",
    "ann@example.com",
    "bob@example.com",
)


def lookup_for(readers: tuple[str, ...]) -> Lookup:
    """Who a token or an address is among `readers`, as the sync's own lookup answers."""
    tokens = {KEY.token(a): a for a in readers}
    return Lookup(tokens.get, lambda a: a.lower() if a.lower() in readers else None)


LOOKUP = lookup_for(READERS)


@pytest.mark.parametrize(
    ("name", "reader", "permanent", "instalment", "reason"),
    [
        ("gmail-nosuchuser.eml", "gone.reader@gmail.com", True, 3, "5.1.1; 550-5.1.1 The email"),
        (
            "outlook-recipientnotfound.eml",
            "old.reader@contoso.com",
            True,
            2,
            "5.1.10; 550 5.1.10 RESOLVER.ADR.RecipientNotFound",
        ),
        (
            "yahoo-nonstandard.eml",
            "closed.account@yahoo.com",
            True,
            2,
            "554: delivery error: dd This user doesn't have a yahoo.com account",
        ),
        ("postfix-mailbox-full.eml", "full.box@isp.example", False, 4, "4.2.2; 452 4.2.2 Mailbox"),
        ("exim-failed.eml", "moved.away@hosting.example", True, 1, "550 5.1.1"),
        (
            "qmail-failed.eml",
            "no.mailbox@qmail.example.org",
            True,
            1,
            "Sorry, no mailbox here by that name. (#5.1.1)",
        ),
    ],
)
def test_each_provider_bounce_names_the_reader_and_the_outcome(
    name: str, reader: str, permanent: bool, instalment: int, reason: str
) -> None:
    [outcome] = classify((CORPUS / name).read_bytes(), LOOKUP)
    assert isinstance(outcome, Bounce), outcome
    assert (outcome.email, outcome.permanent, outcome.instalment) == (reader, permanent, instalment)
    assert reason in outcome.reason


def test_a_bounce_for_someone_not_on_the_list_is_left_alone() -> None:
    nobody = Lookup(lambda t: None, lambda a: None)
    [outcome] = classify((CORPUS / "gmail-nosuchuser.eml").read_bytes(), nobody)
    assert isinstance(outcome, Ignored)


def test_a_malformed_dsn_is_unreadable_not_an_exception() -> None:
    [outcome] = classify((CORPUS / "malformed-dsn.eml").read_bytes(), LOOKUP)
    assert isinstance(outcome, Unreadable)
    assert "names no recipient" in outcome.why


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe\x00garbage",
        b"Content-Type: multipart/report; report-type=delivery-"
        b'status; boundary="x"\r\nFrom: MAILER-DAEMON@x\r\n\r\n--x\r\nContent-Type: message/'
        b"delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n--x",
        b"From: MAILER-DAEMON@x\r\nSubject: Undelivered Mail\r\nContent-Type: multipart/report;"
        b" report-type=delivery-status\r\n\r\nno boundary at all\r\n",
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    for outcome in classify(raw, LOOKUP):
        assert isinstance(outcome, Ignored | Unreadable)


def test_a_complaint_names_the_reader_from_original_rcpt_to() -> None:
    [outcome] = classify((CORPUS / "arf-complaint.eml").read_bytes(), LOOKUP)
    assert outcome == Complaint("annoyed@isp.example", "abuse")


def test_a_redacted_complaint_names_the_reader_by_the_token_in_list_unsubscribe() -> None:
    raw = (CORPUS / "arf-complaint.eml").read_bytes()
    raw = raw.replace(b"Original-Rcpt-To: <annoyed@isp.example>\n", b"")
    raw = raw.replace(
        b"To: annoyed@isp.example\n",
        b"To: redacted@isp.example\nList-"
        b"Unsubscribe: <https://example.com/u?token="
        + KEY.token("bob@example.com").encode()
        + b">\n",
    )
    assert classify(raw, LOOKUP) == [Complaint("bob@example.com", "abuse")]


def request(sender: str, subject: str, body: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: author@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <r@x>\r\n\r\n{body}\r\n"
    ).encode()


def test_an_unsubscribe_request_with_the_readers_token_unsubscribes_them() -> None:
    token = KEY.token("ann@example.com")
    assert classify(request("ann@example.com", f"unsubscribe {token}"), LOOKUP) == [
        Unsubscribe("ann@example.com")
    ]
    # A client that puts the token in the body, or sends from another address of theirs.
    assert classify(
        request("ann.other@example.org", "Unsubscribe", f"unsubscribe {token}"), LOOKUP
    ) == [Unsubscribe("ann@example.com")]


@pytest.mark.parametrize(
    ("sender", "subject"),
    [
        ("bob@example.com", "unsubscribe"),  # no token
        ("bob@example.com", "unsubscribe " + "0" * 32),  # wrong token
        ("mallory@evil.example", "unsubscribe bob@example.com"),  # someone else
        ("mallory@evil.example", "unsubscribe " + KEY.token("mallory@evil.example")),  # not listed
        ("bob@example.com", "unsubscribe " + UnsubscribeKey(b"other").token("bob@example.com")),
    ],
)
def test_forged_unsubscribe_requests_name_nobody(sender: str, subject: str) -> None:
    [outcome] = classify(request(sender, subject), LOOKUP)
    assert isinstance(outcome, Ignored)


def test_ordinary_mail_is_not_ours() -> None:
    assert classify(request("friend@example.org", "Lunch?", "ann@example.com"), LOOKUP) == [
        Ignored("")
    ]


def test_a_mangled_bounce_to_the_verp_address_still_names_the_reader() -> None:
    token = KEY.token("bob@example.com")
    raw = (
        f"From: MAILER-DAEMON@relay.example\r\nTo: author+bounce-{token}@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n\r\n"
        "I could not deliver it. 550 5.1.1 no such user\r\n"
    ).encode()
    [outcome] = classify(raw, LOOKUP)
    assert isinstance(outcome, Bounce)
    assert (outcome.email, outcome.permanent) == ("bob@example.com", True)


def test_an_autoreply_to_the_verp_address_is_not_a_bounce() -> None:
    token = KEY.token("bob@example.com")
    raw = (
        f"From: bob@example.com\r\nTo: author+bounce-{token}@example.com\r\n"
        "Auto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway.\r\n"
    ).encode()
    assert classify(raw, LOOKUP) == [Ignored("")]
