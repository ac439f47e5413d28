"""A `release:` pinned at a minute no slot falls on goes out on time under GitHub Actions.

The workflow `schedule install` prints runs hourly at the slots' UTC minutes; a part pinned
to another minute (14:37) would wait for the next hourly run, up to an hour late. The
workflow carries a dated entry for each such release still ahead, and `check` warns when a
committed workflow misses one (a part pinned after it was installed).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml

from seriespub.installers import cron_fires_at
from test_check_workflow import INSTALL, findings, save, workflow_of
from test_cli_schedule import pin
from test_installers import lint

Cli = Callable[..., Any]
NEW_YORK = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "America/New_York"\n'
SERIES = NEW_YORK + INSTALL.removeprefix("[schedule]\n")  # one [schedule] table
TODAY = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def crons(text: str) -> list[str]:
    flow = yaml.safe_load(text)
    return [entry["cron"] for entry in flow[True]["schedule"]]  # YAML 1.1 reads `on` as True


def test_the_workflow_runs_at_a_pinned_releases_minute(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, subscribers=1, extra_toml=SERIES)
    pin(root, 2, "2026-12-10 14:37")  # 19:37 UTC
    with time_machine.travel(TODAY, tick=False):
        text = workflow_of(cli, root)
    # 09:00 in New York is 14:00 UTC all winter and 13:00 in summer: minute 0 either way.
    assert crons(text) == ["0 * * * *", "37 19 10 12 *"]
    assert lint(text) == []


def test_a_pinned_release_at_a_slots_minute_or_already_past_needs_no_entry(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, subscribers=1, extra_toml=SERIES)
    pin(root, 2, "2026-12-10 16:00")  # minute 0: the hourly run takes it
    pin(root, 3, "2026-11-20 14:37")  # before today: nothing to wait for
    with time_machine.travel(TODAY, tick=False):
        assert crons(workflow_of(cli, root)) == ["0 * * * *"]


def test_check_warns_when_the_workflow_misses_a_pinned_release(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, subscribers=1, extra_toml=SERIES)
    with time_machine.travel(TODAY, tick=False):
        path = save(root, workflow_of(cli, root))
        assert [f for f in findings(cli, root) if f["where"] == str(path)] == []
        pin(root, 2, "2026-12-10 14:37")  # pinned after the workflow was committed
        about = [f for f in findings(cli, root) if f["where"] == str(path)]
        assert len(about) == 1, about
        assert about[0]["level"] == "warning"
        message = about[0]["message"]
        assert "part 2" in message and "14:37" in message and "up to an hour" in message
        assert "seriespub schedule install" in message
        path.write_text(workflow_of(cli, root), encoding="utf-8")
        assert [f for f in findings(cli, root) if f["where"] == str(path)] == []


def utc(month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expression", "when", "fires"),
    [
        ("0 * * * *", utc(12, 10, 19, 0), True),
        ("0 * * * *", utc(12, 10, 19, 37), False),
        ("0,30 * * * *", utc(12, 10, 3, 30), True),
        ("*/15 9-17 * * *", utc(12, 10, 9, 45), True),
        ("*/15 9-17 * * *", utc(12, 10, 18, 0), False),
        ("0-30/10 * * * *", utc(12, 10, 1, 20), True),
        ("0-30/10 * * * *", utc(12, 10, 1, 40), False),
        ("37 19 10 12 *", utc(12, 10, 19, 37), True),
        ("37 19 10 12 *", utc(12, 11, 19, 37), False),
        ("0 9 * * 4", utc(12, 10, 9, 0), True),  # Thursday
        ("0 9 * * 1-3", utc(12, 10, 9, 0), False),
        ("0 9 * * 7", utc(12, 13, 9, 0), True),  # Sunday as 7
        ("0 9 1 * 4", utc(12, 10, 9, 0), True),  # either day field: Thursday
        ("0 9 10 * 1", utc(12, 10, 9, 0), True),  # either day field: the 10th
        ("0 9 11 * 1", utc(12, 10, 9, 0), False),
        ("@hourly", utc(12, 10, 9, 0), False),  # not read: warned of, to be safe
        ("0 * * *", utc(12, 10, 9, 0), False),
    ],
)
def test_cron_fires_at_reads_the_fields_github_reads(
    expression: str, when: dt.datetime, fires: bool
) -> None:
    assert cron_fires_at(expression, when) is fires


def test_a_hand_written_unquoted_entry_that_covers_the_release_is_not_warned_of(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, subscribers=1, extra_toml=SERIES)
    with time_machine.travel(TODAY, tick=False):
        text = workflow_of(cli, root).replace('- cron: "0 * * * *"', "- cron: 0,37 * * * *")
        path = save(root, text)
        pin(root, 2, "2026-12-10 14:37")
        assert [f for f in findings(cli, root) if f["where"] == str(path)] == []


def test_schedule_install_needs_no_drafts_folder(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1, extra_toml=SERIES)
    shutil.rmtree(root / "drafts")
    with time_machine.travel(TODAY, tick=False):
        assert crons(workflow_of(cli, root)) == ["0 * * * *"]
