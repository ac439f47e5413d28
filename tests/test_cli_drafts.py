"""Drafts the author got wrong, and `new`/`init` writing files that load back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seriespub.drafts import read_draft
from seriespub.series import find_series

Cli = Callable[..., Any]
SCHEDULE = '[schedule]\nfirst_release = 2027-01-05T09:00:00\ntimezone = "Europe/London"\n'
BROKEN = '---\ntitle: "Foo: my third part\nstatus: draft\n---\n\nThree weeks of writing.\n'


def one_error_line(result: Any) -> str:
    """The single `error:` line of a refused command (no traceback)."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("hint:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return str(lines[0])


def draft(root: Path, name: str, front: str, body: str = "Body\n") -> Path:
    path = root / "drafts" / name
    path.write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    return path


# -- new: never overwrites, numbers after every draft-like file, writes what loads back -------
def test_new_never_overwrites_a_draft_that_does_not_load(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2)
    broken = root / "drafts" / "03-foo.md"
    broken.write_text(BROKEN, encoding="utf-8")
    latin = root / "drafts" / "04-cafe.md"
    latin.write_bytes("---\ntitle: Café\n---\nBody\n".encode("latin-1"))
    result = cli(root, "new", "Foo")
    assert result.exit_code == 0, result.output
    assert broken.read_text(encoding="utf-8") == BROKEN
    assert latin.read_bytes() == "---\ntitle: Café\n---\nBody\n".encode("latin-1")
    assert read_draft(root / "drafts" / "05-foo.md").number == 5
    again = cli(root, "new", "Cafe")
    assert again.exit_code == 0, again.output
    assert (root / "drafts" / "06-cafe.md").is_file()


@pytest.mark.parametrize(
    "title",
    [
        "back\\slash",
        'say "hi": now',
        "tab\there",
        "#hash & *star",
        "ünïcode 😀",
        "[bracket] {brace} ---",
    ],
)
def test_new_writes_front_matter_that_loads_back(
    make_series: Callable[..., Path], cli: Cli, title: str
) -> None:
    root = make_series(drafts=1)
    result = cli(root, "new", title)
    assert result.exit_code == 0, result.output
    (path,) = (root / "drafts").glob("02-*.md")
    assert read_draft(path).title == title


@pytest.mark.parametrize("title", ["", "   "])
def test_new_refuses_an_empty_title(make_series: Callable[..., Path], cli: Cli, title: str) -> None:
    root = make_series(drafts=1)
    line = one_error_line(cli(root, "new", title))
    assert "title" in line and "empty" in line
    assert [p.name for p in (root / "drafts").iterdir()] == ["01-part-1.md"]


# -- text fields are text -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("front", "key", "line"),
    [
        ("title: T\nsubject: [a, b]\n", "subject", 3),
        ("title: T\npreheader: {a: 1}\n", "preheader", 3),
        ("title: [a, b]\n", "title", 2),
        ("title: T\nsubject:\n  - a\n  - b\n", "subject", 3),
    ],
)
def test_a_list_or_table_in_a_text_field_is_refused(
    make_series: Callable[..., Path], cli: Cli, front: str, key: str, line: int
) -> None:
    root = make_series(drafts=1)
    path = draft(root, "01-part-1.md", front + "status: ready\n")
    check = cli(root, "check")
    assert check.exit_code == 1
    assert f"{path}:{line}" in check.stdout and f"'{key}' must be text" in check.stdout
    sent = one_error_line(cli(root, "send", "next", "--yes"))
    assert sent == f"error: {path}:{line}: '{key}' must be text"
    assert not (root / ".seriespub" / "outbox" / "001").exists()


