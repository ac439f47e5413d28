"""The lock that serialises every read-modify-write of subscribers.csv.

`locked(path)` takes `fcntl.flock(LOCK_EX)` on `<folder of path>/.seriespub/subscribers.lock`
(created 0600; the folder 0700 when this creates it), waiting at most `timeout` seconds, then
raises InputError naming the process that holds it. Whoever holds it re-reads the list
before changing it, so two writers never start from the same old copy and lose each other's
change. The holder writes its pid and command into the file for that message.

Whoever takes it first removes the temp files that a writer of the list killed mid-write
left (`.subscribers-XXXXXXXX.csv` beside the list, `.seriespub/.snapshot-XXXXXXXX.csv`),
and undoes an append to the list a killed writer left part-written (`appendundo`): every
writer of those holds this lock, so none of them is still being written.

The lock is re-entrant within a process (a send that holds it may call `update_statuses`);
threads of one process take turns. The kernel drops it when its holder dies, however it
dies; the file is never deleted (two processes would then lock two different inodes).
Editors do not take it: readers that must not see a half-saved file use
`subscribers.snapshot`, which also checks the file did not change while it was copied.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seriespub import appendundo
from seriespub.errors import InputError
from seriespub.statefiles import remove_leftovers

STATE_DIR = ".seriespub"
LOCK_NAME = "subscribers.lock"
REWRITE_PREFIX = ".subscribers-"  # tempfile.mkstemp's prefixes, with suffix .csv
SNAPSHOT_PREFIX = ".snapshot-"
TIMEOUT = 30.0

_guard = threading.Lock()
_process_locks: dict[str, threading.RLock] = {}
_held: dict[str, int] = {}  # lock path → our fd, while this process holds it


def lock_path(path: Path) -> Path:
    return path.parent / STATE_DIR / LOCK_NAME


@contextmanager
def locked(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the list's lock for the block (re-entrant); InputError naming the holder when
    it is not free within `timeout` seconds (default 30)."""
    where = lock_path(path)
    key = str(where)
    with _guard:
        local = _process_locks.setdefault(key, threading.RLock())
    wait = TIMEOUT if timeout is None else timeout
    if not local.acquire(timeout=wait):
        raise InputError(f"{path.name} is busy in another thread of this process", path=path)
    try:
        if key in _held:  # this thread already holds it
            yield
            return
        _held[key] = _acquire(where, path, wait)
        try:
            _remove_cut_short(path)
            yield
        finally:
            _release(_held.pop(key))
    finally:
        local.release()


def _acquire(where: Path, path: Path, timeout: float) -> int:
    fd = _open(where, path)
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise InputError(
                    f"{holder} has been changing this list for more than "
                    f"{timeout:g} s; nothing was changed",
                    path=path,
                    hint="try again when it finishes",
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
    _note(
        fd,
        json.dumps(
            {
                "pid": os.getpid(),
                "command": _command(),
                "since": dt.datetime.now().astimezone().strftime("%H:%M:%S"),
            }
        ),
    )
    return fd


def _remove_cut_short(path: Path) -> None:
    """The temp files of the list's rewrite (subscribers) and of a send's copy of it
    (listsnapshot), and the part of an append, that a killed holder of this lock left."""
    remove_leftovers(path.parent, REWRITE_PREFIX, ".csv")
    remove_leftovers(path.parent / STATE_DIR, SNAPSHOT_PREFIX, ".csv")
    appendundo.undo(path)


def _open(where: Path, path: Path) -> int:
    try:
        where.parent.mkdir(mode=0o700, exist_ok=True)
        return os.open(where, os.O_RDWR | os.O_CREAT, 0o600)
    except FileExistsError:
        raise InputError(
            f"{where.parent} is a file, not seriespub's state folder", path=path
        ) from None
    except OSError as exc:
        raise InputError(f"cannot lock the list ({where}: {exc.strerror})", path=path) from None


def _release(fd: int) -> None:
    try:
        _note(fd, "")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _note(fd: int, text: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
    except OSError:  # only the busy message needs it; the lock itself holds
        pass


def _holder(fd: int) -> str:
    try:
        note = json.loads(os.pread(fd, 4096, 0).decode())
        return (
            f"another seriespub process (pid {int(note['pid'])}, {note['command']}, "
            f"since {note['since']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another seriespub process"


def _command() -> str:
    words = [w for w in sys.argv[1:] if not w.startswith("-")][:2]
    return " ".join(["seriespub", *words])
