"""`subscribers import` never makes a reader who left another tool active.

Exports from other tools say who left in their own ways: Mailchimp's unsubscribed and cleaned
files carry an UNSUB_TIME or CLEAN_TIME column, Kit a `state`, Buttondown a `subscriber_type`,
Substack and Ghost yes/no columns. Before, every row without a `status` column seriespub knew
was added as active, and the next `send next` mailed people who had unsubscribed elsewhere.
"""

from __future__ import annotations

import csv
import email
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def _statuses(series: Path) -> dict[str, str]:
    with open(series / "subscribers.csv", newline="", encoding="utf-8") as handle:
        return {row["email"]: row["status"] for row in csv.DictReader(handle)}


def _import(cli: Callable[..., Any], series: Path, text: str) -> Any:
    source = series / "export.csv"
    source.write_text(text, encoding="utf-8")
    result = cli(series, "subscribers", "import", str(source))
    return result


MAILCHIMP_UNSUBSCRIBED = (
    "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,UNSUB_TIME,"
    "UNSUB_CAMPAIGN_TITLE,UNSUB_REASON\n"
    "una@example.com,Una,U,2,2024-01-01 10:00:00,2025-02-03 11:00:00,Spring,No longer interested\n"
    "uli@example.com,Uli,U,1,2024-01-01 10:00:00,2025-03-04 12:00:00,,\n"
)
MAILCHIMP_CLEANED = (
    "Email Address,First Name,Last Name,MEMBER_RATING,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE\n"
    "cleo@example.com,Cleo,C,1,2025-02-03 11:00:00,Spring\n"
)


def test_mailchimp_unsubscribed_and_cleaned_exports_add_nobody_active(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    first = _import(cli, series, MAILCHIMP_UNSUBSCRIBED)
    assert first.exit_code == 0, first.output
    assert "added 2 (not active: unsubscribed 2)" in first.output
    second = _import(cli, series, MAILCHIMP_CLEANED)
    assert second.exit_code == 0, second.output
    assert "added 1 (not active: bounced 1)" in second.output
    statuses = _statuses(series)
    assert statuses["una@example.com"] == "unsubscribed"
    assert statuses["uli@example.com"] == "unsubscribed"
    assert statuses["cleo@example.com"] == "bounced"
    # …and the next send reaches only the reader who was active before.
    sent = cli(series, "send", "next", "--yes")
    assert sent.exit_code == 0, sent.output
    outbox = series / ".seriespub" / "outbox" / "001"
    recipients = [email.message_from_bytes(p.read_bytes())["To"] for p in outbox.glob("*.eml")]
    assert len(recipients) == 1 and "reader0001@example.com" in recipients[0]


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        # Kit's `state`
        ("state", "active", "active"),
        ("state", "cancelled", "unsubscribed"),
        ("state", "bounced", "bounced"),
        ("state", "complained", "complained"),
        ("state", "inactive", "unsubscribed"),
        # Buttondown's `subscriber_type`
        ("subscriber_type", "regular", "active"),
        ("subscriber_type", "premium", "active"),
        ("subscriber_type", "unsubscribed", "unsubscribed"),
        ("subscriber_type", "removed", "unsubscribed"),
        # other tools' status words
        ("Status", "Subscribed", "active"),
        ("Status", "cleaned", "bounced"),
        ("status", "blocklisted", "unsubscribed"),
        ("status", "spam complaint", "complained"),
        # yes/no columns (Substack, Ghost and others)
        ("active_subscription", "false", "unsubscribed"),
        ("active_subscription", "true", "active"),
        ("email_disabled", "true", "unsubscribed"),
        ("email_disabled", "false", "active"),
        ("subscribed_to_emails", "false", "unsubscribed"),
        ("subscribed", "no", "unsubscribed"),
        ("unsubscribed", "TRUE", "unsubscribed"),
        ("unsubscribed", "false", "active"),
        # a date the reader left on, under any such name
        ("unsubscribed_at", "2025-01-01T10:00:00Z", "unsubscribed"),
        ("unsubscribed_at", "", "active"),
        ("bounced_at", "2025-01-01", "bounced"),
        ("complained_at", "2025-01-01", "complained"),
    ],
)
def test_a_column_that_says_a_reader_left_is_honoured(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    header: str,
    value: str,
    expected: str,
) -> None:
    series = make_series(subscribers=1)
    result = _import(cli, series, f"email,{header}\nnew@example.com,{value}\n")
    assert result.exit_code == 0, result.output
    assert _statuses(series)["new@example.com"] == expected


def test_the_strictest_sign_wins(make_series: Callable[..., Path], cli: Callable[..., Any]) -> None:
    series = make_series(subscribers=1)
    result = _import(
        cli,
        series,
        "email,status,unsub_time,bounce_count\n"
        "a@example.com,subscribed,2025-01-01,0\n"
        "b@example.com,unsubscribed,,\n"
        "c@example.com,subscribed,,0\n",
    )
    assert result.exit_code == 0, result.output
    statuses = _statuses(series)
    assert statuses["a@example.com"] == "unsubscribed"
    assert statuses["b@example.com"] == "unsubscribed"
    assert statuses["c@example.com"] == "active"  # a count of 0 says nothing


def test_readers_who_never_confirmed_are_skipped_with_a_reason(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    result = _import(
        cli,
        series,
        "email,status\nok@example.com,active\npend@example.com,pending\nun@example.com,unconfirmed\n",
    )
    assert result.exit_code == 0, result.output
    assert "export.csv:3: pend@example.com never confirmed (status 'pending')" in result.output
    assert "export.csv:4: un@example.com never confirmed (status 'unconfirmed')" in result.output
    assert set(_statuses(series)) == {"reader0001@example.com", "ok@example.com"}


def test_an_unknown_status_word_is_still_skipped_not_guessed(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    result = _import(cli, series, "email,status\nodd@example.com,wobbly\n")
    assert result.exit_code == 0, result.output
    assert "unknown status 'wobbly' for odd@example.com" in result.output
    assert "odd@example.com" not in _statuses(series)


def test_an_active_reader_the_export_says_left_is_marked_so(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=2)
    result = _import(
        cli,
        series,
        "Email Address,UNSUB_TIME\nREADER0001@example.com,2025-02-03 11:00:00\n",
    )
    assert result.exit_code == 0, result.output
    assert "already present 0" in result.output
    assert "now not active: unsubscribed 1" in result.output
    statuses = _statuses(series)
    assert statuses == {
        "reader0001@example.com": "unsubscribed",
        "reader0002@example.com": "active",
    }


def test_a_state_column_of_places_is_a_field_not_a_status(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    result = _import(
        cli, series, "email,city,state\na@example.com,Austin,TX\nb@example.com,Bend,OR\n"
    )
    assert result.exit_code == 0, result.output
    assert "added 2," in result.output
    with open(series / "subscribers.csv", newline="", encoding="utf-8") as handle:
        rows = {row["email"]: row for row in csv.DictReader(handle)}
    assert rows["a@example.com"]["status"] == "active"
    assert rows["b@example.com"]["state"] == "OR"
