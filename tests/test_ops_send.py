"""`seriespub.ops.send` called directly, without the CLI runner: a library caller's view."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fakes.memory import MemoryProvider
from seriespub import runlog, subscribers
from seriespub.errors import NothingToSend, UnresolvedDeliveries
from seriespub.ledger import SCHEMA_VERSION, Ledger, LedgerError
from seriespub.models import DeliveryStatus, SubscriberStatus
from seriespub.ops import send as ops
from seriespub.ops import send_due
from seriespub.ops.session import Session, session
from seriespub.series import find_series
from sqlitefile import sqlite_file

NOW = dt.datetime(2027, 1, 5, 12, 0, tzinfo=dt.UTC)


@contextmanager
def held(
    root: Path, provider: MemoryProvider | None = None, *, readonly: bool = False
) -> Iterator[Session]:
    with session(
        find_series(explicit=root),
        "test",
        now=NOW,
        readonly=readonly,
        provider=provider or MemoryProvider(),
    ) as s:
        yield s


def statuses(root: Path) -> dict[str, str]:
    return {s.key: s.status.value for s in subscribers.iter_subscribers(root / "subscribers.csv")}


def test_send_next_sends_to_everyone_and_finishes(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=12)
    provider, closed = MemoryProvider(), []
    provider.close = lambda: closed.append(True)  # type: ignore[method-assign]
    asked: list[int] = []
    hooks = ops.SendHooks(confirm=lambda plan: asked.append(plan.to_send))
    with held(root, provider) as s:
        outcome = ops.send(s, ops.SendOptions(), hooks)
    assert asked == [12] and outcome.report is not None
    assert outcome.report.sent == 12 and outcome.report.finished
    assert len(provider.delivered) == 12 and closed == [True]


def test_a_refusing_confirm_sends_nothing(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=3)

    def refuse(plan: ops.SendPlan) -> None:
        raise RuntimeError("no")

    provider = MemoryProvider()
    with held(root, provider) as s, pytest.raises(RuntimeError):
        ops.send(s, ops.SendOptions(), ops.SendHooks(confirm=refuse))
    assert provider.calls == 0


def test_next_moves_past_an_instalment_found_complete(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2, subscribers=3)
    with held(root) as s:
        ops.send(s, ops.SendOptions(), ops.SendHooks())
        s.ledger.mark_finished(1, None)  # as if the run had died before finishing it
        outcome = ops.send(s, ops.SendOptions(), ops.SendHooks())
    assert outcome.number == 2 and outcome.report is not None and outcome.report.sent == 3
    with held(root) as s, pytest.raises(NothingToSend):
        ops.send(s, ops.SendOptions(), ops.SendHooks())


def test_unknown_deliveries_block_until_settled(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=3)
    with held(root) as s:
        ops.send(s, ops.SendOptions(), ops.SendHooks())
        s.ledger.set_status(1, ["reader0001@example.com"], DeliveryStatus.UNKNOWN)
        s.ledger.mark_finished(1, None)
        with pytest.raises(UnresolvedDeliveries, match="1 deliveries whose outcome is unknown"):
            ops.send(s, ops.SendOptions(), ops.SendHooks())
        assert ops.settle(s, 1).changed == 1
        outcome = ops.send(s, ops.SendOptions(), ops.SendHooks())
    assert outcome.number == 2


def test_a_dry_run_builds_every_message_and_records_nothing(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(subscribers=4)
    with held(root, readonly=True) as s:
        outcome = ops.send(s, ops.SendOptions(dry_run=True), ops.SendHooks())
    assert outcome.built == 4 and outcome.report is None
    assert not (root / ".seriespub" / "ledger.db").exists()


def test_retry_resends_exactly_the_deferred(make_series: Callable[..., Path]) -> None:
    root = make_series(
        subscribers=3, delivery=('[delivery]\nprovider = "outbox"\nmax_retry_seconds = 0\n')
    )
    provider = MemoryProvider(flaky={"reader0002@example.com": 99})
    with held(root, provider) as s:
        s_policy = ops.send(s, ops.SendOptions(), ops.SendHooks())
    assert s_policy.report is not None and s_policy.report.deferred == 1
    again = MemoryProvider()
    with held(root, again) as s:
        outcome = ops.send(s, ops.SendOptions(only=ops.retry_statuses(False)), ops.SendHooks())
    assert outcome.report is not None and outcome.report.sent == 1
    assert dict(again.delivered) == {"reader0002@example.com": 1}


# -- item 2: refusals reach subscribers.csv even after a crash -------------------------------
class Crash(BaseException):
    """The process dying: nothing after it runs."""


def test_a_refusal_is_written_back_to_the_list(make_series: Callable[..., Path]) -> None:
    root = make_series(subscribers=3)
    provider = MemoryProvider(refuse={"reader0002@example.com": "550 no such user"})
    notices: list[str] = []
    with held(root, provider) as s:
        ops.send(s, ops.SendOptions(), ops.SendHooks(notice=lambda t, lv: notices.append(t)))
        assert s.ledger.unapplied_status_changes() == {}
    assert statuses(root)["reader0002@example.com"] == "bounced"
    assert any("1 subscriber(s) marked" in n for n in notices)


def test_marks_lost_by_a_crash_are_written_by_the_next_run(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(drafts=2, subscribers=3)
    provider = MemoryProvider(refuse={"reader0002@example.com": "550 no such user"})

    def die(path: Path, changes: dict[str, SubscriberStatus]) -> int:
        if changes:  # (the suppression sync before the send has nothing to mark)
            raise Crash
        return 0

    with monkeypatch.context() as patch:
        patch.setattr(subscribers, "update_statuses", die)
        with held(root, provider) as s, pytest.raises(Crash):
            ops.send(s, ops.SendOptions(), ops.SendHooks())
    assert statuses(root)["reader0002@example.com"] == "active"  # the crash lost it
    with Ledger.open(root / ".seriespub" / "ledger.db") as ledger:
        assert ledger.unapplied_status_changes() == {
            "reader0002@example.com": SubscriberStatus.BOUNCED
        }
    with held(root) as s:
        outcome = ops.send(s, ops.SendOptions(), ops.SendHooks())
    assert statuses(root)["reader0002@example.com"] == "bounced"
    assert outcome.number == 2 and outcome.report is not None and outcome.report.sent == 2


def test_marks_owed_after_the_last_part_are_written_though_nothing_is_left(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(drafts=1, subscribers=3)
    provider = MemoryProvider(refuse={"reader0001@example.com": "550 no such user"})

    def die(path: Path, changes: dict[str, SubscriberStatus]) -> int:
        if changes:
            raise Crash
        return 0

    with monkeypatch.context() as patch:
        patch.setattr(subscribers, "update_statuses", die)
        with held(root, provider) as s, pytest.raises(Crash):
            ops.send(s, ops.SendOptions(), ops.SendHooks())
    with held(root) as s, pytest.raises(NothingToSend):
        ops.send(s, ops.SendOptions(), ops.SendHooks())
    assert statuses(root)["reader0001@example.com"] == "bounced"


def test_a_list_that_cannot_be_written_keeps_the_marks_owed(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from seriespub.errors import InputError

    root = make_series(subscribers=3)
    provider = MemoryProvider(refuse={"reader0001@example.com": "550 no such user"})

    def refuse(path: Path, changes: dict[str, SubscriberStatus]) -> int:
        if changes:
            raise InputError("subscribers.csv is read-only")
        return 0

    notices: list[tuple[str, str]] = []
    monkeypatch.setattr(subscribers, "update_statuses", refuse)
    with held(root, provider) as s:
        ops.send(
            s,
            ops.SendOptions(),
            ops.SendHooks(notice=lambda text, level: notices.append((level, text))),
        )
        assert s.ledger.unapplied_status_changes()
    assert notices[-1][0] == "error" and "reader0001@example.com bounced" in notices[-1][1]


KILLED_RUN = """
import os, signal, sys, datetime as dt
from pathlib import Path
sys.path.insert(0, {tests!r})
from fakes.memory import MemoryProvider
from seriespub import runlog, subscribers
from seriespub.ops import send as ops
from seriespub.ops.session import session
from seriespub.series import find_series

