"""The subscriber list through the CLI: rows `check` rejects are never skipped silently by a
send, duplicate columns are refused, `subscribers list` streams and checks its options."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from conftest import delivery_log, write_subscribers
from sqlitefile import sqlite_file

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

BAD_ROWS = [  # what `check` rejects: an unknown status, an address without a dot, a line break
    {"email": "typo@example.com", "name": "Ty", "status": "actve", "subscribed_at": ""},
    {"email": "cat@example", "name": "Cat", "status": "active", "subscribed_at": ""},
    {"email": "nl@example.com", "name": "New\nLine", "status": "active", "subscribed_at": ""},
]


def finished(root: Path, number: int = 1) -> bool:
    with sqlite_file(root / ".seriespub" / "ledger.db") as db:
        row = db.execute(
            "SELECT finished_at FROM instalments WHERE number = ?", (number,)
        ).fetchone()
    return row is not None and row[0] is not None


def outbox(root: Path, number: int = 1) -> list[Path]:
    return sorted((root / ".seriespub" / "outbox" / f"{number:03d}").glob("*.eml"))


def test_send_refuses_a_list_with_unreadable_rows_and_shows_them(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1)
    write_subscribers(root / "subscribers.csv", 3, extra=BAD_ROWS)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1
    err = result.stderr
    assert "unreadable rows: 3" in err
    assert "subscribers.csv:5: unknown status 'actve' for typo@example.com" in err
    assert "subscribers.csv:6: invalid address 'cat@example'" in err
    assert "subscribers.csv:7: nl@example.com: line break in the name" in err
    assert "3 row(s) of subscribers.csv cannot be read" in err and "--skip-invalid" in err
    assert "Traceback" not in err
    assert outbox(root) == []  # nothing sent


def test_skip_invalid_sends_the_rest_and_keeps_the_part_open_for_the_skipped(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=2)
    readers = write_subscribers(root / "subscribers.csv", 3, extra=BAD_ROWS)
    result = cli(root, "send", "next", "--yes", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert len(outbox(root)) == 3 and not finished(root)
    again = cli(root, "send", "next", "--yes", "--skip-invalid")  # still part 1, still open
    assert again.exit_code == 0, again.output
    assert "stays open for the 3 row(s)" in again.stderr and not finished(root)
    assert outbox(root, 2) == []
    fixed = [
        dict(
            r,
            status="active",
            name=r["name"].replace("\n", " "),
            email=r["email"].replace("@example", "@example.org")
            if r["email"] == "cat@example"
            else r["email"],
        )
        for r in BAD_ROWS
    ]
    write_subscribers(root / "subscribers.csv", 3, extra=fixed)
    done = cli(root, "send", "next", "--yes")
    assert done.exit_code == 0, done.output
    assert finished(root) and len(outbox(root)) == 6
    assert set(delivery_log(cli, root)) == {
        *readers[:3],
        "typo@example.com",
        "cat@example.org",
        "nl@example.com",
    }


def test_send_due_refuses_unreadable_rows_and_logs_why(make_series: MakeSeries, cli: Cli) -> None:
    schedule = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
    root = make_series(drafts=1, extra_toml=schedule)
    write_subscribers(root / "subscribers.csv", 2, extra=BAD_ROWS[:1])
    with time_machine.travel(
        dt.datetime(2026, 12, 1, 9, 5, tzinfo=ZoneInfo("Europe/London")), tick=False
    ):
        result = cli(root, "send", "due")
        log = cli(root, "log", "--json")
    assert result.exit_code == 1 and "1 row(s) of subscribers.csv cannot be read" in result.stderr
    assert outbox(root) == []
    events = json.loads(log.stdout)["events"]
    assert events[-1]["event"] == "error" and "cannot be read" in events[-1]["error"]


def test_dry_run_shows_unreadable_rows_without_refusing(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=1)
    write_subscribers(root / "subscribers.csv", 2, extra=BAD_ROWS[:1])
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "unreadable rows: 1" in result.stderr and "dry run: rendered 2" in result.stderr
    assert not (root / ".seriespub" / "snapshot.csv").exists()  # a dry run writes nothing


def test_duplicate_column_names_are_refused(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=1)
    (root / "subscribers.csv").write_text(
        "email,name,status,email\na@example.com,A,active,b@example.com\n", encoding="utf-8"
    )
    for args in (
        ("send", "next", "--yes"),
        ("subscribers", "list"),
        ("subscribers", "add", "c@example.com"),
    ):
        result = cli(root, *args)
        assert result.exit_code == 1, args
        assert "subscribers.csv:1: column 'email' appears more than once" in result.stderr
    assert outbox(root) == []
    write_subscribers(root / "subscribers.csv", 1)
    export = tmp_path / "export.csv"
    export.write_text("Email,Name,E-mail\nx@example.com,X,y@example.com\n", encoding="utf-8")
    imported = cli(root, "subscribers", "import", str(export))
    assert imported.exit_code == 1
    assert "columns 'Email' and 'E-mail' both mean 'email'" in imported.stderr


def test_list_with_an_unknown_status_is_misuse(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=1)
    result = cli(root, "subscribers", "list", "--status", "bogus")
    assert result.exit_code == 2
    assert "unknown status 'bogus'" in result.stderr and "active, unsubscribed" in result.stderr


def test_list_prints_aligned_rows_and_valid_json(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=1)
    write_subscribers(root / "subscribers.csv", 2, extra=BAD_ROWS[:1])
    plain = cli(root, "subscribers", "list")
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.splitlines() == [
        "Email                   Name      Status  Since",
        "reader0001@example.com  Reader 1  active  2026-01-01",
        "reader0002@example.com  Reader 2  active  2026-01-01",
    ]
    assert "2 subscriber(s)" in plain.stderr and "1 row(s) cannot be read" in plain.stderr
    listed = cli(root, "subscribers", "list", "--json", "--status", "active")
    assert [r["email"] for r in json.loads(listed.stdout)] == [
        "reader0001@example.com",
        "reader0002@example.com",
    ]
    none = cli(root, "subscribers", "list", "--json", "--status", "bounced")
    assert json.loads(none.stdout) == []


def test_import_of_a_file_without_line_breaks_is_refused_quickly(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=1)
    before = (root / "subscribers.csv").read_bytes()
    endless = tmp_path / "endless.csv"
    endless.write_bytes(b"Email," + b"x" * 20_000_000)
    result = cli(root, "subscribers", "import", str(endless))
    assert result.exit_code == 1
    assert "endless.csv:1: a line longer than 65,536 characters" in result.stderr
    assert (root / "subscribers.csv").read_bytes() == before
