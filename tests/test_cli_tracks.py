"""Per-reader tracks through the CLI (issue 10): `send due` week by week with a frozen clock.

A front cohort and readers who join in different weeks; each reader receives part 1, 2, 3…
exactly once, in order, at most one per slot, late joiners from the first slot after they
joined, through the outbox and through the Postmark fake; `current` vs `from_start`.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok, postmark_delivery
from fakes.httpserver import serve
from fakes.postmark import TOKEN as POSTMARK_TOKEN
from fakes.postmark import PostmarkHandler, PostmarkState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
FRONT = ["reader0001@example.com", "reader0002@example.com"]
# Who joins when (local dates); the clock is frozen at noon of each day to `subscribers add`.
JOINS = {
    "w2@example.com": dt.date(2026, 12, 3),
    "w4@example.com": dt.date(2026, 12, 20),
    "w7@example.com": dt.date(2027, 1, 13),
}


def slot(week: int) -> dt.datetime:
    """Week 1 is part 1's slot, Tue 2026-12-01 09:00 London; a minute after, cron runs."""
    return dt.datetime(2026, 12, 1, 9, 1, tzinfo=LONDON) + dt.timedelta(weeks=week - 1)


def outbox(root: Path) -> dict[str, set[int]]:
    """Address → the parts in the outbox addressed to it."""
    got: dict[str, set[int]] = {}
    for path in (root / ".seriespub" / "outbox").glob("*/*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        address = message["To"].addresses[0].addr_spec.lower()
        got.setdefault(address, set()).add(int(path.parent.name))
    return got


def play(
    cli: Cli,
    root: Path,
    weeks: int,
    received: Callable[[], dict[str, list[int]]],
) -> dict[str, list[tuple[int, int]]]:
    """Run `send due` at each weekly slot, adding the joiners on their days; returns each
    reader's (week, part) in the order received, checking at most one per slot."""
    history: dict[str, list[tuple[int, int]]] = {}
    seen: dict[str, list[int]] = {}
    with time_machine.travel(slot(1), tick=False) as clock:
        for week in range(1, weeks + 1):
            for address, day in JOINS.items():
                joined = dt.datetime.combine(day, dt.time(12), LONDON)
                if slot(week - 1) < joined <= slot(week):
                    clock.move_to(joined)
                    ok(cli(root, "subscribers", "add", address))
            clock.move_to(slot(week))
            ok(cli(root, "send", "due"))
            now = received()
            for address, parts in now.items():
                new = parts[len(seen.get(address, [])) :]
                assert len(new) <= 1, f"{address} got {new} in week {week}"
                history.setdefault(address, []).extend((week, p) for p in new)
            seen = now
    return history


def outbox_parts(root: Path) -> Callable[[], dict[str, list[int]]]:
    def read() -> dict[str, list[int]]:
        return {a: sorted(parts) for a, parts in outbox(root).items()}

    return read


def test_from_start_late_joiners_read_from_part_one_one_part_a_week(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=10, subscribers=2, extra_toml=SCHEDULE)
    history = play(cli, root, 18, outbox_parts(root))
    for address in FRONT:
        assert history[address] == [(k, k) for k in range(1, 11)]
    # w2 joined Thu 3 Dec (after part 1): part 1 on Tue 8 Dec, one behind the front.
    assert history["w2@example.com"] == [(k + 1, k) for k in range(1, 11)]
    # w4 joined Sun 20 Dec: from week 4 (22 Dec).
    assert history["w4@example.com"] == [(k + 3, k) for k in range(1, 11)]
    # w7 joined Wed 13 Jan: from week 8 (19 Jan), through the finished series (evergreen).
    assert history["w7@example.com"] == [(k + 7, k) for k in range(1, 11)]
    events = json.loads(ok(cli(root, "log", "--json")).stdout)["events"]
    tracks = [e for e in events if e["event"] == "tracks"]
    # Week 8: part 8 to the front, 7 to w2, 5 to w4, 1 to w7.
    assert {"1": 1, "5": 1, "7": 1, "8": 2} in [e["parts"] for e in tracks]
    sent = [e for e in events if e["event"] == "sent"]
    assert {e["cohort"] for e in sent} == {"front", "late"}
    assert sum(e["sent"] for e in sent) == 50  # 5 readers × 10 parts, once each


def test_current_late_joiners_start_with_the_next_new_part(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=10, subscribers=2, extra_toml=SCHEDULE)
    toml = root / "seriespub.toml"
    toml.write_text(
        toml.read_text().replace("[series]\n", '[series]\nlate_joiners = "current"\n', 1),
        encoding="utf-8",
    )
    history = play(cli, root, 12, outbox_parts(root))
    assert history["w2@example.com"] == [(k, k) for k in range(2, 11)]
    assert history["w4@example.com"] == [(k, k) for k in range(4, 11)]
    assert history["w7@example.com"] == [(k, k) for k in range(8, 11)]


def test_status_and_the_readers_calendar_show_where_readers_stand(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=6, subscribers=2, extra_toml=SCHEDULE)
    play(cli, root, 4, outbox_parts(root))  # w2 has parts 1–3, w4 joined
    with time_machine.travel(slot(4) + dt.timedelta(days=1), tick=False):
        data = json.loads(ok(cli(root, "status", "--json")).stdout)
        mine = ok(cli(root, "schedule", "--reader", "w2@example.com", "--json"))
        text = ok(cli(root, "status")).stdout
    readers = data["readers"]
    assert (readers["front"], readers["catching_up"]) == (2, 2)
    assert readers["next_slot"]["parts"] == {"5": 2, "4": 1, "2": 1}
    assert "catching up" in text
    coming = json.loads(mine.stdout)["parts"]
    assert [(p["number"], p["release"][:10]) for p in coming] == [
        (4, "2026-12-29"),
        (5, "2027-01-05"),
        (6, "2027-01-12"),
    ]


def test_subscribers_list_shows_each_readers_next_part_and_when(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=6, subscribers=2, extra_toml=SCHEDULE)
    play(cli, root, 4, outbox_parts(root))  # w2 has parts 1–3, w4 has part 1
    with time_machine.travel(slot(4) + dt.timedelta(days=1), tick=False):
        rows = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
        text = ok(cli(root, "subscribers", "list", "--next")).stdout
        plain = ok(cli(root, "subscribers", "list")).stdout
    coming = {r["email"]: (r["next_part"], (r["next_at"] or "")[:16]) for r in rows}
    at = "2026-12-29T09:00"
    assert coming == {
        FRONT[0]: (5, at),
        FRONT[1]: (5, at),
        "w2@example.com": (4, at),
        "w4@example.com": (2, at),
    }
    line = next(x for x in text.splitlines() if x.startswith("w2@example.com"))
    assert line.endswith("part 4, Tue 2026-12-29 09:00 GMT")
    assert "Next" in text.splitlines()[0] and "Next" not in plain.splitlines()[0]


def set_status(root: Path, address: str, old: str, new: str) -> None:
    """Edit a reader's row by hand, as an author does for someone who asked to return."""
    path = root / "subscribers.csv"
    text = path.read_text(encoding="utf-8")
    assert f"{address},Reader 2,{old}," in text
    path.write_text(text.replace(f"{address},Reader 2,{old},", f"{address},Reader 2,{new},"))


def test_a_front_reader_who_left_and_returned_resumes_where_they_left_off(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Reader 2 (the front) leaves after part 1 and is set active again after part 2 went
    out: they get part 2 next, then part 3, one a slot (as a late joiner would), never a
    gap; `status` and `subscribers list --next` say so beforehand."""
    root = make_series(drafts=4, subscribers=2, extra_toml=SCHEDULE)
    with time_machine.travel(slot(1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 3, 12, tzinfo=LONDON))
        ok(cli(root, "subscribers", "remove", FRONT[1]))
        clock.move_to(slot(2))
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 10, 12, tzinfo=LONDON))
        set_status(root, FRONT[1], "unsubscribed", "active")
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
        rows = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
        mine = json.loads(ok(cli(root, "schedule", "--reader", FRONT[1], "--json")).stdout)
        weekly = []
        for week in (3, 4, 5):
            clock.move_to(slot(week))
            ok(cli(root, "send", "due"))
            weekly.append(sorted(outbox(root)[FRONT[1]]))
    # The Readers line plans the next slot, after what is due now went out: by then they
    # have every part the front had (part 2 now), so they are caught up, and read with it.
    assert (readers["front"], readers["catching_up"], readers["caught_up"]) == (1, 0, 1)
    # Set active after slot 2, they have had nothing in it: `send due` sends part 2 now.
    assert readers["due_now"] == {"parts": {"2": 1}}
    assert readers["next_slot"]["parts"] == {"3": 2}
    assert {r["email"]: r["next_part"] for r in rows} == {FRONT[0]: 3, FRONT[1]: 2}
    # As status says: part 2 now (a `send due` then sends it), then one a slot.
    assert [(p["number"], p["release"][:10]) for p in mine["parts"]] == [
        (2, "2026-12-10"),
        (3, "2026-12-15"),
        (4, "2026-12-22"),
    ]
    assert weekly == [[1, 2], [1, 2, 3], [1, 2, 3, 4]]  # one a slot, in order, no gap
    assert sorted(outbox(root)[FRONT[0]]) == [1, 2, 3, 4]


def test_postmark_sends_each_group_through_its_batch_api(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    delivery = postmark_delivery(url)
    root = make_series(drafts=10, subscribers=2, delivery=delivery, extra_toml=SCHEDULE)

    def received() -> dict[str, list[int]]:
        got: dict[str, list[int]] = {}
        for m in state.accepted:
            got.setdefault(m["_to"], []).append(int(m["Tag"].split("-")[1]))
        return got

    history = play(cli, root, 12, received)
    for address in FRONT:
        assert history[address] == [(k, k) for k in range(1, 11)]
    assert history["w2@example.com"] == [(k + 1, k) for k in range(1, 11)]
    assert history["w7@example.com"] == [(k + 7, k) for k in range(1, 6)]
    # One batch request per part sent in a week (week 8: parts 8, 7, 5 and 1).
    per_week = [{p for h in history.values() for w, p in h if w == week} for week in range(1, 13)]
    assert per_week[7] == {8, 7, 5, 1}
    assert state.requests.count(("POST", "/email/batch")) == sum(map(len, per_week))
    # The suppressions are pulled once per run (12 runs, each sent something), not once per
    # part: week 8 pulled them as often as week 1.
    dumps = [path for method, path in state.requests if path.endswith("/suppressions/dump")]
    assert dumps and len(dumps) == 12 * len(set(dumps))


# -- kill -9 mid-round and resume ------------------------------------------------------------
@pytest.mark.slow
def test_a_round_killed_mid_send_resumes_exactly_once_and_one_part_per_reader(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`send next` without a calendar: the front gets part 2 and 300 late joiners part 1,
    killed with SIGKILL at random instants and resumed: each reader gets exactly the one
    part, once; the resumed runs are the same round (nobody gets a second part)."""
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", POSTMARK_TOKEN)
    state = PostmarkState()
    state.faults.delay = 0.12
    with serve(PostmarkHandler, state) as (url, _):
        root = make_series(
            drafts=3,
            subscribers=300,
            delivery=postmark_delivery(url, settle_delay=0.5, batch_size=25, concurrency=2),
        )
        ok(cli(root, "send", "next", "--yes"))  # part 1 to the front
        joined = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        late = [f"late{i:04d}@example.com" for i in range(300)]
        with (root / "subscribers.csv").open("a", encoding="utf-8") as handle:
            handle.writelines(f"{a},Late,active,{joined}\n" for a in late)
        time.sleep(1.1)  # join strictly before the round
        rng, kills = random.Random(101), 0
        for _ in range(12):
            proc = subprocess.Popen(
                [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
                cwd=root,
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                if kills < 3:  # at a random point of the work left, whatever the machine's speed
                    done = len(state.accepted)
                    wanted = rng.randint(done + 1, max(done + 1, 300 + 600 - 1))
                    deadline = time.monotonic() + 120
                    while (
                        proc.poll() is None
                        and len(state.accepted) < wanted
                        and time.monotonic() < deadline
                    ):
                        time.sleep(0.002)
                _, err = proc.communicate(timeout=0 if kills < 3 else 120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                kills += 1
                states = json.loads(ok(cli(root, "status", "--json")).stdout)["instalments"]
                if states[1]["state"] == "sent":
                    break  # killed just after the end
                continue
            assert proc.returncode == 0, err.decode()
            break
        got = Counter((m["_to"], m["Tag"]) for m in state.accepted)
    assert kills >= 1, "the test must actually interrupt sends"
    assert set(got.values()) == {1}  # nobody twice
    front = [f"reader{i:04d}@example.com" for i in range(1, 301)]
    assert {k for k in got if k[0] in front} == {
        (a, t) for a in front for t in ("part-1", "part-2")
    }
    assert {k for k in got if k[0] in late} == {(a, "part-1") for a in late}


def test_a_late_joiners_refused_batch_is_retried_in_the_same_slot_once(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    delivery = postmark_delivery(url, max_retry_seconds=0)
    root = make_series(drafts=4, subscribers=2, delivery=delivery, extra_toml=SCHEDULE)

    def parts(address: str) -> list[str]:
        return [m["Tag"] for m in state.to(address)]

    with time_machine.travel(slot(1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 3, 12, tzinfo=LONDON))
        ok(cli(root, "subscribers", "add", "w2@example.com"))
        clock.move_to(slot(2))
        state.faults.server_errors = 1  # the first request (w2's part 1) fails
        first = cli(root, "send", "due")
        assert parts("w2@example.com") == []
        assert parts(FRONT[0]) == ["part-1", "part-2"]
        assert first.exit_code != 0  # says the run did not deliver everything
        clock.move_to(slot(2) + dt.timedelta(minutes=5))
        ok(cli(root, "send", "due"))  # cron's next tick: the same slot
        ok(cli(root, "send", "due"))
        assert parts("w2@example.com") == ["part-1"]
        clock.move_to(slot(3))
        ok(cli(root, "send", "due"))
    assert parts("w2@example.com") == ["part-1", "part-2"]
    assert parts(FRONT[0]) == ["part-1", "part-2", "part-3"]


def test_send_next_without_a_calendar_moves_every_reader_one_part_on(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=3, subscribers=2)
    start = dt.datetime(2026, 12, 1, 9, tzinfo=LONDON)
    with time_machine.travel(start, tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        clock.move_to(start + dt.timedelta(days=2))
        ok(cli(root, "subscribers", "add", "late@example.com"))
        clock.move_to(start + dt.timedelta(days=7))
        dry = ok(cli(root, "send", "next", "--dry-run"))
        assert "this slot: part 1 → 1 reader, part 2 → 2 readers" in dry.stderr
        assert "rendered 3 message(s)" in dry.stderr
        assert "late@example.com" not in outbox(root)
        data = json.loads(ok(cli(root, "send", "next", "--yes", "--json")).stdout)
        assert (data["instalment"], data["sent"]) == (2, 2)
        assert [(r["instalment"], r["sent"]) for r in data["late_joiners"]] == [(1, 1)]
        clock.move_to(start + dt.timedelta(days=14))
        ok(cli(root, "send", "next", "--yes"))
    got = {a: sorted(p) for a, p in outbox(root).items()}
    assert got == {FRONT[0]: [1, 2, 3], FRONT[1]: [1, 2, 3], "late@example.com": [1, 2]}


def test_readers_added_on_release_day_who_got_part_one_get_every_next_part(
    make_series: MakeSeries, cli: Cli
) -> None:
    """A new series without a calendar: readers added today (a bare date, which counts from
    the end of the day) received part 1 with everyone, so part 2, sent the same day, reaches
    them too; it used to go to nobody and be marked delivered."""
    root = make_series(drafts=2, subscribers=0)
    start = dt.datetime(2026, 12, 1, 9, tzinfo=LONDON)
    with time_machine.travel(start, tick=False) as clock:
        ok(cli(root, "subscribers", "add", "ann@example.com"))
        ok(cli(root, "subscribers", "add", "bo@example.com"))
        ok(cli(root, "send", "next", "--yes"))
        clock.move_to(start + dt.timedelta(hours=1))
        second = ok(cli(root, "send", "next", "--yes", "--json"))
    assert json.loads(second.stdout)["sent"] == 2
    got = {a: sorted(p) for a, p in outbox(root).items()}
    assert got == {"ann@example.com": [1, 2], "bo@example.com": [1, 2]}


def test_check_warning_when_a_late_joiners_next_part_is_a_draft(
    make_series: MakeSeries, cli: Cli
) -> None:
    from seriespub.ops.session import session
    from seriespub.series import find_series
    from seriespub.tracking import draft_warnings

    root = make_series(drafts=3, subscribers=2)
    start = dt.datetime(2026, 12, 1, 9, tzinfo=LONDON)
    with time_machine.travel(start, tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        clock.move_to(start + dt.timedelta(days=2))
        ok(cli(root, "subscribers", "add", "late@example.com"))
    series = find_series(explicit=root)
    with session(series, "check", now=start + dt.timedelta(days=7), readonly=True) as held:
        assert draft_warnings(held) == []
    part1 = next((root / "drafts").glob("01-*.md"))
    part1.write_text(part1.read_text().replace("status: ready", "status: draft"))
    with session(series, "check", now=start + dt.timedelta(days=7), readonly=True) as held:
        assert draft_warnings(held) == [
            "part 1 is still a draft and is the next part of 1 late joiner(s): set status: "
            "ready in its front matter"
        ]
    with time_machine.travel(start + dt.timedelta(days=7), tick=False):
        checked = cli(root, "check")
    assert "part 1 is still a draft and is the next part of 1 late joiner(s)" in checked.output
    with time_machine.travel(start + dt.timedelta(days=7), tick=False):
        ok(cli(root, "send", "next", "--yes"))  # part 2 to the front only
    got = {a: sorted(p) for a, p in outbox(root).items()}
    assert got == {FRONT[0]: [1, 2], FRONT[1]: [1, 2]}  # the late joiner is held, not skipped


def test_check_names_a_returned_readers_own_next_part_not_one_before_they_joined(
    make_series: MakeSeries, cli: Cli
) -> None:
    """A reader imported with an old date after part 1 (the front from part 2) leaves and
    returns after part 3: their next part is 3, so a part 1 set back to draft holds
    nobody, and a part 3 set back to draft holds them."""
    from seriespub.ops.session import session
    from seriespub.series import find_series
    from seriespub.tracking import draft_warnings

    root = make_series(drafts=4, subscribers=2)
    ok(cli(root, "send", "next", "--yes"))
    imported = root.parent / "old.csv"
    imported.write_text("email,name,subscribed_at\nold@example.com,Old,2025-06-01\n")
    ok(cli(root, "subscribers", "import", str(imported)))
    ok(cli(root, "send", "next", "--yes"))
    ok(cli(root, "subscribers", "remove", "old@example.com"))
    ok(cli(root, "send", "next", "--yes"))
    csv_path = root / "subscribers.csv"
    csv_path.write_text(csv_path.read_text().replace(",unsubscribed,", ",active,"))
    assert sorted(outbox(root)["old@example.com"]) == [2]

    def warnings_with_draft(number: int) -> list[str]:
        draft = next((root / "drafts").glob(f"0{number}-*.md"))
        draft.write_text(draft.read_text().replace("status: ready", "status: draft"))
        try:
            series, now = find_series(explicit=root), dt.datetime.now(dt.UTC)
            with session(series, "check", now=now, readonly=True) as held:
                return draft_warnings(held)
        finally:
            draft.write_text(draft.read_text().replace("status: draft", "status: ready"))

    assert warnings_with_draft(1) == []
    assert warnings_with_draft(3) == [
        "part 3 is still a draft and is the next part of 1 late joiner(s): set status: "
        "ready in its front matter"
    ]


def test_status_without_a_calendar_predicts_what_send_next_would_send_now(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Without a calendar "the next send" is a `send next` typed now: a reader added today
    (a bare date, from the end of the day) joins after part 1 and gets nothing yet, so
    `status` must not promise them part 1 (it did: it planned with no slot at all)."""
    root = make_series(drafts=2, subscribers=1)
    start = dt.datetime(2026, 12, 1, 9, tzinfo=LONDON)
    with time_machine.travel(start, tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        clock.move_to(start + dt.timedelta(hours=1))
        ok(cli(root, "subscribers", "add", "ben@example.com"))
        status = ok(cli(root, "status"))
        plan = json.loads(ok(cli(root, "send", "next", "--dry-run", "--json")).stdout)
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    assert plan["late_joiners"] == [] and plan["to_send"] == 1
    assert "At the next send: part 2 → 1." in status.stdout
    assert readers["next_slot"]["parts"] == {"2": 1}


def test_a_late_joiner_with_every_part_the_front_had_is_counted_caught_up(
    make_series: MakeSeries, cli: Cli
) -> None:
    """`status`'s Readers line plans the next slot, whose new part nobody has yet. A late
    joiner who had every part the front had was counted "catching up" there, against the
    README's "caught up (every part the front had when a slot began)"."""
    root = make_series(drafts=2, subscribers=2, extra_toml=SCHEDULE)
    late = "w2@example.com"
    with time_machine.travel(slot(1), tick=False) as clock:
        ok(cli(root, "send", "due"))
        clock.move_to(dt.datetime(2026, 12, 3, 12, tzinfo=LONDON))
        ok(cli(root, "subscribers", "add", late))
        for week in (2, 3):  # the late joiner: parts 1, 2; the front: 2, nothing
            clock.move_to(slot(week))
            ok(cli(root, "send", "due"))
        assert sorted(outbox(root)[late]) == [1, 2]
        # Part 3, pinned to week 5's slot: nothing is due before it.
        (root / "drafts" / "03-part-3.md").write_text(
            "---\ntitle: Part 3 title\nstatus: ready\nrelease: 2026-12-29 09:00\n---\nHello.\n",
            encoding="utf-8",
        )
        clock.move_to(slot(4) + dt.timedelta(days=1))
        ok(cli(root, "send", "due"))
        readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    assert readers["next_slot"]["parts"] == {"3": 3}  # the front and the late joiner alike
    assert (readers["front"], readers["catching_up"], readers["caught_up"]) == (2, 0, 1), readers
