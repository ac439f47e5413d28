"""`seriespub send …` through the CLI, on the outbox: the author's daily command."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import write_subscribers
from mailcheck import body_text, check_message

Cli = Callable[..., Any]


def outbox_messages(
    root: Path, number: int = 1, suffix: str = ""
) -> list[email.message.EmailMessage]:
    """The messages the outbox wrote, each checked by `mailcheck` as it is read."""
    folder = root / ".seriespub" / "outbox" / f"{number:03d}{suffix}"
    return (
        [check_message(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
        if folder.exists()
        else []
    )


def test_send_next_writes_one_eml_per_active_subscriber(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=4)
    with open(root / "subscribers.csv", "a") as handle:
        handle.write("gone@example.com,Gone,unsubscribed,2026-01-01\n")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert "Part 1: sent 4, scheduled 0, failed 0" in result.stdout
    assert "sent 4/4, failed 0" in result.stderr  # plain progress off a terminal
    messages = outbox_messages(root)
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == [
        f"reader{i:04d}@example.com" for i in range(1, 5)
    ]
    for m in messages:
        assert m["Subject"] == "Part 1 title"
        assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        name = m["To"].addresses[0].display_name
        assert f"Hello {name}," in body_text(m, "plain")
        assert f"Hello {name}," in body_text(m, "html")


def test_a_second_send_next_moves_on_and_never_repeats(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=3)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "send", "next", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["instalment"] == 2
    assert len(outbox_messages(root, 1)) == 3 and len(outbox_messages(root, 2)) == 3
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0
    assert "every instalment has been delivered" in result.stderr


def test_new_subscribers_get_the_unfinished_instalment_only(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, ready=1, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    write_subscribers(root / "subscribers.csv", 3)  # one more reader
    result = cli(root, "send", "next", "--yes")  # part 2 is still a draft
    assert result.exit_code == 1
    assert "part 2 ('Part 2 title') is still a draft" in result.stderr
    assert "status: ready" in result.stderr
    assert len(outbox_messages(root, 1)) == 2


def test_dry_run_renders_everything_and_changes_nothing(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=3)
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: rendered 3 message(s)" in result.stderr
    assert outbox_messages(root) == []
    assert not (root / ".seriespub" / "ledger.db").exists()  # a dry run creates nothing


def test_without_a_terminal_yes_is_required(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(subscribers=2)
    result = cli(root, "send", "next")
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert outbox_messages(root) == []


def test_send_test_reaches_only_the_given_addresses_and_records_nothing(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=3)
    result = cli(root, "send", "test", "--to", "me@example.com", "--to", "reader0001@example.com")
    assert result.exit_code == 0, result.output
    messages = outbox_messages(root, 1, "-test")
    assert sorted(str(m["To"]) for m in messages) == [
        "Reader 1 <reader0001@example.com>",
        "me@example.com",
    ]
    assert all(str(m["Subject"]).startswith("[TEST] ") for m in messages)
    assert cli(root, "status", "--json").exit_code == 0
    status = json.loads(cli(root, "status", "--json").stdout)
    assert status["instalments"][0]["delivered"] == 0 and status["next"] == 1


def test_log_lists_every_recipient(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(subscribers=2)
    cli(root, "send", "next", "--yes")
    data = json.loads(cli(root, "log", "1", "--json").stdout)
    assert [(d["email"], d["status"], d["provider"]) for d in data["deliveries"]] == [
        ("reader0001@example.com", "sent", "outbox"),
        ("reader0002@example.com", "sent", "outbox"),
    ]
    assert all(d["message_id"].endswith(".eml") for d in data["deliveries"])


def test_a_run_left_pending_by_a_kill_is_settled_from_the_outbox(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """The outbox can tell what went out: a file is renamed into place whole, or not at all."""
    from seriespub.ledger import Ledger

    root = make_series(subscribers=3)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    written = sorted((root / ".seriespub/outbox/001").glob("*.eml"))
    written[0].unlink()  # as if killed before this rename
    with Ledger.open(root / ".seriespub/ledger.db") as ledger:
        ledger.begin_batch(
            1, "001-killed", "outbox", [f"reader{i:04d}@example.com" for i in range(1, 4)]
        )
        ledger.mark_finished(1, None)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert "sent 1," in result.stdout
    assert len(list((root / ".seriespub/outbox/001").glob("*.eml"))) == 3


def test_a_test_copy_never_shares_a_message_id_with_the_real_one(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Gmail drops a second message whose Message-ID it holds: the real copy after a test."""
    root = make_series(subscribers=1)
    assert cli(root, "send", "test", "--to", "reader0001@example.com").exit_code == 0
    assert cli(root, "send", "test", "--to", "reader0001@example.com").exit_code == 0
    assert cli(root, "send", "next", "--yes").exit_code == 0
    tests = outbox_messages(root, 1, "-test")
    real = outbox_messages(root, 1)
    ids = [str(m["Message-ID"]) for m in tests + real]
    assert len(tests) == 2 and len(real) == 1 and len(set(ids)) == 3


def test_two_series_by_one_author_send_different_message_ids(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    first = make_series(subscribers=1, name="one")
    second = make_series(subscribers=1, name="two")
    (second / "seriespub.toml").write_text(
        (second / "seriespub.toml").read_text().replace("Test Series", "Another Series")
    )
    for root in (first, second):
        assert cli(root, "send", "next", "--yes").exit_code == 0
    ids = {str(outbox_messages(root)[0]["Message-ID"]) for root in (first, second)}
    assert len(ids) == 2
    lists = {str(outbox_messages(root)[0]["List-Id"]) for root in (first, second)}
    assert lists == {
        "Test Series <test-series.example.com>",
        "Another Series <another-series.example.com>",
    }


def test_lines_starting_with_from_survive_an_mbox(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=2)
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(
        draft.read_text().replace("Hello {{ name", "From the Ground Up,\n\nFrom {{ name")
    )
    write_subscribers(
        root / "subscribers.csv",
        0,
        extra=[
            {
                "email": "from@example.com",
                "name": "From Ann",
                "status": "active",
                "subscribed_at": "",
            }
        ],
    )
    assert cli(root, "send", "next", "--yes").exit_code == 0
    [message] = outbox_messages(root)  # checked: no line starts with "From "
    assert "From Ann" in body_text(message, "plain")
    assert "From the Ground Up" in body_text(message, "html")


def test_send_next_limit_sends_in_parts_until_everyone_has_it(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=25)
    first = cli(root, "send", "next", "--yes", "--limit", "10")
    assert first.exit_code == 0, first.output
    assert "(--limit 10: 10 of 25 waiting)" in first.stderr
    assert "15 reader(s) left for the next run: seriespub send next --limit 10" in first.stderr
    assert len(outbox_messages(root)) == 10
    status = json.loads(cli(root, "status", "--json").stdout)
    assert status["instalments"][0]["state"] == "sending", status
    for sent in (20, 25):
        again = cli(root, "send", "next", "--yes", "--limit", "10")
        assert again.exit_code == 0, again.output
        assert len(outbox_messages(root)) == sent  # still part 1, never a repeat
    assert "left for the next run" not in again.stderr
    assert len({m["To"].addresses[0].addr_spec for m in outbox_messages(root)}) == 25
    after = cli(root, "send", "next", "--yes", "--limit", "10")
    assert after.exit_code == 0 and len(outbox_messages(root, 2)) == 10


def test_send_next_limit_must_be_positive(make_series: Callable[..., Path], cli: Cli) -> None:
    result = cli(make_series(), "send", "next", "--yes", "--limit", "0")
    assert result.exit_code == 2
