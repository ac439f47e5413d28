"""A consistent copy of subscribers.csv for a send: `snapshot(path)`.

The copy is taken under the list's lock (so no seriespub writer is mid-change) into
`.seriespub/snapshot.csv` (0600, replaced each run). Editors take no lock, so the copy is
trusted only if the file was not written in the last QUIET_SECONDS, is not empty, and has
the same inode, size and mtime before, during and after the copy; otherwise it is retried
(about 3 s in all), then refused with a clear error. A header that cannot be used in a file
that is not changing is the author's to fix, and is refused at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from seriespub.errors import InputError
from seriespub.listlock import SNAPSHOT_PREFIX, STATE_DIR, locked
from seriespub.statefiles import os_error
from seriespub.subscribers import Signature, columns_of, signature

SNAPSHOT_NAME = "snapshot.csv"
SNAPSHOT_ATTEMPTS = 6  # ~3 s of retries in all
QUIET_SECONDS = 0.2  # a file written more recently may be mid-save


def snapshot(path: Path) -> Path:
    """A consistent copy of the list in `.seriespub/snapshot.csv` (0600, replaced each run),
    taken under the lock; a copy during which the file changed, or of a file just written,
    empty or without a usable header (an editor mid-save) is retried, then refused."""
    return snapshot_of(path)[0]


def snapshot_of(path: Path) -> tuple[Path, Signature]:
    """`snapshot(path)` and the signature the list had while it was copied: while
    `signature(path)` still equals it, the list is exactly the copy (a send can tell that
    nobody was added without reading the list again)."""
    dest = path.parent / STATE_DIR / SNAPSHOT_NAME
    problem: str | Signature = ""
    with locked(path):
        for attempt in range(SNAPSHOT_ATTEMPTS):
            problem = _copy_if_stable(path, dest)
            if not isinstance(problem, str):
                return dest, problem
            time.sleep(0.05 * 2**attempt)
    raise InputError(
        f"{problem} (tried {SNAPSHOT_ATTEMPTS} times): an editor saving it?",
        path=path,
        hint="save it, close the editor and run the command again",
    )


def _copy_if_stable(path: Path, dest: Path) -> str | Signature:
    """Copy path → dest; the signature it had when done, else why the copy cannot be
    trusted yet."""
    before = signature(path)
    if before is None:
        raise InputError("cannot read: No such file or directory", path=path)
    if before[2] == 0:
        return "the file is empty"
    if 0 <= time.time() - before[3] / 1e9 < QUIET_SECONDS:
        return "the file is being written"
    try:
        fd, tmp = tempfile.mkstemp(prefix=SNAPSHOT_PREFIX, suffix=".csv", dir=dest.parent)
    except OSError as exc:
        raise os_error(exc, dest, "cannot write") from None
    try:
        with open(path, "rb") as source:
            try:
                with os.fdopen(fd, "wb") as copy:
                    shutil.copyfileobj(source, copy, 1 << 20)
                    whole = copy.tell() == before[2]
            except OSError as exc:  # a full disk: name the copy, not 'cannot continue'
                raise os_error(exc, dest, "cannot write") from None
            st = os.fstat(source.fileno())
            during = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if not (whole and during == before == signature(path)):
            return "the file changed while it was copied"
        # A header we cannot use, in a file that is not changing: the author's to fix.
        if "email" not in columns_of(Path(tmp), path):
            raise InputError("no 'email' column in the header", path=path, line=1)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return before
