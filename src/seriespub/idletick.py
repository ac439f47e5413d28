"""What an idle `send due` found, remembered until anything that decides it changes.

A cron tick with nothing to send still plans who of the late joiners gets a part now, and
after the front's last part, in the next slot: one pass over the whole list for both
(`tracking.idle_plans`; seconds at a million readers), every tick. The answer of such a
pass is kept in `.seriespub/idle-tick.json` and the next tick that would ask the same
question reuses it.

Guarantees
    - An answer is reused only when its key is the same: the list (subscribers.csv) and an
      append's undo record, the ledger (ledger.db and its WAL), each by device, inode, size,
      mtime and ctime (ctime cannot be set back: a copy that keeps the old mtime still
      changes it); seriespub.toml's bytes; the drafts' numbers and readiness; what the plan
      is made from at this slot (`tracking.Inputs`: the released parts, part 1's release,
      the slot, ...); and this version of seriespub. (An empty WAL is no WAL: the command's
      own connection makes one.) A reader added, removed or
      unsubscribed, a part sent, a draft added, the clock reaching another slot: each
      changes the key, and the list is read again.
    - An answer is kept only when none of those files was written in the file system's
      current clock tick (a probe file's time stamp, made before the files are looked at)
      nor while the answer was worked out: a write in the same tick as the read cannot hide
      behind an equal time stamp (what git calls "racily clean").
    - The file holds per question its key (a SHA-256) and the answer: slot times and counts
      of readers per part, never an address. It is written whole (a temp file renamed over
      it, 0600); one that is missing, unreadable, malformed or of another format is ignored
      and replaced. A file that cannot be written leaves the tick as it was: never a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seriespub import __version__
from seriespub.errors import InputError
from seriespub.outputs import remove_cut_short, write_whole
from seriespub.statefiles import FILE_MODE, remove_leftovers

if TYPE_CHECKING:
    from seriespub.ops.session import Session

FILE_NAME = "idle-tick.json"
FORMAT = 1
PROBE_PREFIX = ".idle-probe-"  # + mkstemp's 8 characters
WAL = "-wal"  # SQLite's write-ahead log beside the ledger; empty (or none) between commands
MISSING: Any = object()  # `Memo.recalled`'s: nothing remembered for this key

Stat = tuple[int, int, int, int, int] | None  # device, inode, size, mtime, ctime; None: no file


class Memo:
    """One question of an idle tick: `recalled()` before working it out; on a miss,
    `start()` just before and `keep(answer)` just after (an answer is JSON)."""

    def __init__(self, session: Session, question: str, basis: Sequence[object]) -> None:
        series = session.series
        self.path = series.state_dir / FILE_NAME
        self.question = question
        self.files = [
            series.subscribers_path,
            series.state_dir / "append-undo.json",
            series.ledger_path,
            series.ledger_path.with_name(series.ledger_path.name + WAL),
        ]
        self.basis = [question, __version__, _bytes_hash(series.config_path), *basis]
        self.before: list[Stat] | None = None
        self.probe: int | None = None  # the file system's "now" (ns), from a probe file

    def recalled(self) -> Any:
        """The answer kept for the key the files have now, or MISSING."""
        stats = _stats(self.files)
        if stats is None:
            return MISSING
        entry = _load(self.path).get(self.question)
        if not isinstance(entry, dict) or entry.get("key") != self._key(stats):
            return MISSING
        return entry.get("answer", MISSING)

    def start(self) -> None:
        """Before the answer is worked out: the probe's time, then the files' stats."""
        self.probe = _now_on_disk(self.path.parent)
        self.before = _stats(self.files)

    def keep(self, answer: object) -> None:
        """Keep `answer` when nothing changed since `start` and no file was written in the
        probe's clock tick or later; else (or when the file cannot be written) drop it."""
        before, probe = self.before, self.probe
        if before is None or probe is None or _stats(self.files) != before:
            return
        if any(s is not None and max(s[3], s[4]) >= probe for s in before):
            return  # racily clean: a write in this tick could look the same as none
        kept = _load(self.path)
        kept[self.question] = {"key": self._key(before), "answer": answer}
        _write(self.path, {"format": FORMAT, "answers": kept})

    def _key(self, stats: list[Stat]) -> str:
        text = json.dumps([*self.basis, stats], default=str, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _stats(files: list[Path]) -> list[Stat] | None:
    """Each file's identity (None: no such file); None when one cannot be looked at."""
    found: list[Stat] = []
    for path in files:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            found.append(None)
            continue
        except OSError:
            return None
        if st.st_size == 0 and path.name.endswith(WAL):
            found.append(None)  # what this command's own connection opened: nothing in it
            continue
        found.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return found


def _bytes_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _load(path: Path) -> dict[str, Any]:
    """The answers kept, or none (a missing, unreadable or foreign file)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    answers = data.get("answers")
    return answers if isinstance(answers, dict) else {}


def _now_on_disk(folder: Path) -> int | None:
    """The file system's clock (ns) as it stamps a file written now; None if it cannot."""
    try:
        fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        return max(st.st_mtime_ns, st.st_ctime_ns)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)


def _write(path: Path, data: dict[str, Any]) -> None:
    """Written whole, or not at all (`outputs.write_whole`: a temp file renamed over it)."""
    remove_cut_short(path)  # a writer killed before its rename
    remove_leftovers(path.parent, PROBE_PREFIX)
    with contextlib.suppress(InputError):  # a cache: the next tick works it out again
        write_whole(path, json.dumps(data).encode(), durable=False, mode=FILE_MODE)
