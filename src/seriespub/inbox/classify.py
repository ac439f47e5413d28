"""What a message in the author's inbox is: an unsubscribe request, a bounce, a complaint,
or none of these (left alone).

Readers are found by their token first (the `mailto:` subject, the VERP envelope sender, the
List-Unsubscribe of a returned copy: only that reader ever had it), then by the addresses a
DSN or a complaint names, and only ever among the subscribers (`lookup`). An unsubscribe
request counts only with a valid token, so a forged one names nobody. Amazon SES's own
notifications (mailed through SNS, `seriespub.inbox.ses`) name readers by address as a DSN
does. Nothing here raises on a malformed message: it is `Unreadable`, with a reason for the
warning.
"""

from __future__ import annotations

import email.message
import email.policy
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser

from seriespub.inbox import dsn, ses
from seriespub.message import SERIES_TAG

HEX32 = re.compile(rb"(?<![0-9a-f])([0-9a-f]{32})(?![0-9a-f])")
# A Message-ID seriespub makes: `<delivery id.instalment@domain>` (`message.message_id`).
_ORIGINAL_ID = re.compile(r"<([0-9a-f]{32})\.(\d+)@[^>\s]+>")
_LIST_ID = re.compile(r"<([^<>\s]+)>")  # RFC 2919: `Title <id>`, the id in angle brackets
NO_VALID_TOKEN = "an unsubscribe request without a valid token (left for you)"
_BOUNCE_FROM = re.compile(
    r"mailer-daemon|postmaster|mail delivery|mail administrator", re.IGNORECASE
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed|notification)|failure notice|"
    r"returned mail|mail delivery failed|could not be delivered|delivery incomplete",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Unsubscribe:
    email: str


@dataclass(frozen=True)
class Bounce:
    email: str
    permanent: bool
    reason: str
    instalment: int | None  # from the returned Message-ID, when the DSN has it


@dataclass(frozen=True)
class Complaint:
    email: str
    feedback_type: str


@dataclass(frozen=True)
class Unreadable:
    why: str


@dataclass(frozen=True)
class Ignored:
    why: str  # "" for mail that is simply not ours


Outcome = Unsubscribe | Bounce | Complaint | Unreadable | Ignored


@dataclass(frozen=True)
class Lookup:
    """Who a token or an address is, among the subscribers (lower-cased addresses)."""

    by_token: Callable[[str], str | None]
    by_address: Callable[[str], str | None]
    # This series' List-Id (`slug.domain`): a report whose returned message carries another
    # one is about another list's mail (two series sharing an inbox), and left for it.
    list_id: str | None = None
    # The delivery id (a Message-ID's left part) this series gives an address for part N: a
    # report that returns no headers (so no List-Id) but quotes a Message-ID of ours is read
    # by the series that sent it.
    delivery_id: Callable[[int, str], str] | None = None
    # `message.series_tag` of this series: an unsubscribe request tagged with another is
    # another series' (one sharing the key: the reader's token is the same), left for it.
    series_tag: str | None = None

    def token_in(self, raw: bytes) -> str | None:
        # A mailto: List-Unsubscribe (ours) has `unsubscribe%20TOKEN`: the "0" of %20 would
        # otherwise join the token and hide it.
        for match in HEX32.finditer(raw.lower().replace(b"%20", b" ")):
            found = self.by_token(match.group(1).decode())
            if found:
                return found
        return None


def parse(raw: bytes) -> email.message.Message:
    return BytesParser(policy=email.policy.compat32).parsebytes(raw)


def classify(raw: bytes, lookup: Lookup) -> list[Outcome]:
    """Outcomes for one message (a DSN may name several readers)."""
    try:
        msg = parse(raw)
        notice = ses.notification(msg)
        if notice is not None:
            return _from_ses(notice, lookup)
        if _about_another_list(msg, lookup):
            return [Ignored("")]  # the other series' sync reads it
        if _is_report(msg, "feedback-report"):
            return _sent_by_this_series(msg, raw, lookup, [_complaint(msg, raw, lookup)])
        if _is_report(msg, "delivery-status") or _looks_like_bounce(msg):
            return _sent_by_this_series(msg, raw, lookup, _bounces(msg, raw, lookup))
        if "unsubscribe" in _subject(msg).lower():
            return [_unsubscribe(msg, raw, lookup)]
    except Exception as exc:  # a mangled message must never stop the others
        return [Unreadable(f"cannot be parsed ({type(exc).__name__}: {exc})")]
    return [Ignored("")]


