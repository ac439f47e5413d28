"""A lost delivery record is never taken for a new series: an emptied, foreign or newer ledger
is refused through the CLI, nothing is sent, and the file is left as it was."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sqlitefile import sqlite_file

Cli = Callable[..., Any]
SCHEDULE = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'


def _eml_count(root: Path, part: int = 1) -> int:
    return len(list((root / ".seriespub" / "outbox" / f"{part:03d}").glob("*.eml")))


def _refused(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: "), result.stderr
    return str(result.stderr)


@pytest.fixture
def sent_series(make_series: Callable[..., Path], cli: Cli) -> Path:
    """A series that sent part 1 to 3 readers through the outbox."""
    root = make_series(drafts=2, subscribers=3)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert _eml_count(root) == 3
    return root


def test_an_emptied_ledger_is_refused_and_nothing_is_sent(sent_series: Path, cli: Cli) -> None:
    root = sent_series
    ledger = root / ".seriespub" / "ledger.db"
    ledger.write_bytes(b"")  # : > .seriespub/ledger.db
    for eml in (root / ".seriespub" / "outbox" / "001").glob("*.eml"):
        eml.unlink()  # so a resend would show
    text = _refused(cli(root, "send", "next", "--yes"))
    assert "ledger.db is empty" in text
    assert "git checkout HEAD -- .seriespub/ledger.db" in text
    assert _eml_count(root) == 0
    assert ledger.read_bytes() == b""
    for command in (["send", "due"], ["status"], ["log", "1"], ["send", "next", "--dry-run"]):
        assert "is empty" in _refused(cli(root, *command)), command


def test_an_empty_ledger_is_refused_even_with_no_other_state(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=2)
    (root / ".seriespub").mkdir()
    (root / ".seriespub" / "ledger.db").write_bytes(b"")
    assert "is empty" in _refused(cli(root, "send", "next", "--yes"))
    assert not (root / ".seriespub" / "outbox").exists()


def test_a_ledger_without_tables_is_refused(sent_series: Path, cli: Cli) -> None:
    ledger = sent_series / ".seriespub" / "ledger.db"
    ledger.unlink()
    sqlite3.connect(ledger).execute("CREATE TABLE other(x)").connection.close()
    assert "has no seriespub tables" in _refused(cli(sent_series, "send", "next", "--yes"))


def test_a_file_that_is_not_sqlite_is_refused(sent_series: Path, cli: Cli) -> None:
    ledger = sent_series / ".seriespub" / "ledger.db"
    ledger.write_text("<<<<<<< HEAD\nbinary files differ\n")
    text = _refused(cli(sent_series, "send", "next", "--yes"))
    assert "not a SQLite database" in text
    assert ledger.read_text().startswith("<<<<<<<")


def test_a_ledger_from_a_newer_seriespub_is_refused(sent_series: Path, cli: Cli) -> None:
    ledger = sent_series / ".seriespub" / "ledger.db"
    with sqlite_file(ledger) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema'")
    before = ledger.read_bytes()
    text = _refused(cli(sent_series, "send", "next", "--yes"))
    assert "newer seriespub (ledger schema 99" in text
    assert _refused(cli(sent_series, "status"))
    assert ledger.read_bytes() == before


def test_a_missing_ledger_after_outbox_sends_is_refused(sent_series: Path, cli: Cli) -> None:
    (sent_series / ".seriespub" / "ledger.db").unlink()
    text = _refused(cli(sent_series, "send", "next", "--yes"))
    assert "ledger.db is missing, but the outbox holds sent messages" in text
    assert not (sent_series / ".seriespub" / "ledger.db").exists()


def test_a_missing_ledger_after_unattended_sends_is_refused(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """The CI case: another provider (no outbox), only the committed run log survives."""
    root = make_series()
    (root / ".seriespub").mkdir()
    (root / ".seriespub" / "log.jsonl").write_text(
        json.dumps({"ts": "2026-11-01T09:00:00+00:00", "event": "sent", "instalment": 1, "sent": 3})
        + "\n"
    )
    assert "the run log" in _refused(cli(root, "send", "next", "--yes"))
    assert not (root / ".seriespub" / "outbox").exists()


def test_a_new_series_starts_fresh_after_preview_and_a_test_send(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key file and a test send's outbox are no evidence of a real send."""
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = make_series(subscribers=2)
    assert cli(root, "preview", "1").exit_code == 0
    assert cli(root, "send", "test", "--to", "me@example.com", "1").exit_code == 0
    assert (root / ".seriespub" / "secret").exists()
    # The test's links are real: the ledger records the key, and nothing as delivered.
    conn = sqlite3.connect(root / ".seriespub" / "ledger.db")
    try:
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)
    finally:
        conn.close()
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert _eml_count(root) == 2


def test_reading_commands_do_not_create_a_ledger(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(extra_toml=SCHEDULE)
    for command in (
        ["status"],
        ["log", "--json"],
        ["schedule"],
        ["send", "next", "--dry-run"],
        ["preview", "1"],
    ):
        result = cli(root, *command)
        assert result.exit_code == 0, (command, result.output)
    assert not (root / ".seriespub" / "ledger.db").exists()


def test_a_ledger_is_never_left_half_made(tmp_path: Path) -> None:
    from seriespub.ledger import SCHEMA_VERSION, Ledger

    path = tmp_path / "state" / "ledger.db"
    with Ledger.open(path) as ledger:
        assert ledger.counts(1) == {}
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.db"]
    with sqlite_file(path) as db:
        row = db.execute("SELECT value FROM meta").fetchone()
    assert row == (str(SCHEMA_VERSION),)


def test_a_damaged_ledger_is_one_line(sent_series: Path, cli: Cli) -> None:
    ledger = sent_series / ".seriespub" / "ledger.db"
    data = bytearray(ledger.read_bytes())
    data[100:] = b"\xde\xad" * ((len(data) - 100) // 2)  # the header survives, the rest not
    ledger.write_bytes(bytes(data))
    for command in (["send", "next", "--yes"], ["status"]):
        assert "ledger.db" in _refused(cli(sent_series, *command)).splitlines()[0]
