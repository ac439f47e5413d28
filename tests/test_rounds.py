"""A round with late joiners on many parts (issue 13): the list is read a fixed number of times
whatever the number of parts, and every guarantee of a round holds.

Reads are counted in lines, through `open` in `seriespub.subscribers` (`lines_read`): the
live list, the send's snapshot and its temporary copy are the *whole list*; the files a round
picks each late part's rows into are named part-*.csv and hold its late joiners' rows only.
A read of the header alone (rendering checks the columns a template uses) is two lines.

The scenario: forty readers on the front from part 1; one reader joins after each part, so
the round after part k has late joiners on k - 1 different parts.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import email
import email.policy
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from seriespub import lateparts, laterows, subscribers
from seriespub.errors import InputError
from seriespub.ops import send as ops
from test_tracks_scale import T0, WEEK, MakeSeries, append_rows, held, outbox, send_next

FRONT = 40


class _Counted:
    """A text file that counts the lines read from it."""

    def __init__(self, handle: Any, name: str, tally: Counter[str]) -> None:
        self.handle, self.name, self.tally = handle, name, tally

    def readline(self, *args: Any) -> Any:
        line = self.handle.readline(*args)
        self.tally[self.name] += bool(line)
        return line

    def __iter__(self) -> Iterator[Any]:
        for line in self.handle:
            self.tally[self.name] += 1
            yield line

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.handle, attr)

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


@pytest.fixture
def lines_read(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Lines `seriespub.subscribers` read from each CSV file, by name."""
    tally: Counter[str] = Counter()

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(file, *args, **kwargs)  # noqa: SIM115 (closed by its reader)
        if not str(file).endswith(".csv") or "b" in (args[0] if args else "r"):
            return handle
        return _Counted(handle, Path(file).name, tally)

    monkeypatch.setattr(subscribers, "open", counting, raising=False)
    return tally


JOINERS = [f"late{k}@example.com" for k in range(1, 6)]


def whole_list_lines(reads: Counter[str]) -> int:
    return sum(n for name, n in reads.items() if not name.startswith("part-"))


def state_files(root: Path) -> list[str]:
    """The series' state folder (the ledger's own files aside: a reader may leave them)."""
    return sorted(p.name for p in (root / ".seriespub").iterdir() if "ledger.db" not in p.name)


def join(root: Path, week: int) -> None:
    """The reader who joins the day after week `week`'s round."""
    append_rows(root, [(JOINERS[week], (T0 + week * WEEK + dt.timedelta(days=1)).isoformat())])


def play_rounds(root: Path, weeks: int) -> None:
    """Rounds at weeks 0 .. weeks-1, a reader joining after each."""
    for week in range(weeks):
        send_next(root, T0 + week * WEEK)
        join(root, week)


@pytest.mark.parametrize("spill", [None, 0], ids=["in-memory", "late-joiners-on-disk"])
def test_a_round_with_three_late_parts_reads_the_list_no_more_than_with_one(
    make_series: MakeSeries,
    monkeypatch: pytest.MonkeyPatch,
    lines_read: Counter[str],
    spill: int | None,
) -> None:
    if spill is not None:
        monkeypatch.setattr(lateparts, "SPILL", spill)
    root = make_series(drafts=6, subscribers=FRONT)
    reads, late_parts = [], []
    for week in range(4):
        lines_read.clear()
        outcome = send_next(root, T0 + week * WEEK)
        reads.append(whole_list_lines(lines_read))
        late_parts.append([g.number for g in outcome.groups])
        join(root, week)
    assert late_parts == [[], [1], [1, 2], [1, 2, 3]]
    assert reads[1] > reads[0] + FRONT, "a round with late joiners plans them: a pass more"
    # Two more late parts than week 1's round: less than one more pass over the list.
    assert reads[3] - reads[1] < FRONT, f"lines of the whole list read per round: {reads}"
    got = outbox(root)
    assert set(got.values()) == {1}, "nobody gets a part twice"
    assert {p for a, p in got if a == "late1@example.com"} == {1, 2, 3}
    assert {p for a, p in got if a == "late2@example.com"} == {1, 2}
    assert {p for a, p in got if a == "late3@example.com"} == {1}
    assert {p for a, p in got if a == "reader0001@example.com"} == {1, 2, 3, 4}


