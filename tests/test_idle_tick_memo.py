"""An idle `send due` tick remembers what its pass over the list found (`seriespub.idletick`):
the next tick with nothing changed does not read subscribers.csv, and each thing that decides
the answer (the list, the ledger, the drafts, the clock) makes it read the list again and
answer exactly as it would have without the memory."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine

from conftest import delivery_log, ok
from evergreen import LATE, NONE_PLANNED, RETURNS, SCHEDULE, caught_up_on_track, finished, local

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
PART_2_NEXT = (
    "Every part has gone out; to readers catching up: part 2 → 1 on Tue 2026-12-15 09:00 GMT"
)

# subscribers.csv opened by this process while `_reading` is on: an audit hook cannot be
# removed, so one is installed for the whole session and only records on demand.
_opened: list[str] = []
_reading: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _reading and event == "open" and str(args[0]).endswith("subscribers.csv"):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def list_reads() -> Iterator[list[str]]:
    """The opens of subscribers.csv during the test."""
    _opened.clear()
    _reading.append(True)
    try:
        yield _opened
    finally:
        _reading.clear()


def idle(cli: Cli, root: Path) -> str:
    result = ok(cli(root, "send", "due"))
    assert not result.stdout, result.stdout
    return str(result.stderr)


def test_the_second_idle_tick_does_not_read_the_list(
    make_series: MakeSeries, cli: Cli, list_reads: list[str]
) -> None:
    """The first idle tick reads the list once (whose turn it is now and whose next, from
    one pass: `tracking.idle_plans`); the second says the same, to the byte, in text and in
    --json, without opening it."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        list_reads.clear()
        first = idle(cli, root)
        reads_first = list(list_reads)
        list_reads.clear()
        second = idle(cli, root)
        as_json = json.loads(ok(cli(root, "send", "due", "--json")).stdout)
    assert len(reads_first) == 1, reads_first
    assert list_reads == []
    assert PART_2_NEXT in first, first
    assert second == first
    assert as_json["late_joiners_next"] == {"release": local(15, 9).isoformat(), "parts": {"2": 1}}


def test_a_reader_added_is_counted(make_series: MakeSeries, cli: Cli) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        assert PART_2_NEXT in idle(cli, root)
        ok(cli(root, "subscribers", "add", "later@example.com"))
        after = idle(cli, root)
    assert "part 1 → 1, part 2 → 1 on Tue 2026-12-15 09:00 GMT" in after, after


@pytest.mark.parametrize("how", [["remove", LATE], ["remove", LATE, "--forget"]])
def test_a_reader_unsubscribed_or_removed_is_not_counted(
    make_series: MakeSeries, cli: Cli, how: list[str]
) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        assert PART_2_NEXT in idle(cli, root)
        ok(cli(root, "subscribers", *how))
        after = idle(cli, root)
    assert NONE_PLANNED in after, after


