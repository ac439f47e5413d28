"""Scheduler snippets for `schedule install`: crontab, systemd, GitHub Actions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from seriespub.config import ScheduleSettings
from seriespub.installers import (
    crontab_line,
    github_cron,
    github_workflow,
    secret_names,
    systemd_units,
)

SERIES = Path("/home/ada/My Series")
CMD = "/home/ada/.local/bin/seriespub"


def workflow(**kw: Any) -> dict[Any, Any]:
    text = github_workflow("letters", secrets=secret_names("postmark"), **kw)
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def test_workflow_is_scheduled_serialised_and_may_push() -> None:
    flow = workflow(cron="7 * * * *")
    on = flow[True]            # YAML 1.1 reads the key `on` as a boolean
    assert on["schedule"] == [{"cron": "7 * * * *"}] and "workflow_dispatch" in on
    assert flow["concurrency"] == {"group": "seriespub-send", "cancel-in-progress": False}
    assert flow["permissions"] == {"contents": "write"}


def test_workflow_runs_send_due_with_secrets_in_the_series_folder() -> None:
    job = workflow()["jobs"]["send"]
    assert job["defaults"]["run"]["working-directory"] == "letters"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[1]["uses"].startswith("actions/setup-python@")
    assert steps[2]["run"] == "pip install seriespub"
    send = steps[3]
    assert send["run"] == "seriespub send due"
    assert send["env"] == {"SERIESPUB_SECRET": "${{ secrets.SERIESPUB_SECRET }}",
                           "POSTMARK_SERVER_TOKEN": "${{ secrets.POSTMARK_SERVER_TOKEN }}"}


def test_workflow_commits_only_the_record_even_after_a_failed_send() -> None:
    keep = workflow(ledger_name="record.db")["jobs"]["send"]["steps"][4]
    assert keep["if"] == "always()"
    script = keep["run"]
    add = next(line for line in script.splitlines() if "git add" in line)
    assert ".seriespub/record.db" in add and ".seriespub/log.jsonl" in add
    assert ".env" not in script and "secret" not in add
    assert "wal_checkpoint" in script
    assert "|| true" in script and script.rstrip().endswith("git push")


def test_workflow_refuses_a_bad_secret_name() -> None:
    with pytest.raises(ValueError, match="not an environment variable"):
        github_workflow(secrets=["X: y\n  evil"])


def test_github_cron_runs_hourly_at_the_slot_minute_in_utc() -> None:
    india = ScheduleSettings(first_release=dt.datetime(2026, 3, 3, 9, 0),
                             timezone="Asia/Kolkata")
    assert github_cron(india) == "30 * * * *"       # 09:00 IST is 03:30 UTC


def test_systemd_units_name_the_series_folder() -> None:
    units = systemd_units(SERIES, CMD)
    assert sorted(units) == ["seriespub-my-series.service", "seriespub-my-series.timer"]
    service = units["seriespub-my-series.service"]
    assert f"WorkingDirectory={SERIES}\n" in service
    assert f"ExecStart={CMD} send due\n" in service
    timer = units["seriespub-my-series.timer"]
    assert "OnCalendar=*:0/5" in timer and "Persistent=true" in timer


def test_systemd_escapes_specifiers() -> None:
    service = systemd_units(Path("/srv/100%"), CMD)["seriespub-100.service"]
    assert "WorkingDirectory=/srv/100%%\n" in service


def test_crontab_line_changes_to_the_series_folder() -> None:
    line = crontab_line(SERIES, CMD)
    assert line == ("*/5 * * * * cd '/home/ada/My Series' && mkdir -p -m 700 .seriespub && "
                    f"{CMD} send due >> .seriespub/cron.log 2>&1")


def test_crontab_escapes_percent() -> None:
    assert r"cd /srv/100\% &&" in crontab_line(Path("/srv/100%"), CMD)
