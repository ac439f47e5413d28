"""Files written where the user says (`schedule --ics`, `preview --html`, the site folder):
never one of the series' own files or anything in its state, drafts or templates folder,
never an unrelated existing file, and always whole (temp file + rename)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
TEMPLATE = Path(__file__).parents[1] / "src" / "seriespub" / "render" / "templates" / "email.mjml"
SITE = '[site]\nbase_url = "https://example.org/series/"\n'

# The series' own files and folders, as a user might name them from the series folder.
OWN = [
    "subscribers.csv",
    "seriespub.toml",
    ".env",
    "drafts/01-part-1.md",
    ".seriespub/ledger.db",
    ".seriespub/new-file.ics",
    "drafts/new.html",
    "templates/email.mjml",
    "../series/subscribers.csv",
    "drafts/../subscribers.csv",
]
# One command per kind of output, as the user types it (the target appended).
WRITERS = [("schedule", "--ics"), ("preview", "1", "--html")]


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert all(line.startswith("hint: ") for line in lines[1:])
    return str(lines[0])


def sent_series(make_series: MakeSeries, cli: Cli) -> Path:
    """A series with part 1 sent (so the ledger exists), a .env and a template."""
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    (root / ".env").write_text("SERIESPUB_SECRET=x\n")
    (root / "templates").mkdir()
    shutil.copy(TEMPLATE, root / "templates" / "email.mjml")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the series folder and its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith((".lock", "-wal", "-shm"))
    }


@pytest.mark.parametrize("writer", WRITERS, ids=["ics", "html"])
@pytest.mark.parametrize("target", OWN)
def test_a_series_own_file_or_folder_is_never_overwritten(
    make_series: MakeSeries, cli: Cli, writer: tuple[str, ...], target: str
) -> None:
    root = sent_series(make_series, cli)
    before = snapshot(root)
    line = one_line_error(cli(root, *writer, target))
    assert target in line and "the series' own" in line
    assert snapshot(root) == before


@pytest.mark.parametrize("target", ["seriespub.toml", "subscribers.csv", ".env"])
def test_refusing_a_series_file_the_hint_names_that_file_not_only_folders(
    make_series: MakeSeries, cli: Cli, target: str
) -> None:
    """`--html seriespub.toml` is refused; a hint that says only "outside .seriespub/,
    drafts/ and templates/" does not say what was wrong with a name in none of them."""
    root = sent_series(make_series, cli)
    result = cli(root, "preview", "1", "--html", target)
    hint = next(line for line in result.stderr.splitlines() if line.startswith("hint: "))
    assert target in hint and "another file name" in hint


@pytest.mark.parametrize("writer", WRITERS, ids=["ics", "html"])
def test_a_symlink_to_a_series_file_is_refused_by_its_real_path(
    make_series: MakeSeries, cli: Cli, writer: tuple[str, ...], tmp_path: Path
) -> None:
    root = sent_series(make_series, cli)
    link = tmp_path / "calendar.ics"
    link.symlink_to(root / "subscribers.csv")
    state_link = tmp_path / "state"
    state_link.symlink_to(root / ".seriespub")
    before = snapshot(root)
    one_line_error(cli(root, *writer, str(link)))
    one_line_error(cli(root, *writer, str(state_link / "part.html")))
    assert snapshot(root) == before
    assert not (root / ".seriespub" / "part.html").exists()


@pytest.mark.parametrize("writer", WRITERS, ids=["ics", "html"])
def test_an_unrelated_existing_file_is_refused_with_a_hint(
    make_series: MakeSeries, cli: Cli, writer: tuple[str, ...], tmp_path: Path
) -> None:
    root = sent_series(make_series, cli)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    result = cli(root, *writer, str(notes))
    line = one_line_error(result)
    assert str(notes) in line and "already exists" in line
    assert "hint: delete it first, or give a new file name" in result.stderr
    assert notes.read_text() == "my notes\n"


