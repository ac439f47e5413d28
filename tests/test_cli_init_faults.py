"""`seriespub init` is all or nothing: a write that fails part-way (a full disk, a file size
limit) removes exactly what this init created, keeps what was there before, and says so on
one line; a second `init` then starts afresh."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from pathlib import Path

from test_disk_faults import small_tmpfs

SOURCES = str(Path(__file__).resolve().parents[1] / "src")


def init_process(
    cwd: Path, *args: str, fsize: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`seriespub init ARGS` (see `seriespub_process`)."""
    return seriespub_process(cwd, "init", *args, fsize=fsize)


def seriespub_process(
    cwd: Path, *args: str, fsize: int | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process, its files limited to `fsize` bytes (a real EFBIG:
    Python ignores SIGXFSZ)."""

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCES, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "seriespub", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        preexec_fn=limit,
        check=False,
    )


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None: a folder)."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_a_write_refused_at_the_last_step_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    """A `.gitignore` already over the size limit: its append fails after every file of the
    series was written; they go, the `.gitignore` and the author's own files stay."""
    folder = tmp_path / "book"
    (folder / "drafts").mkdir(parents=True)
    (folder / "drafts" / "notes.txt").write_text("mine\n")
    (folder / ".gitignore").write_text("# mine\n" + "x" * 20_000 + "\n")
    before = tree(folder)
    done = init_process(tmp_path, "book", fsize=16_000)
    line = one_error_line(done)
    assert ".gitignore" in line and "cannot create the series" in line
    assert tree(folder) == before
    again = init_process(tmp_path, "book")
    assert again.returncode == 0, again.stderr
    assert (folder / "seriespub.toml").is_file() and (folder / "drafts" / "notes.txt").is_file()


def test_a_full_disk_part_way_removes_what_init_made(tmp_path: Path) -> None:
    """Two pages of tmpfs: seriespub.toml and subscribers.csv fit, the first draft does not.
    The folders init made go too; the mount point (there before) stays."""
    with small_tmpfs(tmp_path / "disk", "8k") as disk:
        done = init_process(disk, "series/book")
        line = one_error_line(done)
        assert "01-welcome.md" in line
        assert "the disk is full" in line  # as every other command words it (README)
        assert "hint: free some space, then run the command again" in done.stderr
        assert list(disk.iterdir()) == []
        again = init_process(disk, "series/book")
        assert "01-welcome.md" in one_error_line(again)  # the same, not "already exists"


def test_new_that_cannot_write_its_draft_leaves_none(tmp_path: Path) -> None:
    """A half-written draft would break every later command (no front matter)."""
    assert init_process(tmp_path, "book").returncode == 0
    before = tree(tmp_path / "book")
    done = seriespub_process(tmp_path / "book", "new", "Part two", fsize=20)
    assert "02-part-two.md" in one_error_line(done)
    assert tree(tmp_path / "book") == before


def test_new_on_a_full_disk_says_the_disk_is_full_and_leaves_no_draft(tmp_path: Path) -> None:
    """The words every command uses for ENOSPC, not the OS's "No space left on device"."""
    with small_tmpfs(tmp_path / "disk", "16k") as disk:
        assert init_process(disk, "book").returncode == 0
        book = disk / "book"
        before = tree(book)
        filler = disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as handle:
            handle.write(b"x" * 65_536)
        done = seriespub_process(book, "new", "Part two")
        line = one_error_line(done)
        assert "02-part-two.md" in line and "the disk is full" in line, line
        assert "hint: free some space, then run the command again" in done.stderr
        assert tree(book) == before


def test_an_export_on_a_full_disk_does_not_talk_of_resuming_a_send(tmp_path: Path) -> None:
    """`preview --html` and `schedule --ics` write the author's own file: a full disk there
    says so with the plain hint, not the send's "resumes exactly" one."""
    with small_tmpfs(tmp_path / "disk", "16k") as disk:
        assert init_process(disk, "book").returncode == 0
        book = disk / "book"
        with contextlib.suppress(OSError), (disk / "filler").open("wb") as handle:
            handle.write(b"x" * 65_536)
        done = seriespub_process(book, "preview", "1", "--html", "part1.html")
        line = one_error_line(done)
        assert "part1.html" in line and "the disk is full" in line, line
        assert "hint: free some space, then run the command again\n" in done.stderr
        assert "send next" not in done.stderr
        assert not (book / "part1.html").exists()