def _about_another_list(msg: email.message.Message, lookup: Lookup) -> bool:
    """A report (bounce, complaint) whose returned message names another List-Id. Without a
    returned List-Id (many reports keep no headers) the report is this list's to read."""
    if not _is_report_or_bounce(msg):
        return False
    return _names_another_list(_returned(msg), lookup)


def _names_another_list(returned: list[email.message.Message], lookup: Lookup) -> bool:
    """The first List-Id among the returned headers is not this series'."""
    if lookup.list_id is None:
        return False
    for headers in returned:
        found = _LIST_ID.search(str(headers.get("List-Id", "")))
        if found:
            return found.group(1).strip().lower() != lookup.list_id.lower()
    return False


def _sent_by_this_series(
    msg: email.message.Message, raw: bytes, lookup: Lookup, outcomes: list[Outcome]
) -> list[Outcome]:
    """Without returned headers, the Message-IDs a report quotes tell whose it is: a reader
    is marked only when one of them is the id this series gave them. A report that quotes
    none of seriespub's form is read as before (nothing tells)."""
    if lookup.delivery_id is None or any(h.keys() for h in _returned(msg)):
        return outcomes  # the List-Id rule (`_about_another_list`) has decided
    cited = _quoted_ids(msg, raw)
    if not cited:
        return outcomes
    check = lookup.delivery_id
    kept = [
        o
        for o in outcomes
        if not isinstance(o, Bounce | Complaint)
        or any(check(number, o.email) == hex_id for hex_id, number in cited)
    ]
    return kept or [Ignored("")]  # the other series' sync reads it


def _quoted_ids(msg: email.message.Message, raw: bytes) -> set[tuple[str, int]]:
    """(delivery id, part) of each Message-ID of seriespub's form in the report, as sent or
    in a part's decoded text (quoted-printable or base64)."""
    texts = [raw.decode("ascii", errors="replace")]
    for part in msg.walk():
        data = None if part.is_multipart() else part.get_payload(decode=True)
        if isinstance(data, bytes):
            texts.append(data.decode("utf-8", errors="replace"))
    return {(m.group(1), int(m.group(2))) for t in texts for m in _ORIGINAL_ID.finditer(t)}


def _is_report_or_bounce(msg: email.message.Message) -> bool:
    return (
        _is_report(msg, "feedback-report")
        or _is_report(msg, "delivery-status")
        or _looks_like_bounce(msg)
    )


def _returned(msg: email.message.Message) -> list[email.message.Message]:
    """The headers of the message a report returns (its message/rfc822 or headers part)."""
    found = []
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            original = dsn.original_headers(part)
            if original is not None:
                found.append(original)
    return found


def _is_report(msg: email.message.Message, kind: str) -> bool:
    if msg.get_content_type() == "multipart/report":
        report_type = msg.get_param("report-type")
        return (isinstance(report_type, str) and report_type.lower() == kind) or any(
            p.get_content_type() == f"message/{kind}" for p in msg.walk()
        )
    return False


def _looks_like_bounce(msg: email.message.Message) -> bool:
    sender = str(msg.get("From", ""))
    return bool(_BOUNCE_FROM.search(sender) and _BOUNCE_SUBJECT.search(_subject(msg))) or (
        msg.get("Return-Path", "").strip() == "<>" and bool(_BOUNCE_SUBJECT.search(_subject(msg)))
    )


def _subject(msg: email.message.Message) -> str:
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(msg.get("Subject", ""))))
    except (ValueError, LookupError):
        return str(msg.get("Subject", ""))


