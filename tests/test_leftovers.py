"""Temp files a killed command leaves (SIGKILL runs no clean-up) are removed by the next
command of the same kind, under the lock that the writers of that file hold, and only
names of the writer's own exact pattern: a file of the author's with a like name stays.

- the subscriber list's rewrite: `.subscribers-XXXXXXXX.csv` beside the list, and a send's
  copy of it, `.seriespub/.snapshot-XXXXXXXX.csv` (both under the list's lock);
- the site: `.NAME.<8 hex>.tmp` beside every page a build ever wrote (a withdrawn page's
  folder too) and beside its records in `.seriespub/` (under the site's locks).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from conftest import seriespub_process, write_subscribers

Cli = Callable[..., object]
SITE = '[site]\nbase_url = "https://example.org/teaming/"\n'
CALENDAR = (
    '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'
    'catch_up = "all"\n'
)


def seriespub(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return seriespub_process(root, *args)


def list_temps(root: Path) -> list[Path]:
    return sorted(root.glob(".subscribers-*.csv"))


def test_a_list_rewrite_killed_mid_write_leaves_no_temp_after_the_next_change(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """A real `subscribers remove` rewriting a big list, SIGKILLed while its temp file is
    being written: the next change to the list removes the temp file; the list is whole."""
    root = make_series(drafts=1, subscribers=0)
    write_subscribers(root / "subscribers.csv", 200_000)
    authors = root / ".subscribers-old.csv"  # not mkstemp's 8 characters: the author's
    authors.write_text("mine\n", encoding="utf-8")
    run = seriespub(root, "subscribers", "remove", "reader0001@example.com")
    deadline = time.monotonic() + 60
    while len(list_temps(root)) < 2 and run.poll() is None:
        assert time.monotonic() < deadline, "the import never wrote its temp file"
        time.sleep(0.001)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, "the import finished before the kill"
    torn = [p for p in list_temps(root) if p != authors]
    assert len(torn) == 1  # what the kill left
    result = cli(root, "subscribers", "add", "new@example.org")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert list_temps(root) == [authors] and authors.read_text(encoding="utf-8") == "mine\n"
    lines = (root / "subscribers.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 200_000 + 1 and lines[-1].startswith("new@example.org,")
    assert lines[1].startswith("reader0001@example.com,") and ",active," in lines[1]


def test_a_sends_list_copy_left_by_a_kill_goes_with_the_next_send(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0  # type: ignore[attr-defined]
    state = root / ".seriespub"
    torn = state / ".snapshot-k3_x9a0q.csv"
    torn.write_text("email\nreader0001@example.com\n", encoding="utf-8")
    kept = state / ".snapshot-mine.csv"
    kept.write_text("mine\n", encoding="utf-8")
    assert cli(root, "send", "next", "--yes").exit_code == 0  # type: ignore[attr-defined]
    assert not torn.exists() and kept.read_text(encoding="utf-8") == "mine\n"


def test_a_killed_builds_temp_files_go_with_the_next_build_even_beside_a_withdrawn_page(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, extra_toml=SITE + CALENDAR)
    assert cli(root, "site").exit_code == 0  # type: ignore[attr-defined]
    third = root / "drafts" / "03-part-3.md"
    third.write_text(third.read_text(encoding="utf-8").replace("status: ready", "status: draft"))
    state = root / ".seriespub"
    torn = [
        root / "site" / "03-part-3" / ".index.html.0badc0de.tmp",
        state / ".site-files.json.12ab34cd.tmp",
        state / ".site.json.0badc0de.tmp",
    ]
    for temp in torn:
        temp.write_text("cut short", encoding="utf-8")
    authors = [state / ".site.json.tmp", root / "site" / ".feed.xml.notes.tmp"]
    for kept in authors:
        kept.write_text("mine\n", encoding="utf-8")
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert [temp for temp in torn if temp.exists()] == []
    assert not (root / "site" / "03-part-3").exists()  # the withdrawn page's folder went too
    assert [kept.read_text(encoding="utf-8") for kept in authors] == ["mine\n", "mine\n"]
