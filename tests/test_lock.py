"""The series lock against a real second process."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from seriespub.errors import LockHeld
from seriespub.lock import LockHolder, current_holder, held_message, series_lock

Cli = Callable[..., Any]
SCHEDULE = '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from seriespub.lock import series_lock

    with series_lock(Path(sys.argv[1]), "send due"):
        print("locked", flush=True)
        sys.stdin.readline()          # hold until the test says so (or is killed)
""")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A second process holding the lock on tmp_path/.seriespub until its stdin closes."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / ".seriespub")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:  # closes its pipes at the end
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        yield proc
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_a_second_run_is_told_who_holds_the_lock(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockHeld) as caught, series_lock(tmp_path / ".seriespub", "send next"):
        pytest.fail("took a lock that another process holds")
    message = str(caught.value)
    assert f"another seriespub run (pid {holder.pid}, send due, since " in message
    assert message.endswith("is sending for this series; try again when it finishes")
    found = current_holder(tmp_path / ".seriespub")
    assert found is not None and (found.pid, found.purpose) == (holder.pid, "send due")


def test_the_lock_is_free_once_the_holder_exits(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(10) == 0
    assert current_holder(tmp_path / ".seriespub") is None
    with series_lock(tmp_path / ".seriespub", "send due") as me:
        assert me.pid == os.getpid()
        note = json.loads((tmp_path / ".seriespub" / "lock").read_text())
        assert note["purpose"] == "send due" and note["pid"] == os.getpid()
    assert (tmp_path / ".seriespub" / "lock").read_text() == ""


def test_a_killed_holder_does_not_leave_the_lock_blocked(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert json.loads((tmp_path / ".seriespub" / "lock").read_text())["pid"] == holder.pid
    with series_lock(tmp_path / ".seriespub", "send due") as me:
        assert me.purpose == "send due"


def test_the_lock_is_exclusive_within_one_process_too(tmp_path: Path) -> None:
    with (
        series_lock(tmp_path, "send due"),
        pytest.raises(LockHeld, match=str(os.getpid())),
        series_lock(tmp_path, "send next"),
    ):
        pytest.fail("took the lock twice")
    with series_lock(tmp_path, "again"):
        pass


def test_a_failure_inside_the_block_releases_the_lock(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), series_lock(tmp_path, "send due"):
        raise RuntimeError("provider down")
    with series_lock(tmp_path, "send due"):
        pass


def test_message_names_another_host_and_copes_with_no_note() -> None:
    other = LockHolder(42, "ci-runner", "send due", "2020-01-01T09:00:02+00:00")
    text = held_message(other, here="laptop")
    assert text.startswith(
        "another seriespub run (pid 42 on ci-runner, send due, since 2020-01-01 "
    )
    assert held_message(None).startswith("another seriespub run is sending")


def test_holder_is_none_without_a_lock_file(tmp_path: Path) -> None:
    assert current_holder(tmp_path) is None
    started = time.monotonic()
    with series_lock(tmp_path, "x"):
        pass
    assert time.monotonic() - started < 1


# -- `send due` beside another send (cron ticks during a long, rate-limited send) -----------
HOLD_AS = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from seriespub.lock import series_lock

    state, purpose, note = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    note = note.replace("SELF", str(os.getpid()))  # this process: alive while it holds
    with series_lock(state, purpose):
        if note:  # what another host, or a process that is gone, would have written
            fd = os.open(state / "lock", os.O_WRONLY)
            os.ftruncate(fd, 0)
            os.write(fd, note.encode())
            os.close(fd)
        print("locked", flush=True)
        sys.stdin.readline()
""")


@contextmanager
def held_as(root: Path, purpose: str, note: str = "") -> Iterator[subprocess.Popen[str]]:
    """Another process holding `root`'s series lock as `purpose` (its note replaced by
    `note` when given) until the block ends."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_AS, str(root / ".seriespub"), purpose, note],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        try:
            yield proc
        finally:
            proc.kill()
            proc.wait(10)


def _exited_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    return proc.pid


@pytest.mark.parametrize("purpose", ["send due", "send next", "send 2"])
def test_send_due_beside_another_send_here_has_nothing_to_do(
    make_series: Callable[..., Path], cli: Cli, purpose: str
) -> None:
    root = make_series(drafts=1, subscribers=2, extra_toml=SCHEDULE)
    with held_as(root, purpose) as other:
        result = cli(root, "send", "due")
        assert result.exit_code == 0, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"another send (pid {other.pid}, since ")
        assert lines[0].endswith(") is running: nothing to do")
        assert result.stdout == ""
        as_json = cli(root, "send", "due", "--json")
        assert as_json.exit_code == 0, as_json.output
        data = json.loads(as_json.stdout)
    assert data["sent"] == [] and data["running"]["pid"] == other.pid
    assert data["running"]["purpose"] == purpose
    assert not (root / ".seriespub" / "outbox").exists()


