"""The run log: JSON lines, appended, read back, a torn line tolerated."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from seriespub import runlog

T = dt.datetime(2026, 3, 3, 9, 0, 2, tzinfo=dt.UTC)


def test_append_then_read(tmp_path: Path) -> None:
    state = tmp_path / ".seriespub"
    runlog.append(state, {"event": "due", "instalment": 3}, T)
    runlog.append(
        state, {"event": "sent", "instalment": 3, "count": 120}, T + dt.timedelta(minutes=1)
    )
    lines = (state / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["due", "sent"]
    assert runlog.read(state) == [
        {"ts": "2026-03-03T09:00:02+00:00", "event": "due", "instalment": 3},
        {"ts": "2026-03-03T09:01:02+00:00", "event": "sent", "instalment": 3, "count": 120},
    ]


def test_read_limit_keeps_the_latest(tmp_path: Path) -> None:
    for n in range(10):
        runlog.append(tmp_path, {"n": n}, T, durable=n == 0)
    assert [e["n"] for e in runlog.read(tmp_path, 3)] == [7, 8, 9]


def test_read_without_a_log_is_empty(tmp_path: Path) -> None:
    assert runlog.read(tmp_path / "missing", 5) == []


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_clean(tmp_path: Path) -> None:
    runlog.append(tmp_path, {"event": "due"}, T)
    with (tmp_path / "log.jsonl").open("a") as handle:
        handle.write('{"ts": "2026-03-03T09:00:03+00:00", "event": "se')  # killed mid-write
    assert [e["event"] for e in runlog.read(tmp_path)] == ["due"]
    runlog.append(tmp_path, {"event": "error", "message": "boom"}, T)
    assert [e["event"] for e in runlog.read(tmp_path)] == ["due", "error"]


def test_non_object_and_binary_lines_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(b'[1, 2]\n\xff\xfe\n{"event": "ok"}\n')
    assert runlog.read(tmp_path) == [{"event": "ok"}]


def test_values_that_json_cannot_hold_are_written_as_text(tmp_path: Path) -> None:
    written = runlog.append(tmp_path, {"path": tmp_path, "next": T}, T)
    assert runlog.read(tmp_path) == [json.loads(json.dumps(written, default=str))]
    assert runlog.read(tmp_path)[0]["path"] == str(tmp_path)
