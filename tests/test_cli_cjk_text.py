"""The plain-text part of a series in Japanese: text without spaces wraps as Latin text does,
at 72 columns (a full-width character takes two), never inside a character, never with a
line that starts with closing punctuation, and loses no character on the way."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailcheck import body_text, check_files

Cli = Callable[..., Any]
SENTENCE = "これは非常に長い日本語の文章で、空白を含まずに続きます。"
PARAGRAPH = SENTENCE * 12 + "「括弧」、『二重括弧』！？（全角）。Teamingという言葉。"
TITLE = "第一回：はじめに、チームとは何か？"
DRAFT = f'---\ntitle: "{TITLE}"\nstatus: ready\n---\n\nこんにちは。\n\n{PARAGRAPH}\n'
CLOSING = "、。，．」』）！？"


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def sent_text(make_series: Callable[..., Path], cli: Cli) -> str:
    root = make_series(drafts=0, subscribers=1)
    (root / "drafts" / "01-ja.md").write_text(DRAFT, encoding="utf-8")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    (msg,) = check_files(sorted((root / ".seriespub" / "outbox" / "001").glob("*.eml")))
    return body_text(msg, "plain").replace("\r\n", "\n")


def test_japanese_without_spaces_wraps_at_72_columns(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    text = sent_text(make_series, cli)
    paragraph = text.split("こんにちは。\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(paragraph) > 1
    assert all(columns(line) <= 72 for line in paragraph), paragraph
    assert all(len(line.encode()) <= 998 for line in text.splitlines())
    assert "".join(paragraph) == PARAGRAPH  # nothing lost, nothing inserted
    assert not any(line[0] in CLOSING for line in paragraph), paragraph


def test_a_japanese_heading_is_underlined_across_its_whole_width(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    lines = sent_text(make_series, cli).splitlines()
    at = lines.index(TITLE)
    assert lines[at + 1] == "=" * columns(TITLE)
