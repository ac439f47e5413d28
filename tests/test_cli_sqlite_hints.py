"""The hint under a ledger error says what would help: "run it again" cannot help a ledger the
command may not write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from seriespub.cli.common import _sqlite_hint


def error_of(path: Path, statement: str, uri: str = "") -> sqlite3.Error:
    conn = sqlite3.connect(uri or str(path), uri=bool(uri))
    try:
        conn.execute(statement)
        conn.commit()
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("no error")


def test_a_read_only_ledger_gets_a_hint_that_can_help(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    sqlite3.connect(db).execute("CREATE TABLE t(x)").connection.close()
    exc = error_of(db, "INSERT INTO t VALUES(1)", uri=f"file:{db}?mode=ro")
    assert "readonly" in str(exc)
    hint = _sqlite_hint(exc)
    assert "read-only" in hint and "run the command again" not in hint


@pytest.mark.parametrize("statement", ["SELECT * FROM nowhere"])
def test_other_errors_keep_the_general_hint(tmp_path: Path, statement: str) -> None:
    exc = error_of(tmp_path / "x.db", statement)
    assert (
        _sqlite_hint(exc) == "the ledger was not changed by the failed step; run the command again"
    )
