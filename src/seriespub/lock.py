"""An exclusive lock on a series' state, so two overlapping runs never both send.

`series_lock(state_dir, purpose)` takes `fcntl.flock(LOCK_EX | LOCK_NB)` on `<state_dir>/lock`
(state_dir is the series' `.seriespub/` folder) and writes who holds it into the file. The
kernel drops the lock when the holder's process dies, however it dies, so a stale file never
blocks; the file itself is never deleted (deleting a lock file lets two processes lock two
different inodes). A second run gets `LockHeld` naming the holder. One that finds the lock held
with no note to read (a run that has just taken it and not yet named itself, or one that has
blanked its note and is letting go) tries again for up to NOTE_WAIT: it then takes the lock, or
names the holder, as it would a moment later, instead of refusing in the name of nobody.

`site_lock(state_dir)` is the same lock on `<state_dir>/site.lock`, held by a `site` build from
before it reads the drafts until its last file is written: two builds never write the same
folder at once, and a build still runs beside a send (it only reads the ledger).

The lock is per open file, not per process: taking it twice in one process fails too, so a
command takes it once around all of its sending. flock is not reliable on network file systems.
The folder is made 0700 and the file 0600 (`seriespub.statefiles`); a state folder that cannot
be used is one `StateError` line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from seriespub.errors import LockHeld
from seriespub.statefiles import open_private, private_dir

LOCK_NAME = "lock"
SITE_LOCK_NAME = "site.lock"
SENDING = "is sending for this series"
NOTE_WAIT = 1.0  # seconds: a holder names itself microseconds after it takes the lock
BUILDING = "is building the site"


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    purpose: str
    started_at: str  # ISO 8601, UTC


def series_lock(state_dir: Path, purpose: str) -> contextlib.AbstractContextManager[LockHolder]:
    """Hold the series lock for the block; LockHeld (naming the holder) if another run has it."""
    return _locked(state_dir, LOCK_NAME, purpose, SENDING)


def site_lock(state_dir: Path) -> contextlib.AbstractContextManager[LockHolder]:
    """Hold the site build's lock for the block; LockHeld (naming the holder) if another
    build has it."""
    return _locked(state_dir, SITE_LOCK_NAME, "site", BUILDING)


@contextmanager
def _locked(state_dir: Path, name: str, purpose: str, doing: str) -> Iterator[LockHolder]:
    private_dir(state_dir)
    fd = open_private(state_dir / name, os.O_RDWR | os.O_CREAT)
    try:
        _take(fd, doing)
        me = LockHolder(
            os.getpid(),
            _host(),
            purpose,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        _write(fd, json.dumps(asdict(me)))
        try:
            yield me
        finally:
            _write(fd, "")
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _take(fd: int, doing: str) -> None:
    """The flock on `fd`, or LockHeld naming its holder (see NOTE_WAIT)."""
    deadline = time.monotonic() + NOTE_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _read(fd)
            if holder is not None or time.monotonic() >= deadline:
                raise LockHeld(held_message(holder, doing=doing), holder=holder) from None
        time.sleep(0.01)


def current_holder(state_dir: Path) -> LockHolder | None:
    """Who holds the lock now, or None (for `status`); never blocks, never takes it."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:  # no lock file (nobody ever sent), or no state folder at all
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        return holder or LockHolder(0, "", "", "")
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def alive_here(holder: LockHolder) -> bool:
    """The holder's note names a process of this host that is still running."""
    if holder.pid <= 0 or holder.host != _host():
        return False
    try:
        os.kill(holder.pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def since(holder: LockHolder) -> str:
    """When the holder took the lock, in local time ('09:00:02', or with the date)."""
    return _since(holder.started_at)


def held_message(
    holder: LockHolder | None, here: str | None = None, *, doing: str = SENDING
) -> str:
    """'another seriespub run (pid 1234, send due, since 09:00:02) is sending ...'."""
    if holder is None or not holder.pid:
        who = "another seriespub run"
    else:
        where = "" if holder.host == (here or _host()) else f" on {holder.host}"
        who = (
            f"another seriespub run (pid {holder.pid}{where}, {holder.purpose}, "
            f"since {_since(holder.started_at)})"
        )
    return f"{who} {doing}; try again when it finishes"


def _since(started_at: str) -> str:
    try:
        when = dt.datetime.fromisoformat(started_at).astimezone()
    except ValueError:
        return started_at
    today = dt.datetime.now().astimezone().date()
    return when.strftime("%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M:%S")


def _write(fd: int, text: str) -> None:
    # The note only names the holder; the flock is the lock. A full disk must not stop a
    # run from taking or releasing it (the ledger's own writes report that).
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)


def _read(fd: int) -> LockHolder | None:
    """The holder's note; None while it is still being written or if it is not ours."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode())
        return LockHolder(
            int(data["pid"]), str(data["host"]), str(data["purpose"]), str(data["started_at"])
        )
    except (ValueError, KeyError, TypeError):
        return None


def _host() -> str:
    # What socket.gethostname() returns on POSIX, without importing socket at start-up.
    return os.uname().nodename
