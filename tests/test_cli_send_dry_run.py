"""What only looks creates nothing: `send next --dry-run`, `preview` and `check` on a series
with no unsubscribe key yet; and a dry run's `--json` is one document describing the run."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import postmark_delivery
from fakes.postmark import PostmarkState
from seriespub.message import UnsubscribeKey

Cli = Callable[..., Any]
NO_KEY_NOTE = "note: no unsubscribe key yet (.seriespub/secret)"


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under the series folder, with its size and modification time."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            info = path.lstat()
            found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["send", "next", "--dry-run"],
        ["send", "next", "--dry-run", "--json"],
        ["send", "retry", "--dry-run"],
        ["preview", "1", "--text"],
        ["check"],
    ],
)
def test_what_only_looks_creates_no_key_and_no_state_folder(
    make_series: Callable[..., Path], cli: Cli, no_env_key: None, command: list[str]
) -> None:
    root = make_series(drafts=2, subscribers=3)
    before = listing(root)
    result = cli(root, *command)
    assert result.exit_code == 0, result.output
    assert listing(root) == before
    assert not (root / ".seriespub").exists()


def test_a_dry_run_without_a_key_says_its_links_use_a_throwaway_key(
    make_series: Callable[..., Path], cli: Cli, no_env_key: None
) -> None:
    root = make_series(drafts=1, subscribers=2)
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith(NO_KEY_NOTE)]
    assert len(notes) == 1, result.stderr
    assert "throwaway key" in notes[0] and "the first real send creates it" in notes[0]
    assert "rendered 2 message(s)" in result.stderr


def test_preview_without_a_key_says_so_and_with_one_says_nothing(
    make_series: Callable[..., Path], cli: Cli, no_env_key: None
) -> None:
    root = make_series(drafts=2, subscribers=2)
    result = cli(root, "preview", "1", "--text")
    assert result.exit_code == 0, result.output
    assert NO_KEY_NOTE in result.stderr
    assert cli(root, "send", "next", "--yes").exit_code == 0  # makes the key
    again = cli(root, "preview", "2", "--text")
    assert again.exit_code == 0, again.output
    assert "unsubscribe key" not in again.stderr


def test_the_first_real_send_after_a_dry_run_uses_the_key_it_creates(
    make_series: Callable[..., Path], cli: Cli, no_env_key: None
) -> None:
    """The throwaway key of a dry run never reaches a reader."""
    root = make_series(drafts=1, subscribers=1)
    assert cli(root, "send", "next", "--dry-run").exit_code == 0
    sent = cli(root, "send", "next", "--yes")
    assert sent.exit_code == 0, sent.output
    key = (root / ".seriespub" / "secret").read_bytes().strip()
    (path,) = (root / ".seriespub" / "outbox" / "001").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    token = UnsubscribeKey(key).token("reader0001@example.com")
    assert f"token={token}" in str(message["List-Unsubscribe"])


def test_a_dry_run_with_json_prints_one_document_describing_the_run(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=3)
    result = cli(root, "send", "next", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "dry_run": True,
        "instalment": 1,
        "title": "Part 1 title",
        "subject": "Part 1 title",
        "provider": "outbox",
        "send_at": None,
        "active": 3,
        "readers": "all",
        "to_send": 3,
        "done": 0,
        "left": 0,
        "unknown": 0,
        "pending": 0,
        "invalid": 0,
        "suppressed": 0,
        "built": 3,
        "counted": 0,
        "late_joiners": [],
    }
    assert "dry run: rendered 3 message(s)" in result.stderr  # the words stay on stderr


def test_a_dry_run_with_json_describes_the_late_joiners_parts(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, subscribers=2)
    start = dt.datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("Europe/London"))
    with time_machine.travel(start, tick=False) as clock:
        assert cli(root, "send", "next", "--yes").exit_code == 0
        clock.move_to(start + dt.timedelta(days=2))
        assert cli(root, "subscribers", "add", "late@example.com").exit_code == 0
        clock.move_to(start + dt.timedelta(days=7))
        result = cli(root, "send", "next", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["instalment"], data["to_send"], data["built"]) == (2, 2, 2)
    late = data["late_joiners"]
    assert [(p["instalment"], p["to_send"], p["built"], p["dry_run"]) for p in late] == [
        (1, 1, 1, True)
    ]
    assert "late_joiners" not in late[0]


def test_a_dry_run_with_nothing_to_send_prints_its_document(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "send", "retry", "1", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["dry_run"], data["instalment"], data["to_send"], data["built"]) == (
        True,
        1,
        0,
        0,
    )


def test_a_retry_dry_run_with_json_counts_what_it_would_resend(
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
    state.faults.server_errors = 1000
    assert cli(root, "send", "next", "--yes").exit_code == 1
    state.faults.server_errors = 0
    result = cli(root, "send", "retry", "1", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # The first batch of two was refused and the run stopped: those two are what a retry
    # resends, and the two messages the retry would build (not every active reader's).
    assert (data["instalment"], data["to_send"], data["active"], data["done"]) == (1, 2, 4, 0)
    assert (data["built"], data["counted"], data["late_joiners"]) == (2, 0, [])
    assert state.accepted == []


@pytest.mark.parametrize(
    "command", [["send", "next", "--yes", "--json"], ["send", "retry", "--yes", "--json"]]
)
def test_every_part_sent_with_json_still_prints_one_document(
    make_series: Callable[..., Path], cli: Cli, command: list[str]
) -> None:
    root = make_series(drafts=1, subscribers=1)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, *command)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"instalment": None, "to_send": 0}
    assert "every instalment has been delivered" in result.stderr
