"""The release calendar through the CLI: `schedule`, `send due`, `send next --at`, `send cancel`.

Time is an input: every test freezes the clock with time-machine at an aware instant, so the
calendar, `send due` and the provider's scheduled time are all checked against known slots.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok
from fakes.resend import ResendState
from fakes.sendgrid import SendgridState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
READERS = [f"reader{i:04d}@example.com" for i in range(1, 4)]
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'


def london(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON)


def frozen(when: dt.datetime) -> Any:
    return time_machine.travel(when, tick=False)


def emls(root: Path, number: int = 1) -> list[Path]:
    return sorted((root / ".seriespub" / "outbox" / f"{number:03d}").glob("*.eml"))


def recipients(root: Path, number: int = 1) -> list[str]:
    """The To address of every .eml of instalment `number`, sorted (duplicates kept)."""
    found = []
    for path in emls(root, number):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append(message["To"].addresses[0].addr_spec)
    return sorted(found)


def releases(cli: Cli, root: Path) -> list[dict[str, Any]]:
    result = ok(cli(root, "schedule", "--json"))
    data = json.loads(result.stdout)
    assert data["timezone"] == "Europe/London"
    return list(data["releases"])


def deliveries(cli: Cli, root: Path, number: int = 1) -> dict[str, str]:
    result = ok(cli(root, "log", str(number), "--json"))
    return {d["email"]: d["status"] for d in json.loads(result.stdout)["deliveries"]}


def run_log(cli: Cli, root: Path) -> list[dict[str, Any]]:
    return list(json.loads(ok(cli(root, "log", "--json")).stdout)["events"])


def pin(root: Path, number: int, release: str) -> None:
    """Add `release: …` to the front matter of draft `number`."""
    path = next((root / "drafts").glob(f"{number:02d}-*.md"))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("---\n", f"---\nrelease: {release}\n", 1), encoding="utf-8")


# -- 1. the calendar ----------------------------------------------------------------------
def test_schedule_json_lists_each_release_with_offset_and_status(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=3, ready=2, extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 20, 12)):
        got = releases(cli, root)
    assert [(r["number"], r["release"], r["status"], r["ready"]) for r in got] == [
        (1, "2026-12-01T09:00:00+00:00", "upcoming", True),
        (2, "2026-12-08T09:00:00+00:00", "upcoming", True),
        (3, "2026-12-15T09:00:00+00:00", "upcoming", False),
    ]
    assert [r["title"] for r in got] == ["Part 1 title", "Part 2 title", "Part 3 title"]


def test_nine_o_clock_holds_across_both_daylight_saving_changes(
    make_series: MakeSeries, cli: Cli
) -> None:
    # Sundays from 2027-02-21: the clocks change on Sun 2027-03-28 and Sun 2027-10-31.
    toml = '[schedule]\nfirst_release = 2027-02-21T09:00:00\ntimezone = "Europe/London"\n'
    root = make_series(drafts=38, subscribers=1, extra_toml=toml)
    with frozen(london(2027, 1, 10)):
        by_date = {r["release"][:10]: r["release"] for r in releases(cli, root)}
    assert len(by_date) == 38
    assert by_date["2027-03-21"] == "2027-03-21T09:00:00+00:00"
    assert by_date["2027-03-28"] == "2027-03-28T09:00:00+01:00"
    assert by_date["2027-10-24"] == "2027-10-24T09:00:00+01:00"
    assert by_date["2027-10-31"] == "2027-10-31T09:00:00+00:00"
    for value in by_date.values():
        local = dt.datetime.fromisoformat(value)
        assert (local.hour, local.minute, local.weekday()) == (9, 0, 6)


def test_skip_dates_are_left_out_and_the_rhythm_continues(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=3, extra_toml=SCHEDULE + "skip = [2026-12-08, 2026-12-22]\n")
    with frozen(london(2026, 11, 20)):
        got = [r["release"] for r in releases(cli, root)]
    assert got == [
        "2026-12-01T09:00:00+00:00",
        "2026-12-15T09:00:00+00:00",
        "2026-12-29T09:00:00+00:00",
    ]


def test_a_pinned_release_overrides_its_slot_and_the_next_follows_it(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=3, extra_toml=SCHEDULE)
    pin(root, 2, "2026-12-20 18:00")
    with frozen(london(2026, 11, 20)):
        got = releases(cli, root)
        status = json.loads(ok(cli(root, "status", "--json")).stdout)
    assert [(r["release"], r["pinned"]) for r in got] == [
        ("2026-12-01T09:00:00+00:00", False),
        ("2026-12-20T18:00:00+00:00", True),
        ("2026-12-29T09:00:00+00:00", False),
    ]  # a cadence after the pin, back on the grid
    assert [i["release"] for i in status["instalments"]] == [r["release"] for r in got]


def test_schedule_json_keeps_stdout_pure_when_it_warns_about_a_draft(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=2, ready=1, extra_toml=SCHEDULE)
    with frozen(london(2026, 12, 1, 9)) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(london(2026, 12, 7, 9))  # part 2, a draft, is due in 24 h
        result = ok(cli(root, "schedule", "--json"))
    data = json.loads(result.stdout)
    assert [r["status"] for r in data["releases"]] == ["sent", "upcoming"]
    assert "part 2 is still a draft and goes out in 24 hours" in result.stderr.replace("\n", " ")


# -- 2. iCalendar export -------------------------------------------------------------------
def test_schedule_ics_writes_one_event_per_instalment_at_its_release(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    from icalendar import Calendar

    toml = '[schedule]\nfirst_release = 2027-03-21T09:00:00\ntimezone = "Europe/London"\n'
    root = make_series(drafts=3, extra_toml=toml)
    target = tmp_path / "releases.ics"
    with frozen(london(2027, 3, 1)):
        result = ok(cli(root, "schedule", "--ics", str(target)))
    assert f"wrote {target}" in result.stderr.replace("\n", "")
    events = Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    starts = {str(e["SUMMARY"]): e.decoded("DTSTART") for e in events}
    assert {k: v.astimezone(UTC) for k, v in starts.items()} == {
        "Part 1: Part 1 title": dt.datetime(2027, 3, 21, 9, 0, tzinfo=UTC),
        "Part 2: Part 2 title": dt.datetime(2027, 3, 28, 8, 0, tzinfo=UTC),  # BST
        "Part 3: Part 3 title": dt.datetime(2027, 4, 4, 8, 0, tzinfo=UTC),
    }
    assert all(v.hour == 9 for v in starts.values())  # local wall clock
    assert len({str(e["UID"]) for e in events}) == 3


# -- 3. send due ---------------------------------------------------------------------------
def test_send_due_before_the_first_slot_sends_nothing_and_says_when(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 30, 9)):
        result = ok(cli(root, "send", "due"))
    assert emls(root) == []
    assert result.stdout == ""
    assert result.stderr.replace("\n", " ").strip() == (
        "Nothing is due. Next release: part 1 (Part 1 title) on Tue 2026-12-01 09:00 GMT, "
        "in 24 hours."
    )


def test_send_due_at_the_slot_sends_part_1_once_to_every_active_reader(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=3, extra_toml=SCHEDULE)
    with open(root / "subscribers.csv", "a") as handle:
        handle.write("gone@example.com,Gone,unsubscribed,2026-01-01\n")
    with frozen(london(2026, 12, 1, 9)):
        ok(cli(root, "send", "due"))
        assert recipients(root) == READERS
        again = ok(cli(root, "send", "due"))
    assert recipients(root) == READERS and emls(root, 2) == []
    assert (
        "Next release: part 2 (Part 2 title) on Tue 2026-12-08 09:00 GMT"
        in again.stderr.replace("\n", " ")
    )


@pytest.mark.parametrize(
    ("first", "early", "slot", "shown"),
    [
        # spring forward: 09:00 BST is 08:00 UTC, an hour earlier in UTC than the week before
        (
            "2027-03-21T09:00:00",
            dt.datetime(2027, 3, 28, 7, 59, tzinfo=UTC),
            dt.datetime(2027, 3, 28, 8, 0, tzinfo=UTC),
            "Sun 2027-03-28 09:00 BST",
        ),
        # fall back: 09:00 GMT is 09:00 UTC; exactly 168 h after the last slot is still too early
        (
            "2027-10-24T09:00:00",
            dt.datetime(2027, 10, 31, 8, 30, tzinfo=UTC),
            dt.datetime(2027, 10, 31, 9, 0, tzinfo=UTC),
            "Sun 2027-10-31 09:00 GMT",
        ),
    ],
)
def test_send_due_keeps_the_local_hour_across_a_clock_change(
    make_series: MakeSeries, cli: Cli, first: str, early: dt.datetime, slot: dt.datetime, shown: str
) -> None:
    toml = f'[schedule]\nfirst_release = {first}\ntimezone = "Europe/London"\n'
    root = make_series(drafts=3, extra_toml=toml)
    with frozen(dt.datetime.fromisoformat(first).replace(tzinfo=LONDON)) as clock:
        ok(cli(root, "send", "due"))
        assert recipients(root, 1) == READERS
        clock.move_to(early)
        result = ok(cli(root, "send", "due"))
        assert emls(root, 2) == []
        assert f"part 2 (Part 2 title) on {shown}" in result.stderr.replace("\n", " ")
        clock.move_to(slot)
        ok(cli(root, "send", "due"))
    assert recipients(root, 2) == READERS and emls(root, 3) == []


# -- 4. a missed backlog -------------------------------------------------------------------
def test_a_missed_backlog_sends_only_the_oldest_and_the_rest_follow_weekly(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=3, extra_toml=SCHEDULE)
    with frozen(london(2026, 12, 22, 10)) as clock:  # three weeks late, nothing sent
        ok(cli(root, "send", "due"))
        assert recipients(root, 1) == READERS and emls(root, 2) == emls(root, 3) == []
        ok(cli(root, "send", "due"))  # the next tick the same day
        assert emls(root, 2) == []
        clock.move_to(london(2026, 12, 29, 10))
        ok(cli(root, "send", "due"))
    assert recipients(root, 2) == READERS and emls(root, 3) == []
    assert recipients(root, 1) == READERS


def test_catch_up_all_sends_every_overdue_instalment_in_one_run(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=5, extra_toml=SCHEDULE + 'catch_up = "all"\n')
    with frozen(london(2026, 12, 22, 10)):  # slots 1-4 have passed
        ok(cli(root, "send", "due"))
        got = releases(cli, root)
        ok(cli(root, "send", "due"))
    for number in (1, 2, 3, 4):
        assert recipients(root, number) == READERS  # once each, not twice
    assert emls(root, 5) == []
    assert [(r["release"][:10], r["status"]) for r in got] == [
        ("2026-12-01", "sent"),
        ("2026-12-08", "sent"),
        ("2026-12-15", "sent"),
        ("2026-12-22", "sent"),
        ("2026-12-29", "upcoming"),
    ]  # slot N kept for part N


# -- 5. a partial send resumed -------------------------------------------------------------
def test_send_due_finishes_an_interrupted_send_for_exactly_the_missing_readers(
    make_series: MakeSeries, cli: Cli
) -> None:
    from seriespub.ledger import Ledger

    root = make_series(drafts=2, subscribers=4, extra_toml=SCHEDULE)
    readers = [f"reader{i:04d}@example.com" for i in range(1, 5)]
    with frozen(london(2026, 12, 1, 9)):
        ok(cli(root, "send", "due"))
    # As if that run had been killed after writing only reader 1's and reader 2's files:
    # the last batch is pending in the ledger and the instalment is not finished.
    for path in emls(root):
        if str(email.message_from_bytes(path.read_bytes())["To"]).endswith(
            ("reader0003@example.com>", "reader0004@example.com>")
        ):
            path.unlink()
    assert recipients(root) == readers[:2]
    with Ledger.open(root / ".seriespub/ledger.db") as ledger:
        ledger.begin_batch(1, "001-killed", "outbox", readers)
        ledger.mark_finished(1, None)
    with frozen(london(2026, 12, 1, 10)):
        assert [r["status"] for r in releases(cli, root)] == ["sending", "upcoming"]
        ok(cli(root, "send", "due"))
    assert recipients(root) == readers  # each exactly once
    assert deliveries(cli, root) == dict.fromkeys(readers, "sent")
    assert emls(root, 2) == []  # part 2 keeps its own slot


def test_send_due_resends_a_batch_that_died_before_anything_was_written(
    make_series: MakeSeries, cli: Cli
) -> None:
    from seriespub.ledger import Ledger

    root = make_series(drafts=2, extra_toml=SCHEDULE)
    with Ledger.open(root / ".seriespub/ledger.db") as ledger:
        ledger.begin_batch(1, "001-died", "outbox", READERS)
        ledger.mark_started(1, "Part 1 title", "Part 1 title", london(2026, 12, 1, 9))
    # The outbox is made before a batch is recorded (`OutboxProvider.open`); one missing
    # beside pending batches was moved away, and those become unknown instead
    # (tests/test_resume_changes.py).
    (root / ".seriespub" / "outbox").mkdir(mode=0o700)
    with frozen(london(2026, 12, 1, 9, 5)):
        ok(cli(root, "send", "due"))
        ok(cli(root, "send", "due"))
    assert recipients(root) == READERS
    assert deliveries(cli, root) == dict.fromkeys(READERS, "sent")


# -- 6. the lock against a real second process ----------------------------------------------
HOLDER = textwrap.dedent("""
    import contextlib, sys
    from pathlib import Path
    import time_machine
    from seriespub.lock import series_lock

    # On the test's clock when it gives one (the lock notes when it was taken).
    clock = time_machine.travel(sys.argv[2]) if len(sys.argv) > 2 else contextlib.nullcontext()
    with clock, series_lock(Path(sys.argv[1]), "send due"):
        print("locked", flush=True)
        sys.stdin.readline()
