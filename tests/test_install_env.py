"""`schedule install`: cron and systemd see neither the shell's environment nor its profile.
A secret set only there is named, or the unattended run would use another unsubscribe key
(every reader's token changes) or could not send at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
POSTMARK = '[delivery]\nprovider = "postmark"\n[delivery.postmark]\nmessage_stream = "outbound"\n'


def test_secrets_set_only_in_the_shell_are_named(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(drafts=1, delivery=POSTMARK, extra_toml=SCHEDULE)
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "shell-token")  # SERIESPUB_SECRET: conftest
    result = cli(root, "schedule", "install", "--repo-path", "letters")
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.stderr.splitlines() if "only in this shell" in line)
    assert "SERIESPUB_SECRET" in warning and "POSTMARK_SERVER_TOKEN" in warning
    assert ".env" in warning
    assert "shell-token" not in result.output


def test_secrets_in_dotenv_need_no_warning(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(drafts=1, delivery=POSTMARK, extra_toml=SCHEDULE)
    monkeypatch.delenv("SERIESPUB_SECRET")
    (root / ".env").write_text("SERIESPUB_SECRET=" + "k" * 40 + "\nPOSTMARK_SERVER_TOKEN=t\n")
    result = cli(root, "schedule", "install", "--repo-path", "letters")
    assert result.exit_code == 0, result.output
    assert "only in this shell" not in result.stderr


def test_previous_keys_set_only_in_the_shell_are_named(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unattended `send` reads the inbox first: without the previous keys, the requests
    of readers holding links made with them would be left there."""
    root = make_series(drafts=1, extra_toml=SCHEDULE)
    (root / ".env").write_text("SERIESPUB_SECRET=" + "k" * 40 + "\n")
    monkeypatch.setenv("SERIESPUB_SECRET_PREVIOUS", "p" * 40)
    result = cli(root, "schedule", "install", "--repo-path", "letters")
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.stderr.splitlines() if "only in this shell" in line)
    assert "SERIESPUB_SECRET_PREVIOUS" in warning
    assert "p" * 40 not in result.output


def test_a_generated_key_is_named_as_the_value_of_the_ci_secret(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A series that sent with the key generated into .seriespub/secret: the workflow's
    SERIESPUB_SECRET must be that key (a new one is refused: links would change), and
    nothing else tells the author where it is."""
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = make_series(drafts=1, extra_toml=SCHEDULE)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "schedule", "install", "--repo-path", "letters")
    assert result.exit_code == 0, result.output
    line = next(out for out in result.stdout.splitlines() if "SERIESPUB_SECRET:" in out)
    assert line.startswith("# ") and "the content of .seriespub/secret" in line
    key = (root / ".seriespub" / "secret").read_text(encoding="utf-8").strip()
    assert key not in result.output

    monkeypatch.setenv("SERIESPUB_SECRET", "k" * 40)
    given = cli(root, "schedule", "install", "--repo-path", "letters")
    assert "the content of .seriespub/secret" not in given.output