def test_an_edit_that_keeps_the_size_and_the_mtime_is_seen(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Another address of the same length written in place, the mtime set back: only the
    ctime tells. The new reader (LATE's date, nothing received) gets part 1 now, where a
    remembered "nobody" would have sent nothing."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        assert PART_2_NEXT in idle(cli, root)
        path = root / "subscribers.csv"
        before = path.stat()
        text = path.read_bytes()
        with open(path, "r+b") as handle:  # the same inode
            handle.write(text.replace(LATE.encode(), b"lath@example.com"))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert path.stat().st_size == before.st_size
        after = ok(cli(root, "send", "due"))
    assert "Part 1: sent 1," in after.stdout, after.stdout
    assert delivery_log(cli, root, 1)["lath@example.com"]["status"] == "sent"


def test_a_change_in_the_ledger_is_seen(make_series: MakeSeries, cli: Cli) -> None:
    """LATE's part 1 deferred (the provider said "later"), written to the ledger by another
    connection: the next tick finishes it now, where a remembered "nobody" would not."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        assert PART_2_NEXT in idle(cli, root)
        ledger = sqlite3.connect(root / ".seriespub" / "ledger.db")
        with ledger:
            ledger.execute(
                "UPDATE deliveries SET status='deferred' WHERE email=? AND instalment=1", (LATE,)
            )
        ledger.close()
        ok(cli(root, "send", "due"))
    assert delivery_log(cli, root, 1)[LATE]["status"] == "sent"
    assert delivery_log(cli, root, 1)[LATE]["attempts"] == 2


def test_a_released_part_made_a_draft_again_holds_the_late_joiner(
    make_series: MakeSeries, cli: Cli
) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        assert PART_2_NEXT in idle(cli, root)
        draft = root / "drafts" / "02-part-2.md"
        draft.write_text(draft.read_text().replace("status: ready", "status: draft"))
        held = idle(cli, root)
        draft.write_text(draft.read_text().replace("status: draft", "status: ready"))
        again = idle(cli, root)
    assert NONE_PLANNED in held, held
    assert PART_2_NEXT in again, again


def test_a_draft_added_is_the_next_release(make_series: MakeSeries, cli: Cli) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        assert PART_2_NEXT in idle(cli, root)
        second = root / "drafts" / "02-part-2.md"
        third = second.read_text().replace("Part 2 title", "Part 3 title")
        (root / "drafts" / "03-part-3.md").write_text(third)
        after = idle(cli, root)
    assert "Next release: part 3 (Part 3 title) on Tue 2026-12-15 09:00 GMT" in after, after


def test_the_clock_reaching_the_next_slot_sends(make_series: MakeSeries, cli: Cli) -> None:
    """Remembered at 10:00 on 8 Dec: nobody now. On 15 Dec the tick sends LATE part 2."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        assert PART_2_NEXT in idle(cli, root)
        assert PART_2_NEXT in idle(cli, root)
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        clock.move_to(local(15, 10))
        after = idle(cli, root)
    assert delivery_log(cli, root, 2)[LATE]["status"] == "sent"
    assert NONE_PLANNED in after, after


def test_between_parts_the_second_idle_tick_does_not_read_the_list(
    make_series: MakeSeries, cli: Cli, list_reads: list[str]
) -> None:
    """Part 1 out, part 2 a week later: an idle tick between them asks whose turn it is
    now (one pass over the list); the next asks nothing of the list."""
    root = make_series(drafts=2, subscribers=2, extra_toml=SCHEDULE)
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(local(2, 10))
        list_reads.clear()
        first = idle(cli, root)
        reads_first = len(list_reads)
        list_reads.clear()
        second = idle(cli, root)
    assert reads_first >= 1
    assert list_reads == []
    assert "Next release: part 2 (Part 2 title)" in first, first
    assert second == first


def test_a_list_stamped_in_the_future_is_never_trusted(
    make_series: MakeSeries, cli: Cli, list_reads: list[str]
) -> None:
    """A write in the file system's current clock tick (here: a time stamp ahead of it)
    could look the same as none: the answer is not kept, every tick reads the list."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        path = root / "subscribers.csv"
        ahead = path.stat().st_mtime_ns + 3600 * 10**9
        os.utime(path, ns=(ahead, ahead))
        idle(cli, root)
        list_reads.clear()
        assert PART_2_NEXT in idle(cli, root)
    assert list_reads


@pytest.mark.parametrize("text", [b"", b"{not json", b'{"format": 99, "answers": {}}', b"[]"])
def test_a_broken_memory_is_ignored_and_replaced(
    make_series: MakeSeries, cli: Cli, text: bytes, list_reads: list[str]
) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = finished(make_series, cli, clock)
        memory = root / ".seriespub" / "idle-tick.json"
        memory.write_bytes(text)
        first = idle(cli, root)
        list_reads.clear()
        second = idle(cli, root)
    assert PART_2_NEXT in first, first
    assert second == first
    assert list_reads == []
    assert memory.stat().st_mode & 0o777 == 0o600
    assert "@" not in memory.read_text()  # counts and times, never an address


def test_a_returned_reader_who_caught_up_in_this_slot_is_read_in_the_same_one_pass(
    make_series: MakeSeries, cli: Cli, list_reads: list[str]
) -> None:
    """Reader 2 leaves after part 1, comes back after part 2 and gets part 2 on their track
    on 15 Dec: still on it in that slot (a returned reader), with the front from the next.
    The first idle tick that day reads the list once and finds nobody now and nobody next."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = caught_up_on_track(make_series, cli, clock, late=False)
        clock.move_to(local(15, 10))
        list_reads.clear()
        first = idle(cli, root)
        reads_first = list(list_reads)
        second = idle(cli, root)
    assert delivery_log(cli, root, 2)[RETURNS]["status"] == "sent"
    assert len(reads_first) == 1, reads_first
    assert NONE_PLANNED in first, first
    assert second == first