""")


@pytest.fixture
def lock_holder() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a real second process that holds the series lock until its stdin closes."""
    started: list[subprocess.Popen[str]] = []

    def start(root: Path, at: dt.datetime | None = None) -> subprocess.Popen[str]:
        clock = [at.isoformat()] if at is not None else []
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root / ".seriespub"), *clock],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.__exit__(None, None, None)  # closes its pipes


def test_a_second_process_holding_the_lock_stops_send_due_and_send_next(
    make_series: MakeSeries, cli: Cli, lock_holder: Callable[..., subprocess.Popen[str]]
) -> None:
    """Beside another send (`send due` here), a cron tick's `send due` has nothing to do
    (exit 0, one line); `send next` by hand is refused."""
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    holder = lock_holder(root, london(2026, 12, 1, 9, 0))
    with frozen(london(2026, 12, 1, 9, 5)):
        for args, code, words in (
            (("send", "due"), 0, f"another send (pid {holder.pid}, since "),
            (("send", "next", "--yes"), 1, f"another seriespub run (pid {holder.pid}, send due"),
        ):
            result = cli(root, *args)
            assert result.exit_code == code, result.output
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert words in lines[0]
            assert "Traceback" not in result.output
        assert emls(root) == []
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(10) == 0
        ok(cli(root, "send", "due"))
    assert recipients(root) == READERS


