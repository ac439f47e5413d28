"""The unattended-run log: one JSON object per line in `.seriespub/log.jsonl`.

Each event is written with one `write()` on a file opened for appending, so concurrent
writers never interleave inside a line. A run killed mid-write leaves a torn last line:
`append` starts on a fresh line when the file does not end in one, and `read` skips lines
that are not JSON objects. Every event gets `ts` (ISO 8601, UTC) unless it carries one.

Every string in an event is scrubbed of registered secrets before it is written
(`seriespub.redact`).

Log only what an author wants to find later (what was due, what was sent, errors), not
every idle tick: in a CI schedule this file is committed back after each run. The file is
the owner's only (0600, its folder 0700); a full disk is one `StateError` line naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seriespub.redact import scrub_data, scrub_default
from seriespub.statefiles import open_private, os_error, private_dir

LOG_NAME = "log.jsonl"


def log_path(state_dir: Path) -> Path:
    """Where the run log of the series whose state is in `state_dir` lives."""
    return state_dir / LOG_NAME


def append(
    state_dir: Path,
    event: Mapping[str, Any],
    now: dt.datetime | None = None,
    *,
    durable: bool = False,
) -> dict[str, Any]:
    """Append `event` (with a `ts`) as one line; returns what was written."""
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    record: dict[str, Any] = scrub_data({"ts": stamp.isoformat(timespec="seconds"), **event})
    line = json.dumps(record, ensure_ascii=False, default=scrub_default) + "\n"
    private_dir(state_dir)
    fd = open_private(log_path(state_dir), os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        prefix = "" if _ends_cleanly(fd) else "\n"
        os.write(fd, (prefix + line).encode())
        if durable:
            os.fsync(fd)
    except OSError as exc:
        raise os_error(exc, log_path(state_dir), "cannot write the run log") from None
    finally:
        os.close(fd)
    return record


def read(state_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The last `limit` events (all if None), oldest first; unreadable lines are skipped."""
    try:
        handle = log_path(state_dir).open(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return []
    with handle:
        events = (e for e in map(_parse, handle) if e is not None)
        return list(deque(events, maxlen=limit))


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _ends_cleanly(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"
