"""An import after part 1 went out: readers whose date in the export is older than that
release are taken for the front (late_joiners = "from_start"), so they never get the parts
already sent. The import says so, and `--joined-today` starts them at part 1 instead."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]


def export(tmp_path: Path) -> Path:
    source = tmp_path / "export.csv"
    source.write_text(
        "Email Address,First Name,signup date\n"
        "old@example.com,Old,2020-01-01\n"  # before part 1: the front
        "nodate@example.com,No date,\n"  # no date: today, a late joiner
        "future@example.com,Future,2099-01-01\n",
        encoding="utf-8",
    )
    return source


def dates(root: Path) -> dict[str, str]:
    with (root / "subscribers.csv").open(encoding="utf-8", newline="") as f:
        return {row["email"]: row["subscribed_at"] for row in csv.DictReader(f)}


def test_an_import_after_part_one_says_who_is_taken_for_the_front(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=2, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "subscribers", "import", str(export(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "added 3" in result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1, result.stderr
    assert "1 added reader" in warning[0] and "before part 1 went out" in warning[0]
    assert "--joined-today" in result.stderr
    assert dates(root)["old@example.com"] == "2020-01-01"


def test_joined_today_starts_them_at_part_one(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=2, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "subscribers", "import", str(export(tmp_path)), "--joined-today")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    today = dt.date.today().isoformat()
    found = dates(root)
    assert [found[f"{a}@example.com"] for a in ("old", "nodate", "future")] == [today] * 3


def test_before_any_part_went_out_nobody_is_warned_about(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=2, subscribers=2)
    result = cli(root, "subscribers", "import", str(export(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_buttondowns_creation_date_is_the_date_kept(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    """Buttondown exports a reader's sign-up as `creation_date` (beside `subscriber_type`):
    it was dropped, so every reader of an import after part 1 was dated today and sent the
    series from part 1, against the README's "an import keeps the export's date"."""
    root = make_series(drafts=2, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    source = tmp_path / "buttondown.csv"
    source.write_text(
        "email,creation_date,subscriber_type,notes\n"
        "old@example.com,2020-01-01T10:00:00Z,regular,\n",
        encoding="utf-8",
    )
    result = cli(root, "subscribers", "import", str(source))
    assert result.exit_code == 0, result.output
    assert dates(root)["old@example.com"] == "2020-01-01T10:00:00Z"
    assert "1 added reader" in result.stderr  # taken for the front, and told so
