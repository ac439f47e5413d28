"""A token alone (`unsubscribe_url` without `{email}`) finds its reader in the list exactly
as every other reading of the list would (`inbox.tokens.owner`): the rows `subscribers
list` shows, the address as written, the first of a repeated address, any verifying key;
a row the list refuses, or one cut short by a killed append, is nobody's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_SECRET
from seriespub.message import UnsubscribeKey

Cli = Callable[..., Any]
KEY = UnsubscribeKey(TEST_SECRET.encode())
HEADER = "email,name,status,subscribed_at\n"


def series_with(make_series: Callable[..., Path], rows: str) -> Path:
    root = make_series(subscribers=0)
    (root / "subscribers.csv").write_text(HEADER + rows, encoding="utf-8")
    return root


def verified(cli: Cli, root: Path, token: str) -> tuple[int, str]:
    result = cli(root, "subscribers", "verify", token)
    return result.exit_code, result.output


def test_the_address_as_written_and_the_first_of_a_repeat(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = series_with(
        make_series,
        "ann@example.com,Ann,active,\n"
        "  Mixed.Case@Example.COM ,Mo,unsubscribed,\n"
        "mixed.case@example.com,Again,active,\n",
    )
    code, output = verified(cli, root, KEY.token("mixed.case@example.com").upper())
    assert code == 0, output
    assert "token matches Mixed.Case@Example.COM\n" in output
    done = cli(root, "subscribers", "unsubscribe-token", KEY.token("ann@example.com"))
    assert done.exit_code == 0 and "unsubscribed ann@example.com" in done.output


@pytest.mark.parametrize(
    "row",
    [
        "bad@example.com,Bad,no-such-status,\n",  # a status the list refuses
        "bad@example.com,Bad\x07Bell,active,\n",  # a name the list refuses
    ],
)
def test_a_row_the_list_refuses_is_nobodys(
    make_series: Callable[..., Path], cli: Cli, row: str
) -> None:
    root = series_with(make_series, "ann@example.com,Ann,active,\n" + row)
    listed = json.loads(cli(root, "subscribers", "list", "--json").stdout)
    assert "bad@example.com" not in json.dumps(listed)
    code, output = verified(cli, root, KEY.token("bad@example.com"))
    assert code == 1 and "no reader" in output, output


def test_a_row_cut_short_at_the_end_is_nobodys(make_series: Callable[..., Path], cli: Cli) -> None:
    """A last row with an unclosed quote (an append killed mid-row) is not read."""
    root = series_with(make_series, 'ann@example.com,Ann,active,\ncut@example.com,"Cu')
    code, output = verified(cli, root, KEY.token("cut@example.com"))
    assert code == 1 and "no reader" in output, output
    assert verified(cli, root, KEY.token("ann@example.com"))[0] == 0


def test_a_token_of_a_previous_key(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = series_with(make_series, "ann@example.com,Ann,active,\nbo@example.com,Bo,active,\n")
    old = "an-older-key-" + "7" * 40
    monkeypatch.setenv("SERIESPUB_SECRET_PREVIOUS", old)
    code, output = verified(cli, root, UnsubscribeKey(old.encode()).token("bo@example.com"))
    assert code == 0 and "token matches bo@example.com" in output, output
    assert old not in output
