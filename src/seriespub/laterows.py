"""A round's late parts: each part's late joiners' rows, picked out of one copy of the list.

One pass over the send's snapshot of the list (taken under the list's lock) copies every row
of each late joiner's address into that part's file (on disk, in the series' state folder,
removed after the round; in memory, a chunk of rows at a time), so each part's run reads its
own readers' rows rather than the whole list again: a round costs two passes plus work in
proportion to its late joiners, whatever the number of parts.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seriespub import subscribers
from seriespub.errors import InputError
from seriespub.lateparts import LateParts

if TYPE_CHECKING:
    from seriespub.ops.session import Session

ROWS_AT_A_TIME = 500  # rows of the list held in memory while picking

ROUND_PREFIX = "round-"  # the folder a send's round picks its late joiners' rows into
DRY_ROUND_PREFIX = "seriespub-" + ROUND_PREFIX  # a dry run's, in the system's temp folder


@dataclass(frozen=True)
class LateRows:
    """Each late part's readers, picked out of one copy of the list in one pass: a run per
    part reads its own file (its late joiners' rows only), not the whole list again."""

    source: Path  # the copy they were picked from: the send's snapshot (a dry run: the list)
    problems: subscribers.ProblemTally  # its unreadable rows (every run reports them)
    paths: dict[int, Path]  # part → a CSV of every row of its late joiners' addresses


@contextlib.contextmanager
def late_rows(
    session: Session, late: Mapping[str, int | None], parts: Iterable[int], *, snapshot: bool
) -> Iterator[LateRows]:
    """The rows of the late joiners `late` gives one of `parts`, one file per part, taken
    from a snapshot of the list (`listsnapshot`, under the list's lock) when `snapshot`,
    else from the live list (a dry run, which writes nothing in the series). The files are
    removed on the way out; a send killed meanwhile leaves them in the series' state folder
    (0700), and the next send removes them (it holds the series lock: none is in use)."""
    live = session.series.subscribers_path
    if snapshot:
        from seriespub.listsnapshot import snapshot_of  # a send's: not on a report's path

        state = session.series.state_dir
        for old in state.glob(ROUND_PREFIX + "*"):
            shutil.rmtree(old, ignore_errors=True)
        source = snapshot_of(live)[0]
        folder = Path(tempfile.mkdtemp(prefix=ROUND_PREFIX, dir=state))
    else:
        _sweep_dry_runs()
        prefix = f"{DRY_ROUND_PREFIX}{os.getpid()}-"
        source, folder = live, Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield _pick(source, live, late, sorted(set(parts)), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sweep_dry_runs() -> None:
    """Remove the folders of dry runs that were killed mid-round (readers' rows, 0700, in
    the system's temp folder): each is named after its process, and a folder whose process
    is gone is nobody's. Another dry run's, still running, is left alone."""
    for old in Path(tempfile.gettempdir()).glob(DRY_ROUND_PREFIX + "*"):
        pid = old.name.removeprefix(DRY_ROUND_PREFIX).split("-", 1)[0]
        try:
            if pid.isdigit() and old.stat().st_uid == os.getuid():
                os.kill(int(pid), 0)  # only asks whether it exists
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # removed meanwhile, or a process that is alive


def _pick(
    source: Path, shown: Path, late: Mapping[str, int | None], parts: list[int], folder: Path
) -> LateRows:
    """One pass over `source`: each row whose address is a late joiner's with one of
    `parts` is copied to that part's file (every row of the address, whatever its status,
    in file order, as a run would have read them); unreadable rows are tallied."""
    problems = subscribers.ProblemTally()
    paths = {n: folder / f"part-{n:04d}.csv" for n in parts}
    header, delimiter = _header(source, shown)
    with contextlib.ExitStack() as files:
        out: dict[int | None, Any] = {}
        for n, path in paths.items():
            handle = files.enter_context(path.open("w", newline="", encoding="utf-8"))
            handle.write(header)
            out[n] = csv.writer(handle, delimiter=delimiter)
        rows = subscribers.keyed_rows(source, problems, shown)
        while chunk := list(itertools.islice(rows, ROWS_AT_A_TIME)):
            found = _parts_of(late, [key for key, _ in chunk])
            for key, values in chunk:
                writer = out.get(found.get(key))
                if writer is not None:
                    writer.writerow(values)
    return LateRows(source, problems, paths)


def _header(path: Path, shown: Path) -> tuple[str, str]:
    """The list's header as it is written (so a copy's delimiter is guessed the same) and
    its delimiter."""
    reader, handle = subscribers.open_csv(path, shown)
    with handle:
        try:
            subscribers.header_columns(next(reader, []), shown)
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", path=shown, line=1) from None
        lines, delimiter = reader.line_num, reader.dialect.delimiter
        handle.seek(0)
        text = "".join(handle.readline() for _ in range(lines))
    return text if text.endswith(("\n", "\r")) else text + "\r\n", delimiter


def _parts_of(late: Mapping[str, int | None], keys: list[str]) -> dict[str, int | None]:
    if isinstance(late, LateParts):
        return late.parts_of(keys)
    return {key: late[key] for key in keys if key in late}