def _unsubscribe(msg: email.message.Message, raw: bytes, lookup: Lookup) -> Outcome:
    # The token is in the subject the mailto: set, or quoted in the body by a client that
    # moved it; the From line proves nothing (anyone can write it).
    subject = _subject(msg)
    if _tagged_for_another_series(subject, lookup):
        return Ignored("")  # that series' sync reads it
    who = lookup.token_in(subject.encode()) or lookup.token_in(raw)
    if who is None:
        return Ignored(NO_VALID_TOKEN)
    return Unsubscribe(who)


def _tagged_for_another_series(subject: str, lookup: Lookup) -> bool:
    """The subject's mailto: series tag names another series. A request without one (sent
    before tags, or a client that dropped it) is this series' when its token matches."""
    if lookup.series_tag is None:
        return False
    found = SERIES_TAG.search(subject.lower().replace("%20", " "))
    return found is not None and found.group(0) != lookup.series_tag


def _bounces(msg: email.message.Message, raw: bytes, lookup: Lookup) -> list[Outcome]:
    reports = dsn.recipients(msg)
    instalment = _instalment(raw)
    verp = lookup.token_in(raw)  # the VERP return path or List-Unsubscribe: exact
    found: list[Outcome] = []
    for report in reports or []:
        who = verp if verp and len(reports or []) == 1 else _listed(report, lookup)
        if who:
            found.append(Bounce(who, report.permanent, report.reason, instalment))
    if not found and verp and reports != []:  # mangled: the token names the reader
        permanent, reason = dsn.guess_status(msg)
        found.append(Bounce(verp, permanent, reason, instalment))
    if not found and reports is None:
        return [Unreadable("a delivery report that names no recipient it can read")]
    return found or [Ignored("a bounce for nobody on the list")]


def _from_ses(notice: ses.Notification, lookup: Lookup) -> list[Outcome]:
    """Bounces and complaints SES reported by email; a delivery is nobody's status."""
    if notice.kind not in ("Bounce", "Complaint"):
        return [Ignored("")]
    returned = [notice.headers] if notice.headers is not None else []
    if _names_another_list(returned, lookup):
        return [Ignored("")]  # the other series' sync reads it
    if not notice.recipients:
        return [Unreadable("an Amazon SES notification that names no recipient it can read")]
    sent_id = str(returned[0].get("Message-ID", "")) if returned else ""
    instalment = _instalment(sent_id.encode())
    found: list[Outcome] = []
    for recipient in notice.recipients:
        who = lookup.by_address(recipient.address)
        if who and notice.kind == "Bounce":
            found.append(Bounce(who, notice.permanent, recipient.reason, instalment))
        elif who:
            found.append(Complaint(who, notice.feedback_type))
    return found or [Ignored(f"an Amazon SES {notice.kind.lower()} for nobody on the list")]


def _listed(report: dsn.Report, lookup: Lookup) -> str | None:
    """The address we sent to (Original-Recipient) first: a forward's target is not listed."""
    return (report.original and lookup.by_address(report.original)) or lookup.by_address(
        report.address
    )


def _instalment(raw: bytes) -> int | None:
    match = _ORIGINAL_ID.search(raw.decode("ascii", errors="replace"))
    return int(match.group(2)) if match else None


def _complaint(msg: email.message.Message, raw: bytes, lookup: Lookup) -> Outcome:
    fields = dsn.feedback_fields(msg)
    feedback_type = fields.get("feedback-type", "abuse").strip().lower() or "abuse"
    who = lookup.token_in(raw)
    for name in ("original-rcpt-to", "removal-recipient"):
        if who is None and fields.get(name):
            who = lookup.by_address(dsn.bare_address(fields[name]))
    if who is None:
        who = _original_to(msg, lookup)
    if who is None:
        return Ignored("a complaint about nobody on the list")
    return Complaint(who, feedback_type)


def _original_to(msg: email.message.Message, lookup: Lookup) -> str | None:
    import email.utils

    for original in _returned(msg):
        # Microsoft (JMRP) replaces To but names the recipient in a field of its own.
        fields = original.get_all("X-HmXmrOriginalRecipient", [])
        fields += original.get_all("To", [])
        for _, address in email.utils.getaddresses(fields):
            who = lookup.by_address(address)
            if who:
                return who
    return None