def die(path, changes):
    if changes:                              # right after the provider answered
        os.kill(os.getpid(), signal.SIGKILL)
    return 0

subscribers.update_statuses = die
provider = MemoryProvider(refuse={{"reader0003@example.com": "550 gone"}})
now = dt.datetime.now(dt.UTC)
with session(find_series(explicit=Path({root!r})), "send next", now=now, provider=provider) as s:
    ops.send(s, ops.SendOptions(), ops.SendHooks())
"""


def test_a_real_sigkill_after_the_answer_loses_no_mark(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2, subscribers=3)
    code = KILLED_RUN.format(tests=str(Path(__file__).parent), root=str(root))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert statuses(root)["reader0003@example.com"] == "active"
    with held(root) as s:
        ops.send(s, ops.SendOptions(), ops.SendHooks())
    assert statuses(root)["reader0003@example.com"] == "bounced"


# -- the ledger's schema 2 ---------------------------------------------------------------------
V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE instalments(number INTEGER PRIMARY KEY, title TEXT, subject TEXT,
    started_at TEXT, finished_at TEXT);
CREATE TABLE batches(key TEXT PRIMARY KEY, instalment INTEGER NOT NULL, provider TEXT NOT NULL,
    created_at TEXT NOT NULL, send_at TEXT, settled INTEGER NOT NULL DEFAULT 0,
    recipients TEXT NOT NULL DEFAULT '[]');
CREATE TABLE deliveries(instalment INTEGER NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL,
    batch_key TEXT, provider TEXT, message_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL, send_at TEXT, PRIMARY KEY(instalment, email)) WITHOUT ROWID;
INSERT INTO meta VALUES('schema', '1');
INSERT INTO deliveries(instalment, email, status, updated_at)
    VALUES(1, 'old@example.com', 'failed', '2026-01-01T00:00:00+00:00');
"""


