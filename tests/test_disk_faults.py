"""Disks that fail: one clear line and an exit code, never a traceback; the data survives and
the resume is exact. A real small tmpfs and a read-only bind mount where the test may mount
(root), else an injected ENOSPC; a real second process holding the ledger locked."""

from __future__ import annotations

import email
import errno
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sqlitefile import sqlite_file

Cli = Callable[..., Any]
SCHEDULE = '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'


def one_line(result: Any, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return str(errors[0])


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)):
        pytest.skip("cannot mount a tmpfs here (not root, or not permitted)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def read_only_view(source: Path, view: Path) -> Iterator[Path]:
    view.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not _mount("--bind", str(source), str(view)):
        pytest.skip("cannot bind-mount here (not root, or not permitted)")
    try:
        if not _mount("-o", "remount,ro,bind", str(view)):
            pytest.skip("cannot remount read-only here")
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def _outbox(root: Path, part: int = 1) -> list[Path]:
    return sorted((root / ".seriespub" / "outbox" / f"{part:03d}").glob("*.eml"))


def _sent(root: Path, part: int = 1) -> dict[str, int]:
    with sqlite_file(root / ".seriespub" / "ledger.db") as db:
        rows = db.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE instalment=? GROUP BY status", (part,)
        ).fetchall()
    return dict(rows)


def _exactly_once(root: Path, readers: int, part: int = 1) -> None:
    """Every reader has one complete message, and the ledger says sent for each."""
    files = _outbox(root, part)
    assert len(files) == readers
    tos = {email.message_from_bytes(f.read_bytes())["To"] for f in files}
    assert len(tos) == readers
    assert all(f.read_bytes().rstrip().endswith(b"--") for f in files)
    assert _sent(root, part) == {"sent": readers}


def _build_series_in(folder: Path, readers: int) -> Path:
    from conftest import DRAFT, write_subscribers

    (folder / "drafts").mkdir(parents=True, exist_ok=True)
    (folder / "seriespub.toml").write_text(
        '[series]\ntitle = "Test Series"\nfrom = "Author <author@example.com>"\n'
        '[delivery]\nprovider = "outbox"\nbatch_size = 20\n',
        encoding="utf-8",
    )
    (folder / "drafts" / "01-part-1.md").write_text(
        DRAFT.format(title="Part 1 title", status="ready", number=1) + "padding " * 800,
        encoding="utf-8",
    )
    write_subscribers(folder / "subscribers.csv", readers)
    return folder


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        # Whichever write meets the full disk first: the ledger's, as a rule, or a message's.
        ("series", ("database or disk is full", ".eml: cannot write: the disk is full")),
        ("outbox", (".eml: cannot write: the disk is full",)),
    ],
)
def test_a_full_disk_stops_the_send_in_one_line_and_the_resume_is_exact(
    tmp_path: Path, cli: Cli, full: str, expected: tuple[str, ...]
) -> None:
    """A real small tmpfs under the whole series, or only under the outbox."""
    if full == "series":
        mount_at = tmp_path / "series"
    else:
        mount_at = tmp_path / "series" / ".seriespub" / "outbox"
    with small_tmpfs(mount_at, "1m") as disk:
        root = _build_series_in(tmp_path / "series", readers=150)
        line = one_line(cli(root, "send", "next", "--yes"))
        assert any(text in line for text in expected), line
        assert len(_outbox(root)) < 150
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resumed = cli(root, "send", "next", "--yes")
        assert resumed.exit_code == 0, resumed.output
        _exactly_once(root, 150)
        with sqlite_file(root / ".seriespub" / "ledger.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_injected_enospc_in_the_outbox_is_one_line_and_resumes_exactly(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same without root: os.write fails with ENOSPC after a few messages."""
    root = make_series(drafts=1, subscribers=30, extra_toml="")
    real_write, calls = os.write, [0]

    def full_after_ten(fd: int, data: Any) -> int:
        calls[0] += 1
        if calls[0] > 10:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_after_ten)
    line = one_line(cli(root, "send", "next", "--yes"))
    assert "cannot write: the disk is full" in line and ".eml" in line
    monkeypatch.setattr(os, "write", real_write)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    _exactly_once(root, 30)


