"""`send next --dry-run` builds the first readers' messages in full and counts the rest."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes.memory import MemoryProvider
from seriespub.message import PreparedMessage
from seriespub.ops import send as ops
from seriespub.ops.session import session
from seriespub.series import find_series

Cli = Callable[..., Any]


def test_a_dry_run_builds_twenty_in_full_and_counts_the_rest(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(subscribers=45)
    built: list[str] = []
    real = PreparedMessage.mime_for

    def counting(self: PreparedMessage, recipient: Any, *args: Any, **kwargs: Any) -> bytes:
        built.append(recipient.email)
        return real(self, recipient, *args, **kwargs)

    monkeypatch.setattr(PreparedMessage, "mime_for", counting)
    with session(
        find_series(explicit=root),
        "test",
        now=dt.datetime.now(dt.UTC),
        readonly=True,
        provider=MemoryProvider(),
    ) as s:
        outcome = ops.send(s, ops.SendOptions(dry_run=True), ops.SendHooks())
    assert outcome.built == 45 and outcome.report is None
    assert built == [f"reader{n:04d}@example.com" for n in range(1, ops.DRY_RUN_FULL + 1)]
    assert not (root / ".seriespub" / "ledger.db").exists()


def test_the_dry_run_says_what_it_built_and_what_it_counted(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=45)
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: rendered 20 message(s) in full and counted 25 more" in result.stderr


def test_a_dry_run_counts_only_the_readers_it_would_send_to(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """A part half sent (here by --limit) or a --limit on the dry run itself: the figures are
    the messages this run would build, not every active reader."""
    root = make_series(subscribers=45)
    first = cli(root, "send", "next", "--limit", "30", "--yes")
    assert first.exit_code == 0, first.output
    resumed = cli(root, "send", "next", "--dry-run", "--json")
    assert resumed.exit_code == 0, resumed.output
    data = json.loads(resumed.stdout)
    assert (data["to_send"], data["built"], data["counted"]) == (15, 15, 0)
    assert "dry run: rendered 15 message(s); nothing was sent" in resumed.stderr
    limited = cli(root, "send", "next", "--dry-run", "--limit", "10")
    assert limited.exit_code == 0, limited.output
    assert "dry run: rendered 10 message(s); nothing was sent" in limited.stderr


def test_a_large_resumed_dry_run_builds_twenty_and_counts_the_rest_it_would_send(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=45)
    first = cli(root, "send", "next", "--limit", "5", "--yes")
    assert first.exit_code == 0, first.output
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: rendered 20 message(s) in full and counted 20 more" in result.stderr