def _v1_ledger(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(V1)
    conn.close()


def _schema(path: Path) -> str:
    with sqlite_file(path) as db:
        return str(db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])


def test_a_version_1_ledger_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _v1_ledger(path)
    with Ledger.open(path, readonly=True) as ledger:  # a report changes nothing
        assert ledger.counts(1) == {DeliveryStatus.FAILED: 1}
    assert _schema(path) == "1"
    with Ledger.open(path) as ledger:
        assert ledger.counts(1) == {DeliveryStatus.FAILED: 1}
        assert ledger.unapplied_status_changes() == {}  # the old run wrote its own marks
    assert _schema(path) == str(SCHEMA_VERSION)


def test_a_newer_ledger_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _v1_ledger(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value=?", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="newer seriespub"):
        Ledger.open(path)


# -- due, cancel, test --------------------------------------------------------------------------
def test_due_sends_what_the_calendar_says(make_series: Callable[..., Path]) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    first = (now - dt.timedelta(hours=3)).replace(tzinfo=None).isoformat()
    root = make_series(
        drafts=2,
        subscribers=2,
        extra_toml=(f'[schedule]\nfirst_release = {first}\ntimezone = "UTC"\n'),
    )
    seen: list[int] = []
    with session(find_series(explicit=root), "send due", now=now, provider=MemoryProvider()) as s:
        outcome = send_due.due(s, ops.SendHooks(sent=lambda report: seen.append(report.number)))
    assert [r.number for r in outcome.reports] == seen == [1]
    assert outcome.upcoming is not None and outcome.upcoming.number == 2
    events = [e["event"] for e in runlog.read(root / ".seriespub")]
    assert events == ["due", "sent"]


def test_send_test_records_no_delivery_only_the_key(make_series: Callable[..., Path]) -> None:
    """A test copy is no delivery; its links are real, so the key they were made with is
    recorded as a real send's would be (`keyguard`)."""
    root = make_series(subscribers=2)
    provider = MemoryProvider()
    with held(root, provider, readonly=True) as s:
        results = ops.send_test(s, "next", ["someone@example.org"])
    assert [r.outcome.value for r in results] == ["sent"]
    assert dict(provider.delivered) == {"someone@example.org": 1}
    with Ledger.open(root / ".seriespub" / "ledger.db", readonly=True) as ledger:
        assert ledger.counts(1) == {} and ledger.instalment_records() == {}
        assert ledger.key_fingerprint() is not None


# -- send next --limit ---------------------------------------------------------------------
def test_a_limited_send_leaves_the_rest_for_the_next_run(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2, subscribers=7)
    provider = MemoryProvider(max_batch=2)
    runs = []
    for _ in range(3):
        with held(root, provider) as s:
            outcome = ops.send(s, ops.SendOptions(limit=3), ops.SendHooks())
        assert outcome.number == 1 and outcome.report is not None
        runs.append(
            (
                outcome.plan.to_send,
                outcome.plan.waiting,
                outcome.plan.left,
                outcome.report.sent,
                outcome.report.finished,
            )
        )
    assert runs == [(3, 7, 4, 3, False), (3, 4, 1, 3, False), (1, 1, 0, 1, True)]
    assert sorted(provider.delivered.values()) == [1] * 7
