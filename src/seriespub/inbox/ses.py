"""Amazon SES bounce, complaint and delivery notifications sent by email through Amazon SNS.

An SNS `email-json` subscription mails the SNS envelope (`Type` "Notification", `Message` a
JSON string); an `email` subscription mails the `Message` itself, with a footer after it.
Either way the `Message` is SES's notification: `notificationType` (or `eventType` under
event publishing) with a `bounce`, `complaint` or `delivery` object (`deliveryDelay` for
event publishing's delays, read as temporary bounces) and the `mail` it is about, whose
`headers` (when the author asked SES to include them) are the sent message's.

`notification` returns None for anything else (it never raises on a message that is not
one), and a `Notification` with no recipients for one it cannot read.
"""

from __future__ import annotations

import email.message
import email.utils
import json
from dataclasses import dataclass
from typing import Any

from seriespub.inbox import dsn


@dataclass(frozen=True)
class Recipient:
    address: str  # lower-cased
    reason: str


@dataclass(frozen=True)
class Notification:
    kind: str  # "Bounce" (a DeliveryDelay too), "Complaint", "Delivery", another event type
    recipients: tuple[Recipient, ...]  # bounced, delayed or complained; () for the others
    permanent: bool  # a Permanent bounce; Transient and Undetermined are temporary
    feedback_type: str  # a complaint's, "abuse" when SES has none
    headers: email.message.Message | None  # the sent message's, when they were included


def notification(msg: email.message.Message) -> Notification | None:
    """The SES notification `msg` carries, or None when it carries none."""
    found = _json_body(msg)
    if isinstance(found, dict) and found.get("Type") == "Notification":
        message = found.get("Message")
        found = _first_json(message) if isinstance(message, str) else None
    if not isinstance(found, dict) or not isinstance(found.get("mail"), dict):
        return None
    kind = found.get("notificationType") or found.get("eventType")
    if not isinstance(kind, str):
        return None
    return _read(kind, found)


def _json_body(msg: email.message.Message) -> object:
    if msg.is_multipart() or msg.get_content_maintype() != "text":
        return None
    data = msg.get_payload(decode=True)
    if not isinstance(data, bytes):
        return None
    return _first_json(data.decode(msg.get_content_charset() or "utf-8", errors="replace"))


def _first_json(text: str) -> object:
    """The JSON value the text starts with (an `email` subscription adds a footer after it)."""
    text = text.lstrip()
    if not text.startswith("{"):
        return None
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except ValueError:
        return None


def _read(kind: str, found: dict[str, Any]) -> Notification:
    headers = _headers(found["mail"].get("headers"))
    if kind == "Bounce":
        bounce = _object(found.get("bounce"))
        permanent = str(bounce.get("bounceType", "")).lower() == "permanent"
        listed = _recipients(bounce.get("bouncedRecipients"), _bounce_reason(bounce))
        return Notification(kind, listed, permanent, "", headers)
    if kind == "Complaint":
        complaint = _object(found.get("complaint"))
        feedback = str(complaint.get("complaintFeedbackType") or "abuse").strip().lower()
        listed = _recipients(complaint.get("complainedRecipients"), "")
        return Notification(kind, listed, False, feedback or "abuse", headers)
    if kind == "DeliveryDelay":  # event publishing: SES still trying, as a "delayed" DSN
        delay = _object(found.get("deliveryDelay"))
        listed = _recipients(delay.get("delayedRecipients"), "delayed")
        return Notification("Bounce", listed, False, "", headers)
    return Notification(kind, (), False, "", headers)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bounce_reason(bounce: dict[str, Any]) -> str:
    kinds = (bounce.get("bounceType"), bounce.get("bounceSubType"))
    return " ".join(str(k) for k in kinds if isinstance(k, str) and k) or "bounce"


def _recipients(listed: object, default_reason: str) -> tuple[Recipient, ...]:
    found = []
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("emailAddress"), str):
            continue
        address = email.utils.parseaddr(entry["emailAddress"])[1].strip().lower()
        if "@" in address:
            status, code = str(entry.get("status") or ""), str(entry.get("diagnosticCode") or "")
            found.append(Recipient(address, dsn.status_reason(status, code, default_reason)))
    return tuple(found)


def _headers(listed: object) -> email.message.Message | None:
    """`mail.headers` (a list of name and value) as a message's headers; None without them."""
    if not isinstance(listed, list) or not listed:
        return None
    headers = email.message.Message()
    for entry in listed:
        if isinstance(entry, dict):
            name, value = entry.get("name"), entry.get("value")
            if isinstance(name, str) and isinstance(value, str) and name.isprintable():
                headers[name] = value
    return headers
