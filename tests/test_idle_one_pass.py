"""An idle `send due` after the front's last part asks whose turn it is now and whose is
next from one pass over the list (`tracking.idle_plans`, `ListedReaders.twins`): each plan
is exactly the one `slot_plan` makes alone, also for a returned reader who caught up on
their track in this slot (on it now, with the front in the next) and when the list is
rewritten mid-pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine

from conftest import rewritten_mid_read
from evergreen import RETURNS, caught_up_on_track, local
from seriespub import tracking
from seriespub.lateparts import LateParts
from seriespub.ops.session import Session, session
from seriespub.series import find_series
from seriespub.tracks import SlotPlan

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]


def caught_up_today(make_series: MakeSeries, cli: Cli) -> Path:
    """RETURNS and LATE got part 2 on their tracks on 15 Dec (the tests read it at 10:00)."""
    with time_machine.travel(local(1, 9, 1), tick=False) as clock:
        return caught_up_on_track(make_series, cli, clock, late=True)


def alone(s: Session) -> tuple[SlotPlan, SlotPlan]:
    drafts = s.drafts(strict=False)
    now, _ = tracking.slot_plan(s, drafts, None, count_front=False)
    later, _ = tracking.slot_plan(s, drafts, None, upcoming=True, count_front=False)
    return now, later


def facts(plan: SlotPlan) -> tuple[object, ...]:
    return (
        dict(plan.late.items()),
        plan.front,
        plan.catching_up,
        plan.caught_up,
        plan.counts(),
        plan.counted,
    )


def test_one_pass_reads_each_reader_as_each_slot_alone_does(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = caught_up_today(make_series, cli)
    with session(find_series(explicit=root), "test", now=local(15, 10), readonly=True) as s:
        drafts = s.drafts(strict=False)
        given, _ = tracking.slot_inputs(s, drafts, None, upcoming=False, sent=())
        then, _ = tracking.slot_inputs(s, drafts, None, upcoming=True, sent=())
        now_alone = list(
            tracking.readers(s, None, given.part_one, LateParts(), given.latest, given.slot)
        )
        next_alone = list(
            tracking.readers(s, None, then.part_one, LateParts(), then.latest, then.slot)
        )
        listed = tracking.ListedReaders(
            s,
            None,
            given.part_one,
            latest=given.latest,
            slot=given.slot,
            also_caught_up=tracking.caught_up_in_slot(s, then.latest, then.slot),
        )
        twins = list(listed.twins())
        (now_plan, _), (next_plan, _) = tracking.idle_plans(s, drafts)
        plans_alone = alone(s)
    # On their track today, with the front from the next slot: the two slots differ.
    mine = {r.key: r for r in now_alone}[RETURNS]
    assert mine.returned and not {r.key: r for r in next_alone}[RETURNS].returned
    assert twins == list(zip(now_alone, next_alone, strict=True))
    assert (facts(now_plan), facts(next_plan)) == tuple(facts(p) for p in plans_alone)
    assert next_plan.counts() == {} and now_plan.counts() == {}


def test_a_list_rewritten_mid_pass_is_planned_again(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated address makes the pass settle its suspects with a second look at the
    list, which finds it rewritten (a new file): both plans are made again."""
    root = caught_up_today(make_series, cli)
    path = root / "subscribers.csv"
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*rows, rows[1]]), encoding="utf-8")  # the first reader again
    with session(find_series(explicit=root), "test", now=local(15, 10), readonly=True) as s:
        plans_alone = alone(s)
        reads = rewritten_mid_read(monkeypatch, path, 1)
        (now_plan, _), (next_plan, _) = tracking.idle_plans(s, s.drafts(strict=False))
    assert reads == [2]
    assert (facts(now_plan), facts(next_plan)) == tuple(facts(p) for p in plans_alone)
