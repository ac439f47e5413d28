"""A series begun with an older seriespub carries on with this one, and state this one has
written is refused, not misread, by an older one (an author who downgrades by mistake).

The old state is written here as the older code wrote it: the ledger DDL and rows below are
copied from `seriespub/ledgerfile.py` and `ledger.py` at commit 5a91ce0 (the same schema 2 as
d21bc2d). CI has no git history to run the old code from.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import TEST_SECRET, ok, postmark_delivery
from fakes.postmark import PostmarkState
from fakes.resend import Email, ResendState
from seriespub.ledger import Ledger

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

# 5a91ce0 and d21bc2d know schema 2 and refuse a ledger above it ("written by a newer
# seriespub ... nothing was changed"); everything else in the ledger they take at its word.
OLDEST_REFUSAL = 2

# ledgerfile.SCHEMA at 5a91ce0, and the row its _write_schema adds.
SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instalments(
    number INTEGER PRIMARY KEY, title TEXT, subject TEXT,
    started_at TEXT, finished_at TEXT);
CREATE TABLE IF NOT EXISTS batches(
    key TEXT PRIMARY KEY, instalment INTEGER NOT NULL, provider TEXT NOT NULL,
    created_at TEXT NOT NULL, send_at TEXT, settled INTEGER NOT NULL DEFAULT 0,
    recipients TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS deliveries(
    instalment INTEGER NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL,
    batch_key TEXT, provider TEXT, message_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL, send_at TEXT,
    subscriber_status TEXT, subscriber_applied INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY(instalment, email)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries(instalment, status);
INSERT INTO meta VALUES('schema', '2');
"""
# Part 1 sent to the three readers of `make_series` through the outbox, one settled batch,
# as 5a91ce0's begin_batch / record_results / mark_finished left it (no series_id row).
PART_1_SENT = """
INSERT INTO instalments VALUES(1, 'Part 1 title', 'Part 1 title',
    '2026-11-20T09:00:00+00:00', '2026-11-20T09:00:01+00:00');
INSERT INTO batches VALUES('001-0123456789abcdef0123', 1, 'outbox',
    '2026-11-20T09:00:00+00:00', NULL, 1,
    '["reader0001@example.com","reader0002@example.com","reader0003@example.com"]');
INSERT INTO deliveries(instalment, email, status, batch_key, provider, message_id, attempts,
    updated_at) SELECT 1, 'reader000' || value || '@example.com', 'sent',
    '001-0123456789abcdef0123', 'outbox', 'outbox-' || value, 1, '2026-11-20T09:00:01+00:00'
    FROM json_each('[1,2,3]');
"""


# Part 1 begun through Postmark and killed mid-request: one batch `pending`, no route in its
# provider text (5a91ce0's begin_batch wrote the provider's name alone).
PART_1_PENDING = """
INSERT INTO instalments VALUES(1, 'Part 1 title', 'Part 1 title',
    '2026-11-20T09:00:00+00:00', NULL);
INSERT INTO batches VALUES('001-0123456789abcdef0123', 1, 'postmark',
    '2026-11-20T09:00:00+00:00', NULL, 0,
    '["reader0001@example.com","reader0002@example.com","reader0003@example.com"]');
INSERT INTO deliveries(instalment, email, status, batch_key, provider, attempts, updated_at)
    SELECT 1, 'reader000' || value || '@example.com', 'pending', '001-0123456789abcdef0123',
    'postmark', 1, '2026-11-20T09:00:00+00:00' FROM json_each('[1,2,3]');
"""

# Part 1 sent, then part 2 held at Resend (`send next --at`): one settled batch with its
# send_at, its rows `scheduled` with Resend's email ids (5a91ce0's record_results, scheduled).
PART_2_HELD = (
    PART_1_SENT.replace("'outbox'", "'resend'")
    + """
INSERT INTO instalments VALUES(2, 'Part 2 title', 'Part 2 title',
    '2026-12-08T09:00:00+00:00', '2026-12-08T09:00:00+00:00');
INSERT INTO batches VALUES('002-0123456789abcdef0123', 2, 'resend',
    '2026-11-28T09:00:00+00:00', '2026-12-08T09:00:00+00:00', 1,
    '["reader0001@example.com","reader0002@example.com","reader0003@example.com"]');
INSERT INTO deliveries(instalment, email, status, batch_key, provider, message_id, attempts,
    updated_at, send_at) SELECT 2, 'reader000' || value || '@example.com', 'scheduled',
    '002-0123456789abcdef0123', 'resend', 'held-' || value, 1, '2026-11-28T09:00:00+00:00',
    '2026-12-08T09:00:00+00:00' FROM json_each('[1,2,3]');
"""
)


