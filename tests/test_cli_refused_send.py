"""A `send next` that stops before sending anything leaves the part as it was: not started.

A part's start is its release: `status` shows it "sending" with that time, the site
publishes it and late joiners are counted from it. A refused `--at`, a missing `--yes`
and the like must not release a part that nobody received.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine

from conftest import postmark_delivery, sendgrid_delivery
from fakes.postmark import PostmarkState
from fakes.sendgrid import SendgridState
from sqlitefile import sqlite_file

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]


def part_state(cli: Cli, root: Path, number: int = 1) -> dict[str, Any]:
    result = cli(root, "status", "--json")
    assert result.exit_code == 0, result.output
    [found] = [i for i in json.loads(result.stdout)["instalments"] if i["number"] == number]
    return dict(found)


def unreleased(state: dict[str, Any]) -> bool:
    return state["state"] == "ready" and state["sent_at"] is None


def in_hours(hours: int) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    return when.strftime("%Y-%m-%dT%H:%M:00Z")


@pytest.mark.parametrize(
    "at",
    [in_hours(24 * 5), "2020-01-01T09:00:00Z", "slot", "not a date"],
    ids=["too-far", "past", "no-slot", "not-a-date"],
)
def test_a_refused_at_time_leaves_the_part_unreleased(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState], at: str
) -> None:
    url, state = sendgrid
    root = make_series(delivery=sendgrid_delivery(url), drafts=1)
    result = cli(root, "send", "next", "--yes", "--at", at)
    assert result.exit_code == 1, result.output
    assert state.accepted == []
    assert unreleased(part_state(cli, root))


def test_a_provider_that_cannot_schedule_leaves_the_part_unreleased(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(delivery=postmark_delivery(url), drafts=1)
    result = cli(root, "send", "next", "--yes", "--at", in_hours(2))
    assert result.exit_code == 1, result.output
    assert "cannot hold messages until a time" in result.stderr
    assert state.accepted == []
    assert unreleased(part_state(cli, root))


def test_a_send_not_confirmed_leaves_the_part_unreleased(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=1)
    result = cli(root, "send", "next")  # no terminal, no --yes
    assert result.exit_code == 2, result.output
    assert unreleased(part_state(cli, root))
    status = cli(root, "status")
    assert "0 catching up" in status.stdout, status.stdout  # nobody became a late joiner


def test_a_scheduled_send_is_dated_at_its_release(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, _ = sendgrid
    root = make_series(delivery=sendgrid_delivery(url), drafts=1)
    at = in_hours(2)
    result = cli(root, "send", "next", "--yes", "--at", at)
    assert result.exit_code == 0, result.output
    state = part_state(cli, root)
    assert state["state"] == "scheduled"
    assert dt.datetime.fromisoformat(state["sent_at"]) == dt.datetime.fromisoformat(at)


def test_a_part_with_nobody_to_send_to_finishes_on_a_calendar(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Every reader has left: the part is complete at once, and `send next` goes on to
    the next one instead of planning the same part again and again."""
    schedule = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
    root = make_series(drafts=1, subscribers=1, extra_toml=schedule)
    assert cli(root, "subscribers", "remove", "reader0001@example.com").exit_code == 0
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), tick=False):
        result = run_with_deadline(cli, root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output[-2000:]
        assert part_state(cli, root)["state"] == "sent"


def run_with_deadline(cli: Cli, root: Path, *args: str, seconds: int = 20) -> Any:
    """Run the CLI; a run still going after `seconds` fails the test instead of hanging."""
    import signal

    def too_long(*_: object) -> None:
        raise TimeoutError(f"seriespub {' '.join(args)} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(seconds)
    try:
        return cli(root, *args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- a round with late joiners (late_joiners = "from_start", no calendar) --------------------
def ledger_rows(root: Path) -> list[tuple[Any, ...]]:
    """Every row of the ledger's record of parts and deliveries, to compare before/after."""

    with sqlite_file(root / ".seriespub" / "ledger.db") as db:
        parts = db.execute("SELECT * FROM instalments ORDER BY number").fetchall()
        rows = db.execute("SELECT * FROM deliveries ORDER BY instalment, email").fetchall()
    return [*parts, *rows]


def series_with_a_late_joiner(make_series: MakeSeries, cli: Cli, start: dt.datetime) -> Path:
    """Part 1 went out at `start`; a reader joined two days later, so the next `send next`
    is a round: part 1 to them, part 2 to the front."""
    root = make_series(drafts=3, subscribers=2)
    with time_machine.travel(start, tick=False) as clock:
        assert cli(root, "send", "next", "--yes").exit_code == 0
        clock.move_to(start + dt.timedelta(days=2))
        assert cli(root, "subscribers", "add", "late@example.com").exit_code == 0
    return root


def test_a_round_not_confirmed_leaves_the_front_part_unreleased(
    make_series: MakeSeries, cli: Cli
) -> None:
    start = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    root = series_with_a_late_joiner(make_series, cli, start)
    before = ledger_rows(root)
    with time_machine.travel(start + dt.timedelta(days=7), tick=False):
        result = cli(root, "send", "next")  # no terminal, no --yes
        assert result.exit_code == 2, result.output
        assert "pass --yes" in result.stderr
        assert ledger_rows(root) == before, "nothing recorded"
        assert unreleased(part_state(cli, root, 2))
        assert not list((root / ".seriespub" / "outbox").glob("002/*.eml"))


def answer_on_a_terminal(root: Path, answer: str, *args: str) -> tuple[int, str]:
    """Run `seriespub *args` on a pseudo-terminal, answer its question; (exit code, output)."""
    import os
    import pty
    import select
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "seriespub", *args],
        cwd=root,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    os.close(follower)
    output, answered = b"", False
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, f"no output for 30 s: {output.decode(errors='replace')}"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"[y/N]" in output:
                os.write(leader, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(leader)
    return proc.wait(timeout=30), output.decode(errors="replace")


def test_a_round_declined_on_a_terminal_records_nothing(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=3, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    add_late_joiner(root)
    before = ledger_rows(root)
    code, output = answer_on_a_terminal(root, "n", "send", "next")
    assert code == 1, output
    assert "this slot: part 1 → 1 reader, part 2 → 2 readers" in output
    assert output.count("[y/N]") == 1, "one question for the round"
    assert "Send part 1 to 1 and part 2 to 2 subscriber(s) via outbox? [y/N]" in output
    assert "Nothing was sent." in output
    assert ledger_rows(root) == before
    assert unreleased(part_state(cli, root, 2))
    assert sorted(p.name for p in (root / ".seriespub" / "outbox").iterdir()) == ["001"]


def add_late_joiner(root: Path) -> None:
    """A reader who joins now, after part 1 went out: the next `send next` is a round."""
    import time

    joined = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with (root / "subscribers.csv").open("a", encoding="utf-8") as handle:
        handle.write(f"late@example.com,Late,active,{joined}\n")
    time.sleep(1.1)  # joined strictly after part 1 went out, before this round


def test_a_scheduled_round_dates_the_front_part_at_its_release(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    """With late joiners, the round's first batch (a late joiner's part, sent now) starts
    the front's part: at the time the provider will release it, not now."""
    url, _ = sendgrid
    root = make_series(delivery=sendgrid_delivery(url), drafts=2, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    add_late_joiner(root)
    at = in_hours(2)
    result = cli(root, "send", "next", "--yes", "--at", at)
    assert result.exit_code == 0, result.output
    assert "part 1 → 1 reader" in result.stderr
    state = part_state(cli, root, 2)
    assert state["state"] == "scheduled"
    assert dt.datetime.fromisoformat(state["sent_at"]) == dt.datetime.fromisoformat(at)


def test_a_round_whose_provider_cannot_be_reached_leaves_the_front_part_unreleased(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Confirmed, but the SMTP login fails before the first batch: nothing is recorded."""
    from fakes.smtp import running_smtp_server

    monkeypatch.setenv("SMTP_PASSWORD", "right-pw")
    with running_smtp_server(credentials={"mailer": "right-pw"}) as server:
        delivery = server.delivery_toml() + 'username = "mailer"\n'
        root = make_series(delivery=delivery, drafts=2, subscribers=2)
        assert cli(root, "send", "next", "--yes").exit_code == 0
        add_late_joiner(root)
        before = ledger_rows(root)
        monkeypatch.setenv("SMTP_PASSWORD", "wrong-pw")
        result = cli(root, "send", "next", "--yes")
        assert result.exit_code == 1, result.output
        assert "refused the login of 'mailer'" in result.stderr
        assert len(server.received) == 2
    assert ledger_rows(root) == before
    assert unreleased(part_state(cli, root, 2))


def test_a_part_nobody_is_owed_is_not_released_without_yes(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Finishing a part never started releases it (status, the site): as a send, it is
    asked about; without a terminal and --yes nothing is recorded."""
    root = make_series(drafts=2, subscribers=1)
    assert cli(root, "subscribers", "remove", "reader0001@example.com").exit_code == 0
    result = cli(root, "send", "next")  # no terminal, no --yes
    assert result.exit_code == 2, result.output
    assert "pass --yes" in result.stderr
    assert unreleased(part_state(cli, root, 1)) and unreleased(part_state(cli, root, 2))
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert part_state(cli, root, 1)["state"] == "sent"