def test_numbers_dates_and_yes_in_text_fields_are_taken_as_written(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(drafts=0)
    path = draft(root, "01-a.md", "title: 42\nsubject: 1.10\npreheader: 2026-01-05\n")
    part = read_draft(path)
    assert (part.title, part.subject, part.preheader) == ("42", "1.10", "2026-01-05")
    yes = draft(root, "02-b.md", "title: yes\nsubject: no\n")
    assert (read_draft(yes).title, read_draft(yes).subject) == ("yes", "no")


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("subject: S\n", "front matter needs a 'title'"),
        ("title:\n", "'title' is empty"),
        ('title: "  "\n', "'title' is empty"),
        ("title: T\nstatus: yes\n", "'status' must be draft or ready, not 'yes'"),
        ("title: T\nstatus: [ready]\n", "'status' must be text"),
    ],
)
def test_what_is_wrong_with_a_title_or_status_is_said(
    make_series: Callable[..., Path], cli: Cli, front: str, message: str
) -> None:
    root = make_series(drafts=0)
    draft(root, "01-a.md", front)
    line = one_error_line(cli(root, "preview", "1"))
    assert message in line


# -- part numbers in range --------------------------------------------------------------------
@pytest.mark.parametrize("front", ["title: T\nnumber: 9223372036854775808\n", "title: T\n"])
def test_a_huge_part_number_is_refused_when_the_draft_loads(
    make_series: Callable[..., Path], cli: Cli, front: str
) -> None:
    root = make_series(drafts=1)
    name = "02-x.md" if "number" in front else "123456-x.md"
    assert cli(root, "send", "next", "--yes").exit_code == 0  # part 1 goes out
    path = draft(root, name, front + "status: ready\n")
    line = one_error_line(cli(root, "send", "next", "--yes"))
    assert f"{path}" in line and "from 1 to 99999" in line
    for report in ("status", "check"):
        result = cli(root, report)
        assert "Traceback" not in result.output and "OverflowError" not in result.output
    assert cli(root, "status").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("log", "99999999999999999999999"),
        ("send", "settle", "9223372036854775808", "--assume-delivered"),
        ("send", "cancel", "9223372036854775808", "--yes"),
        ("send", "retry", "9223372036854775808", "--yes"),
        ("preview", "9223372036854775808"),
    ],
)
def test_a_huge_part_number_on_the_command_line_is_one_line(
    make_series: Callable[..., Path], cli: Cli, args: tuple[str, ...]
) -> None:
    root = make_series(drafts=1)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    line = one_error_line(cli(root, *args))
    assert "9223372036854775808" in line or "99999999999999999999999" in line


# -- gaps: one warning each -------------------------------------------------------------------
def test_check_warns_once_per_gap_in_the_numbering(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2)
    draft(root, "05-e.md", "title: E\nstatus: ready\n")
    draft(root, "09-n.md", "title: N\nnumber: 99999\nstatus: ready\n")
    started = time.monotonic()
    result = cli(root, "check")
    assert time.monotonic() - started < 30
    gaps = [line for line in result.stdout.splitlines() if "no instalment number" in line]
    assert len(gaps) == 2, gaps
    assert "no instalment numbers 3–4" in gaps[0] and "no instalment numbers 6–99998" in gaps[1]


# -- reports name the drafts they leave out ---------------------------------------------------
@pytest.mark.parametrize(
    "args", [("status",), ("schedule",), ("subscribers", "list", "--next"), ("status", "--json")]
)
def test_reports_warn_about_each_draft_they_leave_out(
    make_series: Callable[..., Path], cli: Cli, args: tuple[str, ...]
) -> None:
    root = make_series(drafts=3, extra_toml=SCHEDULE)
    empty = root / "drafts" / "01-part-1.md"
    empty.write_text("", encoding="utf-8")
    broken = root / "drafts" / "03-part-3.md"
    broken.write_text(BROKEN, encoding="utf-8")
    result = cli(root, *args)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.stderr
    assert warnings[0].startswith(f"warning: {empty}: ") and "(left out)" in warnings[0]
    assert warnings[1].startswith(f"warning: {broken}:") and "(left out)" in warnings[1]


def test_site_warns_about_a_draft_it_leaves_out(make_series: Callable[..., Path], cli: Cli) -> None:
    from sitehelp import site_series

    root = site_series(make_series(drafts=4, ready=3))
    (root / "drafts" / "04-part-4.md").write_text("", encoding="utf-8")
    result = cli(root, "site")
    assert result.exit_code == 0, result.output
    assert f"warning: {root / 'drafts' / '04-part-4.md'}: " in result.stderr


