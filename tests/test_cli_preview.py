"""`seriespub preview`: what the terminal shows is what the reader it names will get."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
LONG = (
    "Teams that work across systems need a shared picture of the patient, and the "
    "habits that make it possible are learnt slowly, meeting by meeting, in the "
    "ordinary business of the week rather than in workshops."
)


def add_subscriber(root: Path, address: str, name: str, status: str = "active") -> None:
    with open(root / "subscribers.csv", "a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow([address, name, status, "2026-01-01"])


def body_lines(stdout: str) -> list[str]:
    """The lines after the header panel."""
    return stdout.split("╯\n", 1)[1].splitlines()


def test_the_preview_is_filled_for_the_reader_it_names(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=2)
    result = cli(root, "preview", "1")
    assert result.exit_code == 0, result.output
    assert "(shown as reader0001@example.com)" in result.stdout
    assert body_lines(result.stdout)[0].rstrip() == "Hello Reader 1,"
    assert "{{" not in result.stdout


def test_as_picks_another_subscriber_and_shows_values_as_typed(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=2)
    add_subscriber(root, "bo@example.com", "Bo *Admin* <b> [x](y) & Co")
    add_subscriber(root, "nameless@example.com", "")
    result = cli(root, "preview", "1", "--as", "BO@example.com")
    assert result.exit_code == 0, result.output
    assert "(shown as bo@example.com)" in result.stdout
    assert body_lines(result.stdout)[0].rstrip() == "Hello Bo *Admin* <b> [x](y) & Co,"
    nameless = cli(root, "preview", "1", "--as", "nameless@example.com")
    assert body_lines(nameless.stdout)[0].rstrip() == "Hello reader,"  # the default
    text = cli(root, "preview", "1", "--text", "--as", "reader0002@example.com")
    assert "\nHello Reader 2,\n" in text.stdout


def test_an_unknown_address_is_a_clear_error(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1, subscribers=2)
    result = cli(root, "preview", "1", "--as", "nobody@example.com")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {root / 'subscribers.csv'}: no subscriber "
        "nobody@example.com\nhint: seriespub subscribers list shows who "
        "is there\n"
    )
    assert result.stdout == ""


def test_paragraphs_wrap_at_words_on_the_terminal_width(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(drafts=1)
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(draft.read_text() + "\n" + LONG + "\n")
    monkeypatch.setenv("COLUMNS", "60")
    result = cli(root, "preview", "1")
    assert result.exit_code == 0, result.output
    lines = [*(line.rstrip() for line in body_lines(result.stdout)), ""]
    start = next(i for i, line in enumerate(lines) if line.startswith("Teams that"))
    paragraph = lines[start : lines.index("", start)]
    assert len(paragraph) > 2 and all(len(line) <= 60 for line in paragraph)
    assert " ".join(paragraph) == LONG  # no word cut in two


@pytest.mark.parametrize("target", ["missing/part.html", "."])
def test_html_into_a_missing_folder_or_onto_a_folder_is_one_line(
    make_series: Callable[..., Path], cli: Cli, target: str
) -> None:
    root = make_series(drafts=1)
    result = cli(root, "preview", "1", "--html", target)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {target}: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert not (root / "missing").exists()


def test_the_size_shown_is_the_size_as_sent(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(draft.read_text() + "\n" + "Привет, мир. " * 3400 + "\n")
    result = cli(root, "preview", "1")
    assert "KB as sent: over Gmail's ~102 KB limit" in result.stdout


def test_the_panel_shows_a_non_ascii_sender_as_written(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1)
    toml = root / "seriespub.toml"
    toml.write_text(
        toml.read_text("utf-8").replace("Author <author@", "Jürgen Weiß <author@"), "utf-8"
    )
    result = cli(root, "preview", "1")
    assert result.exit_code == 0, result.output
    panel = result.stdout.split("╯\n", 1)[0]
    assert "Jürgen Weiß <author@example.com>" in panel
    assert "=?utf-8?" not in panel
