"""`status` remembers what its pass over the list found (`seriespub.idletick`, question
"status"): a second `status` with nothing changed does not read subscribers.csv and prints
the same, and each thing the answer depends on (the list, the ledger, the drafts, the clock,
seriespub.toml) makes it read the list again and print exactly what it prints without the
memory (the memory removed: `fresh`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
LATE = "late@example.com"
MEMORY = Path(".seriespub") / "idle-tick.json"

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


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def between_parts(make_series: MakeSeries, cli: Cli, clock: Any) -> Path:
    """Three parts; part 1 out to two readers on 1 Dec, LATE joined on 3 Dec; at 09:02 on
    8 Dec, before cron's run, part 2 (and LATE's part 1) are due now."""
    root = make_series(drafts=3, subscribers=2, extra_toml=SCHEDULE)
    clock.move_to(local(1, 9, 1))
    ok(cli(root, "send", "due"))
    clock.move_to(local(3, 12))
    ok(cli(root, "subscribers", "add", LATE))
    clock.move_to(local(8, 9, 2))
    return root


DUE = "Due now: part 1 → 1, part 2 → 2. At Tue 2026-12-15 09:00: part 2 → 1, part 3 → 2."


def status(cli: Cli, root: Path, *more: str) -> str:
    return str(ok(cli(root, "status", *more)).stdout)


def fresh(cli: Cli, root: Path, *more: str) -> str:
    """What `status` prints without the memory."""
    memory = root / MEMORY
    kept = memory.read_bytes() if memory.exists() else None
    memory.unlink(missing_ok=True)
    try:
        return status(cli, root, *more)
    finally:
        if kept is not None:
            memory.write_bytes(kept)


def remembered(cli: Cli, root: Path) -> str:
    """`status` twice: the second from the memory (asserted by the callers that care)."""
    first = status(cli, root)
    assert status(cli, root) == first
    return first


def test_the_second_status_does_not_read_the_list(
    make_series: MakeSeries, cli: Cli, list_reads: list[str]
) -> None:
    """The first status reads the list once; the second prints the same, to the byte, in
    text and in --json, without opening it."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        list_reads.clear()
        first = status(cli, root)
        first_json = status(cli, root, "--json")
        reads_first = list(list_reads)
        list_reads.clear()
        second = status(cli, root)
        second_json = status(cli, root, "--json")
    assert DUE in first, first
    assert reads_first, "the first status reads the list"
    assert list_reads == []
    assert second == first
    assert second_json == first_json
    assert json.loads(second_json)["readers"]["due_now"] == {"parts": {"1": 1, "2": 2}}
    assert "@" not in (root / MEMORY).read_text()  # counts and times, never an address


def test_a_part_going_out_keeps_its_waiting_count(
    make_series: MakeSeries, cli: Cli, list_reads: list[str]
) -> None:
    """Part 1 sent to 1 of 3 readers (`--limit`): Waiting 2, from the list (`owed`),
    remembered too; a broken row appended is an unreadable reader, waiting as well."""
    root = make_series(drafts=2, subscribers=3)
    ok(cli(root, "send", "next", "--yes", "--limit", "1"))
    first = status(cli, root)
    list_reads.clear()
    second = status(cli, root)
    assert list_reads == []
    assert second == first
    assert "sending" in first and " 2\n" in first, first
    with open(root / "subscribers.csv", "a", encoding="utf-8") as handle:
        handle.write("not an address,Broken,active,2026-01-01\n")
    after = status(cli, root)
    assert after != first
    assert after == fresh(cli, root)
    assert " 3\n" in after, after


def test_a_reader_added_is_counted(make_series: MakeSeries, cli: Cli) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        before = remembered(cli, root)
        ok(cli(root, "subscribers", "add", "later@example.com"))
        after = status(cli, root)
        assert after == fresh(cli, root)
    assert after != before
    assert "At Tue 2026-12-15 09:00: part 1 → 1, part 2 → 1, part 3 → 2." in after, after


@pytest.mark.parametrize("how", [["remove", LATE], ["remove", LATE, "--forget"], ["edit"]])
def test_a_reader_unsubscribed_or_removed_is_not_counted(
    make_series: MakeSeries, cli: Cli, how: list[str]
) -> None:
    """Removed, forgotten, or set to unsubscribed by hand (the inbox's way)."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        before = remembered(cli, root)
        if how == ["edit"]:
            path = root / "subscribers.csv"
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace(f"{LATE},,active,", f"{LATE},,unsubscribed,"))
            assert path.read_text(encoding="utf-8") != text
        else:
            ok(cli(root, "subscribers", *how))
        after = status(cli, root)
        assert after == fresh(cli, root)
    assert after != before
    assert "Due now: part 2 → 2." in after, after


def test_a_row_broken_in_place_with_its_mtime_kept_is_seen(
    make_series: MakeSeries, cli: Cli
) -> None:
    """LATE's row made invalid in place (same size, the mtime set back: only the ctime
    tells): an invalid row is nobody's, LATE is no longer counted."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        before = remembered(cli, root)
        path = root / "subscribers.csv"
        stat = path.stat()
        text = path.read_bytes()
        assert text.count(b",active,") == 3
        with open(path, "r+b") as handle:
            handle.write(text.replace(f"{LATE},".encode(), b"late@example,"))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert path.stat().st_size == stat.st_size
        after = status(cli, root)
        assert after == fresh(cli, root)
    assert after != before
    assert "Due now: part 2 → 2." in after, after


