"""The second corpus (tests/bounces/): what Postfix, Sendmail, Exim, Exchange/Outlook, Gmail,
Amazon SES, Yahoo, AOL and Microsoft send a newsletter author, each classified against one
list: hard failures name exactly their reader, temporary ones and auto-replies mark nobody,
complaints name the reader even when the provider redacted the address. Pure: no server."""

from __future__ import annotations

import re

import pytest

from seriespub.inbox.classify import (
    Bounce,
    Complaint,
    Lookup,
    Outcome,
    Unreadable,
    Unsubscribe,
    classify,
)
from test_inbox_classify import CORPUS, KEY, lookup_for

READERS = (
    "left.company@corp.example",
    "old.friend@uni.example.edu",
    "slow.server@uni.example.edu",
    "slow.box@hosting.example",
    "dana.alias@fabrikam.example",
    "later.reader@example.net",
    "nobody.here@isp.example",
    "busy.reader@contoso.com",
    "aol.reader@aol.com",
    "sore.reader@yahoo.com",
    "hot.reader@hotmail.com",
    "gone.twin@isp.example",
    "here.twin@isp.example",
    "ses.gone@isp.example",
    "ses.full@isp.example",
    "ses.annoyed@isp.example",
    "ses.fine@isp.example",
)
LOOKUP = lookup_for(READERS)


def corpus(name: str) -> bytes:
    """A corpus message; `@TOKEN@` is the token seriespub gave aol.reader (AOL redacts)."""
    raw = (CORPUS / name).read_bytes()
    return raw.replace(b"@TOKEN@", KEY.token("aol.reader@aol.com").encode())


def kinds(outcomes: list[Outcome]) -> list[tuple[str, str, bool | None]]:
    """(kind, address, permanent) of each outcome: what the sync would write."""
    found: list[tuple[str, str, bool | None]] = []
    for o in outcomes:
        if isinstance(o, Bounce):
            found.append(("bounce", o.email, o.permanent))
        elif isinstance(o, Complaint | Unsubscribe):
            found.append((type(o).__name__.lower(), o.email, None))
        else:
            found.append((type(o).__name__.lower(), "", None))
    return found


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("postfix-nouser.eml", [("bounce", "left.company@corp.example", True)]),
        ("sendmail-dsn.eml", [("bounce", "old.friend@uni.example.edu", True)]),
        ("ses-dsn.eml", [("bounce", "nobody.here@isp.example", True)]),
        # Forwarding: the list has the address we sent to (Original-Recipient), not where
        # the mail was forwarded (Final-Recipient).
        ("exchange-ndr-forwarded.eml", [("bounce", "dana.alias@fabrikam.example", True)]),
        # One failed, one delivered: only the failed one.
        ("postfix-two-recipients.eml", [("bounce", "gone.twin@isp.example", True)]),
        # Temporary: counted (soft), never bounced outright.
        ("sendmail-delayed.eml", [("bounce", "slow.server@uni.example.edu", False)]),
        ("gmail-delayed.eml", [("bounce", "later.reader@example.net", False)]),
        ("exim-delayed.eml", [("ignored", "", None)]),
        # Auto-replies are nobody's status.
        ("outlook-autoreply.eml", [("ignored", "", None)]),
        ("vacation-autoreply.eml", [("ignored", "", None)]),
        # Complaints: Yahoo names the reader, AOL redacts (the token in the returned
        # List-Unsubscribe names them), Microsoft JMRP hides To but says who in its own field.
        ("yahoo-arf.eml", [("complaint", "sore.reader@yahoo.com", None)]),
        ("aol-arf-redacted.eml", [("complaint", "aol.reader@aol.com", None)]),
        ("microsoft-jmrp.eml", [("complaint", "hot.reader@hotmail.com", None)]),
        # Amazon SES through SNS by email: the envelope (email-json) or the bare notification
        # (email). A Transient bounce counts as temporary; a Delivery changes nothing.
        ("ses-sns-bounce.eml", [("bounce", "ses.gone@isp.example", True)]),
        ("ses-notification-bounce.eml", [("bounce", "nobody.here@isp.example", True)]),
        ("ses-sns-transient.eml", [("bounce", "ses.full@isp.example", False)]),
        ("ses-sns-complaint.eml", [("complaint", "ses.annoyed@isp.example", None)]),
        ("ses-sns-delivery.eml", [("ignored", "", None)]),
        # Unreadable: one warning, left in place.
        ("no-parts.eml", [("unreadable", "", None)]),
        ("broken-mime.eml", [("unreadable", "", None)]),
    ],
)
def test_the_corpus_names_exactly_the_right_reader(
    name: str, expected: list[tuple[str, str, bool | None]]
) -> None:
    assert kinds(classify(corpus(name), LOOKUP)) == expected


def test_an_ses_bounce_names_the_instalment_and_the_reason() -> None:
    [outcome] = classify(corpus("ses-sns-bounce.eml"), LOOKUP)
    assert outcome == Bounce(
        "ses.gone@isp.example",
        True,
        "5.1.1; 550 5.1.1 <ses.gone@isp.example>... User unknown",
        2,
    )
    assert classify(corpus("ses-sns-complaint.eml"), LOOKUP) == [
        Complaint("ses.annoyed@isp.example", "abuse")
    ]