# -- 7. the unattended run log --------------------------------------------------------------
def test_send_due_logs_what_was_due_and_sent_and_an_idle_run_logs_nothing(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 30, 9)):
        ok(cli(root, "send", "due"))  # too early: idle
        assert run_log(cli, root) == []
    with frozen(london(2026, 12, 1, 9, 5)):
        ok(cli(root, "send", "due"))
        events = run_log(cli, root)
        log_file = root / ".seriespub" / "log.jsonl"
        before = log_file.read_bytes()
        ok(cli(root, "send", "due"))  # part 1 done, part 2 not due
        assert log_file.read_bytes() == before
        text = ok(cli(root, "log")).stdout
    assert [(e["event"], e["instalment"]) for e in events] == [("due", 1), ("sent", 1)]
    assert events[0]["release"] == "2026-12-01T09:00:00+00:00"
    assert events[1]["sent"] == 3 and events[1]["finished"] is True
    assert all(e["ts"] == "2026-12-01T09:05:00+00:00" for e in events)
    assert "due" in text and "sent" in text


def test_catch_up_all_logs_what_was_sent_even_when_a_later_instalment_fails(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=3, ready=2, extra_toml=SCHEDULE + 'catch_up = "all"\n')
    with frozen(london(2026, 12, 22, 10)):
        result = cli(root, "send", "due")
        assert (
            result.exit_code == 1
            and "part 3 ('Part 3 title') is still a draft" in result.stderr.replace("\n", " ")
        )
        assert recipients(root, 1) == recipients(root, 2) == READERS  # these did go out
        events = run_log(cli, root)
    sent = [e["instalment"] for e in events if e["event"] == "sent"]
    assert sent == [1, 2]


