"""The send's unchecked pass over a list its plan found sound reads what the checked pass
reads: the same active readers, in the same order, with the same fields."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from seriespub import subscribers
from seriespub.models import Subscriber
from seriespub.subscribers import ProblemTally

_CELL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6)
_STATUS = st.sampled_from(["active", "", " Active ", "ACTIVE", "unsubscribed", "bounced"])
_ADDRESS = st.builds(
    lambda local, n: f"{local}{n}@Example.org",
    st.sampled_from(["a", "B", "r.x", "x+y"]),
    st.integers(0, 30),
)
_HEADERS = st.sampled_from(
    [
        ["email", "name", "status", "subscribed_at"],
        ["Name", "EMAIL", "city", "status", "subscribed_at"],
        ["email", "status"],
        ["email"],
        ["subscribed_at", "email", "name", "code", "status", "note"],
    ]
)


@st.composite
def lists(draw: st.DrawFn) -> str:
    header = draw(_HEADERS)
    rows = [header]
    for _ in range(draw(st.integers(0, 12))):
        row = []
        for column in header:
            kind = column.lower()
            if kind == "email":
                row.append(draw(st.sampled_from(["", " "])) + draw(_ADDRESS))
            elif kind == "status":
                row.append(draw(_STATUS))
            else:
                row.append(draw(_CELL))
        cut = draw(st.integers(0, 2))  # rows a cell short, or with one past the header
        if cut == 1 and len(row) > 1:
            row.pop()
        elif cut == 2:
            row.append(draw(_CELL))
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=draw(st.sampled_from([",", ";"]))).writerows(rows)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None)
@given(lists())
def test_the_unchecked_pass_reads_what_the_checked_pass_reads(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "subscribers.csv"
        path.write_text(text, encoding="utf-8")
        problems = ProblemTally()
        checked = list(subscribers.active(path, problems))
        if problems.count:
            event("refused")
            return  # a send never reads such a list unchecked
        event(f"compared {len(checked) > 0}")
        unchecked = list(subscribers.active(path, checked=False))
        assert [_as_tuple(s) for s in unchecked] == [_as_tuple(s) for s in checked]


def _as_tuple(s: Subscriber) -> tuple[object, ...]:
    return (s.email, s.name, s.status, s.subscribed_at, s.fields, s.key)


def test_a_row_wider_than_the_column_cap_has_no_status_from_a_missing_column(
    tmp_path: Path,
) -> None:
    # A header without a status column: no cell of a row is its status, however many
    # cells the row has (the column's index once stood for "absent", and a row of 1,001
    # cells had one there).
    path = tmp_path / "subscribers.csv"
    row = ["a@example.org", "Ann"] + [""] * (subscribers.MAX_COLUMNS - 2) + ["bogus"]
    path.write_text("email,name\n" + ",".join(row) + "\n", encoding="utf-8")
    problems = ProblemTally()
    assert [s.email for s in subscribers.active(path, problems)] == ["a@example.org"]
    assert problems.count == 0
    assert [s.email for s in subscribers.active(path, checked=False)] == ["a@example.org"]


@settings(max_examples=150, deadline=None)
@given(lists(), st.sampled_from(["", "a@b.org,\x07bell,active\n", '"x@y.org,open\n']))
def test_the_planning_pass_finds_the_keys_and_problems_the_full_read_finds(
    text: str, tail: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "subscribers.csv"
        path.write_text(text + tail, encoding="utf-8")
        problems, counted = ProblemTally(), ProblemTally()
        full = [s.key for s in subscribers.active(path, problems)]
        assert list(subscribers.active_keys(path, counted)) == full
        assert (counted.count, counted.first) == (problems.count, problems.first)
