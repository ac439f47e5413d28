"""A calendar that reaches past what a date can hold (year 9999): one line naming the setting
or the draft, never an OverflowError traceback, in every command that plans releases."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine

from fakes.resend import ResendState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
SITE = '[site]\nbase_url = "https://example.org/series/"\n'
COMMANDS = [
    ("status",),
    ("check",),
    ("schedule",),
    ("schedule", "--reader", "reader0001@example.com"),
    ("preview", "2"),
    ("send", "due"),
    ("send", "next", "--yes"),
    ("site",),
]
# The commands that work out the calendar (`send next` sends by hand, whatever it says).
PLANNING = [c for c in COMMANDS if c[0] not in ("check", "send") or c == ("send", "due")]


def schedule(first: str = "2026-12-01T09:00:00", every_weeks: int = 1, tz: str = "UTC") -> str:
    return f'[schedule]\nfirst_release = {first}\ntimezone = "{tz}"\nevery_weeks = {every_weeks}\n'


def run(cli: Cli, root: Path, *args: str) -> Any:
    with time_machine.travel(NOW, tick=False):
        return cli(root, *args)


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert all(line.startswith("hint: ") for line in lines[1:]), result.stderr
    return str(lines[0])


def nothing_sent(root: Path) -> bool:
    return not (root / ".seriespub" / "outbox").exists()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_cadence_of_thousands_of_years_is_refused_naming_the_setting(
    make_series: MakeSeries, cli: Cli, command: tuple[str, ...]
) -> None:
    root = make_series(extra_toml=schedule(every_weeks=420000) + SITE)
    line = one_line_error(run(cli, root, *command))
    assert "'schedule.every_weeks' must be at most 520 (ten years), not 420000" in line
    assert nothing_sent(root)


def test_a_cadence_of_ten_years_is_accepted(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(extra_toml=schedule(every_weeks=520))
    result = run(cli, root, "schedule", "--json")
    assert result.exit_code == 0, result.output
    assert '"release": "2036-11-18T09:00:00+00:00"' in result.stdout  # part 2


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    ("first", "tz"), [("9999-12-25T09:00:00", "UTC"), ("0001-01-01T00:00:00", "Asia/Tokyo")]
)
def test_a_first_release_out_of_the_calendars_years_is_refused_naming_the_setting(
    make_series: MakeSeries, cli: Cli, command: tuple[str, ...], first: str, tz: str
) -> None:
    root = make_series(extra_toml=schedule(first=first, tz=tz) + SITE)
    line = one_line_error(run(cli, root, *command))
    assert "'schedule.first_release' must be between the years 1970 and 8999" in line
    assert nothing_sent(root)


def pin_part_one(root: Path, when: str) -> Path:
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(draft.read_text().replace("---\n", f"---\nrelease: {when}\n", 1))
    return draft


@pytest.mark.parametrize("when", ["9500-01-01 09:00", "0001-01-01 00:00", "1969-12-31"])
def test_without_a_calendar_check_refuses_a_release_out_of_the_years_at_its_line(
    make_series: MakeSeries, cli: Cli, when: str
) -> None:
    """The drafts are where `release:` is read: no calendar needed to refuse it."""
    root = make_series()
    draft = pin_part_one(root, when)
    result = run(cli, root, "check")
    assert result.exit_code == 1, result.output
    assert f"error {draft}:2: 'release' must be between the years 1970 and 8999, not " in (
        result.stdout.replace("\n", " ")
    )


@pytest.mark.parametrize("when", ["9500-01-01 09:00", "0001-01-01 00:00"])
def test_without_a_calendar_preview_refuses_a_release_out_of_the_years_at_its_line(
    make_series: MakeSeries, cli: Cli, when: str
) -> None:
    root = make_series()
    draft = pin_part_one(root, when)
    line = one_line_error(run(cli, root, "preview", "1"))
    assert line.startswith(f"error: {draft}:2: 'release' must be between the years 1970 and 8999")


def test_a_release_that_is_not_a_date_names_its_line(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series()
    draft = pin_part_one(root, "next tuesday")
    line = one_line_error(run(cli, root, "preview", "1"))
    assert line.startswith(f"error: {draft}:2: 'release' must be a date and time like")


@pytest.mark.parametrize("command", PLANNING, ids=" ".join)
@pytest.mark.parametrize(
    ("when", "tz"),
    [
        ("9999-12-31 23:59", "UTC"),
        ("9999-12-31 23:59", "America/New_York"),
        ("0001-01-01 00:00", "Asia/Tokyo"),
    ],
)
def test_a_draft_released_out_of_the_calendars_years_is_refused_naming_it(
    make_series: MakeSeries, cli: Cli, command: tuple[str, ...], when: str, tz: str
) -> None:
    """Refused where the draft is read, like any broken front matter: a command that needs
    the part stops on one line; a report leaves it out with a warning."""
    root = make_series(extra_toml=schedule(tz=tz) + SITE)
    draft = pin_part_one(root, when)
    result = run(cli, root, *command)
    stops = command[0] in ("preview", "send")
    assert result.exit_code == (1 if stops else 0), result.output
    assert "Traceback" not in result.output
    said = f"{draft}:2: 'release' must be between the years 1970 and 8999"
    assert (f"error: {said}" if stops else f"warning: {said}") in result.stderr
    assert nothing_sent(root)


def test_check_reports_a_draft_released_out_of_the_calendars_years(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(extra_toml=schedule(tz="America/New_York"))
    draft = pin_part_one(root, "9999-12-31 23:59")
    result = run(cli, root, "check")
    assert result.exit_code == 1, result.output
    years = "between the years 1970 and 8999"
    assert f"error {draft}:2: 'release' must be {years}, not 9999-12-31 23:59:00" in (
        result.stdout.replace("\n", " ")
    )


@pytest.mark.parametrize("command", PLANNING, ids=" ".join)
def test_a_calendar_that_runs_out_of_years_is_one_line(
    make_series: MakeSeries, cli: Cli, command: tuple[str, ...]
) -> None:
    # Within both bounds, but part 2 would come ten years later: past the year 8999.
    root = make_series(extra_toml=schedule("8999-01-01T09:00:00", 520) + SITE)
    line = one_line_error(run(cli, root, *command))
    assert "the release calendar ends with the year 8999: part 2 has no slot" in line
    assert nothing_sent(root)


def test_check_reports_a_calendar_that_runs_out_of_years(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(extra_toml=schedule("8999-01-01T09:00:00", 520))
    result = run(cli, root, "check")
    assert result.exit_code == 1, result.output
    assert "the release calendar ends with the year 8999: part 2 has no slot" in result.stdout


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("9999-12-31T23:59", "too far ahead"),
        ("9999-12-31T23:59-05:00", "too far ahead"),
        ("8999-01-01 09:00", "too far ahead"),
        ("0001-01-01 00:00", "in the past"),
    ],
)
def test_send_at_a_time_past_what_a_date_holds_is_one_line(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState], at: str, expected: str
) -> None:
    url, state = resend
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    root = make_series(delivery=delivery, extra_toml=schedule(tz="Asia/Tokyo"))
    line = one_line_error(run(cli, root, "send", "next", "--yes", "--at", at))
    assert expected in line
    assert state.emails == {}


def test_a_reader_who_joined_in_the_year_9999_is_not_a_traceback(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=3, extra_toml=schedule())
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=dt.UTC), tick=False):
        assert cli(root, "send", "due").exit_code == 0
    with (root / "subscribers.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow(["far@example.com", "Far", "active", "9999-12-31"])
    with time_machine.travel(dt.datetime(2026, 12, 8, 9, 1, tzinfo=dt.UTC), tick=False):
        result = cli(root, "send", "due")
        assert result.exit_code == 0, result.output
        mine = cli(root, "schedule", "--reader", "far@example.com")
        assert mine.exit_code == 0, mine.output
    assert "far@example.com (catching up; received: none yet)" in mine.stdout
