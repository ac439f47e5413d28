"""The feed as a real feed reader sees it: newsboat (Debian `newsboat`), run headless.

`newsboat -x reload` fetches the feed from the local server (tests/localsite.py) into its
SQLite cache (`rss_item`), which is what its reader shows: each sent part an item, its title
as written, its link opening the part's page, its date, its author; an edited part updated in
place, never a second item; no part that is not out.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import ok
from localsite import publish_at, serving
from sqlitefile import sqlite_file

NEWSBOAT = shutil.which("newsboat")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NEWSBOAT is None, reason="newsboat is not installed (.ci/run)"),
]
TITLES = ['Été & "quotes" — première', "שלום <עולם> & co"]


def reload(tmp_path: Path, feed: str) -> list[tuple[str, str, str, str, int]]:
    """newsboat's items after a reload: (guid, title, url, author, pubDate), oldest first."""
    assert NEWSBOAT is not None
    home = tmp_path / "newsboat"
    home.mkdir(exist_ok=True)
    (home / "urls").write_text(feed + "\n", encoding="utf-8")
    (home / "config").write_text("", encoding="utf-8")
    done = subprocess.run(
        [NEWSBOAT, "-x", "reload", "-u", "urls", "-c", "cache.db", "-C", "config"],
        cwd=home,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with sqlite_file(home / "cache.db") as db:
        return list(
            db.execute(
                "SELECT guid, title, url, author, pubDate FROM rss_item"
                " WHERE deleted = 0 ORDER BY pubDate, guid"
            )
        )


def test_newsboat_shows_each_sent_part_once_as_written(
    tmp_path: Path, make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    with serving(tmp_path / "www") as origin:
        base = f"{origin}/series/"
        root = make_series(drafts=3, subscribers=1, extra_toml=f'[site]\nbase_url = "{base}"\n')
        for n, title in enumerate(TITLES, 1):
            draft = root / "drafts" / f"{n:02d}-part-{n}.md"
            draft.write_text(
                draft.read_text(encoding="utf-8").replace(f"Part {n} title", title),
                encoding="utf-8",
            )
        publish_at(tmp_path / "www", "series/", root / "site")
        for _ in TITLES:
            ok(cli(root, "send", "next", "--yes"))
        ok(cli(root, "site"))
        items = reload(tmp_path, f"{base}feed.xml")
        pages = [f"{base}0{n}-part-{n}/" for n in (1, 2)]
        assert [(guid, title, url) for guid, title, url, _, _ in items] == [
            (pages[0], f"Part 1: {TITLES[0]}", pages[0]),
            (pages[1], f"Part 2: {TITLES[1]}", pages[1]),
        ]  # part 3 is not out
        assert [author for _, _, _, author, _ in items] == ["Author", "Author"]
        assert items[0][4] <= items[1][4] and items[0][4] > 1_700_000_000
        for url in pages:
            with urllib.request.urlopen(url, timeout=10) as page:
                assert page.status == 200 and url in page.read().decode("utf-8")
        first = root / "drafts" / "01-part-1.md"
        first.write_text(
            first.read_text(encoding="utf-8").replace("première", "première (revue)"),
            encoding="utf-8",
        )
        ok(cli(root, "site"))
        again = reload(tmp_path, f"{base}feed.xml")
        assert [title for _, title, _, _, _ in again] == [
            f"Part 1: {TITLES[0]} (revue)",
            f"Part 2: {TITLES[1]}",
        ]
        assert [item[4] for item in again] == [item[4] for item in items]
