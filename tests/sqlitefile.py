"""A SQLite file opened by a test, its connection always closed.

`with sqlite3.connect(path) as db:` commits or rolls back, but leaves the connection open
until it is collected; Python 3.13 then warns (ResourceWarning: unclosed database), which
pyproject's `filterwarnings = ["error"]` makes a failure of whichever test is running.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
