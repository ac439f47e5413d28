"""What counts as an address and a configured mailbox (`seriespub.addresses`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seriespub.addresses import (
    Mailbox,
    address_problem,
    ascii_address,
    is_valid_address,
    name_problem,
    parse_mailbox,
    parse_mailboxes,
)


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com",
        "a.b+tag@mail.example.co.uk",
        "o'brien@example.ie",
        "x@a-b.example",
        "ann@bücher.example",
        "ann@xn--bcher-kva.example",
        "a" * 64 + "@example.com",
        "ann@пример.рф",
    ],
)
def test_accepted(address: str) -> None:
    assert is_valid_address(address), address_problem(address)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("a..b@example.com", "two dots"),
        (".a@example.com", "at the start"),
        ("a.@example.com", "at the end"),
        ("a" * 65 + "@example.com", "over 64"),
        ("ann", "'@'"),
        ("@example.com", "nothing before"),
        ("ann@example", "domain"),
        ("ann@-x.com", "domain"),
        ("ann@x_y.com", "domain"),
        ("ann@1.2.3.4", "domain"),
        ("a b@example.com", "space"),
        ("ann@example.com\x00", "control"),
        ("", "empty"),
        ("ann@" + "a" * 250 + ".com", "domain"),
        ("ann@exa mple.com", "space"),
        ("ann@xn--.com", "domain"),
        ('a"b@example.com', "quotes"),
        ("josé@example.com", "non-ASCII character before '@'"),
        ("ann@bücher.example.com.", "domain"),
    ],
)
def test_refused_with_a_reason(address: str, why: str) -> None:
    assert not is_valid_address(address)
    assert why in (address_problem(address) or "")


def test_idn_domains_have_an_ascii_form() -> None:
    assert ascii_address("ann@bücher.example") == "ann@xn--bcher-kva.example"
    assert ascii_address("ANN@Example.com") == "ANN@Example.com"
    assert ascii_address("ann@пример.рф") == "ann@xn--e1afmkfd.xn--p1ai"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ann@example.com", [Mailbox("", "ann@example.com")]),
        ("Ann Writer <ann@example.com>", [Mailbox("Ann Writer", "ann@example.com")]),
        ('"Ann, Writer" <ann@example.com>', [Mailbox("Ann, Writer", "ann@example.com")]),
        ('"Ann \\"A\\" W." <a@example.com>', [Mailbox('Ann "A" W.', "a@example.com")]),
        ("Chloé <c@bücher.example>", [Mailbox("Chloé", "c@bücher.example")]),
        (
            "a@example.com, B <b@example.com>",
            [Mailbox("", "a@example.com"), Mailbox("B", "b@example.com")],
        ),
        ("<ann@example.com>", [Mailbox("", "ann@example.com")]),
    ],
)
def test_mailboxes_parse_to_exactly_what_was_written(value: str, expected: list[Mailbox]) -> None:
    assert parse_mailboxes(value) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Ann, Writer <a@example.com>", "2 addresses"),
        ("Ann", "'@'"),
        ("", "empty"),
        ("=?utf-8?q?boss=40bank.com?= <a@example.com>", "encoded word"),
        ("a@x, b@x", "2 addresses"),
        ("a@x", "invalid domain"),
        ("Ann <a@example.com", "stray"),
        ("Ann <a@example.com> <b@example.com>", "double quotes"),
        ('"Ann <a@example.com>', "unbalanced"),
        ("Ann (boss) <a@example.com>", "double quotes"),
        ("Ann\x00 <a@example.com>", "control"),
        ("a@example.com,", "2 addresses"),
    ],
)
def test_a_from_that_is_not_one_mailbox_is_refused(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_mailbox(value)


def test_reply_to_keeps_every_address() -> None:
    assert [m.address for m in parse_mailboxes("a@x.example, b@x.example")] == [
        "a@x.example",
        "b@x.example",
    ]
    with pytest.raises(ValueError, match="empty entry"):
        parse_mailboxes("a@x.example,")


def test_names_with_control_characters_are_refused() -> None:
    assert name_problem("Ann") is None and name_problem("Zoë Ünal") is None
    assert "header injection" in (name_problem("Ann\r\nBcc: x@y.z") or "")
    assert "U+0000" in (name_problem("Ann\x00") or "")
    assert "U+2028" in (name_problem("Ann\u2028") or "")


@given(st.emails())
def test_every_generated_address_is_judged_without_error(address: str) -> None:
    problem = address_problem(address)
    assert is_valid_address(address) == (problem is None)


def test_a_recipient_envelope_is_ascii_for_an_idn_domain() -> None:
    from seriespub.models import Recipient

    assert Recipient("bo@münchen.example", "", "id", {}).envelope == "bo@xn--mnchen-3ya.example"
    assert Recipient("bo@example.com", "", "id", {}).envelope == "bo@example.com"
