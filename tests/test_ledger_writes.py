"""The ledger's fast first-send path (plain INSERTs) records exactly what the upsert did."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seriespub.ledger as ledger_module
from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus, Outcome, RecipientResult, SubscriberStatus
from sqlitefile import sqlite_file


def attempts(ledger: Ledger, number: int) -> dict[str, tuple[DeliveryStatus, int, str | None]]:
    return {r.email: (r.status, r.attempts, r.batch_key) for r in ledger.deliveries(number)}


def test_a_first_send_inserts_and_a_repeated_address_falls_back_to_the_upsert(
    tmp_path: Path,
) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        ledger.begin_batch(1, "k1", "memory", ["A@example.com", "b@example.com"])
        ledger.record_results(
            1,
            "k1",
            [
                RecipientResult("a@example.com", Outcome.SENT, "x"),
                RecipientResult("b@example.com", Outcome.TRANSIENT),
            ],
        )
        # The same reader again (a repeated address) and a new one, in one batch.
        ledger.begin_batch(1, "k2", "memory", ["b@example.com", "c@example.com"])
        assert attempts(ledger, 1) == {
            "a@example.com": (DeliveryStatus.SENT, 1, "k1"),
            "b@example.com": (DeliveryStatus.PENDING, 2, "k2"),
            "c@example.com": (DeliveryStatus.PENDING, 1, "k2"),
        }
        ledger.begin_batch(2, "k3", "memory", ["a@example.com", "A@example.com"])
        assert attempts(ledger, 2) == {"a@example.com": (DeliveryStatus.PENDING, 2, "k3")}


def test_an_instalment_with_rows_from_an_earlier_run_is_upserted(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.begin_batch(1, "k1", "memory", ["a@example.com"])
        ledger.set_status(1, ["a@example.com"], DeliveryStatus.DEFERRED, "interrupted")
    with Ledger.open(path) as ledger:  # the next run resends the deferred one
        ledger.begin_batch(1, "k2", "memory", ["a@example.com", "d@example.com"])
        assert attempts(ledger, 1) == {
            "a@example.com": (DeliveryStatus.PENDING, 2, "k2"),
            "d@example.com": (DeliveryStatus.PENDING, 1, "k2"),
        }
        assert [b.key for b in ledger.unsettled_batches(1)] == ["k2"]


# -- the write path against its reference ------------------------------------------------
# The statements begin_batch and record_results used before they were made cheaper, kept
# verbatim as the reference: whatever the faster path does, the ledger must hold exactly what
# these would have written, after every step.
_REF_INSERT = (
    "INSERT INTO deliveries(instalment, email, status, batch_key, provider, "
    "attempts, updated_at, send_at) SELECT ?, value, 'pending', ?, ?, 1, ?, ? "
    "FROM json_each(?) WHERE true"
    " ON CONFLICT(instalment, email) DO UPDATE SET status='pending', "
    "batch_key=excluded.batch_key, provider=excluded.provider, reason='', "
    "attempts=deliveries.attempts+1, updated_at=excluded.updated_at, "
    "send_at=excluded.send_at"
)
_REF_RESULTS = (
    "INSERT INTO deliveries(instalment, email, status, message_id, reason, updated_at, "
    "subscriber_status, subscriber_applied) SELECT ?1, json_extract(r.value, '$[0]'), "
    "json_extract(r.value, '$[1]'), json_extract(r.value, '$[2]'), "
    "json_extract(r.value, '$[3]'), ?2, json_extract(r.value, '$[4]'), "
    "json_extract(r.value, '$[4]') IS NULL FROM json_each(?3) AS r WHERE EXISTS("
    "SELECT 1 FROM deliveries AS d WHERE d.instalment=?1 AND d.email=json_extract(r.value, '$[0]'))"
    " ON CONFLICT(instalment, email) DO UPDATE SET status=excluded.status, "
    "message_id=excluded.message_id, reason=excluded.reason, updated_at=excluded.updated_at, "
    "subscriber_status=excluded.subscriber_status, "
    "subscriber_applied=excluded.subscriber_applied"
)
_REF_STATUS = {
    Outcome.SENT: "sent",
    Outcome.FAILED: "failed",
    Outcome.TRANSIENT: "deferred",
    Outcome.UNKNOWN: "unknown",
}


class ReferenceLedger(Ledger):
    """The old write path: every batch upserted, results as one `json_extract` upsert."""

    def begin_batch(
        self,
        number: int,
        key: str,
        provider: str,
        emails: Sequence[str],
        send_at: dt.datetime | None = None,
        route: str = "",  # the reference keeps the provider's name only
    ) -> None:
        now = ledger_module._now()
        when = send_at.isoformat(timespec="seconds") if send_at else None
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO batches(key, instalment, provider, created_at, "
                "send_at, settled, recipients) VALUES(?,?,?,?,?,0,?)",
                (key, number, provider, now, when, json.dumps(list(emails))),
            )
            conn.execute(
                _REF_INSERT,
                (number, key, provider, now, when, json.dumps([e.lower() for e in emails])),
            )

    def record_results(
        self, number: int, key: str, results: Iterable[RecipientResult], scheduled: bool = False
    ) -> None:
        rows = []
        for r in results:
            status = _REF_STATUS[r.outcome]
            if scheduled and status == "sent":
                status = "scheduled"
            marks = r.new_status.value if r.new_status is not None else None
            rows.append((r.email.lower(), status, r.message_id, r.reason, marks))
        with self._transaction() as conn:
            conn.execute(_REF_RESULTS, (number, ledger_module._now(), json.dumps(rows)))
            conn.execute("UPDATE batches SET settled=1 WHERE key=?", (key,))


def dump(path: Path) -> tuple[list[tuple[object, ...]], ...]:
    with sqlite_file(path) as conn:
        tables = (
            list(conn.execute("SELECT * FROM deliveries ORDER BY instalment, email")),
            list(conn.execute("SELECT * FROM batches ORDER BY key")),
            # the index holds the same entries as the table (no stale `pending` left behind)
            list(
                conn.execute(
                    "SELECT instalment, status, email FROM deliveries "
                    "INDEXED BY deliveries_by_status ORDER BY 1, 2, 3"
                )
            ),
        )
    return tables


_ADDRESSES = st.sampled_from(
    [
        "a@example.com",
        "A@example.com",
        "b@example.com",
        "c@EXAMPLE.com",
        "é@example.com",
        "É@example.com",
        'q"uote@example.com',
        "back\\slash@example.com",
        *(f"r{i}@example.com" for i in range(12)),
    ]
)
_RESULT = st.builds(
    RecipientResult,
    st.one_of(_ADDRESSES, st.just("stranger@example.com")),
    # mostly alike (sent, no reason): the shape most results have
    st.sampled_from([Outcome.SENT] * 4 + list(Outcome)),
    st.sampled_from(["", "id-1", "id-2"]),
    st.sampled_from(["", "", "", "550 no such user", "421 try later"]),
    st.one_of(st.none(), st.none(), st.sampled_from(list(SubscriberStatus))),
)
_STEP: st.SearchStrategy[tuple[str, int, list[Any], bool]] = st.one_of(
    st.tuples(
        st.just("begin"),
        st.integers(1, 2),
        st.lists(_ADDRESSES, min_size=1, max_size=20),
        st.booleans(),
    ),
    st.tuples(
        st.just("results"),
        st.integers(1, 2),
        st.lists(_RESULT, max_size=20),
        st.booleans(),
    ),
    # A batch of addresses no step used before: a first send's fresh rows, in flight
    # beside each other (the list says how many).
    st.tuples(
        st.just("begin new"),
        st.integers(1, 2),
        st.lists(st.none(), min_size=1, max_size=20),
        st.booleans(),
    ),
    # One result for every reader of a batch begun 1 to 3 steps before (the shape
    # of most settles), others in flight beside it; the number says how far back.
    st.tuples(
        st.just("settle all"),
        st.integers(1, 3),
        st.lists(_RESULT, min_size=1, max_size=1),
        st.booleans(),
    ),
    st.tuples(st.just("reopen"), st.just(0), st.just([]), st.just(False)),
)


def _addresses(step: int, begun: tuple[str, int, list[Any], bool]) -> list[str]:
    """The addresses step number `step` (`begun`) recorded `pending`; none if no batch."""
    what, _, items, _ = begun
    if what == "begin new":
        return [f"s{step}.r{i}@example.com" for i in range(len(items))]
    return items if what == "begin" else []


def _for_all(template: RecipientResult, addresses: list[str]) -> list[Any]:
    """`template`'s result for each of `addresses`."""
    return [
        RecipientResult(
            a, template.outcome, template.message_id, template.reason, template.new_status
        )
        for a in addresses
    ]


