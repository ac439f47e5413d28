"""`send retry`, `send settle`, unknown outcomes, and the unsubscribe key, through the CLI."""

from __future__ import annotations

import json
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log, postmark_delivery, sendgrid_delivery
from fakes.postmark import PostmarkState
from fakes.sendgrid import SendgridState
from fakes.smtp import running_smtp_server

Cli = Callable[..., Any]


def dropped_answer(
    make_series: Callable[..., Path],
    cli: Cli,
    sendgrid: tuple[str, SendgridState],
    *,
    drafts: int,
    subscribers: int,
) -> Path:
    """A series whose first `send next` through SendGrid lost one answer: that batch is
    unknown, and the command exited 1."""
    url, state = sendgrid
    root = make_series(drafts=drafts, subscribers=subscribers, delivery=sendgrid_delivery(url))
    state.faults.drops = 1
    assert cli(root, "send", "next", "--yes").exit_code == 1
    return root


def test_retry_resends_exactly_the_transient_failures(
    make_series: Callable[..., Path], cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(
        drafts=2,
        subscribers=6,
        delivery=postmark_delivery(
            url, settle_delay=None, batch_size=2, concurrency=1, max_retry_seconds=0.5
        ),
    )
    state.faults.server_errors = 1000  # the provider is down…
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 1
    assert "stopped:" in first.stderr and "seriespub send next" in first.stderr
    assert set(d["status"] for d in delivery_log(cli, root).values()) == {"deferred"}
    state.faults.server_errors = 0  # …and back
    retried = cli(root, "send", "retry", "1", "--yes")
    assert retried.exit_code == 0, retried.output
    retried_only = Counter(m["_to"] for m in state.accepted)
    assert set(retried_only.values()) == {1} and len(retried_only) < 6  # only the failures
    status = cli(root, "status", "--json").stdout
    assert '"state": "sending"' in status  # the rest are still to come
    rest = cli(root, "send", "next", "--yes")
    assert rest.exit_code == 0, rest.output
    assert Counter(m["_to"] for m in state.accepted) == {
        f"reader{i:04d}@example.com": 1 for i in range(1, 7)
    }
    assert set(d["status"] for d in delivery_log(cli, root).values()) == {"sent"}
    nothing = cli(root, "send", "retry", "1", "--yes")
    assert nothing.exit_code == 0 and "Nothing to send" in nothing.stderr


def test_unknown_outcomes_block_until_the_author_decides(
    make_series: Callable[..., Path], cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, state = sendgrid
    root = make_series(
        drafts=2,
        subscribers=3,
        delivery=sendgrid_delivery(url),
    )
    state.faults.drops = 1  # accepted, then the answer is lost
    first = cli(root, "send", "next", "--yes")
    assert first.exit_code == 1
    assert "unknown outcome" in first.stderr and "--assume-delivered" in first.stderr
    unknown = delivery_log(cli, root)
    assert {d["status"] for d in unknown.values()} == {"unknown"}
    listed = cli(root, "log", "1", "--unknown", "--json")
    assert listed.exit_code == 0 and len(delivery_log(cli, root)) == 3
    again = cli(root, "send", "next", "--yes")  # no silent resend, no next instalment
    assert again.exit_code == 1 and "outcome is unknown" in again.stderr
    accepted_before = len(state.accepted)
    settled = cli(root, "send", "settle", "1", "--assume-delivered")
    assert settled.exit_code == 0, settled.output
    assert "3 unknown deliveries recorded as delivered" in settled.stdout
    assert {d["status"] for d in delivery_log(cli, root).values()} == {"sent"}
    nxt = cli(root, "send", "next", "--yes", "--json")
    assert nxt.exit_code == 0, nxt.output
    assert '"instalment": 2' in nxt.stdout
    new = state.accepted[accepted_before:]
    assert sorted(m["to"] for m in new) == [f"reader000{i}@example.com" for i in (1, 2, 3)]
    assert {m["subject"] for m in new} == {"Part 2 title"}  # part 1 was not resent


def test_retry_unknown_resends_them(
    make_series: Callable[..., Path], cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    root = dropped_answer(make_series, cli, sendgrid, drafts=1, subscribers=2)
    retried = cli(root, "send", "retry", "1", "--unknown", "--yes")
    assert retried.exit_code == 0, retried.output
    assert {d["status"] for d in delivery_log(cli, root).values()} == {"sent"}
    assert len(sendgrid[1].accepted) == 4  # the author chose the duplicates


def test_the_unsubscribe_key_is_generated_once_owner_only(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = make_series(drafts=1, subscribers=1)
    assert cli(root, "send", "next", "--yes").exit_code == 0  # a send makes it; a preview not
    first = cli(root, "preview", "1", "--text").stdout
    key = root / ".seriespub" / "secret"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert cli(root, "preview", "1", "--text").stdout == first  # stable tokens
    assert key.read_text() not in first
    monkeypatch.setenv("SERIESPUB_SECRET", "another-key-" + "fedcba9876543210" * 2)
    assert cli(root, "preview", "1", "--text").stdout != first  # the env wins


def test_subscribers_commands(make_series: Callable[..., Path], cli: Cli, tmp_path: Path) -> None:
    root = make_series(subscribers=1)
    assert cli(root, "subscribers", "add", "new@example.com", "--name", "Nia").exit_code == 0
    duplicate = cli(root, "subscribers", "add", "NEW@example.com")
    assert duplicate.exit_code == 1 and "already in the list" in duplicate.stderr
    export = tmp_path / "export.csv"
    export.write_text(
        "Email Address;First Name\nnew@example.com;N\nthird@example.com;T\nbad;B\n",
        encoding="utf-8",
    )
    imported = cli(root, "subscribers", "import", str(export))
    assert imported.exit_code == 0, imported.output
    assert "added 1, already present 1" in imported.stdout
    assert f"skipped {export}:4: invalid address 'bad'" in imported.stderr
    assert cli(root, "subscribers", "remove", "new@example.com").exit_code == 0
    listed = cli(root, "subscribers", "list", "--json")
    rows = {r["email"]: r["status"] for r in json.loads(listed.stdout)}
    assert rows == {
        "reader0001@example.com": "active",
        "new@example.com": "unsubscribed",
        "third@example.com": "active",
    }
    sent = cli(root, "send", "next", "--yes")
    assert "sent 2," in sent.stdout  # the unsubscribed reader is skipped


def _part_state(cli: Cli, root: Path, number: int = 1) -> str:
    status = cli(root, "status", "--json")
    assert status.exit_code == 0, status.output
    (found,) = [p for p in json.loads(status.stdout)["instalments"] if p["number"] == number]
    return str(found["state"])


def test_a_retry_that_delivers_the_last_reader_finishes_the_part(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """A reader whose server says 451 once: the retry delivers it and the part is sent,
    without another `send next`."""
    with running_smtp_server() as server:
        delivery = server.delivery_toml().replace(
            "[delivery]\n", "[delivery]\nmax_retry_seconds = 0\n", 1
        )
        root = make_series(drafts=2, subscribers=4, delivery=delivery)
        server.handler.refuse["reader0002@example.com"] = "451 4.3.0 try again later"
        assert cli(root, "send", "next", "--yes").exit_code == 1
        assert _part_state(cli, root) == "sending"
        server.handler.refuse.clear()
        retried = cli(root, "send", "retry", "1", "--yes", "--json")
        assert retried.exit_code == 0, retried.output
        assert json.loads(retried.stdout)["finished"] is True
        assert _part_state(cli, root) == "sent"
        assert len(server.by_recipient()) == 4


def test_a_settle_that_decides_the_last_deliveries_finishes_the_part(
    make_series: Callable[..., Path], cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    root = dropped_answer(make_series, cli, sendgrid, drafts=2, subscribers=3)
    settled = cli(root, "send", "settle", "1", "--assume-delivered")
    assert settled.exit_code == 0, settled.output
    assert "part 1 is complete" in settled.stdout
    assert _part_state(cli, root) == "sent"


def test_a_settle_that_leaves_a_reader_owed_does_not_finish_the_part(
    make_series: Callable[..., Path], cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    root = dropped_answer(make_series, cli, sendgrid, drafts=2, subscribers=3)
    assert cli(root, "subscribers", "add", "new@example.com").exit_code == 0  # owed part 1
    settled = cli(root, "send", "settle", "1", "--assume-delivered")
    assert settled.exit_code == 0, settled.output
    assert "complete" not in settled.stdout
    assert _part_state(cli, root) == "sending"


def test_the_plan_says_what_each_number_counts(
    make_series: Callable[..., Path], cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(
        drafts=1,
        subscribers=4,
        delivery=postmark_delivery(
            url, settle_delay=None, batch_size=2, concurrency=1, max_retry_seconds=0.2
        ),
    )
    assert cli(root, "send", "next", "--yes", "--limit", "2").exit_code == 0
    assert cli(root, "subscribers", "remove", "reader0001@example.com").exit_code == 0
    planned = cli(root, "send", "next", "--dry-run")
    assert planned.exit_code == 0, planned.output
    # 3 active now: reader 2 had it, readers 3 and 4 are owed it (reader 1 left the list).
    assert "  recipients: 2 of 3 active readers (1 already had it)\n" in planned.stderr
    state.faults.server_errors = 1000
    # Batches of two over readers 2-4: reader 3 is deferred, then the run stops.
    assert cli(root, "send", "next", "--yes").exit_code == 1
    state.faults.server_errors = 0
    retried = cli(root, "send", "retry", "1", "--yes")
    assert retried.exit_code == 0, retried.output
    assert (
        "  recipients: 1 of 3 active readers (those whose delivery was cancelled or deferred)\n"
        in retried.stderr
    )
    assert _part_state(cli, root) == "sending"  # reader 4 is still owed it


def test_log_of_some_deliveries_says_of_how_many(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=3)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    assert cli(root, "log", "1").stdout.splitlines()[0] == "Part 1: 3 deliveries"
    unknown = cli(root, "log", "1", "--unknown").stdout.splitlines()
    assert unknown == ["Part 1: 0 unknown of 3 deliveries", "Address  Status  Message id  Reason"]
    failed = cli(root, "log", "1", "--failed", "--unknown").stdout.splitlines()
    assert failed[0] == "Part 1: 0 failed or unknown of 3 deliveries"


def test_a_retry_with_nothing_to_resend_says_so_not_that_everyone_has_it(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """A retry resends only failed and open deliveries: with none it must not claim that
    every reader has the part (a late joiner may not, yet)."""
    root = make_series(subscribers=3)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "send", "retry", "1", "--yes")
    assert result.exit_code == 0, result.output
    assert "Nothing to send: no delivery of part 1 failed or was left open." in result.stderr
    assert "everyone has had it" not in result.output
