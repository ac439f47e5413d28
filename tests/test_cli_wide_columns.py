"""The plain columns of `status`, `schedule` and `subscribers list` line up on a terminal
when a title or a name holds wide characters (Chinese, Japanese: two columns each) or
combining marks (none): a column starts at the same terminal column on every line."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
TITLES = ("第一回：はじめに", "Cafe\u0301 au lait", "Plain title")  # wide, combining, ASCII
NAMES = ("山田太郎", "Jose\u0301", "Bo")


def columns(text: str) -> int:
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def start_of(line: str, cell: str) -> int:
    """The terminal column at which `cell` starts on `line`."""
    return columns(line[: line.index(cell)])


def wide_series(make_series: Callable[..., Path]) -> Path:
    root = make_series(
        drafts=0,
        subscribers=0,
        extra_toml='[schedule]\nfirst_release = 2030-01-01T09:00:00\ntimezone = "UTC"\n',
    )
    for n, title in enumerate(TITLES, start=1):
        (root / "drafts" / f"{n:02d}-part.md").write_text(
            f'---\ntitle: "{title}"\nstatus: ready\n---\nHello.\n', encoding="utf-8"
        )
    rows = "".join(
        f"r{n}@example.com,{name},active,2026-01-01\n" for n, name in enumerate(NAMES, start=1)
    )
    (root / "subscribers.csv").write_text(
        "email,name,status,subscribed_at\n" + rows, encoding="utf-8"
    )
    return root


@pytest.mark.parametrize(
    ("command", "cells", "next_column"),
    [
        (("status",), TITLES, "ready"),  # the State column, after the title
        (("schedule",), TITLES, "Tue 20"),  # the Release column
        (("subscribers", "list"), NAMES, "active"),  # the Status column, after the name
    ],
)
def test_a_column_after_wide_text_starts_at_one_terminal_column(
    make_series: Callable[..., Path],
    cli: Cli,
    command: tuple[str, ...],
    cells: tuple[str, ...],
    next_column: str,
) -> None:
    root = wide_series(make_series)
    result = cli(root, *command)
    assert result.exit_code == 0, result.output
    lines = [next(ln for ln in result.stdout.splitlines() if cell in ln) for cell in cells]
    starts = {start_of(line, next_column) for line in lines}
    assert len(starts) == 1, "\n".join(lines)
