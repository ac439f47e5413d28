"""subscribers.csv under concurrency: real processes add, remove and send at once, and an
editor rewrites the file in place during a send. No change and no reader may be lost."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log, write_subscribers
from fakes.smtp import running_smtp_server
from instalments import seriespub_env, start_seriespub
from sqlitefile import sqlite_file

pytestmark = pytest.mark.slow


def seriespub(root: Path, *args: str) -> subprocess.Popen[bytes]:
    started: subprocess.Popen[bytes] = start_seriespub(root, *args)
    return started


def finish(procs: list[subprocess.Popen[bytes]]) -> list[tuple[int, str, str]]:
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append((proc.returncode, out.decode(), err.decode()))
    return done


def rows(root: Path) -> dict[str, str]:
    with open(root / "subscribers.csv", newline="", encoding="utf-8") as handle:
        return {row["email"]: row["status"] for row in csv.DictReader(handle)}


def test_twelve_concurrent_adds_keep_twelve_rows(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=1, subscribers=0)
    added = [f"new{i:02d}@example.com" for i in range(12)]
    results = finish([seriespub(root, "subscribers", "add", a) for a in added])
    assert all(code == 0 for code, _, _ in results), results
    assert sorted(rows(root)) == added
    assert oct((root / ".seriespub").stat().st_mode & 0o777) == "0o700"
    lock = root / ".seriespub" / "subscribers.lock"
    assert oct(lock.stat().st_mode & 0o777) == "0o600"


def test_adds_and_removes_together_are_all_kept(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=1, subscribers=6)
    leaving = [f"reader{i:04d}@example.com" for i in range(1, 7)]
    joining = [f"new{i:02d}@example.com" for i in range(6)]
    procs = [seriespub(root, "subscribers", "remove", a) for a in leaving]
    procs += [seriespub(root, "subscribers", "add", a) for a in joining]
    results = finish(procs)
    assert all(code == 0 for code, _, _ in results), results
    final = rows(root)
    assert {a: final[a] for a in leaving} == dict.fromkeys(leaving, "unsubscribed")
    assert {a: final[a] for a in joining} == dict.fromkeys(joining, "active")


def test_bounces_written_back_by_a_send_survive_concurrent_adds(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    with running_smtp_server() as server:
        refused = [f"reader{i:04d}@example.com" for i in range(1, 11)]
        for address in refused:
            server.handler.refuse[address] = f"550 5.1.1 <{address}>: user unknown"
        root = make_series(drafts=1, subscribers=40, delivery=server.delivery_toml())
        send = seriespub(root, "send", "next", "--yes")
        joined: list[str] = []
        left: list[str] = []
        while send.poll() is None and len(joined) < 60:
            batch = [f"new{len(joined) + i:03d}@example.com" for i in range(3)]
            leaving = f"reader{40 - len(left):04d}@example.com"
            results = finish(
                [seriespub(root, "subscribers", "add", a) for a in batch]
                + [seriespub(root, "subscribers", "remove", leaving)]
            )
            assert all(code == 0 for code, _, _ in results), results
            joined += batch
            left.append(leaving)
        code, _, err = finish([send])[0]
    assert code == 0, err
    assert "10 subscriber(s) marked bounced/unsubscribed" in err
    final = rows(root)
    assert {a: final[a] for a in refused} == dict.fromkeys(refused, "bounced")
    assert all(final[a] == "active" for a in joined) and joined
    assert all(final[a] == "unsubscribed" for a in left)
    assert len(final) == 40 + len(joined)


def _rewrite_in_place(
    path: Path, versions: list[bytes], until: Callable[[], bool], saves: list[int]
) -> None:
    """What nano or `>` does: truncate the file, then write the new text into it."""
    count = 0
    while not until():
        data = versions[count % len(versions)]
        with open(path, "r+b") as handle:
            handle.truncate(0)
            handle.write(data[: len(data) // 2])
            handle.flush()
            time.sleep(0.002)
            handle.write(data[len(data) // 2 :])
        count += 1
        saves.append(count)
        time.sleep(0.01)


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _finished(root: Path) -> bool:
    with sqlite_file(root / ".seriespub" / "ledger.db") as db:
        row = db.execute("SELECT finished_at FROM instalments WHERE number = 1").fetchone()
    return row is not None and row[0] is not None


@pytest.mark.parametrize(
    "quiet_after", [1000, None], ids=["quiet-before-the-end", "saving-until-the-end"]
)
def test_an_in_place_rewrite_during_a_send_skips_nobody(
    make_series: Callable[..., Path], cli: Callable[..., Any], quiet_after: int | None
) -> None:
    with running_smtp_server() as server:
        delivery = server.delivery_toml() + "\n"
        delivery = delivery.replace(
            'provider = "smtp"\n',
            'provider = "smtp"\nbatch_size = 40\nmax_rate = 600\nconcurrency = 2\n',
        )
        root = make_series(drafts=1, subscribers=0, delivery=delivery)
        path = root / "subscribers.csv"
        # Two orders of the same readers: an early row moves to the end, so every row after
        # it moves up one line while the send reads the file.
        readers = write_subscribers(path, 1500)
        full = path.read_bytes()
        lines = full.splitlines(keepends=True)
        moved = b"".join(lines[:3] + lines[4:] + lines[3:4])
        saves: list[int] = []
        send = seriespub(root, "send", "next", "--yes")
        # The editor saves again and again from the 100th message (the send is under way,
        # its snapshot taken) to the 1,000th (the list is quiet again before the send ends)
        # or to the end (the send cannot check the list it ends with: the part stays open).
        last = quiet_after or 10**9
        editor = threading.Thread(
            target=_rewrite_in_place,
            args=(
                path,
                [moved, full],
                lambda: len(server.received) >= last or send.poll() is not None,
                saves,
            ),
        )
        _wait_for(lambda: len(server.received) >= 100 or send.poll() is not None)
        editor.start()
        first = finish([send])[0]
        editor.join()
        path.write_bytes(full)
        assert first[0] == 0, first
        assert len(saves) > 10  # the editor saved mid-send
        if _finished(root):  # closed only when complete
            assert len({r.rcpt_tos[0] for r in server.received}) == 1500
        assert _finished(root) == (quiet_after is not None)
        second = cli(root, "send", "next", "--yes")
        per_reader = Counter(r.rcpt_tos[0] for r in server.received)
    assert "Traceback" not in first[2]
    assert second.exit_code == 0, second.output
    assert set(per_reader) == set(readers)  # nobody skipped
    assert set(per_reader.values()) == {1}  # nobody twice
    log = delivery_log(cli, root)
    assert {d["status"] for d in log.values()} == {"sent"} and len(log) == 1500


def test_commands_beside_a_slow_send_are_refused_or_kept_and_nobody_gets_two(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a send through a slow Postmark runs, real processes: a second send and a
    retry are refused in one line; a removal and an import are kept whole; status and the
    site work. The send goes on from its snapshot (the reader removed mid-send still gets
    this part, once); the next run sends only to the imported readers."""
    import contextlib

    from conftest import postmark_delivery
    from fakes.httpserver import serve
    from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState

    class Quiet(PostmarkHandler):
        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):
                super().handle()

    state = PostmarkState()
    state.faults.delay = 0.15  # 40 requests one at a time: about 6 s
    export = tmp_path / "export.csv"
    imported = write_subscribers(export, 50, domain="elsewhere.org")
    with serve(Quiet, state) as (url, _):
        delivery = postmark_delivery(url, settle_delay=0.05, batch_size=10, concurrency=1)
        root = make_series(drafts=1, subscribers=400, delivery=delivery)
        with (root / "seriespub.toml").open("a", encoding="utf-8") as toml:
            toml.write('[site]\nbase_url = "https://example.org/s/"\n')
        monkeypatch.setenv("POSTMARK_SERVER_TOKEN", TOKEN)
        send = seriespub(root, "send", "next", "--yes")
        _wait_for(lambda: len(state.accepted) >= 50 or send.poll() is not None)
        beside = [
            ["send", "next", "--yes"],
            ["send", "retry", "1", "--yes"],
            ["subscribers", "remove", "reader0250@example.com"],
            ["subscribers", "import", str(export)],
            ["status"],
            ["site"],
        ]
        results = finish([seriespub(root, *words) for words in beside])
        assert send.poll() is None  # all of that happened mid-send
        first = finish([send])[0]
        second = cli(root, "send", "next", "--yes")
    for _, _, err in [first, *results]:
        assert "Traceback" not in err
    assert first[0] == 0, first
    for (code, _, err), words in zip(results[:2], beside, strict=False):
        assert code == 1 and err.count("error: ") == 1, (words, err)
        assert "another seriespub run" in err, err
    assert [code for code, _, _ in results[2:]] == [0, 0, 0, 0], results[2:]
    listed = rows(root)
    assert len(listed) == 450 and listed["reader0250@example.com"] == "unsubscribed"
    assert second.exit_code == 0, second.output
    copies = Counter(message["_to"] for message in state.accepted)
    assert set(copies.values()) == {1}
    assert len(copies) == 450 and set(imported) <= set(copies)


