"""`ops.status`, `ops.check` and `ops.calendar` called directly: reports that change nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.memory import MemoryProvider
from seriespub.errors import InputError
from seriespub.ops import calendar, check, status
from seriespub.ops import send as send_ops
from seriespub.ops.session import session
from seriespub.series import find_series

NOW = dt.datetime(2027, 1, 6, 12, 0, tzinfo=dt.UTC)
SCHEDULE = '[schedule]\nfirst_release = 2027-01-05T09:00:00\ntimezone = "Europe/London"\n'


def test_status_reads_without_creating_anything(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2, subscribers=3)
    with session(find_series(explicit=root), "status", now=NOW, readonly=True) as s:
        outcome = status.status(s)
    assert [st.state for st in outcome.states] == ["ready", "ready"]
    assert outcome.upcoming is not None and outcome.upcoming.number == 1
    assert not (root / ".seriespub" / "ledger.db").exists()


def test_status_and_log_after_a_send(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2, subscribers=3)
    series = find_series(explicit=root)
    with session(series, "send", now=NOW, provider=MemoryProvider()) as s:
        send_ops.send(s, send_ops.SendOptions(), send_ops.SendHooks())
    with session(series, "status", now=NOW, readonly=True) as s:
        outcome = status.status(s)
        rows = status.deliveries(s, 1)
        with pytest.raises(InputError, match="no instalment number 9"):
            status.deliveries(s, 9)
    assert outcome.as_json()["next"] == 2 and outcome.states[0].delivered == 3
    assert [r.status.value for r in rows] == ["sent"] * 3


def test_the_calendar_is_computed_at_the_sessions_now(
    make_series: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    series = find_series(explicit=root)
    with session(series, "schedule", now=NOW, readonly=True) as s:
        cal = calendar.calendar(s)
    assert [p.status.value for p in cal.releases] == ["due", "upcoming"]
    calendar.write_ics(series, cal, tmp_path / "c.ics")
    assert (tmp_path / "c.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")
    with pytest.raises(InputError, match="is a folder"):
        calendar.write_ics(series, cal, tmp_path)


def test_install_names_the_secrets(make_series: Callable[..., Path]) -> None:
    lines = calendar.install(find_series(explicit=make_series()), ".", python="/usr/bin/py")
    assert lines.secrets[0] == "SERIESPUB_SECRET" and "/usr/bin/py -m seriespub" in lines.crontab


def test_check_counts_errors_and_warnings(make_series: Callable[..., Path]) -> None:
    root = make_series()
    (root / "drafts" / "03-broken.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    outcome = check.check(find_series(explicit=root))
    assert outcome.errors >= 1 and outcome.as_json()["errors"] == outcome.errors
