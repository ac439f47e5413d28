"""A send killed mid-request, then something else changed before the resume.

Each test kills a real `seriespub send next` while the Postmark fake holds its first
batch's answer (the batch is left `pending`), makes one edit an author may plausibly make,
and resumes: every reader still on the list gets the part exactly once (counted at the
fake), nobody is skipped, and what the resume cannot make safe it says in one line.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine

from fakes.httpserver import serve
from fakes.postmark import PostmarkHandler, PostmarkState
from killed import (
    READERS,
    kill_stopped_when,
    killed_resend_send,
    killed_send,
    resend_counts,
)


def part_counts(state: PostmarkState, subject_word: str = "") -> Counter[str]:
    return Counter(m["_to"] for m in state.accepted if subject_word in m.get("Subject", ""))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _unknown_then_decided(
    cli: Callable[..., Any], root: Path, result: Any, pending: set[str]
) -> str:
    """The resume said plainly that the pending batch's outcome is unknown (and sent
    nothing more); the author decides it went out, and the next send goes to the rest.
    Returns what `log 1 --unknown` said."""
    assert f"{len(pending)} deliveries whose outcome is unknown" in result.output, result.output
    logged = cli(root, "log", "1", "--unknown").output
    assert all(address in logged for address in pending)
    assert cli(root, "send", "settle", "1", "--assume-delivered").exit_code == 0
    rest = cli(root, "send", "next", "--yes")
    assert rest.exit_code == 0, rest.output
    return str(logged)


def test_a_batch_pending_on_another_postmark_stream_is_not_resent(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postmark's search looks in one stream: asked in the new one, it finds nothing, and
    the batch went out twice. It becomes unknown, and says why."""
    with killed_send(make_series, monkeypatch) as (root, state, pending):
        stream = 'message_stream = "outbound"'
        _edit(root / "seriespub.toml", stream, 'message_stream = "broadcast"')
        result = cli(root, "send", "next", "--yes")
        logged = _unknown_then_decided(cli, root, result, pending)
        counts = part_counts(state)
    assert len(counts) == READERS and set(counts.values()) == {1}, "a pending reader got it twice"
    assert "stream broadcast" in logged and "stream outbound" in logged


def test_a_batch_pending_on_another_postmark_server_is_not_resent(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`api_url` pointed at another server: it cannot know what the first one sent."""
    other = PostmarkState()
    with (
        serve(PostmarkHandler, other) as (other_url, _),
        killed_send(make_series, monkeypatch) as (root, state, pending),
    ):
        toml = root / "seriespub.toml"
        toml.write_text(
            re.sub(r'api_url = "[^"]*"', f'api_url = "{other_url}"', toml.read_text()),
            encoding="utf-8",
        )
        result = cli(root, "send", "next", "--yes")
        _unknown_then_decided(cli, root, result, pending)
        first = part_counts(state)
        second = part_counts(other)
    assert first.keys() == pending and not pending & second.keys(), "resent through the other"
    assert len(second) == READERS - len(pending) and set(second.values()) == {1}


@pytest.mark.parametrize(("size", "concurrency"), [(25, 3), (3, 1)])
def test_a_resume_after_batch_size_and_concurrency_changed_sends_nobody_twice(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    concurrency: int,
) -> None:
    """Held: a pending batch is settled as it was recorded, whatever the new batching."""
    with killed_send(make_series, monkeypatch) as (root, state, _):
        new = f"batch_size = {size}\nconcurrency = {concurrency}"
        _edit(root / "seriespub.toml", "batch_size = 10\nconcurrency = 1", new)
        result = cli(root, "send", "next", "--yes")
        counts = part_counts(state)
    assert result.exit_code == 0, result.output
    assert len(counts) == READERS and set(counts.values()) == {1}


def _renumber(drafts: Path) -> None:
    """Part 1's draft becomes part 2 (its file's NN- prefix), part 2 becomes part 3."""
    (drafts / "02-part-2.md").rename(drafts / "03-part-2.md")
    (drafts / "01-part-1.md").rename(drafts / "02-part-1.md")


def _prepend(drafts: Path) -> None:
    """A new part 1 written before it: the half-sent part is now numbered 2."""
    _renumber(drafts)
    (drafts / "01-prologue.md").write_text(
        "---\ntitle: Prologue\nstatus: ready\n---\nA new start.\n", encoding="utf-8"
    )


def _number_back(drafts: Path) -> None:
    (drafts / "02-part-1.md").rename(drafts / "01-part-1.md")
    (drafts / "03-part-2.md").rename(drafts / "02-part-2.md")


def _number_in_front_matter(drafts: Path) -> None:
    _edit(drafts / "01-part-1.md", "title: Part 1 title", "title: Part 1 title\nnumber: 7")


def _front_matter_back(drafts: Path) -> None:
    _edit(drafts / "01-part-1.md", "\nnumber: 7", "")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: _edit(d / "01-part-1.md", "- one", "- one, edited"), id="text"),
        pytest.param(lambda d: (d / "01-part-1.md").rename(d / "01-opening.md"), id="file-name"),
    ],
)
def test_a_resume_after_the_draft_was_edited_or_renamed_sends_nobody_twice(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[Path], object],
) -> None:
    with killed_send(make_series, monkeypatch) as (root, state, _):
        edit(root / "drafts")
        result = cli(root, "send", "next", "--yes")
        counts = part_counts(state)
    assert result.exit_code == 0, result.output
    assert len(counts) == READERS and set(counts.values()) == {1}


@pytest.mark.parametrize(
    ("edit", "undo"),
    [
        pytest.param(_renumber, _number_back, id="file-prefix"),
        pytest.param(_number_in_front_matter, _front_matter_back, id="front-matter"),
    ],
)
def test_a_resume_refuses_while_the_half_sent_part_has_no_draft(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[Path], object],
    undo: Callable[[Path], object],
) -> None:
    """Renumbered between the kill and the resume: sending "next" would skip part 1's
    readers still owed it and send its text again, under its new number, to those who had
    it. The resume refuses, in one line, until the draft has its number back."""
    with killed_send(make_series, monkeypatch) as (root, state, pending):
        edit(root / "drafts")
        refused = cli(root, "send", "next", "--yes")
        assert len(state.accepted) == len(pending), "something was sent after the edit"
        undo(root / "drafts")
        resumed = cli(root, "send", "next", "--yes")
        counts = part_counts(state, "Part 1")
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert refused.output.startswith(
        'error: part 1 ("Part 1 title") is half sent, but no draft is part 1 now'
    ), refused.output
    assert "hint: give its draft number 1 again" in refused.output
    assert resumed.exit_code == 0, resumed.output
    assert len(counts) == READERS and set(counts.values()) == {1}


def test_a_resume_refuses_when_another_draft_took_the_half_sent_parts_number(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new part 1 written before the half-sent one: the resume would send the new text
    to the readers still owed part 1 (and the old part 1, as part 2, to those who had it).
    Its title is not the one the part went out with, so the resume refuses."""
    with killed_send(make_series, monkeypatch) as (root, state, pending):
        _prepend(root / "drafts")
        refused = cli(root, "send", "next", "--yes")
        sent = len(state.accepted)
    assert refused.exit_code == 1
    assert sent == len(pending), "the new part 1 went out to the readers still owed the old one"
    assert refused.output.startswith(
        'error: part 1 went out to 10 reader(s) as "Part 1 title", but its draft is now '
        '"Prologue" (drafts/01-prologue.md)'
    ), refused.output
    assert "Traceback" not in refused.output


