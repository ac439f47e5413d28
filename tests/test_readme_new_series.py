"""A new series with no instalment yet, as a new user meets it: `status`, `send next` and
`send due` say there is none to send and how to write one; none claims that every
instalment has gone out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]

GONE_OUT = ("every instalment has gone out", "every instalment has been delivered")


def empty_series(tmp_path: Path, cli: Cli, *, schedule: bool) -> Path:
    root = tmp_path / "my-series"
    made = cli(tmp_path, "init", str(root), "--title", "Leading", "--from", "ann@example.com")
    assert made.exit_code == 0, made.output
    (root / "drafts" / "01-welcome.md").unlink()  # the author starts from their own draft
    if schedule:
        with (root / "seriespub.toml").open("a", encoding="utf-8") as toml:
            toml.write('\n[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "UTC"\n')
    assert cli(root, "subscribers", "add", "bo@example.com").exit_code == 0
    return root


def test_status_of_a_series_without_instalments_says_so(tmp_path: Path, cli: Cli) -> None:
    root = empty_series(tmp_path, cli, schedule=False)
    result = cli(root, "status")
    assert result.exit_code == 0, result.output
    assert not any(words in result.stdout.lower() for words in GONE_OUT), result.stdout
    assert 'No instalment yet: write the first with: seriespub new "Title"' in result.stdout


@pytest.mark.parametrize(
    ("command", "schedule"),
    [
        (("send", "next", "--yes"), False),
        (("send", "next", "--dry-run"), False),
        (("send", "due"), True),
    ],
)
def test_a_send_without_instalments_says_there_is_none(
    tmp_path: Path, cli: Cli, command: tuple[str, ...], schedule: bool
) -> None:
    root = empty_series(tmp_path, cli, schedule=schedule)
    result = cli(root, *command)
    assert result.exit_code == 0, result.output  # nothing to do is not a failure
    said = result.stdout + result.stderr
    assert not any(words in said.lower() for words in GONE_OUT), said
    if command[1] == "next":
        assert (
            'no instalment yet: drafts/ holds none; write the first with: seriespub new "Title"'
            in said
        )
    assert not (root / ".seriespub" / "outbox").exists()


def test_the_last_part_sent_still_says_every_instalment_has_gone_out(
    tmp_path: Path, cli: Cli
) -> None:
    root = empty_series(tmp_path, cli, schedule=False)
    assert cli(root, "new", "Part one").exit_code == 0
    draft = root / "drafts" / "01-part-one.md"
    draft.write_text(draft.read_text().replace("status: draft", "status: ready"))
    assert cli(root, "send", "next", "--yes").exit_code == 0
    again = cli(root, "send", "next", "--yes")
    assert again.exit_code == 0 and "every instalment has been delivered" in again.stderr
    assert "Every instalment has gone out." in cli(root, "status").stdout
