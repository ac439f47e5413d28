"""`init` and `new` whole or not at all when the process is stopped at the instant it writes.

Each test runs the real CLI in its own process with one fault injected at the stdlib's door
(`open`, `os.open`): the moment a file whose name holds TARGET is opened for writing, the
process is SIGKILLed (no clean-up runs), sent SIGTERM, or gets a Ctrl-C. Afterwards no file
is empty or half written, no temp file is read as a draft, and the next command works.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from test_cli_init_faults import SOURCES, init_process, seriespub_process, tree

# argv: TARGET HOW seriespub-args...; HOW is kill, term or ctrl-c.
STRIKE_AT_WRITE = """
import builtins, os, signal, sys

target, how = sys.argv[1], sys.argv[2]
real_open, real_os_open = builtins.open, os.open
WRITES = os.O_WRONLY | os.O_RDWR


def strike(path):
    if target not in os.path.basename(os.fsdecode(path)):
        return
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "term":
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0.2)  # let Python run its handler, if it has one
    else:
        raise KeyboardInterrupt


def patched_open(file, mode="r", *args, **kwargs):
    handle = real_open(file, mode, *args, **kwargs)
    if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wxa+"):
        strike(file)
    return handle


def patched_os_open(path, flags, *args, **kwargs):
    fd = real_os_open(path, flags, *args, **kwargs)
    if flags & WRITES:
        strike(path)
    return fd


builtins.open, os.open = patched_open, patched_os_open
sys.argv = ["seriespub", *sys.argv[3:]]
from seriespub.__main__ import run

run()
"""


def struck(cwd: Path, target: str, how: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`seriespub ARGS` in `cwd`, stopped `how` when it opens TARGET to write."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCES, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", STRIKE_AT_WRITE, target, how, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def works(folder: Path) -> None:
    """Every draft loads and the series is whole: `check` passes, without a warning."""
    done = seriespub_process(folder, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr, done.stderr


def test_init_killed_writing_its_config_leaves_no_half_config(tmp_path: Path) -> None:
    done = struck(tmp_path, "seriespub.toml", "kill", "init", "book")
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not (tmp_path / "book" / "seriespub.toml").exists()  # whole, or not there
    again = init_process(tmp_path, "book")
    assert again.returncode == 0, again.stderr
    works(tmp_path / "book")


def test_init_killed_writing_the_first_draft_leaves_no_empty_draft(tmp_path: Path) -> None:
    done = struck(tmp_path, "01-welcome", "kill", "init", "book")
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert list((tmp_path / "book" / "drafts").glob("*.md")) == []
    assert (tmp_path / "book" / "seriespub.toml").read_text().startswith("[series]")


def test_new_killed_as_it_writes_leaves_no_empty_draft(tmp_path: Path) -> None:
    assert init_process(tmp_path, "book").returncode == 0
    book = tmp_path / "book"
    done = struck(book, "02-part-two", "kill", "new", "Part two")
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert sorted(p.name for p in (book / "drafts").glob("*.md")) == ["01-welcome.md"]
    works(book)
    again = seriespub_process(book, "new", "Part two")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (book / "drafts").iterdir()) == [
        "01-welcome.md",
        "02-part-two.md",
    ]  # the killed run's temp file is gone too
    works(book)


def test_ctrl_c_during_init_removes_what_it_made(tmp_path: Path) -> None:
    """Stopped at the last step (the `.gitignore`): every file before it goes again."""
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    before = tree(folder)
    done = struck(tmp_path, ".gitignore", "ctrl-c", "init", "book")
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert tree(folder) == before


def test_sigterm_during_init_removes_what_it_made(tmp_path: Path) -> None:
    done = struck(tmp_path, ".gitignore", "term", "init", "series/book")
    assert done.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
    again = init_process(tmp_path, "series/book")
    assert again.returncode == 0, again.stderr


def test_ctrl_c_during_new_leaves_no_draft_and_no_temp_file(tmp_path: Path) -> None:
    assert init_process(tmp_path, "book").returncode == 0
    book = tmp_path / "book"
    before = tree(book)
    done = struck(book, "02-part-two", "ctrl-c", "new", "Part two")
    assert done.returncode == 130, done.stderr
    assert tree(book) == before


def test_new_and_init_work_where_the_file_system_has_no_hard_links(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT and some network shares refuse os.link (EPERM): the temp file is renamed instead,
    after a last look, and still never over an existing file."""

    def no_links(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    made = cli(tmp_path, "init", "book")
    assert made.exit_code == 0, made.output
    book = tmp_path / "book"
    done = cli(book, "new", "Part two")
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (book / "drafts").iterdir()) == [
        "01-welcome.md",
        "02-part-two.md",
    ]
    assert (book / "drafts" / "02-part-two.md").read_text().startswith('---\ntitle: "Part two"')
    again = cli(tmp_path, "init", "book")
    assert again.exit_code == 1 and "already exists" in again.stderr