@pytest.mark.parametrize("encoding", ["quoted-printable", "base64"])
def test_an_ses_notification_in_a_transfer_encoding_reads_the_same(encoding: str) -> None:
    import base64
    import quopri

    head, _, body = corpus("ses-sns-bounce.eml").partition(b"\n\n")
    encoded = base64.encodebytes(body) if encoding == "base64" else quopri.encodestring(body)
    head = head.replace(b"Transfer-Encoding: 7bit", f"Transfer-Encoding: {encoding}".encode())
    raw = head + b"\n\n" + encoded
    assert b'"Permanent' not in raw  # the JSON is not readable as it stands
    assert kinds(classify(raw, LOOKUP)) == [("bounce", "ses.gone@isp.example", True)]


def _ses(kind: str, body: str) -> bytes:
    """A bare SES notification by email (an SNS `email` subscription)."""
    return (
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\r\nTo: author@example.com\r\n"
        f"Subject: AWS Notification Message\r\n\r\n"
        f'{{"notificationType":"{kind}",{body},"mail":{{"messageId":"0100-x"}}}}\r\n'
    ).encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Undetermined: SES could not tell why; counted as temporary, never bounced outright.
        (
            _ses(
                "Bounce",
                '"bounce":{"bounceType":"Undetermined","bouncedRecipients":'
                '[{"emailAddress":"ses.full@isp.example"}]}',
            ),
            [("bounce", "ses.full@isp.example", False)],
        ),
        # A recipient written with a name, two recipients, one of them not on the list.
        (
            _ses(
                "Bounce",
                '"bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":'
                '"Gone <SES.Gone@isp.example>"},{"emailAddress":"stranger@isp.example"}]}',
            ),
            [("bounce", "ses.gone@isp.example", True)],
        ),
        (
            _ses("Bounce", '"bounce":{"bounceType":"Permanent","bouncedRecipients":[]}'),
            [("unreadable", "", None)],
        ),
        (_ses("Bounce", '"bounce":"mangled"'), [("unreadable", "", None)]),
        (
            _ses(
                "Bounce",
                '"bounce":{"bounceType":"Permanent","bouncedRecipients":'
                '[{"emailAddress":"stranger@isp.example"}]}',
            ),
            [("ignored", "", None)],
        ),
        # Event publishing's other events (opens, clicks, sends) are nobody's status.
        (_ses("Open", '"open":{}'), [("ignored", "", None)]),
        # Text that merely starts with a brace is not a notification.
        (
            b"From: friend@example.org\r\nSubject: json\r\n\r\n{not json} ses.gone@isp.example\r\n",
            [("ignored", "", None)],
        ),
    ],
)
def test_ses_notifications_that_name_nobody_or_are_mangled(
    raw: bytes, expected: list[tuple[str, str, bool | None]]
) -> None:
    assert kinds(classify(raw, LOOKUP)) == expected


def test_the_token_of_a_mailto_list_unsubscribe_is_found_after_its_percent_20() -> None:
    # seriespub writes `subject=unsubscribe%20TOKEN`: the "0" of %20 touches the token.
    token = KEY.token("busy.reader@contoso.com")
    raw = (
        "From: Busy <busy.reader@contoso.com>\r\nTo: author@example.com\r\n"
        f"Subject: unsubscribe\r\n\r\n> List-Unsubscribe: <mailto:author@example.com"
        f"?subject=unsubscribe%20{token}>\r\n"
    ).encode()
    assert classify(raw, LOOKUP) == [Unsubscribe("busy.reader@contoso.com")]


def test_a_client_that_leaves_the_subject_percent_encoded_still_unsubscribes() -> None:
    token = KEY.token("busy.reader@contoso.com")
    raw = f"From: x@y.example\r\nSubject: unsubscribe%20{token}\r\n\r\n".encode()
    assert classify(raw, LOOKUP) == [Unsubscribe("busy.reader@contoso.com")]


def test_a_bounce_whose_final_recipient_is_on_the_list_still_names_it() -> None:
    raw = corpus("exchange-ndr-forwarded.eml").replace(
        b"Original-Recipient: rfc822;Dana.Alias@Fabrikam.example",
        b"Original-Recipient: rfc822;someone.else@fabrikam.example",
    )
    raw = raw.replace(b"Final-Recipient: rfc822;dana.old@", b"Final-Recipient: rfc822;dana.alias@")
    raw = raw.replace(b"fabrikam-mail.example\nAction", b"fabrikam.example\nAction")
    assert kinds(classify(raw, LOOKUP)) == [("bounce", "dana.alias@fabrikam.example", True)]


def test_a_bounce_that_differs_only_in_case_names_the_reader() -> None:
    raw = corpus("sendmail-dsn.eml").replace(
        b"Final-Recipient: RFC822; old.friend@uni.example.edu",
        b"Final-Recipient: RFC822; Old.Friend@UNI.Example.EDU",
    )
    assert kinds(classify(raw, LOOKUP)) == [("bounce", "old.friend@uni.example.edu", True)]