def test_send_due_json_is_one_json_document_on_stdout(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=2, extra_toml=SCHEDULE)
    with frozen(london(2026, 12, 1, 9, 5)):
        result = ok(cli(root, "send", "due", "--json"))
    assert recipients(root) == READERS
    data = json.loads(result.stdout)
    assert [(r["instalment"], r["sent"]) for r in data["sent"]] == [(1, 3)]
    assert data["next"]["release"] == "2026-12-08T09:00:00+00:00"


def test_send_due_logs_an_error_that_stopped_the_send(make_series: MakeSeries, cli: Cli) -> None:
    delivery = '[delivery]\nprovider = "resend"\n'  # and no RESEND_API_KEY: a CI secret
    root = make_series(drafts=2, delivery=delivery, extra_toml=SCHEDULE)  # never added
    with frozen(london(2026, 12, 1, 9, 5)):
        result = cli(root, "send", "due")
        assert result.exit_code == 1 and "RESEND_API_KEY" in result.stderr
        events = run_log(cli, root)
    assert [e["event"] for e in events] == ["due", "error"]
    assert "RESEND_API_KEY" in events[1]["error"]


# -- 8. a CI runner that forgets everything -------------------------------------------------
def workflow_text(cli: Cli, root: Path) -> str:
    return str(ok(cli(root, "schedule", "install", "--repo-path", "letters")).stdout)


