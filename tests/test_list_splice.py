"""Editing a few rows of a big list changes those rows' bytes and nothing else.

`subscribers remove` and the write-back of bounces after a send replace the rows they
change and copy every other byte of the file as it is (subscribers.splice): the author's
delimiter, column order, quoting, line breaks and byte-order mark stay, and a million-row
list costs a copy of its bytes instead of a million rows parsed and written again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seriespub import subscribers
from seriespub.models import SubscriberStatus

# A semicolon list with a BOM, CR LF line breaks, its own column order, an extra column and
# a quoted line break in two rows (one of them the row to edit).
HEAD = '\ufeffstatus;email;plan;name;subscribed_at\r\n"active";ann@example.com;gold;"Ann"\r\n'
BEN = 'active;ben@example.com;"multi\r\nline";Ben;2026-01-01\r\n'
TAIL = 'active;"cat@example.com";x;"Cat ""C"" Smith";\r\nactive;dan@example.com;;Dan\r\n'


def write(root: Path, text: str) -> Path:
    path = root / "subscribers.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def series(make_series: Callable[..., Path]) -> Path:
    root = make_series(subscribers=0)
    write(root, HEAD + BEN + TAIL)
    return root


def test_unsubscribing_one_reader_changes_only_their_row(
    series: Path, cli: Callable[..., Any]
) -> None:
    result = cli(series, "subscribers", "remove", "BEN@example.com")
    assert result.exit_code == 0, result.output
    after = (series / "subscribers.csv").read_bytes().decode("utf-8")
    ben = "unsubscribed;ben@example.com;multi\r\nline;Ben;2026-01-01\r\n"
    assert after == HEAD + ben.replace("multi\r\nline", '"multi\r\nline"') + TAIL
    listed = cli(series, "subscribers", "list", "--status", "unsubscribed")
    assert "ben@example.com" in listed.output and "ann@example.com" not in listed.output


def test_forgetting_a_reader_drops_exactly_their_bytes(
    series: Path, cli: Callable[..., Any]
) -> None:
    result = cli(series, "subscribers", "remove", "ben@example.com", "--forget")
    assert result.exit_code == 0, result.output
    assert (series / "subscribers.csv").read_bytes().decode("utf-8") == HEAD + TAIL


def test_the_write_back_of_bounces_changes_only_those_rows(series: Path) -> None:
    path = series / "subscribers.csv"
    changed = subscribers.update_statuses(
        path,
        {"cat@example.com": SubscriberStatus.BOUNCED, "ann@example.com": SubscriberStatus.ACTIVE},
    )
    assert changed == 1  # Ann is active already
    cat = 'bounced;"cat@example.com";x;"Cat ""C"" Smith";\r\n'  # her quotes kept
    expected = HEAD + BEN + cat + "active;dan@example.com;;Dan\r\n"
    assert path.read_bytes().decode("utf-8") == expected


def test_a_list_with_lone_cr_line_breaks_is_rewritten_row_by_row_instead(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """The csv reader counts a lone CR as a line break, a byte copy by lines would not:
    such a file takes the rewrite (normalised), and the edit is still right."""
    root = make_series(subscribers=0)
    path = write(
        root, "email,name,status\rann@example.com,Ann,active\rben@example.com,Ben,active\r"
    )
    result = cli(root, "subscribers", "remove", "ben@example.com")
    assert result.exit_code == 0, result.output
    rows = {s.email: s.status for s in subscribers.iter_subscribers(path)}
    assert rows == {
        "ann@example.com": SubscriberStatus.ACTIVE,
        "ben@example.com": SubscriberStatus.UNSUBSCRIBED,
    }