def test_a_full_disk_for_the_run_log_is_one_line(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(
        drafts=1,
        subscribers=2,
        extra_toml=(
            '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'
        ),
    )

    def full(*args: Any, **kwargs: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("seriespub.runlog.os.write", full)
    line = one_line(cli(root, "send", "due"))
    assert "log.jsonl: cannot write the run log: the disk is full" in line
    assert _outbox(root) == []


def test_reporting_commands_work_on_a_read_only_series(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(
        drafts=2,
        subscribers=3,
        extra_toml=(
            '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'
        ),
    )
    assert cli(root, "send", "next", "--yes").exit_code == 0
    (root / ".seriespub" / "log.jsonl").write_text('{"event": "sent", "instalment": 1}\n')
    before = sorted(p.name for p in (root / ".seriespub").iterdir())
    with read_only_view(root, tmp_path / "ro") as view:
        for command in (
            ["status"],
            ["status", "--json"],
            ["log"],
            ["log", "1"],
            ["schedule"],
            ["send", "next", "--dry-run"],
        ):
            result = cli(view, *command)
            assert result.exit_code == 0, (command, result.output)
        assert "sent" in cli(view, "log", "1").stdout
        line = one_line(cli(view, "send", "next", "--yes"))
        assert "read-only" in line
    assert sorted(p.name for p in (root / ".seriespub").iterdir()) == before


def test_a_fresh_series_with_no_key_is_looked_at_on_a_read_only_mount(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No .seriespub/ and no SERIESPUB_SECRET: what only looks needs no key written."""
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = make_series(drafts=2, subscribers=3, extra_toml=SCHEDULE)
    with read_only_view(root, tmp_path / "ro") as view:
        for command in (
            ["send", "next", "--dry-run"],
            ["send", "next", "--dry-run", "--json"],
            ["send", "retry", "--dry-run"],
            ["preview", "1", "--text"],
            ["check"],
            ["status"],
            ["schedule"],
        ):
            result = cli(view, *command)
            assert result.exit_code == 0, (command, result.output)
        line = one_line(cli(view, "send", "next", "--yes"))
        assert "read-only" in line
    assert not (root / ".seriespub").exists()


def test_a_missing_ledger_reads_as_empty_on_a_read_only_series(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series()
    with read_only_view(root, tmp_path / "ro") as view:
        result = cli(view, "status", "--json")
        assert result.exit_code == 0, result.output
        assert cli(view, "log", "1").exit_code == 0


def test_unfolded_deliveries_that_a_read_only_series_cannot_read_are_one_line(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    """A copy taken while a send ran (a -wal with rows, no -shm) on a read-only mount:
    refused, not shown without those rows."""
    root = make_series(drafts=1, subscribers=2)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    conn = sqlite3.connect(root / ".seriespub" / "ledger.db", isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("UPDATE deliveries SET reason='late'")
    snapshot = shutil.copytree(root, tmp_path / "copy")
    conn.close()
    (snapshot / ".seriespub" / "ledger.db-shm").unlink()
    with read_only_view(snapshot, tmp_path / "ro") as view:
        line = one_line(cli(view, "log", "1"))
        assert "ledger.db-wal holds deliveries not yet folded into the ledger" in line


def test_a_state_folder_that_is_a_file_is_one_line(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series()
    (root / ".seriespub").write_text("not a folder\n")
    for command in (["send", "next", "--yes"], ["status"], ["send", "due"], ["log", "1"]):
        assert ".seriespub is not a folder" in one_line(cli(root, *command)), command
    assert (root / ".seriespub").read_text() == "not a folder\n"


def test_a_dangling_outbox_symlink_is_one_line_and_nothing_is_recorded(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(drafts=1, subscribers=3)
    (root / ".seriespub").mkdir()
    (root / ".seriespub" / "outbox").symlink_to(tmp_path / "gone")
    line = one_line(cli(root, "send", "next", "--yes"))
    assert "outbox is a symlink to" in line and "which does not exist" in line
    (tmp_path / "gone").mkdir()
    assert cli(root, "send", "next", "--yes").exit_code == 0
    _exactly_once(root, 3)


HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.mark.slow
def test_a_ledger_held_by_another_process_is_one_line_and_the_resume_is_exact(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    from seriespub.ledger import Ledger

    root = make_series(drafts=1, subscribers=3)
    Ledger.open(root / ".seriespub" / "ledger.db").close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root / ".seriespub/ledger.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        line = one_line(cli(root, "send", "next", "--yes"))
        assert "database is locked" in line
        assert cli(root, "status").exit_code == 0  # readers are not blocked (WAL)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        holder.__exit__(None, None, None)  # closes its pipes
    assert cli(root, "send", "next", "--yes").exit_code == 0
    _exactly_once(root, 3)


def test_state_files_are_private_and_loose_ones_are_tightened(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(
        drafts=2,
        subscribers=2,
        extra_toml=(
            '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'
        ),
    )
    assert cli(root, "send", "due").exit_code == 0
    state = root / ".seriespub"

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    files = [state / "ledger.db", state / "lock", state / "log.jsonl", *_outbox(root)]
    assert mode(state) == 0o700 and mode(state / "outbox") == 0o700
    assert mode(state / "outbox" / "001") == 0o700
    assert {mode(p) for p in files} == {0o600}
    for path in [state, state / "outbox", *files]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert cli(root, "status").exit_code == 0  # reading changes nothing
    assert mode(state) == 0o755
    assert cli(root, "send", "next", "--yes").exit_code == 0
    assert mode(state) == 0o700 and mode(state / "outbox" / "002") == 0o700
    tightened = [state / "ledger.db", state / "lock", state / "log.jsonl", *_outbox(root, 2)]
    assert mode(state / "outbox") == 0o700
    assert {mode(p) for p in tightened} == {0o600}


def test_the_ledger_and_its_wal_files_are_private(tmp_path: Path) -> None:
    import datetime as dt

    from seriespub.ledger import Ledger

    path = tmp_path / "state" / ".seriespub" / "ledger.db"
    with Ledger.open(path) as ledger:
        ledger.mark_started(1, "t", "s", dt.datetime.now(dt.UTC))
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    assert modes == {"ledger.db": 0o600, "ledger.db-wal": 0o600, "ledger.db-shm": 0o600}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_reporting_commands_write_nothing_even_where_every_write_fails(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a mount (CI containers may not allow one): every write through os fails
    with EROFS; the reporting commands still work and a send is one line."""
    root = make_series(drafts=2, subscribers=3, extra_toml=SCHEDULE)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    real_open = os.open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def read_only_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & writing:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(args[0]))

    monkeypatch.setattr(os, "open", read_only_open)
    for name in ("mkdir", "chmod", "fchmod", "replace", "rename", "link", "unlink"):
        monkeypatch.setattr(os, name, refuse)
    for command in (["status"], ["log"], ["log", "1"], ["schedule"], ["send", "next", "--dry-run"]):
        result = cli(root, *command)
        assert result.exit_code == 0, (command, result.output)
    line = one_line(cli(root, "send", "next", "--yes"))
    assert "the file system is read-only" in line


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.EIO, "Input/output error", "/mnt/usb/drafts"), "/mnt/usb/drafts: "),
        (sqlite3.OperationalError("disk I/O error"), "ledger.db (the send ledger): disk I/O"),
    ],
)
def test_the_last_line_of_defence_turns_os_and_sqlite_errors_into_one_line(
    make_series: Callable[..., Path],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    expected: str,
) -> None:
    from seriespub import publishing

    def broken(*args: Any, **kwargs: Any) -> None:
        raise error

    root = make_series()
    monkeypatch.setattr(publishing, "drafts_of", broken)
    assert expected in one_line(cli(root, "status"))