def test_unreadable_messages_say_why_in_one_line() -> None:
    for name in ("no-parts.eml", "broken-mime.eml"):
        [outcome] = classify(corpus(name), LOOKUP)
        assert isinstance(outcome, Unreadable) and "\n" not in outcome.why


OURS = "test-series.example.com"  # this list's List-Id (RFC 2919), as the sync passes it
FOR_US = Lookup(LOOKUP.by_token, LOOKUP.by_address, list_id=OURS)


def _with_list_id(raw: bytes, list_id: str) -> bytes:
    """The report with a List-Id in the returned message's headers (after its Message-ID)."""
    return re.sub(
        rb"(\nMessage-I[Dd]: <[0-9a-f]{32}\.\d+@[^>]+>\n)",
        lambda m: m.group(1) + f"List-Id: A series <{list_id}>\n".encode(),
        raw,
        count=1,
    )


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("postfix-nouser.eml", "left.company@corp.example"),
        ("yahoo-arf.eml", "sore.reader@yahoo.com"),
    ],
)
def test_a_report_about_another_lists_message_is_left_for_that_list(name: str, reader: str) -> None:
    """Two series sharing an inbox, a reader on both lists: a bounce or a complaint about the
    other series' message is the other series' to read (it is left where it is), not this
    list's to apply."""
    raw = corpus(name)
    other = _with_list_id(raw, "another-series.example.com")
    assert other != raw, "the returned headers carry no Message-ID to put the List-Id after"
    assert kinds(classify(other, FOR_US)) == [("ignored", "", None)]
    assert [k[1] for k in kinds(classify(_with_list_id(raw, OURS), FOR_US))] == [reader]
    assert [k[1] for k in kinds(classify(raw, FOR_US))] == [reader]  # no List-Id returned


def test_an_ses_delivery_delay_event_counts_as_temporary() -> None:
    # Event publishing's DeliveryDelay is SES still trying, as a "delayed" DSN is.
    raw = _ses(
        "DeliveryDelay",
        '"deliveryDelay":{"delayType":"MailboxFull","delayedRecipients":[{"emailAddress":'
        '"ses.full@isp.example","status":"4.2.2","diagnosticCode":"smtp; 452 4.2.2 Full"}]}',
    ).replace(b"notificationType", b"eventType")
    [outcome] = classify(raw, LOOKUP)
    assert outcome == Bounce("ses.full@isp.example", False, "4.2.2; 452 4.2.2 Full", None)


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("ses-sns-bounce.eml", "ses.gone@isp.example"),
        ("ses-sns-complaint.eml", "ses.annoyed@isp.example"),
    ],
)
def test_an_ses_notification_about_another_lists_message_is_left_for_that_list(
    name: str, reader: str
) -> None:
    raw = corpus(name)
    assert OURS.encode() in raw
    other = raw.replace(OURS.encode(), b"another-series.example.com")
    assert kinds(classify(other, FOR_US)) == [("ignored", "", None)]
    assert [k[1] for k in kinds(classify(raw, FOR_US))] == [reader]


def _minted(title: str, number: int, address: str) -> str:
    """The Message-ID series `title` (by author@example.com, the test key) gives `address`."""
    from seriespub.message import delivery_id_of, series_id_of

    series_id = series_id_of(KEY, title, "author@example.com")
    return f"<{delivery_id_of(series_id, number, address)}.{number}@example.com>"


def _ours_by_message_id(number: int, address: str) -> str:
    """What the sync's lookup answers for this list ("Test Series")."""
    from seriespub.message import delivery_id_of, series_id_of

    return delivery_id_of(series_id_of(KEY, "Test Series", "author@example.com"), number, address)


@pytest.mark.parametrize(
    ("name", "sent_id", "address"),
    [
        (
            "exim-failed.eml",
            b"<aabbccddeeff00112233445566778899.1@example.com>",
            "moved.away@hosting.example",
        ),
        (
            "qmail-failed.eml",
            b"<0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f.1@example.com>",
            "no.mailbox@qmail.example.org",
        ),
    ],
)
def test_a_report_without_returned_headers_is_read_by_the_series_whose_message_id_it_cites(
    name: str, sent_id: bytes, address: str
) -> None:
    """Exim and qmail quote the original in their text, not as headers (no List-Id is
    read): the Message-ID there was derived for one series (`message.series_id`), so it
    tells whose the report is."""
    readers = lookup_for((address,))
    by_id = Lookup(readers.by_token, readers.by_address, OURS, _ours_by_message_id)
    raw = (CORPUS / name).read_bytes()
    assert sent_id in raw
    ours = raw.replace(sent_id, _minted("Test Series", 1, address).encode())
    theirs = raw.replace(sent_id, _minted("Other Series", 1, address).encode())
    assert kinds(classify(ours, by_id)) == [("bounce", address, True)]
    assert kinds(classify(theirs, by_id)) == [("ignored", "", None)]
    # No Message-ID of seriespub's form: nothing tells, the list that has the reader reads it.
    assert kinds(classify(raw.replace(sent_id, b"<x@y>"), by_id)) == [("bounce", address, True)]
