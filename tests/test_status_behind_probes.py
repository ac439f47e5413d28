"""`status` after sends asks the ledger about a front reader only when they may have fallen
behind the latest part (`Ledger.lacking`: a row of another part, none of it): a front that
had every part is never looked up one by one, at any size of list."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok, set_active
from seriespub.ledger import Ledger

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
LEFT = "reader0002@example.com"
LATE = "late@example.com"


def slot(week: int) -> dt.datetime:
    return dt.datetime(2026, 12, 1, 9, 1, tzinfo=LONDON) + dt.timedelta(weeks=week - 1)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every address the ledger is asked about one by one (its per-reader queries)."""
    seen: set[str] = set()

    def counting(name: str, at: int) -> None:
        real = getattr(Ledger, name)

        def counted(self: Ledger, *args: Any, **kwargs: Any) -> Any:
            keys: Iterable[str] = args[at]
            keys = list(keys)
            seen.update(k.lower() for k in keys)
            return real(self, *args[:at], keys, *args[at + 1 :], **kwargs)

        monkeypatch.setattr(Ledger, name, counted)

    for name, at in (("statuses", 1), ("received", 0), ("batch_times", 1)):
        counting(name, at)
    return seen


def left_and_late(make_series: MakeSeries, cli: Cli, asked: set[str]) -> Any:
    """Reader 2 left after part 1 and is back after part 2; a late joiner had part 1 in
    part 2's slot. `status --json`'s readers, the ledger's askings counted from there."""
    root = make_series(drafts=3, subscribers=6, extra_toml=SCHEDULE)
    with time_machine.travel(slot(1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 3, 12, tzinfo=LONDON))
        ok(cli(root, "subscribers", "remove", LEFT))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(slot(2))
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 10, 12, tzinfo=LONDON))
        set_active(root, LEFT)
        asked.clear()
        return json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]


def test_status_looks_up_only_who_may_have_fallen_behind(
    make_series: MakeSeries, cli: Cli, asked: set[str]
) -> None:
    """Reader 2 left after part 1 and is back after part 2; a late joiner had part 1 in
    part 2's slot. `status` counts them as before (both owe part 2), and of the front asks
    the ledger about reader 2 alone: the others had part 2."""
    readers = left_and_late(make_series, cli, asked)
    assert readers["due_now"] == {"parts": {"2": 1}}  # reader 2: nothing in slot 2 yet
    assert readers["next_slot"]["parts"] == {"2": 1, "3": 6}
    assert (readers["front"], readers["catching_up"], readers["caught_up"]) == (5, 1, 1)
    assert asked == {LEFT, LATE}


def test_status_after_every_reader_had_every_part_looks_nobody_up(
    make_series: MakeSeries, cli: Cli, asked: set[str]
) -> None:
    root = make_series(drafts=3, subscribers=6, extra_toml=SCHEDULE)
    with time_machine.travel(slot(1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(slot(2))
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 10, 12, tzinfo=LONDON))
        asked.clear()
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    assert readers["due_now"] is None
    assert (readers["front"], readers["catching_up"], readers["caught_up"]) == (6, 0, 0)
    assert asked == set()


def test_past_the_parts_a_merge_is_worth_each_front_reader_is_probed_and_counts_hold(
    make_series: MakeSeries, cli: Cli, asked: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lacking` merges every other part's index slice (about 0.2 s a part at 1,000,000
    readers); past LACKING_PARTS parts one probe a reader of the latest part costs less
    (about 2.5 s at 1,000,000, whatever the parts). The plan is the same either way: here
    with the limit at 0, the first case's counts, every front reader probed once."""
    import seriespub.ledger

    monkeypatch.setattr(seriespub.ledger, "LACKING_PARTS", 0)
    probed: list[str] = []
    having = Ledger.having

    def counted(self: Ledger, number: int, keys: list[str]) -> set[str]:
        probed.extend(keys)
        return having(self, number, keys)

    monkeypatch.setattr(Ledger, "having", counted)
    readers = left_and_late(make_series, cli, asked)
    assert readers["due_now"] == {"parts": {"2": 1}}
    assert readers["next_slot"]["parts"] == {"2": 1, "3": 6}
    assert (readers["front"], readers["catching_up"], readers["caught_up"]) == (5, 1, 1)
    assert sorted(probed) == sorted(f"reader{i:04d}@example.com" for i in range(1, 7))
    assert asked == {LEFT, LATE}  # the history, still only of who lacked the part
