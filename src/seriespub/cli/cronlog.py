"""The log an unattended `send due` writes (`.seriespub/cron.log`): stamped, bounded, never fatal.

Plumbing of the command line, as `progress` is: it takes the place of the process's own
stdout and stderr (`StampedStream`), so it lives in `cli/`; the core knows nothing of it.

Guarantees:
- Every line starts with the local date and time and its offset, ISO 8601
  (`2026-11-29T10:05:00+01:00 Nothing is due. …`): the machine's zone, as cron's schedule
  and `ls -l` read it; the offset makes it unambiguous wherever it is read.
- Each line is one `write()` on the file opened afresh for appending: lines of two
  overlapping runs never interleave, and a run never goes on writing into a file another
  run has rotated away.
- Bounded: a run that finds the file past LIMIT bytes, or a line that would take it past
  (a long send's), renames it to `FILE.1` (replacing the older one) first, holding an flock
  on it so that two overlapping runs rotate once. A rename is atomic: a run killed there
  leaves the whole file under one name or the other, never a half-trimmed one; at most about
  2 × LIMIT stays on disk. The run's fds 1 and 2 that were the file (the crontab line's own
  `>> FILE 2>&1`) are pointed at the new one: nothing more goes into `FILE.1`.
- Never raises: a line that cannot be written (full disk, read-only, no folder) goes,
  still stamped, to `fallback` (the run's stderr), and is dropped if that fails too. A
  failed rotation leaves the file growing. A send never fails because of its log.
- A tick that only says the same as the tick before writes nothing: its quiet lines
  (`warning:`, `error:`, `hint:` and the idle line, `idle`) are held until it ends, and go
  in only when they differ from the log's last lines, or those are a day old or more (so the
  author can tell cron still runs and the refusal still stands), each stamped with the time
  it was said. One block per change of what is next, or of why a tick refuses (a due part
  left a draft), instead of 288 a day.
  The first other line (a send's plan, progress) writes the held ones before it, and every
  line after it as it comes: a send's lines are never held, nor lost to a kill.
- Only a log is written (`refusal`): an existing regular file is appended to when its name
  ends in `.log`, or it is empty, or it begins with a stamped line; any other file (the
  settings, the list, a draft, the author's notes) is refused before anything is written or
  rotated. A device (/dev/stderr, /dev/null, /dev/full) is written but never read back nor
  rotated: only a regular file's last 8 KB are read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

LIMIT = 1 << 20  # 1 MiB: years of a weekly series' lines; ~2 MiB on disk at most
ALIVE_EVERY = dt.timedelta(days=1)
_TAIL = 8192  # enough to hold the last lines of a quiet tick
QUIET = ("warning: ", "error: ", "hint: ")  # what a tick that does nothing may say


def local_now() -> dt.datetime:
    """Now, in the machine's zone (TZ, else /etc/localtime), with its offset."""
    return dt.datetime.now().astimezone()