# Readers sharing a result go in together above a threshold, one by one below it: both ways,
# and their mixture, are held to the reference.
@pytest.mark.parametrize("own_group", [1, 3, 1_000_000])
@settings(max_examples=50, deadline=None)
@given(st.lists(_STEP, min_size=1, max_size=12))
def test_the_write_path_stores_what_the_reference_statements_stored(
    own_group: int, steps: list[tuple[str, int, list[Any], bool]]
) -> None:
    clock = ["2026-11-28T08:00:00+00:00"]  # both ledgers see the same time at each step
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(ledger_module, "_now", lambda: clock[0]),
        mock.patch.object(ledger_module, "_OWN_GROUP", own_group),
    ):
        ours, theirs = Path(tmp) / "ours.db", Path(tmp) / "theirs.db"
        pair = [Ledger.open(ours), ReferenceLedger.open(theirs)]
        try:
            for step, (what, number, items, flag) in enumerate(steps):
                key, clock[0] = f"k{step}", f"2026-11-28T08:{step:02d}:00+00:00"
                for ledger in pair:
                    if what in ("begin", "begin new"):
                        when = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) if flag else None
                        addresses = _addresses(step, (what, number, items, flag))
                        ledger.begin_batch(number, key, "memory", addresses, when)
                    elif what == "results":
                        ledger.record_results(number, f"k{step - 1}", items, scheduled=flag)
                    elif what == "settle all" and step >= number:
                        begun = steps[step - number]
                        results = _for_all(items[0], _addresses(step - number, begun))
                        ledger.record_results(
                            begun[1], f"k{step - number}", results, scheduled=flag
                        )
                if what == "reopen":
                    for ledger in pair:
                        ledger.close()
                    pair = [Ledger.open(ours), ReferenceLedger.open(theirs)]
                assert dump(ours) == dump(theirs), (step, what)
        finally:
            for ledger in pair:
                ledger.close()