@pytest.mark.parametrize(
    ("line", "edited", "said"),
    [
        # A retitle cannot be told from another draft taking the number: refused too, and
        # the hint says how to finish the part and retitle it afterwards.
        pytest.param(
            "title: Part 1 title", "title: Part 1, retitled", "set its title back", id="retitled"
        ),
        # Held as it was: `status: draft` refuses in one line.
        pytest.param(
            "status: ready",
            "status: draft",
            "part 1 ('Part 1 title') is still a draft",
            id="set-back-to-draft",
        ),
    ],
)
def test_a_resume_refuses_an_edited_half_sent_part_until_it_is_back(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    edited: str,
    said: str,
) -> None:
    """Refused while edited; put back, the resume settles the pending batch and sends the
    rest once."""
    with killed_send(make_series, monkeypatch) as (root, state, _):
        draft = root / "drafts" / "01-part-1.md"
        _edit(draft, line, edited)
        refused = cli(root, "send", "next", "--yes")
        _edit(draft, edited, line)
        resumed = cli(root, "send", "next", "--yes")
        counts = part_counts(state)
    assert refused.exit_code == 1
    assert said in refused.output
    assert resumed.exit_code == 0, resumed.output
    assert len(counts) == READERS and set(counts.values()) == {1}


def _rewrite_list(root: Path, pending: set[str], row: Callable[[str, bool], str | None]) -> None:
    """Rewrite subscribers.csv row by row: `row(line, pending)` gives the new line, or None
    to drop it; `pending`: the row is a reader of the batch the kill left pending."""
    path = root / "subscribers.csv"
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    kept = [row(line, line.split(",")[0] in pending) for line in rows]
    path.write_text("\n".join([header, *filter(None, kept)]) + "\n", encoding="utf-8")


LIST_EDITS: dict[str, Callable[[str, bool], str | None]] = {
    "removed": lambda line, pending: None if pending else line,
    "unsubscribed": lambda line, pending: (
        line.replace(",active,", ",unsubscribed,") if pending else line
    ),
    "address-case": lambda line, pending: (
        line.split(",", 1)[0].upper() + "," + line.split(",", 1)[1] if pending else line
    ),
}