def test_a_calendar_written_before_is_replaced_whole(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    root = sent_series(make_series, cli)
    target = tmp_path / "releases.ics"
    assert cli(root, "schedule", "--ics", str(target)).exit_code == 0
    first = os.stat(target).st_ino
    result = cli(root, "schedule", "--ics", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"BEGIN:VCALENDAR")
    assert os.stat(target).st_ino != first  # a new file renamed over the old one
    assert sorted(p.name for p in tmp_path.iterdir() if "releases" in p.name) == ["releases.ics"]


def test_an_ics_name_holding_something_else_is_refused(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    root = sent_series(make_series, cli)
    target = tmp_path / "old.ics"
    target.write_text("not a calendar\n")
    assert "already exists" in one_line_error(cli(root, "schedule", "--ics", str(target)))
    assert target.read_text() == "not a calendar\n"


def test_an_html_file_is_replaced_and_keeps_its_mode(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    root = sent_series(make_series, cli)
    target = tmp_path / "part.html"
    target.write_text("<p>old</p>\n")
    target.chmod(0o640)
    result = cli(root, "preview", "1", "--html", str(target))
    assert result.exit_code == 0, result.output
    assert "Part 1 title" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".part")] == []


def test_a_new_file_gets_the_usual_mode(make_series: MakeSeries, cli: Cli, tmp_path: Path) -> None:
    root = sent_series(make_series, cli)
    old = os.umask(0o022)
    try:
        result = cli(root, "schedule", "--ics", str(tmp_path / "new.ics"))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new.ics").stat().st_mode & 0o777 == 0o644


def test_html_to_a_device_is_written_through(make_series: MakeSeries, cli: Cli) -> None:
    root = sent_series(make_series, cli)
    result = cli(root, "preview", "1", "--html", os.devnull)
    assert result.exit_code == 0, result.output
    assert not (Path(os.devnull).parent / ".null.tmp").exists()


@pytest.mark.parametrize("inside", [".seriespub", "drafts", "templates", "."])
def test_a_site_folder_that_links_into_the_series_is_refused(
    make_series: MakeSeries, cli: Cli, inside: str
) -> None:
    root = make_series(drafts=2, extra_toml=SCHEDULE + SITE)
    (root / "templates").mkdir()
    assert cli(root, "send", "next", "--yes").exit_code == 0
    (root / "site").symlink_to(root / inside)
    before = snapshot(root)
    line = one_line_error(cli(root, "site"))
    assert "site" in line
    assert snapshot(root) == before


def test_a_site_subfolder_that_links_into_the_series_is_refused(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=2, extra_toml=SCHEDULE + SITE)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    assert cli(root, "site").exit_code == 0
    page = next(p for p in (root / "site").iterdir() if p.name.startswith("01-"))
    shutil.rmtree(page)
    page.symlink_to(root / "drafts")
    before = snapshot(root)
    line = one_line_error(cli(root, "site"))
    assert page.name in line and "the series' own" in line
    assert snapshot(root) == before


def test_a_page_left_half_written_by_a_killed_build_is_not_published_by_the_next(
    make_series: MakeSeries, cli: Cli
) -> None:
    """`site` killed (SIGTERM, SIGKILL: no clean-up runs) while a page's temp file was being
    written leaves `.index.html.<8 hex>.tmp` beside it; the next build removes it rather than
    leave it in the folder that is uploaded. A file of the author's with a like name stays."""
    root = make_series(drafts=2, extra_toml=SCHEDULE + SITE)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    assert cli(root, "site").exit_code == 0
    page = next(p for p in (root / "site").iterdir() if p.name.startswith("01-"))
    torn = [page / ".index.html.0badc0de.tmp", root / "site" / ".index.html.12ab34cd.tmp"]
    for temp in torn:
        temp.write_bytes(b"<!doctype html>\n<html><body><p>Hello")  # a page cut short
    authors = [root / "site" / ".index.html.tmp", root / "site" / ".notes.0badc0de.tmp"]
    for kept in authors:
        kept.write_text("mine\n")
    assert cli(root, "site").exit_code == 0
    assert [temp for temp in torn if temp.exists()] == []
    assert [kept.read_text() for kept in authors] == ["mine\n", "mine\n"]


def test_ctrl_c_while_a_file_is_written_leaves_no_temp_file_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (KeyboardInterrupt) between the temp file's write and its rename: the old file
    stays as it was and no `.NAME.<hex>.tmp` is left to be published."""
    from seriespub import outputs

    page = tmp_path / "index.html"
    page.write_text("<!doctype html>old\n")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("seriespub.outputs.os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_whole(page, b"<!doctype html>new\n")
    assert page.read_text() == "<!doctype html>old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]


@pytest.mark.parametrize(("drafts", "said"), [(1, "(1 release)"), (2, "(2 releases)")])
def test_schedule_ics_counts_its_releases_in_words(
    make_series: MakeSeries, cli: Cli, drafts: int, said: str
) -> None:
    root = make_series(drafts=drafts, extra_toml=SCHEDULE)
    result = cli(root, "schedule", "--ics", "cal.ics")
    assert result.exit_code == 0, result.output
    assert f"wrote cal.ics {said}" in result.stderr


def test_schedule_ics_dash_writes_the_calendar_on_stdout_and_nothing_else(
    make_series: MakeSeries, cli: Cli
) -> None:
    """`-` is standard output, as for any Unix tool: `schedule --ics - | other-tool`. The
    table would corrupt the calendar, so stdout carries the calendar alone; no file `-`."""
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    result = cli(root, "schedule", "--ics", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"BEGIN:VCALENDAR\r\n")  # as in the file: CRLF
    assert result.stdout_bytes.endswith(b"END:VCALENDAR\r\n")
    assert result.stdout_bytes.count(b"BEGIN:VEVENT") == 2
    assert not (root / "-").exists()


def test_preview_html_dash_writes_the_html_part_on_stdout_and_nothing_else(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1)
    result = cli(root, "preview", "1", "--html", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.lower().startswith("<!doctype html")
    assert result.stdout.rstrip().endswith("</html>")
    assert "Part 1 title" in result.stdout
    assert "wrote" not in result.stdout
    assert not (root / "-").exists()


def test_a_file_named_dash_is_still_written_as_dot_slash_dash(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1, extra_toml=SCHEDULE)
    result = cli(root, "schedule", "--ics", "./-")
    assert result.exit_code == 0, result.output
    assert (root / "-").read_bytes().startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    "words",
    [("schedule", "--ics", "-", "--json"), ("preview", "1", "--html", "-", "--text")],
    ids=["ics-json", "html-text"],
)
def test_two_things_for_stdout_is_misuse(
    make_series: MakeSeries, cli: Cli, words: tuple[str, ...]
) -> None:
    root = make_series(drafts=1, extra_toml=SCHEDULE)
    result = cli(root, *words)
    assert result.exit_code == 2, result.output
    assert f"{words[-3]} - and {words[-1]} both write to stdout" in result.stderr
    assert "BEGIN:VCALENDAR" not in result.stdout and "<html" not in result.stdout.lower()


def test_preview_text_with_an_html_file_writes_both(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    """`--text --html FILE` used to print the text and silently write no FILE."""
    root = make_series(drafts=1)
    result = cli(root, "preview", "1", "--text", "--html", str(tmp_path / "p.html"))
    assert result.exit_code == 0, result.output
    assert "Part 1 title" in result.stdout and "<html" not in result.stdout.lower()
    assert "Part 1 title" in (tmp_path / "p.html").read_text()


@pytest.mark.parametrize("command", [("schedule",), ("preview",)], ids=["schedule", "preview"])
def test_help_says_dash_is_stdout(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one line per option: the words are not split
    result = cli(tmp_path, *command, "--help")
    assert result.exit_code == 0, result.output
    assert "'-': stdout" in result.stdout


def test_schedule_reader_with_ics_is_misuse_not_silence(make_series: MakeSeries, cli: Cli) -> None:
    """`--ics` exports the series' releases; with `--reader` it used to be dropped in
    silence (exit 0, no file). It is refused, and nothing is written."""
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    reader = next(iter((root / "subscribers.csv").read_text().splitlines()[1:])).split(",")[0]
    result = cli(root, "schedule", "--reader", reader, "--ics", "cal.ics")
    assert result.exit_code == 2, result.output
    assert "--ics" in result.stderr and "--reader" in result.stderr
    assert "Traceback" not in result.output
    assert not (root / "cal.ics").exists()


@pytest.mark.parametrize("words", [("--log", "-"), ("--log=-",)], ids=["space", "equals"])
def test_send_due_log_dash_is_refused_not_a_file_named_dash(
    make_series: MakeSeries, cli: Cli, words: tuple[str, ...]
) -> None:
    """The cron log rotates and compares its last lines: stdout is not a log. `--log -`
    used to write a file named `-`; it is refused (exit 2), and no such file appears."""
    root = make_series(drafts=1, extra_toml=SCHEDULE)
    result = cli(root, "send", "due", *words)
    assert result.exit_code == 2, result.output
    assert "--log" in result.stderr and "stdout" in result.stderr
    assert not (root / "-").exists()
