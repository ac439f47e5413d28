"""A SQLite file opened by a test, its connection always closed.

`with sqlite3.connect(path) as db:` commits or rolls back, but leaves the connection open
until it is collected; Python 3.13 then warns (ResourceWarning: unclosed database), which
pyproject's `filterwarnings = ["error"]` makes a failure of whichever test is running.
A ledger a helper hands back open for the test to read is passed through `closed_after_test`:
conftest closes it when the test ends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

_C = TypeVar("_C")


@contextmanager
def sqlite_file(path: Path | str, **connect: Any) -> Iterator[sqlite3.Connection]:
    """`sqlite3.connect(path, **connect)`: committed on success, rolled back on an error,
    closed either way."""
    conn = sqlite3.connect(path, **connect)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


_LEFT_OPEN: list[Any] = []  # ledgers (anything with close()) handed to a test


def closed_after_test(opened: _C) -> _C:
    """`opened`, to be closed when the test ends (conftest's `_close_what_tests_left`)."""
    _LEFT_OPEN.append(opened)
    return opened


def close_what_tests_left() -> None:
    while _LEFT_OPEN:
        _LEFT_OPEN.pop().close()