@pytest.mark.parametrize("edit", [*LIST_EDITS, "reordered"])
def test_a_resume_after_the_list_changed_sends_each_reader_once(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    edit: str,
) -> None:
    """Held: the pending batch is settled by its recorded addresses (ids are lower-cased);
    readers removed or unsubscribed since get nothing more, the others theirs once."""
    with killed_send(make_series, monkeypatch) as (root, state, pending):
        if edit == "reordered":
            path = root / "subscribers.csv"
            header, *rows = path.read_text(encoding="utf-8").splitlines()
            path.write_text("\n".join([header, *reversed(rows)]) + "\n", encoding="utf-8")
        else:
            _rewrite_list(root, pending, LIST_EDITS[edit])
        result = cli(root, "send", "next", "--yes")
        counts = Counter(m["_to"].lower() for m in state.accepted)
    assert result.exit_code == 0, result.output
    assert len(counts) == READERS and set(counts.values()) == {1}
    assert "every instalment" not in result.output


def test_send_due_resumes_a_half_sent_part_after_a_schedule_was_added(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: a `[schedule]` starting in the future added after the kill; `send due` still
    settles and finishes the half-sent part (it was released when it started)."""
    with killed_send(make_series, monkeypatch) as (root, state, _):
        with open(root / "seriespub.toml", "a", encoding="utf-8") as toml:
            toml.write(
                '\n[schedule]\nfirst_release = 2099-01-05T09:00:00\ntimezone = "UTC"\n'
                "every_weeks = 1\n"
            )
        result = cli(root, "send", "due")
        counts = part_counts(state)
    assert result.exit_code == 0, result.output
    assert len(counts) == READERS and set(counts.values()) == {1}


def test_a_resend_batch_is_settled_by_replaying_it(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: Resend answers the replayed request from its record, sending nothing new."""
    with killed_resend_send(make_series, monkeypatch) as (root, state, pending):
        result = cli(root, "send", "next", "--yes")
        counts = resend_counts(state)
    assert len(pending) == 10 and result.exit_code == 0, result.output
    assert len(counts) == READERS and set(counts.values()) == {1}


def test_a_resend_batch_whose_message_changed_is_unknown_and_says_why(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The draft edited: the replay is another request, which Resend refuses. Nobody gets
    it twice, and the log says Resend could not tell, and why (not just "stopped")."""
    with killed_resend_send(make_series, monkeypatch) as (root, state, pending):
        _edit(root / "drafts" / "01-part-1.md", "- one", "- one, edited")
        result = cli(root, "send", "next", "--yes")
        counts = resend_counts(state)
    logged = cli(root, "log", "1", "--unknown").output
    assert set(counts.values()) == {1}
    assert "10 deliveries whose outcome is unknown" in result.output
    assert all(address in logged for address in pending)
    assert "could not tell" in logged and "different request payload" in logged, logged


def test_a_resend_batch_resumed_a_day_later_is_unknown_and_says_why(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resend forgets a request's key after 24 h: a replay then would send it again. The
    batch is unknown (nothing resent), and the log says it was past Resend's window."""
    with killed_resend_send(make_series, monkeypatch) as (root, state, _):
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
        with time_machine.travel(later, tick=True):
            result = cli(root, "send", "next", "--yes")
            logged = cli(root, "log", "1", "--unknown").output
        counts = resend_counts(state)
    assert set(counts.values()) == {1}
    assert "10 deliveries whose outcome is unknown" in result.output
    assert "resend can tell only within 23 h of a request" in logged, logged


def test_an_outbox_moved_away_after_a_kill_leaves_its_pending_batches_unknown(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """The author moved .seriespub/outbox away (to hand the messages over) between the
    kill and the resume: the new, empty outbox cannot tell which messages of a pending
    batch were written, and rewriting them gave some readers two files. They become
    unknown, and the log says the outbox is gone."""
    root = make_series(drafts=1, subscribers=20000)
    folder = root / ".seriespub" / "outbox" / "001"
    kill_stopped_when(root, lambda: _cut_mid_batch(folder, 3000))
    (root / ".seriespub" / "outbox").rename(root / "handed-over")
    result = cli(root, "send", "next", "--yes")
    per_reader = Counter(path.name for path in root.rglob("*.eml"))
    logged = cli(root, "log", "1", "--unknown").output
    assert set(per_reader.values()) == {1}, "a reader has two files"
    assert "deliveries whose outcome is unknown" in result.output, result.output
    assert ".seriespub/outbox is gone" in logged, logged


OUTBOX_BATCH = 500


def _cut_mid_batch(folder: Path, at_least: int) -> bool:
    """`at_least` messages written, and a batch begun but not finished (its count is no
    multiple of the outbox's batch size): a kill now leaves it pending, never between two."""
    written = sum(name.endswith(".eml") for name in os.listdir(folder)) if folder.exists() else 0
    return written >= at_least and written % OUTBOX_BATCH != 0