class CronLog:
    """Appends stamped lines to `path`; see the module's guarantees."""

    def __init__(
        self,
        path: Path,
        fallback: TextIO | None,
        clock: Callable[[], dt.datetime] = local_now,
    ) -> None:
        self.path, self.fallback, self.clock = path, fallback, clock
        # The tick's quiet lines so far, each with when it was said, until a line that is
        # not quiet (None from then on).
        self._held: list[tuple[dt.datetime, str]] | None = []

    def rotate(self, limit: int = LIMIT, adding: int = 0) -> None:
        """Move the file to `FILE.1` when it has passed `limit` bytes, or would with `adding`
        more (a line of a long send); fds 1 and 2 that were the file follow the new one."""
        if not _is_regular(self.path):
            return  # a device has no size to bound (and a FIFO would block the open)
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # Another run may have rotated it while we waited: then the name is new.
                mine = os.fstat(fd)
                crossing = mine.st_size + adding > limit and mine.st_size > 0
                if crossing and os.path.samestat(mine, os.stat(self.path)):
                    os.replace(self.path, self._older())
                    _follow(mine, self.path)
            finally:
                os.close(fd)  # releases the lock

    def write(self, text: str) -> None:
        """Each line of `text`, stamped now; never raises."""
        now = self.clock()
        self._write_lines([(now, line) for line in text.splitlines() or [""]])

    def _write_lines(self, lines: list[tuple[dt.datetime, str]]) -> None:
        """Each line with its own stamp, in one write; never raises."""
        data = "".join(f"{when.isoformat(timespec='seconds')} {line}\n" for when, line in lines)
        try:
            encoded = data.encode("utf-8", "backslashreplace")
            fd = self._open_for(len(encoded))
            try:
                os.write(fd, encoded)
            finally:
                os.close(fd)
        except OSError:
            self._fall_back(data)

    def _open_for(self, size: int) -> int:
        """The file opened for appending `size` bytes, rotated first if they would take it
        past LIMIT (an fstat per line: a long send never grows it past the limit)."""
        fd = _open_appending(self.path)
        if os.fstat(fd).st_size + size <= LIMIT:
            return fd
        os.close(fd)
        self.rotate(adding=size)
        return _open_appending(self.path)

    def say(self, line: str, *, quiet: bool = False) -> None:
        """One line the run printed: held while the tick has said only quiet lines (see the
        module), else written at once, after any held before it."""
        if self._held is not None and (quiet or line.startswith(QUIET)):
            now = self.clock()  # its stamp: when it was said, not when it is written
            self._held += [(now, part) for part in line.splitlines() or [""]]
            return
        self._release()
        self.write(line)

    def idle(self, line: str) -> None:
        """The tick's "nothing to do" line: quiet, as a warning is."""
        self.say(line, quiet=True)

    def finish(self) -> None:
        """At the tick's end: its quiet lines, unless the log's last lines say the same and
        are less than a day old."""
        held, self._held = self._held, None
        if not held:
            return
        last = self.last_lines(len(held))
        same = [text for _, text in last] == [text for _, text in held]
        if same and self.clock() - last[0][0] < ALIVE_EVERY:
            return
        self._write_lines(held)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held:
            self._write_lines(held)

    def last_lines(self, count: int) -> list[tuple[dt.datetime, str]]:
        """The stamp and text of the log's last `count` lines; fewer if it has fewer
        stamped lines there (an earlier version's line, a torn one, the start)."""
        if not _is_regular(self.path):
            return []  # /dev/full reads as endless zeros: nothing to compare with
        try:
            with self.path.open("rb") as handle:
                handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL))
                tail = handle.read(_TAIL).decode("utf-8", "replace")
        except OSError:
            return []
        found: list[tuple[dt.datetime, str]] = []
        for line in tail.splitlines()[-count:] if count else []:
            stamp, _, text = line.partition(" ")
            try:
                found.append((dt.datetime.fromisoformat(stamp), text))
            except ValueError:
                found = []  # only the unbroken run of stamped lines at the end counts
        return found

    def _older(self) -> Path:
        return self.path.with_name(self.path.name + ".1")

    def _fall_back(self, data: str) -> None:
        if self.fallback is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.fallback.write(data)
            self.fallback.flush()


_STAMPED = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def refusal(path: Path) -> str | None:
    """Why `path` cannot be the log (see the module), or None when it can."""
    if str(path) == "-":  # a log rotates and reads its own last lines: not stdout
        return "--log takes a file, not stdout: leave --log out to print to stdout"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None  # a new log
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if stat.S_ISDIR(info.st_mode):
        return f"{path} is a folder: give --log a file, e.g. .seriespub/cron.log"
    if stat.S_ISCHR(info.st_mode):
        return None  # /dev/stderr, /dev/null: written, never read back
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file: give --log a file, e.g. .seriespub/cron.log"
    if path.name.lower().endswith(".log") or info.st_size == 0:
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(32)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if _STAMPED.match(head):
        return None
    return (
        f"{path} is not a log (it holds other text): seriespub appends only to a file named "
        "*.log, an empty one or one it wrote; e.g. --log .seriespub/cron.log"
    )


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _open_appending(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _follow(rotated: os.stat_result, path: Path) -> None:
    """Point fds 1 and 2 that were the `rotated` file (the crontab line's own `>> FILE
    2>&1`) at the new FILE: what the process writes there later (Python's last words at
    exit) lands with the rest, not in `FILE.1`."""
    stale = [fd for fd in (1, 2) if _is(fd, rotated)]
    if not stale:
        return
    for stream in (sys.__stdout__, sys.__stderr__):  # their bytes belong to the old file
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()  # type: ignore[union-attr]
    fresh = _open_appending(path)
    try:
        for fd in stale:
            os.dup2(fresh, fd)
    finally:
        os.close(fresh)


def _is(fd: int, file: os.stat_result) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), file)
    except OSError:
        return False


def is_output_of(fd: int, path: Path) -> bool:
    """Whether `fd` is `path` itself, a regular file: a crontab line's `>> path` redirect."""
    try:
        return os.path.isfile(path) and _is(fd, os.stat(path))
    except OSError:
        return False


class StampedStream(io.TextIOBase):
    """A text stream whose every complete line goes to a CronLog (for sys.stdout/stderr);
    a line left unfinished is written when the stream is flushed at exit."""

    def __init__(self, log: CronLog, *, quiet: bool = False) -> None:
        super().__init__()
        self.log, self.quiet = log, quiet  # quiet: every line held as a warning is
        self._partial = ""

    def write(self, text: str) -> int:
        done, newline, rest = (self._partial + text).rpartition("\n")
        if newline:
            for line in done.split("\n"):
                self.log.say(line, quiet=self.quiet)
        self._partial = rest
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.log.say(self._partial, quiet=self.quiet)
            self._partial = ""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True
