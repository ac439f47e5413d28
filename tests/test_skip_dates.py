"""A `skip` date that no release falls on skips nothing: the author who wrote it to pause
(a holiday) and then moved the weekday, or typed the wrong day, is told so by `schedule`
and `check`, before the week they meant to keep free goes out as usual."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from conftest import ok

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
NEW_YORK = ZoneInfo("America/New_York")


def calendar(skip: str) -> str:
    """Thursdays at 18:00 in New York from 3 December, with `skip`."""
    return (
        '[schedule]\nfirst_release = 2026-12-03T18:00:00\ntimezone = "America/New_York"\n'
        f"skip = [{skip}]\n"
    )


def test_a_skip_date_off_the_release_days_is_warned_of_and_one_on_them_is_not(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Fri 18 Dec skips nothing (part 3 stays on Thu 17 Dec): `schedule` and `check` say
    so, naming the day releases fall on; the past Tue 1 Dec (before the weekday moved) is
    history, not a problem; Thu 24 Dec, a release day, skips part 4's slot quietly."""
    root = make_series(drafts=4, subscribers=1, extra_toml=calendar("2026-12-01, 2026-12-18"))
    with time_machine.travel(dt.datetime(2026, 12, 10, 9, tzinfo=NEW_YORK), tick=False):
        shown = ok(cli(root, "schedule"))
        checked = ok(cli(root, "check"))
        config = root / "seriespub.toml"
        config.write_text(config.read_text().replace("2026-12-01, 2026-12-18", "2026-12-24"))
        fine = ok(cli(root, "schedule"))
        fine_check = ok(cli(root, "check"))
    warning = (
        "schedule.skip: no release falls on Fri 2026-12-18 (releases are on Thursdays), "
        "so it skips nothing"
    )
    assert f"warning: {warning}" in shown.stderr, shown.stderr
    assert "Thu 2026-12-17 18:00 EST" in shown.stdout, shown.stdout
    assert warning in checked.stdout, checked.stdout
    assert "2026-12-01" not in shown.stderr + checked.stdout
    assert "schedule.skip" not in fine.stderr + fine_check.stdout
    assert "Thu 2026-12-24" not in fine.stdout, fine.stdout


def test_every_two_weeks_the_off_week_of_the_right_weekday_skips_nothing_either() -> None:
    """Every other Thursday from 3 Dec: Thu 10 Dec is no release day, Thu 17 Dec is; a date
    before the first release skips nothing too."""
    from seriespub import schedule
    from seriespub.config import ScheduleSettings

    settings = ScheduleSettings(
        first_release=dt.datetime(2026, 12, 3, 18),
        timezone="America/New_York",
        every_weeks=2,
        skip=(dt.date(2026, 12, 10), dt.date(2026, 12, 17), dt.date(2026, 11, 26)),
    )
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    rhythm = "releases are every 2 weeks on Thursdays from Thu 2026-12-03"
    assert schedule.skip_warnings(settings, now) == [
        f"schedule.skip: no release falls on Thu 2026-11-26 ({rhythm}), so it skips nothing",
        f"schedule.skip: no release falls on Thu 2026-12-10 ({rhythm}), so it skips nothing",
    ]