def old_ledger(root: Path, rows: str = PART_1_SENT) -> Path:
    """`.seriespub/ledger.db` as 5a91ce0 left it (`rows`: after sending part 1)."""
    path = root / ".seriespub" / "ledger.db"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_2 + rows)
    conn.close()
    return path


def old_delivery_id(number: int, address: str) -> str:
    """5a91ce0's `PreparedMessage.delivery_id` for the series `make_series` writes: sha256 of
    series id, part, address; the series id an HMAC of title and sender under the key."""
    label = "\0series-id\0Test Series\0author@example.com"
    series_id = hmac.new(TEST_SECRET.encode(), label.encode(), hashlib.sha256).hexdigest()[:32]
    seed = f"{series_id}\0{number}\0{address}\0"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def accepted_before(state: PostmarkState, address: str) -> None:
    """What the killed run's request left at Postmark for `address`."""
    state.accepted.append(
        {
            "MessageID": f"old-{address}",
            "_to": address,
            "_name": "",
            "From": "Author <author@example.com>",
            "ReceivedAt": "2026-11-20T09:00:00Z",
            "_accepted": time.monotonic() - 60,
            "MessageStream": "outbound",
            "Tag": "part-1",  # every version's messages carry their part's tag
            "Metadata": {"seriespub_delivery": old_delivery_id(1, address)},
        }
    )


def schema_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])
    finally:
        conn.close()


def test_an_old_ledger_carries_on_with_the_next_part_only(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=3)
    path = old_ledger(root)
    assert "Part 2 title" in ok(cli(root, "status")).stdout
    assert schema_of(path) == 2  # a report changes nothing
    result = ok(cli(root, "send", "next", "--yes"))
    assert "Part 2: sent 3" in result.stdout
    with Ledger.open(path, readonly=True) as ledger:
        assert ledger.all_counts() == {1: {"sent": 3}, 2: {"sent": 3}}  # part 1 never again


def test_a_ledger_this_seriespub_wrote_is_refused_by_an_older_one(
    make_series: MakeSeries, cli: Cli
) -> None:
    # It keeps what the older ones ignore and would misread: the first send's series id (an
    # older one derives other delivery ids after a key, title or sender change, and resends
    # a pending batch the provider then cannot find) and the replaced keys whose links still
    # unsubscribe (an older one refuses them).
    root = make_series(drafts=2, subscribers=3)
    path = old_ledger(root)
    ok(cli(root, "send", "next", "--yes"))
    assert schema_of(path) > OLDEST_REFUSAL


def test_a_new_series_ledger_is_refused_by_an_older_seriespub(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=3)
    ok(cli(root, "send", "next", "--yes"))
    assert schema_of(root / ".seriespub" / "ledger.db") > OLDEST_REFUSAL


def test_a_run_an_older_seriespub_left_pending_is_settled_not_sent_twice(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(drafts=1, subscribers=3, delivery=postmark_delivery(url))
    old_ledger(root, PART_1_PENDING)
    accepted_before(state, "reader0001@example.com")
    accepted_before(state, "reader0002@example.com")
    ok(cli(root, "send", "next", "--yes"))
    assert [m["_to"] for m in state.accepted[2:]] == ["reader0003@example.com"]
    with Ledger.open(root / ".seriespub" / "ledger.db", readonly=True) as ledger:
        ids = {d.email: d.message_id for d in ledger.deliveries(1)}
    assert ids["reader0001@example.com"] == "old-reader0001@example.com"  # found, not resent
    assert ids["reader0002@example.com"] == "old-reader0002@example.com"


def test_a_round_an_older_seriespub_held_is_withdrawn_and_sent_again(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, state = resend
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    root = make_series(drafts=2, subscribers=3, delivery=delivery)
    old_ledger(root, PART_2_HELD)
    for n in (1, 2, 3):
        address = f"reader000{n}@example.com"
        held = Email(f"held-{n}", [address], {}, scheduled_at="2026-12-08T09:00:00Z")
        state.emails[held.id] = held
        state.accepted[address].append(held)
    ok(cli(root, "send", "cancel", "2", "--yes"))
    assert all(e.cancelled for e in state.emails.values())
    ok(cli(root, "send", "next", "--yes"))
    sent = [m for e in list(state.accepted.values()) for m in e if not m.cancelled]
    assert sorted(m.to[0] for m in sent) == [f"reader000{n}@example.com" for n in (1, 2, 3)]
    assert all(m.scheduled_at is None for m in sent)  # now, once each
    assert {t["value"] for m in sent for t in m.payload["tags"]} == {"2"}  # part 2, not 1
