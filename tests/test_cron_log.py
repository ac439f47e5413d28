"""`.seriespub/cron.log` as an author reads it: every line stamped with the local date and
time, idle ticks written once per change of what is next (and once a day), the file kept
under its size by one `.1` rotation, and a log that cannot be written never failing a send.

Each test runs the real CLI as a child process (cron's job is one), on real files: the
crontab line's own command (`send due --log .seriespub/cron.log`), the line earlier
versions printed (`send due >> .seriespub/cron.log 2>&1`), and /dev/full for a full disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import postmark_delivery
from instalments import run_seriespub, seriespub_env, start_seriespub
from seriespub.cli.cronlog import LIMIT

LOG = ".seriespub/cron.log"
INDIA = {"TZ": "Asia/Kolkata"}  # +05:30 all year: the offset is the machine's, not UTC
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30) (.+)$")


def due_series(make_series: Any, *, delivery: str = "") -> Path:
    """Part 1's slot was yesterday (unsent: due now); part 2's is a cadence ahead."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    root: Path = make_series(
        delivery=delivery,
        extra_toml=f'[schedule]\nfirst_release = {yesterday}T09:00:00\ntimezone = "UTC"\n',
    )
    (root / ".seriespub").mkdir(mode=0o700, exist_ok=True)
    return root