def test_check_reports_a_broken_draft_once_as_an_error(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2)
    (root / "drafts" / "02-part-2.md").write_text("", encoding="utf-8")
    result = cli(root, "check")
    assert result.exit_code == 1
    assert "warning:" not in result.stderr


# -- clear messages ---------------------------------------------------------------------------
def test_a_byte_order_mark_is_accepted(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    path = root / "drafts" / "01-part-1.md"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_draft(path).title == "Part 1 title"
    assert cli(root, "check").exit_code == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("\n  \n", "empty file"),
        ("---\ntitle: T\n\nBody\n", "no closing '---'"),
        ("Just a body\n", "no front matter"),
        ("---\n- a\n- b\n---\nBody\n", "front matter must be 'key: value' lines"),
    ],
)
def test_a_draft_without_front_matter_says_so(
    make_series: Callable[..., Path], cli: Cli, text: str, message: str
) -> None:
    root = make_series(drafts=1)
    (root / "drafts" / "01-part-1.md").write_text(text, encoding="utf-8")
    line = one_error_line(cli(root, "preview", "1"))
    assert message in line


def test_preview_of_an_empty_reference_is_clear(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    result = cli(root, "preview", "")
    assert result.exit_code in (1, 2)
    assert "error: : " not in result.stderr and "give next, a number, or a draft file" in (
        result.stderr
    )


# -- init writes a seriespub.toml that loads ------------------------------------------------
@pytest.mark.parametrize("title", ["back\\slash", 'The "quoted" one', "Tab\tand ünïcode"])
def test_init_escapes_what_it_writes(tmp_path: Path, cli: Cli, title: str) -> None:
    target = tmp_path / "c"
    result = cli(tmp_path, "init", str(target), "--title", title)
    assert result.exit_code == 0, result.output
    assert find_series(explicit=target).settings.series.title == title
    assert cli(target, "status").exit_code == 0
    assert read_draft(target / "drafts" / "01-welcome.md").title == f"Welcome to {title}"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--title", "a\x01b", "'series.title'"),
        ("--title", "", "'series.title' must not be empty"),
        ("--title", "two\nlines", "'series.title'"),
        ("--from", "not an address", "'series.from'"),
        ("--title", "a\udcffb", "not UTF-8 text"),  # bytes the shell could not decode
    ],
)
def test_init_refuses_what_the_config_loader_refuses(
    tmp_path: Path, cli: Cli, option: str, value: str, message: str
) -> None:
    target = tmp_path / "c"
    line = one_error_line(cli(tmp_path, "init", str(target), option, value))
    assert message in line
    assert not target.exists()


def test_new_refuses_a_title_that_is_not_utf8(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    assert "not UTF-8 text" in one_error_line(cli(root, "new", "a\udcffb"))
    assert [p.name for p in (root / "drafts").iterdir()] == ["01-part-1.md"]


@pytest.mark.parametrize(
    ("title", "file_name"),
    [
        ("Größe und Maß", "02-grosse-und-mass.md"),
        ("Søren og Æbler", "02-soren-og-aebler.md"),
        ("Łódź, œuvre", "02-lodz-oeuvre.md"),
        ("Лидерство", "02-instalment.md"),  # no Latin letters: the fallback
    ],
)
def test_new_names_the_draft_after_its_title_in_latin_letters(
    make_series: Callable[..., Path], cli: Cli, title: str, file_name: str
) -> None:
    """Its file name is the part's URL on the site: letters that have no accent to strip
    (ß, æ, ø, ł, œ) are spelled out, not dropped ("Größe" was `groe`)."""
    root = make_series(drafts=1)
    result = cli(root, "new", title)
    assert result.exit_code == 0, result.output
    assert (root / "drafts" / file_name).is_file(), sorted(
        p.name for p in (root / "drafts").iterdir()
    )
