"""`send next --dry-run` builds the first readers' messages in full and counts the rest."""

from __future__ import annotations

import datetime as dt
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
