"""Late joiners' parts for one slot's plan, in flat memory: key → part.

Up to SPILL entries in a dict (about 100 bytes each); beyond, in SQLite's private temporary
database, which SQLite deletes itself, behind a fixed 1 MB bitmap of the keys' hashes so the
front's rows (most of a list) are answered without a query.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import ItemsView, Iterable, Iterator, MutableMapping, ValuesView

SPILL = 10_000  # late joiners kept in a dict (~1 MB); beyond, in a temporary database
LATE_BITS = 1 << 23  # 1 MB: a filter in front of it (a false hit costs one query)


class LateParts(MutableMapping[str, "int | None"]):
    """Late joiner's key → their part (None: nothing this slot): a dict up to SPILL
    entries, then SQLite's private temporary database, which SQLite deletes itself (the
    file is unlinked as soon as it is open, so not even a kill leaves it behind), behind a
    fixed bitmap of the keys' hashes so that the front's rows are answered without a
    query. A million late joiners (an evergreen course) then cost about 3 MB (the filter
    and SQLite's page cache), not 100."""

    def __init__(self, spill: int | None = None) -> None:
        self.spill = SPILL if spill is None else spill
        self.memory: dict[str, int | None] = {}
        self.db: sqlite3.Connection | None = None
        self.bits = bytearray()
        self.pending: dict[str, int | None] = {}  # written in batches

    @property
    def spilled(self) -> bool:
        return self.db is not None

    def __setitem__(self, key: str, part: int | None) -> None:
        if self.db is None:
            self.memory[key] = part
            if len(self.memory) > self.spill:
                self._move()
            return
        self._mark(key)
        self.pending[key] = part
        if len(self.pending) >= 5_000:
            self._flush()

    def __getitem__(self, key: str) -> int | None:
        if self.db is None:
            return self.memory[key]
        if key in self.pending:
            return self.pending[key]
        if not self._marked(key):
            raise KeyError(key)  # the front, mostly: no query
        row = self.db.execute("SELECT part FROM late WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        part: int | None = row[0]
        return part

    def __contains__(self, key: object) -> bool:
        try:
            self[str(key)]
        except KeyError:
            return False
        return True

    def __delitem__(self, key: str) -> None:
        if self.db is None:
            del self.memory[key]
            return
        self[key]  # KeyError if absent
        self._flush()
        self.db.execute("DELETE FROM late WHERE key=?", (key,))

    def __len__(self) -> int:
        if self.db is None:
            return len(self.memory)
        self._flush()
        count: int = self.db.execute("SELECT count(*) FROM late").fetchone()[0]
        return count

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._rows())

    def items(self) -> ItemsView[str, int | None]:
        return _Items(self)

    def values(self) -> ValuesView[int | None]:
        return _Values(self)

    def parts_of(self, keys: Iterable[str]) -> dict[str, int | None]:
        """The late joiners among `keys` → their part: the front answered by the filter,
        the rest in one query per 500 (a round's pass asks for every row of the list)."""
        if self.db is None:
            return {key: self.memory[key] for key in keys if key in self.memory}
        self._flush()
        maybe = [key for key in keys if self._marked(key)]
        found: dict[str, int | None] = {}
        for start in range(0, len(maybe), 500):
            some = maybe[start : start + 500]
            query = f"SELECT key, part FROM late WHERE key IN ({','.join('?' * len(some))})"
            found.update(self.db.execute(query, some))
        return found

    def _rows(self) -> Iterator[tuple[str, int | None]]:
        if self.db is None:
            yield from self.memory.items()
            return
        self._flush()
        yield from self.db.execute("SELECT key, part FROM late")

    def _move(self) -> None:
        self.db = sqlite3.connect("", check_same_thread=False)  # "": private, temporary
        weakref.finalize(self, self.db.close)  # the plan is dropped: SQLite deletes the file
        self.db.execute("CREATE TABLE late(key TEXT PRIMARY KEY, part INTEGER) WITHOUT ROWID")
        self.bits = bytearray(LATE_BITS // 8)
        for key in self.memory:
            self._mark(key)
        self.pending, self.memory = self.memory, {}
        self._flush()

    def _marked(self, key: str) -> bool:
        h = hash(key) % (len(self.bits) * 8)
        return bool(self.bits[h >> 3] & (1 << (h & 7)))

    def _mark(self, key: str) -> None:
        h = hash(key) % (len(self.bits) * 8)
        self.bits[h >> 3] |= 1 << (h & 7)

    def _flush(self) -> None:
        if self.db is not None and self.pending:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO late VALUES(?, ?)", self.pending.items()
                )
            self.pending = {}


class _Items(ItemsView[str, "int | None"]):
    _mapping: LateParts

    def __iter__(self) -> Iterator[tuple[str, int | None]]:
        return self._mapping._rows()


class _Values(ValuesView["int | None"]):
    _mapping: LateParts

    def __iter__(self) -> Iterator[int | None]:
        return (part for _, part in self._mapping._rows())
