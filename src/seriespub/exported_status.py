"""What another tool's export says about a reader's standing, in seriespub's four statuses.

Guarantees (for `subscribers import`):
- A row is active only if nothing in it says otherwise. Every sign that the reader left is
  read, and the strictest wins (complained, then bounced, then unsubscribed): a `status`
  of "subscribed" beside a filled-in UNSUB_TIME is unsubscribed.
- Signs read: a status column (`status`, `subscription status`, Buttondown's
  `subscriber_type`, and `state` when every value in it is a status word, since `state` is
  also a postal address's); yes/no columns (`active_subscription`, `subscribed_to_emails`,
  `email_disabled`, `unsubscribed`…); and a date the reader left on, under any name that
  says so (Mailchimp's UNSUB_TIME and CLEAN_TIME, `unsubscribed_at`, `bounced_on`…).
- A status word that is not known is not guessed: the row is skipped and reported, as is a
  reader who never confirmed a double opt-in ("pending", "unconfirmed").
- A count (`bounce_count`) or a rate is not a sign: a soft bounce counted once is not a reader
  who left.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from seriespub.models import SubscriberStatus

ACTIVE = SubscriberStatus.ACTIVE
UNSUBSCRIBED = SubscriberStatus.UNSUBSCRIBED
BOUNCED = SubscriberStatus.BOUNCED
COMPLAINED = SubscriberStatus.COMPLAINED

# The words tools use for a reader's standing (lower-cased, spaces for - and _).
WORDS: dict[str, SubscriberStatus] = {
    **dict.fromkeys(
        [
            "active",
            "subscribed",
            "confirmed",
            "enabled",
            "regular",
            "premium",
            "paid",
            "free",
            "comp",
            "complimentary",
            "gifted",
            "trialed",
            "trialing",
            "opted in",
            "opt in",
        ],
        ACTIVE,
    ),
    **dict.fromkeys(
        [
            "unsubscribed",
            "cancelled",
            "canceled",
            "inactive",
            "removed",
            "disabled",
            "blocklisted",
            "blacklisted",
            "blocked",
            "suppressed",
            "opted out",
            "opt out",
            "archived",
            "deleted",
            "spammy",
        ],
        UNSUBSCRIBED,
    ),
    **dict.fromkeys(
        ["bounced", "cleaned", "undeliverable", "hard bounce", "hard bounced", "invalid"],
        BOUNCED,
    ),
    **dict.fromkeys(
        ["complained", "complaint", "spam", "spam complaint", "marked as spam", "abuse"],
        COMPLAINED,
    ),
}
NEVER_CONFIRMED = frozenset(
    {"pending", "unconfirmed", "unactivated", "not confirmed", "awaiting confirmation"}
)

# Columns whose value is a status word. `state` only when all its values are (`by_values`).
STATUS_COLUMNS = ("status", "subscriber_type", "subscription_status")
MAYBE_STATUS_COLUMNS = ("state",)
# Yes/no columns: a "no" in the first means the reader left; a "yes" in the second.
STAYED = frozenset(
    {
        "active_subscription",
        "subscribed",
        "is_subscribed",
        "subscribed_to_emails",
        "email_subscribed",
        "email_opt_in",
        "opted_in",
        "opt_in",
        "accepts_marketing",
    }
)
LEFT = {
    "email_disabled": UNSUBSCRIBED,
    "unsubscribed": UNSUBSCRIBED,
    "is_unsubscribed": UNSUBSCRIBED,
    "opted_out": UNSUBSCRIBED,
    "bounced": BOUNCED,
    "cleaned": BOUNCED,
    "complained": COMPLAINED,
}
# A date the reader left on: UNSUB_TIME, CLEAN_TIME, unsubscribed_at, bounce_date…
_LEFT_ON = re.compile(
    r"(?:^|_)(unsub\w*?|clean\w*?|bounce\w*?|complain\w*?|spam\w*?)_(?:time|date|at|on|timestamp)$"
)
_YES = frozenset({"true", "yes", "y", "1", "t"})
_NO = frozenset({"false", "no", "n", "0", "f", "none", "null", "never"})
_RANK = {ACTIVE: 0, UNSUBSCRIBED: 1, BOUNCED: 2, COMPLAINED: 3}


def word(text: str) -> str:
    """A status word as WORDS spells it: lower case, `-` and `_` as spaces."""
    return " ".join(re.split(r"[\s_-]+", text.strip().lower()))


def _left_on(column: str) -> SubscriberStatus | None:
    match = _LEFT_ON.search(column)
    if match is None:
        return None
    sign = match.group(1)
    if sign.startswith("unsub"):
        return UNSUBSCRIBED
    if sign.startswith(("clean", "bounce")):
        return BOUNCED
    return COMPLAINED


def status_columns(columns: Sequence[str], rows: Sequence[Mapping[str, str | None]]) -> list[str]:
    """The columns of an export (as the importer names them) that hold status words: the
    named ones, and `state` when every value in it is one (else it is a postal address's)."""
    found = [c for c in columns if c in STATUS_COLUMNS]
    for column in columns:
        if column in MAYBE_STATUS_COLUMNS:
            seen = {word(r.get(column) or "") for r in rows} - {""}
            if seen and seen <= WORDS.keys() | NEVER_CONFIRMED:
                found.append(column)
    return found


def standing(row: Mapping[str, str | None], status_cols: Iterable[str]) -> SubscriberStatus:
    """The strictest status the row's signs give (ACTIVE when none says otherwise).
    ValueError for a status word not known, or for a reader who never confirmed."""
    address = (row.get("email") or "").strip()
    found = ACTIVE
    for column in status_cols:
        text = word(row.get(column) or "")
        if not text:
            continue
        if text in NEVER_CONFIRMED:
            raise ValueError(f"{address} never confirmed (status {text!r})")
        status = WORDS.get(text)
        if status is None:
            raise ValueError(f"unknown status {text!r} for {address}")
        found = _stricter(found, status)
    for column, raw in row.items():
        value = (raw or "").strip().lower()
        if not value:
            continue
        if column in STAYED:
            if value in _NO:
                found = _stricter(found, UNSUBSCRIBED)
        elif column in LEFT:
            if value not in _NO:
                found = _stricter(found, LEFT[column])
        elif (status := _left_on(column)) is not None and value not in _NO:
            found = _stricter(found, status)
    return found


def _stricter(a: SubscriberStatus, b: SubscriberStatus) -> SubscriberStatus:
    return a if _RANK[a] >= _RANK[b] else b
