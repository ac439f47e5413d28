"""Every file the site and the list write into `.seriespub/` is private (0600), as the
README promises for the state folder: the site's records (`site.json`, `site-files.json`)
and the record of an append under way (`append-undo.json`) were written 0644."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from seriespub import appendundo
from sitehelp import site_series


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems give (022): files created 0666 come out 0644."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def loose_state_files(root: Path) -> dict[str, str]:
    """Files under `.seriespub/` that group or others may read: name → mode."""
    found = {}
    for path in (root / ".seriespub").rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_file() and mode & 0o077:
            found[str(path.relative_to(root))] = oct(mode)
    return found


def test_a_site_build_writes_its_records_private(
    make_series: Callable[..., Path], cli: Callable[..., object]
) -> None:
    root = site_series(make_series(drafts=4, ready=3))
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (root / ".seriespub" / "site.json").is_file()
    assert (root / ".seriespub" / "site-files.json").is_file()
    assert loose_state_files(root) == {}


def test_a_send_with_a_site_records_the_url_private(
    make_series: Callable[..., Path], cli: Callable[..., object]
) -> None:
    root = make_series(drafts=2)
    with (root / "seriespub.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[site]\nbase_url = "https://example.org/teaming/"\n')
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (root / ".seriespub" / "site.json").is_file()
    assert loose_state_files(root) == {}


def test_a_record_left_loose_is_tightened_by_the_next_build(
    make_series: Callable[..., Path], cli: Callable[..., object]
) -> None:
    root = site_series(make_series(drafts=4, ready=3))
    assert cli(root, "site").exit_code == 0  # type: ignore[attr-defined]
    for name in ("site.json", "site-files.json"):
        (root / ".seriespub" / name).chmod(0o644)  # an older seriespub wrote them so
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert loose_state_files(root) == {}


def test_the_record_of_an_append_under_way_is_private(tmp_path: Path) -> None:
    listed = tmp_path / "subscribers.csv"
    listed.write_text("email,name,status,subscribed_at\n", encoding="utf-8")
    appendundo.begin(listed, listed.stat(), listed.stat().st_size + 40)
    assert loose_state_files(tmp_path) == {}
