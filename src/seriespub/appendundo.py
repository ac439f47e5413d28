"""The undo record of an append to subscribers.csv: no kill leaves part of one in the list.

Linux stops a large write() when a fatal signal arrives (SIGKILL, or SIGTERM with no
handler): it checks before each page it copies, so the writer dies with only part of its
buffer in the file, the last row cut anywhere. A row cut so makes every later writer refuse
the list until the author mends it by hand.

So `subscribers.append`, which holds the list's lock, first writes this record
(`.seriespub/append-undo.json`: the list's device and inode, its size before the append and
the size after it) and removes it once the append is synced. The next holder of the lock
(`listlock`) that finds a record cuts the list back to its size before: a killed append
leaves the old list, as a failed one does. It does so only while the list is the same file
(an editor that saved since replaced it) and its size lies between the two sizes; else the
record is dropped. An append that had finished when its writer died is undone too: its
command never said it was done, and running it again does it.

The commands that only read the list (`check`, `status`, `subscribers list`, a dry run) take
no lock, so they cannot cut; they read the list only as far as its size before an append the
record describes (`unfinished`): as it was before, as while a live append is under way.

A record is a few bytes written in one call: a kill leaves it whole or unreadable, and an
unreadable one is dropped (its append had not begun).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

STATE_DIR = ".seriespub"
RECORD_NAME = "append-undo.json"


def record_path(path: Path) -> Path:
    """Where the record of an append to the list at `path` lives."""
    return path.parent / STATE_DIR / RECORD_NAME


def begin(path: Path, stat: os.stat_result, size_after: int) -> None:
    """Record, before appending, how to undo the append to `path` (whose `stat` is taken
    from the descriptor the append writes to)."""
    record = {"dev": stat.st_dev, "ino": stat.st_ino, "before": stat.st_size, "after": size_after}
    where = record_path(path)
    where.parent.mkdir(mode=0o700, exist_ok=True)
    # 0600 like all state (an OSError is left to the caller, which names the list)
    fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, 0o600)  # one an older version left loose
        handle.write(json.dumps(record))


def end(path: Path) -> None:
    """The append to `path` is synced, or cut back by its writer: nothing to undo."""
    with contextlib.suppress(FileNotFoundError):
        record_path(path).unlink()


def unfinished(path: Path, st: os.stat_result) -> int | None:
    """The size of the list at `path` before an append under way or killed, when the record
    describes the file `st` was taken of (the same file, its size between the record's two):
    a reader without the lock reads no further. None: read it all."""
    try:
        dev, ino, before, after = _read(record_path(path))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, or cut short while being written: its append never began
    if (st.st_dev, st.st_ino) != (dev, ino) or not before < st.st_size <= after:
        return None
    return before


def _read(where: Path) -> tuple[int, int, int, int]:
    record = json.loads(where.read_text(encoding="utf-8"))
    dev, ino, before, after = (int(record[k]) for k in ("dev", "ino", "before", "after"))
    return dev, ino, before, after


def undo(path: Path) -> bool:
    """Cut the list at `path` back to its size before a killed append; True if it was.
    Call it only under the list's lock (no append of a live writer is under way)."""
    where = record_path(path)
    try:
        dev, ino, before, after = _read(where)
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        end(path)  # cut short while being written: its append never began
        return False
    try:
        cut = _cut_back(path, dev, ino, before, after)
    except FileNotFoundError:
        cut = False  # no list any more: nothing to undo
    except OSError:
        return False  # kept: the writer that cannot open the list says why, and a later one undoes
    end(path)
    return cut


def _cut_back(path: Path, dev: int, ino: int, before: int, after: int) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (dev, ino) or not before < st.st_size <= after:
            return False
        os.ftruncate(fd, before)
        os.fsync(fd)
        return True
    finally:
        os.close(fd)