@pytest.mark.parametrize(
    ("purpose", "note"),
    [
        ("send settle", ""),  # not a send
        ("send cancel", ""),
        ("send due", '{"pid": PID, "host": "HOST", "purpose": "send due", "started_at": "x"}'),
        ("send due", '{"pid": 1, "host": "elsewhere", "purpose": "send due", "started_at": "x"}'),
        ("send due", "{}"),  # a note that names nobody
    ],
)
def test_send_due_beside_anything_else_fails_as_before(
    make_series: Callable[..., Path], cli: Cli, purpose: str, note: str
) -> None:
    """Not a send, a holder whose process is gone (PID: one that has exited), one on
    another host, or one that cannot be told."""
    root = make_series(drafts=1, subscribers=2, extra_toml=SCHEDULE)
    note = note.replace("PID", str(_exited_pid())).replace("HOST", os.uname().nodename)
    with held_as(root, purpose, note):
        result = cli(root, "send", "due")
    assert result.exit_code == 1, result.output
    assert "is sending for this series; try again when it finishes" in result.stderr


def test_only_send_due_waits_out_another_send(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1, subscribers=2, extra_toml=SCHEDULE)
    with held_as(root, "send due"):
        for command in (["send", "next", "--yes"], ["send", "retry", "1", "--yes"]):
            result = cli(root, *command)
            assert result.exit_code == 1, result.output
            assert "is sending for this series" in result.stderr


def test_send_due_beside_a_send_running_for_over_a_day_reports_it(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """A send that has held the lock for more than a day may be stuck: cron should hear."""
    root = make_series(drafts=1, subscribers=2, extra_toml=SCHEDULE)
    started = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)).isoformat()
    note = json.dumps(
        {"pid": 0, "host": os.uname().nodename, "purpose": "send next", "started_at": started}
    ).replace('"pid": 0', '"pid": SELF')
    with held_as(root, "send next", note):
        result = cli(root, "send", "due")
    assert result.exit_code == 1, result.output
    assert "is sending for this series" in result.stderr


# -- the lock between two runs: held, its note not yet (or no longer) written -------------
# A run takes the flock, then writes its note; it blanks the note, then lets go. A second run
# that comes in between finds the lock held by nobody it can name.
BETWEEN = textwrap.dedent("""
    import datetime as dt, fcntl, json, os, sys, time

    path, then = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)                       # held, with no note yet (or any more)
    print("locked", flush=True)
    time.sleep(0.3)
    if then == "writes its note":             # a run starting: it names itself
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        note = {"pid": os.getpid(), "host": os.uname().nodename, "purpose": "send next",
                "started_at": started}
        os.pwrite(fd, json.dumps(note).encode(), 0)
        sys.stdin.readline()
    # else a run ending: it lets go
""")


@pytest.mark.parametrize("then", ["writes its note", "lets go"])
def test_send_due_in_the_instant_between_two_runs_is_not_refused(
    make_series: Callable[..., Path], cli: Cli, then: str
) -> None:
    """A cron tick that meets the lock in that instant waits for the note (then has nothing
    to do, as beside any send) or for the lock (then sends): it is not refused."""
    root = make_series(drafts=1, subscribers=2, extra_toml=SCHEDULE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    with subprocess.Popen(
        [sys.executable, "-c", BETWEEN, str(root / ".seriespub" / "lock"), then],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as other:
        try:
            assert other.stdout is not None and other.stdout.readline() == "locked\n"
            result = cli(root, "send", "due")
        finally:
            other.kill()
            other.wait(10)
    assert result.exit_code == 0, result.output
    sent = list((root / ".seriespub" / "outbox").glob("*/*.eml"))
    if then == "lets go":
        assert len(sent) == 2, result.stderr
    else:
        assert result.stderr.startswith(f"another send (pid {other.pid}, since "), result.stderr
        assert sent == []