def _fill(disk: Path, leave_kib: int) -> Path:
    """Fill the file system at `disk` but for about `leave_kib` KiB; returns the filler."""
    info = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as handle:
        handle.write(b"x" * max(0, info.f_bavail * info.f_frsize - leave_kib * 1024))
    return filler


def test_a_disk_that_fills_while_the_ledger_is_made_never_leaves_a_broken_one(
    tmp_path: Path, cli: Cli
) -> None:
    """The first send on a nearly full disk, for each amount left free around what making
    the ledger takes: one line, and once space is freed the send runs (the ledger it left,
    if any, is whole: never a 'malformed' one that only a manual delete gets past)."""
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        for leave_kib in range(64, 176, 8):
            root = _build_series_in(disk / "series", readers=3)
            filler = _fill(disk, leave_kib)
            first = cli(root, "send", "next", "--yes")
            if first.exit_code != 0:
                one_line(first)
            filler.unlink()
            resumed = cli(root, "send", "next", "--yes")
            assert resumed.exit_code == 0, (leave_kib, first.output, resumed.output)
            assert sorted(p.name for p in (root / ".seriespub").iterdir() if ".new" in p.name) == []
            shutil.rmtree(root)


def test_a_disk_full_while_the_site_list_grows_leaves_a_site_that_builds_again(
    tmp_path: Path, cli: Cli
) -> None:
    """`.seriespub/site-files.json` (what earlier builds wrote) grows past a page of a full
    tmpfs: the build stops in one line, and once space is freed it builds (a torn list
    would make every earlier page look like the author's own file, refused for good)."""
    pristine = _build_series_in(tmp_path / "pristine", readers=3)
    (pristine / "drafts" / "02-part-2.md").write_text(
        (pristine / "drafts" / "01-part-1.md").read_text().replace("Part 1", "Part 2")
    )
    with (pristine / "seriespub.toml").open("a", encoding="utf-8") as toml:
        toml.write(SCHEDULE + '[site]\nbase_url = "https://example.org/s/"\n')
    assert cli(pristine, "send", "next", "--yes").exit_code == 0
    assert cli(pristine, "site").exit_code == 0
    # Files an earlier build wrote (a layout since dropped): the list nearly fills a page.
    manifest = pristine / ".seriespub" / "site-files.json"
    names = json.loads(manifest.read_text())
    while (short := 4090 - len(json.dumps(names, indent=0))) > 0:  # part 2's line crosses
        names.append(f"old-{len(names):02d}-".ljust(min(180, short - 4), "x"))
        (pristine / "site" / names[-1]).write_text("<!doctype html>\n")
    manifest.write_text(json.dumps(sorted(names), indent=0) + "\n")
    assert 4096 - 24 < manifest.stat().st_size <= 4096
    assert cli(pristine, "send", "next", "--yes").exit_code == 0  # part 2's slug recorded
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        for leave_kib in range(0, 72, 4):  # around what opening the ledger takes
            root = shutil.copytree(pristine, disk / "series", symlinks=True)
            filler = _fill(disk, leave_kib)
            first = cli(root, "site")
            if first.exit_code != 0:
                one_line(first)
            filler.unlink()
            rebuilt = cli(root, "site")
            assert rebuilt.exit_code == 0, (leave_kib, first.output, rebuilt.output)
            left = [p.name for p in (root / "site").iterdir() if p.name.startswith(("old", "."))]
            assert left == []
            shutil.rmtree(root)


