"""`init` and `new` as library calls: a new series folder, the next numbered draft.

Neither ever overwrites a file: `init` refuses a folder that already holds a series (and only
appends missing lines to an existing `.gitignore`); `new` picks the next free number.
Every file either is written whole or is not there, even after SIGKILL; an `init` that fails
or is stopped (Ctrl-C; SIGTERM and SIGHUP too, through the CLI) removes what it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seriespub.drafts import new_draft
from seriespub.series import Series, init_series


@dataclass(frozen=True)
class Created:
    path: Path
    updated: bool = False  # an existing file that was appended to (.gitignore)


def init(folder: Path, title: str, sender: str) -> list[Created]:
    """Create a series folder: seriespub.toml, drafts/, subscribers.csv, .gitignore."""
    had_ignore = (folder / ".gitignore").is_file()
    return [
        Created(path, had_ignore and path.name == ".gitignore")
        for path in init_series(folder, title, sender)
    ]


def new(series: Series, title: str) -> Path:
    """Write the next numbered draft in drafts/ and return its path."""
    return new_draft(series.drafts_dir, title)
