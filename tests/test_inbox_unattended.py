"""A series with `[inbox]` sent unattended (cron, the GitHub Actions job): the inbox is read
before every send, so its password must reach the job; a send never stops for the inbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
INBOX = (
    '[inbox]\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\nusername = "author@example.com"\n'
)
SCHEDULE = (
    '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\nevery_weeks = 1\n'
)


def test_a_send_without_the_inbox_password_warns_and_sends(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAP_PASSWORD", raising=False)
    root = make_series(drafts=1, subscribers=3, extra_toml=INBOX)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("IMAP_PASSWORD" in line and "inbox" in line for line in warnings), result.stderr
    assert len(list((root / ".seriespub" / "outbox" / "001").glob("*.eml"))) == 3


def test_the_workflow_passes_the_inbox_password_and_previous_keys(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERIESPUB_SECRET_PREVIOUS", "p" * 40)
    root = make_series(drafts=1, subscribers=3, extra_toml=INBOX + SCHEDULE)
    result = cli(root, "schedule", "install")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "IMAP_PASSWORD: ${{ secrets.IMAP_PASSWORD }}" in text
    assert "SERIESPUB_SECRET_PREVIOUS: ${{ secrets.SERIESPUB_SECRET_PREVIOUS }}" in text
    assert "p" * 40 not in result.output


def test_without_an_inbox_or_previous_keys_the_workflow_asks_for_neither(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET_PREVIOUS", raising=False)
    root = make_series(drafts=1, subscribers=3, extra_toml=SCHEDULE)
    text = cli(root, "schedule", "install").stdout
    assert "IMAP_PASSWORD" not in text and "SERIESPUB_SECRET_PREVIOUS" not in text


def test_check_warns_that_the_inbox_password_is_missing(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAP_PASSWORD", raising=False)
    root = make_series(drafts=1, subscribers=3, extra_toml=INBOX)
    result = cli(root, "check")
    assert result.exit_code == 0, result.output
    assert "IMAP_PASSWORD is not set" in result.output and "[inbox] is not read" in result.output
    monkeypatch.setenv("IMAP_PASSWORD", "imap-secret-1234")
    assert "IMAP_PASSWORD" not in cli(root, "check").output
