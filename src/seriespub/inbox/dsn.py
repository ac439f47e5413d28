"""Delivery reports: RFC 3464 `message/delivery-status` read with the stdlib, the other
formats (Exim, qmail, Yahoo, old Exchange, …) through flufl.bounce's detectors.

`recipients` returns None for a report that names no recipient it can read (malformed), and
an empty list for one that reports no failure (a "delivered" or "relayed" notice).
"""

from __future__ import annotations

import email.message
import email.policy
import logging
import re
from dataclasses import dataclass
from email.parser import HeaderParser

_ENHANCED = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_SMTP_CODE = re.compile(r"(?<![\d.])([45])\d\d(?=[ :-])")
# Where a bounce's own words end and the returned original begins.
_ORIGINAL_STARTS = re.compile(
    r"^-+ ?(Below this line|This is a copy|Original message|"
    r"Forwarded message)|^Original-Recipient|^Received:",
    re.IGNORECASE | re.MULTILINE,
)
_REASON_MAX = 200


@dataclass(frozen=True)
class Report:
    address: str
    permanent: bool
    reason: str
    original: str = ""  # Original-Recipient, when it differs (a forward)


def recipients(msg: email.message.Message) -> list[Report] | None:
    """The failed recipients a bounce reports; None when it names none it can read."""
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            return _from_status(part)
    return _from_detectors(msg)


def _from_status(part: email.message.Message) -> list[Report] | None:
    blocks = _status_blocks(part)
    reports: list[Report] = []
    readable = False
    for block in blocks[1:]:  # the first block is about the message, not a recipient
        original = bare_address(block.get("Original-Recipient") or "")
        address = bare_address(block.get("Final-Recipient") or "") or original
        if "@" not in address:
            continue
        readable = True
        action = (block.get("Action") or "").strip().lower()
        if action not in ("failed", "delayed"):
            continue
        status = (block.get("Status") or "").strip()
        permanent = status.startswith("5") or (action == "failed" and not status)
        reason = status_reason(status, block.get("Diagnostic-Code") or "", action)
        also = original if original != address and "@" in original else ""
        reports.append(Report(address.lower(), permanent, reason, also))
    return reports if readable else None


def status_reason(status: str, diagnostic_code: str, fallback: str) -> str:
    """`5.1.1; 550 5.1.1 User unknown`: the status and the diagnostic without its type."""
    diagnostic = " ".join(diagnostic_code.split())
    reason = "; ".join(
        x for x in (status.strip(), diagnostic.partition(";")[2].strip() or diagnostic) if x
    )
    return _short(reason or fallback)


def _status_blocks(part: email.message.Message) -> list[email.message.Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, email.message.Message)]
    if isinstance(payload, str):  # left as text (encoded, or not parsed as blocks)
        text = part.get_payload(decode=True)
        body = text.decode(errors="replace") if isinstance(text, bytes) else payload
        parser = HeaderParser(policy=email.policy.compat32)
        chunks = re.split(r"\r?\n\s*\r?\n", body.strip())
        return [parser.parsestr(chunk) for chunk in chunks]
    return []


def _from_detectors(msg: email.message.Message) -> list[Report] | None:
    from flufl.bounce import all_failures

    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # we warn once, ourselves
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector tripping over a mangled message
        return None
    _, reason = guess_status(msg)
    reports = [Report(_text(a).lower(), True, reason) for a in sorted(permanent)]
    reports += [Report(_text(a).lower(), False, reason) for a in sorted(temporary - permanent)]
    return [r for r in reports if "@" in r.address] or None


def guess_status(msg: email.message.Message) -> tuple[bool, str]:
    """Permanent or not, and the line that says so, from a bounce's own text."""
    text = _notice_text(msg)
    for pattern in (_ENHANCED, _SMTP_CODE):
        match = pattern.search(text)
        if match:
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            line = text[line_start : line_end if line_end >= 0 else None]
            return match.group(1) == "5", _short(line)
    permanent = "permanent" in text.lower()
    return permanent, "permanent error" if permanent else "bounce without a status"


def _notice_text(msg: email.message.Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            text = (
                data.decode(part.get_content_charset() or "utf-8", errors="replace")
                if isinstance(data, bytes)
                else str(part.get_payload())
            )
            cut = _ORIGINAL_STARTS.search(text)
            return text[: cut.start()] if cut else text
    return ""


def feedback_fields(msg: email.message.Message) -> dict[str, str]:
    """The fields of an ARF report's `message/feedback-report` part, lower-cased names."""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            fields: dict[str, str] = {}
            for block in _status_blocks(part):
                for name, value in block.items():
                    fields.setdefault(name.lower(), str(value).strip())
            return fields
    return {}


def original_headers(part: email.message.Message) -> email.message.Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
        return payload[0]
    if isinstance(payload, str):
        return HeaderParser(policy=email.policy.compat32).parsestr(payload)
    return None


def bare_address(value: str) -> str:
    """`rfc822; <ann@example.com>` → `ann@example.com`."""
    value = value.partition(";")[2] if ";" in value else value
    return value.strip().strip("<>").strip().lower()


def _text(address: bytes | str) -> str:
    return address.decode(errors="replace") if isinstance(address, bytes) else address


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"
