"""`--series` names the series folder; pointing it at seriespub.toml itself is understood, at
another file or at nothing is one clear line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]


def test_the_config_file_itself_names_its_series(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=1, subscribers=1)
    result = cli(tmp_path, "status", "--series", str(root / "seriespub.toml"))
    assert result.exit_code == 0, result.output
    assert "Part 1 title" in result.stdout


def test_another_file_or_a_missing_folder_is_one_clear_line(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=1, subscribers=1)
    result = cli(tmp_path, "status", "--series", str(root / "subscribers.csv"))
    assert result.exit_code == 1
    assert f"error: {root / 'subscribers.csv'}: a file; --series takes the series folder" in (
        result.stderr
    )
    assert "seriespub init" not in result.stderr  # init would fail on a file
    missing = tmp_path / "nowhere"
    result = cli(tmp_path, "status", "--series", str(missing))
    assert result.exit_code == 1
    assert f"error: {missing}: no such folder" in result.stderr
    assert f"hint: create a series there with: seriespub init {missing}" in result.stderr
