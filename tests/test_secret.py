"""The unsubscribe key: written whole or not at all, and never weak."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from seriespub.errors import ConfigError
from seriespub.series import find_series

Cli = Callable[..., Any]


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")


def test_a_zero_byte_key_file_is_refused(
    make_series: Callable[..., Path], cli: Cli, no_env_key: None
) -> None:
    root = make_series(drafts=1, subscribers=1)
    (root / ".seriespub").mkdir()
    (root / ".seriespub" / "secret").write_bytes(b"")  # a first run on a full disk
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1
    assert "secret" in result.stderr and "at least 32 bytes" in result.stderr
    assert "secrets.token_hex(32)" in result.stderr  # says how to fix it
    assert "Traceback" not in result.stderr
    assert not (root / ".seriespub" / "outbox").exists()  # nothing went out


@pytest.mark.parametrize("value", ["x", "test-secret", "a" * 31])
def test_a_short_env_key_is_refused(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SERIESPUB_SECRET", value)
    root = make_series(drafts=1, subscribers=1)
    result = cli(root, "preview", "1", "--text")
    assert result.exit_code == 1
    assert "SERIESPUB_SECRET" in result.stderr and "at least 32 bytes" in result.stderr
    assert "secrets.token_hex(32)" in result.stderr


def test_a_32_byte_env_key_is_accepted(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERIESPUB_SECRET", "k" * 32)
    root = make_series(drafts=1, subscribers=1)
    assert cli(root, "preview", "1", "--text").exit_code == 0


def test_a_generated_key_is_64_hex_digits_owner_only(
    make_series: Callable[..., Path], no_env_key: None
) -> None:
    series = find_series(explicit=make_series(drafts=1, subscribers=1))
    key = series.unsubscribe_secret()
    path = series.state_dir / "secret"
    assert len(key) == 64 and int(key, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert series.unsubscribe_secret() == key
    assert [p.name for p in series.state_dir.iterdir()] == ["secret"]  # no temp file left


@pytest.mark.parametrize("call", ["write", "fsync"])
def test_a_full_disk_while_writing_the_key_leaves_no_file(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, no_env_key: None, call: str
) -> None:
    series = find_series(explicit=make_series(drafts=1, subscribers=1))

    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(os, call, full)
        with pytest.raises(ConfigError) as caught:
            series.unsubscribe_secret()
    assert "No space left on device" in str(caught.value)
    assert "cannot write the unsubscribe key" in str(caught.value)
    assert list(series.state_dir.iterdir()) == []  # no half key, no temp file
    assert len(series.unsubscribe_secret()) == 64  # space again: a whole key


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 8 KiB file system (needs mount rights: root in a container, as on CI)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_really_full_disk_gives_one_clear_line(
    make_series: Callable[..., Path], tiny_tmpfs: Path, no_env_key: None
) -> None:
    root = make_series(drafts=1, subscribers=1)
    (root / ".seriespub").symlink_to(tiny_tmpfs)
    fd = os.open(tiny_tmpfs / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"x" * 1024)
    finally:
        os.close(fd)
    done = subprocess.run(
        # `send test` makes the key (it mails real links); `preview` would write none
        [sys.executable, "-m", "seriespub", "send", "test", "--to", "me@example.com"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot write the unsubscribe key" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["filler"]


def test_two_first_runs_at_once_agree_on_one_key(
    make_series: Callable[..., Path], no_env_key: None
) -> None:
    root = make_series(drafts=1, subscribers=1)
    code = (
        "import sys; from pathlib import Path; from seriespub.series import find_series; "
        "key = find_series(explicit=Path(sys.argv[1])).unsubscribe_secret(); "
        "sys.stdout.write(key.decode())"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE)
        for _ in range(8)
    ]
    keys = {p.communicate(timeout=60)[0] for p in procs}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert (root / ".seriespub" / "secret").read_bytes().strip() == next(iter(keys))


def test_a_key_path_that_is_a_folder_gives_one_clear_line(
    make_series: Callable[..., Path], cli: Cli, no_env_key: None
) -> None:
    root = make_series(drafts=1, subscribers=1)
    (root / ".seriespub" / "secret").mkdir(parents=True)
    result = cli(root, "preview", "1", "--text")
    assert result.exit_code == 1
    assert "cannot read the unsubscribe key: Is a directory" in result.stderr
