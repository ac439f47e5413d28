"""What the author wrote is shown as written: square brackets in a subject, a preheader, a
series title or an address are text, not Rich markup (a `[Newsletter] …` subject is common)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]
SUBJECT = "[news] [red]Alert[/red] and [bold]more[/]"


def test_the_preview_header_shows_brackets_as_written(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1, extra_toml="")
    toml = root / "seriespub.toml"
    toml.write_text(
        toml.read_text().replace('title = "Test Series"', 'title = "[Weekly] Test Series"'),
        encoding="utf-8",
    )
    draft = next((root / "drafts").glob("01-*.md"))
    text = draft.read_text(encoding="utf-8")
    text = text.replace("status: ready", f"status: ready\nsubject: '{SUBJECT}'")
    text = text.replace(
        "preheader: A short line shown in the inbox", "preheader: '[p] A short line'"
    )
    draft.write_text(text, encoding="utf-8")
    result = cli(root, "preview", "1")
    assert result.exit_code == 0, result.output
    assert SUBJECT in result.stdout
    assert "[p] A short line" in result.stdout
    assert "[Weekly] Test Series · Part 1" in result.stdout
    assert "1 active subscriber (shown as" in result.stdout


def test_help_texts_show_bracketed_names(cli: Cli, tmp_path: Path) -> None:
    result = cli(tmp_path, "subscribers", "sync", "--help")
    assert result.exit_code == 0, result.output
    assert "[inbox]" in " ".join(result.stdout.split())
