"""An author's first two months, simulated: the features of a weekly series together over time.

A weekly `[schedule]` (late_joiners = "from_start", catch_up = "all") sending through the
Postmark fake, driven through the real CLI with the clock moved to each slot. Readers join on
different days (`subscribers add`, an import that keeps old dates, one with --joined-today),
one leaves and comes back, one bounces (the provider's suppressions); one slot is missed, one
round starts with `send next --limit`, one `send due` is SIGKILLed mid-request (a real
process) and resumed by the next tick, and the unsubscribe key is rotated on purpose. Before
each slot `status --json` and `subscribers list --next --json` predict the slot, and the slot
must send exactly that (where they say something is due now, what they say at its minute).
At the end every reader has each part they are owed exactly once, in order, late joiners at
most one a slot, nobody after they left and nobody before they joined.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import TEST_SECRET, due_now, ok, parts_by_reader, postmark_delivery
from fakes.postmark import PostmarkState
from killed import send_due_at

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
CONFIG = (
    "[schedule]\n"
    "first_release = 2026-12-01T09:00:00\n"
    'timezone = "Europe/London"\n'
    'catch_up = "all"\n\n'
    '[site]\nbase_url = "https://example.org/series/"\n'
)
PARTS = 8
WEEKS = 11
MISSED = 4  # nobody runs cron at slot 4 (the laptop was closed)
LIMITED = 3  # slot 3 starts with `send next --limit 2`
KILLED = 6  # slot 6's `send due` is SIGKILLed mid-request
ROTATED = 7  # slot 7 sends with a new unsubscribe key
NEW_SECRET = "rotated-" + "fedcba9876543210" * 2
R1, R2, R3 = (f"reader000{i}@example.com" for i in (1, 2, 3))
DAN, BEN, OLD, CAT = "dan@example.com", "ben@example.com", "old@example.com", "cat@example.com"

# `send due` in a real process on the test's clock (started at the given instant, ticking).


def slot(week: int, minutes: int = 1) -> dt.datetime:
    """Slot `week` (1: Tue 2026-12-01 09:00 London) plus `minutes`: when cron runs."""
    start = dt.datetime(2026, 12, 1, 9, tzinfo=LONDON) + dt.timedelta(weeks=week - 1)
    return start + dt.timedelta(minutes=minutes)


def day(month: int, date: int, hour: int = 12) -> dt.datetime:
    year = 2026 if month == 12 else 2027
    return dt.datetime(year, month, date, hour, tzinfo=LONDON)


def token_of(message: dict[str, Any]) -> str:
    found = re.search(r"token=([0-9a-f]+)", message["TextBody"])
    assert found, "the message carries no unsubscribe token"
    return found.group(1)


def predict(
    cli: Cli, root: Path, at: dt.datetime, now: bool = False
) -> tuple[dict[int, int], dict[str, int]]:
    """What `status --json` and `subscribers list --next --json` say slot `at` will send:
    part → readers, and reader → part (for those whose next part is due at `at`); with
    `now`, what they say the next `send due` sends now (`at`: the clock's time)."""
    readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    if now:
        when = at
        counts = {
            int(part): n for part, n in (readers["due_now"] or {"parts": {}})["parts"].items()
        }
    else:
        when = at.replace(minute=0)
        assert readers["next_slot"]["at"] is not None
        assert dt.datetime.fromisoformat(readers["next_slot"]["at"]) == when
        counts = {int(part): n for part, n in readers["next_slot"]["parts"].items()}
    rows = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
    due = {
        r["email"]: r["next_part"]
        for r in rows
        if r["next_at"] and dt.datetime.fromisoformat(r["next_at"]) == when
    }
    return counts, due


def unsuppressed(
    counts: dict[int, int], due: dict[str, int], state: PostmarkState
) -> tuple[dict[int, int], dict[str, int]]:
    """The predictions less the readers the provider suppresses: `status` and `subscribers
    list` read no provider (a send pulls its suppressions, or `subscribers sync`)."""
    left_out = {s["EmailAddress"] for s in state.suppressions}
    for address in left_out & set(due):
        counts[due[address]] -= 1
    return {p: n for p, n in counts.items() if n}, {
        a: p for a, p in due.items() if a not in left_out
    }


def write_import(root: Path, name: str, address: str) -> Path:
    path = root.parent / name
    path.write_text(f"email,name,subscribed_at\n{address},Imported,2025-06-01\n", encoding="utf-8")
    return path


def rejoin(root: Path, address: str) -> None:
    """A reader who asked to return: `subscribers add` refuses anyone who left, so the
    author edits their row back to active, as its error says."""
    path = root / "subscribers.csv"
    text = path.read_text(encoding="utf-8")
    assert f"{address},Reader 2,unsubscribed," in text
    back = text.replace(f"{address},Reader 2,unsubscribed,", f"{address},Reader 2,active,")
    path.write_text(back, encoding="utf-8")


def kill_mid_request(root: Path, state: PostmarkState, at: dt.datetime) -> int:
    """`send due` in a real process at `at`, SIGKILLed once the fake has taken its first
    request (whose answer is held back), so that request's batch is left pending."""
    before = len(state.accepted)
    state.faults.delay = 5.0
    proc = send_due_at(root, at)
    deadline = time.monotonic() + 60
    while len(state.accepted) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    state.faults.delay = 0.0
    assert len(state.accepted) > before, "the killed run never reached the provider"
    return len(state.accepted) - before


def between_slots(cli: Cli, root: Path, state: PostmarkState, clock: Any, week: int) -> None:
    """What happens in the days before slot `week`: readers join, leave, bounce, return."""
    if week == 1:
        clock.move_to(day(12, 1, 8))  # release day, before the send: part 1 with everyone
        ok(cli(root, "subscribers", "add", DAN))
    if week == 2:
        clock.move_to(day(12, 3))
        ok(cli(root, "subscribers", "add", BEN))
        clock.move_to(day(12, 5))
        kept = ok(cli(root, "subscribers", "import", str(write_import(root, "old.csv", OLD))))
        assert "1 added reader(s) joined, by the file's dates, " in kept.stderr
        joined = write_import(root, "cat.csv", CAT)
        restamped = ok(cli(root, "subscribers", "import", str(joined), "--joined-today"))
        assert "joined, by the file's dates" not in restamped.stderr
    if week == 3:
        clock.move_to(day(12, 10))
        ok(cli(root, "subscribers", "remove", R2))
    if week == 5:
        clock.move_to(day(12, 20))
        state.suppressions.append(
            {"EmailAddress": CAT, "SuppressionReason": "HardBounce", "CreatedAt": "2026-12-20"}
        )
        clock.move_to(day(12, 23))
        rejoin(root, R2)


def run_slot(
    cli: Cli, root: Path, state: PostmarkState, clock: Any, week: int, mp: pytest.MonkeyPatch
) -> int:
    """Slot `week`'s cron ticks (and the author's hand); returns how many messages the
    killed run got to the provider (0 if none was killed)."""
    killed = 0
    if week == MISSED:
        return killed
    clock.move_to(slot(week))
    if week == LIMITED:
        ok(cli(root, "send", "next", "--limit", "2", "--yes"))
        clock.move_to(slot(week, 6))
    if week == KILLED:
        killed = kill_mid_request(root, state, slot(week))
        clock.move_to(slot(week, 6))
    if week == ROTATED:
        mp.setenv("SERIESPUB_SECRET", NEW_SECRET)
        mp.setenv("SERIESPUB_SECRET_PREVIOUS", TEST_SECRET)
        ok(cli(root, "send", "due", "--new-unsubscribe-key"))
    else:
        ok(cli(root, "send", "due"))
    ok(cli(root, "send", "due"))  # the next minute's tick sends nothing more
    return killed


def site_parts(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "site").iterdir() if re.match(r"\d\d-", p.name))