def test_an_import_stopped_by_sigterm_at_any_instant_leaves_the_old_or_the_new_list(
    make_series: Callable[..., Path], tmp_path: Path
) -> None:
    """`subscribers import` of 30,000 rows, SIGTERM at instants spread over its run (no
    handler: the process dies where it is): subscribers.csv is byte for byte the old list
    or the whole new one, never a part, and running the import again completes it."""
    import shutil
    import signal

    export = tmp_path / "export.csv"
    write_subscribers(export, 30000, domain="elsewhere.org")
    pristine = make_series(drafts=1, subscribers=500, name="pristine")
    reference = shutil.copytree(pristine, tmp_path / "reference")
    started = time.monotonic()
    assert finish([seriespub(reference, "subscribers", "import", str(export))])[0][0] == 0
    took = time.monotonic() - started
    old = (pristine / "subscribers.csv").read_bytes()
    new = (reference / "subscribers.csv").read_bytes()
    seen = []
    for step in range(6):
        root = shutil.copytree(pristine, tmp_path / f"trial{step}")
        proc = seriespub(root, "subscribers", "import", str(export))
        time.sleep(took * (0.5 + 0.1 * step))  # the last third: parsing done, writing
        proc.send_signal(signal.SIGTERM)
        code, _, err = finish([proc])[0]
        now = (root / "subscribers.csv").read_bytes()
        seen.append((code, "old" if now == old else "new" if now == new else "torn"))
        assert "Traceback" not in err
        again = finish([seriespub(root, "subscribers", "import", str(export))])[0]
        assert again[0] == 0, (seen, again[2])
        assert (root / "subscribers.csv").read_bytes() == new
    assert all(state != "torn" for _, state in seen), seen


