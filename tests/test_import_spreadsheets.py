"""Lists that come out of spreadsheets and other newsletter tools, as authors migrating bring them.

Excel, Numbers and Google Sheets save text in several encodings and dialects: "Unicode Text"
is UTF-16 with tabs, "CSV (Comma delimited)" on Windows is Windows-1252, European Excel writes
`;` and sometimes a first line `sep=;`. Each either imports exactly or is refused in one line
that says what the file is and how to save it; a garbled name never reaches subscribers.csv.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def _rows(series: Path) -> list[dict[str, str]]:
    with open(series / "subscribers.csv", newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _import_bytes(cli: Callable[..., Any], series: Path, data: bytes, name: str = "x.csv") -> Any:
    source = series / name
    source.write_bytes(data)
    return cli(series, "subscribers", "import", str(source))


def test_excel_unicode_text_utf16_with_tabs_imports(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=0)
    text = "Email Address\tFirst Name\tLast Name\r\njose@example.com\tJosé\tNúñez\r\n"
    result = _import_bytes(cli, series, text.encode("utf-16"))
    assert result.exit_code == 0, result.output
    assert [(r["email"], r["name"]) for r in _rows(series)] == [("jose@example.com", "José Núñez")]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Email Address\tFirst Name\tLast Name\r\njose@example.com\tJosé\tNúñez\r\n",
            [("jose@example.com", "José Núñez")],
        ),
        ("Email Address,First Name\r\nann@example.com,Ann\r\n", [("ann@example.com", "Ann")]),
        # Mostly not Latin: the addresses and the header still put a NUL in every other byte.
        (
            "email\tname\r\nivan@example.com\tИван Петров\r\nli@example.com\t李小龍\r\n",
            [("ivan@example.com", "Иван Петров"), ("li@example.com", "李小龍")],
        ),
    ],
)
def test_utf16_without_a_byte_order_mark_imports(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    encoding: str,
    text: str,
    expected: list[tuple[str, str]],
) -> None:
    """Some tools save "Unicode Text" without the byte-order mark Excel writes: a NUL in
    every other byte of the first KB says it is UTF-16, and on which side."""
    series = make_series(subscribers=0)
    result = _import_bytes(cli, series, text.encode(encoding))
    assert result.exit_code == 0, result.output
    assert [(r["email"], r["name"]) for r in _rows(series)] == expected


def test_nul_bytes_in_no_certain_byte_order_are_refused_with_what_the_file_is(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    before = (series / "subscribers.csv").read_bytes()
    # UTF-32 (no BOM): NULs on both sides of every pair, so no UTF-16 byte order fits.
    result = _import_bytes(cli, series, "email\r\nann@example.com\r\n".encode("utf-32-le"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "x.csv: UTF-16 or UTF-32 text without a byte-order mark" in result.output
    assert "CSV UTF-8" in result.output
    assert (series / "subscribers.csv").read_bytes() == before


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_list_saved_as_utf16_is_refused_with_how_to_save_it(
    make_series: Callable[..., Path], cli: Callable[..., Any], encoding: str
) -> None:
    """subscribers.csv itself is UTF-8, as every edit writes it: a UTF-16 one (with or
    without its byte-order mark) is named so, never 'not UTF-8' at some byte."""
    series = make_series(subscribers=2)
    path = series / "subscribers.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    for args in (("check",), ("subscribers", "list"), ("send", "next", "--yes")):
        result = cli(series, *args)
        assert result.exit_code == 1, args
        assert "subscribers.csv: UTF-16 text" in result.output, result.output
        assert "CSV UTF-8" in result.output, result.output
        assert "Traceback" not in result.output
    assert not (series / ".seriespub" / "outbox").exists()


def test_excel_sep_line_names_the_delimiter(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=0)
    text = "\ufeffsep=;\r\nEmail Address;First Name\r\nann@example.com;Ann\r\n"
    result = _import_bytes(cli, series, text.encode())
    assert result.exit_code == 0, result.output
    assert "added 1," in result.output
    assert [(r["email"], r["name"]) for r in _rows(series)] == [("ann@example.com", "Ann")]


def test_windows_1252_export_is_refused_with_how_to_save_it(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    before = (series / "subscribers.csv").read_bytes()
    text = "Email Address,First Name\r\nann@example.com,Ann\r\njose@example.com,José\r\n"
    result = _import_bytes(cli, series, text.encode("cp1252"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "x.csv:3: not UTF-8 text (byte 0xE9" in result.output
    assert "CSV UTF-8" in result.output  # the hint names the format to save as
    assert (series / "subscribers.csv").read_bytes() == before


def test_a_workbook_is_refused_as_not_csv(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=0)
    result = _import_bytes(cli, series, b"PK\x03\x04" + bytes(60), name="list.xlsx")
    assert result.exit_code == 1
    assert "a spreadsheet workbook, not CSV text" in result.output
    assert "CSV UTF-8" in result.output


def test_utf8_read_as_windows_1252_is_refused_not_written(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    before = (series / "subscribers.csv").read_bytes()
    # "José" and "Čapek" saved as UTF-8, opened as Windows-1252 and saved again as UTF-8.
    text = "Email,Name\nann@example.com,Ann\njose@example.com,JosÃ©\ncap@example.com,ÄŒapek\n"
    result = _import_bytes(cli, series, text.encode())
    assert result.exit_code == 1
    assert "x.csv:3: 'JosÃ©' looks garbled" in result.output
    assert "'José'" in result.output
    assert (series / "subscribers.csv").read_bytes() == before


def test_real_accents_emoji_and_rtl_names_are_not_taken_for_garbled(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=0)
    names = ["Ãngel Ñúñez", "Zoë Åström", "Emo 🎉", "מרים כהן", "محمد", '"Pepe" Ôté', "Ÿves ©"]
    out = io.StringIO()
    csv.writer(out).writerows(
        [["Email", "Name"], *([f"r{i}@example.com", n] for i, n in enumerate(names))]
    )
    text = out.getvalue()
    result = _import_bytes(cli, series, text.encode())
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in _rows(series)] == names


def test_mailto_and_name_angle_addresses_are_taken_as_their_address(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=0)
    text = (
        "Email,Name\n"
        "mailto:ann@example.com,Ann\n"
        '"Bo Bell <bo@example.com>",\n'
        "<cy@example.com>,Cy\n"
        '"""Di, D."" <di@example.com>",\n'
        "MAILTO:ANN@example.com,Ann again\n"
        "ed@example.com.,Ed\n"
    )
    result = _import_bytes(cli, series, text.encode())
    assert result.exit_code == 0, result.output
    assert [(r["email"], r["name"]) for r in _rows(series)] == [
        ("ann@example.com", "Ann"),
        ("bo@example.com", "Bo Bell"),
        ("cy@example.com", "Cy"),
        ("di@example.com", "Di, D."),
    ]
    assert "duplicates 1" in result.output
    assert "x.csv:7: invalid address 'ed@example.com.'" in result.output