@pytest.mark.parametrize(
    "command",
    [["subscribers", "remove", "reader0005@example.com"], ["subscribers", "import", "IMPORT"]],
)
def test_a_full_disk_under_the_list_names_it_and_keeps_every_byte(
    tmp_path: Path, cli: Cli, command: list[str]
) -> None:
    from conftest import write_subscribers

    extra = tmp_path / "export.csv"
    write_subscribers(extra, 500, domain="elsewhere.org")
    command = [str(extra) if word == "IMPORT" else word for word in command]
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        root = _build_series_in(disk / "series", readers=2000)
        before = (root / "subscribers.csv").read_bytes()
        filler = _fill(disk, 0)
        line = one_line(cli(root, *command))
        assert "subscribers.csv: cannot write: the disk is full" in line, line
        assert (root / "subscribers.csv").read_bytes() == before
        assert [p.name for p in root.iterdir() if p.name.startswith(".sub")] == []
        filler.unlink()
        assert cli(root, *command).exit_code == 0
        assert (root / "subscribers.csv").read_bytes() != before


def test_a_full_disk_under_an_added_reader_names_the_list_and_keeps_every_byte(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The append path (one os.write): a short write is cut back, and the line says where."""
    root = make_series(subscribers=3)
    before = (root / "subscribers.csv").read_bytes()

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("seriespub.subscribers.os.write", full)
    line = one_line(cli(root, "subscribers", "add", "new@example.org"))
    assert "subscribers.csv: cannot write: the disk is full" in line, line
    assert (root / "subscribers.csv").read_bytes() == before


def test_a_full_disk_when_the_ledger_is_opened_says_so_and_never_says_restore_it(
    tmp_path: Path, cli: Cli
) -> None:
    """A series that has sent part 1; the disk fills before part 2. SQLite cannot grow the
    ledger's -shm ('disk I/O error', SQLITE_IOERR_SHMSIZE) or write it: the line says the
    disk is full and to free space, never that the record is lost (restore it, delete it)."""
    pristine = _build_series_in(tmp_path / "pristine", readers=30)
    (pristine / "drafts" / "02-part-2.md").write_text(
        (pristine / "drafts" / "01-part-1.md").read_text().replace("Part 1", "Part 2")
    )
    assert cli(pristine, "send", "next", "--yes").exit_code == 0
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        for leave_kib in (0, 8, 16, 32):
            root = shutil.copytree(pristine, disk / "series", symlinks=True)
            filler = _fill(disk, leave_kib)
            first = cli(root, "send", "next", "--yes")
            if first.exit_code != 0:
                line = one_line(first)
                assert "the disk is full" in line, (leave_kib, line)
                assert "free some space" in first.stderr, (leave_kib, first.stderr)
                assert "restore" not in first.stderr and "delete" not in first.stderr
            filler.unlink()
            resumed = cli(root, "send", "next", "--yes")
            assert resumed.exit_code == 0, (leave_kib, first.output, resumed.output)
            _exactly_once(root, 30, part=2)
            shutil.rmtree(root)


def test_a_full_disk_when_a_new_ledger_is_first_read_never_says_restore_it(
    tmp_path: Path, cli: Cli
) -> None:
    """The first send: the ledger is made whole, then its first read cannot grow the -shm.
    Nothing was ever recorded, so 'restore it from git … or delete it' is wrong advice."""
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        for leave_kib in range(40, 88, 8):
            root = _build_series_in(disk / "series", readers=3)
            filler = _fill(disk, leave_kib)
            first = cli(root, "send", "next", "--yes")
            if first.exit_code != 0:
                one_line(first)
                assert "free some space" in first.stderr, (leave_kib, first.stderr)
                assert "restore" not in first.stderr and "delete" not in first.stderr
            filler.unlink()
            assert cli(root, "send", "next", "--yes").exit_code == 0
            shutil.rmtree(root)


def test_a_full_disk_under_the_send_snapshot_names_it(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy of the list a send works from cannot be written: the line names it (it used
    to say only 'cannot continue: the disk is full'), and nothing is sent or recorded."""
    root = make_series(subscribers=3)

    def full(source: Any, target: Any, length: int = 0) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("seriespub.listsnapshot.shutil.copyfileobj", full)
    line = one_line(cli(root, "send", "next", "--yes"))
    assert "snapshot.csv: cannot write: the disk is full" in line, line
    assert [p.name for p in (root / ".seriespub").iterdir() if p.name.startswith(".snap")] == []
    assert _outbox(root) == []


@pytest.mark.slow
# KiB left free: the new ledger's schema and first records take about 130 of them, so each
# amount fills it at another batch of the send (never before the first request).
@pytest.mark.parametrize("leave_kib", [144, 176, 224])
def test_the_ledger_filling_mid_send_through_postmark_resumes_with_one_copy_each(
    tmp_path: Path, cli: Cli, postmark: tuple[str, Any], leave_kib: int
) -> None:
    """`.seriespub/` on a real tmpfs that fills after some batches of a send through the
    Postmark fake (three requests in flight): one line, and once space is freed the resume
    settles what was in flight by asking Postmark, never by sending it again. Every reader
    has exactly one message at the provider and the ledger says sent for each."""
    from collections import Counter

    from conftest import postmark_delivery, write_subscribers

    url, state = postmark
    root = tmp_path / "series"
    (root / "drafts").mkdir(parents=True)
    (root / "seriespub.toml").write_text(
        '[series]\ntitle = "Test Series"\nfrom = "Author <author@example.com>"\n'
        + postmark_delivery(url, settle_delay=0.05, batch_size=7, concurrency=3),
        encoding="utf-8",
    )
    (_build_series_in(tmp_path / "drafts-from", readers=1) / "drafts" / "01-part-1.md").rename(
        root / "drafts" / "01-part-1.md"
    )
    readers = write_subscribers(root / "subscribers.csv", 400)
    with small_tmpfs(root / ".seriespub", "16m") as disk:
        filler = _fill(disk, leave_kib)
        line = one_line(cli(root, "send", "next", "--yes"))
        assert "ledger.db" in line and "disk is full" in line, line
        assert 0 < len(state.accepted) < 400  # it stopped mid-send
        # What went out but could not be recorded stays pending: the resume must ask.
        left = _sent(root)
        assert left.get("pending", 0) > 0, left
        assert sum(left.values()) == len(state.accepted), left
        filler.unlink()
        resumed = cli(root, "send", "next", "--yes")
        assert resumed.exit_code == 0, resumed.output
        copies = Counter(message["_to"] for message in state.accepted)
        assert sorted(copies) == sorted(readers)
        assert set(copies.values()) == {1}
        assert _sent(root) == {"sent": 400}


def test_a_full_disk_during_site_says_to_run_it_again_not_to_send_next(
    tmp_path: Path, cli: Cli
) -> None:
    """The site opens the ledger and keeps its record in .seriespub/: the hint for a full disk
    there must not send the author to `seriespub send next` after a site build."""
    with small_tmpfs(tmp_path / "series", "300k") as disk:
        root = _build_series_in(disk, readers=3)
        (root / "seriespub.toml").write_text(
            (root / "seriespub.toml").read_text(encoding="utf-8")
            + '[site]\nbase_url = "https://example.org/s/"\n',
            encoding="utf-8",
        )
        assert cli(root, "send", "next", "--yes").exit_code == 0
        filler = root / "filler"
        with open(filler, "wb", buffering=0) as handle, pytest.raises(OSError):
            while True:
                handle.write(b"\0" * 4096)
        result = cli(root, "site")
        line = one_line(result)
        assert "the disk is full" in line, line
        assert "seriespub send next" not in result.stderr, result.stderr
        assert "run the command again" in result.stderr, result.stderr
        filler.unlink()
        result = cli(root, "site")
        assert result.exit_code == 0, result.output
        assert "1 part published" in result.stdout