@pytest.mark.slow
def test_two_months_of_a_weekly_series_send_each_reader_what_they_are_owed(
    make_series: MakeSeries,
    cli: Cli,
    postmark: tuple[str, PostmarkState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, state = postmark
    delivery = postmark_delivery(url, settle_delay=0, batch_size=2, concurrency=1)
    root = make_series(drafts=PARTS, subscribers=3, delivery=delivery, extra_toml=CONFIG)
    toml = root / "seriespub.toml"
    toml.write_text(
        toml.read_text().replace("[series]\n", '[series]\nlate_joiners = "from_start"\n', 1),
        encoding="utf-8",
    )
    history: dict[str, list[tuple[int, int]]] = {}
    mismatches: list[str] = []
    with time_machine.travel(slot(1, -60), tick=False) as clock:
        for week in range(1, WEEKS + 1):
            between_slots(cli, root, state, clock, week)
            clock.move_to(slot(week, -30))
            counts, due = unsuppressed(*predict(cli, root, slot(week, 0)), state)
            if due_now(cli, root):
                # Due before the slot (a slot missed): `status` says so, and its next slot
                # assumes that went out first, which cron here does not do (it runs at the
                # slots). Check the claim this slot's send can prove: at its minute.
                clock.move_to(slot(week))
                counts, due = unsuppressed(*predict(cli, root, slot(week), now=True), state)
            before = len(state.accepted)
            killed = run_slot(cli, root, state, clock, week, monkeypatch)
            sent = parts_by_reader(state.accepted[before:])
            if killed:
                assert killed < len(state.accepted) - before, "the kill left nothing to resume"
            for address, parts in sent.items():
                history.setdefault(address, []).extend((week, p) for p in parts)
            if week == MISSED:
                continue
            firsts = {a: parts[0] for a, parts in sent.items()}
            if due != firsts:
                mismatches.append(f"week {week}: list --next said {due}, sent {sent}")
            tally = dict(Counter(p for parts in sent.values() for p in parts))
            if counts != tally:
                mismatches.append(f"week {week}: status said {counts}, sent {tally}")
            ok(cli(root, "site"))
            front = max((p for _, p in history.get(R1, [])), default=0)
            assert len(site_parts(root)) == front, f"week {week}: {site_parts(root)}"
        old_token = token_of(state.to(R1)[0])
        new_token = token_of(state.to(R1)[-1])
        ok(cli(root, "subscribers", "verify", R1, old_token))  # a link sent in week 1
        ok(cli(root, "subscribers", "verify", R1, new_token))
        monkeypatch.delenv("SERIESPUB_SECRET_PREVIOUS")
        assert cli(root, "subscribers", "verify", R1, old_token).exit_code != 0
    assert old_token != new_token
    for address, got in history.items():
        parts = [p for _, p in got]
        assert parts == sorted(set(parts)), f"{address}: each part once, in order: {parts}"
    for address in (BEN, CAT, R2):  # on a track: one part a slot
        weeks = [w for w, _ in history[address]]
        assert len(weeks) == len(set(weeks)), f"{address}: {history[address]}"
    every = [(w, w) for w in (1, 2, 3)] + [(5, 4), (5, 5), (6, 6), (7, 7), (8, 8)]
    behind = [(w + 1, w) for w in (1, 2)] + [(w + 2, w) for w in range(3, PARTS + 1)]
    assert (
        history
        == {
            R1: every,
            R3: every,
            # Added on release day before the send: part 1 with everyone, so the front from
            # then on: the catch-up slot brings them parts 4 and 5 with it.
            DAN: every,
            OLD: every[1:],  # an import's old date: the front, from the next new part
            R2: every[:2] + behind[2:],  # left before part 3, back for part 3 on
            BEN: behind,  # joined on Thu 3 Dec
            CAT: behind[:2],  # joined (restamped) on 5 Dec, bounced on 20 Dec
        }
    )
    assert mismatches == []