def test_a_trailing_empty_column_adds_no_nameless_column(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    text = "Email Address,First Name,City,\r\nann@example.com,Ann,Oslo,\r\n"
    result = _import_bytes(cli, series, text.encode())
    assert result.exit_code == 0, result.output
    header = (series / "subscribers.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "email,name,status,subscribed_at,first_name,city"
    check = cli(series, "check")
    assert "subscribers.csv" not in check.output, check.output


def test_a_list_saved_as_windows_1252_is_refused_with_the_line_and_how_to_save(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=2)
    path = series / "subscribers.csv"
    path.write_bytes(path.read_bytes() + "jose@example.com,José,active,\r\n".encode("cp1252"))
    for args in (("check",), ("subscribers", "list"), ("send", "next", "--yes")):
        result = cli(series, *args)
        assert result.exit_code == 1, args
        assert "subscribers.csv:4: not UTF-8 text (byte 0xE9" in result.output, result.output
        assert "CSV UTF-8" in result.output, result.output
    assert not (series / ".seriespub" / "outbox").exists()


def test_a_list_with_excels_sep_line_says_to_delete_it(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    path = series / "subscribers.csv"
    path.write_text("sep=,\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    result = cli(series, "subscribers", "list")
    assert result.exit_code == 1
    assert "sep=" in result.output and "delete that line" in result.output, result.output


def test_a_list_export_imports_into_a_fresh_series_unchanged(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    old = make_series(subscribers=0, name="old")
    (old / "subscribers.csv").write_text(
        "email,name,status,subscribed_at,city,first_name\n"
        'ann@example.com,"Ann, A.",active,2024-01-02,Oslo,Ann\n'
        "bob@example.com,Bøb 🎉,unsubscribed,2023-05-06,,Bob\n"
        "cy@example.com,כהן,bounced,2022-01-01,Rome,\n"
        "di@example.com,Di,complained,2021-03-04,Paris,Di\n",
        encoding="utf-8",
    )
    new = make_series(subscribers=0, name="new")
    result = cli(new, "subscribers", "import", str(old / "subscribers.csv"))
    assert result.exit_code == 0, result.output
    assert _rows(new) == _rows(old)


def test_check_warns_about_a_garbled_name_in_the_list(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    series = make_series(subscribers=1)
    path = series / "subscribers.csv"
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write("jose@example.com,JosÃ©,active,2026-01-01\nzoe@example.com,Zoë,active,\n")
    result = cli(series, "check")
    assert "subscribers.csv:3: 'JosÃ©' looks garbled" in result.output, result.output
    assert "'José'" in result.output
    assert "subscribers.csv:4" not in result.output