def test_a_dry_run_round_counts_what_the_send_sends_and_leaves_no_file(
    make_series: MakeSeries,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    lines_read: Counter[str],
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    root = make_series(drafts=6, subscribers=FRONT)
    play_rounds(root, 3)
    state = state_files(root)
    now = T0 + 3 * WEEK
    dry_reads = []
    for _ in range(2):
        lines_read.clear()
        with held(root, now, readonly=True) as s:
            dry = ops.send(s, ops.SendOptions(dry_run=True), ops.SendHooks())
        dry_reads.append(whole_list_lines(lines_read))
    assert state_files(root) == state
    assert dry_reads[0] == dry_reads[1] > 0
    assert list(scratch.iterdir()) == [], "the dry run's picked rows are removed"
    assert [(o.number, o.built) for o in dry.outcomes] == [(1, 1), (2, 1), (3, 1), (4, FRONT)]
    sent = send_next(root, now)
    assert [(o.number, o.report and o.report.sent) for o in sent.outcomes] == [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, FRONT),
    ]
    assert not list((root / ".seriespub").glob("round-*")), "the round's rows are removed"


def test_an_unreadable_row_stops_every_late_run_unless_skipped(
    make_series: MakeSeries,
) -> None:
    root = make_series(drafts=6, subscribers=FRONT)
    play_rounds(root, 3)
    append_rows(root, [("not-an-address", "")])
    before = outbox(root)
    with pytest.raises(InputError, match="1 row"):
        send_next(root, T0 + 3 * WEEK)
    assert outbox(root) == before, "nothing was sent"
    assert not list((root / ".seriespub").glob("round-*"))
    with held(root, T0 + 3 * WEEK) as s:
        outcome = ops.send(s, ops.SendOptions(skip_invalid=True), ops.SendHooks())
        assert [o.plan.invalid for o in outcome.outcomes] == [1, 1, 1, 1]
        assert [o.report and o.report.sent for o in outcome.outcomes] == [1, 1, 1, FRONT]
        assert s.ledger.instalment_records()[4].finished_at is None, "still owed to a row"


def test_an_editor_saving_the_list_mid_round_skips_nobody_and_sends_nobody_twice(
    make_series: MakeSeries,
) -> None:
    root = make_series(drafts=6, subscribers=FRONT)
    play_rounds(root, 3)
    listed = root / "subscribers.csv"
    runs: list[int] = []

    @contextlib.contextmanager
    def edit() -> Iterator[None]:
        # Before each run: rows reversed (every row moves) and a new front reader added.
        runs.append(len(runs) + 1)
        header, *rows = listed.read_text(encoding="utf-8").splitlines()
        rows = [*reversed(rows), f"new{len(runs)}@example.com,,active,"]
        listed.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        yield

    with held(root, T0 + 3 * WEEK) as s:
        outcome = ops.send(s, ops.SendOptions(), ops.SendHooks(running=edit))
    assert runs == [1, 2, 3, 4]
    assert [o.report and o.report.sent for o in outcome.outcomes][:3] == [1, 1, 1]
    got = outbox(root)
    assert set(got.values()) == {1}, "nobody gets a part twice"
    assert {(a, p) for a, p in got if a.startswith("late")} == {
        ("late1@example.com", 1),
        ("late1@example.com", 2),
        ("late1@example.com", 3),
        ("late2@example.com", 1),
        ("late2@example.com", 2),
        ("late3@example.com", 1),
    }
    front = {f"reader{i:04d}@example.com" for i in range(1, FRONT + 1)}
    assert {a for a, p in got if p == 4} >= front