def _save_by_rename(path: Path, text: bytes, until: Callable[[], bool], saves: list[int]) -> None:
    """What vim, VS Code and most editors do: write a temp file beside it, rename over it."""
    while not until():
        temporary = path.with_name(".subscribers.csv.swp")
        temporary.write_bytes(text)
        os.replace(temporary, path)
        saves.append(len(saves) + 1)
        time.sleep(0.01)


def test_an_editor_saving_by_rename_during_a_send_keeps_its_edit_and_the_bounces(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """An editor renames its save over subscribers.csv again and again mid-send, with one
    reader added and one renamed: the send finishes from its snapshot, its bounces are
    written into the edited list (the edit kept), and the next run sends only to the
    added reader. Nobody gets the part twice, nobody is skipped."""
    with running_smtp_server() as server:
        refused = [f"reader{i:04d}@example.com" for i in (7, 900)]
        for address in refused:
            server.handler.refuse[address] = f"550 5.1.1 <{address}>: user unknown"
        delivery = server.delivery_toml().replace(
            'provider = "smtp"\n', 'provider = "smtp"\nbatch_size = 40\nmax_rate = 600\n'
        )
        root = make_series(drafts=1, subscribers=0, delivery=delivery)
        path = root / "subscribers.csv"
        readers = write_subscribers(path, 1200)
        edited = path.read_bytes().replace(b"Reader 5,", b"Fifth Reader,")
        edited += b"late@example.com,Late,active,2026-01-02\n"
        saves: list[int] = []
        send = seriespub(root, "send", "next", "--yes")
        editor = threading.Thread(
            target=_save_by_rename,
            args=(
                path,
                edited,
                lambda: len(server.received) >= 800 or send.poll() is not None,
                saves,
            ),
        )
        _wait_for(lambda: len(server.received) >= 100 or send.poll() is not None)
        editor.start()
        first = finish([send])[0]
        editor.join()
        second = cli(root, "send", "next", "--yes")
        per_reader = Counter(r.rcpt_tos[0] for r in server.received)
    assert first[0] == 0 and "Traceback" not in first[2], first
    assert len(saves) > 10  # the editor saved mid-send
    assert second.exit_code == 0, second.output
    final = rows(root)
    assert {a: final[a] for a in refused} == dict.fromkeys(refused, "bounced")
    assert final["late@example.com"] == "active" and len(final) == 1201
    assert b"Fifth Reader," in path.read_bytes()
    delivered = {*readers, "late@example.com"} - set(refused)
    assert set(per_reader) == delivered  # nobody skipped
    assert set(per_reader.values()) == {1}  # nobody twice


# Linux stops a large write() when a fatal signal arrives (generic_perform_write checks for
# one before each page it copies): the process dies with part of its buffer in the file.
# This child does the same, deterministically: it lets the append's write copy half of its
# buffer, then SIGKILLs itself.
DIES_MID_APPEND = """
import os, signal, sys
from seriespub import subscribers
from seriespub.cli import app

real_write = os.write

def half_then_die(fd, data):
    if len(data) > 4096:
        real_write(fd, data[: data.index(b"\\n", len(data) // 2) + 6])  # mid-row
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)

subscribers.os.write = half_then_die
app(sys.argv[1:])
"""


@pytest.mark.parametrize(
    ("command", "readers"),
    [(["subscribers", "import", "EXPORT"], 3050), (["subscribers", "add", "new@example.com"], 51)],
)
def test_an_append_killed_mid_write_is_undone_by_the_next_writer(
    make_series: Callable[..., Path], tmp_path: Path, command: list[str], readers: int
) -> None:
    """An import whose append died halfway through its write() left part of a row at the
    end of the list: the next command that changes the list finds it as it was (the old
    list, never the torn one), and does its own work."""
    export = tmp_path / "export.csv"
    write_subscribers(export, 3000, domain="elsewhere.org")
    root = make_series(drafts=1, subscribers=50)
    old = (root / "subscribers.csv").read_bytes()
    killed = subprocess.run(
        [sys.executable, "-c", DIES_MID_APPEND, "subscribers", "import", str(export)],
        cwd=root,
        env=seriespub_env(),
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    torn = (root / "subscribers.csv").read_bytes()
    assert torn.startswith(old) and not torn.endswith(b"\n")  # what the kill left
    words = [str(export) if word == "EXPORT" else word for word in command]
    code, _, err = finish([seriespub(root, *words)])[0]
    assert code == 0 and "Traceback" not in err, err
    assert (root / "subscribers.csv").read_bytes().startswith(old)
    assert len(rows(root)) == readers