def test_a_fresh_checkout_with_the_committed_record_picks_up_where_the_last_run_left(
    make_series: MakeSeries, cli: Cli, tmp_path: Path
) -> None:
    a = make_series(drafts=3, extra_toml=SCHEDULE, name="run-a")
    with frozen(london(2026, 12, 1, 9, 5)):
        ok(cli(a, "send", "due"))
        installed = workflow_text(cli, a)
    assert recipients(a) == READERS
    state = a / ".seriespub"
    assert not list(state.glob("ledger.db-*"))  # one file between runs: no -wal/-shm
    add_line = next(line for line in installed.splitlines() if "git add -f" in line)
    committed = [".seriespub/ledger.db", ".seriespub/log.jsonl"]
    assert all(name in add_line for name in committed)

    b = tmp_path / "run-b"  # what `actions/checkout` gives
    b.mkdir()
    for name in ("seriespub.toml", "subscribers.csv", "drafts", *committed):
        source, target = a / name, b / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    with frozen(london(2026, 12, 1, 10, 5)):  # the next hourly run
        ok(cli(b, "send", "due"))
        assert not (b / ".seriespub" / "outbox" / "001").exists()
    with frozen(london(2026, 12, 8, 9, 5)):
        ok(cli(b, "send", "due"))
    assert not (b / ".seriespub" / "outbox" / "001").exists()
    assert recipients(b, 2) == READERS and emls(b, 3) == []
    assert not list((b / ".seriespub").glob("ledger.db-*"))
    # The same SERIESPUB_SECRET keeps every reader's unsubscribe link the same across runs.
    first = email.message_from_bytes(emls(a)[0].read_bytes(), policy=email.policy.default)
    second = email.message_from_bytes(emls(b, 2)[0].read_bytes(), policy=email.policy.default)
    assert first["To"] == second["To"]
    assert first["List-Unsubscribe"] == second["List-Unsubscribe"]


def test_schedule_install_prints_a_serialised_workflow_that_commits_the_real_ledger(
    make_series: MakeSeries, cli: Cli
) -> None:
    from seriespub.series import find_series

    root = make_series(extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 20)):
        text = workflow_text(cli, root)
    assert "concurrency:" in text and "cancel-in-progress: false" in text
    assert "seriespub send due" in text
    assert '- cron: "0 * * * *"' in text  # 09:00 GMT is minute 0 UTC
    ledger = find_series(explicit=root).ledger_path
    assert ledger == root / ".seriespub" / "ledger.db"
    add_line = next(line for line in text.splitlines() if "git add -f" in line)
    assert ".seriespub/ledger.db" in add_line and "secret" not in add_line


# -- 9. provider-side scheduling -------------------------------------------------------------


def resend_series(make_series: MakeSeries, url: str, schedule: str = SCHEDULE) -> Path:
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    return make_series(drafts=2, delivery=delivery, extra_toml=schedule)


def scheduled_posts(state: ResendState) -> list[dict[str, Any]]:
    return [
        json.loads(r["body"])
        for r in state.requests
        if r["method"] == "POST" and r["path"] == "/emails"
    ]