def test_picked_rows_keep_a_late_joiners_fields_in_a_semicolon_list_with_a_bom(
    make_series: MakeSeries,
) -> None:
    root = make_series(drafts=3, subscribers=2)
    listed = root / "subscribers.csv"
    rows = listed.read_text(encoding="utf-8").replace(",", ";")
    listed.write_text("\ufeff" + rows, encoding="utf-8")
    send_next(root, T0)
    joined = (T0 + dt.timedelta(days=1)).isoformat()
    with listed.open("a", encoding="utf-8") as handle:
        handle.write(f'late@example.com;"Ann ""A"" Lee; Esq";active;{joined}\n')
    send_next(root, T0 + WEEK)
    outcome = send_next(root, T0 + 2 * WEEK)
    assert [g.number for g in outcome.groups] == [2] and outcome.number == 3
    got = {}
    for path in (root / ".seriespub" / "outbox").glob("*/*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        to = message["To"].addresses[0]
        got[to.addr_spec.lower(), int(path.parent.name)] = to.display_name
    assert {p for a, p in got if a == "late@example.com"} == {1, 2}
    assert got["late@example.com", 2] == 'Ann "A" Lee; Esq'


def test_a_round_killed_after_picking_leaves_rows_the_next_send_removes(
    make_series: MakeSeries,
) -> None:
    root = make_series(drafts=6, subscribers=3)
    play_rounds(root, 2)
    stale = root / ".seriespub" / "round-stale"
    stale.mkdir()
    (stale / "part-0001.csv").write_text("email\nlate0@example.com\n", encoding="utf-8")
    outcome = send_next(root, T0 + 2 * WEEK)
    assert [g.number for g in outcome.groups] == [1, 2]
    assert not list((root / ".seriespub").glob("round-*"))


@pytest.mark.parametrize("spill", [None, 0], ids=["in-memory", "on-disk"])
def test_late_parts_answer_many_keys_at_once_as_one_by_one(spill: int | None) -> None:
    late = lateparts.LateParts(spill)
    for k in range(2_000):
        late[f"r{k}@example.com"] = None if k % 7 == 0 else k % 5
    keys = [f"r{k}@example.com" for k in range(0, 4_000, 3)]
    assert late.parts_of(keys) == {key: late[key] for key in keys if key in late}
    assert late.spilled is (spill == 0)


def test_a_dry_run_removes_what_a_killed_dry_run_left_and_only_that(
    make_series: MakeSeries, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A dry run killed mid-round leaves readers' rows in the temp folder; the next dry run
    removes a folder whose process is gone, and leaves a running one's alone."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    stale = scratch / f"{laterows.DRY_ROUND_PREFIX}{gone.stdout.strip()}-abc"
    running = scratch / f"{laterows.DRY_ROUND_PREFIX}{os.getpid()}-def"
    for folder in (stale, running):
        folder.mkdir()
        (folder / "part-0002.csv").write_text("email\nlate@example.com\n")
    root = make_series(drafts=6, subscribers=FRONT)
    play_rounds(root, 3)
    with held(root, T0 + 3 * WEEK, readonly=True) as s:
        ops.send(s, ops.SendOptions(dry_run=True), ops.SendHooks())
    assert sorted(scratch.iterdir()) == [running]


class Declined(Exception):
    pass


def test_a_round_is_asked_about_once_before_anything_is_sent_or_recorded(
    make_series: MakeSeries,
) -> None:
    """The author sees every run's plan at once; saying no leaves the ledger, the outbox
    and the front's part (not started: not released) as they were."""
    root = make_series(drafts=6, subscribers=FRONT)
    play_rounds(root, 3)
    before = outbox(root)
    asked: list[list[int]] = []

    def decline(plans: Sequence[ops.SendPlan]) -> None:
        asked.append([p.instalment.number for p in plans])
        assert outbox(root) == before, "asked before anything is sent"
        raise Declined

    with held(root, T0 + 3 * WEEK) as s:
        counts = {n: s.ledger.counts(n) for n in range(1, 5)}
        with pytest.raises(Declined):
            ops.send(s, ops.SendOptions(), ops.SendHooks(confirm_round=decline))
        assert {n: s.ledger.counts(n) for n in range(1, 5)} == counts
        assert 4 not in s.ledger.instalment_records(), "part 4 not released"
    assert asked == [[1, 2, 3, 4]]
    assert outbox(root) == before
    assert not list((root / ".seriespub").glob("round-*"))
    sent = send_next(root, T0 + 3 * WEEK)  # asked again, the author says yes
    assert [(o.number, o.report and o.report.sent) for o in sent.outcomes] == [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, FRONT),
    ]


def test_without_confirm_round_each_runs_plan_is_confirmed_before_any_is_sent(
    make_series: MakeSeries,
) -> None:
    root = make_series(drafts=6, subscribers=FRONT)
    play_rounds(root, 2)
    before = outbox(root)
    asked: list[int] = []

    def confirm(plan: ops.SendPlan) -> None:
        asked.append(plan.instalment.number)
        assert outbox(root) == before
        if plan.instalment.number == 3:
            raise Declined

    with held(root, T0 + 2 * WEEK) as s, pytest.raises(Declined):
        ops.send(s, ops.SendOptions(), ops.SendHooks(confirm=confirm))
    assert asked == [1, 2, 3]
    with held(root, T0 + 2 * WEEK, readonly=True) as s:
        assert 3 not in s.ledger.instalment_records()