def tick(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """One tick of the new crontab line's command."""
    done: subprocess.CompletedProcess[str] = run_seriespub(
        root, "send", "due", "--log", LOG, *extra, env=INDIA
    )
    return done


def stamped(root: Path, name: str = LOG) -> list[tuple[dt.datetime, str]]:
    """(stamp, text) of every line of the log; fails on a line without a stamp."""
    return stamped_lines((root / name).read_text(encoding="utf-8").splitlines())


def stamped_lines(lines: list[str]) -> list[tuple[dt.datetime, str]]:
    found = []
    for line in lines:
        match = STAMP.match(line)
        assert match, f"a line without its date and time: {line!r}"
        found.append((dt.datetime.fromisoformat(match.group(1)), match.group(2)))
    return found


def test_a_send_and_the_idle_tick_after_it_are_stamped(make_series: Any) -> None:
    root = due_series(make_series)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    done = tick(root)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")  # all of it went to the log
    lines = stamped(root)
    texts = [text for _, text in lines]
    assert texts[0] == "Part 1: 'Part 1 title'", texts
    assert "sent 3/3, failed 0, " in " ".join(texts)
    assert any(text.startswith("Part 1: sent 3, scheduled 0, failed 0") for text in texts)
    after = dt.datetime.now(dt.UTC)
    assert all(before <= when <= after for when, _ in lines), lines

    assert tick(root).returncode == 0
    text = stamped(root)[-1][1]
    assert text.startswith("Nothing is due. Next release: part 2 (Part 2 title) on "), text
    assert ", in " not in text  # the stamp says when; "in 13 days" would only go stale


def test_idle_ticks_write_once_per_change_and_once_a_day(make_series: Any) -> None:
    root = due_series(make_series)
    for _ in range(2):  # the send, then the first idle line
        assert tick(root).returncode == 0
    written = (root / LOG).read_bytes()
    assert tick(root).returncode == 0
    assert (root / LOG).read_bytes() == written  # the same news: nothing added

    # A day after the last line, the same news again: the author sees cron is alive.
    lines = (root / LOG).read_text(encoding="utf-8").splitlines(keepends=True)
    stamp, _, text = lines[-1].partition(" ")
    old = dt.datetime.fromisoformat(stamp) - dt.timedelta(hours=25)
    lines[-1] = f"{old.isoformat()} {text}"
    (root / LOG).write_text("".join(lines), encoding="utf-8")
    assert tick(root).returncode == 0
    assert [t for _, t in stamped(root)[-2:]] == [text.rstrip("\n")] * 2

    # What is next changes (a new part written before part 2's slot): one new line.
    (root / "drafts" / "02-part-2.md").unlink()
    assert tick(root).returncode == 0
    assert stamped(root)[-1][1] == (
        "Nothing is due, and no release is planned: write the next instalment."
    )


def test_the_same_refusal_tick_after_tick_is_written_once_a_day(make_series: Any) -> None:
    """A due part left a draft refuses every tick (exit 1) until the author marks it ready:
    its error and hint go in once, not twice every 5 minutes; again after a day, or when
    the refusal changes."""
    root = due_series(make_series)
    draft = next((root / "drafts").glob("01-*.md"))
    ready = draft.read_text()
    draft.write_text(ready.replace("status: ready", "status: draft"))
    for _ in range(3):
        assert tick(root).returncode == 1
    texts = [text for _, text in stamped(root)]
    assert len(texts) == 2, texts
    assert texts[0].startswith("error: ") and "still a draft" in texts[0], texts
    assert texts[1].startswith("hint: "), texts

    # A day on, the same refusal again: the author sees it still stands.
    older = []
    for line in (root / LOG).read_text(encoding="utf-8").splitlines(keepends=True):
        stamp, _, text = line.partition(" ")
        when = dt.datetime.fromisoformat(stamp) - dt.timedelta(hours=25)
        older.append(f"{when.isoformat()} {text}")
    (root / LOG).write_text("".join(older), encoding="utf-8")
    assert tick(root).returncode == 1
    assert [t for _, t in stamped(root)] == texts * 2

    # Another refusal (the draft unreadable): written at once.
    draft.write_text("no front matter here\n")
    assert tick(root).returncode == 1
    last = [t for _, t in stamped(root)][4:]
    assert last and last[0].startswith("error: ") and last[0] != texts[0], last

    # Marked ready: it goes out, and the log says so.
    draft.write_text(ready)
    assert tick(root).returncode == 0
    assert "Part 1: 'Part 1 title'" in [t for _, t in stamped(root)]


def test_an_error_and_its_hint_are_stamped_and_the_exit_code_is_kept(
    make_series: Any,
) -> None:
    root = due_series(make_series, delivery=postmark_delivery("http://127.0.0.1:9"))
    done = tick(root)  # no POSTMARK_SERVER_TOKEN
    assert done.returncode == 1, done.stderr
    texts = [text for _, text in stamped(root)]
    assert any(text.startswith("error: ") for text in texts), texts
    assert any(text.startswith("hint: ") for text in texts), texts
    assert "Traceback" not in (root / LOG).read_text(encoding="utf-8")


def test_the_line_earlier_versions_installed_gets_the_same_log(make_series: Any) -> None:
    """`schedule install` printed `send due >> .seriespub/cron.log 2>&1` before `--log`:
    a crontab holding that line needs no change."""
    root = due_series(make_series)
    (root / LOG).write_text("Nothing is due. an unstamped line of an earlier version\n")
    line = f"cd {root} && mkdir -p -m 700 .seriespub && {seriespub_words()} send due "
    for _ in range(3):
        done = subprocess.run(
            ["/bin/sh", "-c", line + f">> {LOG} 2>&1"],
            env=seriespub_env(INDIA),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0 and (done.stdout, done.stderr) == ("", "")
    lines = (root / LOG).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Nothing is due. an unstamped line of an earlier version"
    texts = [text for _, text in stamped_lines(lines[1:])]
    assert "Part 1: 'Part 1 title'" in texts
    idle = [text for text in texts if text.startswith("Nothing is due. Next release: part 2")]
    assert len(idle) == 1, texts  # the third tick added nothing


def test_a_pipe_still_gets_the_lines_of_before(make_series: Any) -> None:
    root = due_series(make_series)
    assert run_seriespub(root, "send", "due", env=INDIA).returncode == 0
    done = run_seriespub(root, "send", "due", env=INDIA)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"Nothing is due\. Next release: part 2 \(Part 2 title\) on \w{3} [\d-]+ 09:00 UTC, "
        r"in \d+ days\.\n",
        done.stderr,
    ), done.stderr
    assert not (root / LOG).exists()


def test_a_log_past_its_size_moves_whole_to_dot_1(make_series: Any) -> None:
    root = due_series(make_series)
    old = b"".join(b"line %07d of an old log\n" % n for n in range(LIMIT // 24 + 10))
    (root / LOG).write_bytes(old)
    assert tick(root).returncode == 0
    assert (root / (LOG + ".1")).read_bytes() == old
    assert stamped(root)[0][1] == "Part 1: 'Part 1 title'"
    assert tick(root).returncode == 0  # under the size now: no second rotation
    assert (root / (LOG + ".1")).read_bytes() == old
    assert stamped(root)[-1][1].startswith("Nothing is due. Next release: part 2")


def test_two_overlapping_ticks_rotate_once_and_keep_every_line(make_series: Any) -> None:
    root = due_series(make_series)
    old = b"x" * (LIMIT + 1) + b"\n"
    (root / LOG).write_bytes(old)
    both = [child(root, "send", "due", "--log", LOG) for _ in range(2)]
    assert [p.wait(timeout=60) for p in both] == [0, 0]
    assert (root / (LOG + ".1")).read_bytes() == old
    texts = [text for _, text in stamped(root)]
    assert texts.count("Part 1: 'Part 1 title'") == 1, texts
    assert len(list((root / ".seriespub/outbox/001").glob("*.eml"))) == 3


def test_a_full_disk_never_fails_the_send(make_series: Any) -> None:
    """/dev/full refuses every write (ENOSPC): the lines go to stderr, stamped, instead."""
    root = due_series(make_series)
    done = run_seriespub(root, "send", "due", "--log", "/dev/full", env=INDIA)
    assert done.returncode == 0, done.stderr
    assert len(list((root / ".seriespub/outbox/001").glob("*.eml"))) == 3
    lines = done.stderr.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), done.stderr
    assert "Part 1: 'Part 1 title'" in done.stderr


def test_the_option_is_in_the_help(cli: Any, tmp_path: Path) -> None:
    result = cli(tmp_path, "send", "due", "--help")
    assert result.exit_code == 0
    assert "--log" in result.output and "FILE.1" in result.output


# -- helpers: the CLI as cron runs it ---------------------------------------------------------


def seriespub_words() -> str:
    import shlex
    import sys

    return shlex.join([sys.executable, "-m", "seriespub"])


def child(root: Path, *args: str) -> subprocess.Popen[bytes]:
    started: subprocess.Popen[bytes] = start_seriespub(
        root, *args, env=INDIA, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return started


def test_a_tick_waiting_on_a_rotation_does_not_rotate_again(tmp_path: Path) -> None:
    """Two ticks find the log past its size: the second waits for the first's lock, then
    sees the name holds a new file and leaves it (else it would move that new file over
    the first's `.1`, and the older part of the log would be gone)."""
    import fcntl
    import os
    import threading

    from seriespub.cli.cronlog import CronLog

    log, older = tmp_path / "cron.log", tmp_path / "cron.log.1"
    log.write_bytes(b"old\n" * 10)
    first = os.open(log, os.O_RDONLY)
    fcntl.flock(first, fcntl.LOCK_EX)  # the first tick, in the middle of its rotation
    second = threading.Thread(target=CronLog(log, None).rotate, kwargs={"limit": 8})
    second.start()
    waiting_for(os.getpid())  # the second tick (another process's waiter would not do)
    os.replace(log, older)
    log.write_bytes(b"the first tick's new lines, past the size too\n")
    os.close(first)
    second.join(timeout=10)
    assert older.read_bytes() == b"old\n" * 10
    assert log.read_bytes() == b"the first tick's new lines, past the size too\n"


def crontab_line(root: Path, words: str, *, python: str = "") -> subprocess.CompletedProcess[str]:
    """The crontab line's command with its own redirect (`>> LOG 2>&1`), run by sh at
    `root`; `python` in place of `-m seriespub` runs the CLI from that code instead."""
    import shlex
    import sys

    command = shlex.join([sys.executable, "-c", python]) if python else seriespub_words()
    done = subprocess.run(
        ["/bin/sh", "-c", f"cd {shlex.quote(str(root))} && {command} {words} >> {LOG} 2>&1"],
        env=seriespub_env(INDIA),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done


@pytest.mark.parametrize(
    "words", ["send due --log .seriespub/cron.log --yes", "send due --yes"], ids=["log", "earlier"]
)
def test_a_wrong_option_in_the_crontab_line_is_dated_once_a_day(
    make_series: Any, words: str
) -> None:
    """Click refuses the line before the command runs (exit 2): its usage error is dated as
    every other line, and, the same every tick, written once (as a refusal is)."""
    root = due_series(make_series)
    for _ in range(3):
        done = crontab_line(root, words)
        assert done.returncode == 2 and (done.stdout, done.stderr) == ("", "")
    texts = [text for _, text in stamped(root)]
    assert any("No such option: --yes" in text for text in texts), texts
    assert sum(text.startswith("Usage: ") for text in texts) == 1, texts
    assert not (root / ".seriespub/outbox").exists()  # nothing was sent


def test_after_a_rotation_the_lines_own_redirect_follows_the_new_file(
    make_series: Any,
) -> None:
    """What the process writes to its fds 1 and 2 after rotating (Python's own last words,
    written at exit past seriespub's streams) goes to the new cron.log, not to cron.log.1."""
    root = due_series(make_series)
    old = b"x" * (LIMIT + 1) + b"\n"
    (root / LOG).write_bytes(old)
    late = (
        "import atexit, os, sys; "
        "atexit.register(os.write, 2, b'fd 2 at exit\\n'); "
        "atexit.register(os.write, 1, b'fd 1 at exit\\n'); "
        "sys.argv[0] = 'seriespub'; from seriespub.__main__ import run; run()"
    )
    done = crontab_line(root, "send due --log .seriespub/cron.log", python=late)
    assert done.returncode == 0, done
    assert (root / (LOG + ".1")).read_bytes() == old
    lines = (root / LOG).read_text(encoding="utf-8").splitlines()
    assert lines[-2:] == ["fd 1 at exit", "fd 2 at exit"], lines
    assert "Part 1: 'Part 1 title'" in [text for _, text in stamped_lines(lines[:-2])]


def test_a_send_that_takes_the_log_past_its_size_rotates_at_that_line(
    make_series: Any,
) -> None:
    """The log just under its size when a send starts: the line that would take it past
    moves it to `.1` first, so the file never grows past LIMIT, and no line is lost."""
    root = due_series(make_series)
    old = b"y" * (LIMIT - 20) + b"\n"  # the first line of the send would cross it
    (root / LOG).write_bytes(old)
    assert tick(root).returncode == 0
    assert (root / (LOG + ".1")).read_bytes() == old
    texts = [text for _, text in stamped(root)]
    assert texts[0] == "Part 1: 'Part 1 title'", texts
    assert any(text.startswith("Part 1: sent 3, scheduled 0, failed 0") for text in texts)


@pytest.mark.parametrize("when", ["before", 0.0, 0.002, 0.01, "after"])
def test_a_tick_killed_in_its_rotation_loses_no_line(make_series: Any, when: object) -> None:
    """SIGKILL a real tick in its rotation: held at the lock just before the rename
    ("before"), an instant after the lock is released (a number of seconds), or as soon as
    `.1` exists ("after": between the rename and the first line). The old log is whole under
    one name or the other, never trimmed, and the next tick rotates and sends as ever."""
    import fcntl
    import os
    import time

    root = due_series(make_series)
    old = b"z" * (LIMIT + 1) + b"\n"
    (root / LOG).write_bytes(old)
    held = os.open(root / LOG, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # the rotation of an overlapping tick
    proc = child(root, "send", "due", "--log", LOG)
    try:
        waiting_for(proc.pid)
        if when != "before":
            os.close(held)
            if when == "after":
                deadline = time.monotonic() + 30
                while not (root / (LOG + ".1")).exists() and time.monotonic() < deadline:
                    pass
            else:
                time.sleep(float(str(when)))
        proc.kill()
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(OSError):
            os.close(held)
    older, log = root / (LOG + ".1"), root / LOG
    if when in ("before", "after"):
        assert older.exists() == (when == "after")
    if older.exists():
        assert older.read_bytes() == old
        assert not log.exists() or old[:64] not in log.read_bytes()  # none of it twice
    else:
        assert log.read_bytes() == old
    assert tick(root).returncode == 0
    assert older.read_bytes() == old
    assert "Part 1: 'Part 1 title'" in [text for _, text in stamped(root)]


def waiting_for(pid: int) -> None:
    """Until process `pid` waits for an flock (/proc/locks marks a waiter `->`)."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in Path("/proc/locks").read_text().splitlines():
            words = line.split()
            if "->" in words and "FLOCK" in words and str(pid) in words:
                return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never waited for the log's lock")


# -- what --log may name ----------------------------------------------------------------------


def test_an_idle_tick_logging_to_a_device_reads_no_endless_tail(make_series: Any) -> None:
    """An idle tick compares its line with the log's last lines. /dev/full reads as endless
    zeros: reading it "to its end" grew a tick to 23 GB until the kernel killed it. Under a
    1.5 GB address-space limit the tick must finish, say its line, and raise nothing."""
    import resource

    root = due_series(make_series)
    assert tick(root).returncode == 0  # the send: nothing due after it

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))

    done = run_seriespub(root, "send", "due", "--log", "/dev/full", env=INDIA, preexec_fn=bounded)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert "Nothing is due" in done.stderr


@pytest.mark.parametrize(
    "name", ["seriespub.toml", "subscribers.csv", "drafts/01-part-1.md", "notes.txt"]
)
def test_a_log_that_is_not_a_log_is_refused_and_left_as_it_was(make_series: Any, name: str) -> None:
    """`--log seriespub.toml` appended dated lines to the settings (every later command then
    failed on invalid TOML), and a list past 1 MB was even rotated away to
    `subscribers.csv.1`. An existing file is a log only when its name ends in .log, or it
    is empty or begins with a dated line; anything else is refused (exit 2), untouched."""
    root = due_series(make_series)
    target = root / name
    if name == "notes.txt":
        target.write_text("my own notes\n", encoding="utf-8")
    if name == "subscribers.csv":  # past the log's size: a tick would rotate it
        rows = "".join(f"reader{i:06d}@example.com,Reader {i},active,\n" for i in range(40_000))
        with target.open("a", encoding="utf-8") as handle:
            handle.write(rows)
        assert target.stat().st_size > LIMIT
    before = target.read_bytes()
    done = run_seriespub(root, "send", "due", "--log", name, env=INDIA)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--log" in done.stderr and "Traceback" not in done.stderr
    assert target.read_bytes() == before
    assert not target.with_name(target.name + ".1").exists()
    assert not list((root / ".seriespub").glob("outbox/*/*.eml"))  # nothing was sent


@pytest.mark.parametrize("name", ["ticks.log", "cron", "stamped"])
def test_a_log_by_name_empty_or_stamped_is_taken(make_series: Any, name: str) -> None:
    root = due_series(make_series)
    target = root / name
    if name == "ticks.log":
        target.write_text("an earlier version's undated line\n", encoding="utf-8")
    elif name == "cron":
        target.touch()
    else:
        target.write_text("2026-11-29T10:05:00+05:30 Nothing is due.\n", encoding="utf-8")
    done = run_seriespub(root, "send", "due", "--log", name, env=INDIA)
    assert done.returncode == 0, done.stderr
    assert "Part 1: 'Part 1 title'" in target.read_text(encoding="utf-8")


def test_a_held_line_keeps_the_time_it_was_said(tmp_path: Path) -> None:
    """Before: a tick's quiet lines were held to its end and stamped then (a retry warning
    said at 09:38:23 read 09:38:25). Each keeps its own time, released at the end or by
    the first line that is not quiet."""
    from seriespub.cli.cronlog import CronLog

    start = dt.datetime(2026, 11, 29, 9, 38, 23, tzinfo=dt.timezone(dt.timedelta(hours=5.5)))
    ticks = iter(start + dt.timedelta(seconds=s) for s in range(100))  # a second a reading
    log = CronLog(tmp_path / "cron.log", None, clock=lambda: next(ticks))
    log.say("warning: retrying in 2 s")
    log.idle("Nothing is due.")
    log.finish()
    log = CronLog(tmp_path / "cron.log", None, clock=lambda: next(ticks))
    log.say("warning: the inbox was not read")
    log.say("Sending part 2 to 3 readers")
    assert stamped(tmp_path, "cron.log") == [
        (start, "warning: retrying in 2 s"),
        (start + dt.timedelta(seconds=1), "Nothing is due."),
        (start + dt.timedelta(seconds=2), "warning: the inbox was not read"),
        (start + dt.timedelta(seconds=3), "Sending part 2 to 3 readers"),
    ]


BROKEN_START = """
import sys, types, warnings

class Broken(types.ModuleType):  # as a dependency's broken upgrade: a warning, then a crash
    def __getattr__(self, name):
        warnings.warn("typer 99 is not supported", UserWarning, stacklevel=1)
        raise ImportError("cannot import name 'main' (a broken upgrade)")

sys.modules["seriespub.cli"] = Broken("seriespub.cli")
from seriespub.__main__ import run
run()
"""


@pytest.mark.parametrize(
    "words", ["send due --log .seriespub/cron.log", "send due"], ids=["log", "earlier"]
)
def test_a_warning_and_a_crash_before_the_command_runs_are_dated(
    make_series: Any, words: str
) -> None:
    """Before: the warning and the traceback of a crash while importing the command line
    went into the log undated, between its stamped lines."""
    root = due_series(make_series)
    done = crontab_line(root, words, python=BROKEN_START)
    assert done.returncode == 1 and (done.stdout, done.stderr) == ("", "")
    texts = [text for _, text in stamped(root)]
    assert any("UserWarning: typer 99 is not supported" in text for text in texts), texts
    assert texts[-1] == "ImportError: cannot import name 'main' (a broken upgrade)", texts
    assert texts.count("Traceback (most recent call last):") == 1, texts


def test_a_crash_before_any_other_command_is_not_dated(make_series: Any) -> None:
    """Only cron's `send due` writes a log: `status 2>file` keeps the traceback as it was."""
    root = due_series(make_series)
    done = crontab_line(root, "status", python=BROKEN_START)
    lines = (root / LOG).read_text(encoding="utf-8").splitlines()
    assert done.returncode == 1 and "Traceback (most recent call last):" in lines, lines
    assert not any(STAMP.match(line) for line in lines), lines