def test_send_next_at_hands_the_send_to_resend_and_cancel_withdraws_it(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    root = resend_series(make_series, url)
    with frozen(london(2026, 11, 30, 9)) as clock:
        result = ok(cli(root, "send", "next", "--yes", "--at", "2026-12-01 09:00"))
        assert "scheduled 3" in result.stdout
        posts = scheduled_posts(state)
        assert sorted(p["to"][0] for p in posts) == READERS
        assert {p["scheduled_at"] for p in posts} == {"2026-12-01T09:00:00Z"}
        status = json.loads(ok(cli(root, "status", "--json")).stdout)
        assert status["instalments"][0]["state"] == "scheduled"
        assert status["instalments"][0]["scheduled"] == 3
        assert deliveries(cli, root) == dict.fromkeys(READERS, "scheduled")
        ids = {e.id for e in state.emails.values()}

        result = ok(cli(root, "send", "cancel", "1", "--yes"))
        assert "3 scheduled deliveries cancelled" in result.stdout
        cancels = {r["path"] for r in state.requests if r["path"].endswith("/cancel")}
        assert cancels == {f"/emails/{i}/cancel" for i in ids}
        assert all(state.messages_to(a) == [] for a in READERS)
        assert deliveries(cli, root) == dict.fromkeys(READERS, "cancelled")

        clock.move_to(london(2026, 12, 1, 9, 30))
        ok(cli(root, "send", "next", "--yes"))
    assert all(len(state.messages_to(a)) == 1 for a in READERS)
    assert all(m.scheduled_at is None for a in READERS for m in state.messages_to(a))
    assert deliveries(cli, root) == dict.fromkeys(READERS, "sent")


def test_a_held_send_says_scheduled_for_its_time_not_sent(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """The provider holds the mail: progress, summary and report say it is scheduled, and
    for when; nothing says it was sent."""
    url, _ = resend
    root = resend_series(make_series, url)
    with frozen(london(2026, 11, 30, 9)):
        result = ok(cli(root, "send", "next", "--yes", "--at", "2026-12-01 09:00"))
        assert "scheduled 3/3 for 2026-12-01 09:00 UTC, failed 0" in result.stderr
        assert "sent 3/3" not in result.stderr
        assert result.stdout.startswith("Part 1: scheduled 3 for 2026-12-01 09:00 UTC, failed 0")
        assert "sent" not in result.stdout
        ok(cli(root, "send", "cancel", "1", "--yes"))
        result = ok(cli(root, "send", "next", "--yes", "--at", "2026-12-01 09:00", "--json"))
    report = json.loads(result.stdout)
    assert (report["sent"], report["scheduled"]) == (0, 3)
    assert dt.datetime.fromisoformat(report["send_at"]) == london(2026, 12, 1, 9)
    assert "scheduled 3/3 for" in result.stderr


def test_a_held_send_on_a_terminal_shows_scheduling_for_its_time(
    make_series: MakeSeries, resend: tuple[str, ResendState]
) -> None:
    from test_cli_refused_send import answer_on_a_terminal, in_hours

    url, state = resend
    root = resend_series(make_series, url, schedule="")
    at = in_hours(2)
    code, output = answer_on_a_terminal(root, "y", "send", "next", "--at", at)
    assert code == 0, output
    assert f"scheduling for {at[:10]} {at[11:16]} UTC" in output
    assert "sending" not in output
    assert len(scheduled_posts(state)) == len(READERS)


def test_send_next_at_slot_uses_the_calendar_slot_in_summer_time(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    summer = '[schedule]\nfirst_release = 2027-06-01T09:00:00\ntimezone = "Europe/London"\n'
    root = resend_series(make_series, url, summer)
    with frozen(london(2027, 5, 31, 9)):
        ok(cli(root, "send", "next", "--yes", "--at", "slot"))
    assert {p["scheduled_at"] for p in scheduled_posts(state)} == {"2027-06-01T08:00:00Z"}
    assert len(scheduled_posts(state)) == len(READERS)


@pytest.mark.parametrize(
    ("now", "at", "expected"),
    [
        (london(2027, 5, 31), "2027-06-01 09:00", "2027-06-01T08:00:00Z"),  # series zone, BST
        (london(2026, 11, 30), "2026-12-01T09:00+01:00", "2026-12-01T08:00:00Z"),  # own offset
        (london(2026, 11, 30), "2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z"),
    ],
)
def test_send_next_at_reads_the_time_in_the_series_zone_unless_it_has_an_offset(
    make_series: MakeSeries,
    cli: Cli,
    resend: tuple[str, ResendState],
    now: dt.datetime,
    at: str,
    expected: str,
) -> None:
    url, state = resend
    root = resend_series(make_series, url)
    with frozen(now):
        ok(cli(root, "send", "next", "--yes", "--at", at))
    assert [p["scheduled_at"] for p in scheduled_posts(state)] == [expected] * len(READERS)


def test_send_due_leaves_a_send_the_provider_holds_alone(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    root = resend_series(make_series, url)
    with frozen(london(2026, 11, 30, 9)) as clock:
        ok(cli(root, "send", "next", "--yes", "--at", "slot"))
        for when in (london(2026, 11, 30, 10), london(2026, 12, 1, 9), london(2026, 12, 1, 10)):
            clock.move_to(when)
            result = ok(cli(root, "send", "due"))
            assert (
                "Next release: part 2 (Part 2 title) on Tue 2026-12-08 09:00 GMT"
                in result.stderr.replace("\n", " ")
            )
    assert len(state.requests) == len(READERS)  # the three scheduled POSTs only
    assert all(len(state.messages_to(a)) == 1 for a in READERS)


def test_the_outbox_cannot_hold_a_send_until_a_time(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 30, 9)):
        result = cli(root, "send", "next", "--yes", "--at", "2026-12-01 09:00")
    assert result.exit_code == 1, result.output
    assert "the outbox provider cannot hold messages until a time" in result.stderr
    assert emls(root) == []


def test_send_at_beyond_the_providers_limit_is_refused_naming_it(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, state = sendgrid
    delivery = f'[delivery]\nprovider = "sendgrid"\n[delivery.sendgrid]\napi_url = "{url}"\n'
    root = make_series(delivery=delivery, extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 21, 9)):
        result = cli(root, "send", "next", "--yes", "--at", "2026-12-01 09:00")
    assert result.exit_code == 1, result.output
    assert "too far ahead" in result.stderr
    assert "sendgrid holds messages for at most 3 days" in result.stderr.replace("\n", " ")
    assert state.accepted == []


def test_send_at_that_is_not_a_date_is_refused(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    root = resend_series(make_series, url)
    with frozen(london(2026, 11, 30, 9)):
        result = cli(root, "send", "next", "--yes", "--at", "not a date")
    assert result.exit_code == 1, result.output
    assert "'not a date' is not a date and time" in result.stderr
    assert state.emails == {}


# -- 10. bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("args", [("schedule",), ("send", "due"), ("status",)])
def test_an_unknown_time_zone_is_a_one_line_error_naming_the_setting(
    make_series: MakeSeries, cli: Cli, args: tuple[str, ...]
) -> None:
    toml = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Mars/Olympus"\n'
    root = make_series(extra_toml=toml)
    with frozen(london(2026, 12, 1, 9)):
        result = cli(root, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("error:") and "schedule.timezone" in first
    assert "Mars/Olympus" in first
    assert emls(root) == []


def test_the_schedule_example_written_by_init_works_once_uncommented(
    cli: Cli, tmp_path: Path
) -> None:
    ok(cli(tmp_path, "init", "letters", "--title", "Letters"))
    config = tmp_path / "letters" / "seriespub.toml"
    lines = config.read_text(encoding="utf-8").splitlines()
    start = lines.index("# [schedule]")
    example = [line.removeprefix("# ") for line in lines[start : start + 4]]
    config.write_text("\n".join(lines[:start] + example) + "\n", encoding="utf-8")
    with frozen(london(2026, 12, 1)):
        result = cli(tmp_path / "letters", "schedule", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["releases"][0]["release"] == "2027-01-05T09:00:00+00:00"


def test_the_calendar_prints_as_plain_aligned_columns(make_series: MakeSeries, cli: Cli) -> None:
    """One line per part under a header, each column starting where its header does."""
    root = make_series(drafts=2, ready=1, extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 28, 12)):
        result = ok(cli(root, "schedule"))
    title, header, *rows = result.stdout.splitlines()
    assert title == "Test Series (Europe/London)"
    assert header.split() == ["#", "Title", "Release", "When", "Status"]
    assert [row[header.index("Release") :].split("  ")[0] for row in rows] == [
        "Tue 2026-12-01 09:00 GMT",
        "Tue 2026-12-08 09:00 GMT",
    ]
    assert rows[1].endswith("upcoming (draft)") and rows[0].endswith("upcoming")


def test_status_does_not_say_every_part_went_out_while_one_is_held(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, _ = resend
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    root = make_series(drafts=1, delivery=delivery, extra_toml=SCHEDULE)
    with frozen(london(2026, 11, 30, 9)):
        ok(cli(root, "send", "next", "--yes", "--at", "2026-12-01 09:00"))
        status = ok(cli(root, "status")).stdout
    assert "Every instalment has gone out" not in status
    assert (
        "Every instalment is handed over; part 1 is held by the provider until Tue 2026-12-01 09:00"
        in status
    )
    with frozen(london(2026, 12, 2, 9)):
        status = ok(cli(root, "status")).stdout
    assert "Every instalment has gone out." in status


# -- a calendar changed mid-series ---------------------------------------------------------
NEW_YORK = ZoneInfo("America/New_York")


def change_calendar(root: Path, old: str, new: str) -> None:
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new), encoding="utf-8")


def two_sent_then_moved(make_series: MakeSeries, cli: Cli) -> Path:
    """Parts 1 and 2 sent at their London slots, then the calendar moved to New York,
    starting 2027-01-05 (a slot that part 1 and 2 never had)."""
    root = make_series(drafts=4, extra_toml=SCHEDULE)
    for day in (1, 8):
        with frozen(london(2026, 12, day, 9)):
            ok(cli(root, "send", "due"))
    change_calendar(root, "2026-12-01T09:00:00", "2027-01-05T09:00:00")
    change_calendar(root, "Europe/London", "America/New_York")
    return root


def test_after_a_calendar_change_schedule_shows_when_sent_parts_went_out(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = two_sent_then_moved(make_series, cli)
    with frozen(london(2026, 12, 10, 12)):
        data = json.loads(ok(cli(root, "schedule", "--json")).stdout)
        text = ok(cli(root, "schedule")).stdout
    sent = [r for r in data["releases"] if r["status"] == "sent"]
    assert [dt.datetime.fromisoformat(r["sent_at"]) for r in sent] == [
        london(2026, 12, 1, 9),
        london(2026, 12, 8, 9),
    ]
    rows = {line.split()[0]: line for line in text.splitlines() if line[:1].isdigit()}
    assert "Tue 2026-12-01 04:00 EST" in rows["1"] and "9 days ago" in rows["1"]
    assert "Tue 2026-12-08 04:00 EST" in rows["2"] and "2 days ago" in rows["2"]
    assert "Tue 2027-01-05 09:00 EST" in rows["3"]  # the new calendar's first slot


def test_status_shows_sent_times_in_the_series_zone_as_schedule_does(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = two_sent_then_moved(make_series, cli)
    with frozen(london(2026, 12, 10, 12)):
        status = ok(cli(root, "status")).stdout
        idle = ok(cli(root, "send", "due"))
    rows = {line.split()[0]: line for line in status.splitlines() if line[:1].isdigit()}
    assert "Tue 2026-12-01 04:00" in rows["1"] and "Tue 2026-12-08 04:00" in rows["2"]
    assert "Tue 2027-01-05 09:00" in rows["3"]
    assert "part 3 (Part 3 title) on Tue 2027-01-05 09:00 EST" in idle.stderr.replace("\n", " ")


def test_a_calendar_change_neither_resends_nor_skips_a_part(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = two_sent_then_moved(make_series, cli)
    with frozen(dt.datetime(2027, 1, 5, 9, tzinfo=NEW_YORK)) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2027, 1, 12, 9, tzinfo=NEW_YORK))
        ok(cli(root, "send", "due"))
    for number in (1, 2, 3, 4):
        assert recipients(root, number) == READERS, number


def test_preview_of_a_sent_part_says_when_it_went_out_after_a_calendar_change(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = two_sent_then_moved(make_series, cli)
    with frozen(london(2026, 12, 10, 12)):
        shown = ok(cli(root, "preview", "1")).stdout
    assert "Tue 2026-12-01 04:00 EST (9 days ago, sent)" in shown, shown


def test_a_folder_with_a_line_break_is_refused_in_one_line(
    make_series: Callable[..., Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    """cron and systemd read one entry per line: a folder name holding a line break would
    split the crontab line and the unit files, so `schedule install` says so instead."""
    root = make_series()
    odd = root.rename(tmp_path / "Letters\nfrom home")
    result = cli(odd, "schedule", "install")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 2 and "line break" in lines[0], result.stderr
    assert "Traceback" not in result.output and "crontab" not in result.stdout