def test_results_go_to_rows_that_exist_only_whichever_batch_wrote_them(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.begin_batch(1, "k1", "memory", ["a@example.com"])
        ledger.begin_batch(1, "k2", "memory", [f"r{i}@example.com" for i in range(20)])
        ledger.record_results(
            1,
            "k2",
            [RecipientResult(f"R{i}@example.com", Outcome.SENT, f"id-{i}") for i in range(20)]
            # a row of another batch is settled; an address with no row is not invented
            + [
                RecipientResult("a@example.com", Outcome.FAILED, reason="550 gone"),
                RecipientResult("stranger@example.com", Outcome.SENT, "id-x"),
            ],
        )
        rows = {
            r.email: (r.status, r.message_id, r.reason, r.batch_key) for r in ledger.deliveries(1)
        }
    assert "stranger@example.com" not in rows
    assert rows["a@example.com"] == (DeliveryStatus.FAILED, "", "550 gone", "k1")
    assert rows["r7@example.com"] == (DeliveryStatus.SENT, "id-7", "", "k2")
    assert len(rows) == 21
    with Ledger.open(path) as ledger:  # a later run settles what an earlier one wrote
        ledger.begin_batch(2, "k3", "memory", [f"r{i}@example.com" for i in range(20)])
    with Ledger.open(path) as ledger:
        ledger.record_results(
            2, "k3", [RecipientResult(f"r{i}@example.com", Outcome.SENT, "s") for i in range(20)]
        )
        assert ledger.counts(2) == {DeliveryStatus.SENT: 20}


def test_batches_in_flight_side_by_side_are_each_settled_on_their_own_rows(
    tmp_path: Path,
) -> None:
    """A first send's batches in flight together, whose readers share one result (SendGrid's
    one id a request, a refused request): each settles its own rows only, and a reader left
    unanswered stays pending."""
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        first = [f"a{i}@example.com" for i in range(30)]
        second = [f"b{i}@example.com" for i in range(30)]
        third = [f"c{i}@example.com" for i in range(30)]
        for key, batch in (("k1", first), ("k2", second), ("k3", third)):
            ledger.begin_batch(1, key, "sendgrid", batch)
        ledger.record_results(1, "k2", [RecipientResult(e, Outcome.SENT, "req-2") for e in second])
        rows = {r.email: r for r in ledger.deliveries(1)}
        assert {rows[e].status for e in first + third} == {DeliveryStatus.PENDING}
        assert {(rows[e].status, rows[e].message_id, rows[e].batch_key) for e in second} == {
            (DeliveryStatus.SENT, "req-2", "k2")
        }
        # All refused alike, with the reason and the reader's new status.
        ledger.record_results(
            1,
            "k1",
            [
                RecipientResult(e, Outcome.FAILED, "", "550 gone", SubscriberStatus.BOUNCED)
                for e in first
            ],
        )
        assert ledger.unapplied_status_changes() == dict.fromkeys(first, SubscriberStatus.BOUNCED)
        # One reader unanswered: it stays pending, the others are settled.
        ledger.record_results(
            1, "k3", [RecipientResult(e, Outcome.SENT, "req-3") for e in third[1:]]
        )
        assert ledger.statuses(1, third[:2]) == {
            third[0]: DeliveryStatus.PENDING,
            third[1]: DeliveryStatus.SENT,
        }
        assert ledger.counts(1) == {
            DeliveryStatus.SENT: 59,
            DeliveryStatus.FAILED: 30,
            DeliveryStatus.PENDING: 1,
        }


def test_lacking_names_every_address_with_a_row_of_another_part_but_none_of_this_one(
    tmp_path: Path,
) -> None:
    """`lacking` (who may have fallen behind the latest part) walks the parts' indexes in
    step: a row of any other part, before or after, whatever its status, names an address
    unless it has a row of the part itself; an address with rows of that part only, or
    none, is not named."""
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        everyone = [f"e{i}@example.com" for i in range(600)]
        left = ["left@example.com", "Gone@Example.com"]  # parts 1 and 2, not 3
        late = ["late@example.com"]  # part 1 only (a late joiner on their track)
        ahead = ["ahead@example.com"]  # part 4 only (a run going on)
        ledger.begin_batch(1, "k1", "outbox", everyone + left + late)
        ledger.begin_batch(2, "k2", "outbox", everyone + left)
        ledger.begin_batch(3, "k3", "outbox", [*everyone, "only3@example.com"])
        ledger.begin_batch(4, "k4", "outbox", ahead)
        ledger.record_results(
            1, "k1", [RecipientResult(e, Outcome.FAILED, "", "550 gone") for e in left]
        )
        assert sorted(set(lacking(ledger, 3))) == sorted(
            ["left@example.com", "gone@example.com", *late, *ahead]
        )
        assert sorted(set(lacking(ledger, 4))) == sorted(
            [*everyone, "left@example.com", "gone@example.com", *late, "only3@example.com"]
        )
        assert lacking(ledger, 5) != []
        ledger.begin_batch(
            5, "k5", "outbox", [*everyone, *left, *late, *ahead, "only3@example.com"]
        )
        assert lacking(ledger, 5) == []


def test_lacking_on_an_empty_ledger_names_nobody(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        assert lacking(ledger, 1) == []


def lacking(ledger: Ledger, number: int) -> list[str]:
    """`Ledger.lacking`, which must merge (not too many parts)."""
    found = ledger.lacking(number)
    assert found is not None
    return list(found)


def test_lacking_past_its_parts_asks_for_a_probe_a_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More other parts than LACKING_PARTS: no merge (None), the caller probes instead."""
    monkeypatch.setattr(ledger_module, "LACKING_PARTS", 1)
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        for n in (1, 2, 3):
            ledger.begin_batch(n, f"k{n}", "outbox", ["a@example.com"])
        assert ledger.lacking(3) is None
        assert ledger.lacking(4) is None
        ledger.begin_batch(4, "k4", "outbox", [])
        monkeypatch.setattr(ledger_module, "LACKING_PARTS", 3)
        assert lacking(ledger, 3) == []


def test_having_names_every_key_with_a_row_of_the_part_whatever_its_status(
    tmp_path: Path,
) -> None:
    """`having` (the planner's "who had the latest part") answers from the index alone: a
    pending, failed or sent row counts alike; a row of another part, or none, does not;
    more keys than one query's 500 are asked in chunks."""
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        sent = [f"s{i}@example.com" for i in range(700)]
        failed = [f"f{i}@example.com" for i in range(5)]
        pending = [f"p{i}@example.com" for i in range(5)]
        other = [f"o{i}@example.com" for i in range(5)]
        ledger.begin_batch(1, "k1", "outbox", sent + failed + pending)
        ledger.begin_batch(2, "k2", "outbox", other)
        ledger.record_results(1, "k1", [RecipientResult(e, Outcome.SENT, "m") for e in sent])
        ledger.record_results(
            1, "k1", [RecipientResult(e, Outcome.FAILED, "", "550 gone") for e in failed]
        )
        nobody = [f"n{i}@example.com" for i in range(300)]
        asked = [*nobody[:150], *sent, *failed, *pending, *other, *nobody[150:]]
        assert ledger.having(1, asked) == set(sent + failed + pending)
        assert ledger.having(2, asked) == set(other)
        assert ledger.having(3, asked) == set()
        assert ledger.having(1, []) == set()