def test_a_part_sent_is_seen(make_series: MakeSeries, cli: Cli) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        before = remembered(cli, root)
        ok(cli(root, "send", "due"))
        after = status(cli, root)
        assert after == fresh(cli, root)
    assert after != before
    assert "Due now" not in after
    assert "At Tue 2026-12-15 09:00: part 2 → 1, part 3 → 2." in after, after


def test_a_change_in_the_ledger_alone_is_seen(make_series: MakeSeries, cli: Cli) -> None:
    """LATE's part 1 deleted by another connection (no part started or finished, the slots
    the same): LATE is owed part 1 now."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        ok(cli(root, "send", "due"))
        clock.move_to(local(8, 10))
        before = remembered(cli, root)
        ledger = sqlite3.connect(root / ".seriespub" / "ledger.db")
        with ledger:
            changed = ledger.execute(
                "DELETE FROM deliveries WHERE email=? AND instalment=1", (LATE,)
            ).rowcount
        ledger.close()
        after = status(cli, root)
        assert after == fresh(cli, root)
    assert changed == 1
    assert after.split("Readers:")[1] != before.split("Readers:")[1]
    assert "Due now: part 1 → 1. At Tue 2026-12-15 09:00: part 2 → 1, part 3 → 2." in after, after


def test_a_draft_made_a_draft_again_then_ready_and_one_added(
    make_series: MakeSeries, cli: Cli
) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        ok(cli(root, "send", "due"))
        clock.move_to(local(8, 10))
        before = remembered(cli, root)
        third = root / "drafts" / "03-part-3.md"
        third.write_text(third.read_text().replace("status: ready", "status: draft"))
        held = status(cli, root)
        assert held == fresh(cli, root)
        third.write_text(third.read_text().replace("status: draft", "status: ready"))
        again = status(cli, root)
        assert again == fresh(cli, root)
        fourth = third.read_text().replace("Part 3 title", "Part 4 title")
        (root / "drafts" / "04-part-4.md").write_text(fourth)
        added = remembered(cli, root)
        # Part 3 out on 15 Dec: part 4 is the front's next, where it had none before.
        clock.move_to(local(15, 9, 1))
        ok(cli(root, "send", "due"))
        clock.move_to(local(15, 10))
        four = status(cli, root)
        assert four == fresh(cli, root)
        (root / "drafts" / "04-part-4.md").unlink()
        gone = status(cli, root)
        assert gone == fresh(cli, root)
    assert held != before and "once part 3 is ready" in held, held
    assert again == before
    assert added != before and added.split("Readers:")[1] == before.split("Readers:")[1]
    assert "part 4 → 2" in four, four
    assert gone != four and "part 4" not in gone.split("Readers:")[1], gone


def test_the_clock_passing_a_slot_is_seen(make_series: MakeSeries, cli: Cli) -> None:
    """Nothing written between 10:00 on 8 Dec and 09:02 on 15 Dec: part 3 (and LATE's
    part 2) are due now, where the memory of 8 Dec says the next slot."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        ok(cli(root, "send", "due"))
        clock.move_to(local(8, 10))
        before = remembered(cli, root)
        clock.move_to(local(15, 9, 2))
        after = status(cli, root)
        assert after == fresh(cli, root)
        clock.move_to(local(15, 10))  # the same slot: remembered, the same answer
        again = status(cli, root)
    assert after != before
    assert "Due now: part 2 → 1, part 3 → 2." in after, after
    assert again == after


def test_seriespub_toml_edited_is_seen(make_series: MakeSeries, cli: Cli) -> None:
    """late_joiners = "current": nobody catches up, LATE is on the front."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        before = remembered(cli, root)
        toml = root / "seriespub.toml"
        toml.write_text(
            toml.read_text().replace("[series]\n", '[series]\nlate_joiners = "current"\n', 1)
        )
        after = status(cli, root)
        assert after == fresh(cli, root)
    assert after != before
    assert "late_joiners = current" in after, after


@pytest.mark.parametrize("text", [b"", b"{not json", b'{"format": 99, "answers": {}}', b"[]"])
def test_a_broken_memory_is_ignored_and_replaced(
    make_series: MakeSeries, cli: Cli, text: bytes, list_reads: list[str]
) -> None:
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        (root / MEMORY).write_bytes(text)
        first = status(cli, root)
        list_reads.clear()
        second = status(cli, root)
    assert DUE in first, first
    assert second == first
    assert list_reads == []


def test_a_tampered_answer_is_worked_out_again(
    make_series: MakeSeries, cli: Cli, list_reads: list[str]
) -> None:
    """An answer of the right key but the wrong shape: the list is read, nothing fails."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        root = between_parts(make_series, cli, clock)
        first = remembered(cli, root)
        memory = root / MEMORY
        data = json.loads(memory.read_text())
        data["answers"]["status"]["answer"] = {"readers": [1, 2]}
        memory.write_text(json.dumps(data))
        list_reads.clear()
        again = status(cli, root)
    assert again == first
    assert list_reads
