"""subscribers.csv edges a hand-edited list has: an unclosed quote at the end of the file,
cells past the header's columns, the author's quoting on a changed row, and what `add` and
`import` say about readers already in the list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seriespub import subscribers
from seriespub.errors import InputError
from seriespub.importer import Dating, import_csv
from seriespub.models import SubscriberStatus

Cli = Callable[..., Any]
HEADER = "email,name,status,subscribed_at\n"
ADA = "ada@example.com,Ada,active,2026-10-02\n"
UNCLOSED = HEADER + ADA + 'ben@example.com,"Ben,active,2026-10-02\n'
UNCLOSED_MESSAGE = "subscribers.csv:3: unclosed quote (the row runs to the end of the file)"


def write(root: Path, text: str, name: str = "subscribers.csv") -> Path:
    path = root / name
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def root(make_series: Callable[..., Path]) -> Path:
    return make_series(subscribers=0, drafts=1)


# -- 1. an unclosed quote -----------------------------------------------------------------------


def test_check_reports_an_unclosed_quote_at_the_end_of_the_file(root: Path, cli: Cli) -> None:
    write(root, UNCLOSED)
    result = cli(root, "check")
    assert result.exit_code == 1
    assert f"error {root / UNCLOSED_MESSAGE}" in result.output.replace("\n", " ")


def test_list_does_not_show_the_row_an_unclosed_quote_runs_on(root: Path, cli: Cli) -> None:
    write(root, UNCLOSED)
    result = cli(root, "subscribers", "list", "--json")
    assert result.exit_code == 0, result.output
    assert "ben@example.com" not in result.stdout
    assert "1 row(s) cannot be read" in result.stderr


def test_send_counts_the_unclosed_row_as_unreadable(root: Path, cli: Cli) -> None:
    write(root, UNCLOSED)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1
    assert UNCLOSED_MESSAGE in result.stderr


@pytest.mark.parametrize(
    "text",
    [UNCLOSED, UNCLOSED.rstrip("\n"), HEADER + ADA + 'ben@example.com,"Ben'],
    ids=["line break", "no final line break", "no line break inside the quote"],
)
def test_add_refuses_a_list_whose_last_row_is_unclosed(root: Path, cli: Cli, text: str) -> None:
    path = write(root, text)
    result = cli(root, "subscribers", "add", "new@example.com")
    assert result.exit_code == 1
    assert UNCLOSED_MESSAGE in result.stderr
    assert "added" not in result.stdout
    assert path.read_bytes() == text.encode("utf-8")


def test_import_refuses_a_list_whose_last_row_is_unclosed(root: Path) -> None:
    path = write(root, UNCLOSED)
    source = write(root, "Email\nnew@example.com\n", "export.csv")
    with pytest.raises(InputError, match="unclosed quote") as caught:
        import_csv(path, source)
    assert caught.value.line == 3
    assert path.read_text() == UNCLOSED


def test_import_refuses_a_source_whose_last_row_is_unclosed(root: Path) -> None:
    path = write(root, HEADER + ADA)
    source = write(root, 'Email,Name\nnew@example.com,"New\nzed@example.com,Zed\n', "export.csv")
    with pytest.raises(InputError, match="unclosed quote") as caught:
        import_csv(path, source)
    assert (caught.value.path, caught.value.line) == (source, 2)
    assert path.read_text() == HEADER + ADA


def test_a_bounce_for_the_unclosed_row_is_refused_others_are_written(root: Path) -> None:
    path = write(root, UNCLOSED)
    with pytest.raises(InputError, match="unclosed quote"):
        subscribers.update_statuses(path, {"ben@example.com": SubscriberStatus.BOUNCED})
    assert path.read_text() == UNCLOSED
    changed = subscribers.update_statuses(path, {"ada@example.com": SubscriberStatus.BOUNCED})
    assert changed == 1
    assert path.read_text() == UNCLOSED.replace("Ada,active", "Ada,bounced")


# -- 2. cells past the header -------------------------------------------------------------------

WIDE = HEADER + "ada@example.com,Ada,active,2026-10-02,North Coast ICS,+44 7700 900123\n"


def test_remove_keeps_the_cells_past_the_header(root: Path, cli: Cli) -> None:
    path = write(root, WIDE)
    result = cli(root, "subscribers", "remove", "ada@example.com")
    assert result.exit_code == 0, result.output
    assert path.read_text() == WIDE.replace("active", "unsubscribed")


def test_check_warns_about_cells_past_the_header(root: Path, cli: Cli) -> None:
    write(root, WIDE + "ben@example.com,Ben,active,2026-10-02,,\n")  # empty: no warning
    result = cli(root, "check")
    output = result.output.replace("\n", " ")
    assert f"warning {root / 'subscribers.csv'}:2: 6 cells, the header has 4" in output
    assert "subscribers.csv:3" not in output


def test_bounces_keep_the_cells_past_the_header(root: Path) -> None:
    path = write(root, WIDE)
    assert subscribers.update_statuses(path, {"ada@example.com": SubscriberStatus.BOUNCED}) == 1
    assert path.read_text() == WIDE.replace("active", "bounced")


def test_a_status_column_added_by_a_bounce_does_not_take_a_cell_past_the_header(
    root: Path,
) -> None:
    path = write(root, "email,name\nada@example.com,Ada,North Coast\nben@example.com,Ben\n")
    assert subscribers.update_statuses(path, {"ben@example.com": SubscriberStatus.BOUNCED}) == 1
    rows = {s.email: s.status for s in subscribers.iter_subscribers(path)}
    assert rows == {
        "ada@example.com": SubscriberStatus.ACTIVE,
        "ben@example.com": SubscriberStatus.BOUNCED,
    }
    assert "North Coast" in path.read_text()


def test_forgetting_a_reader_in_a_list_without_a_status_column_keeps_others_cells(
    root: Path, cli: Cli
) -> None:
    path = write(root, "email;name\rada@example.com;Ada;North Coast\rben@example.com;Ben\r")
    result = cli(root, "subscribers", "remove", "ben@example.com", "--forget")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == b"email;name\rada@example.com;Ada;North Coast\r"


def test_add_that_rewrites_the_list_keeps_cells_past_the_header(root: Path) -> None:
    path = write(root, WIDE.rstrip("\n"))  # no final line break: a rewrite
    subscribers.add(path, "ben@example.com", "Ben", dt.date(2026, 10, 3))
    assert path.read_text() == WIDE + "ben@example.com,Ben,active,2026-10-03\n"


def test_import_with_new_columns_keeps_cells_past_the_header(root: Path) -> None:
    path = write(root, WIDE)
    source = write(root, "Email,City\nben@example.com,Leeds\n", "export.csv")
    assert import_csv(path, source, Dating(dt.date(2026, 10, 3))).added == 1
    rows = list(subscribers.iter_subscribers(path))
    assert [(s.email, s.fields) for s in rows] == [
        ("ada@example.com", {"city": ""}),
        ("ben@example.com", {"city": "Leeds"}),
    ]
    assert "North Coast ICS,+44 7700 900123" in path.read_text()


def test_import_skips_a_row_with_cells_past_the_source_header(root: Path) -> None:
    path = write(root, HEADER)
    source = write(root, "Email,Name\nann@example.com,Smith, Ann\nbo@example.com,Bo,\n", "x.csv")
    report = import_csv(path, source, Dating(dt.date(2026, 10, 3)))
    assert report.added == 1  # Bo: an empty cell past the header is nothing lost
    assert [(p.line, p.message) for p in report.skipped] == [
        (2, "3 cells, the header has 2 (a delimiter inside an unquoted value?)")
    ]


# -- 3. the author's quoting on a changed row ---------------------------------------------------


def test_remove_keeps_the_quotes_of_the_row_it_changes(root: Path, cli: Cli) -> None:
    text = 'email;name;status\n"bo@example.com";"Bo, B";"active"\nal@example.com;"A;l";active\n'
    path = write(root, text)
    assert cli(root, "subscribers", "remove", "bo@example.com").exit_code == 0
    assert cli(root, "subscribers", "remove", "al@example.com").exit_code == 0
    assert path.read_text() == text.replace("active", "unsubscribed")


# -- 4. and 5. readers already in the list ------------------------------------------------------


def test_adding_someone_who_left_says_so(root: Path, cli: Cli) -> None:
    write(root, HEADER + "ann@example.com,Ann,unsubscribed,\n")
    result = cli(root, "subscribers", "add", "Ann@example.com")
    assert result.exit_code == 1
    assert (
        "ann@example.com is in the list as unsubscribed; they left, so seriespub will not "
        "add them back (edit subscribers.csv if they asked to return)"
    ) in " ".join(result.stderr.split())


def test_import_counts_each_row_once_and_a_repeat_as_a_duplicate(root: Path, cli: Cli) -> None:
    write(root, HEADER + "ann@example.com,Ann,unsubscribed,\nben@example.com,Ben,active,\n")
    rows = ["ann", "ANN", "ben", "Ben", "cat", "CAT", "bad@"]
    write(root, "Email\n" + "".join(f"{r}@example.com\n" for r in rows), "export.csv")
    result = cli(root, "subscribers", "import", "export.csv")
    assert result.exit_code == 0, result.output
    assert (
        "added 1, already present 1, kept unsubscribed 1, duplicates 3, skipped 1" in result.stdout
    )
