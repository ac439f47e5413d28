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
    Ignored,
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
        # Unreadable: one warning, left in place.
        ("no-parts.eml", [("unreadable", "", None)]),
        ("broken-mime.eml", [("unreadable", "", None)]),
    ],
)
def test_the_corpus_names_exactly_the_right_reader(
    name: str, expected: list[tuple[str, str, bool | None]]
) -> None:
    assert kinds(classify(corpus(name), LOOKUP)) == expected


def test_an_ses_notification_by_email_changes_nothing() -> None:
    # SNS's JSON notifications are for a webhook; by email they are left for the author.
    assert classify(corpus("ses-notification-bounce.eml"), LOOKUP) == [Ignored("")]


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
